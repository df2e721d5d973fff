//! A runner for Loki's `.logqltest` scripts: `clear`, `load` streams into a
//! [`MemLogQueryable`], and `eval` metric queries against their expected results.

mod commands;

use std::panic::{catch_unwind, AssertUnwindSafe};

use regex::Regex;

use super::{eval_instant, eval_range, Entry, MemLogQueryable, QueryValue};
use crate::logql::parse::{parse_sample_expr, quote_label_set};
use commands::{Command, Eval, EvalTime, Expect, FailCheck, LoadLine, Row};

/// The outcome of one `eval` (or of a command that could not be read).
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptEvalOutcome {
    /// The 1-based line of the command.
    pub line: usize,
    pub query: String,
    /// `None` when it passed; otherwise why not.
    pub failure: Option<String>,
}

impl ScriptEvalOutcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// The outcomes of a script's evals, in script order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptReport {
    pub evals: Vec<ScriptEvalOutcome>,
}

impl ScriptReport {
    pub fn passed(&self) -> usize {
        self.evals.iter().filter(|e| e.passed()).count()
    }

    pub fn failed(&self) -> usize {
        self.evals.len() - self.passed()
    }

    pub fn failures(&self) -> impl Iterator<Item = &ScriptEvalOutcome> {
        self.evals.iter().filter(|e| !e.passed())
    }
}

/// Runs a `.logqltest` script on an in-memory store that starts empty.
pub fn run_script(text: &str) -> ScriptReport {
    let mut store = MemLogQueryable::new();
    let mut report = ScriptReport::default();
    for command in commands::parse_script(text) {
        match command {
            Command::Clear => store.clear(),
            Command::Load(lines) => lines.iter().for_each(|l| load(&mut store, l)),
            Command::Eval(eval) => {
                let run = catch_unwind(AssertUnwindSafe(|| run_eval(&eval, &store)));
                let failure = match run {
                    Ok(result) => result.err(),
                    Err(_) => Some("panicked".to_string()),
                };
                report.evals.push(ScriptEvalOutcome {
                    line: eval.line,
                    query: eval.query.clone(),
                    failure,
                });
            }
            Command::Invalid { line, text, reason } => report.evals.push(ScriptEvalOutcome {
                line,
                query: text,
                failure: Some(format!("invalid command: {reason}")),
            }),
        }
    }
    report
}

fn load(store: &mut MemLogQueryable, line: &LoadLine) {
    for i in 0..line.count {
        store.push(
            &line.labels,
            Entry {
                ts_ns: line.start_ns + i * line.step_ns,
                line: line.line.replace("{{.i}}", &i.to_string()),
                metadata: line.metadata.clone(),
            },
        );
    }
}

fn run_eval(eval: &Eval, store: &MemLogQueryable) -> Result<(), String> {
    let result = parse_sample_expr(&eval.query)
        .map_err(|e| e.to_string())
        .and_then(|expr| {
            match eval.time {
                EvalTime::Instant(t) => eval_instant(store, &expr, t),
                EvalTime::Range { start, end, step } => eval_range(store, &expr, start, end, step),
            }
            .map_err(|e| e.to_string())
        });
    match (&eval.expect, result) {
        (Expect::Fail(check), Err(msg)) => check_failure(check, &msg),
        (Expect::Fail(_), Ok(value)) => Err(format!("expected a failure, got {}", show(&value))),
        (_, Err(msg)) => Err(format!("unexpected error: {msg}")),
        (Expect::Empty, Ok(value)) if is_empty(&value) => Ok(()),
        (Expect::Empty, Ok(value)) => Err(format!("expected no series, got {}", show(&value))),
        (Expect::Scalar(want), Ok(QueryValue::Scalar(got))) if same(*want, got) => Ok(()),
        (Expect::Series(want), Ok(value)) => compare_series(eval, want, &value),
        (_, Ok(value)) => Err(format!("expected {:?}, got {}", eval.expect, show(&value))),
    }
}

fn check_failure(check: &FailCheck, msg: &str) -> Result<(), String> {
    let ok = match check {
        FailCheck::Any => true,
        FailCheck::Contains(text) => msg.contains(text.as_str()),
        FailCheck::Regex(re) => Regex::new(re).map_err(|e| e.to_string())?.is_match(msg),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("error {msg:?} does not match {check:?}"))
    }
}

fn is_empty(value: &QueryValue) -> bool {
    match value {
        QueryValue::Scalar(_) => false,
        QueryValue::Vector(v) => v.is_empty(),
        QueryValue::Matrix(m) => m.is_empty(),
    }
}

