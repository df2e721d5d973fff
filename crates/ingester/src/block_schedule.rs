//! When a head's blocks are due, shared by the metrics and the logs shippers: ranges aligned
//! to the block duration, cut once the head is a grace period past their end, and truncated
//! from the head `retain_after_upload` after their upload. Times are in the caller's unit
//! (ms for metrics, ns for logs). [`ship_tenants`] runs a shipping pass over an
//! [`AlignedShipper`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sextant_model::{Signal, TenantId};

use crate::block_upload::ShipOutcome;
use crate::error::IngesterError;

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

/// A shipper of aligned blocks (metrics, logs), as [`ship_due_ranges`] drives it over one
/// tenant's head.
pub(crate) trait AlignedShipper: Sync {
    type Head: Send + Sync;
    /// The block duration and the cut grace, in the head's time unit.
    fn block_and_grace(&self) -> (i64, i64);
    fn retain_after_upload(&self) -> Duration;
    /// Now, by the shipper's clock (when an upload finished).
    fn now(&self) -> SystemTime;
    /// The head's `(min, max)` time, if it holds anything, and where shipping stopped.
    fn head_times(&self, head: &Self::Head) -> (Option<(i64, i64)>, i64);
    /// Cuts the range ending at `boundary`, uploads it and records it as shipped; whether
    /// there was a block (a range may hold nothing).
    fn ship_range(
        &self,
        tenant: &TenantId,
        head: &Arc<Self::Head>,
        boundary: i64,
    ) -> impl Future<Output = Result<bool, IngesterError>> + Send;
    /// Drops everything before `boundary` from the head and its WAL.
    fn truncate_head(
        &self,
        tenant: &TenantId,
        head: &Arc<Self::Head>,
        boundary: i64,
    ) -> impl Future<Output = Result<(), IngesterError>> + Send;
}

/// One pass over every tenant's head (`heads`): [`ship_due_ranges`] for each, with the
/// ranges it retains in `retained`; a tenant's failure is logged and listed in the outcome
/// (the next pass retries it).
pub(crate) async fn ship_tenants<S: AlignedShipper>(
    shipper: &S,
    signal: Signal,
    heads: Vec<(TenantId, Arc<S::Head>)>,
    retained: &mut HashMap<TenantId, Vec<Shipped>>,
    force: bool,
) -> ShipOutcome {
    let mut outcome = ShipOutcome::default();
    for (tenant, head) in heads {
        let shipped = retained.entry(tenant.clone()).or_default();
        let result = ship_due_ranges(shipper, &tenant, &head, force, shipped, &mut outcome).await;
        if let Err(e) = result {
            tracing::error!(signal = signal.as_str(), %tenant, error = %e, "block shipping failed; retrying on the next tick");
            outcome.errors.push(e.to_string());
        }
    }
    outcome
}

/// Ships the tenant's due ranges oldest first (with `force`, every range up to the head's
/// max time when the pass began), recording each in `retained`, and truncates the head up
/// to what was shipped `retain_after_upload` ago.
async fn ship_due_ranges<S: AlignedShipper>(
    shipper: &S,
    tenant: &TenantId,
    head: &Arc<S::Head>,
    force: bool,
    retained: &mut Vec<Shipped>,
    outcome: &mut ShipOutcome,
) -> Result<(), IngesterError> {
    let (block, grace) = shipper.block_and_grace();
    let flush_until = shipper
        .head_times(head)
        .0
        .filter(|_| force)
        .map(|(_, max)| max);
    for _ in 0..MAX_BLOCKS_PER_PASS {
        // the head may still hold shipped data: cutting goes on where shipping stopped
        let (range, shipped_until) = shipper.head_times(head);
        let range = range.map(|(min, max)| (min.max(shipped_until), max));
        let Some(boundary) = next_boundary(range, block, grace, flush_until) else {
            break;
        };
        if shipper.ship_range(tenant, head, boundary).await? {
            outcome.blocks_uploaded += 1;
        }
        retained.push((boundary, shipper.now()));
        truncate_retained(shipper, tenant, head, retained).await?;
    }
    truncate_retained(shipper, tenant, head, retained).await
}

