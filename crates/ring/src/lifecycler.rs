//! An instance's life in a ring ([`Lifecycler`]: JOINING → ACTIVE → LEAVING → LEFT, with
//! heartbeats) and the read side ([`Ring`]: an always fresh [`TokenRing`]).

pub(crate) mod ring;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use ring::Ring;

use crate::error::RingError;
use crate::gossip::{now_ms, GossipKv};
use crate::token_ring::{InstanceDesc, InstanceState, ReplicationConfig};

/// The `lifecycler:` section of a ring member's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecyclerConfig {
    /// Instance id in the ring; empty: the hostname.
    pub instance_id: String,
    /// `host:port` other components dial (the gRPC address). Required.
    pub instance_addr: String,
    /// Availability zone; empty when zones are not used.
    pub instance_zone: String,
    /// Tokens to own.
    pub num_tokens: usize,
    /// Where `tokens-<ring>.json` is kept across restarts; empty: tokens are not persisted.
    pub tokens_file_dir: String,
    /// How often the heartbeat is written.
    #[serde(with = "sextant_model::duration")]
    pub heartbeat_period: Duration,
    /// Instances whose heartbeat is older than this are unhealthy.
    #[serde(with = "sextant_model::duration")]
    pub heartbeat_timeout: Duration,
    /// Time spent JOINING before switching to ACTIVE.
    #[serde(with = "sextant_model::duration")]
    pub join_after: Duration,
    /// Spread the replicas of a key over distinct zones.
    pub zone_awareness_enabled: bool,
}

impl Default for LifecyclerConfig {
    fn default() -> Self {
        Self {
            instance_id: String::new(),
            instance_addr: String::new(),
            instance_zone: String::new(),
            num_tokens: 128,
            tokens_file_dir: String::new(),
            heartbeat_period: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(60),
            join_after: Duration::ZERO,
            zone_awareness_enabled: false,
        }
    }
}

impl LifecyclerConfig {
    /// Checks the values that have no sensible fallback.
    pub fn validate(&self) -> Result<(), RingError> {
        if self.instance_addr.is_empty() {
            return Err(RingError::Config(
                "lifecycler.instance_addr must be set".into(),
            ));
        }
        if self.num_tokens == 0 {
            return Err(RingError::Config(
                "lifecycler.num_tokens must be positive".into(),
            ));
        }
        if self.heartbeat_period.is_zero() {
            return Err(RingError::Config(
                "lifecycler.heartbeat_period must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The replication config readers of this ring use.
    pub fn replication_config(&self, replication_factor: usize) -> ReplicationConfig {
        ReplicationConfig {
            replication_factor,
            zone_awareness_enabled: self.zone_awareness_enabled,
            heartbeat_timeout: self.heartbeat_timeout,
        }
    }
}

struct Inner {
    config: LifecyclerConfig,
    ring_name: String,
    kv: Arc<GossipKv>,
    state: Mutex<InstanceState>,
    tokens: Mutex<Vec<u32>>,
    registered_ms: Mutex<i64>,
}

impl Inner {
    /// Writes this instance's entry with the current state and a fresh heartbeat.
    fn write_entry(&self) {
        let desc = InstanceDesc {
            id: self.config.instance_id.clone(),
            addr: self.config.instance_addr.clone(),
            zone: self.config.instance_zone.clone(),
            state: *self.state.lock(),
            tokens: self.tokens.lock().clone(),
            heartbeat_ms: 0,
            registered_ms: *self.registered_ms.lock(),
        };
        self.kv.cas(&self.ring_name, |ring| {
            let prev = ring
                .instances
                .get(&desc.id)
                .map_or(i64::MIN, |d| d.heartbeat_ms);
            let heartbeat_ms = now_ms().max(prev.saturating_add(1));
            ring.instances.insert(
                desc.id.clone(),
                InstanceDesc {
                    heartbeat_ms,
                    ..desc
                },
            );
        });
    }

    fn set_state(&self, state: InstanceState) {
        *self.state.lock() = state;
        self.write_entry();
        tracing::info!(ring = %self.ring_name, instance = %self.config.instance_id, state = state.as_str(), "ring state changed");
    }
}

/// Registers this instance in a ring and keeps its entry alive.
pub struct Lifecycler {
    inner: Arc<Inner>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Lifecycler {
    /// A lifecycler for ring `ring_name`; nothing is written before [`Lifecycler::start`].
    pub fn new(
        mut config: LifecyclerConfig,
        ring_name: &str,
        kv: Arc<GossipKv>,
    ) -> Result<Self, RingError> {
        config.validate()?;
        if config.instance_id.is_empty() {
            config.instance_id = hostname();
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                ring_name: ring_name.to_string(),
                kv,
                state: Mutex::new(InstanceState::Joining),
                tokens: Mutex::new(Vec::new()),
                registered_ms: Mutex::new(0),
            }),
            cancel: CancellationToken::new(),
            task: Mutex::new(None),
        })
    }

    /// Registers JOINING with tokens (from the tokens file, else those the ring already has
    /// for this id, else fresh random ones, then persisted), and starts the background task
    /// that switches to ACTIVE after `join_after` and heartbeats every `heartbeat_period`.
    pub async fn start(&self) -> Result<(), RingError> {
        let inner = &self.inner;
        let tokens = tokens::pick(
            &inner.config,
            &inner.ring_name,
            &inner.kv.get(&inner.ring_name),
        )
        .await?;
        *inner.tokens.lock() = tokens;
        *inner.registered_ms.lock() = now_ms();
        inner.set_state(InstanceState::Joining);
        let inner = Arc::clone(&self.inner);
        let cancel = self.cancel.clone();
        *self.task.lock() = Some(tokio::spawn(run(inner, cancel)));
        Ok(())
    }

    /// Switches to LEAVING (still readable, no longer a write owner); heartbeats go on.
    pub fn start_leaving(&self) {
        if *self.inner.state.lock() != InstanceState::Leaving {
            self.inner.set_state(InstanceState::Leaving);
        }
    }

    /// LEAVING, then stops heartbeating and writes a `Left` tombstone.
    pub async fn stop(&self) {
        self.start_leaving();
        self.cancel.cancel();
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.inner.set_state(InstanceState::Left);
    }

    /// The state this instance last wrote.
    pub fn state(&self) -> InstanceState {
        *self.inner.state.lock()
    }

    /// The tokens this instance owns (empty before start).
    pub fn tokens(&self) -> Vec<u32> {
        self.inner.tokens.lock().clone()
    }

    /// The instance id used in the ring.
    pub fn instance_id(&self) -> &str {
        &self.inner.config.instance_id
    }

    /// The ring this lifecycler registers in.
    pub fn ring_name(&self) -> &str {
        &self.inner.ring_name
    }
}

impl Drop for Lifecycler {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn run(inner: Arc<Inner>, cancel: CancellationToken) {
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep(inner.config.join_after) => {}
    }
    if *inner.state.lock() == InstanceState::Joining {
        inner.set_state(InstanceState::Active);
    }
    let mut tick = tokio::time::interval(inner.config.heartbeat_period);
    tick.tick().await; // the first tick is immediate and we just wrote
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => inner.write_entry(),
        }
    }
}

pub(crate) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sextant".to_string())
}

#[cfg(test)]
mod tests;
