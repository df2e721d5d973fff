//! The traces side of an ingester: one `TracesTenantDb` (live traces, completed traces
//! awaiting a block, WAL) per tenant; push, trace by ID, TraceQL search and tags over gRPC
//! (`TracesIngester` in proto/sextant/ingester.proto).
//!
//! The WALs live under `<wal_dir>/traces/<tenant>/`, every tenant found there is replayed by
//! [`TracesIngester::replay_all`], a push is in the WAL before it is acknowledged (traces
//! refused by a limit are counted per limit in the reply), and queries read memory on the
//! blocking pool. `limits`: the per-tenant trace limits; `lifecycle`: replay, ring membership
//! and the fsync timer as a service; `shipper`: [`TracesShipper`] completes idle traces,
//! cuts blocks, uploads them to `traces/<tenant>/<block-id>/` and releases them;
//! `instrumentation`: the `sextant_ingester_traces_*` self-metrics.

mod instrumentation;
mod lifecycle;
mod limits;
mod read;
mod shipper;

pub use lifecycle::TracesIngesterService;
pub use limits::TracesIngesterLimits;
pub use shipper::{TracesShipper, TRACES_FLUSH_PATH};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Registry;
use sextant_model::TenantId;
use sextant_proto::ingester::traces_ingester_server::{self, TracesIngesterServer};
use sextant_proto::ingester::{
    TraceByIdRequest, TraceByIdResponse, TracesPushRequest, TracesPushResponse, TracesRejection,
    TracesSearchRequest, TracesSearchResponse, TracesSearchTagValuesRequest,
    TracesSearchTagValuesResponse, TracesSearchTagsRequest, TracesSearchTagsResponse,
};
use sextant_traces::db::{TracesDbConfig, TracesTenantDb};
use sextant_traces::model::TraceId;
use tonic::{Request, Response, Status};

use self::instrumentation::TracesIngestMetrics;
use crate::block_schedule::Clock;
use crate::config::IngesterTracesConfig;
use crate::metrics_ingester::parse_tenant;
use crate::tenant_heads::TenantHeads;

/// Every tenant's traces.
pub struct TracesIngester {
    /// The tenants' databases under `<wal_dir>/traces/<tenant>`.
    heads: TenantHeads<TracesTenantDb>,
    /// Settings of every tenant's database (its `dir` is replaced per tenant).
    template: TracesDbConfig,
    limits: TracesIngesterLimits,
    metrics: TracesIngestMetrics,
    /// The time of appends and of idle cuts (a seam for tests).
    clock: Clock,
}

