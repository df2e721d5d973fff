//! The step-invariance re-runs of instant evaluations: every selector and subquery without
//! `@` gets `@ <eval time>`, and the query must then give the same result at other times.

use std::time::{Duration, SystemTime};

use promql_parser::label::Matcher;
use promql_parser::parser::{AtModifier, Expr, VectorSelector};

use crate::promql::parse::parse;

/// Functions whose result depends on the evaluation time even with step-invariant arguments.
const UNSAFE_FUNCTIONS: [&str; 15] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
    "start",
    "end",
    "range",
    "step",
];

/// The query with `@ at_ms` added, and the other evaluation times to run it at; `None` when the
/// query uses a time-dependent function, does not parse, or cannot be printed back faithfully.
pub(super) fn at_modifier_cases(query: &str, at_ms: i64) -> Option<(String, Vec<i64>)> {
    let mut expr = parse(query, 0).ok()?;
    if !set_at(&mut expr, at_time(at_ms)?) {
        return None;
    }
    let text = expr.to_string();
    let mut reparsed = parse(&text, 0).ok()?;
    visit_selectors(&mut reparsed, &mut sort_matchers);
    visit_selectors(&mut expr, &mut sort_matchers);
    if reparsed != expr {
        return None;
    }
    let times = if at_ms == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * at_ms, 0, at_ms / 5, at_ms, 10 * at_ms]
    };
    Some((text, times))
}

/// The printed form sorts matchers; sort them on both sides before comparing.
fn sort_matchers(vs: &mut VectorSelector) {
    let key = |m: &Matcher| (m.name.clone(), m.op.to_string(), m.value.clone());
    vs.matchers.matchers.sort_by_key(key);
    for group in &mut vs.matchers.or_matchers {
        group.sort_by_key(key);
    }
}

fn visit_selectors(expr: &mut Expr, f: &mut impl FnMut(&mut VectorSelector)) {
    match expr {
        Expr::VectorSelector(vs) => f(vs),
        Expr::MatrixSelector(ms) => f(&mut ms.vs),
        Expr::Subquery(sq) => visit_selectors(&mut sq.expr, f),
        Expr::Call(call) => call
            .args
            .args
            .iter_mut()
            .for_each(|a| visit_selectors(a, f)),
        Expr::Aggregate(agg) => {
            if let Some(p) = agg.param.as_mut() {
                visit_selectors(p, f);
            }
            visit_selectors(&mut agg.expr, f);
        }
        Expr::Binary(b) => {
            visit_selectors(&mut b.lhs, f);
            visit_selectors(&mut b.rhs, f);
        }
        Expr::Unary(u) => visit_selectors(&mut u.expr, f),
        Expr::Paren(p) => visit_selectors(&mut p.expr, f),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn at_time(at_ms: i64) -> Option<AtModifier> {
    let since_epoch = Duration::from_millis(u64::try_from(at_ms).ok()?);
    Some(AtModifier::At(
        SystemTime::UNIX_EPOCH.checked_add(since_epoch)?,
    ))
}

/// Sets `@` where missing (not inside a subquery, which gets one itself); false when the
/// expression calls an unsafe function.
fn set_at(expr: &mut Expr, at: AtModifier) -> bool {
    match expr {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert(at);
            true
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.at.get_or_insert(at);
            true
        }
        Expr::Subquery(sq) => {
            sq.at.get_or_insert(at);
            !contains_unsafe_call(&sq.expr)
        }
        Expr::Call(call) => {
            !UNSAFE_FUNCTIONS.contains(&call.func.name)
                && call.args.args.iter_mut().all(|a| set_at(a, at.clone()))
        }
        Expr::Aggregate(agg) => {
            let param_ok = agg.param.as_mut().is_none_or(|p| set_at(p, at.clone()));
            param_ok && set_at(&mut agg.expr, at)
        }
        Expr::Binary(b) => set_at(&mut b.lhs, at.clone()) && set_at(&mut b.rhs, at),
        Expr::Unary(u) => set_at(&mut u.expr, at),
        Expr::Paren(p) => set_at(&mut p.expr, at),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => true,
    }
}

fn contains_unsafe_call(expr: &Expr) -> bool {
    match expr {
        Expr::Call(call) => {
            UNSAFE_FUNCTIONS.contains(&call.func.name)
                || call.args.args.iter().any(|a| contains_unsafe_call(a))
        }
        Expr::Aggregate(agg) => {
            agg.param.as_ref().is_some_and(|p| contains_unsafe_call(p))
                || contains_unsafe_call(&agg.expr)
        }
        Expr::Binary(b) => contains_unsafe_call(&b.lhs) || contains_unsafe_call(&b.rhs),
        Expr::Unary(u) => contains_unsafe_call(&u.expr),
        Expr::Paren(p) => contains_unsafe_call(&p.expr),
        Expr::Subquery(sq) => contains_unsafe_call(&sq.expr),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_at_to_selectors_and_subqueries() {
        let cases = [
            ("rate(x[5m])", Some("rate(x[5m] @ 60.000)")),
            ("x @ 10 + y", Some("x @ 10.000 + y @ 60.000")),
            ("x{b=\"1\", a=\"2\"}", Some("x{a=\"2\", b=\"1\"} @ 60.000")),
            (
                "max_over_time(rate(x[1m])[5m:1m])",
                Some("max_over_time(rate(x[1m])[5m:1m] @ 60.000)"),
            ),
            ("time() - x", None),
            ("max_over_time(timestamp(x)[5m:1m])", None),
        ];
        for (query, want) in cases {
            let got = at_modifier_cases(query, 60_000);
            match want {
                Some(want) => {
                    let (text, times) = got.unwrap_or_else(|| panic!("{query}"));
                    assert_eq!(
                        parse(&text, 0).unwrap(),
                        parse(want, 0).unwrap(),
                        "{query}: {text}"
                    );
                    assert_eq!(times, vec![-600_000, 0, 12_000, 60_000, 600_000]);
                }
                None => assert!(got.is_none(), "{query}"),
            }
        }
        assert_eq!(at_modifier_cases("x", 0).unwrap().1, vec![-1000, 0, 1000]);
    }
}
