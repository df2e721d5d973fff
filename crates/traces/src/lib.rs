//! The traces engine (Tempo's semantics).
//!
//! - [`traceql`]: the TraceQL syntax tree, its parser (Tempo's error texts) and the runner of
//!   Tempo's `test_examples.yaml` corpus.
//! - [`model`] and [`push`]: the decoded form of an OTLP traces export, and decoding (OTLP
//!   protobuf, OTLP/JSON, gzip) with validation against per-tenant limits.
pub mod model;
pub mod push;
pub mod traceql;
