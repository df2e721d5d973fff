//! [`RulerManager`]: loads every tenant's rule groups from the [`RuleStore`] every
//! `poll_interval`, keeps those this ruler owns on the `ruler-<signal>` rings (re-checked every
//! few seconds, so groups move soon after a ruler joins or leaves), and runs one loop per owned
//! group. A changed group restarts with its alert state carried over; a group that moved away
//! or was deleted stops.
//!
//! - `manager/owners.rs`: which ruler owns a group (the first ACTIVE, healthy one clockwise).
//! - `manager/tests.rs`: two managers over one in-memory ring.

mod owners;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use sextant_kit::service::{BoxError, Service};
use sextant_model::{Signal, TenantId};
use sextant_ring::Ring;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alerting::RestoreSettings;
use crate::client::{
    build_http_client, HttpQueryClient, HttpSampleWriter, QueryClient, RulerQueryError,
    SampleWriter,
};
use crate::config::RulerConfig;
use crate::error::RulerError;
use crate::group::{run_group, GroupDeps, GroupKey, GroupSettings, GroupSnapshot, RuleGroup};
use crate::instrumentation::RulerMetrics;
use crate::notifier::Notifier;
use crate::rule_file::RuleGroupDesc;
use crate::state::{AlertInstance, RuleGroupState, RulesStateView};
use crate::store::RuleStore;
use owners::RingOwners;

/// How often ownership is re-checked against the rings between two loads of the store.
pub const RING_CHECK_PERIOD: Duration = Duration::from_secs(5);

/// The ring this ruler shares one signal's groups on, and its id in it.
pub struct RulerRing {
    pub signal: Signal,
    pub ring: Arc<Ring>,
    pub instance_id: String,
}

/// How the ruler reaches the query API and remote write.
pub struct RulerClients {
    pub query: Arc<dyn QueryClient>,
    pub writer: Arc<dyn SampleWriter>,
}

impl RulerClients {
    /// HTTP clients for `config.query_address` and `config.push_address` (both must be set;
    /// the server fills them with its own address when empty).
    pub fn http(config: &RulerConfig, timeout: Duration) -> Result<Self, RulerQueryError> {
        let client = build_http_client(timeout)?;
        Ok(Self {
            query: Arc::new(HttpQueryClient::new(
                client.clone(),
                config.query_address.clone(),
            )),
            writer: Arc::new(HttpSampleWriter::new(client, &config.push_address)),
        })
    }
}

/// Evaluates the rule groups this ruler owns.
pub struct RulerManager {
    inner: Arc<Inner>,
}

struct Inner {
    config: RulerConfig,
    store: Arc<dyn RuleStore>,
    rings: Vec<RulerRing>,
    deps: Arc<GroupDeps>,
    /// The groups of the last load of the store.
    loaded: Mutex<BTreeMap<GroupKey, RuleGroupDesc>>,
    running: tokio::sync::Mutex<BTreeMap<GroupKey, RunningGroup>>,
    /// What the read APIs see, refreshed by each group after each evaluation.
    snapshots: Mutex<BTreeMap<GroupKey, Arc<Mutex<GroupSnapshot>>>>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct RunningGroup {
    desc: RuleGroupDesc,
    cancel: CancellationToken,
    task: JoinHandle<RuleGroup>,
}

impl RulerManager {
    /// A manager for the signals of `rings` (metrics and/or logs). Registers its metrics on
    /// `registry`; builds the notifier from `config`.
    pub fn new(
        config: RulerConfig,
        store: Arc<dyn RuleStore>,
        clients: RulerClients,
        rings: Vec<RulerRing>,
        registry: &mut Registry,
    ) -> Result<Self, RulerQueryError> {
        let metrics = RulerMetrics::new(registry);
        let am_client = build_http_client(config.notification_timeout)?;
        let notifier = Arc::new(Notifier::new(&config, am_client, metrics.clone()));
        let settings = GroupSettings {
            default_interval: config.evaluation_interval,
            external_labels: config.external_labels.clone(),
            external_url: config.external_url.clone(),
            resend_delay: config.resend_delay,
            restore: RestoreSettings {
                outage_tolerance: config.for_outage_tolerance,
                grace_period: config.for_grace_period,
            },
        };
        let deps = Arc::new(GroupDeps {
            query: clients.query,
            writer: clients.writer,
            notifier,
            metrics,
            settings,
        });
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                rings,
                deps,
                loaded: Mutex::new(BTreeMap::new()),
                running: tokio::sync::Mutex::new(BTreeMap::new()),
                snapshots: Mutex::new(BTreeMap::new()),
                cancel: CancellationToken::new(),
                task: Mutex::new(None),
            }),
        })
    }

    /// Loads the groups from the store and starts, restarts or stops group loops.
    pub async fn sync(&self) -> Result<(), RulerError> {
        self.inner.load().await?;
        self.inner.reconcile().await;
        Ok(())
    }

    /// The groups running now.
    pub async fn owned_groups(&self) -> Vec<GroupKey> {
        self.inner.running.lock().await.keys().cloned().collect()
    }
}