/// The upstream comparison: NaN equals NaN, infinities must match, otherwise an absolute or
/// relative difference up to 1e-9.
fn same(want: f64, got: f64) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return want == got;
    }
    let diff = (want - got).abs();
    diff <= 1e-9 || diff <= 1e-9 * want.abs().max(got.abs())
}

/// The result as one row of values per series, in the expected rows' step order.
fn rows(eval: &Eval, value: &QueryValue) -> Result<Vec<Row>, String> {
    match (value, eval.time) {
        (QueryValue::Vector(samples), _) => Ok(samples
            .iter()
            .map(|s| (s.labels.clone(), vec![Some(s.value)]))
            .collect()),
        (QueryValue::Matrix(series), EvalTime::Range { start, end, step }) => {
            let steps = ((end - start) / step + 1) as usize;
            Ok(series
                .iter()
                .map(|s| {
                    let mut row = vec![None; steps];
                    for (t, v) in &s.points {
                        row[((t - start) / step) as usize] = Some(*v);
                    }
                    (s.labels.clone(), row)
                })
                .collect())
        }
        (other, _) => Err(format!("expected series, got {}", show(other))),
    }
}

fn compare_series(eval: &Eval, want: &[Row], value: &QueryValue) -> Result<(), String> {
    let got = rows(eval, value)?;
    if got.len() != want.len() {
        return Err(format!(
            "expected {} series, got {}",
            want.len(),
            show(value)
        ));
    }
    for (i, (labels, values)) in want.iter().enumerate() {
        let found = if eval.ordered {
            got.get(i).filter(|(l, _)| l == labels)
        } else {
            got.iter().find(|(l, _)| l == labels)
        };
        let Some((_, got_values)) = found else {
            return Err(format!(
                "series {} missing, got {}",
                quote_label_set(labels),
                show(value)
            ));
        };
        let equal = got_values.len() == values.len()
            && got_values.iter().zip(values).all(|(g, w)| match (g, w) {
                (Some(g), Some(w)) => same(*w, *g),
                (None, None) => true,
                _ => false,
            });
        if !equal {
            return Err(format!(
                "series {}: expected {values:?}, got {got_values:?}",
                quote_label_set(labels)
            ));
        }
    }
    Ok(())
}

fn show(value: &QueryValue) -> String {
    match value {
        QueryValue::Scalar(v) => format!("scalar {v}"),
        QueryValue::Vector(samples) => {
            let items: Vec<String> = samples
                .iter()
                .map(|s| format!("{} {}", quote_label_set(&s.labels), s.value))
                .collect();
            format!("vector [{}]", items.join(", "))
        }
        QueryValue::Matrix(series) => {
            let items: Vec<String> = series
                .iter()
                .map(|s| format!("{} {:?}", quote_label_set(&s.labels), s.points))
                .collect();
            format!("matrix [{}]", items.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_format_example() {
        let script = r#"
clear
load
  {app="foo"} "level=info"  @ 10s [repeat every 10s for 6]
  {app="bar"} "level=error" @ 10s [repeat every 10s for 6]

eval instant at 60s sum by (app) (count_over_time({app=~"foo|bar"}[1m]))
  {app="foo"} 6
  {app="bar"} 6

eval range from 0 to 60s step 30s count_over_time({app="foo"}[30s])
  {app="foo"} _ 3 3

eval instant at 60s count_over_time({app="foo"}[30s])
  {app="foo"} 4

eval instant at 60s vector(count_over_time({app="a"}[1m]))
  expect fail regex: expecting NUMBER
"#;
        let report = run_script(script);
        let outcomes: Vec<bool> = report.evals.iter().map(|e| e.passed()).collect();
        assert_eq!(outcomes, vec![true, true, false, true], "{report:#?}");
    }

    #[test]
    fn float_comparison() {
        let cases: &[(f64, f64, bool)] = &[
            (1.0, 1.0 + 1e-12, true),
            (1e12, 1e12 + 1.0, true),
            (1.0, 1.1, false),
            (f64::NAN, f64::NAN, true),
            (f64::INFINITY, f64::INFINITY, true),
            (f64::INFINITY, f64::NEG_INFINITY, false),
            (0.0, f64::NAN, false),
        ];
        for (a, b, want) in cases {
            assert_eq!(same(*a, *b), *want, "{a} vs {b}");
        }
    }
}
