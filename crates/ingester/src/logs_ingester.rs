//! The logs side of an ingester: one `LogsTenantDb` (stream head + WAL) per tenant, push and
//! queries over gRPC (`LogsIngester` in proto/sextant/ingester.proto).
//!
//! The WALs live under `<wal_dir>/logs/<tenant>/`, every tenant found there is replayed by
//! [`LogsIngester::replay_all`], a push is in the WAL before it is acknowledged, and queries
//! read the heads. `lifecycle`: replay, ring membership and the fsync timer as a service;
//! `shipper`: [`LogsShipper`] cuts blocks, uploads them to `logs/<tenant>/<block-id>/` and
//! truncates head and WAL (`instrumentation`: its `sextant_ingester_logs_*` self-metrics).

mod instrumentation;
mod lifecycle;
mod limits;
mod shipper;

pub use lifecycle::LogsIngesterService;
pub use limits::LogsStreamLimits;
pub use shipper::{LogsShipper, LOGS_FLUSH_PATH};

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use sextant_logs::db::{LogsDbConfig, LogsDbError, LogsTenantDb};
use sextant_logs::logql::eval::{parse_line_filters, LogQueryable};
use sextant_logs::push::{batch_from_push_request, stream_to_proto};
use sextant_model::{Labels, TenantId};
use sextant_proto::ingester::logs_ingester_server::{self, LogsIngesterServer};
use sextant_proto::ingester::{
    LogsLabelsRequest, LogsLabelsResponse, LogsPushRequest, LogsPushResponse, LogsQueryRequest,
    LogsQueryResponse, LogsSeriesRequest, LogsSeriesResponse, LogsStatsRequest, LogsStatsResponse,
    SeriesLabels,
};
use sextant_proto::prometheus as wire;
use tonic::{Request, Response, Status};

use crate::metrics_ingester::{parse_matchers, parse_tenant};
use crate::tenant_heads::TenantHeads;

/// Streams per streamed query batch.
const QUERY_BATCH_STREAMS: usize = 64;
/// Rejection messages returned with a push.
const MAX_REJECTION_MESSAGES: usize = 10;

/// Every tenant's logs head.
pub struct LogsIngester {
    /// The tenants' databases under `<wal_dir>/logs/<tenant>`.
    heads: TenantHeads<LogsTenantDb>,
    /// Settings of every tenant's database (its `dir` is replaced per tenant).
    template: LogsDbConfig,
    /// Per-tenant stream limits (`limits`); none until [`Self::with_stream_limits`].
    stream_limits: Option<Arc<LogsStreamLimits>>,
}

impl LogsIngester {
    /// The logs heads under `<wal_dir>/logs`; nothing is read until [`Self::replay_all`].
    pub fn new(wal_dir: &Path, template: LogsDbConfig) -> Self {
        LogsIngester {
            heads: TenantHeads::new(wal_dir, "logs"),
            template,
            stream_limits: None,
        }
    }

    /// Replays every tenant WAL found on disk; returns how many tenants were opened.
    pub async fn replay_all(&self) -> Result<usize, Status> {
        let tenants = self.heads.tenants_on_disk().await?;
        for tenant in &tenants {
            self.open_tenant(tenant).await?;
        }
        Ok(tenants.len())
    }

    /// A tenant's database, opened (and replayed) on first use.
    async fn open_tenant(&self, tenant: &TenantId) -> Result<Arc<LogsTenantDb>, Status> {
        if let Some(db) = self.heads.get(tenant) {
            return Ok(db);
        }
        let template = self.template.clone();
        let opened = tenant.clone();
        self.heads
            .open(tenant, move |dir| {
                let (db, stats) = LogsTenantDb::open(LogsDbConfig { dir, ..template })?;
                let streams = db.stream_count();
                tracing::info!(tenant = %opened, streams, ?stats, "opened tenant logs head");
                Ok::<_, LogsDbError>(db)
            })
            .await
    }

    fn tenant(&self, tenant: &TenantId) -> Option<Arc<LogsTenantDb>> {
        self.heads.get(tenant)
    }