/// Truncates the head up to the newest range shipped `retain_after_upload` ago, if any.
async fn truncate_retained<S: AlignedShipper>(
    shipper: &S,
    tenant: &TenantId,
    head: &Arc<S::Head>,
    retained: &mut Vec<Shipped>,
) -> Result<(), IngesterError> {
    let retain = shipper.retain_after_upload();
    let Some(boundary) = truncation_due(retained, retain, shipper.now()) else {
        return Ok(());
    };
    shipper.truncate_head(tenant, head, boundary).await?;
    retained.retain(|(b, _)| *b > boundary);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use parking_lot::Mutex;

    use super::*;

    /// A head spanning `range`, cut by [`FakeShipper`] at blocks of 100 with a grace of 50.
    struct FakeHead {
        range: Option<(i64, i64)>,
        shipped_until: AtomicI64,
    }

    /// Records the ranges it ships and the truncations; fails to ship `fail_at`.
    struct FakeShipper {
        retain: Duration,
        fail_at: Option<i64>,
        shipped: Mutex<Vec<i64>>,
        truncated: Mutex<Vec<i64>>,
    }

    impl AlignedShipper for FakeShipper {
        type Head = FakeHead;

        fn block_and_grace(&self) -> (i64, i64) {
            (100, 50)
        }

        fn retain_after_upload(&self) -> Duration {
            self.retain
        }

        fn now(&self) -> SystemTime {
            SystemTime::UNIX_EPOCH
        }

        fn head_times(&self, head: &FakeHead) -> (Option<(i64, i64)>, i64) {
            (head.range, head.shipped_until.load(Ordering::SeqCst))
        }

        async fn ship_range(
            &self,
            _: &TenantId,
            head: &Arc<FakeHead>,
            boundary: i64,
        ) -> Result<bool, IngesterError> {
            if self.fail_at == Some(boundary) {
                return Err(IngesterError::Task("storage is down".into()));
            }
            head.shipped_until.store(boundary, Ordering::SeqCst);
            self.shipped.lock().push(boundary);
            Ok(true)
        }

        async fn truncate_head(
            &self,
            _: &TenantId,
            _: &Arc<FakeHead>,
            boundary: i64,
        ) -> Result<(), IngesterError> {
            self.truncated.lock().push(boundary);
            Ok(())
        }
    }

    #[tokio::test]
    async fn due_ranges_are_shipped_oldest_first_then_truncated() {
        // range, force, retain (s), fail_at -> shipped, truncated, failed
        type Case = (Option<(i64, i64)>, bool, u64, Option<i64>);
        type Want = (&'static [i64], &'static [i64], bool);
        let cases: &[(Case, Want)] = &[
            ((None, true, 0, None), (&[], &[], false)),
            ((Some((10, 140)), false, 0, None), (&[], &[], false)),
            (
                (Some((10, 260)), false, 0, None),
                (&[100, 200], &[100, 200], false),
            ),
            (
                (Some((10, 260)), true, 0, None),
                (&[100, 200, 261], &[100, 200, 261], false),
            ),
            (
                (Some((10, 260)), false, 60, None),
                (&[100, 200], &[], false),
            ),
            (
                (Some((10, 260)), false, 0, Some(200)),
                (&[100], &[100], true),
            ),
        ];
        let tenant = TenantId::parse("t").unwrap();
        for &((range, force, retain, fail_at), (shipped, truncated, failed)) in cases {
            let shipper = FakeShipper {
                retain: Duration::from_secs(retain),
                fail_at,
                shipped: Mutex::new(Vec::new()),
                truncated: Mutex::new(Vec::new()),
            };
            let head = Arc::new(FakeHead {
                range,
                shipped_until: AtomicI64::new(i64::MIN),
            });
            let (mut retained, mut outcome) = (Vec::new(), ShipOutcome::default());
            let result =
                ship_due_ranges(&shipper, &tenant, &head, force, &mut retained, &mut outcome).await;
            let case = format!("{range:?} {force} {retain} {fail_at:?}");
            assert_eq!(result.is_err(), failed, "{case}");
            assert_eq!(*shipper.shipped.lock(), shipped, "{case}");
            assert_eq!(*shipper.truncated.lock(), truncated, "{case}");
            assert_eq!(outcome.blocks_uploaded, shipped.len(), "{case}");
            let kept = shipped.len() - truncated.len();
            assert_eq!(retained.len(), kept, "{case}");
        }
    }

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
