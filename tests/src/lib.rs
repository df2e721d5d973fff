//! Harness for end-to-end tests: spawns real `sextant` processes (and a real Prometheus) on
//! loopback ports and talks to them over their public HTTP and internal gRPC APIs.
//!
//! Map:
//! - [`process`]: finding the binary, one [`SextantProcess`] (spawn, wait ready, kill -9,
//!   SIGTERM, restart with the same data dir, kill on drop) and its [`ProcessSpec`].
//! - [`bucket`]: the blocks, metas and bucket index of a filesystem bucket, as the compactor
//!   tests check them.
//! - [`alertmanager`]: a real Alertmanager and its v2 alerts API, for the ruler tests.
//! - [`answers`]: querier answers (Prometheus, Loki, Tempo search), order-normalized for
//!   comparison.
//! - [`compactor`]: the processes of the compactor tests (flags, start, wait until compacted).
//! - [`downsampling`]: raw metrics blocks written straight into a bucket, the querier's
//!   fetched-bytes counter by label, for the downsampling test.
//! - [`cluster`]: a distributor plus N ingesters joined by gossip ([`Cluster`]).
//! - [`remote_write`]: building remote-write 1.0 / 2.0 requests and pushing them.
//! - [`query`]: reading an ingester's in-memory data through its gRPC `QueryStream`.
//! - [`ring`]: the JSON of `/ring/<name>?format=json`.
//! - [`s3`]: a real S3 server (`s3s-fs`) on loopback.
//! - [`traces`]: OTLP/HTTP trace pushes, the Tempo API (trace by ID, search) read back as
//!   comparable span records.
//! - [`prometheus`]: a real Prometheus server and a reader of the Prometheus text format.
//! - [`python`]: running the Python clients of `tests/python/` with the e2e venv.
//! - [`promql_compare`]: a dashboard dataset, dashboard queries, and comparing two query APIs.
//! - [`ports`], [`wait`]: free loopback ports and bounded polling.
//!
//! The scenarios live in `tests/*.rs`; each needs the binary built first
//! (`cargo build -p sextant-server`, or point `SEXTANT_BIN` at one).

pub mod alertmanager;
pub mod answers;
pub mod bucket;
pub mod cluster;
pub mod compactor;
pub mod downsampling;
pub mod ports;
pub mod process;
pub mod prometheus;
pub mod promql_compare;
pub mod python;
pub mod query;
pub mod remote_write;
pub mod ring;
pub mod s3;
pub mod traces;
pub mod wait;

pub use cluster::{start_single, Cluster};
pub use process::{sextant_binary, ProcessSpec, SextantProcess};
pub use query::{query_all_series, SeriesSet};
pub use remote_write::{PushResponse, RawPush, RemoteWriteClient, WriteRequestV2Builder};
pub use ring::{RingDescription, RingInstanceDescription};
pub use wait::wait_for;
