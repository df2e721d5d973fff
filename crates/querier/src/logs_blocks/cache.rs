//! What the logs block reader keeps between queries: each tenant's block list (from its logs
//! bucket index, refreshed after `bucket_index_refresh`) and a bounded LRU of parsed block
//! indexes (immutable, so never stale), weighted by index file size.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use parking_lot::Mutex;
use sextant_logs::block::LogsBlockIndex;
use sextant_model::{Signal, TenantId};
use sextant_storage::{list_blocks, BucketBlock};

use crate::source::QuerierError;

/// A tenant's block list and when it was loaded.
type Listing = (Instant, Arc<Vec<BucketBlock>>);

/// The cached logs block lists of all tenants.
pub(super) struct LogsBlockCatalog {
    store: Arc<dyn ObjectStore>,
    refresh: Duration,
    tenants: Mutex<HashMap<TenantId, Listing>>,
}

impl LogsBlockCatalog {
    pub(super) fn new(store: Arc<dyn ObjectStore>, refresh: Duration) -> Self {
        LogsBlockCatalog {
            store,
            refresh,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's blocks, from the cache when it is younger than the refresh interval.
    pub(super) async fn blocks(
        &self,
        tenant: &TenantId,
    ) -> Result<Arc<Vec<BucketBlock>>, QuerierError> {
        if let Some((loaded, blocks)) = self.tenants.lock().get(tenant) {
            if loaded.elapsed() < self.refresh {
                return Ok(Arc::clone(blocks));
            }
        }
        let blocks = list_blocks(self.store.as_ref(), Signal::Logs, tenant)
            .await
            .map_err(|e| {
                QuerierError::Blocks(format!("cannot list the logs blocks of {tenant}: {e}"))
            })?;
        let blocks = Arc::new(blocks);
        tracing::debug!(%tenant, blocks = blocks.len(), "refreshed the logs block list");
        self.tenants
            .lock()
            .insert(tenant.clone(), (Instant::now(), Arc::clone(&blocks)));
        Ok(blocks)
    }

    /// Forgets a tenant's list, e.g. after a listed block turned out to be gone.
    pub(super) fn invalidate(&self, tenant: &TenantId) {
        self.tenants.lock().remove(tenant);
    }
}

struct CachedIndex {
    index: Arc<LogsBlockIndex>,
    weight: u64,
    last_used: u64,
}

#[derive(Default)]
struct IndexState {
    entries: HashMap<String, CachedIndex>,
    weight: u64,
    clock: u64,
}

/// Parsed logs block indexes, least recently used dropped beyond `capacity` bytes.
pub(super) struct LogsIndexCache {
    capacity: u64,
    state: Mutex<IndexState>,
}

impl LogsIndexCache {
    pub(super) fn new(capacity: u64) -> Self {
        LogsIndexCache {
            capacity,
            state: Mutex::new(IndexState::default()),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<Arc<LogsBlockIndex>> {
        let mut state = self.state.lock();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.get_mut(key)?;
        entry.last_used = now;
        Some(Arc::clone(&entry.index))
    }

    /// Caches an index weighing `weight` bytes; one larger than the whole budget is not kept.
    pub(super) fn insert(&self, key: String, index: Arc<LogsBlockIndex>, weight: u64) {
        if weight > self.capacity {
            return;
        }
        let mut state = self.state.lock();
        state.clock += 1;
        let last_used = state.clock;
        let entry = CachedIndex {
            index,
            weight,
            last_used,
        };
        if let Some(old) = state.entries.insert(key, entry) {
            state.weight -= old.weight;
        }
        state.weight += weight;
        while state.weight > self.capacity {
            let Some(oldest) = state
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(evicted) = state.entries.remove(&oldest) {
                state.weight -= evicted.weight;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sextant_logs::block::{LogsBlockSource, LogsBlockWriter};

    use super::*;

    fn index() -> Arc<LogsBlockIndex> {
        let block = LogsBlockWriter::new(1024, 1024).finish(LogsBlockSource::default());
        Arc::new(LogsBlockIndex::parse(&block.index).unwrap())
    }

    fn keys(cache: &LogsIndexCache) -> Vec<String> {
        let mut keys: Vec<String> = cache.state.lock().entries.keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn index_cache_evicts_least_recently_used_beyond_capacity() {
        // (inserts of (key, weight), a key read after the first two, keys left)
        type Case = (
            &'static [(&'static str, u64)],
            Option<&'static str>,
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (&[("a", 40), ("b", 40), ("c", 40)], Some("a"), &["a", "c"]),
            (&[("a", 40), ("b", 40), ("c", 40)], None, &["b", "c"]),
            (&[("huge", 101)], None, &[]),
            (&[("a", 60), ("a", 60), ("b", 40)], None, &["a", "b"]),
        ];
        for (inserts, read, want) in cases {
            let cache = LogsIndexCache::new(100);
            for (i, (key, weight)) in inserts.iter().enumerate() {
                if i == 2 {
                    if let Some(k) = read {
                        assert!(cache.get(k).is_some());
                    }
                }
                cache.insert(key.to_string(), index(), *weight);
            }
            assert_eq!(keys(&cache), *want, "{inserts:?}");
        }
    }
}
