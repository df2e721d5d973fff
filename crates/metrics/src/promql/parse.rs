//! The query text to an AST.
//!
//! promql-parser does the parsing. A text pass runs first for the syntax it lacks: duration
//! expressions (`[26m+4m]`, `offset (1m*2)`, `[5m:step()*2]`, `min_of(…)`/`max_of(…)`) are
//! folded to literals, and the extended range selector modifiers `anchored`/`smoothed` become
//! a [`MODIFIER_LABEL`] matcher inside the selector's braces, which the evaluator takes out
//! again with [`take_modifier`].

use promql_parser::label::Matchers;
use promql_parser::parser::Expr;

use super::value::EvalError;

mod escapes;
mod fold;
mod lexer;
mod rewrite;

/// The label of the extra matcher that carries an extended selector modifier through
/// promql-parser, which does not know `anchored` and `smoothed`.
pub const MODIFIER_LABEL: &str = "__sextant_modifier__";

/// An extended range selector modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelectorModifier {
    #[default]
    None,
    Anchored,
    Smoothed,
}

/// Parses `query`; `step()` in duration expressions is `step_ms` (0 for instant queries) and
/// `range()` is 0. Range queries should call [`parse_with_range`].
pub fn parse(query: &str, step_ms: i64) -> Result<Expr, EvalError> {
    parse_with_range(query, step_ms, 0)
}

/// Parses `query` for a query with the given step and range (`end - start`), which `step()`
/// and `range()` in duration expressions evaluate to.
pub fn parse_with_range(query: &str, step_ms: i64, range_ms: i64) -> Result<Expr, EvalError> {
    let ctx = fold::FoldContext { step_ms, range_ms };
    let decoded = escapes::decode_byte_escapes(query);
    let text = rewrite::rewrite(&decoded, ctx).map_err(|e| parse_error(&e))?;
    let expr = promql_parser::parser::parse(&text).map_err(|e| parse_error(&e))?;
    check_modifiers(&expr)?;
    Ok(expr)
}

/// The functions that accept `anchored` and `smoothed` range selectors.
const ANCHORED_FUNCTIONS: [&str; 5] = ["changes", "delta", "increase", "rate", "resets"];
const SMOOTHED_FUNCTIONS: [&str; 3] = ["delta", "increase", "rate"];

/// Rejects `anchored`/`smoothed` range selectors passed to functions that do not support them.
fn check_modifiers(expr: &Expr) -> Result<(), EvalError> {
    match expr {
        Expr::Call(call) => {
            for arg in &call.args.args {
                if let Expr::MatrixSelector(ms) = arg.as_ref() {
                    check_call_modifier(call.func.name, &ms.vs.matchers)?;
                }
                check_modifiers(arg)?;
            }
            Ok(())
        }
        Expr::Aggregate(agg) => {
            if let Some(param) = &agg.param {
                check_modifiers(param)?;
            }
            check_modifiers(&agg.expr)
        }
        Expr::Binary(b) => {
            check_modifiers(&b.lhs)?;
            check_modifiers(&b.rhs)
        }
        Expr::Unary(u) => check_modifiers(&u.expr),
        Expr::Paren(p) => check_modifiers(&p.expr),
        Expr::Subquery(sq) => check_modifiers(&sq.expr),
        _ => Ok(()),
    }
}

fn check_call_modifier(function: &str, matchers: &Matchers) -> Result<(), EvalError> {
    let mut probe = matchers.clone();
    let (name, allowed): (&str, &[&str]) = match take_modifier(&mut probe) {
        SelectorModifier::None => return Ok(()),
        SelectorModifier::Anchored => ("anchored", &ANCHORED_FUNCTIONS),
        SelectorModifier::Smoothed => ("smoothed", &SMOOTHED_FUNCTIONS),
    };
    if allowed.contains(&function) {
        return Ok(());
    }
    Err(EvalError::Parse(format!(
        "{name} modifier can only be used with: {} - not with {function}",
        allowed.join(", ")
    )))
}

fn parse_error(message: &str) -> EvalError {
    EvalError::Parse(format!("parse error: {message}"))
}

