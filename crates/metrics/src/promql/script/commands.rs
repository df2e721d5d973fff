//! Reading a `.test` script into commands: `load`, `load_with_nhcb`, `clear` and `eval`
//! (with the current `expect …` lines and the deprecated `eval_fail`/`eval_warn`/
//! `eval_info`/`eval_ordered` forms).

use regex::Regex;
use sextant_model::Labels;

use super::series::{parse_number, parse_series_line, SeqValue};

/// One command and the (1-based) line it starts on.
#[derive(Debug)]
pub(crate) enum Command {
    Load(Load),
    Clear,
    Eval(Box<Eval>),
    /// A command that could not be read: reported as a failed evaluation.
    Invalid {
        line: usize,
        text: String,
        reason: String,
    },
}

#[derive(Debug)]
pub(crate) struct Load {
    pub interval_ms: i64,
    pub with_nhcb: bool,
    pub series: Vec<(Labels, Vec<SeqValue>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvalTime {
    Instant {
        at_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// How an error or annotation text must look.
#[derive(Debug, Clone)]
pub(crate) enum TextMatch {
    Any,
    Exact(String),
    Regex(Regex),
}

impl TextMatch {
    /// Whether `text` matches. Our engine leaves the `(line:column)` position of the
    /// offending sub-expression off annotation texts (promql-parser has no positions), so a
    /// position at the end of the expected text is optional.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(want) => want == text || strip_position(want) == text,
            TextMatch::Regex(re) => {
                re.is_match(text) || without_position(re).is_some_and(|re| re.is_match(text))
            }
        }
    }
}

/// `msg (1:5)` -> `msg`.
fn strip_position(text: &str) -> &str {
    let Some(open) = text.rfind(" (") else {
        return text;
    };
    let inner = &text[open + 2..];
    let is_position = inner.strip_suffix(')').is_some_and(|pos| {
        let mut parts = pos.split(':');
        let all_digits = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        all_digits(parts.next()) && all_digits(parts.next()) && parts.next().is_none()
    });
    if is_position {
        &text[..open]
    } else {
        text
    }
}

/// The regex without a trailing position pattern such as ` \([0-9]+:[0-9]+\)` or ` \(1:21\)`.
fn without_position(re: &Regex) -> Option<Regex> {
    let pattern = re.as_str();
    let open = pattern.rfind(r" \(")?;
    let tail = &pattern[open + 3..];
    let body = tail
        .strip_suffix(r"\)")
        .or_else(|| tail.strip_suffix(r"\)$"))?;
    if !body.contains(':') || body.contains(' ') {
        return None;
    }
    let anchored = if pattern.ends_with('$') { "$" } else { "" };
    Regex::new(&format!("{}{anchored}", &pattern[..open])).ok()
}

impl std::fmt::Display for TextMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextMatch::Any => f.write_str("anything"),
            TextMatch::Exact(s) => write!(f, "{s:?}"),
            TextMatch::Regex(re) => write!(f, "/{re}/"),
        }
    }
}

/// What the result must be.
#[derive(Debug, Default)]
pub(crate) enum Expected {
    /// No expected lines: the result is empty.
    #[default]
    Empty,
    Scalar(f64),
    /// Series in the order written (a later line with the same labels replaces an earlier one).
    Series(Vec<(Labels, Vec<SeqValue>)>),
}

#[derive(Debug)]
pub(crate) struct Eval {
    pub line: usize,
    pub query: String,
    pub time: EvalTime,
    /// `Some` when the query must fail (with a matching message).
    pub fail: Option<TextMatch>,
    pub warn: Vec<TextMatch>,
    pub info: Vec<TextMatch>,
    pub no_warn: bool,
    pub no_info: bool,
    pub ordered: bool,
    /// `expect range vector from … to … step …` for an instant query.
    pub range_vector: Option<(i64, i64, i64)>,
    pub string: Option<String>,
    pub expected: Expected,
}

