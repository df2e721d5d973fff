//! The traces write path: `POST /v1/traces`, `POST /otlp/v1/traces` (OTLP/HTTP) and OTLP gRPC
//! `TraceService/Export`.
//!
//! Like the logs path, a push runs in two halves. The CPU half (decompress, decode, validate
//! with partial accept, hash every trace ID onto the `ingester-traces` ring, encode each trace
//! once, build one request per ingester) runs on the blocking pool (`traces_push/prepare.rs`).
//! Then the tenant's byte rate limit (`limits.traces.ingestion_rate_limit_bytes`) is applied,
//! and the async half (`traces_push/replicate.rs`) sends the requests in parallel and answers
//! once every replica set reached its quorum (RF/2+1), or failed to.
//!
//! Answers (the OTLP specification's, with Tempo's messages):
//! - all written: 200 with an empty `ExportTraceServiceResponse` (gRPC OK);
//! - invalid spans dropped, the rest written: 200 with `partial_success` (rejected spans and
//!   the messages naming the field); the same for traces ingesters refused for
//!   `max_bytes_per_trace` (retrying cannot make a trace smaller);
//! - nothing valid in the request: 400 / `InvalidArgument`, naming the field;
//! - the rate limit, or ingesters refusing traces for `max_traces_per_user` (the tenant's live
//!   traces, which clear as traces are cut): 429 / `ResourceExhausted` naming the limit;
//! - a replica set missed its quorum: 503 / `Unavailable`, so that exporters retry.
//!
//! HTTP handling lives in `traces_push/handlers.rs`, OTLP gRPC in `traces_push/otlp_grpc.rs`,
//! self-metrics in `traces_push/instrumentation.rs`.

mod answer;
mod handlers;
mod instrumentation;
mod otlp_grpc;
mod prepare;
mod replicate;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use sextant_kit::overrides::Overrides;
use sextant_kit::tenant::TenantResolver;
use sextant_model::limits::TenantTracesLimits;
use sextant_model::{ErrorKind, TenantId};
use sextant_proto::ingester::{TracesPushRequest, TracesPushResponse};
use sextant_proto::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest,
};

use crate::config::DistributorConfig;
use crate::error::DistributorError;
use crate::limiter::RateLimiter;
use crate::metrics_push::RingSnapshot;
use crate::push_common::{now_ms, run_blocking};
use answer::{answer, nothing_valid, RefusedSpans};
use instrumentation::{TracesDistributorMetrics, RATE_LIMITED};
pub use otlp_grpc::DistributorOtlpTracesService;
use prepare::{prepare_blocking, PrepareContext, PreparedTraces};

/// Sends one traces push to the ingester at `addr` (tonic in production, in-memory in tests).
pub trait TracesIngesterClient: Send + Sync + 'static {
    fn push(
        &self,
        addr: &str,
        request: TracesPushRequest,
    ) -> BoxFuture<'static, Result<TracesPushResponse, tonic::Status>>;
}

/// One traces push as received.
#[derive(Debug, Clone)]
pub enum TracesPushInput {
    /// A `POST /v1/traces` (or `/otlp/v1/traces`) body with its `Content-Type` and
    /// `Content-Encoding`.
    Otlp {
        content_type: Option<String>,
        content_encoding: Option<String>,
        body: Bytes,
    },
    /// An OTLP gRPC `TraceService/Export` request, already decoded.
    OtlpRequest(ExportTraceServiceRequest),
}

impl TracesPushInput {
    /// The `transport` label of the self-metrics.
    fn transport(&self) -> &'static str {
        match self {
            TracesPushInput::Otlp { .. } => "otlp_http",
            TracesPushInput::OtlpRequest(_) => "otlp_grpc",
        }
    }
}

/// Traces, spans and span bytes (OTLP protobuf) of a push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TracesPushOutcome {
    pub traces: u64,
    pub spans: u64,
    pub bytes: u64,
}

/// What a traces push wrote, what it dropped while writing the rest, and why it failed if it
/// did. When ingesters refused some traces, `written` is an estimate (they report counts, not
/// which traces).
#[derive(Debug, Default)]
pub struct TracesPushReport {
    pub written: TracesPushOutcome,
    /// OTLP's `partial_success`: spans refused while the rest was written.
    pub partial_success: Option<ExportTracePartialSuccess>,
    pub error: Option<DistributorError>,
}

impl TracesPushReport {
    fn failed(error: DistributorError) -> Self {
        TracesPushReport {
            error: Some(error),
            ..TracesPushReport::default()
        }
    }

    /// The HTTP status of the answer (200 unless it failed).
    pub fn status(&self) -> u16 {
        self.error.as_ref().map_or(200, |e| e.kind.http_status())
    }
}

