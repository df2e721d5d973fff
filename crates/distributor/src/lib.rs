//! The distributor: the stateless write edge. For metrics it takes Prometheus remote write 1.0
//! and 2.0, validates, applies per-tenant rate limits, hashes each series onto the
//! `ingester-metrics` ring and replicates to RF ingesters, acknowledging once a quorum did.
//! For logs it does the same with Loki pushes and OTLP logs on the `ingester-logs` ring.
//!
//! - [`config`]: `DistributorConfig` (the `distributor:` YAML block).
//! - `metrics_push`: the `/api/v1/push` handler and the CPU half of a push (decode, validate,
//!   route, encode per ingester), run off the async runtime.
//! - `logs_push`: `LogsDistributor`, the `/loki/api/v1/push` and `/otlp/v1/logs` handlers
//!   (`logs_push/handlers.rs`), the CPU half (decode, validate with the tenant's `limits.logs`,
//!   route streams, build per-ingester requests: `logs_push/prepare.rs`), Loki's byte rate
//!   limit and partial-accept answers. Shares `replication` and `limiter` with `metrics_push`.
//!   OTLP logs over gRPC (`LogsService/Export`, `logs_push/otlp_grpc.rs`) takes the same path.
//! - `traces_push`: `TracesDistributor`, the `/v1/traces` and `/otlp/v1/traces` handlers and
//!   OTLP gRPC `TraceService/Export`: decode and validate with partial success (on the blocking
//!   pool), Tempo's byte rate limit, each trace ID hashed onto `ingester-traces` and its spans
//!   encoded once for its RF replicas, quorum per replica set, ingester refusals per limit.
//! - `otlp_grpc_server`: `DistributorOtlpGrpcServer`, the service that owns the OTLP gRPC
//!   listener (`distributor.otlp_grpc_listen_address`).
//! - `push_common`: what every signal's push shares: the clock, the CPU half on the blocking
//!   pool, the async half's fan-out to the ingesters with its quorum wait (`replicate`).
//! - `http_push`: reading push bodies under the size limit, the tenant and content headers,
//!   the OTLP/HTTP 200 in protobuf or JSON.
//! - `otlp_export`: the tenant and the status codes of the OTLP gRPC `Export` services.
//! - `replication`: routing items (series, streams, traces) by token onto the ring, grouping
//!   them by replica set, and the quorum rule.
//! - `limiter`: per-tenant token buckets.
//! - `instrumentation`: `sextant_distributor_*` self-metrics.
//! - [`error`]: `DistributorError` and its mapping onto `ErrorKind`.
//!
//! Tests: unit tests beside each module, sharing the ring, scripted ingesters and distributor
//! setup of `test_support`; the multi-process and bad-input scenarios live in `tests/`
//! (package `sextant-e2e`).

pub mod config;
pub mod error;
mod http_push;
mod instrumentation;
mod limiter;
mod logs_push;
mod metrics_push;
mod otlp_export;
mod otlp_grpc_server;
mod push_common;
mod replication;
#[cfg(test)]
mod test_support;
mod traces_push;

pub use config::DistributorConfig;
pub use error::DistributorError;
pub use logs_push::{
    DistributorOtlpLogsService, LogsDistributor, LogsIngesterClient, LogsPushInput,
    LogsPushOutcome, LogsPushReport,
};
pub use metrics_push::{
    shard_token, Distributor, IngesterClientFactory, PushOutcome, PushReport, RingSnapshot,
};
pub use otlp_grpc_server::DistributorOtlpGrpcServer;
pub use traces_push::{
    DistributorOtlpTracesService, TracesDistributor, TracesIngesterClient, TracesPushInput,
    TracesPushOutcome, TracesPushReport,
};
