//! The standard per-tenant passes, plugged in by [`Compactor::with_standard_passes`]
//! (`service.rs`), and what a run does with them. Per signal, a run:
//!
//! 1. deletes every object of the tenants marked for deletion that this compactor owns
//!    (`deletion::delete_marked_tenants`; the marks stay, so late uploads go too);
//! 2. per tenant of the signal (logs: also the owned tenants that only have deletion
//!    requests), skipping tenants marked for deletion entirely (no compaction, no pass):
//!    if it owns the tenant, runs the [`TenantPass`]es in order: [`LogDeletionPass`] (logs
//!    only: Loki's deletion requests once their cancel period is over), then
//!    [`RetentionPass`] (`retention::apply_retention` with the tenant's limits);
//! 3. plans the tenant's compaction from the index the passes left (so rewritten and
//!    expired blocks are seen as such), marks redundant blocks and runs its jobs;
//! 4. metrics only, if it owns the tenant and downsampling is enabled: downsamples what is
//!    old enough (`downsample`), after the jobs, so that the merged blocks are downsampled
//!    rather than their parts, and skipping the sources of the plan's jobs;
//! 5. cleans up (deletes marked blocks after `deletion_delay`).
//!
//! A failing pass is logged and listed in the run's summary; the rest of the tenant goes on.
//! Tests through `Compactor::run_once`: `passes/tests.rs`.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use object_store::ObjectStore;
use sextant_model::{Signal, TenantId, TenantLimits};

use crate::deletion::process_log_deletions;
use crate::error::CompactorError;
use crate::retention::{apply_retention, CompactorRetentionMetrics};
use crate::runner::now_ms;
#[cfg(doc)]
use crate::service::Compactor;
use crate::service::TenantPass;

/// Each tenant's limits, runtime overrides included (`Overrides::limits`).
pub type CompactorTenantLimits = Arc<dyn Fn(&TenantId) -> Arc<TenantLimits> + Send + Sync>;

/// Retention of every signal with the tenant's current limits.
pub struct RetentionPass {
    limits: CompactorTenantLimits,
    metrics: CompactorRetentionMetrics,
}

impl RetentionPass {
    pub fn new(limits: CompactorTenantLimits, metrics: CompactorRetentionMetrics) -> Self {
        RetentionPass { limits, metrics }
    }
}

impl TenantPass for RetentionPass {
    fn name(&self) -> &'static str {
        "retention"
    }

    fn run<'a>(
        &'a self,
        store: &'a dyn ObjectStore,
        signal: Signal,
        tenant: &'a TenantId,
        instance_id: &'a str,
    ) -> BoxFuture<'a, Result<(), CompactorError>> {
        let limits = (self.limits)(tenant);
        async move {
            let metrics = &self.metrics;
            apply_retention(
                store,
                signal,
                tenant,
                &limits,
                now_ms(),
                instance_id,
                metrics,
            )
            .await
        }
        .map_ok(|_| ())
        .boxed()
    }
}

/// Loki's log deletion requests, applied once `cancel_period` has passed since each was
/// received (logs only; other signals are left alone).
pub struct LogDeletionPass {
    cancel_period: Duration,
    metrics: CompactorRetentionMetrics,
}

impl LogDeletionPass {
    pub fn new(cancel_period: Duration, metrics: CompactorRetentionMetrics) -> Self {
        LogDeletionPass {
            cancel_period,
            metrics,
        }
    }
}

impl TenantPass for LogDeletionPass {
    fn name(&self) -> &'static str {
        "log deletion requests"
    }

    fn run<'a>(
        &'a self,
        store: &'a dyn ObjectStore,
        signal: Signal,
        tenant: &'a TenantId,
        instance_id: &'a str,
    ) -> BoxFuture<'a, Result<(), CompactorError>> {
        if signal != Signal::Logs {
            return futures::future::ready(Ok(())).boxed();
        }
        let (period, metrics) = (self.cancel_period, &self.metrics);
        process_log_deletions(store, tenant, now_ms(), period, instance_id, metrics)
            .map_ok(|_| ())
            .boxed()
    }
}
