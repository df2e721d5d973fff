//! Shared pieces of the benches and the load generator `sextant-loadgen`.
//!
//! - [`catalogue`]: a Kubernetes-like series catalogue (node_exporter, cAdvisor,
//!   kube-state-metrics, instrumented apps with counters and 12-bucket histograms), after
//!   `/work/shared/bench/gen.py`.
//! - [`simulate`]: realistic value evolution per scrape round.
//! - [`encode`]: remote write 1.0 encoding into sharded, snappy-compressed requests
//!   ([`encode::generate`], and [`encode::steady_state_requests`] for the criterion benches).
//! - [`selftest`]: decodes a dataset back with prost and checks it.
//! - [`replay`]: sends a dataset with one request in flight per shard and measures it.
//! - [`procfs`]: CPU and memory of the target process from `/proc`.
//! - [`report`]: the loadgen's summary (markdown and JSON).
//! - [`logs_gen`]: realistic log workloads (nginx, JSON application logs, Kubernetes events)
//!   over a few hundred streams, for `sextant-logs-bench`.
//! - [`logs_bench`]: the logs measurements: ingest per core, stored bytes per raw byte, the
//!   needle-in-a-haystack query.
//! - [`traces_bench`]: `sextant-traces-bench`: realistic OTLP traces pushed over HTTP (spans/s
//!   and MB/s per core), bytes stored per span, trace-by-ID and TraceQL search latency.
//!
//! Test with `cargo test -p sextant-benches`; the benches are in `benches/`.

pub mod catalogue;
pub mod encode;
pub mod logs_bench;
pub mod logs_gen;
pub mod procfs;
pub mod replay;
pub mod report;
pub mod selftest;
pub mod simulate;
pub mod traces_bench;
