//! Reading recent data from the ingesters: every healthy instance of an ingester ring
//! (`ingester-metrics`, `ingester-logs`, `ingester-traces`) is asked, and a call succeeds
//! while at most `replication_factor / 2` of them failed (unhealthy instances count as failed), so every
//! quorum-acknowledged sample or entry is seen. [`IngesterFanOut`] is generic over the
//! signal's client trait ([`IngesterQueryClients`] here, `LogsIngesterQueryClients` in
//! `logs_querier`, `TracesIngesterQueryClients` in `traces_querier`) and judges heartbeats
//! by its clock.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use sextant_proto::ingester::{
    MetricsLabelsRequest, MetricsMetadataRequest, MetricsQueryRequest, MetricsSeriesRequest,
    SeriesLabels,
};
use sextant_proto::prometheus::{MetricMetadata, TimeSeries};
use sextant_ring::{InstanceDesc, InstanceState, TokenRing};
use tonic::Status;

use crate::instrumentation::IngesterRequests;
use crate::querier::Clock;
use crate::source::QuerierError;

/// Where the querier reads the current ring of its ingesters from.
pub type RingSnapshot = Arc<dyn Fn() -> Arc<TokenRing> + Send + Sync>;

/// Sends read requests to the ingester at `addr`. Production uses pooled tonic clients of
/// `MetricsIngester`; tests use in-memory ingesters.
pub trait IngesterQueryClients: Send + Sync + 'static {
    /// `QueryStream`, with the streamed batches' series concatenated.
    fn query_stream(
        &self,
        addr: &str,
        request: MetricsQueryRequest,
    ) -> BoxFuture<'static, Result<Vec<TimeSeries>, Status>>;

    /// `LabelNames`: the response's values.
    fn label_names(
        &self,
        addr: &str,
        request: MetricsLabelsRequest,
    ) -> BoxFuture<'static, Result<Vec<String>, Status>>;

    /// `LabelValues`: the response's values.
    fn label_values(
        &self,
        addr: &str,
        request: MetricsLabelsRequest,
    ) -> BoxFuture<'static, Result<Vec<String>, Status>>;

    /// `Series`: the response's label sets.
    fn series(
        &self,
        addr: &str,
        request: MetricsSeriesRequest,
    ) -> BoxFuture<'static, Result<Vec<SeriesLabels>, Status>>;

    /// `Metadata`: the response's entries.
    fn metadata(
        &self,
        addr: &str,
        request: MetricsMetadataRequest,
    ) -> BoxFuture<'static, Result<Vec<MetricMetadata>, Status>>;
}

/// Fans one request out to the ring's healthy ingesters through clients `C`.
pub(crate) struct IngesterFanOut<C: ?Sized> {
    /// The ring's name in error messages (`ingester-metrics`).
    ring_name: &'static str,
    pub(crate) ring: RingSnapshot,
    clients: Arc<C>,
    requests: IngesterRequests,
    /// Judges the instances' heartbeats.
    clock: Clock,
}

impl<C: ?Sized> IngesterFanOut<C> {
    /// A fan-out over the ring `ring_name` judging heartbeats by the wall clock.
    pub(crate) fn new(
        ring_name: &'static str,
        ring: RingSnapshot,
        clients: Arc<C>,
        requests: IngesterRequests,
    ) -> Self {
        IngesterFanOut {
            ring_name,
            ring,
            clients,
            requests,
            clock: Arc::new(system_now_ms),
        }
    }

    /// Replaces the wall clock (tests).
    pub(crate) fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Unix milliseconds now, by the fan-out's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        (self.clock)()
    }
}

fn system_now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The instances to ask and those that count as failed before anything is sent.
struct Targets {
    ask: Vec<InstanceDesc>,
    failures: Vec<String>,
    max_failures: usize,
}

