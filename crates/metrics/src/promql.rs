//! PromQL: parsing (through `promql-parser`, with a small text pass for the syntax it lacks),
//! evaluation of instant and range queries over any [`Queryable`], and a runner for
//! Prometheus's `.test` scripts.
//!
//! - [`value`]: samples, series, vectors, matrices, annotations and errors.
//! - [`histogram`]: native float histograms and their arithmetic.
//! - [`parse`]: the query text to an AST (duration expressions, `anchored`/`smoothed`).
//! - [`queryable`]: where the engine gets series from, and an in-memory implementation.
//! - [`engine`]: [`Engine`] evaluates a query; `eval` walks the AST step by step,
//!   `binary` and `aggregate` work on one step's vectors, `functions` implements the
//!   function library.
//! - [`script`]: the `.test` script format (load, eval, expectations).

pub mod engine;
pub mod histogram;
pub mod parse;
pub mod queryable;
pub mod script;
pub mod value;

mod aggregate;
mod binary;
mod eval;
mod functions;
#[cfg(test)]
mod testing;

pub use engine::{Engine, EngineOptions, QueryResult};
pub(crate) use functions::kahan_inc;
pub use histogram::FloatHistogram;
pub use queryable::{MemQueryable, Queryable, SelectHints};
pub use value::{Annotations, EvalError, FPoint, HPoint, Matrix, Sample, Series, Value, Vector};
