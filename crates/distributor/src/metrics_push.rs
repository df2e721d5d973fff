//! The metrics write path: `POST /api/v1/push`.
//!
//! A push runs in two halves. The CPU half (decompress, decode, validate, rate-limit, hash
//! onto the ring, encode one remote-write 1.0 body per ingester) runs on the blocking pool.
//! The async half sends the bodies to the ingesters in parallel and answers as soon as every
//! replica set reached its quorum, or failed to.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use sextant_kit::error::ApiError;
use sextant_kit::overrides::Overrides;
use sextant_kit::tenant::TenantResolver;
use sextant_metrics::remote_write::{self, Protocol};
use sextant_metrics::validation::{validate_batch, ValidationReport};
use sextant_metrics::write::{LabelRef, WriteBatch};
use sextant_model::{ErrorKind, TenantId, TenantLimits};
use sextant_proto::ingester::{MetricsPushRequest, MetricsPushResponse};
use sextant_ring::TokenRing;
use xxhash_rust::xxh3::xxh3_64;

use crate::config::DistributorConfig;
use crate::error::DistributorError;
use crate::http_push::read_body;
use crate::instrumentation::DistributorMetrics;
use crate::limiter::RateLimiter;
use crate::push_common::{now_ms, replicate, run_blocking, IngesterAnswer, Tally};
use crate::replication::ReplicaPlan;

/// Sends one push to the ingester at `addr`. Production uses pooled tonic clients; tests use
/// in-memory ingesters.
pub trait IngesterClientFactory: Send + Sync + 'static {
    fn push(
        &self,
        addr: &str,
        request: MetricsPushRequest,
    ) -> BoxFuture<'static, Result<MetricsPushResponse, tonic::Status>>;
}

/// Where the distributor reads the current `ingester-metrics` ring from.
pub type RingSnapshot = Arc<dyn Fn() -> Arc<TokenRing> + Send + Sync>;

/// What a successful push wrote (after validation and replication).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushOutcome {
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
}

/// What a push wrote, and why it failed if it did: a push can fail after writing part of it
/// (invalid series are dropped, the valid ones written), and remote write 2.0 reports both.
#[derive(Debug)]
pub struct PushReport {
    pub written: PushOutcome,
    pub error: Option<DistributorError>,
}

impl PushReport {
    fn failed(error: DistributorError) -> Self {
        PushReport {
            written: PushOutcome::default(),
            error: Some(error),
        }
    }
}

/// The distributor's metrics write path.
pub struct Distributor {
    config: DistributorConfig,
    tenants: TenantResolver,
    overrides: Overrides,
    ring: RingSnapshot,
    clients: Arc<dyn IngesterClientFactory>,
    limiter: RateLimiter,
    metrics: DistributorMetrics,
}

/// The CPU half's result: one encoded body per destination.
struct Prepared {
    plan: ReplicaPlan,
    bodies: Vec<Vec<u8>>,
    outcome: PushOutcome,
    report: ValidationReport,
}

impl Distributor {
    pub fn new(
        config: DistributorConfig,
        tenants: TenantResolver,
        overrides: Overrides,
        ring: RingSnapshot,
        clients: Arc<dyn IngesterClientFactory>,
        registry: &mut Registry,
    ) -> Self {
        Distributor {
            config,
            tenants,
            overrides,
            ring,
            clients,
            limiter: RateLimiter::default(),
            metrics: DistributorMetrics::new(registry),
        }
    }

