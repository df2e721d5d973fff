//! Which blocks a tenant has for one signal: read from the tenant's bucket index
//! (`<signal>/<tenant>/bucket-index.json`, or a LIST of its prefix while it has none) and
//! cached per tenant for `bucket_index_refresh`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use parking_lot::Mutex;
use sextant_model::{Signal, TenantId};
use sextant_storage::{list_blocks, BucketBlock};

use crate::source::QuerierError;

#[derive(Clone)]
struct Listing {
    loaded: Instant,
    blocks: Arc<Vec<BucketBlock>>,
}

/// The cached block lists of all tenants, for one signal.
pub(crate) struct BlockCatalog {
    store: Arc<dyn ObjectStore>,
    signal: Signal,
    refresh: Duration,
    tenants: Mutex<HashMap<TenantId, Listing>>,
}

impl BlockCatalog {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, signal: Signal, refresh: Duration) -> Self {
        BlockCatalog {
            store,
            signal,
            refresh,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's blocks, from the cache when it is younger than the refresh interval.
    pub(crate) async fn blocks(
        &self,
        tenant: &TenantId,
    ) -> Result<Arc<Vec<BucketBlock>>, QuerierError> {
        if let Some(listing) = self.tenants.lock().get(tenant) {
            if listing.loaded.elapsed() < self.refresh {
                return Ok(Arc::clone(&listing.blocks));
            }
        }
        let blocks = Arc::new(self.load(tenant).await?);
        tracing::debug!(tenant = %tenant, signal = self.signal.as_str(), blocks = blocks.len(), "refreshed the block list");
        self.tenants.lock().insert(
            tenant.clone(),
            Listing {
                loaded: Instant::now(),
                blocks: Arc::clone(&blocks),
            },
        );
        Ok(blocks)
    }

    /// Forgets a tenant's list, e.g. after a listed block turned out to be gone.
    pub(crate) fn invalidate(&self, tenant: &TenantId) {
        self.tenants.lock().remove(tenant);
    }

    /// The tenant's complete blocks: from its bucket index, or a LIST when it has none yet.
    async fn load(&self, tenant: &TenantId) -> Result<Vec<BucketBlock>, QuerierError> {
        list_blocks(self.store.as_ref(), self.signal, tenant)
            .await
            .map_err(|e| {
                let signal = self.signal.as_str();
                QuerierError::Blocks(format!("cannot list the {signal} blocks of {tenant}: {e}"))
            })
    }
}