fn targets(ring: &TokenRing, now_ms: i64) -> Targets {
    let timeout = i64::try_from(ring.config().heartbeat_timeout.as_millis()).unwrap_or(i64::MAX);
    let mut ask = Vec::new();
    let mut failures = Vec::new();
    for instance in ring.instances() {
        if !instance.is_healthy(now_ms, timeout) {
            failures.push(format!("{} at {}: unhealthy", instance.id, instance.addr));
        } else if matches!(
            instance.state,
            InstanceState::Active | InstanceState::Leaving
        ) {
            ask.push(instance.clone());
        }
        // a healthy JOINING instance owns no data yet
    }
    Targets {
        ask,
        failures,
        max_failures: ring.config().replication_factor / 2,
    }
}

impl<C: ?Sized + Send + Sync> IngesterFanOut<C> {
    /// Calls `call` on every healthy ingester and returns the successful answers, failing
    /// once more than `replication_factor / 2` instances failed.
    pub(crate) async fn call<T, F>(
        &self,
        operation: &'static str,
        call: F,
    ) -> Result<Vec<T>, QuerierError>
    where
        F: Fn(&C, &str) -> BoxFuture<'static, Result<T, Status>>,
    {
        let now_ms = self.now_ms();
        let ring = (self.ring)();
        if ring.instances().is_empty() {
            return Err(QuerierError::Ingesters(format!(
                "the {} ring has no instances",
                self.ring_name
            )));
        }
        let Targets {
            ask,
            mut failures,
            max_failures,
        } = targets(&ring, now_ms);
        let mut pending: FuturesUnordered<_> = ask
            .iter()
            .map(|instance| {
                let fut = call(self.clients.as_ref(), &instance.addr);
                async move { (instance, fut.await) }
            })
            .collect();
        let mut answers = Vec::with_capacity(ask.len());
        while failures.len() <= max_failures {
            let Some((instance, result)) = pending.next().await else {
                break;
            };
            self.requests.record(operation, result.is_ok());
            match result {
                Ok(answer) => answers.push(answer),
                Err(status) => {
                    tracing::warn!(
                        operation,
                        instance = %instance.id,
                        addr = %instance.addr,
                        error = %status.message(),
                        "ingester request failed"
                    );
                    failures.push(format!(
                        "{} at {}: {}",
                        instance.id,
                        instance.addr,
                        status.message()
                    ));
                }
            }
        }
        if failures.len() > max_failures {
            return Err(QuerierError::Ingesters(format!(
                "{} of the {} ring failed (at most {max_failures} may): {}",
                failures.len(),
                self.ring_name,
                failures.join("; ")
            )));
        }
        Ok(answers)
    }
}

#[cfg(test)]
pub(crate) mod fakes;

#[cfg(test)]
mod tests {
    use super::fakes::fake_ring;
    use super::*;

    fn ring(instances: &[(&str, InstanceState, i64)]) -> Arc<TokenRing> {
        let addrs: Vec<String> = instances
            .iter()
            .map(|(id, ..)| format!("{id}:9095"))
            .collect();
        let instances: Vec<(&str, &str, InstanceState, i64)> = instances
            .iter()
            .zip(&addrs)
            .map(|(&(id, state, heartbeat_ms), addr)| (id, addr.as_str(), state, heartbeat_ms))
            .collect();
        fake_ring(&instances, 1000)
    }

    #[test]
    fn targets_by_state_and_health() {
        use InstanceState::*;
        let now = 1_000_000;
        let stale = now - 61_000;
        let cases = [
            (
                "all active",
                vec![("a", Active, now), ("b", Active, now)],
                2,
                0,
            ),
            ("leaving is asked", vec![("a", Leaving, now)], 1, 0),
            ("joining is skipped", vec![("a", Joining, now)], 0, 0),
            (
                "stale heartbeat fails",
                vec![("a", Active, stale), ("b", Active, now)],
                1,
                1,
            ),
        ];
        for (name, instances, ask, failed) in cases {
            let t = targets(&ring(&instances), now);
            assert_eq!((t.ask.len(), t.failures.len()), (ask, failed), "{name}");
            assert_eq!(t.max_failures, 1, "{name}");
        }
    }
}
