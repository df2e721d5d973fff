//! The traces ingester as a service ([`HeadService`]): replay every tenant's WAL, join the
//! `ingester-traces` ring, fsync the WALs on a timer, report ready; on stop leave the ring,
//! then fsync everything.

use futures::future::BoxFuture;
use sextant_kit::service::BoxError;

use super::TracesIngester;
use crate::head_service::{HeadService, WalHeads};

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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;
    use std::time::Duration;

    use prometheus_client::registry::Registry;
    use sextant_kit::http::Readiness;
    use sextant_kit::overrides::Overrides;
    use sextant_kit::service::Service;
    use sextant_model::TenantLimits;

    use super::*;
    use crate::config::IngesterTracesConfig;
    use crate::test_support::{test_clock, TestRing};
    use crate::traces_ingester::tests::{ingester_with, push_request, span, trace};
    use crate::TracesIngesterLimits;

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
        let ring = Arc::new(TestRing::new(1));
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
        assert_eq!((ring.joins(), ring.leaves()), (1, 1));
        let reasons = readiness.check().unwrap_err();
        assert!(
            reasons[0].contains("traces ingester is leaving the ring"),
            "{reasons:?}"
        );
    }
}
