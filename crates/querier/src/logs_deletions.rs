//! Log deletion requests applied at query time (Loki's default `filter-and-delete` mode).
//!
//! The compactor rewrites blocks without the entries a request selects only after the
//! request's cancel period, and data still in the ingesters reaches blocks later still. Until
//! then the querier drops the selected entries itself: [`LogsDeletions`] keeps each tenant's
//! requests (`deletion-requests/logs/<tenant>/`, read with
//! [`sextant_storage::list_log_deletion_requests`]) compiled into
//! [`LogsDeletionFilter`]s, and `LogsQuerier::select` removes the selected entries from the
//! merged streams (ingesters and blocks), dropping streams left empty. Log queries and
//! metric queries over logs (`count_over_time`, `rate`, ...) both read through `select`, so
//! both see the deletion.
//!
//! - Every stored request counts, `received` or `processed`: a processed request stays in
//!   force for blocks uploaded after the compactor applied it. A request whose query no
//!   longer compiles is logged and skipped (the API validates queries before storing them).
//! - A tenant's list is read again once it is older than `querier.bucket_index_refresh`, so
//!   a new request is honoured by every querier within that interval. Concurrent queries of
//!   a tenant share one read: the first one reads, the others wait for its list.
//! - A failed read fails the query (it never answers with entries it should have dropped),
//!   unless the tenant's previous list is younger than [`STALE_LISTING_FACTOR`] refresh
//!   intervals: that list only misses requests created since, which a fresh list would also
//!   miss for up to one interval, so it is reused (with a warning) and the read is retried
//!   by the next query.
//! - Label names and values, series and stats are not filtered (Loki does not filter them
//!   either): a stream whose entries were all deleted may still be listed until the
//!   compactor has rewritten its blocks and the ingesters have dropped it.
//!
//! `sextant_querier_logs_deleted_entries_filtered_total` counts the entries dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use sextant_logs::deletion::LogsDeletionFilter;
use sextant_logs::logql::eval::Stream;
use sextant_model::TenantId;
use sextant_storage::{list_log_deletion_requests, LogDeletionRequest};

use crate::source::QuerierError;

/// How many refresh intervals old a tenant's previous list may be and still answer queries
/// while the requests cannot be read.
pub(crate) const STALE_LISTING_FACTOR: u32 = 3;

/// A tenant's compiled requests and when they were read.
struct Listing {
    loaded: Instant,
    filters: Arc<Vec<LogsDeletionFilter>>,
}

/// One tenant's cache entry; the async lock is held while its list is read, so that
/// concurrent queries wait for one read instead of each reading.
type TenantSlot = Arc<tokio::sync::Mutex<Option<Listing>>>;

/// The cached, compiled log deletion requests of every tenant.
pub(crate) struct LogsDeletions {
    store: Arc<dyn ObjectStore>,
    refresh: Duration,
    tenants: parking_lot::Mutex<HashMap<TenantId, TenantSlot>>,
    filtered: Counter,
}

