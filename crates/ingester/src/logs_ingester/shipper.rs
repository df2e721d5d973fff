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

use axum::Router;
use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_kit::service::{BoxError, Service};
use sextant_logs::block::{
    EncodedLogsBlock, LogsBlockCompaction, LogsBlockSource, CHUNKS_FILE, INDEX_FILE, META_FILE,
};
use sextant_logs::db::LogsTenantDb;
use sextant_model::{Signal, TenantId};
use sextant_storage::new_block_id;
use tokio::sync::Mutex as AsyncMutex;

use super::instrumentation::LogsShipperMetrics;
use super::LogsIngester;
use crate::block_schedule::{ship_tenants, AlignedShipper, Clock, Shipped};
use crate::block_upload::{
    blocking, flush_router, flushed_on_shutdown, put_block_files, refresh_bucket_indexes,
    source_ingester, update_tenant_bucket_index, BlockShipper, ShipperService,
};
use crate::config::IngesterLogsConfig;
use crate::error::IngesterError;
use crate::ShipOutcome;

/// Where `POST` flushes the logs heads, whatever else the process runs.
pub const LOGS_FLUSH_PATH: &str = "/ingester/logs/flush";

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
        Arc::new(LogsShipper {
            ingester,
            store,
            config,
            instance_id: source_ingester(instance_id),
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
        let heads = self.ingester.tenant_dbs();
        let outcome = ship_tenants(self, Signal::Logs, heads, &mut retained, force).await;
        self.metrics.count_failures(outcome.errors.len());
        outcome
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
        let bytes = put_block_files(&*self.store, Signal::Logs, tenant, &id, &files).await?;
        self.metrics.observe_shipped(bytes);
        let meta = &block.meta;
        tracing::info!(
            %tenant, block = %id, min_time_ns = meta.min_time_ns, max_time_ns = meta.max_time_ns,
            streams = meta.stats.streams, entries = meta.stats.entries, bytes,
            ms = started.elapsed().as_millis() as u64, "logs block uploaded"
        );
        Ok(())
    }

    /// Rewrites the logs bucket index of every tenant with blocks in storage; returns how
    /// many were updated. Failures are logged (the next upload retries).
    pub async fn refresh_bucket_indexes(&self) -> usize {
        refresh_bucket_indexes(&*self.store, Signal::Logs).await
    }

    /// `POST` on each of `paths` flushes the logs heads: 204 when every tenant shipped, 500
    /// listing the failures otherwise.
    pub fn router(self: &Arc<Self>, paths: &[&str]) -> Router {
        flush_router(self, paths)
    }

    /// The shipper's lifecycle: a timer every `block_check_interval`; stopping waits for a
    /// pass in progress (and flushes with `flush_on_shutdown`).
    pub fn service(self: &Arc<Self>) -> Arc<dyn Service> {
        Arc::new(ShipperService::new(self.clone()))
    }
}

impl AlignedShipper for LogsShipper {
    type Head = LogsTenantDb;

    fn block_and_grace(&self) -> (i64, i64) {
        let block_ns = duration_ns(self.config.block_duration);
        let grace_ns = duration_ns(self.config.effective_block_cut_grace());
        (block_ns, grace_ns)
    }

    fn retain_after_upload(&self) -> Duration {
        self.config.retain_after_upload
    }

    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    fn head_times(&self, head: &LogsTenantDb) -> (Option<(i64, i64)>, i64) {
        (head.time_range(), head.shipped_until())
    }

    /// Cuts `[shipped_until, boundary)`, uploads it, updates the bucket index and records the
    /// range as shipped; whether there was a block (a range may hold nothing).
    async fn ship_range(
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
            update_tenant_bucket_index(&*self.store, Signal::Logs, tenant).await?;
        }
        let shipped_db = db.clone();
        blocking(move || shipped_db.set_shipped_until(boundary))
            .await?
            .map_err(logs_db_error(tenant, "recording the shipped bound"))?;
        Ok(uploaded)
    }

    /// Truncates the head and checkpoints the WAL below `boundary`.
    async fn truncate_head(
        &self,
        tenant: &TenantId,
        db: &Arc<LogsTenantDb>,
        boundary: i64,
    ) -> Result<(), IngesterError> {
        let truncate_db = db.clone();
        let stats = blocking(move || truncate_db.truncate(boundary))
            .await?
            .map_err(logs_db_error(tenant, "truncating the head"))?;
        self.metrics.observe_truncation(&stats);
        Ok(())
    }
}

impl BlockShipper for LogsShipper {
    fn signal(&self) -> Signal {
        Signal::Logs
    }

    fn store(&self) -> &dyn ObjectStore {
        &*self.store
    }

    fn check_interval(&self) -> Duration {
        self.config.block_check_interval
    }

    fn ship_due(&self) -> BoxFuture<'_, ShipOutcome> {
        Box::pin(self.ship_due_blocks())
    }

    fn flush(&self) -> BoxFuture<'_, ShipOutcome> {
        Box::pin(self.flush_blocks())
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            if self.config.flush_on_shutdown {
                let outcome = self.flush_blocks().await;
                return flushed_on_shutdown(Signal::Logs, &outcome);
            }
            // wait for a pass in progress, so its upload and truncation finish cleanly
            let _ = self.retained.lock().await;
            Ok(())
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

#[cfg(test)]
#[path = "shipper_tests.rs"]
mod tests;
