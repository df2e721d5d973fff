//! The traces engine (Tempo's semantics).
//!
//! - [`traceql`]: the TraceQL syntax tree, its parser (Tempo's error texts), validation, and
//!   the search evaluator of one trace ([`traceql::eval::TraceqlEvaluator`]: spanset filters,
//!   structural and spanset operators, pipelines) giving Tempo's search result shape.
//! - [`model`] and [`push`]: the decoded form of an OTLP traces export, and decoding (OTLP
//!   protobuf, OTLP/JSON, gzip) with validation against per-tenant limits.
//! - [`search`]: search results and traces across sources: the wire form of a search
//!   result, Tempo's combiner ([`search::TracesSearchCombiner`]) and [`search::merge_traces`].
//! - [`db`]: one tenant's traces in an ingester (live traces, completed traces awaiting a
//!   block, the WAL in `wal`), with search and tag scans; [`tags`]: attribute names and typed
//!   tag values of a trace (shared by the ingester, the block writer and the querier).
//! - [`block`]: the immutable block format (`data` pages, `index`, `bloom`, `search`
//!   columns, `meta.json`), its writer, its readers and the TraceQL prefilter.
pub mod block;
pub mod db;
pub mod model;
pub mod push;
pub mod search;
pub mod tags;
pub mod traceql;
mod wal;
