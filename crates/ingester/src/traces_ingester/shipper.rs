//! The traces block shipper (Tempo's flush loop): every `block_check_interval` it completes
//! the traces idle for `trace_idle_period` (or live for `max_trace_live`), and while a
//! tenant's completed traces are due for a block (the oldest waited `max_block_duration`, or
//! they hold `max_block_bytes`) it cuts them, writes the block on the blocking pool, uploads
//! `data`, `index`, `bloom`, `search` and then `meta.json` (present = complete) under
//! `traces/<tenant>/<block-id>/`, and refreshes the tenant's bucket index.
//!
//! A cut's traces stay in memory (and are served) for `retain_after_upload` after their
//! upload, then they are released and the WAL segments nothing needs any more are deleted.
//! A block whose upload or index update failed is kept, encoded, and uploaded again under
//! the same ID on the next tick; its traces stay served and in the WAL meanwhile (after a
//! restart they are replayed as live traces and shipped again; queriers deduplicate spans).
//!
//! `POST /ingester/traces/flush` completes every trace and ships everything now (release
//! still waits for `retain_after_upload`); with `flush_on_shutdown` stopping does the same
//! and releases at once, so that the next start does not ship the traces again.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_kit::service::{BoxError, Service};
use sextant_model::{Signal, TenantId};
use sextant_storage::new_block_id;
use sextant_traces::block::{
    EncodedTracesBlock, TracesBlockError, TracesBlockOptions, TracesBlockWriter,
};
use sextant_traces::db::{TracesCut, TracesTenantDb};
use tokio::sync::Mutex as AsyncMutex;

use super::instrumentation::TracesShipperMetrics;
use super::TracesIngester;
use crate::block_schedule::MAX_BLOCKS_PER_PASS;
use crate::block_upload::{
    blocking, flush_router, flushed_on_shutdown, put_block_files, source_ingester,
    update_tenant_bucket_index, BlockShipper, ShipperService,
};
use crate::config::IngesterTracesConfig;
use crate::error::IngesterError;
use crate::ShipOutcome;

/// Where `POST` flushes the traces, whatever else the process runs.
pub const TRACES_FLUSH_PATH: &str = "/ingester/traces/flush";

/// What a pass ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// The timer: idle traces, due blocks, due releases.
    Due,
    /// Everything held, now; releases wait for `retain_after_upload`.
    Flush,
    /// Everything held, now, released right after the upload.
    Shutdown,
}

/// A written block waiting for its upload, and the cut it holds.
struct PendingBlock {
    seq: u64,
    block: EncodedTracesBlock,
}

/// What the shipper remembers of a tenant between passes.
#[derive(Default)]
struct TenantShipState {
    /// Written blocks not uploaded yet, oldest first.
    pending: VecDeque<PendingBlock>,
    /// Uploaded cuts not released yet: their sequence number and upload time.
    uploaded: Vec<(u64, SystemTime)>,
}

/// Completes, cuts, uploads and releases the traces of one [`TracesIngester`].
pub struct TracesShipper {
    ingester: Arc<TracesIngester>,
    store: Arc<dyn ObjectStore>,
    config: IngesterTracesConfig,
    /// Written into each block's meta as its source.
    instance_id: String,
    metrics: TracesShipperMetrics,
    /// One pass at a time; what each tenant has in flight.
    state: AsyncMutex<HashMap<TenantId, TenantShipState>>,
}

impl TracesShipper {
    /// A shipper uploading to `store`; its `sextant_ingester_traces_*` go to `registry`. An
    /// empty `instance_id` falls back to `$HOSTNAME`.
    pub fn new(
        ingester: Arc<TracesIngester>,
        config: IngesterTracesConfig,
        store: Arc<dyn ObjectStore>,
        instance_id: &str,
        registry: &mut Registry,
    ) -> Arc<Self> {
        Arc::new(TracesShipper {
            ingester,
            store,
            config,
            instance_id: source_ingester(instance_id),
            metrics: TracesShipperMetrics::new(registry),
            state: AsyncMutex::new(HashMap::new()),
        })
    }

