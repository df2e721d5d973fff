//! The metrics engine: everything about samples that does not need the network.
//!
//! - [`write`](mod@write): the decoded form of a write request (flat arrays borrowing the request body).
//! - [`remote_write`]: Prometheus remote write 1.0 and 2.0 decoding without per-label
//!   allocations, and the 1.0 encoder the distributor uses to forward series.
//! - [`validation`]: per-tenant validation of decoded series (names, lengths, ages).
//! - [`block`]: the immutable block format (meta.json, index with postings, chunks file),
//!   encoded and decoded without I/O; the caller stores it.
//! - [`chunk`]: Gorilla XOR chunks (the head; Prometheus-compatible) and decimal chunks
//!   (blocks: decimal mantissas + exact residuals, Rice-coded).
//! - [`head`]: the in-memory per-tenant head: interned label sets, postings, chunks.
//! - [`wal`]: segmented, checksummed write-ahead log records and replay.
//! - [`db`]: a tenant's head and WAL together: append (WAL before ack), replay, query.
//! - [`downsample`]: the 5m/1h aggregates of old blocks (count, sum, min, max, counter), how
//!   raw samples take their form, and which queries may read them (see `promql`'s plan).
//! - [`promql`]: the PromQL engine (parser front end, evaluator, `.test` script runner).
//!
//! What changes together: a new field in [`write`](mod@write) touches the decoders, validation and the
//! head's append. Unit tests sit beside each module; decoders have proptests and a fuzz target
//! (`fuzz/` at the workspace root).

pub mod block;
pub mod chunk;
pub mod db;
pub mod downsample;
pub mod head;
pub mod promql;
pub mod remote_write;
mod sorted_ids;
pub mod validation;
pub mod wal;
pub mod write;
