//! Per-tenant token buckets: the local ingestion rate limit (Mimir's "local" strategy, each
//! distributor enforces the configured rate on its own).

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;
use sextant_model::TenantId;

/// A token bucket refilled at `rate` per second up to `burst`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by tenant. Rate and burst come with each call, so runtime overrides
/// apply without rebuilding anything.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<TenantId, Bucket>>,
}

impl RateLimiter {
    /// Takes `n` tokens if available. `rate <= 0` means unlimited. A request larger than the
    /// burst can never pass, as in Mimir.
    pub(crate) fn allow(
        &self,
        tenant: &TenantId,
        n: u64,
        rate: f64,
        burst: u64,
        now: Instant,
    ) -> bool {
        if rate <= 0.0 {
            return true;
        }
        let burst = burst as f64;
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(tenant.clone()).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= n as f64 {
            bucket.tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refills_at_rate_up_to_burst() {
        let limiter = RateLimiter::default();
        let t = TenantId::parse("t").unwrap();
        let start = Instant::now();
        assert!(limiter.allow(&t, 10, 10.0, 10, start));
        assert!(!limiter.allow(&t, 1, 10.0, 10, start));
        let later = start + Duration::from_millis(500);
        assert!(limiter.allow(&t, 5, 10.0, 10, later));
        assert!(!limiter.allow(&t, 1, 10.0, 10, later));
        // never more than the burst, however long we wait
        let much_later = later + Duration::from_secs(100);
        assert!(!limiter.allow(&t, 11, 10.0, 10, much_later));
        assert!(limiter.allow(&t, 10, 10.0, 10, much_later));
    }

    #[test]
    fn zero_rate_is_unlimited_and_tenants_are_separate() {
        let limiter = RateLimiter::default();
        let a = TenantId::parse("a").unwrap();
        let b = TenantId::parse("b").unwrap();
        let now = Instant::now();
        assert!(limiter.allow(&a, 1_000_000, 0.0, 1, now));
        assert!(limiter.allow(&a, 1, 1.0, 1, now));
        assert!(!limiter.allow(&a, 1, 1.0, 1, now));
        assert!(limiter.allow(&b, 1, 1.0, 1, now));
    }
}
