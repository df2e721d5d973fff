//! The block shipper: cuts blocks out of the tenants' heads, uploads them and truncates the
//! head and WAL once they are safely stored and queriers know about them.
//!
//! Blocks are aligned to multiples of `block_duration` in sample time. The oldest block range
//! not shipped yet is cut once the head's newest sample is `block_cut_grace` past its end; a
//! head holding several due ranges (e.g. after a long outage) is cut range by range in one
//! pass. An upload writes `index`, `chunks`, then `meta.json` (present = complete), then
//! refreshes the tenant's bucket index. A failed upload keeps everything in the head and WAL
//! and is retried on the next tick.
//!
//! A shipped range stays in the head for `retain_after_upload`: queriers cache the block list
//! for a while, and until they see the new block only the ingester can answer for its data.
//! Each pass (timer or flush) then truncates every tenant up to the newest boundary uploaded
//! at least that long ago. The list of such boundaries lives in memory only: after a restart,
//! shipped data replayed from the WAL is served again (queriers deduplicate it), is not cut
//! again (the db remembers where shipping stopped) and goes with the next truncation.
//! Shutdown does not cut partial blocks (the WAL keeps the data); `POST /ingester/flush` does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use sextant_kit::service::{BoxError, Service};
use sextant_metrics::block::{
    BlockCompaction, BlockSource, EncodedBlock, CHUNKS_FILE, INDEX_FILE, META_FILE,
};
use sextant_metrics::db::TenantDb;
use sextant_model::{Signal, TenantId};
use sextant_storage::{new_block_id, update_bucket_index};

use super::MetricsIngester;
use crate::block_schedule::{ship_tenants, AlignedShipper, Shipped};
use crate::block_upload::{
    blocking, put_block_files, refresh_bucket_indexes, BlockShipper, ShipOutcome, ShipperService,
};
use crate::error::IngesterError;

/// What the shipper keeps between passes (behind the one-pass-at-a-time lock).
#[derive(Debug, Default)]
pub(crate) struct ShipState {
    /// Per tenant, the ranges uploaded but not truncated yet, oldest first.
    retained: HashMap<TenantId, Vec<Shipped>>,
}

impl MetricsIngester {
    /// Cuts and uploads every block that is due, for every tenant, and truncates what was
    /// shipped at least `retain_after_upload` ago.
    pub async fn ship_due_blocks(&self) -> ShipOutcome {
        self.ship(false).await
    }

    /// Cuts and uploads everything the heads hold now (`POST /ingester/flush`); truncation
    /// still waits for `retain_after_upload`.
    pub async fn flush_blocks(&self) -> ShipOutcome {
        self.ship(true).await
    }

    async fn ship(&self, force: bool) -> ShipOutcome {
        let mut state = self.shipping.lock().await;
        let tenants: Vec<(TenantId, Arc<TenantDb>)> = self
            .tenants
            .read()
            .iter()
            .map(|(t, db)| (t.clone(), db.clone()))
            .collect();
        ship_tenants(self, Signal::Metrics, tenants, &mut state.retained, force).await
    }

    async fn upload(&self, tenant: &TenantId, block: EncodedBlock) -> Result<(), IngesterError> {
        let id = &block.meta.block_id;
        let started = Instant::now();
        // meta.json last: its presence marks the block complete
        let files = [
            (INDEX_FILE, Bytes::from(block.index)),
            (CHUNKS_FILE, Bytes::from(block.chunks)),
            (META_FILE, Bytes::from(block.meta.to_json())),
        ];
        let bytes = put_block_files(&*self.store, Signal::Metrics, tenant, id, &files)
            .await
            .inspect_err(|_| self.metrics.count_upload_failure())?;
        self.metrics.observe_upload(bytes);
        tracing::info!(
            tenant = %tenant, block = %id, min_time = block.meta.min_time_ms,
            max_time = block.meta.max_time_ms, series = block.meta.stats.series,
            samples = block.meta.stats.samples, bytes, ms = started.elapsed().as_millis() as u64,
            "block uploaded"
        );
        if let Err(e) = update_bucket_index(&*self.store, Signal::Metrics, tenant).await {
            // the next upload (or the compactor) refreshes it; readers fall back to a listing
            tracing::warn!(tenant = %tenant, error = %e, "bucket index update failed");
        }
        Ok(())
    }

