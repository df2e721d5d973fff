//! The text pass run before promql-parser: it folds duration expressions in range brackets,
//! subquery steps, `offset` and `@` arguments to literals, and moves an `anchored`/`smoothed`
//! keyword into its selector's braces as a [`MODIFIER_LABEL`] matcher.

use std::borrow::Cow;

use super::fold::{fold, format_duration_ms, FoldContext};
use super::lexer::{tokenize, Kind, Token};
use super::MODIFIER_LABEL;

/// One replacement of `src[start..end]`.
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

/// Where a modifier matcher goes for the selector just read.
#[derive(Clone, Copy)]
enum Insertion {
    /// The selector has no braces: append `{…}` at this offset.
    NewBraces(usize),
    /// Insert before this offset (the closing brace), with a leading comma or not.
    InBraces { at: usize, comma: bool },
}

/// Rewrites `src` into text promql-parser accepts, or says why a duration expression is bad.
pub(super) fn rewrite(src: &str, ctx: FoldContext) -> Result<Cow<'_, str>, String> {
    let tokens = tokenize(src);
    let mut edits = Vec::new();
    let mut selector: Option<Insertion> = None;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        let prev_ends_operand = i > 0 && ends_operand(src, tokens[i - 1]);
        if t.is_punct(src, "[") {
            let Some(close) = find_punct(src, &tokens, i + 1, "]") else {
                break;
            };
            fold_brackets(src, &tokens[i + 1..close], ctx, &mut edits)?;
            i = close + 1;
        } else if t.is_punct(src, "@") || (t.is_ident(src, "offset") && prev_ends_operand) {
            i = fold_modifier_arg(src, &tokens, i, ctx, &mut edits)?;
        } else if let (Some(modifier), Some(at)) = (extended_modifier(src, t), selector) {
            edits.push(modifier_edit(at, modifier));
            // Drop the keyword and the space before it.
            edits.push(Edit {
                start: tokens[i - 1].end,
                end: t.end,
                text: String::new(),
            });
            selector = None;
            i += 1;
        } else if t.kind == Kind::Ident && !next_is(src, &tokens, i, "(") && !is_keyword(src, t) {
            if next_is(src, &tokens, i, "{") {
                (selector, i) = read_braces(src, &tokens, i + 1);
            } else {
                selector = Some(Insertion::NewBraces(t.end));
                i += 1;
            }
        } else if t.is_punct(src, "{") {
            (selector, i) = read_braces(src, &tokens, i);
        } else {
            selector = None;
            i += 1;
        }
    }
    mark_info_selectors(src, &tokens, &mut edits);
    Ok(apply(src, edits))
}

/// `info(v, {data=~".*"})` may select labels with matchers that all match the empty string,
/// which promql-parser rejects; a [`MODIFIER_LABEL`] matcher (taken out again by
/// `take_modifier`) makes the selector acceptable.
fn mark_info_selectors(src: &str, tokens: &[Token], edits: &mut Vec<Edit>) {
    for (i, t) in tokens.iter().enumerate() {
        if !(t.kind == Kind::Ident && t.text(src) == "info" && next_is(src, tokens, i, "(")) {
            continue;
        }
        let mut depth = 0i32;
        let second = (i + 1..tokens.len()).find(|&k| {
            let text = tokens[k].text(src);
            match text {
                "(" | "[" | "{" if tokens[k].kind == Kind::Punct => depth += 1,
                ")" | "]" | "}" if tokens[k].kind == Kind::Punct => depth -= 1,
                _ => {}
            }
            (depth == 1 && tokens[k].is_punct(src, ",")) || depth <= 0
        });
        let Some(comma) = second.filter(|&k| tokens[k].is_punct(src, ",")) else {
            continue;
        };
        if tokens.get(comma + 1).is_some_and(|t| t.is_punct(src, "{")) {
            if let (Some(at), _) = read_braces(src, tokens, comma + 1) {
                edits.push(modifier_edit(at, "none"));
            }
        }
    }
}

/// Keywords that can stand where a selector would: never treat them as metric names.
fn is_keyword(src: &str, t: Token) -> bool {
    const KEYWORDS: [&str; 10] = [
        "and",
        "or",
        "unless",
        "bool",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    KEYWORDS.iter().any(|k| t.is_ident(src, k))
}

fn extended_modifier(src: &str, t: Token) -> Option<&'static str> {
    if t.is_ident(src, "anchored") {
        Some("anchored")
    } else if t.is_ident(src, "smoothed") {
        Some("smoothed")
    } else {
        None
    }
}