/// Parses the whole script. Lines are trimmed; `#` lines count as blank lines.
pub(crate) fn parse_script(text: &str) -> Vec<Command> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .map(|l| if l.starts_with('#') { "" } else { l })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].is_empty() {
            i += 1;
            continue;
        }
        let end = (i..lines.len())
            .find(|&k| lines[k].is_empty())
            .unwrap_or(lines.len());
        let block = &lines[i..end];
        let first = block[0]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let parsed = if first == "clear" {
            Ok(Command::Clear)
        } else if first.starts_with("load") {
            parse_load(block).map(Command::Load)
        } else if first.starts_with("eval") {
            parse_eval(block, i + 1).map(|e| Command::Eval(Box::new(e)))
        } else {
            Err(format!("invalid command {:?}", block[0]))
        };
        commands.push(parsed.unwrap_or_else(|reason| Command::Invalid {
            line: i + 1,
            text: block[0].to_string(),
            reason,
        }));
        // `clear` stands alone on its line; anything after it starts the next command.
        i = if first == "clear" { i + 1 } else { end };
    }
    commands
}

fn duration_ms(text: &str) -> Result<i64, String> {
    sextant_model::duration::parse(text)
        .map(|d| d.as_millis() as i64)
        .map_err(|e| e.to_string())
}

fn parse_load(block: &[&str]) -> Result<Load, String> {
    let mut words = block[0].split_whitespace();
    let with_nhcb = match words.next().map(str::to_ascii_lowercase).as_deref() {
        Some("load") => false,
        Some("load_with_nhcb") => true,
        other => return Err(format!("invalid load command {other:?}")),
    };
    let interval = words.next().ok_or("load needs an interval")?;
    let interval_ms = duration_ms(interval)?;
    let mut series = Vec::new();
    for line in &block[1..] {
        if is_start_timestamp_line(line) {
            continue; // start timestamps are not modelled by this engine
        }
        series.push(parse_series_line(line)?);
    }
    Ok(Load {
        interval_ms,
        with_nhcb,
        series,
    })
}

/// `metric{…}@st <offsets>` lines.
fn is_start_timestamp_line(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .is_some_and(|w| w.ends_with("@st"))
}

fn parse_eval(block: &[&str], line: usize) -> Result<Eval, String> {
    let (mut eval, legacy) = parse_eval_header(block[0], line)?;
    for text in &block[1..] {
        if let Some(msg) = text.strip_prefix("expected_fail_message") {
            eval.fail = Some(TextMatch::Exact(msg.trim().to_string()));
        } else if let Some(re) = text.strip_prefix("expected_fail_regexp") {
            eval.fail = Some(TextMatch::Regex(compile(re.trim())?));
        } else if let Some(spec) = text.strip_prefix("expect range vector") {
            eval.range_vector = Some(parse_range_spec(spec)?);
        } else if let Some(s) = text.strip_prefix("expect string") {
            eval.string = Some(unquote(s.trim())?);
        } else if text.split(' ').next() == Some("expect") {
            parse_expect(text, &mut eval)?;
        } else {
            add_expected(text, &mut eval)?;
        }
    }
    if legacy.fail && eval.fail.is_none() {
        eval.fail = Some(TextMatch::Any);
    }
    if legacy.warn && eval.warn.is_empty() {
        eval.warn.push(TextMatch::Any);
    }
    if legacy.info && eval.info.is_empty() {
        eval.info.push(TextMatch::Any);
    }
    Ok(eval)
}

#[derive(Default)]
struct Legacy {
    fail: bool,
    warn: bool,
    info: bool,
}