/// The distributor's traces write path.
pub struct TracesDistributor {
    config: DistributorConfig,
    tenants: TenantResolver,
    overrides: Overrides,
    ring: RingSnapshot,
    clients: Arc<dyn TracesIngesterClient>,
    limiter: RateLimiter,
    metrics: TracesDistributorMetrics,
}

impl TracesDistributor {
    /// `ring` reads the current `ingester-traces` ring; its replication config gives the RF.
    pub fn new(
        config: DistributorConfig,
        tenants: TenantResolver,
        overrides: Overrides,
        ring: RingSnapshot,
        clients: Arc<dyn TracesIngesterClient>,
        registry: &mut Registry,
    ) -> Self {
        TracesDistributor {
            config,
            tenants,
            overrides,
            ring,
            clients,
            limiter: RateLimiter::default(),
            metrics: TracesDistributorMetrics::new(registry),
        }
    }

    /// Validates, rate-limits and replicates one traces push of `tenant`.
    pub async fn push_traces(&self, tenant: &TenantId, input: TracesPushInput) -> TracesPushReport {
        let started = Instant::now();
        let transport = input.transport();
        let report = self.push_inner(tenant, input, transport).await;
        self.metrics
            .push
            .observe_push(transport, report.status(), started.elapsed());
        if let Some(e) = &report.error {
            tracing::debug!(tenant = %tenant, transport, error = %e, "traces push refused");
        }
        report
    }

    async fn push_inner(
        &self,
        tenant: &TenantId,
        input: TracesPushInput,
        transport: &'static str,
    ) -> TracesPushReport {
        let prepared = match self.prepare(tenant, input).await {
            Ok(prepared) => prepared,
            Err(e) => return TracesPushReport::failed(e),
        };
        let validated = &prepared.validated;
        for rejection in &validated.rejections {
            self.metrics
                .count_discarded(rejection.reason.as_str(), rejection.spans);
        }
        self.metrics.count_truncated(validated.truncated_attributes);
        if prepared.accepted.spans == 0 {
            return nothing_valid(validated);
        }
        let limits = self.overrides.limits(tenant);
        if let Err(e) = self.check_rate(tenant, &limits.traces, prepared.accepted) {
            return TracesPushReport::failed(e);
        }
        let PreparedTraces {
            plan,
            requests,
            spans_per_request,
            accepted,
            validated,
        } = prepared;
        let answers = match self.replicate(&plan, requests, &spans_per_request).await {
            Ok(answers) => answers,
            Err(e) => return TracesPushReport::failed(e),
        };
        let refusals = answers.refusals;
        let refused = RefusedSpans::estimate(&refusals, accepted.spans, answers.answered_spans);
        for (refusal, spans) in refusals.iter().zip(&refused.per_refusal) {
            self.metrics.count_discarded(refusal.reason, *spans);
        }
        let written = refused.written(accepted);
        self.metrics
            .count_received(transport, written.spans, written.bytes);
        answer(written, &validated, &refusals, &refused)
    }

    /// Runs the CPU half on the blocking pool.
    async fn prepare(
        &self,
        tenant: &TenantId,
        input: TracesPushInput,
    ) -> Result<PreparedTraces, DistributorError> {
        let limits = self.overrides.limits(tenant);
        let ring = (self.ring)();
        let max_decompressed = self.config.max_decompressed_size;
        let tenant = tenant.clone();
        run_blocking(move || {
            let cx = PrepareContext {
                tenant: &tenant,
                limits: &limits.traces,
                ring: &ring,
                max_decompressed,
                now_ms: now_ms(),
            };
            prepare_blocking(input, &cx)
        })
        .await
    }

    /// Tempo's per-tenant byte rate limit, on the encoded size of the spans validation
    /// accepted.
    fn check_rate(
        &self,
        tenant: &TenantId,
        limits: &TenantTracesLimits,
        accepted: TracesPushOutcome,
    ) -> Result<(), DistributorError> {
        let rate = limits.ingestion_rate_limit_bytes;
        let burst = limits.ingestion_burst_size_bytes;
        if self
            .limiter
            .allow(tenant, accepted.bytes, rate as f64, burst, Instant::now())
        {
            return Ok(());
        }
        self.metrics.count_discarded(RATE_LIMITED, accepted.spans);
        Err(DistributorError::new(
            ErrorKind::TooManyRequests,
            format!(
                "RATE_LIMITED: ingestion rate limit ({rate} bytes) exceeded while adding {} \
                 bytes for user {tenant}; reduce the span volume or raise the tenant's \
                 limits.traces.ingestion_rate_limit_bytes (burst: {burst} bytes, \
                 limits.traces.ingestion_burst_size_bytes)",
                accepted.bytes
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