    /// `POST /api/v1/push`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/api/v1/push", post(push_handler))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(self)
    }

    /// Validates, rate-limits and replicates one remote-write body (still compressed).
    pub async fn push_metrics(
        &self,
        tenant: &TenantId,
        protocol: Protocol,
        body: Bytes,
    ) -> PushReport {
        let started = Instant::now();
        let report = self.push_inner(tenant, protocol, body).await;
        self.metrics
            .observe_push(protocol, &report, started.elapsed());
        report
    }

    async fn push_inner(&self, tenant: &TenantId, protocol: Protocol, body: Bytes) -> PushReport {
        let prepared = match self.prepare(tenant, protocol, body).await {
            Ok(prepared) => prepared,
            Err(e) => return PushReport::failed(e),
        };
        let validation_error = first_validation_error(&prepared.report);
        if prepared.plan.destinations.is_empty() {
            return PushReport {
                written: PushOutcome::default(),
                error: validation_error,
            };
        }
        if let Err(e) = self.replicate(tenant, prepared.plan, prepared.bodies).await {
            return PushReport::failed(e);
        }
        self.metrics.count_received(&prepared.outcome);
        // Mimir's rule: the valid part is written, the client hears about the invalid part.
        PushReport {
            written: prepared.outcome,
            error: validation_error,
        }
    }

    /// Runs the CPU half on the blocking pool.
    async fn prepare(
        &self,
        tenant: &TenantId,
        protocol: Protocol,
        body: Bytes,
    ) -> Result<Prepared, DistributorError> {
        let limits = self.overrides.limits(tenant);
        let ring = (self.ring)();
        let max = self.config.max_decompressed_size;
        let now_ms = now_ms();
        let tenant_for_hash = tenant.clone();
        let prepared = run_blocking(move || {
            prepare_blocking(
                &body,
                protocol,
                max,
                &limits,
                &ring,
                &tenant_for_hash,
                now_ms,
            )
        })
        .await?;
        self.metrics.count_discarded(&prepared.report);
        let limits = self.overrides.limits(tenant);
        let items =
            prepared.outcome.samples + prepared.outcome.histograms + prepared.outcome.exemplars;
        if !self.limiter.allow(
            tenant,
            items,
            limits.ingestion_rate,
            limits.ingestion_burst_size,
            Instant::now(),
        ) {
            self.metrics.count_rate_limited(items);
            return Err(rate_limited(&limits));
        }
        Ok(prepared)
    }

    /// Sends every body and waits until each replica set met its quorum or cannot anymore.
    async fn replicate(
        &self,
        tenant: &TenantId,
        plan: ReplicaPlan,
        bodies: Vec<Vec<u8>>,
    ) -> Result<(), DistributorError> {
        let requests = bodies
            .into_iter()
            .map(|body| MetricsPushRequest {
                tenant: tenant.to_string(),
                write_request: body,
            })
            .collect();
        // The answers collect the first refusal the client must hear about.
        let sent = replicate(
            &plan,
            requests,
            self.config.remote_timeout,
            |addr, request| self.clients.push(addr, request),
            |tally: &mut Tally<Option<DistributorError>>, slot, addr, answer| {
                if record(tally, slot, addr, answer) {
                    self.metrics.count_ingester_failure();
                }
            },
        );
        match sent.await {
            Ok(None) => Ok(()),
            Ok(Some(refused)) => Err(refused),
            Err(missed) => {
                self.metrics.count_quorum_failure();
                // Too few replicas took the write: retryable, whatever else was refused.
                let refused = missed
                    .answers
                    .as_ref()
                    .map(|e| format!("; an ingester also refused part of it: {}", e.message))
                    .unwrap_or_default();
                Err(DistributorError::new(
                    ErrorKind::Unavailable,
                    format!("{}{refused}", missed.message()),
                ))
            }
        }
    }
}

/// Records the answer of `slot`; true when the send failed. An ingester that refused part of
/// the push for a reason the client must hear about took what it could: delivery succeeded.
fn record(
    tally: &mut Tally<Option<DistributorError>>,
    slot: usize,
    addr: &str,
    answer: IngesterAnswer<MetricsPushResponse>,
) -> bool {
    let taken = match answer {
        Ok(_) => Ok(()),
        Err((code, message)) => {
            let kind = sextant_kit::error::kind_from_grpc(code);
            if is_client_error(kind) {
                tally
                    .answers
                    .get_or_insert_with(|| DistributorError::new(kind, message));
                Ok(())
            } else {
                Err(message)
            }
        }
    };
    tally.settle(slot, addr, taken)
}

fn is_client_error(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::BadRequest | ErrorKind::TooManyRequests)
}

fn first_validation_error(report: &ValidationReport) -> Option<DistributorError> {
    report.first_errors.first().map(|e| {
        let more = report.first_errors.len().saturating_sub(1);
        let message = if more > 0 {
            format!(
                "{} (and {more} more validation errors in this request)",
                e.message
            )
        } else {
            e.message.clone()
        };
        DistributorError::with_id(e.reason.kind(), e.reason.id(), message)
    })
}

