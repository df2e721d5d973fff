//! The replicated key-value state held by every node: one [`RingDesc`] per ring name, with
//! watchers. Transport-agnostic: it takes and returns encoded messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::RingError;
use crate::token_ring::codec::{decode_rings, encode_rings};
use crate::token_ring::RingDesc;

struct RingEntry {
    desc: Arc<RingDesc>,
    tx: watch::Sender<Arc<RingDesc>>,
}

impl RingEntry {
    fn new() -> Self {
        let desc = Arc::new(RingDesc::default());
        let (tx, _) = watch::channel(Arc::clone(&desc));
        Self { desc, tx }
    }

    fn set(&mut self, desc: RingDesc) {
        self.desc = Arc::new(desc);
        self.tx.send_replace(Arc::clone(&self.desc));
    }
}

/// All rings known to this node.
#[derive(Default)]
pub(crate) struct KvStore {
    rings: Mutex<BTreeMap<String, RingEntry>>,
}

impl KvStore {
    /// Applies a local update; returns the encoded delta (changed entries) when any.
    pub(crate) fn cas(&self, name: &str, f: impl FnOnce(&mut RingDesc)) -> Option<Bytes> {
        let mut rings = self.rings.lock();
        let entry = rings.entry(name.to_string()).or_insert_with(RingEntry::new);
        let mut desc = RingDesc::clone(&entry.desc);
        f(&mut desc);
        let delta = desc.diff_from(&entry.desc);
        if delta.instances.is_empty() {
            if desc != *entry.desc {
                entry.set(desc); // only removals: local, nothing to gossip
            }
            return None;
        }
        entry.set(desc);
        Some(Bytes::from(encode_rings([(name, &delta)])))
    }

    /// Merges a received message (a delta or a full state); returns the encoded changes.
    pub(crate) fn merge_message(&self, buf: &[u8]) -> Result<Option<Bytes>, RingError> {
        let received = decode_rings(buf)?;
        let mut changes = Vec::new();
        let mut rings = self.rings.lock();
        for (name, theirs) in received {
            let entry = rings.entry(name.clone()).or_insert_with(RingEntry::new);
            let mut desc = RingDesc::clone(&entry.desc);
            let delta = desc.merge_changes(&theirs);
            if !delta.instances.is_empty() {
                entry.set(desc);
                changes.push((name, delta));
            }
        }
        if changes.is_empty() {
            return Ok(None);
        }
        let encoded = encode_rings(changes.iter().map(|(n, d)| (n.as_str(), d)));
        Ok(Some(Bytes::from(encoded)))
    }

    /// Every ring, encoded: what push/pull sends.
    pub(crate) fn full_state(&self) -> Bytes {
        let rings = self.rings.lock();
        let encoded = encode_rings(rings.iter().map(|(n, e)| (n.as_str(), &*e.desc)));
        Bytes::from(encoded)
    }

    pub(crate) fn get(&self, name: &str) -> Arc<RingDesc> {
        let rings = self.rings.lock();
        rings
            .get(name)
            .map(|e| Arc::clone(&e.desc))
            .unwrap_or_default()
    }

    pub(crate) fn watch(&self, name: &str) -> watch::Receiver<Arc<RingDesc>> {
        let mut rings = self.rings.lock();
        let entry = rings.entry(name.to_string()).or_insert_with(RingEntry::new);
        entry.tx.subscribe()
    }

    pub(crate) fn ring_names(&self) -> Vec<String> {
        self.rings.lock().keys().cloned().collect()
    }

    /// Drops expired `Left` tombstones from every ring.
    pub(crate) fn prune(&self, now_ms: i64, timeout_ms: i64) -> usize {
        let mut rings = self.rings.lock();
        let mut dropped = 0;
        for entry in rings.values_mut() {
            let mut desc = RingDesc::clone(&entry.desc);
            let n = desc.remove_expired_tombstones(now_ms, timeout_ms);
            if n > 0 {
                entry.set(desc);
                dropped += n;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_ring::desc::tests::instance;
    use crate::token_ring::InstanceState;

    #[test]
    fn cas_then_merge_elsewhere() {
        let a = KvStore::default();
        let b = KvStore::default();
        let mut watcher = b.watch("ring");
        let delta = a
            .cas("ring", |d| {
                d.instances
                    .insert("x".into(), instance("x", InstanceState::Active, 5));
            })
            .expect("a change");
        assert!(a.cas("ring", |_| {}).is_none());
        let rebroadcast = b.merge_message(&delta).unwrap();
        assert!(rebroadcast.is_some());
        assert!(watcher.has_changed().unwrap());
        assert_eq!(watcher.borrow_and_update().instances.len(), 1);
        // A second delivery changes nothing and is not gossiped on.
        assert!(b.merge_message(&delta).unwrap().is_none());
        assert_eq!(*a.get("ring"), *b.get("ring"));
        assert!(b.merge_message(b"junk").is_err());
    }

    #[test]
    fn full_state_and_prune() {
        let a = KvStore::default();
        a.cas("r1", |d| {
            d.instances
                .insert("x".into(), instance("x", InstanceState::Left, 5));
        });
        a.cas("r2", |d| {
            d.instances
                .insert("y".into(), instance("y", InstanceState::Active, 5));
        });
        let b = KvStore::default();
        b.merge_message(&a.full_state()).unwrap();
        assert_eq!(b.ring_names(), vec!["r1".to_string(), "r2".to_string()]);
        assert_eq!(b.prune(100, 10), 1);
        assert!(b.get("r1").instances.is_empty());
        assert_eq!(b.get("r2").instances.len(), 1);
    }
}
