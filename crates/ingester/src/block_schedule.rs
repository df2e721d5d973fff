//! When a head's blocks are due, shared by the metrics and the logs shippers: ranges aligned
//! to the block duration, cut once the head is a grace period past their end, and truncated
//! from the head `retain_after_upload` after their upload. Times are in the caller's unit
//! (ms for metrics, ns for logs).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long a shipper's start waits for its bucket index refresh.
pub(crate) const BUCKET_INDEX_REFRESH_TIMEOUT: Duration = Duration::from_secs(60);

/// Most blocks one tenant cuts in one pass (a guard against a head that never empties).
pub(crate) const MAX_BLOCKS_PER_PASS: usize = 10_000;

/// A shipper's clock, for the upload times that decide when a head is truncated (a seam for
/// tests).
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A shipped range still held by the head: the block's end and when its upload finished.
pub(crate) type Shipped = (i64, SystemTime);

/// The end (exclusive) of the next block to cut from a head spanning `[min, max]`, if one is
/// due: the end of the aligned range holding `min`, once `max` is `grace` past it. A flush
/// passes `flush_until` (the head's max time when it began): every range up to it is due and
/// the last one ends right after it, so data arriving during the flush does not prolong it.
pub(crate) fn next_boundary(
    range: Option<(i64, i64)>,
    block: i64,
    grace: i64,
    flush_until: Option<i64>,
) -> Option<i64> {
    let (min, max) = range?;
    let block = block.max(1);
    let end = min
        .div_euclid(block)
        .saturating_add(1)
        .saturating_mul(block);
    match flush_until {
        Some(until) => (min <= until).then(|| end.min(until.saturating_add(1))),
        None => (max >= end.saturating_add(grace)).then_some(end),
    }
}

/// The newest boundary whose upload is at least `retain` old at `now`: the head may be
/// truncated up to it. `0s` truncates everything shipped (whatever the clock says).
pub(crate) fn truncation_due(
    shipped: &[Shipped],
    retain: Duration,
    now: SystemTime,
) -> Option<i64> {
    shipped
        .iter()
        .filter(|(_, at)| retain.is_zero() || at.checked_add(retain).is_some_and(|t| t <= now))
        .map(|(boundary, _)| *boundary)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_waits_for_the_retention() {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let shipped = [(10, t(100)), (20, t(130)), (30, t(160))];
        // retain, now -> boundary
        let cases: &[(u64, u64, Option<i64>)] = &[
            (60, 159, None),
            (60, 160, Some(10)),
            (60, 219, Some(20)),
            (60, 500, Some(30)),
            (0, 0, Some(30)),
            (0, 100, Some(30)),
        ];
        for &(retain, now, want) in cases {
            let retain = Duration::from_secs(retain);
            assert_eq!(
                truncation_due(&shipped, retain, t(now)),
                want,
                "{retain:?} {now}"
            );
        }
        assert_eq!(truncation_due(&[], Duration::ZERO, t(0)), None);
    }

    #[test]
    fn boundaries_are_aligned_and_wait_for_the_grace() {
        // (min, max), block, grace, force -> boundary
        type Case = (Option<(i64, i64)>, i64, i64, Option<i64>, Option<i64>);
        let cases: &[Case] = &[
            (None, 100, 50, None, None),
            (None, 100, 50, Some(20), None),
            (Some((10, 140)), 100, 50, None, None),
            (Some((10, 150)), 100, 50, None, Some(100)),
            (Some((100, 260)), 100, 50, None, Some(200)),
            (Some((-50, 60)), 100, 10, None, Some(0)),
            (Some((10, 20)), 100, 50, Some(20), Some(21)),
            (Some((10, 520)), 100, 50, Some(520), Some(100)),
            (Some((500, 500)), 100, 50, Some(500), Some(501)),
            // data that arrived after the flush began waits for the timer
            (Some((521, 530)), 100, 50, Some(520), None),
            (Some((510, 530)), 100, 50, Some(520), Some(521)),
            // everything up to the head's max was shipped already
            (Some((600, 590)), 100, 50, None, None),
        ];
        for &(range, block, grace, flush, want) in cases {
            assert_eq!(
                next_boundary(range, block, grace, flush),
                want,
                "{range:?} {block} {grace} {flush:?}"
            );
        }
    }
}
