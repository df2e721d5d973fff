//! A runner for Prometheus's `.test` scripts (`load`, `clear`, `eval` with expectations).
//!
//! Besides comparing each `eval` with its expected result, it does what the upstream harness
//! does: every instant eval is re-run as a range query around its time and must give the same
//! point; instant evals without time-dependent functions are re-run with `@ <time>` added to
//! every selector at other evaluation times; range results must be sorted by labels.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::engine::Engine;
use super::histogram::{CounterResetHint, FloatHistogram};
use super::queryable::MemQueryable;
use super::value::{EvalError, Value};

mod at_modifier;
mod commands;
mod compare;
mod histogram_notation;
mod nhcb;
mod series;

use commands::{Command, Eval, EvalTime, Load};
use compare::Grid;
use series::SeqValue;

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

/// Runs a `.test` script against `engine`, on an in-memory store that starts empty.
pub fn run_script(text: &str, engine: &Engine) -> ScriptReport {
    let mut store = MemQueryable::new();
    let mut report = ScriptReport::default();
    for command in commands::parse_script(text) {
        match command {
            Command::Clear => store.clear(),
            Command::Load(load) => apply_load(&mut store, &load),
            Command::Eval(eval) => {
                let run = catch_unwind(AssertUnwindSafe(|| run_eval(&eval, engine, &store)));
                let failure = match run {
                    Ok(result) => result.err(),
                    Err(panic) => Some(format!("panicked: {}", panic_message(panic.as_ref()))),
                };
                report.evals.push(ScriptEvalOutcome {
                    line: eval.line,
                    query: eval.query.clone(),
                    failure,
                });
            }
            Command::Invalid { line, text, reason } => {
                report.evals.push(ScriptEvalOutcome {
                    line,
                    query: text,
                    failure: Some(format!("invalid command: {reason}")),
                });
            }
        }
    }
    report
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn apply_load(store: &mut MemQueryable, load: &Load) {
    for (labels, values) in &load.series {
        let mut hints = HintTracker::default();
        for (i, value) in values.iter().enumerate() {
            let t = i as i64 * load.interval_ms;
            match value {
                SeqValue::Omitted => {}
                SeqValue::Float(f) => {
                    hints.float();
                    store.add_float(labels, t, *f);
                }
                SeqValue::Histogram { h, .. } => store.add_histogram(labels, t, hints.histogram(h)),
            }
        }
    }
    if load.with_nhcb {
        for (labels, samples) in nhcb::convert(&load.series, load.interval_ms) {
            let mut hints = HintTracker::default();
            for (t, h) in samples {
                store.add_histogram(&labels, t, hints.histogram(&h));
            }
        }
    }
}

/// Sets counter reset hints the way Prometheus's TSDB returns them when read back: the first
/// histogram of a chunk carries its chunk's header (unknown, or reset when a reset cut the
/// chunk), the following ones `not_reset`; gauge histograms stay gauges. A float sample (or
/// staleness marker) in between starts a new chunk.
#[derive(Default)]
struct HintTracker {
    previous: Option<FloatHistogram>,
}

impl HintTracker {
    fn float(&mut self) {
        self.previous = None;
    }

    fn histogram(&mut self, h: &FloatHistogram) -> FloatHistogram {
        let mut h = h.clone();
        h.counter_reset_hint = match (&self.previous, h.counter_reset_hint) {
            (_, CounterResetHint::Gauge) => CounterResetHint::Gauge,
            (_, CounterResetHint::CounterReset) => CounterResetHint::CounterReset,
            (Some(prev), _) if prev.counter_reset_hint == CounterResetHint::Gauge => {
                CounterResetHint::Unknown
            }
            (Some(prev), _) if h.detect_reset(prev) => CounterResetHint::CounterReset,
            (Some(_), _) => CounterResetHint::NotCounterReset,
            (None, _) => CounterResetHint::Unknown,
        };
        self.previous = Some(h.clone());
        h
    }
}

fn run_eval(eval: &Eval, engine: &Engine, store: &MemQueryable) -> Result<(), String> {
    match eval.time {
        EvalTime::Range {
            start_ms,
            end_ms,
            step_ms,
        } => {
            let result = engine.range(store, &eval.query, start_ms, end_ms, step_ms);
            let grid = Grid {
                start: start_ms,
                end: end_ms,
                step: step_ms,
            };
            check_result(eval, result, grid).map(|_| ())
        }
        EvalTime::Instant { at_ms } => {
            run_instant(eval, engine, store, &eval.query, at_ms)?;
            if let Some((query, times)) = at_modifier::at_modifier_cases(&eval.query, at_ms) {
                for t in times {
                    run_instant(eval, engine, store, &query, t)
                        .map_err(|e| format!("with @ added, `{query}` at {t}ms: {e}"))?;
                }
            }
            Ok(())
        }
    }
}

/// Checks errors, annotations and the value; returns the value when the query succeeded.
fn check_result(
    eval: &Eval,
    result: Result<super::engine::QueryResult, EvalError>,
    grid: Grid,
) -> Result<Option<Value>, String> {
    let result = match (result, &eval.fail) {
        (Err(e), Some(want)) if want.matches(&e.to_string()) => return Ok(None),
        (Err(e), Some(want)) => return Err(format!("expected an error matching {want}, got: {e}")),
        (Err(e), None) => return Err(format!("error: {e}")),
        (Ok(_), Some(_)) => return Err("expected an error but the query succeeded".into()),
        (Ok(r), None) => r,
    };
    compare::check_annotations(eval, &result.annotations)?;
    compare::compare_value(eval, &result.value, grid)?;
    Ok(Some(result.value))
}

fn run_instant(
    eval: &Eval,
    engine: &Engine,
    store: &MemQueryable,
    query: &str,
    at_ms: i64,
) -> Result<(), String> {
    let grid = match eval.range_vector {
        Some((start, end, step)) => Grid { start, end, step },
        None => Grid {
            start: at_ms,
            end: at_ms,
            step: 0,
        },
    };
    let Some(value) = check_result(eval, engine.instant(store, query, at_ms), grid)? else {
        return Ok(());
    };
    if eval.range_vector.is_some() || eval.string.is_some() || uses_query_context(query) {
        return Ok(());
    }
    let range = engine
        .range(store, query, at_ms - 60_000, at_ms + 60_000, 60_000)
        .map_err(|e| format!("in range mode: error: {e}"))?;
    if eval.ordered {
        return Ok(());
    }
    let Value::Matrix(matrix) = &range.value else {
        return Err(format!(
            "in range mode: expected a matrix, got a {}",
            range.value.type_name()
        ));
    };
    compare::check_sorted(matrix).map_err(|e| format!("in range mode: {e}"))?;
    let vector = compare::vector_at(matrix, at_ms);
    let as_instant = match value {
        Value::Scalar { .. } => match vector.first() {
            Some(s) => Value::Scalar { t: at_ms, f: s.f },
            None => return Err("in range mode: no point at the evaluation time".into()),
        },
        _ => Value::Vector(vector),
    };
    compare::compare_value(eval, &as_instant, grid).map_err(|e| format!("in range mode: {e}"))
}

/// Whether the query calls `start()`, `end()`, `range()` or `step()`, which differ between
/// instant and range queries.
fn uses_query_context(query: &str) -> bool {
    ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|f| query.contains(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_query_context_functions() {
        assert!(uses_query_context("x offset step()"));
        assert!(uses_query_context("x @ end()"));
        assert!(!uses_query_context("rate(x[5m])"));
    }

    #[test]
    fn sets_counter_reset_hints_like_the_tsdb() {
        let h = |count: f64, hint| FloatHistogram {
            count,
            counter_reset_hint: hint,
            ..FloatHistogram::default()
        };
        use CounterResetHint::*;
        let mut tracker = HintTracker::default();
        let hints: Vec<CounterResetHint> = [
            h(1.0, Unknown),
            h(2.0, Unknown),
            h(1.0, Unknown),
            h(3.0, Unknown),
        ]
        .iter()
        .map(|x| tracker.histogram(x).counter_reset_hint)
        .collect();
        assert_eq!(
            hints,
            vec![Unknown, NotCounterReset, CounterReset, NotCounterReset]
        );
        tracker.float();
        assert_eq!(
            tracker.histogram(&h(5.0, Unknown)).counter_reset_hint,
            Unknown
        );
        assert_eq!(tracker.histogram(&h(1.0, Gauge)).counter_reset_hint, Gauge);
    }

    #[test]
    fn reports_invalid_commands_as_failures() {
        let report = run_script("frobnicate\n\nload 1m\n  x 1\n", &Engine::default());
        assert_eq!((report.passed(), report.failed()), (0, 1));
        assert_eq!(report.evals[0].line, 1);
    }
}