fn modifier_edit(at: Insertion, modifier: &str) -> Edit {
    let matcher = format!("{MODIFIER_LABEL}=\"{modifier}\"");
    let (pos, text) = match at {
        Insertion::NewBraces(pos) => (pos, format!("{{{matcher}}}")),
        Insertion::InBraces { at, comma: true } => (at, format!(",{matcher}")),
        Insertion::InBraces { at, comma: false } => (at, matcher),
    };
    Edit {
        start: pos,
        end: pos,
        text,
    }
}

/// Reads `{…}` starting at token `open`; returns where a matcher would go and the index
/// after the closing brace.
fn read_braces(src: &str, tokens: &[Token], open: usize) -> (Option<Insertion>, usize) {
    match find_punct(src, tokens, open + 1, "}") {
        Some(close) => {
            let last = tokens[close - 1];
            let comma = !(last.is_punct(src, "{") || last.is_punct(src, ","));
            (
                Some(Insertion::InBraces {
                    at: tokens[close].start,
                    comma,
                }),
                close + 1,
            )
        }
        None => (None, tokens.len()),
    }
}

fn ends_operand(src: &str, t: Token) -> bool {
    match t.kind {
        Kind::Ident | Kind::Number | Kind::Str => true,
        Kind::Punct => ["]", "}", ")"].contains(&t.text(src)),
    }
}

fn next_is(src: &str, tokens: &[Token], i: usize, p: &str) -> bool {
    tokens.get(i + 1).is_some_and(|t| t.is_punct(src, p))
}

fn find_punct(src: &str, tokens: &[Token], from: usize, p: &str) -> Option<usize> {
    (from..tokens.len()).find(|&k| tokens[k].is_punct(src, p))
}

/// The index just past the parenthesis matching the `(` at `open`.
fn matching_paren(src: &str, tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        if t.is_punct(src, "(") {
            depth += 1;
        } else if t.is_punct(src, ")") {
            depth -= 1;
            if depth == 0 {
                return k + 1;
            }
        }
    }
    tokens.len()
}

/// Folds the range and the subquery step inside `[…]` when they are expressions.
fn fold_brackets(
    src: &str,
    inner: &[Token],
    ctx: FoldContext,
    edits: &mut Vec<Edit>,
) -> Result<(), String> {
    let mut depth = 0i32;
    let colon = inner.iter().position(|t| {
        if t.is_punct(src, "(") {
            depth += 1;
        } else if t.is_punct(src, ")") {
            depth -= 1;
        }
        depth == 0 && t.is_punct(src, ":")
    });
    let parts = match colon {
        Some(c) => [&inner[..c], &inner[c + 1..]],
        None => [inner, &[][..]],
    };
    for part in parts {
        if part.len() > 1 || part.first().is_some_and(|t| t.kind == Kind::Ident) {
            let ms = to_ms(fold(src, part, ctx)?);
            edits.push(Edit {
                start: part[0].start,
                end: part[part.len() - 1].end,
                text: format_duration_ms(ms),
            });
        }
    }
    Ok(())
}

/// Handles `offset <arg>` or `@ <arg>` starting at token `i` (the keyword); returns the index
/// after the argument. The argument is a sign and one atom: a literal, a call or a
/// parenthesised expression (`offset 1m + 2` adds 2 to the offset selector).
fn fold_modifier_arg(
    src: &str,
    tokens: &[Token],
    i: usize,
    ctx: FoldContext,
    edits: &mut Vec<Edit>,
) -> Result<usize, String> {
    let is_offset = tokens[i].kind == Kind::Ident;
    let start = i + 1;
    let mut k = start;
    if tokens
        .get(k)
        .is_some_and(|t| t.is_punct(src, "-") || t.is_punct(src, "+"))
    {
        k += 1;
    }
    let atom = k;
    let end = match tokens.get(k) {
        Some(t) if t.kind == Kind::Number => k + 1,
        Some(t) if t.is_punct(src, "(") => matching_paren(src, tokens, k),
        Some(t) if t.kind == Kind::Ident && next_is(src, tokens, k, "(") => {
            matching_paren(src, tokens, k + 1)
        }
        _ => return Ok(k),
    };
    let arg = &tokens[start..end];
    let plain_number = end == atom + 1;
    let at_start_or_end = !is_offset
        && (tokens[atom].is_ident(src, "start") || tokens[atom].is_ident(src, "end"))
        && end == atom + 3;
    if plain_number || at_start_or_end {
        return Ok(end);
    }
    let ms = to_ms(fold(src, arg, ctx)?);
    let (from, text) = if !is_offset {
        (arg[0].start, format!("{}", ms as f64 / 1000.0))
    } else if ms == 0 {
        (tokens[i].start, String::new())
    } else {
        (arg[0].start, format_duration_ms(ms))
    };
    edits.push(Edit {
        start: from,
        end: arg[arg.len() - 1].end,
        text,
    });
    Ok(end)
}

