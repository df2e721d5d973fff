//! The evaluation loop of one group (Prometheus's `Group.run`): evaluations at
//! `base + k × interval`, where the base is offset within the interval by the group's hash so
//! that groups spread out; late wake-ups skip the missed iterations (counted); the `for`
//! state is restored after the second evaluation.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::{GroupDeps, RuleGroup};
use crate::state::{AlertInstance, RuleGroupState};

/// What readers see of a running group: refreshed after every evaluation.
#[derive(Debug, Clone)]
pub struct GroupSnapshot {
    pub state: RuleGroupState,
    pub alerts: Vec<AlertInstance>,
}

impl GroupSnapshot {
    pub fn of(group: &RuleGroup) -> Self {
        Self {
            state: group.state(),
            alerts: group.alerts(),
        }
    }
}

/// The latest evaluation timestamp at or before `now_ms` of a group evaluated every
/// `interval_ms` at `offset_ms` past the interval's boundaries.
pub fn eval_timestamp(now_ms: i64, interval_ms: i64, offset_ms: i64) -> i64 {
    let adjusted = now_ms - offset_ms;
    adjusted - adjusted.rem_euclid(interval_ms) + offset_ms
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs `group` until `cancel`, publishing its state into `snapshot`; returns the group so
/// that a replacement can take its state over.
pub async fn run_group(
    mut group: RuleGroup,
    deps: Arc<GroupDeps>,
    snapshot: Arc<Mutex<GroupSnapshot>>,
    cancel: CancellationToken,
) -> RuleGroup {
    let interval_ms = (group.interval().as_millis() as i64).max(1);
    let offset_ms = (group.key().hash() % interval_ms as u64) as i64;
    let mut ts = eval_timestamp(now_ms(), interval_ms, offset_ms) + interval_ms;
    *snapshot.lock() = GroupSnapshot::of(&group);
    let mut evaluations = 0u64;
    loop {
        let wait = Duration::from_millis((ts - now_ms()).max(0) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return group,
        }
        let missed = ((now_ms() - ts) / interval_ms).max(0);
        ts += missed * interval_ms;
        let started = Instant::now();
        group.eval(&deps, ts).await;
        evaluations += 1;
        if evaluations >= 2 && group.needs_restore() {
            group.restore(&deps, now_ms()).await;
        }
        deps.metrics.group_evaluated(
            group.metric_labels(),
            started.elapsed().as_secs_f64(),
            missed as u64,
        );
        *snapshot.lock() = GroupSnapshot::of(&group);
        ts += interval_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_timestamps_are_aligned_with_the_offset() {
        // (now, interval, offset, want)
        let cases = [
            (125_000, 60_000, 0, 120_000),
            (125_000, 60_000, 7_000, 67_000),
            (127_000, 60_000, 7_000, 127_000),
            (126_999, 60_000, 7_000, 67_000),
            (5, 10, 9, -1),
        ];
        for (now, interval, offset, want) in cases {
            assert_eq!(
                eval_timestamp(now, interval, offset),
                want,
                "{now} {interval} {offset}"
            );
        }
    }
}
