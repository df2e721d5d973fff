//! The logs write path: `POST /loki/api/v1/push` and `POST /otlp/v1/logs`.
//!
//! Like the metrics path, a push runs in two halves. The CPU half (decompress, decode,
//! validate, hash every stream onto the `ingester-logs` ring, build one request per ingester)
//! runs on the blocking pool (`logs_push/prepare.rs`). Then the tenant's byte rate limit is
//! applied, and the async half sends the requests in parallel and answers once every replica
//! set reached its quorum, or failed to. Answers follow Loki: 204 when all was written, 400
//! with the rejection messages when part of the push was refused and the rest written, 429
//! for the rate limit, 500 when a replica set missed its quorum. HTTP handling lives in
//! `logs_push/handlers.rs`, OTLP gRPC (`LogsService/Export`) in `logs_push/otlp_grpc.rs`.

mod handlers;
mod otlp_grpc;
mod prepare;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use sextant_kit::overrides::Overrides;
use sextant_kit::tenant::TenantResolver;
use sextant_model::limits::TenantLogsLimits;
use sextant_model::{ErrorKind, TenantId};
use sextant_proto::ingester::{LogsPushRequest, LogsPushResponse};
use sextant_proto::logproto::PushRequest;
use sextant_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;

use crate::config::DistributorConfig;
use crate::error::DistributorError;
use crate::instrumentation::{LogsDistributorMetrics, RATE_LIMITED};
use crate::limiter::RateLimiter;
use crate::metrics_push::RingSnapshot;
use crate::push_common::{
    now_ns, replicate, run_blocking, IngesterAnswer, Tally, QUORUM_FAILURE_ID,
};
use crate::replication::ReplicaPlan;
pub use otlp_grpc::DistributorOtlpLogsService;
use prepare::{prepare_blocking, PrepareContext, PreparedLogs};

/// Sends one logs push to the ingester at `addr` (tonic in production, in-memory in tests).
pub trait LogsIngesterClient: Send + Sync + 'static {
    fn push(
        &self,
        addr: &str,
        request: LogsPushRequest,
    ) -> BoxFuture<'static, Result<LogsPushResponse, tonic::Status>>;
}

/// One logs push as received.
#[derive(Debug, Clone)]
pub enum LogsPushInput {
    /// A `POST /loki/api/v1/push` body with its `Content-Type` and `Content-Encoding`.
    Loki {
        content_type: Option<String>,
        content_encoding: Option<String>,
        body: Bytes,
    },
    /// A `POST /otlp/v1/logs` body with its `Content-Type` and `Content-Encoding`.
    Otlp {
        content_type: Option<String>,
        content_encoding: Option<String>,
        body: Bytes,
    },
    /// An OTLP gRPC `LogsService/Export` request, already decoded.
    OtlpRequest(ExportLogsServiceRequest),
}

impl LogsPushInput {
    /// The push format, as the `format` label of the self-metrics names it.
    fn format(&self) -> &'static str {
        match self {
            LogsPushInput::Loki { .. } => "loki",
            LogsPushInput::Otlp { .. } | LogsPushInput::OtlpRequest(_) => "otlp",
        }
    }
}

/// Entries and line bytes of a push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogsPushOutcome {
    pub entries: u64,
    pub bytes: u64,
}

/// What a logs push wrote, and why it failed if it did: invalid streams and entries are
/// dropped and reported (Loki's partial accept) while the rest is written.
#[derive(Debug)]
pub struct LogsPushReport {
    pub written: LogsPushOutcome,
    pub error: Option<DistributorError>,
}

impl LogsPushReport {
    fn failed(error: DistributorError) -> Self {
        LogsPushReport {
            written: LogsPushOutcome::default(),
            error: Some(error),
        }
    }

    /// The HTTP status of the answer (204 when all was written).
    pub fn status(&self) -> u16 {
        self.error.as_ref().map_or(204, |e| e.kind.http_status())
    }
}

/// How many rejection messages a 400 answer lists, one per line.
const MAX_REJECTION_MESSAGES: usize = 10;

