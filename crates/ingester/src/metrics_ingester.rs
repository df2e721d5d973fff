//! The metrics ingester: one `TenantDb` (head + WAL) per tenant, push and query over gRPC.
//!
//! Start: replay every tenant's WAL, then join the `ingester-metrics` ring, then report ready.
//! Stop (SIGTERM or `POST /ingester/shutdown`): leave the ring so writes go elsewhere, then
//! fsync every WAL.
//!
//! - `read`: label names and values, series and metadata of recent data.
//! - `shipper`: cutting blocks, uploading them, truncating head and WAL; `/ingester/flush`.
//! - `convert`: engine results to wire messages.

mod convert;
mod read;
mod shipper;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use futures::future::BoxFuture;
use futures::Stream;
use object_store::ObjectStore;
use parking_lot::RwLock;
use prometheus_client::registry::Registry;
use sextant_kit::http::ReadyFlag;
use sextant_kit::overrides::Overrides;
use sextant_kit::service::{BoxError, Service};
use sextant_metrics::db::{AppendOptions, AppendOutcome, TenantDb, TenantDbConfig};
use sextant_metrics::remote_write;
use sextant_metrics::write::WriteBatch;
use sextant_model::{TenantId, TenantLimits, TimeRange};
use sextant_proto::ingester::metrics_ingester_server::{self, MetricsIngesterServer};
use sextant_proto::ingester::{
    MetricsLabelsRequest, MetricsLabelsResponse, MetricsMetadataRequest, MetricsMetadataResponse,
    MetricsPushRequest, MetricsPushResponse, MetricsQueryRequest, MetricsQueryResponse,
    MetricsSeriesRequest, MetricsSeriesResponse,
};
use sextant_proto::prometheus as wire;
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::block_upload::{flush_router, source_ingester};
use crate::config::IngesterConfig;
use crate::instrumentation::IngesterMetrics;
use crate::timer::spawn_every;
pub(crate) use read::{parse_matchers, parse_tenant};

/// What the ingester needs of its ring membership (the lifecycler), so it can be tested
/// without gossip.
pub trait RingMembership: Send + Sync + 'static {
    /// Registers the instance (JOINING, then ACTIVE) and starts heartbeating.
    fn join(&self) -> BoxFuture<'_, Result<(), BoxError>>;
    /// Marks the instance LEAVING and removes it from the ring.
    fn leave(&self) -> BoxFuture<'_, Result<(), BoxError>>;
    /// Healthy ingesters in the ring, to turn global per-tenant limits into local ones.
    fn healthy_instances(&self) -> usize;
}

/// Series per streamed query batch.
const QUERY_BATCH_SERIES: usize = 128;

/// The metrics side of an ingester.
pub struct MetricsIngester {
    config: IngesterConfig,
    overrides: Overrides,
    ring: Arc<dyn RingMembership>,
    /// Where cut blocks are uploaded.
    store: Arc<dyn ObjectStore>,
    /// Written into each block's meta as its source.
    instance_id: String,
    tenants: RwLock<HashMap<TenantId, Arc<TenantDb>>>,
    metrics: IngesterMetrics,
    ready: ReadyFlag,
    /// Cancelled to ask the whole process to shut down (after `/ingester/shutdown`).
    process_shutdown: CancellationToken,
    background: CancellationToken,
    /// Whether the ingester has left the ring (stop is idempotent).
    left: AsyncMutex<bool>,
    /// Held while a tenant's database is opened, so two first pushes of a tenant never open
    /// (and write) the same WAL twice.
    opening: AsyncMutex<()>,
    /// Held by a shipping pass (timer or flush), so blocks are cut one pass at a time; holds
    /// the shipped ranges the heads still keep.
    shipping: AsyncMutex<shipper::ShipState>,
    /// When uploads finished, for `retain_after_upload`.
    clock: crate::block_schedule::Clock,
}

