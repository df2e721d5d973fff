//! The logs ingester as a service ([`HeadService`]): replay every tenant's WAL, join the
//! `ingester-logs` ring, fsync idle WALs on a timer, report ready; on stop leave the ring,
//! then fsync everything.

use futures::future::BoxFuture;
use sextant_kit::service::BoxError;

use super::LogsIngester;
use crate::head_service::{HeadService, WalHeads};

impl WalHeads for LogsIngester {
    fn signal(&self) -> &'static str {
        "logs"
    }

    fn replay(&self) -> BoxFuture<'_, Result<usize, BoxError>> {
        Box::pin(async move { Ok(self.replay_all().await?) })
    }

    fn sync(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.sync_all())
    }
}

/// The lifecycle of a [`LogsIngester`] for the service manager:
/// `LogsIngesterService::new(ingester, ring, ready, fsync_interval)`.
pub type LogsIngesterService = HeadService<LogsIngester>;
