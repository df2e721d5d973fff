//! [`Compactor`], one compaction run over every tenant of the signals it was given
//! ([`Compactor::run_once`]), and [`CompactorService`], which runs it shortly after start and
//! then every `compaction_interval` until stopped. The order of a run (tenant deletion,
//! passes, compaction, downsampling, cleanup) is documented in `passes`. The
//! `/compactor/ring` page is in `service/http.rs`.

mod http;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryFutureExt};
use object_store::ObjectStore;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use sextant_kit::service::{BoxError, Service};
use sextant_model::{Signal, TenantId};
use sextant_storage::{list_blocks, list_tenants, mark_block_for_deletion};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use http::compactor_router;

use crate::config::{duration_ms, CompactorConfig};
use crate::deletion::{
    delete_marked_tenants, list_log_deletion_tenants, tenant_marked_for_deletion,
};
use crate::downsample::{downsample_levels, DownsampleScope, Downsampler};
use crate::error::{storage_error, CompactorError};
use crate::instrumentation::{CompactorMetrics, RunOutcome};
use crate::passes::{CompactorTenantLimits, LogDeletionPass, RetentionPass};
use crate::planner::{
    plan_compaction, CompactionJob, CompactionPlan, PlannerBlock, PlannerSettings,
};
use crate::retention::CompactorRetentionMetrics;
use crate::runner::{
    cleanup_tenant, now_ms, planner_blocks, run_job, update_index, CleanupSettings, MetaCache,
};
use crate::sharding::CompactorSharding;
use crate::signals::{signal_compaction, SignalCompaction};

/// The longest wait before the first run.
const MAX_START_JITTER: Duration = Duration::from_secs(10);

/// What one run did, summed over signals and tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Tenants seen (owned or not).
    pub tenants: usize,
    /// Jobs this compactor ran, and how many of them failed.
    pub jobs: usize,
    pub jobs_failed: usize,
    pub blocks_compacted: usize,
    pub blocks_written: usize,
    /// Redundant blocks marked (sources of a block written by an earlier, cut short run, and
    /// downsampled blocks a newer downsampled block holds entirely).
    pub redundant_marked: usize,
    pub blocks_deleted: usize,
    /// Blocks left alone for their newer format version.
    pub blocks_skipped_version: usize,
    /// Tenants marked for deletion whose objects this run deleted (per signal).
    pub tenants_deleted: usize,
    /// Downsampled blocks written.
    pub blocks_downsampled: usize,
    /// One line per failure (a failed tenant or job; the next run retries).
    pub errors: Vec<String>,
}

/// A per-tenant pass run by the owner of the tenant before its compaction is planned (the
/// standard ones, log deletion requests and retention, are in `passes` and plugged in by
/// [`Compactor::with_standard_passes`]; others with [`Compactor::with_tenant_pass`]). A
/// failure is logged and listed in the summary; compaction of the tenant goes on.
pub trait TenantPass: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Runs the pass on one tenant's `signal` blocks as compactor `instance_id`.
    fn run<'a>(
        &'a self,
        store: &'a dyn ObjectStore,
        signal: Signal,
        tenant: &'a TenantId,
        instance_id: &'a str,
    ) -> BoxFuture<'a, Result<(), CompactorError>>;
}

/// One signal this compactor compacts.
struct SignalShard {
    compaction: Arc<dyn SignalCompaction>,
    sharding: CompactorSharding,
}

/// The compactor of a set of signals over one bucket.
pub struct Compactor {
    config: CompactorConfig,
    store: Arc<dyn ObjectStore>,
    shards: Vec<SignalShard>,
    metrics: CompactorMetrics,
    /// Block metas read so far, per signal and tenant.
    metas: Mutex<HashMap<(Signal, TenantId), MetaCache>>,
    /// The tenants of the last run, per signal (for the status page).
    tenants: Mutex<BTreeMap<Signal, Vec<TenantId>>>,
    /// Run on each owned tenant before compaction, in order.
    tenant_passes: Vec<Arc<dyn TenantPass>>,
    /// Set by [`Compactor::with_standard_passes`]: tenant deletion runs once per signal.
    tenant_deletion: Option<CompactorRetentionMetrics>,
    /// Set by [`Compactor::with_standard_passes`] when downsampling is enabled.
    downsampler: Option<Downsampler>,
}

