//! Evaluation of LogQL metric queries over log streams.
//!
//! A query is evaluated for all its steps at once: every node yields one value per step
//! ([`Evaluated`]). Range aggregations select their streams once, run each entry through the
//! [`Pipeline`](crate::pipeline::Pipeline) once, then slide the window (T−R, T] over the
//! extracted samples ([`range`]); vector aggregations ([`aggregate`]) and binary operators
//! ([`binary`]) combine step values. [`eval_logs`] runs log queries. [`MemLogQueryable`] is
//! the in-memory store, and [`script`] runs Loki's `.logqltest` files against it.
//!
//! Evaluation is synchronous and CPU-bound (regexes, parsers): async callers run it on a
//! blocking pool (`spawn_blocking`).

mod aggregate;
mod binary;
mod logs;
mod memory;
mod range;
pub mod script;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use sextant_model::{ErrorKind, Labels, Matcher};

use super::ast::{SampleExpr, Stage, VectorOp};
use super::parse::ParseError;
use crate::pipeline::PipelineError;

pub use logs::{eval_logs, Direction};
pub use memory::MemLogQueryable;

/// The most steps a range query may have, as in Prometheus and Loki.
const MAX_POINTS: i64 = 11_000;

/// Where the evaluator reads log lines from.
pub trait LogQueryable {
    /// The streams whose labels match every matcher, with their entries in
    /// `start_ns <= ts < end_ns`, sorted by time.
    fn select(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, EvalError>;

    /// [`select`](Self::select) for a pipeline that starts with `line_filters` (its leading
    /// line filter stages, from [`leading_line_filters`], which see each line as stored): a
    /// source may leave out entries failing them, where the data lives (Loki pushes line
    /// filters into its chunk iterators and ingesters the same way). The evaluator runs the
    /// whole pipeline on what comes back either way; the default leaves nothing out.
    fn select_filtered(
        &self,
        matchers: &[Matcher],
        line_filters: &[Stage],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, EvalError> {
        let _ = line_filters;
        self.select(matchers, start_ns, end_ns)
    }
}

/// The line filter stages a pipeline starts with: those before its first parser, label
/// filter or format, so they see the line as stored and can run before everything else.
pub fn leading_line_filters(pipeline: &[Stage]) -> &[Stage] {
    let n = pipeline
        .iter()
        .take_while(|s| matches!(s, Stage::LineFilter(_)))
        .count();
    &pipeline[..n]
}

/// The LogQL text of line filter stages (`|= "a" != "b"`), as sent to the ingesters; empty for
/// none.
pub fn line_filters_text(line_filters: &[Stage]) -> String {
    line_filters
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line filter stages of `text` as [`line_filters_text`] writes them; an error when the
/// text is not line filters only.
pub fn parse_line_filters(text: &str) -> Result<Vec<Stage>, ParseError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let expr = super::parse::parse_log_expr(&format!("{{__line_filters__=\"x\"}} {text}"))?;
    if leading_line_filters(&expr.pipeline).len() != expr.pipeline.len() {
        return Err(ParseError::semantic(format!(
            "not only line filters: {text}"
        )));
    }
    Ok(expr.pipeline)
}

/// A log stream: its labels and entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub labels: Labels,
    pub entries: Vec<Entry>,
}

/// One log line with its structured metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub ts_ns: i64,
    pub line: String,
    pub metadata: Labels,
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

/// One series of a range query result.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSeries {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// The result of a metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar(f64),
    /// Sorted by labels, except after `sort` / `sort_desc`.
    Vector(Vec<Sample>),
    /// Sorted by labels.
    Matrix(Vec<SampleSeries>),
}

/// Why a metric query could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A sample carries `__error__`: Loki refuses to aggregate lines a stage failed on.
    #[error("pipeline error: '{error}' for series: '{series}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{error}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )")]
    Series { error: String, series: String },
    /// The query is valid but not in this kind of query (e.g. `approx_topk` over a range).
    #[error("{0}")]
    Unsupported(String),
    /// The data does not allow the operation (e.g. ambiguous vector matching).
    #[error("{0}")]
    Execution(String),
    /// The store failed.
    #[error("{0}")]
    Storage(String),
}

impl EvalError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EvalError::Parse(_) | EvalError::Pipeline(_) | EvalError::Unsupported(_) => {
                ErrorKind::BadRequest
            }
            EvalError::Series { .. } | EvalError::Execution(_) => ErrorKind::Unprocessable,
            EvalError::Storage(_) => ErrorKind::Internal,
        }
    }
}