    #[cfg(test)]
    pub(crate) fn metrics(&self) -> &TracesShipperMetrics {
        &self.metrics
    }

    /// Completes idle traces, cuts and uploads every block that is due, and releases what
    /// was uploaded at least `retain_after_upload` ago.
    pub async fn ship_due_blocks(&self) -> ShipOutcome {
        self.ship(Pass::Due).await
    }

    /// Completes every trace and uploads everything held now; releases still wait for
    /// `retain_after_upload`.
    pub async fn flush_blocks(&self) -> ShipOutcome {
        self.ship(Pass::Flush).await
    }

    async fn ship(&self, pass: Pass) -> ShipOutcome {
        let mut state = self.state.lock().await;
        let mut outcome = ShipOutcome::default();
        for (tenant, db) in self.ingester.tenant_dbs() {
            let tenant_state = state.entry(tenant.clone()).or_default();
            let result = self
                .ship_tenant(&tenant, &db, pass, tenant_state, &mut outcome)
                .await;
            if let Err(e) = result {
                self.metrics.count_failure();
                tracing::error!(%tenant, error = %e, "traces block shipping failed; retrying on the next tick");
                outcome.errors.push(e.to_string());
            }
        }
        self.ingester.refresh_live_traces();
        outcome
    }

    async fn ship_tenant(
        &self,
        tenant: &TenantId,
        db: &Arc<TracesTenantDb>,
        pass: Pass,
        state: &mut TenantShipState,
        outcome: &mut ShipOutcome,
    ) -> Result<(), IngesterError> {
        self.release_due(tenant, db, state, pass).await?;
        self.complete_traces(db, pass).await?;
        // blocks a previous pass could not upload go first
        self.upload_pending(tenant, state, outcome).await?;
        let force = pass != Pass::Due;
        for _ in 0..MAX_BLOCKS_PER_PASS {
            let Some(block) = self.cut_block(tenant, db, force).await? else {
                break;
            };
            state.pending.push_back(block);
            self.upload_pending(tenant, state, outcome).await?;
        }
        self.release_due(tenant, db, state, pass).await
    }

    /// Completes the idle (or too old) live traces; every live trace when flushing.
    async fn complete_traces(
        &self,
        db: &Arc<TracesTenantDb>,
        pass: Pass,
    ) -> Result<(), IngesterError> {
        let now_ms = self.ingester.now_ms();
        // a clock past every trace's idle and live periods completes them all
        let horizon = self.config.trace_idle_period + self.config.max_trace_live;
        let now_ms = match pass {
            Pass::Due => now_ms,
            Pass::Flush | Pass::Shutdown => {
                now_ms.saturating_add(millis(horizon)).saturating_add(1)
            }
        };
        let db = db.clone();
        blocking(move || db.cut_idle(now_ms)).await?;
        Ok(())
    }

    /// Cuts the tenant's completed traces when a block is due (always when `force`) and
    /// writes the block on the blocking pool.
    async fn cut_block(
        &self,
        tenant: &TenantId,
        db: &Arc<TracesTenantDb>,
        force: bool,
    ) -> Result<Option<PendingBlock>, IngesterError> {
        let now_ms = self.ingester.now_ms();
        let (age, bytes) = (self.config.max_block_duration, self.config.max_block_bytes);
        let cut_db = db.clone();
        let Some(cut) = blocking(move || cut_db.cut_block(now_ms, age, bytes, force)).await? else {
            return Ok(None);
        };
        let seq = cut.seq;
        let block_id = new_block_id((self.ingester.clock())());
        let options = TracesBlockOptions {
            page_bytes: self.config.block_page_size,
        };
        let source = self.instance_id.clone();
        let block = blocking(move || write_block(cut, options, block_id, source))
            .await?
            .map_err(|source| IngesterError::TracesBlock {
                tenant: tenant.to_string(),
                source,
            })?;
        Ok(Some(PendingBlock { seq, block }))
    }