    /// Appends the pushed streams; they are in the WAL when this returns `Ok`. Entries the
    /// head refuses are counted and described; the rest are kept.
    pub async fn push(&self, request: LogsPushRequest) -> Result<LogsPushResponse, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        let push = request.push.unwrap_or_default();
        let batch = batch_from_push_request(push)
            .map_err(|e| Status::invalid_argument(format!("undecodable push: {e}")))?;
        let db = self.open_tenant(&tenant).await?;
        let stream_limits = self.stream_limits.clone();
        let (report, refused) = tokio::task::spawn_blocking(move || {
            limits::append_within_limits(stream_limits.as_deref(), &tenant, &db, batch)
        })
        .await
        .map_err(|e| Status::internal(format!("append task failed: {e}")))?
        .map_err(|e| Status::internal(format!("cannot append: {e}")))?;
        refused.into_status(&report)?;
        Ok(LogsPushResponse {
            entries_written: report.entries_written,
            bytes_written: report.bytes_written,
            entries_rejected: report.rejected_counts.iter().map(|(_, n)| n).sum(),
            rejections: report
                .rejected
                .iter()
                .take(MAX_REJECTION_MESSAGES)
                .map(|r| r.message.clone())
                .collect(),
        })
    }

    /// The matching streams with their entries in the range, in batches.
    pub async fn query(&self, request: LogsQueryRequest) -> Result<Vec<LogsQueryResponse>, Status> {
        let (tenant, matchers) = parse_selection(&request.tenant, &request.matchers)?;
        let Some(db) = self.tenant(&tenant) else {
            return Ok(Vec::new());
        };
        let line_filters = parse_line_filters(&request.line_filters).map_err(|e| {
            Status::invalid_argument(format!("line_filters {:?}: {e}", request.line_filters))
        })?;
        let (start, end) = (request.start_ns, request.end_ns);
        let streams = tokio::task::spawn_blocking(move || {
            db.select_filtered(&matchers, &line_filters, start, end)
        })
        .await
        .map_err(|e| Status::internal(format!("query task failed: {e}")))?
        .map_err(|e| Status::internal(format!("query failed: {e}")))?;
        Ok(streams
            .chunks(QUERY_BATCH_STREAMS)
            .map(|batch| LogsQueryResponse {
                streams: batch.iter().map(stream_to_proto).collect(),
            })
            .collect())
    }

    /// Label names, or the values of `label_name` when it is set, sorted.
    pub async fn labels(
        &self,
        request: LogsLabelsRequest,
        values_of: Option<String>,
    ) -> Result<LogsLabelsResponse, Status> {
        let (tenant, matchers) = parse_selection(&request.tenant, &request.matchers)?;
        let Some(db) = self.tenant(&tenant) else {
            return Ok(LogsLabelsResponse::default());
        };
        let (start, end) = (request.start_ns, request.end_ns);
        let values = tokio::task::spawn_blocking(move || match values_of {
            Some(name) => db.label_values(&name, start, end, &matchers),
            None => db.label_names(start, end, &matchers),
        })
        .await
        .map_err(|e| Status::internal(format!("labels task failed: {e}")))?;
        Ok(LogsLabelsResponse { values })
    }

    /// Label sets of the streams matching any matcher set (all streams when there is none).
    pub async fn series(&self, request: LogsSeriesRequest) -> Result<LogsSeriesResponse, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        let sets = request
            .matcher_sets
            .iter()
            .map(|set| parse_matchers(&set.matchers))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(db) = self.tenant(&tenant) else {
            return Ok(LogsSeriesResponse::default());
        };
        let (start, end) = (request.start_ns, request.end_ns);
        let series = tokio::task::spawn_blocking(move || {
            let mut all: Vec<Labels> = if sets.is_empty() {
                db.series(&[], start, end)
            } else {
                sets.iter()
                    .flat_map(|set| db.series(set, start, end))
                    .collect()
            };
            all.sort();
            all.dedup();
            all
        })
        .await
        .map_err(|e| Status::internal(format!("series task failed: {e}")))?;
        Ok(LogsSeriesResponse {
            series: series.iter().map(series_labels).collect(),
        })
    }

    /// Streams, chunks, entries and bytes of the matching streams in the range.
    pub async fn stats(&self, request: LogsStatsRequest) -> Result<LogsStatsResponse, Status> {
        let (tenant, matchers) = parse_selection(&request.tenant, &request.matchers)?;
        let Some(db) = self.tenant(&tenant) else {
            return Ok(LogsStatsResponse::default());
        };
        let (start, end) = (request.start_ns, request.end_ns);
        let stats = tokio::task::spawn_blocking(move || db.stats(&matchers, start, end))
            .await
            .map_err(|e| Status::internal(format!("stats task failed: {e}")))?
            .map_err(|e| Status::internal(format!("stats failed: {e}")))?;
        Ok(LogsStatsResponse {
            streams: stats.streams,
            chunks: stats.chunks,
            entries: stats.entries,
            bytes: stats.bytes,
        })
    }

    /// Every open tenant's database.
    pub(crate) fn tenant_dbs(&self) -> Vec<(TenantId, Arc<LogsTenantDb>)> {
        self.heads.all()
    }

    /// Fsyncs every tenant's WAL (on shutdown, and on a timer for idle tenants).
    pub async fn sync_all(&self) {
        self.heads.sync_all(LogsTenantDb::sync).await;
    }

    /// The gRPC service over this ingester.
    pub fn grpc_service(self: &Arc<Self>) -> LogsIngesterServer<LogsGrpc> {
        LogsIngesterServer::new(LogsGrpc(self.clone()))
    }
}

