//! Ring math, pure and without I/O: the gossiped state ([`RingDesc`], merged last-writer-wins),
//! its binary codec, and [`TokenRing`], an immutable snapshot that maps a key to a
//! [`ReplicationSet`] by walking the token circle clockwise.

pub mod codec;
pub mod desc;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub use desc::{InstanceDesc, InstanceState, RingDesc};

use crate::error::RingError;

/// What the replication set is for: which states count as healthy owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Only ACTIVE instances take writes; the walk extends past JOINING and LEAVING ones.
    Write,
    /// ACTIVE and LEAVING instances answer reads; the walk extends past JOINING ones.
    Read,
}

impl Operation {
    fn accepts(self, state: InstanceState) -> bool {
        match self {
            Operation::Write => state == InstanceState::Active,
            Operation::Read => matches!(state, InstanceState::Active | InstanceState::Leaving),
        }
    }
}

/// How keys are replicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// Number of instances each key is written to.
    pub replication_factor: usize,
    /// Place the replicas of a key in distinct zones.
    pub zone_awareness_enabled: bool,
    /// An instance whose heartbeat is older than this is unhealthy.
    pub heartbeat_timeout: Duration,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            replication_factor: 3,
            zone_awareness_enabled: false,
            heartbeat_timeout: Duration::from_secs(60),
        }
    }
}

impl ReplicationConfig {
    /// Successes needed for a quorum: RF/2 + 1.
    pub fn quorum(&self) -> usize {
        self.replication_factor / 2 + 1
    }

    fn heartbeat_timeout_ms(&self) -> i64 {
        i64::try_from(self.heartbeat_timeout.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The instances to send a key to, and how many of them may fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationSet {
    /// Healthy owners, in ring order.
    pub instances: Vec<InstanceDesc>,
    /// Failures tolerated while still reaching a quorum.
    pub max_errors: usize,
}

impl ReplicationSet {
    /// Successes needed: all instances but `max_errors`.
    pub fn min_success(&self) -> usize {
        self.instances.len() - self.max_errors
    }
}

/// An immutable snapshot of a ring: instances and their sorted tokens.
#[derive(Debug, Clone)]
pub struct TokenRing {
    config: ReplicationConfig,
    /// Live (non-`Left`) instances, sorted by id.
    instances: Vec<InstanceDesc>,
    /// `(token, index into instances)`, sorted; shared between snapshots with the same tokens.
    tokens: Arc<Vec<(u32, u32)>>,
}

impl TokenRing {
    /// Builds a snapshot from the gossiped state; `Left` tombstones are ignored.
    pub fn new(desc: &RingDesc, config: ReplicationConfig) -> Self {
        Self::rebuild(None, desc, config)
    }

    /// Like [`TokenRing::new`], reusing the token index of `prev` when no instance's tokens
    /// changed (the common case: a heartbeat).
    pub fn rebuild(prev: Option<&TokenRing>, desc: &RingDesc, config: ReplicationConfig) -> Self {
        let instances: Vec<InstanceDesc> = desc.live_instances().cloned().collect();
        let same_tokens = prev.is_some_and(|p| {
            p.instances.len() == instances.len()
                && p.instances
                    .iter()
                    .zip(&instances)
                    .all(|(a, b)| a.id == b.id && a.tokens == b.tokens)
        });
        let tokens = match prev {
            Some(p) if same_tokens => Arc::clone(&p.tokens),
            _ => Arc::new(index_tokens(&instances)),
        };
        Self {
            config,
            instances,
            tokens,
        }
    }

    /// The replication config this snapshot applies.
    pub fn config(&self) -> &ReplicationConfig {
        &self.config
    }

    /// Live instances, sorted by id.
    pub fn instances(&self) -> &[InstanceDesc] {
        &self.instances
    }

    /// Instances whose heartbeat is recent, whatever their state.
    pub fn healthy_count(&self, now_ms: i64) -> usize {
        let timeout = self.config.heartbeat_timeout_ms();
        self.instances
            .iter()
            .filter(|d| d.is_healthy(now_ms, timeout))
            .count()
    }

    /// The replication set of `key`: walk clockwise from the first token >= key collecting RF
    /// distinct instances (distinct zones when enabled), extending past instances whose state
    /// the operation does not accept, then drop unhealthy ones. Errors when fewer than a
    /// quorum remain.
    pub fn get(&self, key: u32, op: Operation, now_ms: i64) -> Result<ReplicationSet, RingError> {
        let mut picked = Vec::with_capacity(self.config.replication_factor + 2);
        let max_errors = self.get_indices(key, op, now_ms, &mut picked)?;
        Ok(ReplicationSet {
            instances: picked
                .into_iter()
                .map(|i| self.instances[i].clone())
                .collect(),
            max_errors,
        })
    }

    /// [`TokenRing::get`] without allocating: writes the indexes (into [`TokenRing::instances`])
    /// of the replication set to `out` and returns how many of them may fail. The distributor
    /// calls this once per series.
    pub fn get_indices(
        &self,
        key: u32,
        op: Operation,
        now_ms: i64,
        out: &mut Vec<usize>,
    ) -> Result<usize, RingError> {
        out.clear();
        if self.tokens.is_empty() {
            return Err(RingError::EmptyRing);
        }
        let rf = self.config.replication_factor.max(1);
        self.walk(key, op, rf, out);
        let timeout = self.config.heartbeat_timeout_ms();
        out.retain(|&i| {
            let d = &self.instances[i];
            op.accepts(d.state) && d.is_healthy(now_ms, timeout)
        });
        let quorum = rf / 2 + 1;
        if out.len() < quorum {
            return Err(RingError::TooManyUnhealthy {
                healthy: out.len(),
                wanted: rf,
                quorum,
            });
        }
        Ok(out.len() - quorum)
    }

    /// Indexes of the instances met walking clockwise from `key`.
    fn walk(&self, key: u32, op: Operation, rf: usize, picked: &mut Vec<usize>) {
        let start = self.tokens.partition_point(|(t, _)| *t < key);
        let mut wanted = rf;
        let mut zones: HashSet<&str> = HashSet::new();
        for i in 0..self.tokens.len() {
            if picked.len() >= wanted {
                break;
            }
            let idx = self.tokens[(start + i) % self.tokens.len()].1 as usize;
            if picked.contains(&idx) {
                continue;
            }
            let inst = &self.instances[idx];
            if self.config.zone_awareness_enabled && !zones.insert(inst.zone.as_str()) {
                continue;
            }
            if !op.accepts(inst.state) {
                wanted += 1;
            }
            picked.push(idx);
        }
    }
}

fn index_tokens(instances: &[InstanceDesc]) -> Vec<(u32, u32)> {
    let mut tokens: Vec<(u32, u32)> = instances
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.tokens.iter().map(move |t| (*t, i as u32)))
        .collect();
    tokens.sort_unstable();
    tokens
}

#[cfg(test)]
mod tests;