/// The distributor's logs write path.
pub struct LogsDistributor {
    config: DistributorConfig,
    tenants: TenantResolver,
    overrides: Overrides,
    ring: RingSnapshot,
    clients: Arc<dyn LogsIngesterClient>,
    limiter: RateLimiter,
    metrics: LogsDistributorMetrics,
}

impl LogsDistributor {
    /// `ring` reads the current `ingester-logs` ring.
    pub fn new(
        config: DistributorConfig,
        tenants: TenantResolver,
        overrides: Overrides,
        ring: RingSnapshot,
        clients: Arc<dyn LogsIngesterClient>,
        registry: &mut Registry,
    ) -> Self {
        LogsDistributor {
            config,
            tenants,
            overrides,
            ring,
            clients,
            limiter: RateLimiter::default(),
            metrics: LogsDistributorMetrics::new(registry),
        }
    }

    /// Validates, rate-limits and replicates one logs push of `tenant`.
    pub async fn push_logs(&self, tenant: &TenantId, input: LogsPushInput) -> LogsPushReport {
        let started = Instant::now();
        let format = input.format();
        let report = self.push_inner(tenant, input, format).await;
        self.metrics
            .push
            .observe_push(format, report.status(), started.elapsed());
        if let Some(e) = &report.error {
            tracing::debug!(tenant = %tenant, format, error = %e, "logs push refused");
        }
        report
    }

    async fn push_inner(
        &self,
        tenant: &TenantId,
        input: LogsPushInput,
        format: &'static str,
    ) -> LogsPushReport {
        let prepared = match self.prepare(tenant, input).await {
            Ok(prepared) => prepared,
            Err(e) => return LogsPushReport::failed(e),
        };
        for rejection in &prepared.rejections {
            self.metrics.count_discarded(
                rejection.reason.as_str(),
                rejection.entries as u64,
                rejection.bytes as u64,
            );
        }
        let limits = self.overrides.limits(tenant);
        if let Err(e) = self.check_rate(tenant, &limits.logs, prepared.accepted) {
            return LogsPushReport::failed(e);
        }
        let mut messages: Vec<String> = prepared
            .rejections
            .iter()
            .map(|r| r.message.clone())
            .collect();
        let accepted = prepared.accepted;
        let mut limited = false;
        if !prepared.plan.destinations.is_empty() {
            match self
                .replicate(tenant, prepared.plan, prepared.requests)
                .await
            {
                Ok(refused) => {
                    limited = refused.limited;
                    messages.extend(refused.messages);
                }
                Err(e) => return LogsPushReport::failed(e),
            }
            self.metrics
                .count_received(format, accepted.entries, accepted.bytes);
        }
        LogsPushReport {
            written: accepted,
            error: rejection_error(messages, limited),
        }
    }

    /// Runs the CPU half on the blocking pool.
    async fn prepare(
        &self,
        tenant: &TenantId,
        input: LogsPushInput,
    ) -> Result<PreparedLogs, DistributorError> {
        let limits = self.overrides.limits(tenant);
        let ring = (self.ring)();
        let max_decompressed = self.config.max_decompressed_size;
        let tenant = tenant.clone();
        run_blocking(move || {
            let cx = PrepareContext {
                tenant: &tenant,
                limits: &limits.logs,
                ring: &ring,
                max_decompressed,
                now_ns: now_ns(),
            };
            prepare_blocking(input, &cx)
        })
        .await
    }

    /// Loki's per-tenant byte rate limit, on the line bytes validation accepted.
    fn check_rate(
        &self,
        tenant: &TenantId,
        limits: &TenantLogsLimits,
        accepted: LogsPushOutcome,
    ) -> Result<(), DistributorError> {
        if accepted.entries == 0 {
            return Ok(());
        }
        let rate = limits.ingestion_rate_mb * MIB;
        let burst = (limits.ingestion_burst_size_mb * MIB).max(0.0) as u64;
        if self
            .limiter
            .allow(tenant, accepted.bytes, rate, burst, Instant::now())
        {
            return Ok(());
        }
        self.metrics
            .count_discarded(RATE_LIMITED, accepted.entries, accepted.bytes);
        Err(DistributorError::new(
            ErrorKind::TooManyRequests,
            format!(
                "Ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while \
                 attempting to ingest '{}' lines totaling '{}' bytes, reduce log volume or \
                 contact your Loki administrator to see if the limit can be increased",
                rate as u64, accepted.entries, accepted.bytes
            ),
        ))
    }

