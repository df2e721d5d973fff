//! A bounded cache of parsed block indexes (metrics and logs blocks alike). Indexes are
//! immutable, so entries never go stale; the least recently used ones are dropped when the
//! total weight (index file bytes) exceeds the budget.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

struct Entry<I> {
    index: Arc<I>,
    weight: u64,
    last_used: u64,
}

struct State<I> {
    entries: HashMap<String, Entry<I>>,
    weight: u64,
    clock: u64,
}

/// Parsed indexes of type `I`, keyed by object key.
pub(crate) struct IndexCache<I> {
    capacity: u64,
    state: Mutex<State<I>>,
}

impl<I> IndexCache<I> {
    pub(crate) fn new(capacity: u64) -> Self {
        IndexCache {
            capacity,
            state: Mutex::new(State {
                entries: HashMap::new(),
                weight: 0,
                clock: 0,
            }),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<I>> {
        let mut state = self.state.lock();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.get_mut(key)?;
        entry.last_used = now;
        Some(Arc::clone(&entry.index))
    }

    /// Caches an index weighing `weight` bytes; one larger than the whole budget is not kept.
    pub(crate) fn insert(&self, key: String, index: Arc<I>, weight: u64) {
        if weight > self.capacity {
            return;
        }
        let mut state = self.state.lock();
        state.clock += 1;
        let last_used = state.clock;
        let entry = Entry {
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

    #[cfg(test)]
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.state.lock().entries.keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
mod tests {
    use sextant_metrics::block::{BlockIndex, BlockSource, BlockWriter};

    use super::*;

    fn index() -> Arc<BlockIndex> {
        let encoded = BlockWriter::new().finish(BlockSource::default());
        Arc::new(BlockIndex::parse(&encoded.index).unwrap())
    }

    #[test]
    fn evicts_least_recently_used_beyond_capacity() {
        let cache = IndexCache::<BlockIndex>::new(100);
        cache.insert("a".into(), index(), 40);
        cache.insert("b".into(), index(), 40);
        assert!(cache.get("a").is_some()); // b is now the oldest
        cache.insert("c".into(), index(), 40);
        assert_eq!(cache.keys(), vec!["a", "c"]);
        assert!(cache.get("b").is_none());
    }

    #[test]
    fn skips_entries_larger_than_the_budget_and_replaces_same_key() {
        let cache = IndexCache::<BlockIndex>::new(100);
        cache.insert("huge".into(), index(), 101);
        assert!(cache.get("huge").is_none());
        cache.insert("a".into(), index(), 60);
        cache.insert("a".into(), index(), 60);
        assert_eq!(cache.keys(), vec!["a"]);
        cache.insert("b".into(), index(), 40);
        assert_eq!(cache.keys(), vec!["a", "b"]);
    }
}