/// `eval[_fail|_warn|_info|_ordered] instant [at <t>] <query>` or
/// `eval[_fail|_warn|_info] range from <t> to <t> step <d> <query>`.
fn parse_eval_header(text: &str, line: usize) -> Result<(Eval, Legacy), String> {
    let (command, rest) = split_word(text);
    let mut legacy = Legacy::default();
    let mut ordered = false;
    match command.to_ascii_lowercase().as_str() {
        "eval" => {}
        "eval_fail" => legacy.fail = true,
        "eval_warn" => legacy.warn = true,
        "eval_info" => legacy.info = true,
        "eval_ordered" => ordered = true,
        other => return Err(format!("invalid eval command {other:?}")),
    }
    let (kind, rest) = split_word(rest);
    let (time, query) = match kind {
        "instant" => {
            let (word, after) = split_word(rest);
            if word != "at" {
                return Err("expected `at <time>` after `eval instant`".into());
            }
            let (at, query) = split_word(after);
            (
                EvalTime::Instant {
                    at_ms: duration_ms(at)?,
                },
                query,
            )
        }
        "range" => {
            let (start, end, step, query) = parse_range_words(rest)?;
            (
                EvalTime::Range {
                    start_ms: start,
                    end_ms: end,
                    step_ms: step,
                },
                query,
            )
        }
        other => return Err(format!("expected `instant` or `range`, got {other:?}")),
    };
    if query.is_empty() {
        return Err("missing query".into());
    }
    let eval = Eval {
        line,
        query: query.to_string(),
        time,
        fail: None,
        warn: Vec::new(),
        info: Vec::new(),
        no_warn: false,
        no_info: false,
        ordered,
        range_vector: None,
        string: None,
        expected: Expected::Empty,
    };
    Ok((eval, legacy))
}

/// `from <t> to <t> step <d> <rest>`.
fn parse_range_words(text: &str) -> Result<(i64, i64, i64, &str), String> {
    let mut rest = text;
    let mut values = [0i64; 3];
    for (keyword, value) in ["from", "to", "step"].iter().zip(values.iter_mut()) {
        let (word, after) = split_word(rest);
        if word != *keyword {
            return Err(format!("expected {keyword:?}, got {word:?}"));
        }
        let (v, after) = split_word(after);
        *value = duration_ms(v)?;
        rest = after;
    }
    if values[1] < values[0] {
        return Err("end timestamp is before start timestamp".into());
    }
    Ok((values[0], values[1], values[2], rest))
}

fn parse_range_spec(spec: &str) -> Result<(i64, i64, i64), String> {
    let (start, end, step, rest) = parse_range_words(spec.trim())?;
    if !rest.is_empty() {
        return Err(format!(
            "unexpected {rest:?} after range vector expectation"
        ));
    }
    Ok((start, end, step))
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find([' ', '\t']) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    }
}