impl TracesIngester {
    /// The traces under `<wal_dir>/traces`; nothing is read until [`Self::replay_all`].
    /// `sextant_ingester_traces_*` of the push path go to `registry`.
    pub fn new(
        wal_dir: &Path,
        config: &IngesterTracesConfig,
        limits: TracesIngesterLimits,
        registry: &mut Registry,
    ) -> Self {
        TracesIngester {
            heads: TenantHeads::new(wal_dir, "traces"),
            template: db_template(config),
            limits,
            metrics: TracesIngestMetrics::new(registry),
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Replaces the clock; only before the ingester is shared.
    #[cfg(test)]
    pub(crate) fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Now, in Unix milliseconds, by the ingester's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        let since = (self.clock)()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    }

    pub(crate) fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// Replays every tenant WAL found on disk; returns how many tenants were opened.
    pub async fn replay_all(&self) -> Result<usize, Status> {
        let tenants = self.heads.tenants_on_disk().await?;
        for tenant in &tenants {
            self.open_tenant(tenant).await?;
        }
        self.refresh_live_traces();
        Ok(tenants.len())
    }

    /// A tenant's database, opened (and replayed) on first use.
    async fn open_tenant(&self, tenant: &TenantId) -> Result<Arc<TracesTenantDb>, Status> {
        if let Some(db) = self.heads.get(tenant) {
            return Ok(db);
        }
        let template = self.template.clone();
        let db = self
            .heads
            .open(tenant, move |dir| {
                // the database logs what its replay restored
                TracesTenantDb::open(TracesDbConfig { dir, ..template }).map(|(db, _)| db)
            })
            .await?;
        tracing::info!(%tenant, live_traces = db.live_traces(), "opened tenant traces");
        Ok(db)
    }

    fn tenant(&self, tenant: &TenantId) -> Option<Arc<TracesTenantDb>> {
        self.heads.get(tenant)
    }

    /// Every open tenant's database.
    pub(crate) fn tenant_dbs(&self) -> Vec<(TenantId, Arc<TracesTenantDb>)> {
        self.heads.all()
    }

    /// Sets the live traces gauge from every tenant's count.
    pub(crate) fn refresh_live_traces(&self) {
        let live = self
            .heads
            .all()
            .iter()
            .map(|(_, db)| db.live_traces())
            .sum();
        self.metrics.set_live_traces(live);
    }

    /// Appends the pushed traces; they are in the WAL when this returns `Ok`. Traces refused
    /// by a limit are counted per limit in the reply; the rest are kept.
    pub async fn push(&self, request: TracesPushRequest) -> Result<TracesPushResponse, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        let traces = pushed_traces(request)?;
        if traces.is_empty() {
            return Ok(TracesPushResponse::default());
        }
        let db = self.open_tenant(&tenant).await?;
        let limits = self.limits.local(&tenant);
        let now_ms = self.now_ms();
        let report = tokio::task::spawn_blocking(move || db.append(&traces, limits, now_ms))
            .await
            .map_err(|e| Status::internal(format!("append task failed: {e}")))?
            .map_err(|e| Status::internal(format!("cannot append traces: {e}")))?;
        self.metrics
            .observe_written(report.spans_written, report.bytes_written);
        for r in &report.rejections {
            self.metrics.count_refused(r.reason.limit(), r.traces);
        }
        self.refresh_live_traces();
        Ok(TracesPushResponse {
            traces_written: report.traces_written,
            spans_written: report.spans_written,
            rejections: report
                .rejections
                .into_iter()
                .map(|r| TracesRejection {
                    limit: r.reason.limit().to_owned(),
                    traces: r.traces,
                    spans: r.spans,
                    message: r.message,
                })
                .collect(),
        })
    }

    /// Fsyncs every tenant's WAL (on shutdown, and on a timer).
    pub async fn sync_all(&self) {
        self.heads.sync_all(TracesTenantDb::sync).await;
    }

    /// The gRPC service over this ingester.
    pub fn grpc_service(self: &Arc<Self>) -> TracesIngesterServer<TracesGrpc> {
        TracesIngesterServer::new(TracesGrpc(self.clone()))
    }
}

/// The settings of every tenant's traces database (its directory is set per tenant).
fn db_template(config: &IngesterTracesConfig) -> TracesDbConfig {
    TracesDbConfig {
        dir: PathBuf::new(),
        wal_segment_size: config.wal_segment_size,
        trace_idle: config.trace_idle_period,
        max_trace_live: config.max_trace_live,
    }
}

/// The (ID, encoded `TracesData`) pairs of a push; IDs that are not 16 bytes or lists of
/// different lengths are a malformed request.
fn pushed_traces(request: TracesPushRequest) -> Result<Vec<(TraceId, bytes::Bytes)>, Status> {
    if request.trace_ids.len() != request.traces.len() {
        return Err(Status::invalid_argument(format!(
            "{} trace IDs for {} traces",
            request.trace_ids.len(),
            request.traces.len()
        )));
    }
    request
        .trace_ids
        .iter()
        .zip(request.traces)
        .map(|(id, trace)| match TraceId::from_bytes(id) {
            Some(id) => Ok((id, bytes::Bytes::from(trace))),
            None => Err(Status::invalid_argument(format!(
                "a trace ID must be 16 bytes, got {}",
                id.len()
            ))),
        })
        .collect()
}

/// The gRPC face of a [`TracesIngester`].
pub struct TracesGrpc(Arc<TracesIngester>);

#[tonic::async_trait]
impl traces_ingester_server::TracesIngester for TracesGrpc {
    async fn push(
        &self,
        request: Request<TracesPushRequest>,
    ) -> Result<Response<TracesPushResponse>, Status> {
        self.0.push(request.into_inner()).await.map(Response::new)
    }

    async fn find_trace_by_id(
        &self,
        request: Request<TraceByIdRequest>,
    ) -> Result<Response<TraceByIdResponse>, Status> {
        self.0
            .find_trace_by_id(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn search(
        &self,
        request: Request<TracesSearchRequest>,
    ) -> Result<Response<TracesSearchResponse>, Status> {
        self.0.search(request.into_inner()).await.map(Response::new)
    }

    async fn search_tags(
        &self,
        request: Request<TracesSearchTagsRequest>,
    ) -> Result<Response<TracesSearchTagsResponse>, Status> {
        self.0
            .search_tags(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn search_tag_values(
        &self,
        request: Request<TracesSearchTagValuesRequest>,
    ) -> Result<Response<TracesSearchTagValuesResponse>, Status> {
        self.0
            .search_tag_values(request.into_inner())
            .await
            .map(Response::new)
    }
}

#[cfg(test)]
mod tests;
