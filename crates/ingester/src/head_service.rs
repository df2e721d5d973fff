//! One signal's heads as a service: replay every tenant's WAL, join the signal's ring
//! (`ingester-<signal>`), fsync the WALs on a timer, report ready; on stop leave the ring,
//! then fsync everything. The logs and the traces ingesters implement [`WalHeads`].

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sextant_kit::http::ReadyFlag;
use sextant_kit::service::{BoxError, Service};
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use crate::metrics_ingester::RingMembership;
use crate::timer::spawn_every;

/// One signal's per-tenant heads with their WALs, as the lifecycle sees them.
pub trait WalHeads: Send + Sync + 'static {
    /// The signal's name (`traces`): the service is `ingester-<signal>`.
    fn signal(&self) -> &'static str;
    /// Replays every tenant's WAL; how many tenants were opened.
    fn replay(&self) -> BoxFuture<'_, Result<usize, BoxError>>;
    /// Fsyncs every tenant's WAL (errors are logged).
    fn sync(&self) -> BoxFuture<'_, ()>;
}

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
        let period = self.fsync_interval.max(Duration::from_millis(10));
        spawn_every(period, self.background.clone(), move || {
            let heads = heads.clone();
            async move { heads.sync().await }
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use sextant_kit::http::Readiness;

    use super::*;
    use crate::test_support::TestRing;

    /// Heads that count replays and fsyncs; the replay fails when `broken`.
    #[derive(Default)]
    struct CountingHeads {
        broken: bool,
        replays: AtomicUsize,
        syncs: AtomicUsize,
    }

    impl WalHeads for CountingHeads {
        fn signal(&self) -> &'static str {
            "test"
        }

        fn replay(&self) -> BoxFuture<'_, Result<usize, BoxError>> {
            self.replays.fetch_add(1, Ordering::SeqCst);
            let result = match self.broken {
                true => Err("corrupt wal".into()),
                false => Ok(2),
            };
            Box::pin(async move { result })
        }

        fn sync(&self) -> BoxFuture<'_, ()> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {})
        }
    }

    fn service(heads: CountingHeads) -> (HeadService<CountingHeads>, Arc<TestRing>, Readiness) {
        let ring = Arc::new(TestRing::new(1));
        let readiness = Readiness::new();
        let ready = readiness.register("ingester-test");
        let heads = Arc::new(heads);
        let service = HeadService::new(heads, ring.clone(), ready, Duration::from_secs(3600));
        (service, ring, readiness)
    }

    #[tokio::test]
    async fn start_replays_then_joins_stop_leaves_once_and_syncs() {
        let (service, ring, readiness) = service(CountingHeads::default());
        assert_eq!(service.name(), "ingester-test");
        service.start().await.unwrap();
        assert!(readiness.check().is_ok());
        assert_eq!(service.heads.replays.load(Ordering::SeqCst), 1);
        assert_eq!(ring.joins(), 1);
        let synced_before_stop = service.heads.syncs.load(Ordering::SeqCst);
        service.stop().await.unwrap();
        service.stop().await.unwrap();
        assert_eq!(ring.leaves(), 1, "stop is idempotent");
        let synced = service.heads.syncs.load(Ordering::SeqCst) - synced_before_stop;
        // the fsync timer's first tick may run in between
        assert!(synced >= 2, "every stop fsyncs: {synced}");
        let reasons = readiness.check().unwrap_err();
        assert!(
            reasons[0].contains("test ingester is leaving the ring"),
            "{reasons:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_replay_neither_joins_nor_becomes_ready() {
        let broken = CountingHeads {
            broken: true,
            ..CountingHeads::default()
        };
        let (service, ring, readiness) = service(broken);
        let error = service.start().await.unwrap_err();
        assert!(error.to_string().contains("corrupt wal"), "{error}");
        assert_eq!(ring.joins(), 0);
        assert!(readiness.check().is_err());
    }
}