impl MetricsIngester {
    pub fn new(
        config: IngesterConfig,
        overrides: Overrides,
        ring: Arc<dyn RingMembership>,
        store: Arc<dyn ObjectStore>,
        ready: ReadyFlag,
        process_shutdown: CancellationToken,
        registry: &mut Registry,
    ) -> Arc<Self> {
        ready.set_not_ready("metrics ingester is replaying its WAL");
        let instance_id = source_ingester(&config.lifecycler.instance_id);
        Arc::new(MetricsIngester {
            config,
            overrides,
            ring,
            store,
            instance_id,
            tenants: RwLock::new(HashMap::new()),
            metrics: IngesterMetrics::new(registry),
            ready,
            process_shutdown,
            background: CancellationToken::new(),
            left: AsyncMutex::new(false),
            opening: AsyncMutex::new(()),
            shipping: AsyncMutex::new(shipper::ShipState::default()),
            clock: Arc::new(SystemTime::now),
        })
    }

    /// Replaces the shipper's clock; only before the ingester is shared.
    #[cfg(test)]
    pub(crate) fn with_clock(
        mut self: Arc<Self>,
        clock: crate::block_schedule::Clock,
    ) -> Arc<Self> {
        match Arc::get_mut(&mut self) {
            Some(this) => this.clock = clock,
            None => panic!("with_clock on a shared ingester"),
        }
        self
    }

