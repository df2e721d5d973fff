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
//!
//! Ingest, the stream head, WAL and blocks for logs come with the rest of the logs path.

pub mod logql;
pub mod model;
pub mod pipeline;
