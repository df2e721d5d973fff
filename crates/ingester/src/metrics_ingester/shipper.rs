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
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::{ObjectStoreExt, PutPayload};
use sextant_kit::service::{BoxError, Service};
use sextant_metrics::block::{
    BlockCompaction, BlockSource, EncodedBlock, CHUNKS_FILE, INDEX_FILE, META_FILE,
};
use sextant_metrics::db::TenantDb;
use sextant_model::{Signal, TenantId};
use sextant_storage::keys::block_object_key;
use sextant_storage::{list_tenants, new_block_id, update_bucket_index, StorageError};
use tokio_util::sync::CancellationToken;

use super::MetricsIngester;
use crate::block_schedule::{
    next_boundary, truncation_due, Shipped, BUCKET_INDEX_REFRESH_TIMEOUT, MAX_BLOCKS_PER_PASS,
};
use crate::error::IngesterError;

/// How long the bucket index refresh at start may delay the shipper.
/// What the shipper keeps between passes (behind the one-pass-at-a-time lock).
#[derive(Debug, Default)]
pub(crate) struct ShipState {
    /// Per tenant, the ranges uploaded but not truncated yet, oldest first.
    retained: HashMap<TenantId, Vec<Shipped>>,
}

/// What one shipping pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipOutcome {
    pub blocks_uploaded: usize,
    /// Failures (each tenant stops at its first; later passes retry).
    pub errors: Vec<String>,
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
        let mut outcome = ShipOutcome::default();
        for (tenant, db) in tenants {
            let retained = state.retained.entry(tenant.clone()).or_default();
            let result = self
                .ship_tenant(&tenant, &db, force, retained, &mut outcome)
                .await;
            if let Err(e) = result {
                tracing::error!(tenant = %tenant, error = %e, "block shipping failed; retrying on the next tick");
                outcome.errors.push(e.to_string());
            }
        }
        outcome
    }

    async fn ship_tenant(
        &self,
        tenant: &TenantId,
        db: &Arc<TenantDb>,
        force: bool,
        retained: &mut Vec<Shipped>,
        outcome: &mut ShipOutcome,
    ) -> Result<(), IngesterError> {
        let config = &self.config.metrics;
        let block_ms = config.block_duration.as_millis() as i64;
        let grace_ms = config.effective_block_cut_grace().as_millis() as i64;
        let flush_until = db.time_range().filter(|_| force).map(|(_, max)| max);
        for _ in 0..MAX_BLOCKS_PER_PASS {
            // the head may still hold shipped data: cutting goes on where shipping stopped
            let range = db
                .time_range()
                .map(|(min, max)| (min.max(db.shipped_until()), max));
            let Some(boundary) = next_boundary(range, block_ms, grace_ms, flush_until) else {
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

    /// Cuts the block ending at `boundary` and uploads it; whether a block was uploaded (a
    /// range may hold nothing, e.g. only rejected samples).
    async fn ship_block(
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
        let block = tokio::task::spawn_blocking(move || cut_db.cut_block(boundary, source))
            .await
            .map_err(|e| IngesterError::Task(e.to_string()))?
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
        let recorded = tokio::task::spawn_blocking(move || shipped_db.set_shipped_until(boundary))
            .await
            .map_err(|e| IngesterError::Task(e.to_string()))?;
        if let Err(e) = recorded {
            // kept in memory anyway; after a restart the range may be cut (and deduplicated) again
            tracing::warn!(tenant = %tenant, boundary, error = %e, "cannot persist the shipped bound");
        }
        Ok(uploaded)
    }

    /// Truncates the head up to the newest range shipped `retain_after_upload` ago, if any.
    async fn truncate_retained(
        &self,
        tenant: &TenantId,
        db: &Arc<TenantDb>,
        retained: &mut Vec<Shipped>,
    ) -> Result<(), IngesterError> {
        let retain = self.config.metrics.retain_after_upload;
        let Some(boundary) = truncation_due(retained, retain, (self.clock)()) else {
            return Ok(());
        };
        self.truncate(tenant, db, boundary).await?;
        retained.retain(|(b, _)| *b > boundary);
        Ok(())
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
        for (file, bytes) in &files {
            let key = block_object_key(Signal::Metrics, tenant, id, file);
            let put = self.store.put(&key, PutPayload::from(bytes.clone())).await;
            if let Err(e) = put {
                self.metrics.count_upload_failure();
                return Err(IngesterError::Upload {
                    tenant: tenant.to_string(),
                    block_id: id.clone(),
                    source: StorageError::from(e),
                });
            }
        }
        let bytes = files.iter().map(|(_, b)| b.len() as u64).sum();
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

    async fn truncate(
        &self,
        tenant: &TenantId,
        db: &Arc<TenantDb>,
        boundary: i64,
    ) -> Result<(), IngesterError> {
        let db = db.clone();
        let stats = tokio::task::spawn_blocking(move || db.truncate(boundary))
            .await
            .map_err(|e| IngesterError::Task(e.to_string()))?
            .map_err(|source| IngesterError::Truncate {
                tenant: tenant.to_string(),
                source,
            })?;
        self.metrics.observe_truncation(&stats);
        Ok(())
    }

    /// Rewrites the bucket index of every tenant with blocks in storage; returns how many were
    /// updated. Failures are logged: readers fall back to listing, the next upload retries.
    pub async fn refresh_bucket_indexes(&self) -> usize {
        let tenants = match list_tenants(&*self.store, Signal::Metrics).await {
            Ok(tenants) => tenants,
            Err(e) => {
                tracing::warn!(error = %e, "listing tenants for the bucket index refresh failed");
                return 0;
            }
        };
        let mut updated = 0;
        for tenant in tenants {
            match update_bucket_index(&*self.store, Signal::Metrics, &tenant).await {
                Ok(_) => updated += 1,
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "bucket index refresh failed")
                }
            }
        }
        updated
    }

    /// The shipper's lifecycle, for the service manager: a timer every
    /// `block_check_interval`; stopping cancels it without cutting partial blocks.
    pub fn shipper_service(self: &Arc<Self>) -> Arc<dyn Service> {
        Arc::new(BlockShipperService {
            ingester: self.clone(),
            cancel: CancellationToken::new(),
        })
    }
}

/// Runs [`MetricsIngester::ship_due_blocks`] on a timer.
pub struct BlockShipperService {
    ingester: Arc<MetricsIngester>,
    cancel: CancellationToken,
}

impl Service for BlockShipperService {
    fn name(&self) -> &str {
        "ingester-metrics-shipper"
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        let ingester = self.ingester.clone();
        let cancel = self.cancel.clone();
        let period = ingester.config.metrics.block_check_interval;
        Box::pin(async move {
            // an ingester killed between an upload and its bucket index update left the index
            // behind the blocks; bring every tenant's index up to date before shipping again
            let refresh = ingester.refresh_bucket_indexes();
            if tokio::time::timeout(BUCKET_INDEX_REFRESH_TIMEOUT, refresh)
                .await
                .is_err()
            {
                tracing::warn!(
                    "bucket index refresh at start timed out; the next upload refreshes it"
                );
            }
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tick.tick() => { ingester.ship_due_blocks().await; }
                    }
                }
            });
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        self.cancel.cancel();
        // wait for a pass in progress, so its upload and truncation finish cleanly
        Box::pin(async move {
            let _ = self.ingester.shipping.lock().await;
            Ok(())
        })
    }
}
