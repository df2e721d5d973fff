//! The logs block shipper: cuts blocks out of the tenants' logs heads, uploads them to
//! `logs/<tenant>/<block-id>/` and truncates head and WAL once they are stored and queriers
//! know about them. The same scheme as the metrics shipper, in nanoseconds.
//!
//! Blocks are aligned to multiples of `ingester.logs.block_duration` in entry time; the
//! oldest range not shipped yet is cut once the head's newest entry is `block_cut_grace` past
//! its end (several due ranges are cut one after the other in one pass). An upload writes
//! `index` and `chunks`, then `meta.json` (present = complete), then refreshes the tenant's
//! bucket index; only then is the range recorded as shipped (`set_shipped_until`). Any
//! failure leaves everything in head and WAL and the range is cut again on the next tick (a
//! block uploaded twice is deduplicated by the queriers). Shipped ranges stay in the head for
//! `retain_after_upload`, then the head is truncated and the WAL checkpointed.
//!
//! `POST /ingester/logs/flush` (and `/ingester/flush` when no metrics ingester owns it) cuts
//! and uploads everything the heads hold; with `flush_on_shutdown` stopping does too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prometheus_client::registry::Registry;
use sextant_kit::service::{BoxError, Service};
use sextant_logs::block::{
    EncodedLogsBlock, LogsBlockCompaction, LogsBlockSource, CHUNKS_FILE, INDEX_FILE, META_FILE,
};
use sextant_logs::db::LogsTenantDb;
use sextant_model::{Signal, TenantId};
use sextant_storage::keys::block_object_key;
use sextant_storage::{list_tenants, new_block_id, update_bucket_index, StorageError};
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use super::instrumentation::LogsShipperMetrics;
use super::LogsIngester;
use crate::block_schedule::{
    next_boundary, truncation_due, Clock, Shipped, BUCKET_INDEX_REFRESH_TIMEOUT,
    MAX_BLOCKS_PER_PASS,
};
use crate::config::IngesterLogsConfig;
use crate::error::IngesterError;
use crate::ShipOutcome;

/// Where `POST` flushes the logs heads, whatever else the process runs.
pub const LOGS_FLUSH_PATH: &str = "/ingester/logs/flush";