fn parse_selection(
    tenant: &str,
    matchers: &[wire::LabelMatcher],
) -> Result<(TenantId, Vec<sextant_model::Matcher>), Status> {
    Ok((parse_tenant(tenant)?, parse_matchers(matchers)?))
}

fn series_labels(labels: &Labels) -> SeriesLabels {
    SeriesLabels {
        labels: labels
            .iter()
            .map(|l| wire::Label {
                name: l.name.clone(),
                value: l.value.clone(),
            })
            .collect(),
    }
}

/// The gRPC face of a [`LogsIngester`].
pub struct LogsGrpc(Arc<LogsIngester>);

type QueryStream = Pin<Box<dyn Stream<Item = Result<LogsQueryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl logs_ingester_server::LogsIngester for LogsGrpc {
    async fn push(
        &self,
        request: Request<LogsPushRequest>,
    ) -> Result<Response<LogsPushResponse>, Status> {
        self.0.push(request.into_inner()).await.map(Response::new)
    }

    type QueryStreamStream = QueryStream;

    async fn query_stream(
        &self,
        request: Request<LogsQueryRequest>,
    ) -> Result<Response<QueryStream>, Status> {
        let batches = self.0.query(request.into_inner()).await?;
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn label_names(
        &self,
        request: Request<LogsLabelsRequest>,
    ) -> Result<Response<LogsLabelsResponse>, Status> {
        self.0
            .labels(request.into_inner(), None)
            .await
            .map(Response::new)
    }

    async fn label_values(
        &self,
        request: Request<LogsLabelsRequest>,
    ) -> Result<Response<LogsLabelsResponse>, Status> {
        let request = request.into_inner();
        if request.label_name.is_empty() {
            return Err(Status::invalid_argument("label_name is required"));
        }
        let name = request.label_name.clone();
        self.0.labels(request, Some(name)).await.map(Response::new)
    }

    async fn series(
        &self,
        request: Request<LogsSeriesRequest>,
    ) -> Result<Response<LogsSeriesResponse>, Status> {
        self.0.series(request.into_inner()).await.map(Response::new)
    }

    async fn stats(
        &self,
        request: Request<LogsStatsRequest>,
    ) -> Result<Response<LogsStatsResponse>, Status> {
        self.0.stats(request.into_inner()).await.map(Response::new)
    }
}

#[cfg(test)]
mod tests;