fn rate_limited(limits: &TenantLimits) -> DistributorError {
    DistributorError::with_id(
        ErrorKind::TooManyRequests,
        "err-sextant-tenant-max-ingestion-rate",
        format!(
            "the request has been rejected because the tenant exceeded the ingestion rate limit \
             (ingestion_rate), set to {} items/s with a maximum allowed burst of {} \
             (ingestion_burst_size) (err-sextant-tenant-max-ingestion-rate). To adjust the \
             related per-tenant limits, set ingestion_rate and ingestion_burst_size in the \
             runtime overrides file.",
            limits.ingestion_rate, limits.ingestion_burst_size
        ),
    )
}

/// Decode, validate, route and encode: everything CPU-bound about a push.
fn prepare_blocking(
    body: &[u8],
    protocol: Protocol,
    max_decompressed: usize,
    limits: &TenantLimits,
    ring: &TokenRing,
    tenant: &TenantId,
    now_ms: i64,
) -> Result<Prepared, DistributorError> {
    let raw = remote_write::decompress(body, max_decompressed).map_err(decode_error)?;
    let mut batch = WriteBatch::default();
    match protocol {
        Protocol::V1 => remote_write::decode_v1(&raw, &mut batch),
        Protocol::V2 => remote_write::decode_v2(&raw, &mut batch),
    }
    .map_err(decode_error)?;
    let report = validate_batch(&mut batch, limits, now_ms);
    let outcome = PushOutcome {
        samples: batch.samples.len() as u64,
        histograms: batch.histograms.len() as u64,
        exemplars: batch.exemplars.len() as u64,
    };
    let tokens =
        (batch.series.iter()).map(|series| shard_token(tenant, batch.series_labels(series)));
    let plan = ReplicaPlan::route(ring, now_ms, tokens)?;
    let bodies = encode_bodies(&batch, &raw, &plan);
    Ok(Prepared {
        plan,
        bodies,
        outcome,
        report,
    })
}

fn decode_error(e: remote_write::RemoteWriteError) -> DistributorError {
    DistributorError::new(e.kind, e.message)
}

fn encode_bodies(batch: &WriteBatch<'_>, raw: &[u8], plan: &ReplicaPlan) -> Vec<Vec<u8>> {
    plan.destinations
        .iter()
        .map(|dest| {
            let mut out = Vec::with_capacity(dest.series.len() * 256);
            for &i in &dest.series {
                remote_write::encode_series_v1(
                    batch,
                    &batch.series[i as usize],
                    Some(raw),
                    &mut out,
                );
            }
            out
        })
        .collect()
}

/// The ring token of a series: xxh3 of the tenant and the sorted label pairs, hashed in one
/// call over a reused buffer (cheaper than feeding a streaming hasher 2 strings per label).
pub fn shard_token(tenant: &TenantId, labels: &[LabelRef<'_>]) -> u32 {
    thread_local! {
        static KEY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    KEY.with(|key| {
        let mut key = key.borrow_mut();
        key.clear();
        key.extend_from_slice(tenant.as_str().as_bytes());
        for label in labels {
            key.push(0xff);
            key.extend_from_slice(label.name.as_bytes());
            key.push(0xfe);
            key.extend_from_slice(label.value.as_bytes());
        }
        let v = xxh3_64(&key);
        (v ^ (v >> 32)) as u32
    })
}

async fn push_handler(
    State(distributor): State<Arc<Distributor>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle_push(&distributor, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn handle_push(
    distributor: &Distributor,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let tenant = distributor.tenants.resolve(headers)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let protocol = remote_write::negotiate(header("content-type"), header("content-encoding"))
        .map_err(|e| ApiError {
            kind: e.kind,
            id: None,
            message: e.message,
        })?;
    let body = read_body(body, distributor.config.max_recv_msg_size).await?;
    let report = distributor.push_metrics(&tenant, protocol, body).await;
    Ok(push_response(protocol, report))
}

fn push_response(protocol: Protocol, report: PushReport) -> Response {
    let written = report.written;
    let mut response = match report.error {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(e) => ApiError::from(e).into_response(),
    };
    if protocol == Protocol::V2 {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-prometheus-remote-write-samples-written", written.samples),
            (
                "x-prometheus-remote-write-histograms-written",
                written.histograms,
            ),
            (
                "x-prometheus-remote-write-exemplars-written",
                written.exemplars,
            ),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
    response
}

#[cfg(test)]
mod tests;
