//! Log deletion requests (Loki's compactor API): a LogQL stream selector with optional line
//! filters and a time range; one JSON object per request under
//! `deletion-requests/logs/<tenant>/<id>.json`. The record ([`LogDeletionRequest`]) and its
//! listing live in `sextant_storage::deletion_requests`, the filter that says which entries a
//! request selects in `sextant_logs::deletion`: queriers read the same requests and filter
//! the selected entries at query time from the moment a request is stored (Loki's
//! `filter-and-delete` mode), so answers do not wait for this pass.
//!
//! [`process_log_deletions`] applies the requests older than the cancel period: every logs
//! block overlapping one is rewritten without the matching entries, then the request is
//! `processed` with the number of entries deleted. A processed request stays in force:
//! later passes apply it to blocks created after it was applied (`applied_through_ms`,
//! compared with the time in the block's ULID), such as blocks ingesters upload late or
//! compactions of blocks that were being merged meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sextant_logs::deletion::LogsDeletionFilter;
use sextant_model::{Labels, Signal, TenantId};
use sextant_storage::block_id::block_id_time_ms;
use sextant_storage::keys::{deletion_request_key, deletion_requests_root};
use sextant_storage::{list_blocks, update_bucket_index, BucketBlock, StorageError};
pub use sextant_storage::{LogDeletionRequest, LogDeletionStatus};

use crate::error::{storage_error, CompactorError};
use crate::retention::rewrite::{BlockRewriter, Rewritten};
use crate::retention::CompactorRetentionMetrics;

/// Loki's `delete_request_cancel_period` here: how long a request can be cancelled before the
/// compactor applies it. Loki defaults to 24h; 10 minutes keeps deletions prompt while
/// leaving time to cancel a mistake.
pub const DEFAULT_DELETE_REQUEST_CANCEL_PERIOD: Duration = Duration::from_secs(10 * 60);

/// How long after a pass blocks are still checked again for the requests it applied: a
/// block's ULID is made before its upload completes, so a block listed by no pass may carry
/// a time before the pass.
const LATE_UPLOAD_GRACE_MS: i64 = 10 * 60 * 1000;

/// What one [`process_log_deletions`] pass did for a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogDeletionOutcome {
    /// Requests that became `processed`.
    pub requests_processed: Vec<String>,
    pub entries_deleted: u64,
    /// Blocks replaced by a filtered copy, or emptied and marked.
    pub blocks_rewritten: usize,
    /// Blocks created after a processed request was applied that were checked against it.
    pub late_blocks_checked: usize,
    /// Blocks that failed (logged; their requests stay `received` and are retried).
    pub failures: usize,
}

/// Checks a deletion query: a stream selector and line filters only, regexes compiling.
pub fn validate_deletion_query(query: &str) -> Result<(), String> {
    LogsDeletionFilter::validate(query).map_err(|e| e.to_string())
}

/// A compiled request and the entries it deleted in this pass.
struct DeletionFilter {
    filter: LogsDeletionFilter,
    deleted: AtomicU64,
}

impl DeletionFilter {
    fn compile(query: &str, start_ms: i64, end_ms: i64) -> Result<DeletionFilter, String> {
        let filter =
            LogsDeletionFilter::compile(query, start_ms, end_ms).map_err(|e| e.to_string())?;
        Ok(DeletionFilter {
            filter,
            deleted: AtomicU64::new(0),
        })
    }

    fn selects(&self, labels: &Labels, ts_ns: i64, line: &str) -> bool {
        self.filter.selects(labels, ts_ns, line)
    }
}

/// Stores a new request.
pub async fn put_log_deletion_request(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    request: &LogDeletionRequest,
) -> Result<(), CompactorError> {
    let key = deletion_request_key(Signal::Logs, tenant, &request.request_id);
    let json = serde_json::to_vec(request).unwrap_or_default();
    store
        .put(&key, PutPayload::from(json))
        .await
        .map(|_| ())
        .map_err(StorageError::from)
        .map_err(storage_error(
            "writing a deletion request",
            Signal::Logs,
            tenant,
        ))
}

/// The tenant's requests, oldest first (`sextant_storage::list_log_deletion_requests`
/// with the compactor's error). An unreadable one is logged and skipped.
pub async fn list_log_deletion_requests(
    store: &dyn ObjectStore,
    tenant: &TenantId,
) -> Result<Vec<LogDeletionRequest>, CompactorError> {
    sextant_storage::list_log_deletion_requests(store, tenant)
        .await
        .map_err(storage_error(
            "reading deletion requests",
            Signal::Logs,
            tenant,
        ))
}

/// Removes a request; `Ok(false)` when the tenant has no such request.
pub async fn delete_log_deletion_request(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    request_id: &str,
) -> Result<bool, CompactorError> {
    let key = deletion_request_key(Signal::Logs, tenant, request_id);
    match store.delete(&key).await {
        Ok(()) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(storage_error(
            "cancelling a deletion request",
            Signal::Logs,
            tenant,
        )(e.into())),
    }
}

/// The tenants with log deletion requests (they may have no blocks).
pub async fn list_log_deletion_tenants(
    store: &dyn ObjectStore,
) -> Result<Vec<TenantId>, CompactorError> {
    let listing = store
        .list_with_delimiter(Some(&deletion_requests_root(Signal::Logs)))
        .await
        .map_err(|e| CompactorError::Storage {
            operation: "listing deletion request tenants",
            signal: Signal::Logs.as_str(),
            tenant: String::new(),
            source: e.into(),
        })?;
    Ok(listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename())
        .filter_map(|name| TenantId::parse(name).ok())
        .collect())
}