impl Compactor {
    /// A compactor of `shards`' signals (each with its ring view) over `store`; registers its
    /// metrics on `registry`.
    pub fn new(
        config: CompactorConfig,
        store: Arc<dyn ObjectStore>,
        shards: Vec<(Signal, CompactorSharding)>,
        registry: &mut Registry,
    ) -> Result<Self, CompactorError> {
        config.validate()?;
        let shards = shards
            .into_iter()
            .map(|(signal, sharding)| SignalShard {
                compaction: signal_compaction(signal),
                sharding,
            })
            .collect();
        Ok(Compactor {
            config,
            store,
            shards,
            metrics: CompactorMetrics::new(registry),
            metas: Mutex::new(HashMap::new()),
            tenants: Mutex::new(BTreeMap::new()),
            tenant_passes: Vec::new(),
            tenant_deletion: None,
            downsampler: None,
        })
    }

    /// Adds a pass run on each tenant this compactor owns, before its compaction.
    pub fn with_tenant_pass(mut self, pass: Arc<dyn TenantPass>) -> Self {
        self.tenant_passes.push(pass);
        self
    }

    /// Adds the standard passes (see `passes`): deletion of tenants marked for deletion, then
    /// per owned tenant log deletion requests (logs), retention with `limits` (each tenant's
    /// limits, runtime overrides included) and, after compaction, downsampling (metrics, when
    /// `downsampling.enabled`). Registers their metrics on `registry`.
    pub fn with_standard_passes(
        mut self,
        limits: CompactorTenantLimits,
        registry: &mut Registry,
    ) -> Self {
        let metrics = CompactorRetentionMetrics::new(registry);
        let cancel_period = self.config.delete_request_cancel_period;
        self.tenant_deletion = Some(metrics.clone());
        if self.config.downsampling.enabled {
            self.downsampler = Some(Downsampler::new(&self.config.downsampling, registry));
        }
        self.with_tenant_pass(Arc::new(LogDeletionPass::new(
            cancel_period,
            metrics.clone(),
        )))
        .with_tenant_pass(Arc::new(RetentionPass::new(limits, metrics)))
    }

    pub fn config(&self) -> &CompactorConfig {
        &self.config
    }