/// Removes the [`MODIFIER_LABEL`] matcher from a selector's matchers and returns its meaning.
pub fn take_modifier(matchers: &mut Matchers) -> SelectorModifier {
    let mut found = SelectorModifier::None;
    let mut take = |list: &mut Vec<promql_parser::label::Matcher>| {
        list.retain(|m| {
            if m.name != MODIFIER_LABEL {
                return true;
            }
            found = match m.value.as_str() {
                "anchored" => SelectorModifier::Anchored,
                "smoothed" => SelectorModifier::Smoothed,
                _ => found,
            };
            false
        });
    };
    take(&mut matchers.matchers);
    for group in &mut matchers.or_matchers {
        take(group);
    }
    found
}

#[cfg(test)]
mod tests {
    use promql_parser::parser::{Expr, VectorSelector};
    use proptest::prelude::*;

    use super::*;

    /// The selector inside a query, looking through calls, parentheses and matrix selectors.
    fn selector(expr: &Expr) -> Option<&VectorSelector> {
        match expr {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            Expr::Call(call) => call.args.args.iter().find_map(|a| selector(a)),
            Expr::Paren(p) => selector(&p.expr),
            Expr::Binary(b) => selector(&b.lhs),
            _ => None,
        }
    }

    #[test]
    fn parses_extended_modifiers_into_a_matcher() {
        let cases = [
            ("increase(m[1m] anchored)", SelectorModifier::Anchored),
            ("rate(m{a=\"b\"}[10s] smoothed)", SelectorModifier::Smoothed),
            ("m @ 100 smoothed + 0", SelectorModifier::Smoothed),
            ("rate(m[1m])", SelectorModifier::None),
        ];
        for (query, want) in cases {
            let expr = parse(query, 0).unwrap_or_else(|e| panic!("{query}: {e}"));
            let mut matchers = selector(&expr).expect(query).matchers.clone();
            assert_eq!(take_modifier(&mut matchers), want, "{query}");
            assert!(matchers.find_matchers(MODIFIER_LABEL).is_empty());
        }
    }

    #[test]
    fn folds_durations_before_parsing() {
        let cases = [
            ("changes(m[26m+4m])", "changes(m[30m])"),
            ("m offset (1m*2)", "m offset 2m"),
            (
                "sum_over_time(m[29s+1s:step()*2])",
                "sum_over_time(m[30s:20s])",
            ),
            ("m offset min_of(step(), 1s)+8000", "m offset 1s + 8000"),
            ("m offset range()", "m"),
        ];
        for (query, plain) in cases {
            let got = parse(query, 10_000).unwrap_or_else(|e| panic!("{query}: {e}"));
            let want = promql_parser::parser::parse(plain).unwrap();
            assert_eq!(got, want, "{query}");
        }
        let ranged = parse_with_range("m offset range()", 5_000, 10_000).unwrap();
        assert_eq!(
            ranged,
            promql_parser::parser::parse("m offset 10s").unwrap()
        );
    }

    #[test]
    fn rejects_modifiers_on_other_functions() {
        let cases = [
            ("deriv(m[1m] smoothed)", Some("smoothed modifier can only be used with: delta, increase, rate - not with deriv")),
            (
                "sum(max_over_time(m[1m] anchored))",
                Some("anchored modifier can only be used with: changes, delta, increase, rate, resets - not with max_over_time"),
            ),
            ("resets(m[1m] anchored)", None),
            ("rate(m[1m] smoothed)", None),
        ];
        for (query, want) in cases {
            let got = parse(query, 0).err();
            assert_eq!(
                got,
                want.map(|w| EvalError::Parse(w.to_string())),
                "{query}"
            );
        }
    }

    #[test]
    fn reports_parse_errors() {
        for query in ["sum(", "m[1m/0]", "rate(m[5m] bogus)", "{}"] {
            assert!(
                matches!(parse(query, 0), Err(EvalError::Parse(_))),
                "{query}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(query in ".{0,64}") {
            let _ = parse(&query, 1_000);
        }

        #[test]
        fn never_panics_on_promql_like_text(
            query in r#"[a-z_{}\[\]()"'`:,@ 0-9smh+\-*/%^=~!<>.]{0,48}|(offset|anchored|smoothed|step\(\)|min_of\(| )+"#
        ) {
            let _ = parse(&query, 1_000);
        }
    }
}