    /// The gRPC service (`sextant.ingester.v1.MetricsIngester`).
    pub fn grpc_service(self: &Arc<Self>) -> MetricsIngesterServer<GrpcHandler> {
        MetricsIngesterServer::new(GrpcHandler(self.clone()))
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20)
    }

    /// `POST /ingester/shutdown`: leave the ring, flush the WAL, then stop the process.
    /// `POST /ingester/flush`: cut and upload everything in the heads now; 204 when done.
    pub fn router(self: &Arc<Self>) -> Router {
        let this = self.clone();
        Router::new()
            .route(
                "/ingester/shutdown",
                post(move || async move {
                    match this.leave_and_flush().await {
                        Ok(()) => {
                            this.process_shutdown.cancel();
                            StatusCode::NO_CONTENT.into_response()
                        }
                        Err(e) => {
                            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
                        }
                    }
                }),
            )
            .merge(flush_router(self, &["/ingester/flush"]))
    }

    fn metrics_wal_dir(&self) -> PathBuf {
        Path::new(&self.config.wal_dir).join("metrics")
    }

    fn db_config(&self, tenant: &TenantId) -> TenantDbConfig {
        TenantDbConfig {
            dir: self.metrics_wal_dir().join(tenant.as_str()),
            wal_segment_size: self.config.metrics.wal_segment_size,
            ..TenantDbConfig::default()
        }
    }

    /// Replays every tenant's WAL found on disk.
    async fn replay_all(&self) -> Result<(), BoxError> {
        let started = Instant::now();
        let root = self.metrics_wal_dir();
        std::fs::create_dir_all(&root)
            .map_err(|e| format!("cannot create WAL directory {}: {e}", root.display()))?;
        for entry in std::fs::read_dir(&root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(tenant) = TenantId::parse(&name) else {
                tracing::warn!(dir = %entry.path().display(), "skipping WAL directory that is not a tenant id");
                continue;
            };
            self.open_tenant(&tenant).await?;
        }
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.set_replay_seconds(seconds);
        tracing::info!(
            signal = "metrics",
            tenants = self.tenants.read().len(),
            seconds,
            "wal replay finished"
        );
        Ok(())
    }

    /// Opens (replaying) a tenant's database, or returns the open one.
    async fn open_tenant(&self, tenant: &TenantId) -> Result<Arc<TenantDb>, Status> {
        if let Some(db) = self.tenants.read().get(tenant) {
            return Ok(db.clone());
        }
        let _opening = self.opening.lock().await;
        if let Some(db) = self.tenants.read().get(tenant) {
            return Ok(db.clone());
        }
        let config = self.db_config(tenant);
        let (db, stats) = tokio::task::spawn_blocking(move || TenantDb::open(config))
            .await
            .map_err(|e| Status::internal(format!("open task failed: {e}")))?
            .map_err(|e| Status::internal(format!("cannot open the tenant's WAL: {e}")))?;
        let db = Arc::new(db);
        let mut tenants = self.tenants.write();
        tenants.insert(tenant.clone(), db.clone());
        if stats.series > 0 || stats.samples > 0 {
            tracing::info!(tenant = %tenant, series = stats.series, samples = stats.samples,
                corrupt = stats.corrupt_records, ms = stats.duration.as_millis() as u64, "replayed tenant wal");
        }
        self.metrics.observe_replay(&stats, db.series_count());
        self.metrics.set_tenants(tenants.len());
        Ok(db)
    }

    fn append_options(&self, limits: &TenantLimits) -> AppendOptions {
        AppendOptions {
            max_series: local_series_limit(
                limits.max_global_series_per_user,
                self.config.metrics.replication_factor,
                self.ring.healthy_instances(),
            ),
            max_exemplars: limits.max_exemplars_per_user,
            max_native_histogram_buckets: limits.max_native_histogram_buckets,
        }
    }

    /// Decodes and appends one push; the WAL holds it before this returns `Ok`.
    pub async fn push(&self, request: MetricsPushRequest) -> Result<MetricsPushResponse, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        let db = self.open_tenant(&tenant).await?;
        let options = self.append_options(&self.overrides.limits(&tenant));
        let outcome =
            tokio::task::spawn_blocking(move || append(&db, &request.write_request, &options))
                .await
                .map_err(|e| Status::internal(format!("append task failed: {e}")))??;
        self.metrics.observe_append(&outcome);
        if let Some(first) = outcome.rejected.first() {
            let rejected: u64 = outcome.rejected_counts.iter().map(|(_, n)| n).sum();
            let message = if rejected > 1 {
                format!(
                    "{} (and {} more items rejected)",
                    first.message,
                    rejected - 1
                )
            } else {
                first.message.clone()
            };
            return Err(Status::new(
                sextant_kit::error::grpc_code(first.reason.kind()),
                message,
            ));
        }
        Ok(MetricsPushResponse {
            samples_written: outcome.samples_written,
            histograms_written: outcome.histograms_written,
            exemplars_written: outcome.exemplars_written,
        })
    }

    /// Series of `tenant` matching all matchers with data in the range, as wire series.
    pub async fn query(
        &self,
        request: MetricsQueryRequest,
    ) -> Result<Vec<wire::TimeSeries>, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        let matchers = parse_matchers(&request.matchers)?;
        let Some(db) = self.tenants.read().get(&tenant).cloned() else {
            return Ok(Vec::new());
        };
        let range = TimeRange::new(request.start_ms, request.end_ms);
        tokio::task::spawn_blocking(move || {
            db.query(range, &matchers)
                .into_iter()
                .map(convert::series_to_wire)
                .collect()
        })
        .await
        .map_err(|e| Status::internal(format!("query task failed: {e}")))
    }

    /// Leaves the ring, then fsyncs every WAL. Idempotent.
    async fn leave_and_flush(&self) -> Result<(), BoxError> {
        let mut left = self.left.lock().await;
        if !*left {
            self.ready
                .set_not_ready("metrics ingester is leaving the ring");
            self.ring.leave().await?;
            *left = true;
        }
        self.sync_all().await;
        Ok(())
    }

    async fn sync_all(&self) {
        let dbs: Vec<Arc<TenantDb>> = self.tenants.read().values().cloned().collect();
        let bytes = dbs.iter().map(|db| db.wal_bytes_written()).sum();
        self.metrics.set_wal_bytes(bytes);
        let failures = tokio::task::spawn_blocking(move || {
            dbs.iter()
                .filter_map(|db| db.sync().err())
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for error in failures {
            self.metrics.count_sync_failure();
            tracing::error!(error, "wal fsync failed");
        }
    }

    fn spawn_fsync_timer(self: &Arc<Self>) {
        let this = self.clone();
        let period = self.config.metrics.wal_fsync_interval;
        spawn_every(period, self.background.clone(), move || {
            let this = this.clone();
            async move { this.sync_all().await }
        });
    }
}

fn append(db: &TenantDb, body: &[u8], options: &AppendOptions) -> Result<AppendOutcome, Status> {
    let mut batch = WriteBatch::default();
    remote_write::decode_v1(body, &mut batch)
        .map_err(|e| Status::invalid_argument(format!("undecodable push: {}", e.message)))?;
    db.append(&batch, options)
        .map_err(|e| Status::internal(format!("cannot write the WAL: {e}")))
}

/// This ingester's share of a global per-tenant series limit (Mimir's rule): the global limit
/// times the replication factor, divided by the healthy ingesters. 0 stays unlimited.
fn local_series_limit(global: u64, replication_factor: usize, healthy: usize) -> u64 {
    if global == 0 {
        return 0;
    }
    let healthy = healthy.max(1) as u64;
    let rf = replication_factor.max(1) as u64;
    (global * rf.min(healthy)).div_ceil(healthy)
}

/// Service lifecycle: replay, join, fsync timer; stop leaves and flushes.
pub struct MetricsIngesterService(pub Arc<MetricsIngester>);

impl Service for MetricsIngesterService {
    fn name(&self) -> &str {
        "ingester-metrics"
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            let ingester = &self.0;
            ingester.replay_all().await?;
            ingester.ring.join().await?;
            ingester.spawn_fsync_timer();
            ingester.ready.set_ready(true);
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            let ingester = &self.0;
            let result = ingester.leave_and_flush().await;
            ingester.background.cancel();
            result
        })
    }
}