    /// One run over every signal and tenant. Failures of a tenant or a job are logged and
    /// listed in the summary (the next run retries); the run fails only when listing a
    /// signal's tenants does (after the other signals ran).
    pub async fn run_once(&self) -> Result<RunSummary, CompactorError> {
        let mut summary = RunSummary::default();
        let mut first_error = None;
        for shard in &self.shards {
            let signal = shard.compaction.signal();
            let started = Instant::now();
            let errors_before = summary.errors.len();
            let result = self.run_signal(shard, &mut summary).await;
            let outcome = match result.is_ok() && summary.errors.len() == errors_before {
                true => RunOutcome::Success,
                false => RunOutcome::Failure,
            };
            let seconds = started.elapsed().as_secs_f64();
            self.metrics.run_finished(signal, outcome, seconds);
            if let Err(e) = result {
                tracing::warn!(signal = signal.as_str(), error = %e, "compaction run failed");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }

    /// One signal's run: marked tenants deleted, then every tenant (logs: and the tenants
    /// with deletion requests only); failures listed in `summary`.
    async fn run_signal(
        &self,
        shard: &SignalShard,
        summary: &mut RunSummary,
    ) -> Result<(), CompactorError> {
        let signal = shard.compaction.signal();
        let tenants = list_tenants(self.store.as_ref(), signal)
            .await
            .map_err(|source| CompactorError::Storage {
                operation: "listing tenants",
                signal: signal.as_str(),
                tenant: String::new(),
                source,
            })?;
        self.tenants.lock().insert(signal, tenants.clone());
        self.delete_marked_tenants(shard, summary).await;
        let mut oldest_upload_ms: Option<i64> = None;
        for tenant in &tenants {
            summary.tenants += 1;
            match self.compact_tenant(shard, tenant, summary).await {
                Ok(oldest) => oldest_upload_ms = earliest(oldest_upload_ms, oldest),
                Err(e) => {
                    tracing::warn!(%tenant, signal = signal.as_str(), error = %e, "compacting a tenant failed");
                    summary.errors.push(e.to_string());
                }
            }
        }
        if signal == Signal::Logs {
            self.run_request_only_tenants(shard, &tenants, summary)
                .await;
        }
        let age_s = oldest_upload_ms.map_or(0, |t| (now_ms() - t).max(0) / 1000);
        self.metrics.set_oldest_uncompacted_age(signal, age_s);
        Ok(())
    }

    /// Deletes the objects of the owned tenants marked for deletion (a standard pass).
    async fn delete_marked_tenants(&self, shard: &SignalShard, summary: &mut RunSummary) {
        let Some(metrics) = &self.tenant_deletion else {
            return;
        };
        let signal = shard.compaction.signal();
        let owns = |t: &TenantId| shard.sharding.owns_tenant(t);
        match delete_marked_tenants(self.store.as_ref(), signal, &owns, metrics).await {
            Ok(outcome) => {
                self.metrics.blocks_deleted(signal, outcome.blocks_deleted);
                summary.blocks_deleted += outcome.blocks_deleted;
                summary.tenants_deleted += outcome.tenants.len();
            }
            Err(e) => {
                tracing::warn!(signal = signal.as_str(), error = %e, "deleting marked tenants failed");
                summary.errors.push(e.to_string());
            }
        }
    }

    /// Runs the passes on the owned tenants that have log deletion requests but no blocks
    /// (not in `listed`), so that their requests are reported processed.
    async fn run_request_only_tenants(
        &self,
        shard: &SignalShard,
        listed: &[TenantId],
        summary: &mut RunSummary,
    ) {
        if self.tenant_passes.is_empty() {
            return;
        }
        let tenants = match list_log_deletion_tenants(self.store.as_ref()).await {
            Ok(tenants) => tenants,
            Err(e) => {
                tracing::warn!(error = %e, "listing the tenants of log deletion requests failed");
                summary.errors.push(e.to_string());
                return;
            }
        };
        let unlisted = tenants.iter().filter(|t| !listed.contains(t));
        for tenant in unlisted.filter(|t| shard.sharding.owns_tenant(t)) {
            summary.tenants += 1;
            self.run_tenant_passes(shard, tenant, summary).await;
        }
    }

    /// Plans one tenant, runs the jobs this compactor owns and, if it owns the tenant, marks
    /// redundant blocks, downsamples and cleans up. Returns the upload time of the oldest
    /// block waiting. A tenant marked for deletion is left alone.
    async fn compact_tenant(
        &self,
        shard: &SignalShard,
        tenant: &TenantId,
        summary: &mut RunSummary,
    ) -> Result<Option<i64>, CompactorError> {
        let signal = shard.compaction.signal();
        let store = self.store.as_ref();
        if tenant_marked_for_deletion(store, signal, tenant).await? {
            tracing::debug!(%tenant, signal = signal.as_str(), "tenant marked for deletion: not compacted");
            return Ok(None);
        }
        let owns_tenant = shard.sharding.owns_tenant(tenant);
        if owns_tenant {
            self.run_tenant_passes(shard, tenant, summary).await;
        }
        let blocks = match owns_tenant {
            true => update_index(store, signal, tenant).await?.blocks,
            false => list_blocks(store, signal, tenant)
                .await
                .map_err(storage_error("listing blocks", signal, tenant))?,
        };
        let plan = self.plan_tenant(shard, tenant, &blocks).await?;
        if !plan.unsupported.is_empty() {
            tracing::warn!(%tenant, signal = signal.as_str(), blocks = ?plan.unsupported, "blocks of a newer format version left alone");
            self.metrics
                .blocks_skipped_version(signal, plan.unsupported.len());
            summary.blocks_skipped_version += plan.unsupported.len();
        }
        if owns_tenant && !(plan.redundant.is_empty() && plan.stale.is_empty()) {
            self.mark_redundant(signal, tenant, &plan.redundant, &plan.stale)
                .await?;
            summary.redundant_marked += plan.redundant.len() + plan.stale.len();
        }
        self.run_jobs(shard, &plan, summary).await;
        if signal == Signal::Metrics {
            let owned = self
                .downsample_tenant(shard, tenant, owns_tenant, &plan, summary)
                .await;
            if let Err(e) = owned {
                tracing::warn!(%tenant, error = %e, "downsampling a tenant failed");
                summary.errors.push(format!("downsampling: {e}"));
            }
        }
        if owns_tenant {
            let deleted =
                cleanup_tenant(store, signal, tenant, self.cleanup_settings(), now_ms()).await?;
            let n = deleted.blocks_deleted + deleted.partial_blocks_deleted;
            self.metrics.blocks_deleted(signal, n);
            summary.blocks_deleted += n;
        }
        Ok(plan.oldest_uncompacted_upload_ms)
    }

    async fn run_tenant_passes(
        &self,
        shard: &SignalShard,
        tenant: &TenantId,
        summary: &mut RunSummary,
    ) {
        let signal = shard.compaction.signal();
        let instance_id = shard.sharding.instance_id();
        for pass in &self.tenant_passes {
            let result = pass
                .run(self.store.as_ref(), signal, tenant, instance_id)
                .await;
            if let Err(e) = result {
                tracing::warn!(%tenant, signal = signal.as_str(), pass = pass.name(), error = %e, "tenant pass failed");
                summary.errors.push(format!("{}: {e}", pass.name()));
            }
        }
    }

    /// Downsamples the tenant's blocks of the windows this compactor owns, after its jobs
    /// ran (see `downsample`); the tenant's owner also refreshes the bucket index first.
    async fn downsample_tenant(
        &self,
        shard: &SignalShard,
        tenant: &TenantId,
        owns_tenant: bool,
        plan: &CompactionPlan,
        summary: &mut RunSummary,
    ) -> Result<(), CompactorError> {
        let Some(downsampler) = &self.downsampler else {
            return Ok(());
        };
        let store = self.store.as_ref();
        let signal = shard.compaction.signal();
        let blocks = match owns_tenant {
            true => update_index(store, signal, tenant).await?.blocks,
            false => list_blocks(store, signal, tenant)
                .await
                .map_err(storage_error("listing blocks", signal, tenant))?,
        };
        let blocks = self.read_planner_blocks(shard, tenant, &blocks).await?;
        let busy: HashSet<String> = plan.jobs.iter().flat_map(|j| j.sources.clone()).collect();
        let largest_range_ms = self.config.block_ranges_ms().last().copied().unwrap_or(1);
        let owns = |b: &PlannerBlock| {
            let key = window_shard_key(b.min_time_ms, largest_range_ms);
            shard.sharding.owns_job(tenant, &key)
        };
        let scope = DownsampleScope {
            busy: &busy,
            owns: &owns,
        };
        let instance_id = shard.sharding.instance_id();
        let outcome = downsampler
            .run(store, tenant, instance_id, blocks, &scope, now_ms())
            .await?;
        self.metrics.blocks_marked(signal, outcome.blocks_marked);
        summary.blocks_downsampled += outcome.blocks_downsampled;
        summary.redundant_marked += outcome.blocks_marked;
        summary.errors.extend(outcome.errors);
        Ok(())
    }

    /// The planner's view of `blocks`, metas read through the cache.
    async fn read_planner_blocks(
        &self,
        shard: &SignalShard,
        tenant: &TenantId,
        blocks: &[sextant_storage::BucketBlock],
    ) -> Result<Vec<PlannerBlock>, CompactorError> {
        let key = (shard.compaction.signal(), tenant.clone());
        let mut cache = self.metas.lock().remove(&key).unwrap_or_default();
        let read = planner_blocks(
            self.store.as_ref(),
            shard.compaction.as_ref(),
            tenant,
            blocks,
            &mut cache,
        )
        .await;
        self.metas.lock().insert(key, cache);
        read
    }

    async fn plan_tenant(
        &self,
        shard: &SignalShard,
        tenant: &TenantId,
        blocks: &[sextant_storage::BucketBlock],
    ) -> Result<CompactionPlan, CompactorError> {
        let signal = shard.compaction.signal();
        let read = self.read_planner_blocks(shard, tenant, blocks).await;
        let block_ranges_ms = self.config.block_ranges_ms();
        let largest_range_ms = block_ranges_ms.iter().copied().max().unwrap_or(0);
        let downsampling = &self.config.downsampling;
        let settings = PlannerSettings {
            block_ranges_ms,
            first_level_wait_ms: duration_ms(self.config.first_level_compaction_wait_period),
            downsampled_range_ms: downsampling.block_range_ms(),
            // a window's days must be final and downsampled before the window is merged
            downsampled_ready_after_ms: downsample_levels(downsampling)
                .iter()
                .map(|l| (l.resolution_ms, l.after_ms.saturating_add(largest_range_ms)))
                .collect(),
        };
        Ok(plan_compaction(tenant, signal, &read?, &settings, now_ms()))
    }

    /// Marks the plan's redundant and stale blocks for deletion, then updates the index.
    async fn mark_redundant(
        &self,
        signal: Signal,
        tenant: &TenantId,
        redundant: &[String],
        stale: &[String],
    ) -> Result<(), CompactorError> {
        let store = self.store.as_ref();
        for id in redundant {
            tracing::info!(%tenant, signal = signal.as_str(), block = id, "marking a block another block holds entirely");
        }
        for id in stale {
            tracing::info!(%tenant, signal = signal.as_str(), block = id, "marking a downsampled block that lacks a raw block of its range (late data): its range is downsampled again");
        }
        for id in redundant.iter().chain(stale) {
            mark_block_for_deletion(store, signal, tenant, id)
                .await
                .map_err(storage_error(
                    "marking a block for deletion",
                    signal,
                    tenant,
                ))?;
        }
        self.metrics
            .blocks_marked(signal, redundant.len() + stale.len());
        update_index(store, signal, tenant).await?;
        Ok(())
    }

    /// Runs the plan's jobs this compactor owns, `max_concurrent_jobs` at once.
    async fn run_jobs(&self, shard: &SignalShard, plan: &CompactionPlan, summary: &mut RunSummary) {
        let signal = shard.compaction.signal();
        let largest_range_ms = self.config.block_ranges_ms().last().copied().unwrap_or(1);
        let owned = plan.jobs.iter().filter(|j| {
            let key = shard_key(j, largest_range_ms);
            shard.sharding.owns_job(&j.tenant, &key)
        });
        let store = self.store.as_ref();
        let instance_id = shard.sharding.instance_id();
        let runs: Vec<BoxFuture<'_, _>> = owned
            .map(|job| {
                run_job(store, &shard.compaction, instance_id, job)
                    .map_err(move |e| (job, e))
                    .boxed()
            })
            .collect();
        let mut results =
            futures::stream::iter(runs).buffer_unordered(self.config.max_concurrent_jobs.max(1));
        while let Some(result) = results.next().await {
            summary.jobs += 1;
            match result {
                Ok(outcome) => {
                    let saved = outcome.source_bytes.saturating_sub(outcome.output_bytes);
                    let written = outcome.new_block.is_some();
                    self.metrics
                        .job_succeeded(signal, outcome.blocks_compacted, written, saved);
                    summary.blocks_compacted += outcome.blocks_compacted;
                    summary.blocks_written += usize::from(written);
                }
                Err((job, e)) => {
                    tracing::warn!(tenant = %job.tenant, signal = signal.as_str(), group = job.group_key, error = %e, "compaction job failed");
                    self.metrics.job_failed(signal);
                    summary.jobs_failed += 1;
                    summary.errors.push(e.to_string());
                }
            }
        }
    }

    fn cleanup_settings(&self) -> CleanupSettings {
        CleanupSettings {
            deletion_delay_ms: duration_ms(self.config.deletion_delay),
            partial_block_deletion_delay_ms: duration_ms(self.config.partial_block_deletion_delay),
        }
    }

    /// Each signal's ring view, for the status page.
    fn shardings(&self) -> impl Iterator<Item = (Signal, &CompactorSharding)> {
        self.shards
            .iter()
            .map(|s| (s.compaction.signal(), &s.sharding))
    }

    /// The tenants of the last run of `signal`.
    fn last_tenants(&self, signal: Signal) -> Vec<TenantId> {
        self.tenants
            .lock()
            .get(&signal)
            .cloned()
            .unwrap_or_default()
    }
}

/// The earlier of two optional times.
fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The compactor's lifecycle (`compactor`): a first run after a short random delay, then one
/// every `compaction_interval`; stopping drops a run in progress (the bucket stays consistent,
/// the next start completes it).
pub struct CompactorService {
    compactor: Arc<Compactor>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl CompactorService {
    pub fn new(compactor: Arc<Compactor>) -> Self {
        CompactorService {
            compactor,
            cancel: CancellationToken::new(),
            task: Mutex::new(None),
        }
    }

    pub fn compactor(&self) -> &Arc<Compactor> {
        &self.compactor
    }
}

/// What a job is sharded by: its tenant's window of the largest block range. Every job that
/// may touch the same blocks (a replica merge, then the merge of its larger window, planned by
/// compactors that saw the bucket at different moments) goes to the same compactor, so no
/// block is compacted by two at once; a big tenant's windows still spread over compactors.
fn shard_key(job: &CompactionJob, largest_range_ms: i64) -> String {
    window_shard_key(job.range_start_ms, largest_range_ms)
}

/// The shard key of the window of the largest block range holding `time_ms` (also what
/// downsampling shards a block by, its min time: it runs where its window is compacted).
fn window_shard_key(time_ms: i64, largest_range_ms: i64) -> String {
    let window = time_ms.div_euclid(largest_range_ms.max(1));
    format!("{}", window * largest_range_ms.max(1))
}

/// A random delay below `min(interval, MAX_START_JITTER)`.
fn start_jitter(interval: Duration) -> Duration {
    let max_ms = interval.min(MAX_START_JITTER).as_millis() as u64;
    Duration::from_millis(rand::random_range(0..=max_ms))
}

async fn run_forever(compactor: Arc<Compactor>, cancel: CancellationToken) {
    let interval = compactor.config.compaction_interval;
    let mut wait = start_jitter(interval);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            result = compactor.run_once() => match result {
                Ok(s) => tracing::info!(tenants = s.tenants, jobs = s.jobs, failed = s.jobs_failed, compacted = s.blocks_compacted, deleted = s.blocks_deleted, errors = s.errors.len(), "compaction run done"),
                Err(e) => tracing::warn!(error = %e, "compaction run had failures"),
            },
        }
        wait = interval;
    }
}

impl Service for CompactorService {
    fn name(&self) -> &str {
        "compactor"
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        let task = tokio::spawn(run_forever(self.compactor.clone(), self.cancel.clone()));
        *self.task.lock() = Some(task);
        Box::pin(async { Ok(()) })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        self.cancel.cancel();
        let task = self.task.lock().take();
        Box::pin(async move {
            if let Some(task) = task {
                task.await?;
            }
            Ok(())
        })
    }
}