impl LogsDeletions {
    /// Reads requests from `store`, each tenant's list at most every `refresh`;
    /// `sextant_querier_logs_deleted_entries_filtered_total` goes to `registry`.
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        refresh: Duration,
        registry: &mut Registry,
    ) -> Self {
        let filtered = Counter::default();
        registry.register(
            "sextant_querier_logs_deleted_entries_filtered",
            "Log entries selected by a deletion request and dropped from query answers.",
            filtered.clone(),
        );
        LogsDeletions {
            store,
            refresh,
            tenants: parking_lot::Mutex::new(HashMap::new()),
            filtered,
        }
    }

    /// The tenant's requests whose time range meets `[start_ns, end_ns)`; `None` when there
    /// is none (nothing to filter).
    pub(crate) async fn applicable(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Option<LogsDeletionsApplied>, QuerierError> {
        self.applicable_at(tenant, start_ns, end_ns, Instant::now())
            .await
    }

    /// [`applicable`](Self::applicable) with the time judging the cache's age (tests).
    async fn applicable_at(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
        now: Instant,
    ) -> Result<Option<LogsDeletionsApplied>, QuerierError> {
        let filters = self.filters(tenant, now).await?;
        let overlapping: Vec<usize> = (0..filters.len())
            .filter(|&i| filters[i].overlaps(start_ns, end_ns))
            .collect();
        Ok((!overlapping.is_empty()).then(|| LogsDeletionsApplied {
            filters,
            overlapping,
            filtered: self.filtered.clone(),
        }))
    }

    /// The tenant's compiled requests: cached while younger than the refresh interval,
    /// else read again (see the module doc for a failed read).
    async fn filters(
        &self,
        tenant: &TenantId,
        now: Instant,
    ) -> Result<Arc<Vec<LogsDeletionFilter>>, QuerierError> {
        let slot = Arc::clone(self.tenants.lock().entry(tenant.clone()).or_default());
        let mut cached = slot.lock().await;
        let age = |l: &Listing| now.saturating_duration_since(l.loaded);
        if let Some(listing) = cached.as_ref().filter(|l| age(l) < self.refresh) {
            return Ok(Arc::clone(&listing.filters));
        }
        match self.load(tenant).await {
            Ok(filters) => {
                let filters = Arc::new(filters);
                *cached = Some(Listing {
                    loaded: now,
                    filters: Arc::clone(&filters),
                });
                Ok(filters)
            }
            Err(e) => {
                let reusable = self.refresh.saturating_mul(STALE_LISTING_FACTOR);
                match cached.as_ref().filter(|l| age(l) < reusable) {
                    Some(listing) => {
                        tracing::warn!(%tenant, error = %e, age_ms = age(listing).as_millis(), "reading log deletion requests failed, reusing the previous list");
                        Ok(Arc::clone(&listing.filters))
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// Reads and compiles the tenant's requests (compiling off the runtime: regexes).
    async fn load(&self, tenant: &TenantId) -> Result<Vec<LogsDeletionFilter>, QuerierError> {
        let requests = list_log_deletion_requests(self.store.as_ref(), tenant)
            .await
            .map_err(|e| {
                QuerierError::Blocks(format!(
                    "cannot read the log deletion requests of {tenant}: {e}"
                ))
            })?;
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let tenant = tenant.clone();
        let filters = tokio::task::spawn_blocking(move || compile(&tenant, &requests))
            .await
            .map_err(|e| QuerierError::Blocks(format!("compiling deletion requests: {e}")))?;
        Ok(filters)
    }
}

/// Each request's filter; one whose query does not compile is logged and skipped.
fn compile(tenant: &TenantId, requests: &[LogDeletionRequest]) -> Vec<LogsDeletionFilter> {
    requests
        .iter()
        .filter_map(|r| {
            LogsDeletionFilter::compile(&r.query, r.start_time_ms, r.end_time_ms)
                .inspect_err(|e| {
                    tracing::warn!(%tenant, request_id = r.request_id, error = %e, "log deletion request with an invalid query ignored");
                })
                .ok()
        })
        .collect()
}

/// The requests that apply to one select. Cheap to clone; `Send`, so it can go with the
/// streams to a blocking thread.
#[derive(Clone)]
pub(crate) struct LogsDeletionsApplied {
    filters: Arc<Vec<LogsDeletionFilter>>,
    /// Positions in `filters` of the requests overlapping the select's range.
    overlapping: Vec<usize>,
    filtered: Counter,
}

impl LogsDeletionsApplied {
    /// `streams` without the entries any request selects, streams left empty dropped;
    /// counts the entries dropped.
    pub(crate) fn apply(&self, streams: Vec<Stream>) -> Vec<Stream> {
        let (kept, dropped) = filter_streams(&self.overlapping_filters(), streams);
        self.filtered.inc_by(dropped);
        kept
    }

    fn overlapping_filters(&self) -> Vec<&LogsDeletionFilter> {
        self.overlapping.iter().map(|&i| &self.filters[i]).collect()
    }
}

/// `streams` without the entries any of `filters` selects (selectors checked once per
/// stream), streams left empty dropped, and the number of entries dropped.
fn filter_streams(filters: &[&LogsDeletionFilter], streams: Vec<Stream>) -> (Vec<Stream>, u64) {
    let mut dropped = 0u64;
    let kept = streams
        .into_iter()
        .filter_map(|mut stream| {
            let hits: Vec<&LogsDeletionFilter> = filters
                .iter()
                .copied()
                .filter(|f| f.selects_stream(&stream.labels))
                .collect();
            if hits.is_empty() {
                return Some(stream);
            }
            let before = stream.entries.len();
            stream
                .entries
                .retain(|e| !hits.iter().any(|f| f.selects_entry(e.ts_ns, &e.line)));
            dropped += (before - stream.entries.len()) as u64;
            (!stream.entries.is_empty()).then_some(stream)
        })
        .collect();
    (kept, dropped)
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
