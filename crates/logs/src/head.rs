//! The in-memory head of a tenant's logs: streams by labels and by id, a postings index over
//! their labels, and each stream's chunks behind its own mutex.

mod postings;
mod stream;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use sextant_model::{Labels, Matcher};

use postings::Postings;
pub(crate) use stream::{ChunkConfig, StreamState};

/// A stream of the head. Its id is its reference in the WAL.
#[derive(Debug)]
pub(crate) struct MemStream {
    pub(crate) id: u64,
    pub(crate) labels: Labels,
    pub(crate) state: Mutex<StreamState>,
}

#[derive(Debug, Default)]
struct Index {
    by_labels: HashMap<Labels, Arc<MemStream>>,
    by_id: BTreeMap<u64, Arc<MemStream>>,
    postings: Postings,
}

#[derive(Debug, Default)]
pub(crate) struct Head {
    index: RwLock<Index>,
    next_id: AtomicU64,
}

impl Head {
    pub(crate) fn get(&self, labels: &Labels) -> Option<Arc<MemStream>> {
        self.index.read().by_labels.get(labels).cloned()
    }

    /// A fresh stream id (ids are never reused, also across restarts: replay reserves the
    /// ids it saw).
    pub(crate) fn reserve_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a stream with this id, or returns the one with these labels.
    pub(crate) fn insert(&self, id: u64, labels: Labels) -> Arc<MemStream> {
        self.next_id
            .fetch_max(id.saturating_add(1), Ordering::Relaxed);
        let mut index = self.index.write();
        if let Some(existing) = index.by_labels.get(&labels) {
            return existing.clone();
        }
        let stream = Arc::new(MemStream {
            id,
            labels: labels.clone(),
            state: Mutex::default(),
        });
        index.postings.add(id, &labels);
        index.by_id.insert(id, stream.clone());
        index.by_labels.insert(labels, stream.clone());
        stream
    }

    /// The streams whose labels match every matcher, by id.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<Arc<MemStream>> {
        let index = self.index.read();
        let ids = index.postings.select(matchers);
        ids.iter()
            .filter_map(|id| index.by_id.get(id).cloned())
            .collect()
    }

    pub(crate) fn all(&self) -> Vec<Arc<MemStream>> {
        self.index.read().by_id.values().cloned().collect()
    }

    pub(crate) fn remove(&self, streams: &[Arc<MemStream>]) {
        let mut index = self.index.write();
        for s in streams {
            index.by_labels.remove(&s.labels);
            index.by_id.remove(&s.id);
            index.postings.remove(s.id, &s.labels);
        }
    }

    pub(crate) fn stream_count(&self) -> usize {
        self.index.read().by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use sextant_model::MatchOp;

    use super::*;

    #[test]
    fn insert_select_remove() {
        let head = Head::default();
        let a = Labels::from_pairs([("app", "a")]);
        let b = Labels::from_pairs([("app", "b")]);
        let id = head.reserve_id();
        let sa = head.insert(id, a.clone());
        assert!(Arc::ptr_eq(&head.insert(99, a.clone()), &sa));
        head.insert(7, b.clone());
        // ids seen are never handed out again
        assert_eq!(head.reserve_id(), 100);
        let m = Matcher::new(MatchOp::Equal, "app", "b").unwrap();
        let got: Vec<Labels> = head.select(&[m]).iter().map(|s| s.labels.clone()).collect();
        assert_eq!(got, vec![b]);
        head.remove(&[sa]);
        assert!(head.get(&a).is_none());
        assert_eq!(head.stream_count(), 1);
    }
}