/// Evaluates a metric query at one time: a scalar or a vector.
pub fn eval_instant(
    q: &dyn LogQueryable,
    expr: &SampleExpr,
    ts_ns: i64,
) -> Result<QueryValue, EvalError> {
    let evaluator = Evaluator {
        q,
        steps: vec![ts_ns],
        instant: true,
    };
    Ok(match evaluator.eval(expr)? {
        Evaluated::Scalar(values) => QueryValue::Scalar(values[0]),
        Evaluated::Vector(mut steps) => {
            let mut vector = steps.pop().unwrap_or_default();
            if !is_sort(expr) {
                vector.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            QueryValue::Vector(vector)
        }
    })
}

/// Evaluates a metric query at `start_ns`, `start_ns + step_ns`, … up to `end_ns`: a matrix.
pub fn eval_range(
    q: &dyn LogQueryable,
    expr: &SampleExpr,
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
) -> Result<QueryValue, EvalError> {
    let span = end_ns.checked_sub(start_ns).filter(|span| *span >= 0);
    let (Some(span), true) = (span, step_ns > 0) else {
        return Err(EvalError::Unsupported(
            "invalid range query: the step must be positive and the end not before the start"
                .to_string(),
        ));
    };
    let count = span / step_ns + 1;
    if count > MAX_POINTS {
        return Err(EvalError::Unsupported(format!(
            "exceeded maximum resolution of {MAX_POINTS} points per timeseries. Try decreasing the query resolution (?step=XX)"
        )));
    }
    let steps: Vec<i64> = (0..count).map(|i| start_ns + i * step_ns).collect();
    let evaluator = Evaluator {
        q,
        steps,
        instant: false,
    };
    let evaluated = evaluator.eval(expr)?;
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    match evaluated {
        Evaluated::Scalar(values) => {
            let points = evaluator.steps.iter().copied().zip(values).collect();
            series.insert(Labels::default(), points);
        }
        Evaluated::Vector(steps) => {
            for (t, vector) in evaluator.steps.iter().zip(steps) {
                for sample in vector {
                    series
                        .entry(sample.labels)
                        .or_default()
                        .push((*t, sample.value));
                }
            }
        }
    }
    Ok(QueryValue::Matrix(
        series
            .into_iter()
            .map(|(labels, points)| SampleSeries { labels, points })
            .collect(),
    ))
}

fn is_sort(expr: &SampleExpr) -> bool {
    matches!(expr, SampleExpr::Vector(v) if matches!(v.op, VectorOp::Sort | VectorOp::SortDesc))
}

/// A node's value at every step.
#[derive(Debug, Clone, PartialEq)]
enum Evaluated {
    Scalar(Vec<f64>),
    Vector(Vec<Vec<Sample>>),
}

impl Evaluated {
    /// Vectors as they are; a scalar becomes a label-less sample per step.
    fn into_vectors(self) -> Vec<Vec<Sample>> {
        match self {
            Evaluated::Vector(steps) => steps,
            Evaluated::Scalar(values) => values
                .into_iter()
                .map(|value| {
                    vec![Sample {
                        labels: Labels::default(),
                        value,
                    }]
                })
                .collect(),
        }
    }
}

struct Evaluator<'a> {
    q: &'a dyn LogQueryable,
    steps: Vec<i64>,
    instant: bool,
}

impl Evaluator<'_> {
    fn eval(&self, expr: &SampleExpr) -> Result<Evaluated, EvalError> {
        let steps = self.steps.len();
        Ok(match expr {
            SampleExpr::Literal(value) => Evaluated::Scalar(vec![*value; steps]),
            SampleExpr::VectorLiteral(value) => {
                let sample = Sample {
                    labels: Labels::default(),
                    value: *value,
                };
                Evaluated::Vector(vec![vec![sample]; steps])
            }
            SampleExpr::Range(agg) => Evaluated::Vector(range::evaluate(self.q, agg, &self.steps)?),
            SampleExpr::Vector(agg) => {
                if agg.op == VectorOp::ApproxTopk && !self.instant {
                    return Err(EvalError::Unsupported(
                        "approx_topk is only supported on instant queries".to_string(),
                    ));
                }
                let inner = self.eval(&agg.expr)?.into_vectors();
                Evaluated::Vector(
                    inner
                        .into_iter()
                        .map(|v| aggregate::aggregate(agg, v))
                        .collect(),
                )
            }
            SampleExpr::Binary(binary) => {
                let lhs = self.eval(&binary.lhs)?;
                let rhs = self.eval(&binary.rhs)?;
                binary::evaluate(binary, lhs, rhs)?
            }
            SampleExpr::LabelReplace(replace) => {
                let inner = self.eval(&replace.expr)?.into_vectors();
                Evaluated::Vector(binary::label_replace(replace, inner)?)
            }
        })
    }
}

#[cfg(test)]
mod pushdown_tests {
    use super::*;
    use crate::logql::parse::parse_log_expr;

    #[test]
    fn leading_line_filters_stop_at_the_first_other_stage() {
        // (query, its leading line filters as text)
        let cases = [
            (r#"{a="b"}"#, ""),
            (r#"{a="b"} |= "x""#, r#"|= "x""#),
            (
                r#"{a="b"} |= "x" != "y" |~ "z.*" | json |= "w""#,
                r#"|= "x" != "y" |~ "z.*""#,
            ),
            (r#"{a="b"} | logfmt |= "x""#, ""),
            (
                r#"{a="b"} |= "x" or "y" | line_format "{{.a}}""#,
                r#"|= "x" or "y""#,
            ),
        ];
        for (query, want) in cases {
            let expr = parse_log_expr(query).unwrap();
            let leading = leading_line_filters(&expr.pipeline);
            let text = line_filters_text(leading);
            assert_eq!(text, want, "{query}");
            // the text is what travels to the ingesters: it parses back to the same stages
            assert_eq!(parse_line_filters(&text).unwrap(), leading, "{query}");
        }
    }

    #[test]
    fn parse_line_filters_refuses_other_stages_and_bad_text() {
        for text in [r#"| json"#, r#"|= "x" | logfmt"#, r#"|= "#, "garbage"] {
            assert!(parse_line_filters(text).is_err(), "{text}");
        }
    }
}