impl Inner {
    /// Reads every tenant's groups of every signal with a ring.
    async fn load(&self) -> Result<(), RulerError> {
        let mut loaded = BTreeMap::new();
        for ring in &self.rings {
            let signal = ring.signal;
            for tenant in self.store.list_tenants(signal).await? {
                let namespaces = self.store.list_groups(signal, &tenant).await?;
                for (namespace, groups) in namespaces {
                    for desc in groups {
                        let key = GroupKey {
                            signal,
                            tenant: tenant.clone(),
                            namespace: namespace.clone(),
                            name: desc.name.clone(),
                        };
                        loaded.insert(key, desc);
                    }
                }
            }
        }
        *self.loaded.lock() = loaded;
        Ok(())
    }

    /// Which groups this ruler evaluates now: per signal, the ring's owners at this instant and
    /// this ruler's id in that ring.
    fn ownership(&self) -> Vec<(Signal, RingOwners, &str)> {
        let now = crate::group::now_ms();
        self.rings
            .iter()
            .map(|r| {
                let owners = RingOwners::new(&r.ring.token_ring(), now);
                (r.signal, owners, r.instance_id.as_str())
            })
            .collect()
    }

    /// Starts the owned groups not running, restarts the changed ones, stops the others.
    async fn reconcile(&self) {
        let ownership = self.ownership();
        let owns = |key: &GroupKey| {
            ownership
                .iter()
                .find(|(signal, _, _)| *signal == key.signal)
                .is_some_and(|(_, owners, id)| owners.owner(key.ring_token()) == Some(*id))
        };
        let wanted: BTreeMap<GroupKey, RuleGroupDesc> = self
            .loaded
            .lock()
            .iter()
            .filter(|(key, _)| owns(key))
            .map(|(k, d)| (k.clone(), d.clone()))
            .collect();
        let mut running = self.running.lock().await;
        let mut previous = self.stop_changed(&mut running, &wanted).await;
        for (key, desc) in wanted {
            if running.contains_key(&key) {
                continue;
            }
            let mut group =
                RuleGroup::new(key.clone(), desc.clone(), self.config.evaluation_interval);
            if let Some(mut old) = previous.remove(&key) {
                group.take_state_from(&mut old);
            }
            running.insert(key.clone(), self.spawn(group, desc));
        }
        for ring in &self.rings {
            let n = running.keys().filter(|k| k.signal == ring.signal).count();
            self.deps.metrics.set_owned_groups(ring.signal.as_str(), n);
        }
        drop(running);
        self.retire(previous).await;
    }

    /// Stops the running groups that are no longer wanted as they are; returns them.
    async fn stop_changed(
        &self,
        running: &mut BTreeMap<GroupKey, RunningGroup>,
        wanted: &BTreeMap<GroupKey, RuleGroupDesc>,
    ) -> BTreeMap<GroupKey, RuleGroup> {
        let changed: Vec<GroupKey> = running
            .iter()
            .filter(|(key, group)| wanted.get(*key) != Some(&group.desc))
            .map(|(key, _)| key.clone())
            .collect();
        let mut stopped = BTreeMap::new();
        for key in changed {
            let Some(group) = running.remove(&key) else {
                continue;
            };
            group.cancel.cancel();
            self.snapshots.lock().remove(&key);
            if let Ok(old) = group.task.await {
                stopped.insert(key, old);
            }
        }
        stopped
    }

