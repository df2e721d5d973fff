//! The traces engine (Tempo's semantics).
//!
//! - [`traceql`]: the TraceQL syntax tree, its parser (Tempo's error texts), validation, and
//!   the search evaluator of one trace ([`traceql::eval::TraceqlEvaluator`]: spanset filters,
//!   structural and spanset operators, pipelines) giving Tempo's search result shape.
//! - [`model`] and [`push`]: the decoded form of an OTLP traces export, and decoding (OTLP
//!   protobuf, OTLP/JSON, gzip) with validation against per-tenant limits.
pub mod model;
pub mod push;
pub mod traceql;
