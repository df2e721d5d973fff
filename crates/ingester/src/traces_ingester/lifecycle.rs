//! The traces ingester as a service: replay every tenant's WAL, join the `ingester-traces`
//! ring, fsync the WALs on a timer, report ready; on stop leave the ring, then fsync
//! everything.
//!
//! [`HeadService`] is generic over [`WalHeads`] (replay and fsync of one signal's heads) so
//! the logs ingester's service, which does the same, can become a second implementation.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sextant_kit::http::ReadyFlag;
use sextant_kit::service::{BoxError, Service};
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use super::TracesIngester;
use crate::metrics_ingester::RingMembership;

/// One signal's per-tenant heads with their WALs, as the lifecycle sees them.
pub trait WalHeads: Send + Sync + 'static {
    /// The signal's name (`traces`): the service is `ingester-<signal>`.
    fn signal(&self) -> &'static str;
    /// Replays every tenant's WAL; how many tenants were opened.
    fn replay(&self) -> BoxFuture<'_, Result<usize, BoxError>>;
    /// Fsyncs every tenant's WAL (errors are logged).
    fn sync(&self) -> BoxFuture<'_, ()>;
}

impl WalHeads for TracesIngester {
    fn signal(&self) -> &'static str {
        "traces"
    }

    fn replay(&self) -> BoxFuture<'_, Result<usize, BoxError>> {
        Box::pin(async move { Ok(self.replay_all().await?) })
    }

    fn sync(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.sync_all())
    }
}

/// The traces ingester's lifecycle.
pub type TracesIngesterService = HeadService<TracesIngester>;

/// The lifecycle of one signal's heads for the service manager.
pub struct HeadService<H: WalHeads> {
    heads: Arc<H>,
    name: String,
    ring: Arc<dyn RingMembership>,
    ready: ReadyFlag,
    fsync_interval: Duration,
    background: CancellationToken,
    left: AsyncMutex<bool>,
}

impl<H: WalHeads> HeadService<H> {
    pub fn new(
        heads: Arc<H>,
        ring: Arc<dyn RingMembership>,
        ready: ReadyFlag,
        fsync_interval: Duration,
    ) -> Self {
        HeadService {
            name: format!("ingester-{}", heads.signal()),
            heads,
            ring,
            ready,
            fsync_interval,
            background: CancellationToken::new(),
            left: AsyncMutex::new(false),
        }
    }

    fn spawn_fsync_timer(&self) {
        let heads = self.heads.clone();
        let cancel = self.background.clone();
        let period = self.fsync_interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => heads.sync().await,
                }
            }
        });
    }

    /// Leaves the ring (once), then fsyncs every WAL.
    async fn leave_and_sync(&self) -> Result<(), BoxError> {
        let mut left = self.left.lock().await;
        if !*left {
            let signal = self.heads.signal();
            self.ready
                .set_not_ready(format!("{signal} ingester is leaving the ring"));
            self.ring.leave().await?;
            *left = true;
        }
        self.heads.sync().await;
        Ok(())
    }
}

impl<H: WalHeads> Service for HeadService<H> {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            let tenants = self.heads.replay().await?;
            tracing::info!(signal = self.heads.signal(), tenants, "wal replay finished");
            self.ring.join().await?;
            self.spawn_fsync_timer();
            self.ready.set_ready(true);
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            let result = self.leave_and_sync().await;
            self.background.cancel();
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use prometheus_client::registry::Registry;
    use sextant_kit::http::Readiness;
    use sextant_kit::overrides::Overrides;
    use sextant_model::TenantLimits;

    use super::*;
    use crate::config::IngesterTracesConfig;
    use crate::traces_ingester::tests::{ingester_with, push_request, span, test_clock, trace};
    use crate::TracesIngesterLimits;

    /// Counts joins and leaves.
    #[derive(Default)]
    struct CountingRing {
        joins: AtomicUsize,
        leaves: AtomicUsize,
    }

    impl RingMembership for CountingRing {
        fn join(&self) -> BoxFuture<'_, Result<(), BoxError>> {
            self.joins.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        }
        fn leave(&self) -> BoxFuture<'_, Result<(), BoxError>> {
            self.leaves.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        }
        fn healthy_instances(&self) -> usize {
            1
        }
    }

    #[tokio::test]
    async fn start_replays_joins_and_is_ready_stop_leaves_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = IngesterTracesConfig::default();
        let clock = test_clock(&Arc::new(AtomicU64::new(1_700_000_000)));
        let first = ingester_with(dir.path(), &config, TenantLimits::default(), clock);
        let pushed = trace(4, "api", vec![span(4, 1, 0, "root", 0, 10)]);
        first.push(push_request("t", &[pushed])).await.unwrap();
        drop(first);

        let limits = TracesIngesterLimits::new(Overrides::fixed(TenantLimits::default()), None, 3);
        let ingester = Arc::new(TracesIngester::new(
            dir.path(),
            &config,
            limits,
            &mut Registry::default(),
        ));
        let ring = Arc::new(CountingRing::default());
        let readiness = Readiness::new();
        let service = TracesIngesterService::new(
            ingester.clone(),
            ring.clone(),
            readiness.register("ingester-traces"),
            Duration::from_millis(10),
        );
        assert_eq!(service.name(), "ingester-traces");
        assert!(readiness.check().is_err());
        service.start().await.unwrap();
        assert!(readiness.check().is_ok());
        assert_eq!(ingester.tenant_dbs().len(), 1, "the WAL was replayed");
        service.stop().await.unwrap();
        service.stop().await.unwrap();
        let counts = (
            ring.joins.load(Ordering::SeqCst),
            ring.leaves.load(Ordering::SeqCst),
        );
        assert_eq!(counts, (1, 1));
        let reasons = readiness.check().unwrap_err();
        assert!(
            reasons[0].contains("traces ingester is leaving the ring"),
            "{reasons:?}"
        );
    }
}