/// Applies the tenant's due requests (received at least `cancel_period` before `now_ms`) and
/// its processed requests to blocks created since they were applied, rewriting each affected
/// block once with all of them (as `instance_id`), then updates the bucket index and the
/// requests. A block that fails is retried by the next pass: the requests it concerns stay
/// `received` (entries already deleted are counted either way).
pub async fn process_log_deletions(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    now_ms: i64,
    cancel_period: Duration,
    instance_id: &str,
    metrics: &CompactorRetentionMetrics,
) -> Result<LogDeletionOutcome, CompactorError> {
    let cancel_ms = i64::try_from(cancel_period.as_millis()).unwrap_or(i64::MAX);
    let mut requests: Vec<LogDeletionRequest> = list_log_deletion_requests(store, tenant)
        .await?
        .into_iter()
        .filter(|r| {
            r.status == LogDeletionStatus::Processed
                || r.created_at_ms.saturating_add(cancel_ms) <= now_ms
        })
        .collect();
    if requests.is_empty() {
        return Ok(LogDeletionOutcome::default());
    }
    let filters = Arc::new(compile_filters(tenant, &requests));
    let blocks = list_blocks(store, Signal::Logs, tenant)
        .await
        .map_err(storage_error("listing blocks", Signal::Logs, tenant))?;
    let rewriter = BlockRewriter::new(store, Signal::Logs, tenant, instance_id);
    let mut outcome = LogDeletionOutcome::default();
    let mut failed_requests = vec![false; requests.len()];
    for block in &blocks {
        let applicable = applicable_requests(block, &requests, &filters);
        if applicable.is_empty() {
            continue;
        }
        if applicable
            .iter()
            .any(|&i| requests[i].status == LogDeletionStatus::Processed)
        {
            outcome.late_blocks_checked += 1;
        }
        match rewrite_block(&rewriter, &block.block_id, &filters, &applicable).await {
            Ok(Rewritten::Unchanged) => {}
            Ok(_) => outcome.blocks_rewritten += 1,
            Err(e) => {
                outcome.failures += 1;
                applicable.iter().for_each(|&i| failed_requests[i] = true);
                tracing::warn!(%tenant, block_id = block.block_id, error = %e, "applying deletion requests to a block failed");
            }
        }
    }
    if outcome.blocks_rewritten > 0 {
        update_bucket_index(store, Signal::Logs, tenant)
            .await
            .map_err(storage_error(
                "updating the bucket index",
                Signal::Logs,
                tenant,
            ))?;
    }
    for (i, request) in requests.iter_mut().enumerate() {
        let deleted = filters[i]
            .as_ref()
            .map_or(0, |f| f.deleted.load(Ordering::Relaxed));
        outcome.entries_deleted += deleted;
        request.entries_deleted += deleted;
        if failed_requests[i] || filters[i].is_none() {
            if deleted > 0 {
                put_log_deletion_request(store, tenant, request).await?;
            }
            continue;
        }
        if request.status == LogDeletionStatus::Received {
            request.status = LogDeletionStatus::Processed;
            request.processed_at_ms = now_ms;
            outcome.requests_processed.push(request.request_id.clone());
            metrics.deletion_requests_processed.inc();
        }
        request.applied_through_ms = now_ms.saturating_sub(LATE_UPLOAD_GRACE_MS);
        put_log_deletion_request(store, tenant, request).await?;
    }
    metrics.log_entries_deleted.inc_by(outcome.entries_deleted);
    if !outcome.requests_processed.is_empty() || outcome.entries_deleted > 0 {
        tracing::info!(%tenant, processed = ?outcome.requests_processed, entries_deleted = outcome.entries_deleted, blocks = outcome.blocks_rewritten, "log deletion requests applied");
    }
    Ok(outcome)
}

/// Each request's filter; `None` (logged) for one whose query no longer compiles.
fn compile_filters(
    tenant: &TenantId,
    requests: &[LogDeletionRequest],
) -> Vec<Option<DeletionFilter>> {
    requests
        .iter()
        .map(|r| {
            DeletionFilter::compile(&r.query, r.start_time_ms, r.end_time_ms)
                .inspect_err(|e| {
                    tracing::warn!(%tenant, request_id = r.request_id, error = %e, "deletion request with an invalid query skipped");
                })
                .ok()
        })
        .collect()
}

/// The requests (positions) to apply to `block`: those overlapping its time range that are
/// due, or processed before the block was created.
fn applicable_requests(
    block: &BucketBlock,
    requests: &[LogDeletionRequest],
    filters: &[Option<DeletionFilter>],
) -> Vec<usize> {
    let created_ms = block_id_time_ms(&block.block_id)
        .and_then(|ms| i64::try_from(ms).ok())
        .unwrap_or(0);
    requests
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            filters[*i].is_some()
                && block.min_time_ms <= r.end_time_ms
                && block.max_time_ms >= r.start_time_ms
                && (r.status == LogDeletionStatus::Received || created_ms > r.applied_through_ms)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Rewrites a block without the entries any of the `applicable` filters selects, counting
/// each deleted entry for the first filter selecting it.
async fn rewrite_block(
    rewriter: &BlockRewriter<'_>,
    block_id: &str,
    filters: &Arc<Vec<Option<DeletionFilter>>>,
    applicable: &[usize],
) -> Result<Rewritten, CompactorError> {
    let filters = filters.clone();
    let applicable = applicable.to_vec();
    let drop = Arc::new(move |labels: &Labels, ts_ns: i64, line: &str| {
        let hit = applicable.iter().find_map(|&i| {
            filters[i]
                .as_ref()
                .filter(|f| f.selects(labels, ts_ns, line))
        });
        hit.inspect(|f| {
            f.deleted.fetch_add(1, Ordering::Relaxed);
        })
        .is_some()
    });
    rewriter.rewrite_logs(block_id, drop).await
}
