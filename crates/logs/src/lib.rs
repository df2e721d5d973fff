//! The logs engine (Loki's semantics).
//!
//! - [`logql`]: the LogQL syntax tree ([`logql::ast`]), its parser ([`logql::parse`], Loki's
//!   error texts), and the evaluator of log and metric queries over any
//!   [`logql::eval::LogQueryable`] (windows `(T-R, T]`, range and vector aggregations, binary
//!   operators with vector matching, `label_replace`), plus the `.logqltest` script runner.
//! - [`pipeline`]: the executable stages of a log pipeline: line filters, the `json`/`logfmt`/
//!   `regexp`/`pattern`/`unpack` parsers, label filters, `line_format`/`label_format` (a Go
//!   text/template subset with Loki's functions), `drop`/`keep`/`decolorize`, and the stream >
//!   structured metadata > parsed label precedence with `_extracted` on clashes.
//! - [`deletion`]: [`deletion::LogsDeletionFilter`], the entries a deletion request selects
//!   (stream selector, line filters, inclusive ms range), shared by compactor and querier.
//! - [`model`]: [`model::LogBatch`], the decoded form of a push.
//! - [`push`]: decoding Loki pushes (protobuf + snappy, JSON, gzip) and OTLP logs (protobuf,
//!   OTLP/JSON; resource attributes to stream labels as Loki 3 does), `service_name`
//!   discovery, and validation against per-tenant limits with Loki's messages (partial accept).
//! - [`db`]: [`db::LogsTenantDb`], a tenant's stream head and WAL: append (validation, WAL
//!   before visible), replay, LogQL selection ([`logql::eval::LogQueryable`]), label and stats
//!   queries, cutting blocks, truncation with WAL checkpoints. The head (streams, postings)
//!   lives in the private `head` module, the WAL (segments, records, checkpoints) in `wal`.
//! - [`chunk`]: [`chunk::LogsChunk`], a stream's entries in snappy-compressed, CRC-checked
//!   blocks with their time ranges (shared by the head and the block format).
//! - [`block`]: the logs block (`meta.json`, `index`, `chunks`): writer, index parser, chunk
//!   reader by byte range.
//!
//! Tests sit next to the code (`*/tests.rs`); `db/perf.rs` holds the by-hand release
//! measurement of append throughput and compression.

pub mod block;
pub mod chunk;
pub mod db;
pub mod deletion;
mod head;
pub mod logql;
pub mod model;
pub mod pipeline;
pub mod push;
mod wal;
