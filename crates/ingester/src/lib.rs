//! The ingester: per-tenant heads with a WAL for each signal, registered in the signal's ring,
//! serving recent data over gRPC.
//!
//! - [`config`]: `IngesterConfig` (the `ingester:` YAML block).
//! - `metrics_ingester`: the metrics side — tenant databases (head + WAL), push and query over
//!   gRPC, replay on start, WAL fsync timer, flush and ring exit on stop; its `shipper` cuts
//!   blocks, uploads them to object storage and truncates head and WAL.
//! - `logs_ingester`: the logs side's storage half — a stream head + WAL per tenant
//!   (`sextant_logs::db`), replay, push and queries over gRPC (`LogsIngester`), ring
//!   membership; its `shipper` (`LogsShipper`) cuts logs blocks, uploads them and truncates.
//! - `traces_ingester`: the traces side — live and completed traces + WAL per tenant
//!   (`sextant_traces::db`), replay, push, trace by ID, TraceQL search and tags over gRPC
//!   (`TracesIngester`, limits in `TracesIngesterLimits`); its `shipper` (`TracesShipper`)
//!   completes idle traces, cuts, uploads and releases traces blocks.
//! - `head_service`: `HeadService`, the lifecycle of the logs and traces heads (replay, ring,
//!   fsync timer) over `WalHeads`; `tenant_heads`: their per-tenant database map.
//! - `block_schedule`: when aligned blocks are due and heads truncated (metrics, logs);
//!   `block_upload`: what the three shippers share (file upload with `meta.json` last, bucket
//!   indexes, flush endpoint, timer service over `BlockShipper`, `ShipOutcome`).
//! - `error`: `IngesterError` (block shipping); `timer`: background work on a timer.
//! - `instrumentation`: `sextant_ingester_*` self-metrics.
//!
//! Tests: unit tests beside the code drive the gRPC service methods directly (`test_support`
//! holds the shared ring double and clock); the kill -9 and restart scenarios run real
//! processes in `tests/` (package `sextant-e2e`).

mod block_schedule;
mod block_upload;
pub mod config;
mod error;
mod head_service;
mod instrumentation;
mod logs_ingester;
mod metrics_ingester;
mod tenant_heads;
#[cfg(test)]
mod test_support;
mod timer;
mod traces_ingester;

pub use block_upload::ShipOutcome;
pub use config::{IngesterConfig, IngesterLogsConfig, IngesterMetricsConfig, IngesterTracesConfig};
pub use error::IngesterError;
pub use head_service::{HeadService, WalHeads};
pub use logs_ingester::{
    LogsGrpc, LogsIngester, LogsIngesterService, LogsShipper, LogsStreamLimits, LOGS_FLUSH_PATH,
};
pub use metrics_ingester::{MetricsIngester, RingMembership};
pub use traces_ingester::{
    TracesGrpc, TracesIngester, TracesIngesterLimits, TracesIngesterService, TracesShipper,
    TRACES_FLUSH_PATH,
};
