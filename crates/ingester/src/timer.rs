//! Background work on a timer (the WAL fsyncs, the block shippers) until it is cancelled.

use std::future::Future;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Runs `work` every `period` on a spawned task, the first time right away, until `cancel`
/// fires; a run that overruns its period delays the next ones rather than bunching them.
pub(crate) fn spawn_every<F, Fut>(period: Duration, cancel: CancellationToken, mut work: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => work().await,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_timer_until_cancelled() {
        let runs = Arc::new(AtomicUsize::new(0));
        let cancel = CancellationToken::new();
        let counted = runs.clone();
        spawn_every(Duration::from_millis(5), cancel.clone(), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        let ran_twice = async {
            while runs.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), ran_twice)
            .await
            .unwrap();
        cancel.cancel();
        // let the task see the cancellation (it may be in a run right now)
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stopped_at = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(runs.load(Ordering::SeqCst), stopped_at);
    }
}