/// How long the bucket index refresh at start may delay the shipper.
/// Cuts, uploads and truncates the logs heads of one [`LogsIngester`].
pub struct LogsShipper {
    ingester: Arc<LogsIngester>,
    store: Arc<dyn ObjectStore>,
    config: IngesterLogsConfig,
    /// Written into each block's meta as its source.
    instance_id: String,
    metrics: LogsShipperMetrics,
    /// One pass at a time; per tenant, the ranges uploaded but not truncated yet.
    retained: AsyncMutex<HashMap<TenantId, Vec<Shipped>>>,
    clock: Clock,
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl LogsShipper {
    /// A shipper uploading to `store`; `sextant_ingester_logs_*` go to `registry`. An empty
    /// `instance_id` falls back to `$HOSTNAME`.
    pub fn new(
        ingester: Arc<LogsIngester>,
        config: IngesterLogsConfig,
        store: Arc<dyn ObjectStore>,
        instance_id: &str,
        registry: &mut Registry,
    ) -> Arc<Self> {
        let instance_id = match instance_id {
            "" => std::env::var("HOSTNAME").unwrap_or_else(|_| "ingester".to_owned()),
            id => id.to_owned(),
        };
        Arc::new(LogsShipper {
            ingester,
            store,
            config,
            instance_id,
            metrics: LogsShipperMetrics::new(registry),
            retained: AsyncMutex::new(HashMap::new()),
            clock: Arc::new(SystemTime::now),
        })
    }

    /// Replaces the clock; only before the shipper is shared.
    #[cfg(test)]
    pub(crate) fn with_clock(mut self: Arc<Self>, clock: Clock) -> Arc<Self> {
        match Arc::get_mut(&mut self) {
            Some(this) => this.clock = clock,
            None => panic!("with_clock on a shared shipper"),
        }
        self
    }

    #[cfg(test)]
    pub(crate) fn metrics(&self) -> &LogsShipperMetrics {
        &self.metrics
    }

    /// Cuts and uploads every block that is due for every tenant, and truncates what was
    /// shipped at least `retain_after_upload` ago.
    pub async fn ship_due_blocks(&self) -> ShipOutcome {
        self.ship(false).await
    }

    /// Cuts and uploads everything the heads hold now; truncation still waits for
    /// `retain_after_upload`.
    pub async fn flush_blocks(&self) -> ShipOutcome {
        self.ship(true).await
    }

    async fn ship(&self, force: bool) -> ShipOutcome {
        let mut retained = self.retained.lock().await;
        let mut outcome = ShipOutcome::default();
        for (tenant, db) in self.ingester.tenant_dbs() {
            let shipped = retained.entry(tenant.clone()).or_default();
            let result = self
                .ship_tenant(&tenant, &db, force, shipped, &mut outcome)
                .await;
            if let Err(e) = result {
                self.metrics.count_failure();
                tracing::error!(%tenant, error = %e, "logs block shipping failed; retrying on the next tick");
                outcome.errors.push(e.to_string());
            }
        }
        outcome
    }

    async fn ship_tenant(
        &self,
        tenant: &TenantId,
        db: &Arc<LogsTenantDb>,
        force: bool,
        retained: &mut Vec<Shipped>,
        outcome: &mut ShipOutcome,
    ) -> Result<(), IngesterError> {
        let block_ns = duration_ns(self.config.block_duration);
        let grace_ns = duration_ns(self.config.effective_block_cut_grace());
        let flush_until = db.time_range().filter(|_| force).map(|(_, max)| max);
        for _ in 0..MAX_BLOCKS_PER_PASS {
            // the head may still hold shipped entries: cutting goes on where shipping stopped
            let range = db
                .time_range()
                .map(|(min, max)| (min.max(db.shipped_until()), max));
            let Some(boundary) = next_boundary(range, block_ns, grace_ns, flush_until) else {
                break;
            };
            if self.ship_block(tenant, db, boundary).await? {
                outcome.blocks_uploaded += 1;
            }
            retained.push((boundary, (self.clock)()));
            self.truncate_retained(tenant, db, retained).await?;
        }
        self.truncate_retained(tenant, db, retained).await
    }

    /// Cuts `[shipped_until, boundary)`, uploads it, updates the bucket index and records the
    /// range as shipped; whether there was a block (a range may hold nothing).
    async fn ship_block(
        &self,
        tenant: &TenantId,
        db: &Arc<LogsTenantDb>,
        boundary: i64,
    ) -> Result<bool, IngesterError> {
        let block_id = new_block_id(SystemTime::now());
        let source = LogsBlockSource {
            block_id: block_id.clone(),
            tenant: tenant.as_str().to_owned(),
            source_ingester: self.instance_id.clone(),
            compaction: LogsBlockCompaction {
                level: 1,
                sources: vec![block_id],
            },
        };
        let cut_db = db.clone();
        let block = blocking(move || cut_db.cut_block(boundary, source))
            .await?
            .map_err(logs_db_error(tenant, "cutting a block"))?;
        let uploaded = block.is_some();
        if let Some(block) = block {
            self.upload(tenant, block).await?;
            update_bucket_index(&*self.store, Signal::Logs, tenant)
                .await
                .map_err(|source| IngesterError::BucketIndex {
                    tenant: tenant.to_string(),
                    signal: Signal::Logs.as_str(),
                    source,
                })?;
        }
        let shipped_db = db.clone();
        blocking(move || shipped_db.set_shipped_until(boundary))
            .await?
            .map_err(logs_db_error(tenant, "recording the shipped bound"))?;
        Ok(uploaded)
    }

    async fn upload(
        &self,
        tenant: &TenantId,
        block: EncodedLogsBlock,
    ) -> Result<(), IngesterError> {
        let started = Instant::now();
        let meta_json = block.meta_json();
        let id = block.meta.block_id.clone();
        // meta.json last: its presence marks the block complete
        let files = [
            (INDEX_FILE, Bytes::from(block.index)),
            (CHUNKS_FILE, Bytes::from(block.chunks)),
            (META_FILE, Bytes::from(meta_json)),
        ];
        for (file, bytes) in &files {
            let key = block_object_key(Signal::Logs, tenant, &id, file);
            if let Err(e) = self.store.put(&key, PutPayload::from(bytes.clone())).await {
                return Err(IngesterError::Upload {
                    tenant: tenant.to_string(),
                    block_id: id,
                    source: StorageError::from(e),
                });
            }
        }
        let bytes = files.iter().map(|(_, b)| b.len() as u64).sum();
        self.metrics.observe_shipped(bytes);
        let meta = &block.meta;
        tracing::info!(
            %tenant, block = %id, min_time_ns = meta.min_time_ns, max_time_ns = meta.max_time_ns,
            streams = meta.stats.streams, entries = meta.stats.entries, bytes,
            ms = started.elapsed().as_millis() as u64, "logs block uploaded"
        );
        Ok(())
    }

    /// Truncates the head up to the newest range shipped `retain_after_upload` ago, if any.
    async fn truncate_retained(
        &self,
        tenant: &TenantId,
        db: &Arc<LogsTenantDb>,
        retained: &mut Vec<Shipped>,
    ) -> Result<(), IngesterError> {
        let retain = self.config.retain_after_upload;
        let Some(boundary) = truncation_due(retained, retain, (self.clock)()) else {
            return Ok(());
        };
        let truncate_db = db.clone();
        let stats = blocking(move || truncate_db.truncate(boundary))
            .await?
            .map_err(logs_db_error(tenant, "truncating the head"))?;
        self.metrics.observe_truncation(&stats);
        retained.retain(|(b, _)| *b > boundary);
        Ok(())
    }

    /// Rewrites the logs bucket index of every tenant with blocks in storage; returns how
    /// many were updated. Failures are logged (the next upload retries).
    pub async fn refresh_bucket_indexes(&self) -> usize {
        let tenants = match list_tenants(&*self.store, Signal::Logs).await {
            Ok(tenants) => tenants,
            Err(e) => {
                tracing::warn!(error = %e, "listing logs tenants for the bucket index refresh failed");
                return 0;
            }
        };
        let mut updated = 0;
        for tenant in tenants {
            match update_bucket_index(&*self.store, Signal::Logs, &tenant).await {
                Ok(_) => updated += 1,
                Err(e) => tracing::warn!(%tenant, error = %e, "logs bucket index refresh failed"),
            }
        }
        updated
    }

    /// `POST` on each of `paths` flushes the logs heads: 204 when every tenant shipped, 500
    /// listing the failures otherwise.
    pub fn router(self: &Arc<Self>, paths: &[&str]) -> Router {
        paths.iter().fold(Router::new(), |router, path| {
            let this = self.clone();
            router.route(
                path,
                post(move || async move {
                    let outcome = this.flush_blocks().await;
                    match outcome.errors.is_empty() {
                        true => StatusCode::NO_CONTENT.into_response(),
                        false => (StatusCode::INTERNAL_SERVER_ERROR, outcome.errors.join("\n"))
                            .into_response(),
                    }
                }),
            )
        })
    }

    /// The shipper's lifecycle: a timer every `block_check_interval`; stopping waits for a
    /// pass in progress (and flushes with `flush_on_shutdown`).
    pub fn service(self: &Arc<Self>) -> Arc<dyn Service> {
        Arc::new(LogsShipperService {
            shipper: self.clone(),
            cancel: CancellationToken::new(),
        })
    }
}

fn logs_db_error(
    tenant: &TenantId,
    operation: &'static str,
) -> impl FnOnce(sextant_logs::db::LogsDbError) -> IngesterError {
    let tenant = tenant.to_string();
    move |source| IngesterError::LogsDb {
        tenant,
        operation,
        source,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngesterError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IngesterError::Task(e.to_string()))
}

/// Runs [`LogsShipper::ship_due_blocks`] on a timer.
struct LogsShipperService {
    shipper: Arc<LogsShipper>,
    cancel: CancellationToken,
}

impl Service for LogsShipperService {
    fn name(&self) -> &str {
        "ingester-logs-shipper"
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        let shipper = self.shipper.clone();
        let cancel = self.cancel.clone();
        let period = shipper.config.block_check_interval;
        Box::pin(async move {
            // a kill between an upload and its index update left the index behind
            let refresh = shipper.refresh_bucket_indexes();
            if tokio::time::timeout(BUCKET_INDEX_REFRESH_TIMEOUT, refresh)
                .await
                .is_err()
            {
                tracing::warn!("logs bucket index refresh at start timed out");
            }
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tick.tick() => { shipper.ship_due_blocks().await; }
                    }
                }
            });
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        self.cancel.cancel();
        Box::pin(async move {
            if self.shipper.config.flush_on_shutdown {
                let outcome = self.shipper.flush_blocks().await;
                tracing::info!(
                    blocks = outcome.blocks_uploaded,
                    failures = outcome.errors.len(),
                    "logs heads flushed on shutdown"
                );
                return match outcome.errors.is_empty() {
                    true => Ok(()),
                    false => Err(outcome.errors.join("; ").into()),
                };
            }
            // wait for a pass in progress, so its upload and truncation finish cleanly
            let _ = self.shipper.retained.lock().await;
            Ok(())
        })
    }
}

#[cfg(test)]
#[path = "shipper_tests.rs"]
mod tests;