    /// Uploads the pending blocks in order, each followed by a bucket index update; stops at
    /// the first failure (the block stays pending).
    async fn upload_pending(
        &self,
        tenant: &TenantId,
        state: &mut TenantShipState,
        outcome: &mut ShipOutcome,
    ) -> Result<(), IngesterError> {
        while let Some(pending) = state.pending.front() {
            self.upload(tenant, &pending.block).await?;
            update_tenant_bucket_index(&*self.store, Signal::Traces, tenant).await?;
            outcome.blocks_uploaded += 1;
            if let Some(done) = state.pending.pop_front() {
                state.uploaded.push((done.seq, (self.ingester.clock())()));
            }
        }
        Ok(())
    }

    /// Writes every file of the block, `meta.json` last.
    async fn upload(
        &self,
        tenant: &TenantId,
        block: &EncodedTracesBlock,
    ) -> Result<(), IngesterError> {
        let started = Instant::now();
        let id = &block.meta.block_id;
        let files = block.files();
        let bytes = put_block_files(&*self.store, Signal::Traces, tenant, id, &files).await?;
        self.metrics.observe_shipped(bytes);
        let meta = &block.meta;
        tracing::info!(
            %tenant, block = %id, min_time_ns = meta.min_time_ns, max_time_ns = meta.max_time_ns,
            traces = meta.traces, spans = meta.spans, bytes,
            ms = started.elapsed().as_millis() as u64, "traces block uploaded"
        );
        Ok(())
    }

    /// Releases the uploaded cuts whose retention is over (every one on shutdown).
    async fn release_due(
        &self,
        tenant: &TenantId,
        db: &Arc<TracesTenantDb>,
        state: &mut TenantShipState,
        pass: Pass,
    ) -> Result<(), IngesterError> {
        let now = (self.ingester.clock())();
        let retain = match pass {
            Pass::Shutdown => Duration::ZERO,
            Pass::Due | Pass::Flush => self.config.retain_after_upload,
        };
        let due = |at: &SystemTime| at.checked_add(retain).is_some_and(|t| t <= now);
        while let Some(&(seq, at)) = state.uploaded.first() {
            if !retain.is_zero() && !due(&at) {
                break;
            }
            let release_db = db.clone();
            let stats = blocking(move || release_db.release(seq))
                .await?
                .map_err(|source| IngesterError::TracesDb {
                    tenant: tenant.to_string(),
                    operation: "releasing shipped traces",
                    source,
                })?;
            self.metrics.observe_released(stats.traces);
            state.uploaded.remove(0);
        }
        Ok(())
    }

    /// `POST` on each of `paths` flushes the traces: 204 when every tenant shipped, 500
    /// listing the failures otherwise.
    pub fn router(self: &Arc<Self>, paths: &[&str]) -> Router {
        flush_router(self, paths)
    }

    /// The shipper's lifecycle: a timer every `block_check_interval`; stopping waits for a
    /// pass in progress, and with `flush_on_shutdown` ships and releases everything.
    pub fn service(self: &Arc<Self>) -> Arc<dyn Service> {
        Arc::new(ShipperService::new(self.clone()))
    }
}

impl BlockShipper for TracesShipper {
    fn signal(&self) -> Signal {
        Signal::Traces
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
            if !self.config.flush_on_shutdown {
                // wait for a pass in progress, so its upload finishes cleanly
                let _ = self.state.lock().await;
                return Ok(());
            }
            let outcome = self.ship(Pass::Shutdown).await;
            flushed_on_shutdown(Signal::Traces, &outcome)
        })
    }
}

/// The block of a cut's traces (sorted by ID, as the cut gives them).
fn write_block(
    cut: TracesCut,
    options: TracesBlockOptions,
    block_id: String,
    source_ingester: String,
) -> Result<EncodedTracesBlock, TracesBlockError> {
    let mut writer = TracesBlockWriter::new(options);
    for trace in cut.traces() {
        writer.add_trace(&trace)?;
    }
    writer.finish(block_id, source_ingester)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "shipper_tests.rs"]
mod tests;
