//! Test doubles shared by the ingesters' tests.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures::future::BoxFuture;
use sextant_kit::service::BoxError;

use crate::block_schedule::Clock;
use crate::metrics_ingester::RingMembership;

/// A ring membership that records joins and leaves and reports `healthy` healthy instances.
#[derive(Debug, Default)]
pub(crate) struct TestRing {
    joins: AtomicUsize,
    leaves: AtomicUsize,
    healthy: usize,
}

impl TestRing {
    pub(crate) fn new(healthy: usize) -> Self {
        TestRing {
            healthy,
            ..TestRing::default()
        }
    }

    pub(crate) fn joins(&self) -> usize {
        self.joins.load(Ordering::SeqCst)
    }

    pub(crate) fn leaves(&self) -> usize {
        self.leaves.load(Ordering::SeqCst)
    }
}

impl RingMembership for TestRing {
    fn join(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        self.joins.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }

    fn leave(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        self.leaves.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }

    fn healthy_instances(&self) -> usize {
        self.healthy
    }
}

/// A clock reading `seconds` since the epoch, which tests move.
pub(crate) fn test_clock(seconds: &Arc<AtomicU64>) -> Clock {
    let seen = seconds.clone();
    Arc::new(move || UNIX_EPOCH + Duration::from_secs(seen.load(Ordering::SeqCst)))
}
