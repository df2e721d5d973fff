//! The logs ingester as a service: replay every tenant's WAL, join the `ingester-logs` ring,
//! fsync idle WALs on a timer, report ready; on stop leave the ring, then fsync everything.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sextant_kit::http::ReadyFlag;
use sextant_kit::service::{BoxError, Service};
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use super::LogsIngester;
use crate::metrics_ingester::RingMembership;

/// The lifecycle of a [`LogsIngester`] for the service manager.
pub struct LogsIngesterService {
    ingester: Arc<LogsIngester>,
    ring: Arc<dyn RingMembership>,
    ready: ReadyFlag,
    fsync_interval: Duration,
    background: CancellationToken,
    left: AsyncMutex<bool>,
}

impl LogsIngesterService {
    pub fn new(
        ingester: Arc<LogsIngester>,
        ring: Arc<dyn RingMembership>,
        ready: ReadyFlag,
        fsync_interval: Duration,
    ) -> Self {
        LogsIngesterService {
            ingester,
            ring,
            ready,
            fsync_interval,
            background: CancellationToken::new(),
            left: AsyncMutex::new(false),
        }
    }

    fn spawn_fsync_timer(&self) {
        let ingester = self.ingester.clone();
        let cancel = self.background.clone();
        let period = self.fsync_interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => ingester.sync_all().await,
                }
            }
        });
    }

    /// Leaves the ring (once), then fsyncs every WAL.
    async fn leave_and_flush(&self) -> Result<(), BoxError> {
        let mut left = self.left.lock().await;
        if !*left {
            self.ready
                .set_not_ready("logs ingester is leaving the ring");
            self.ring.leave().await?;
            *left = true;
        }
        self.ingester.sync_all().await;
        Ok(())
    }
}

impl Service for LogsIngesterService {
    fn name(&self) -> &str {
        "ingester-logs"
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            let tenants = self.ingester.replay_all().await?;
            tracing::info!(signal = "logs", tenants, "wal replay finished");
            self.ring.join().await?;
            self.spawn_fsync_timer();
            self.ready.set_ready(true);
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            let result = self.leave_and_flush().await;
            self.background.cancel();
            result
        })
    }
}