/// `expect <fail|warn|no_warn|info|no_info|ordered> [msg:|regex: <text>]`.
fn parse_expect(text: &str, eval: &mut Eval) -> Result<(), String> {
    let (_, rest) = split_word(text);
    let (kind, rest) = split_word(rest);
    let matcher = if rest.is_empty() {
        TextMatch::Any
    } else if let Some(msg) = rest.strip_prefix("msg:") {
        TextMatch::Exact(msg.trim().to_string())
    } else if let Some(re) = rest.strip_prefix("regex:") {
        TextMatch::Regex(compile(re.trim())?)
    } else {
        return Err(format!("invalid expect line {text:?}"));
    };
    match kind {
        "fail" if eval.fail.is_some() => return Err("only one `expect fail` per eval".into()),
        "fail" => eval.fail = Some(matcher),
        "warn" => eval.warn.push(matcher),
        "info" => eval.info.push(matcher),
        "no_warn" => eval.no_warn = true,
        "no_info" => eval.no_info = true,
        "ordered" => eval.ordered = true,
        other => return Err(format!("invalid expect type {other:?}")),
    }
    if (eval.no_warn && !eval.warn.is_empty()) || (eval.no_info && !eval.info.is_empty()) {
        return Err("`warn` and `no_warn` (or `info` and `no_info`) cannot be combined".into());
    }
    Ok(())
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

fn unquote(text: &str) -> Result<String, String> {
    if text.len() < 2 {
        return Err("expected a quoted string".into());
    }
    promql_parser::util::unquote_string(text)
}

/// An expected result line: a bare number (scalar) or a series.
fn add_expected(text: &str, eval: &mut Eval) -> Result<(), String> {
    if let Ok(f) = parse_number(text) {
        eval.expected = Expected::Scalar(f);
        return Ok(());
    }
    let (labels, values) = parse_series_line(text)?;
    let is_instant = matches!(eval.time, EvalTime::Instant { .. });
    if is_instant && eval.range_vector.is_none() && values.len() != 1 {
        return Err(format!(
            "an instant evaluation expects exactly one value per series: {text:?}"
        ));
    }
    if !matches!(eval.expected, Expected::Series(_)) {
        eval.expected = Expected::Series(Vec::new());
    }
    if let Expected::Series(series) = &mut eval.expected {
        series.retain(|(l, _)| *l != labels);
        series.push((labels, values));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evals(text: &str) -> Vec<Eval> {
        parse_script(text)
            .into_iter()
            .filter_map(|c| match c {
                Command::Eval(e) => Some(*e),
                Command::Invalid { reason, .. } => panic!("{reason}"),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reads_loads_clears_and_evals() {
        let script = "load 5m\n  a{x=\"1\"} 1+1x2\n  b 1\n\n# comment\nclear\nLOAD_WITH_NHCB 1m\n  c_bucket{le=\"1\"} 1\n\
                      eval instant at 10m sum(a)\n  {} 3\n";
        let commands = parse_script(script);
        assert!(
            matches!(&commands[0], Command::Load(l) if l.interval_ms == 300_000 && l.series.len() == 2 && !l.with_nhcb)
        );
        assert!(matches!(commands[1], Command::Clear));
        // The eval line belongs to the load block (no blank line): it is read as a series.
        assert!(matches!(&commands[2], Command::Invalid { .. }));
    }

    #[test]
    fn reads_expectations() {
        let script = "eval instant at 1m foo\n  expect fail msg:  boom \n\n\
                      eval range from 0 to 2m step 1m bar\n  expect warn regex: w.*\n  expect info\n  {} 1 _ 3\n\n\
                      eval_fail instant at 0 baz\n  expected_fail_regexp x+\n\n\
                      eval_ordered instant at 0 q\n  a 1\n  b 2\n\n\
                      eval instant at 0 s\n  expect string \"hi\"\n\n\
                      eval instant at 1m m[1m]\n  expect range vector from 0 to 1m step 30s\n  m 1 2 3\n\n\
                      eval instant at 0 1\n  1\n# empty";
        let e = evals(script);
        assert!(matches!(&e[0].fail, Some(TextMatch::Exact(m)) if m == "boom"));
        assert!(matches!(e[0].expected, Expected::Empty));
        assert_eq!(
            e[1].time,
            EvalTime::Range {
                start_ms: 0,
                end_ms: 120_000,
                step_ms: 60_000
            }
        );
        assert!(e[1].warn[0].matches("wow") && e[1].info[0].matches("x"));
        assert!(matches!(&e[1].expected, Expected::Series(s) if s[0].1.len() == 3));
        assert!(e[2].fail.as_ref().unwrap().matches("xxx"));
        assert!(e[3].ordered);
        assert_eq!(e[4].string.as_deref(), Some("hi"));
        assert_eq!(e[5].range_vector, Some((0, 60_000, 30_000)));
        assert!(matches!(e[6].expected, Expected::Scalar(f) if f == 1.0));
    }

    #[test]
    fn ignores_positions_in_expected_texts() {
        let exact = TextMatch::Exact("PromQL warning: boom (1:7)".into());
        assert!(exact.matches("PromQL warning: boom (1:7)"));
        assert!(exact.matches("PromQL warning: boom"));
        assert!(!exact.matches("PromQL warning: bang"));
        assert!(TextMatch::Exact("f (x)".into()).matches("f (x)"));
        assert!(!TextMatch::Exact("f (x)".into()).matches("f"));
        let cases = [
            (r"boom \([0-9]+:[0-9]+\)", "boom now"),
            (r"boom .* \(1:21\)", "boom now x"),
            (r"^boom \(\d+:\d+\)$", "boom"),
        ];
        for (pattern, text) in cases {
            let re = TextMatch::Regex(compile(pattern).unwrap());
            assert!(re.matches(text), "{pattern}");
        }
        assert!(!TextMatch::Regex(compile(r"boom \(1:21\)").unwrap()).matches("bang"));
    }

    #[test]
    fn rejects_bad_commands() {
        for script in [
            "eval instant 1m foo",
            "eval instant at 1m foo\n  expect warn\n  expect no_warn",
            "eval instant at 1m foo\n  a 1 2",
            "frobnicate",
            "load\n a 1",
        ] {
            assert!(
                matches!(parse_script(script)[0], Command::Invalid { .. }),
                "{script}"
            );
        }
    }
}