fn to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

fn apply(src: &str, mut edits: Vec<Edit>) -> Cow<'_, str> {
    if edits.is_empty() {
        return Cow::Borrowed(src);
    }
    edits.sort_by_key(|e| e.start);
    let mut out = String::with_capacity(src.len() + 64);
    let mut pos = 0;
    for e in edits {
        out.push_str(&src[pos..e.start]);
        out.push_str(&e.text);
        pos = e.end;
    }
    out.push_str(&src[pos..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(src: &str, step_ms: i64) -> Result<String, String> {
        rewrite(
            src,
            FoldContext {
                step_ms,
                range_ms: 10_000,
            },
        )
        .map(Cow::into_owned)
    }

    #[test]
    fn rewrites_duration_expressions_and_modifiers() {
        let m = MODIFIER_LABEL;
        let cases: Vec<(&str, String)> = vec![
            ("rate(x[5m])", "rate(x[5m])".into()),
            ("changes(x[26m+4m])", "changes(x[30m])".into()),
            ("x[2m*(10+5)]", "x[30m]".into()),
            (
                "s(m[29s+1s:((((8 - 2) / 3) * 7s) % 4) + 8000ms])",
                "s(m[30s:10s])".into(),
            ),
            ("m[5m:]", "m[5m:]".into()),
            ("m offset (100 + 2)", "m offset 1m42s".into()),
            ("m offset 100 + 2", "m offset 100 + 2".into()),
            (
                "m offset -(min_of(step(), 2s)-5)+8000",
                "m offset 3s+8000".into(),
            ),
            ("m offset -step()*2", "m offset -5s*2".into()),
            ("m offset range()", "m offset 10s".into()),
            ("m offset step()*0", "m offset 5s*0".into()),
            ("m offset (step() - 5s) + 1", "m  + 1".into()),
            ("m @ (10 * 2)", "m @ 20".into()),
            ("m @ start()", "m @ start()".into()),
            (
                "count_over_time(m[step()])",
                "count_over_time(m[5s])".into(),
            ),
            (
                "increase(m[1m] anchored)",
                format!("increase(m{{{m}=\"anchored\"}}[1m])"),
            ),
            (
                "m{a=\"b\"}[1m] SMOOTHED",
                format!("m{{a=\"b\",{m}=\"smoothed\"}}[1m]"),
            ),
            (
                "m{a=\"b\",} smoothed",
                format!("m{{a=\"b\",{m}=\"smoothed\"}}"),
            ),
            (
                "{__name__=\"m\"} @ 100 smoothed + 0",
                format!("{{__name__=\"m\",{m}=\"smoothed\"}} @ 100 + 0"),
            ),
            (
                "m offset -100 smoothed",
                format!("m{{{m}=\"smoothed\"}} offset -100"),
            ),
            (
                "x{l=\"[1m+1m] anchored\"}",
                "x{l=\"[1m+1m] anchored\"}".into(),
            ),
            ("sum(anchored)", "sum(anchored)".into()),
            ("offset", "offset".into()),
            ("offset offset 5m", "offset offset 5m".into()),
            (
                "info(m, {d=~\".*\"})",
                format!("info(m, {{d=~\".*\",{m}=\"none\"}})"),
            ),
            ("info(m, {})", format!("info(m, {{{m}=\"none\"}})")),
            ("info(m)", "info(m)".into()),
            (
                "info(rate(m[1m]), x{a=\"b\"})",
                "info(rate(m[1m]), x{a=\"b\"})".into(),
            ),
        ];
        for (src, want) in cases {
            assert_eq!(rw(src, 5_000), Ok(want), "{src}");
        }
    }

    #[test]
    fn reports_bad_duration_expressions() {
        for src in ["x[1m/0]", "x[5m + foo]", "x offset (1m"] {
            assert!(rw(src, 0).is_err(), "{src}");
        }
    }
}