    /// Rewrites the bucket index of every tenant with blocks in storage; returns how many were
    /// updated. Failures are logged: readers fall back to listing, the next upload retries.
    pub async fn refresh_bucket_indexes(&self) -> usize {
        refresh_bucket_indexes(&*self.store, Signal::Metrics).await
    }

    /// The shipper's lifecycle, for the service manager: a timer every
    /// `block_check_interval`; stopping cancels it without cutting partial blocks.
    pub fn shipper_service(self: &Arc<Self>) -> Arc<dyn Service> {
        Arc::new(ShipperService::new(self.clone()))
    }
}

impl AlignedShipper for MetricsIngester {
    type Head = TenantDb;

    fn block_and_grace(&self) -> (i64, i64) {
        let config = &self.config.metrics;
        let block_ms = config.block_duration.as_millis() as i64;
        let grace_ms = config.effective_block_cut_grace().as_millis() as i64;
        (block_ms, grace_ms)
    }

    fn retain_after_upload(&self) -> Duration {
        self.config.metrics.retain_after_upload
    }

    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    fn head_times(&self, head: &TenantDb) -> (Option<(i64, i64)>, i64) {
        (head.time_range(), head.shipped_until())
    }

    /// Cuts the block ending at `boundary` and uploads it; whether a block was uploaded (a
    /// range may hold nothing, e.g. only rejected samples).
    async fn ship_range(
        &self,
        tenant: &TenantId,
        db: &Arc<TenantDb>,
        boundary: i64,
    ) -> Result<bool, IngesterError> {
        let block_id = new_block_id(SystemTime::now());
        let source = BlockSource {
            block_id: block_id.clone(),
            tenant: tenant.as_str().to_owned(),
            source_ingester: self.instance_id.clone(),
            compaction: BlockCompaction {
                level: 1,
                sources: vec![block_id.clone()],
            },
        };
        let cut_db = db.clone();
        let block = blocking(move || cut_db.cut_block(boundary, source))
            .await?
            .map_err(|source| IngesterError::Cut {
                tenant: tenant.to_string(),
                source,
            })?;
        let uploaded = block.is_some();
        if let Some(block) = block {
            self.metrics.count_block_cut();
            self.upload(tenant, block).await?;
        }
        let shipped_db = db.clone();
        let recorded = blocking(move || shipped_db.set_shipped_until(boundary)).await?;
        if let Err(e) = recorded {
            // kept in memory anyway; after a restart the range may be cut (and deduplicated) again
            tracing::warn!(tenant = %tenant, boundary, error = %e, "cannot persist the shipped bound");
        }
        Ok(uploaded)
    }

    async fn truncate_head(
        &self,
        tenant: &TenantId,
        db: &Arc<TenantDb>,
        boundary: i64,
    ) -> Result<(), IngesterError> {
        let db = db.clone();
        let stats = blocking(move || db.truncate(boundary))
            .await?
            .map_err(|source| IngesterError::Truncate {
                tenant: tenant.to_string(),
                source,
            })?;
        self.metrics.observe_truncation(&stats);
        Ok(())
    }
}

impl BlockShipper for MetricsIngester {
    fn signal(&self) -> Signal {
        Signal::Metrics
    }

    fn store(&self) -> &dyn ObjectStore {
        &*self.store
    }

    fn check_interval(&self) -> Duration {
        self.config.metrics.block_check_interval
    }

    fn ship_due(&self) -> BoxFuture<'_, ShipOutcome> {
        Box::pin(self.ship_due_blocks())
    }

    fn flush(&self) -> BoxFuture<'_, ShipOutcome> {
        Box::pin(self.flush_blocks())
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        // wait for a pass in progress, so its upload and truncation finish cleanly
        Box::pin(async move {
            let _ = self.shipping.lock().await;
            Ok(())
        })
    }
}