impl MetricsIngester {
    /// The lifecycle of this ingester, for the service manager.
    pub fn service(self: &Arc<Self>) -> Arc<dyn Service> {
        Arc::new(MetricsIngesterService(self.clone()))
    }
}

/// The tonic service implementation.
#[derive(Clone)]
pub struct GrpcHandler(Arc<MetricsIngester>);

type QueryStream = Pin<Box<dyn Stream<Item = Result<MetricsQueryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl metrics_ingester_server::MetricsIngester for GrpcHandler {
    async fn push(
        &self,
        request: Request<MetricsPushRequest>,
    ) -> Result<Response<MetricsPushResponse>, Status> {
        self.0.push(request.into_inner()).await.map(Response::new)
    }

    type QueryStreamStream = QueryStream;

    async fn query_stream(
        &self,
        request: Request<MetricsQueryRequest>,
    ) -> Result<Response<Self::QueryStreamStream>, Status> {
        let series = self.0.query(request.into_inner()).await?;
        let mut batches = Vec::with_capacity(series.len() / QUERY_BATCH_SERIES + 1);
        let mut iter = series.into_iter().peekable();
        while iter.peek().is_some() {
            let series: Vec<_> = iter.by_ref().take(QUERY_BATCH_SERIES).collect();
            batches.push(Ok(MetricsQueryResponse { series }));
        }
        Ok(Response::new(Box::pin(futures::stream::iter(batches))))
    }

    async fn label_names(
        &self,
        request: Request<MetricsLabelsRequest>,
    ) -> Result<Response<MetricsLabelsResponse>, Status> {
        self.0
            .label_names(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn label_values(
        &self,
        request: Request<MetricsLabelsRequest>,
    ) -> Result<Response<MetricsLabelsResponse>, Status> {
        self.0
            .label_values(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn series(
        &self,
        request: Request<MetricsSeriesRequest>,
    ) -> Result<Response<MetricsSeriesResponse>, Status> {
        self.0.series(request.into_inner()).await.map(Response::new)
    }

    async fn metadata(
        &self,
        request: Request<MetricsMetadataRequest>,
    ) -> Result<Response<MetricsMetadataResponse>, Status> {
        self.0
            .metadata(request.into_inner())
            .await
            .map(Response::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_series_limit_table() {
        // (global, rf, healthy) -> local
        let cases = [
            ((0, 3, 3), 0),
            ((150, 3, 3), 150),
            ((150, 3, 6), 75),
            ((150, 1, 1), 150),
            ((100, 3, 1), 100), // fewer ingesters than RF: each holds everything
            ((100, 3, 0), 100),
            ((10, 3, 4), 8),
        ];
        for ((global, rf, healthy), want) in cases {
            assert_eq!(
                local_series_limit(global, rf, healthy),
                want,
                "{global} {rf} {healthy}"
            );
        }
    }
}

#[cfg(test)]
mod service_tests;