    /// Groups stopped for good: deleted ones get staleness markers for the series they wrote
    /// (as Prometheus does); moved ones do not, their new owner goes on writing them.
    async fn retire(&self, stopped: BTreeMap<GroupKey, RuleGroup>) {
        for (key, group) in stopped {
            let deleted = !self.loaded.lock().contains_key(&key);
            tracing::info!(tenant = %key.tenant, signal = %key.signal, namespace = %key.namespace, group = %key.name, deleted, "rule group stopped");
            if !deleted {
                continue;
            }
            let markers = group.stale_markers(crate::group::now_ms());
            if let Err(e) = self.deps.writer.write(&key.tenant, markers).await {
                self.deps.metrics.write_failed(group.metric_labels());
                tracing::warn!(tenant = %key.tenant, group = %key.name, error = %e, "writing staleness markers failed");
            }
        }
    }

    fn spawn(&self, group: RuleGroup, desc: RuleGroupDesc) -> RunningGroup {
        let key = group.key().clone();
        let snapshot = Arc::new(Mutex::new(GroupSnapshot::of(&group)));
        self.snapshots.lock().insert(key, snapshot.clone());
        let cancel = self.cancel.child_token();
        let task = tokio::spawn(run_group(
            group,
            self.deps.clone(),
            snapshot,
            cancel.clone(),
        ));
        RunningGroup { desc, cancel, task }
    }

    /// Reloads the store every `poll_interval` and re-checks the rings in between.
    async fn run(self: Arc<Self>) {
        let mut next_load = tokio::time::Instant::now() + self.config.poll_interval;
        loop {
            let check = RING_CHECK_PERIOD.min(self.config.poll_interval);
            tokio::select! {
                _ = tokio::time::sleep(check) => {}
                _ = self.cancel.cancelled() => return,
            }
            if tokio::time::Instant::now() >= next_load {
                next_load += self.config.poll_interval;
                if let Err(e) = self.load().await {
                    tracing::warn!(error = %e, "loading rule groups failed, keeping the previous ones");
                }
            }
            self.reconcile().await;
        }
    }

    async fn stop_groups(&self) {
        let groups = std::mem::take(&mut *self.running.lock().await);
        for group in groups.into_values() {
            group.cancel.cancel();
            let _ = group.task.await;
        }
        self.snapshots.lock().clear();
    }
}

impl Service for RulerManager {
    fn name(&self) -> &str {
        "ruler"
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            if let Err(e) = self.sync().await {
                // The store may come up later: the poll loop retries.
                tracing::warn!(error = %e, "first load of rule groups failed");
            }
            let inner = self.inner.clone();
            *self.inner.task.lock() = Some(tokio::spawn(inner.run()));
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            self.inner.cancel.cancel();
            let task = self.inner.task.lock().take();
            if let Some(task) = task {
                let _ = task.await;
            }
            self.inner.stop_groups().await;
            self.inner.deps.notifier.stop().await;
            Ok(())
        })
    }
}

impl RulesStateView for RulerManager {
    fn rule_groups(&self, signal: Signal, tenant: &TenantId) -> Vec<RuleGroupState> {
        self.inner
            .snapshots
            .lock()
            .iter()
            .filter(|(key, _)| key.signal == signal && &key.tenant == tenant)
            .map(|(_, snapshot)| snapshot.lock().state.clone())
            .collect()
    }

    fn alerts(&self, signal: Signal, tenant: &TenantId) -> Vec<AlertInstance> {
        self.inner
            .snapshots
            .lock()
            .iter()
            .filter(|(key, _)| key.signal == signal && &key.tenant == tenant)
            .flat_map(|(_, snapshot)| snapshot.lock().alerts.clone())
            .collect()
    }
}