    /// Sends every request and waits until each replica set met its quorum or cannot anymore.
    /// Returns the rejection messages of the ingesters that answered.
    async fn replicate(
        &self,
        tenant: &TenantId,
        plan: ReplicaPlan,
        requests: Vec<PushRequest>,
    ) -> Result<Refused, DistributorError> {
        let requests = requests
            .into_iter()
            .map(|push| LogsPushRequest {
                tenant: tenant.to_string(),
                push: Some(push),
            })
            .collect();
        let sent = replicate(
            &plan,
            requests,
            self.config.remote_timeout,
            |addr, request| self.clients.push(addr, request),
            |tally: &mut Tally<Refused>, slot, addr, answer| {
                if tally.record(slot, addr, answer) {
                    self.metrics.push.count_ingester_failure();
                }
            },
        );
        sent.await.map_err(|missed| {
            self.metrics.push.count_quorum_failure();
            DistributorError::with_id(ErrorKind::Internal, QUORUM_FAILURE_ID, missed.message())
        })
    }
}

/// What the ingesters refused of a push that met its quorum.
#[derive(Debug, Default)]
struct Refused {
    /// Rejection messages of ingesters that took the push but refused part of it,
    /// deduplicated (replicas refuse the same entries).
    messages: Vec<String>,
    /// An ingester refused entries for a limit (429), e.g. the tenant's stream limit, rather
    /// than as bad data (400).
    limited: bool,
}

impl Refused {
    fn add(&mut self, messages: Vec<String>) {
        for message in messages {
            if !self.messages.contains(&message) {
                self.messages.push(message);
            }
        }
    }
}

/// Bytes in Loki's "MB" of `ingestion_rate_mb`.
const MIB: f64 = (1 << 20) as f64;

impl Tally<Refused> {
    /// Records the answer of `slot`; true when the send failed.
    fn record(
        &mut self,
        slot: usize,
        addr: &str,
        answer: IngesterAnswer<LogsPushResponse>,
    ) -> bool {
        let taken = match answer {
            Ok(response) => {
                let mut messages = response.rejections;
                if messages.is_empty() && response.entries_rejected > 0 {
                    messages.push(format!(
                        "ingester {addr} rejected {} entries",
                        response.entries_rejected
                    ));
                }
                self.answers.add(messages);
                Ok(())
            }
            Err((code, message)) => {
                let kind = sextant_kit::error::kind_from_grpc(code);
                if matches!(kind, ErrorKind::BadRequest | ErrorKind::TooManyRequests) {
                    // The ingester took what it could; the client must hear about the rest.
                    self.answers.limited |= kind == ErrorKind::TooManyRequests;
                    self.answers.add(vec![message]);
                    Ok(())
                } else {
                    Err(message)
                }
            }
        };
        self.settle(slot, addr, taken)
    }
}

/// Loki's partial-accept answer: a 400 listing the first rejection messages, one per line; 429
/// when an ingester refused entries for a limit (the tenant's stream limit), as Loki answers.
fn rejection_error(messages: Vec<String>, limited: bool) -> Option<DistributorError> {
    let mut unique: Vec<String> = Vec::new();
    for message in messages {
        if !unique.contains(&message) {
            unique.push(message);
        }
    }
    if unique.is_empty() {
        return None;
    }
    let more = unique.len().saturating_sub(MAX_REJECTION_MESSAGES);
    unique.truncate(MAX_REJECTION_MESSAGES);
    let mut text = unique.join("\n");
    if more > 0 {
        text.push_str(&format!("\n(and {more} more errors in this request)"));
    }
    let kind = match limited {
        true => ErrorKind::TooManyRequests,
        false => ErrorKind::BadRequest,
    };
    Some(DistributorError::new(kind, text))
}

#[cfg(test)]
mod tests;
