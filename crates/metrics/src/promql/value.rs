//! The values a PromQL expression evaluates to, and what goes wrong.

use sextant_model::{ErrorKind, Labels};

use super::histogram::FloatHistogram;

/// The bit pattern Prometheus uses for a staleness marker (a NaN that ends a series).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether a float is the staleness marker (not just any NaN).
pub fn is_stale_nan(f: f64) -> bool {
    f.to_bits() == STALE_NAN_BITS
}

/// The staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// A float sample of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FPoint {
    pub t: i64,
    pub f: f64,
}

/// A native histogram sample of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct HPoint {
    pub t: i64,
    pub h: Box<FloatHistogram>,
}

/// One element of an instant vector: either a float (`h` is `None`) or a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: Labels,
    pub t: i64,
    pub f: f64,
    pub h: Option<Box<FloatHistogram>>,
    /// Delayed name removal: `__name__` is to be dropped when the result leaves the engine.
    pub drop_name: bool,
}

pub type Vector = Vec<Sample>;

/// A series with its samples in time order; floats and histograms are kept apart (a series
/// may hold both, never at the same timestamp).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub metric: Labels,
    pub floats: Vec<FPoint>,
    pub histograms: Vec<HPoint>,
    /// See [`Sample::drop_name`].
    pub drop_name: bool,
}

pub type Matrix = Vec<Series>;

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, f: f64 },
    String { t: i64, s: String },
    Vector(Vector),
    Matrix(Matrix),
}

impl Value {
    /// Prometheus's `resultType`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Warnings and infos of one evaluation, in Prometheus's wording
/// (`PromQL warning: ...`, `PromQL info: ...`), without duplicates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Annotations {
    pub fn warn(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.warnings.contains(&message) {
            self.warnings.push(message);
        }
    }

    pub fn info(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.infos.contains(&message) {
            self.infos.push(message);
        }
    }

    pub fn merge(&mut self, other: Annotations) {
        for w in other.warnings {
            self.warn(w);
        }
        for i in other.infos {
            self.info(i);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty() && self.infos.is_empty()
    }
}

/// Why a query failed, with Prometheus's `errorType` for the HTTP API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The query does not parse or is invalid (`bad_data`, 400).
    #[error("{0}")]
    Parse(String),
    /// Evaluation failed (`execution`, 422).
    #[error("{0}")]
    Execution(String),
    /// The query loaded more samples than allowed (`execution`, 422).
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The query ran past its deadline (`timeout`, 503).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The data could not be read (`internal`, 500).
    #[error("{0}")]
    Storage(String),
}

impl EvalError {
    /// Prometheus's `errorType` string.
    pub fn error_type(&self) -> &'static str {
        match self {
            EvalError::Parse(_) => "bad_data",
            EvalError::Execution(_) | EvalError::TooManySamples(_) => "execution",
            EvalError::Timeout(_) => "timeout",
            EvalError::Storage(_) => "internal",
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            EvalError::Parse(_) => ErrorKind::BadRequest,
            EvalError::Execution(_) | EvalError::TooManySamples(_) => ErrorKind::Unprocessable,
            EvalError::Timeout(_) => ErrorKind::Unavailable,
            EvalError::Storage(_) => ErrorKind::Internal,
        }
    }
}
