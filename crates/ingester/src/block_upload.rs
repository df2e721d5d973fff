//! What the metrics, logs and traces block shippers share: block files uploaded in order
//! (`meta.json` last: present = complete), the bucket index updates, the flush endpoint, the
//! blocking pool, and the timer service ([`ShipperService`] over a [`BlockShipper`]).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sextant_kit::service::{BoxError, Service};
use sextant_model::{Signal, TenantId};
use sextant_storage::keys::block_object_key;
use sextant_storage::{list_tenants, update_bucket_index, StorageError};
use tokio_util::sync::CancellationToken;

use crate::error::IngesterError;
use crate::timer::spawn_every;

/// How long a shipper's start waits for its bucket index refresh.
const BUCKET_INDEX_REFRESH_TIMEOUT: Duration = Duration::from_secs(60);

/// What one shipping pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipOutcome {
    pub blocks_uploaded: usize,
    /// Failures (each tenant stops at its first; later passes retry).
    pub errors: Vec<String>,
}

/// One signal's block shipper, as its timer service and its flush endpoint drive it.
pub(crate) trait BlockShipper: Send + Sync + 'static {
    fn signal(&self) -> Signal;
    /// The bucket the blocks go to.
    fn store(&self) -> &dyn ObjectStore;
    /// The period of the timer.
    fn check_interval(&self) -> Duration;
    /// One timer pass: what is due.
    fn ship_due(&self) -> BoxFuture<'_, ShipOutcome>;
    /// Everything held, now (the flush endpoint).
    fn flush(&self) -> BoxFuture<'_, ShipOutcome>;
    /// After the timer is cancelled: wait for a pass in progress, or flush (see
    /// [`flushed_on_shutdown`]).
    fn shutdown(&self) -> BoxFuture<'_, Result<(), BoxError>>;
}

/// The block ID source of a shipper: `instance_id`, or `$HOSTNAME` when it is empty.
pub(crate) fn source_ingester(instance_id: &str) -> String {
    match instance_id {
        "" => std::env::var("HOSTNAME").unwrap_or_else(|_| "ingester".to_owned()),
        id => id.to_owned(),
    }
}

/// Runs `f` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngesterError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IngesterError::Task(e.to_string()))
}

/// Writes the block's `files` in their order (the caller puts `meta.json` last) under
/// `<signal>/<tenant>/<block_id>/`; the bytes written. Stops at the first failure.
pub(crate) async fn put_block_files(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    block_id: &str,
    files: &[(&str, Bytes)],
) -> Result<u64, IngesterError> {
    let mut bytes = 0;
    for (file, content) in files {
        let key = block_object_key(signal, tenant, block_id, file);
        if let Err(e) = store.put(&key, PutPayload::from(content.clone())).await {
            return Err(IngesterError::Upload {
                tenant: tenant.to_string(),
                block_id: block_id.to_owned(),
                source: StorageError::from(e),
            });
        }
        bytes += content.len() as u64;
    }
    Ok(bytes)
}

/// Rewrites the tenant's `signal` bucket index after an upload.
pub(crate) async fn update_tenant_bucket_index(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<(), IngesterError> {
    match update_bucket_index(store, signal, tenant).await {
        Ok(_) => Ok(()),
        Err(source) => Err(IngesterError::BucketIndex {
            tenant: tenant.to_string(),
            signal: signal.as_str(),
            source,
        }),
    }
}

/// Rewrites the `signal` bucket index of every tenant with blocks in storage (a kill
/// between an upload and its index update left one behind); how many were updated.
/// Failures are logged: readers fall back to a listing, the next upload retries.
pub(crate) async fn refresh_bucket_indexes(store: &dyn ObjectStore, signal: Signal) -> usize {
    let signal_name = signal.as_str();
    let tenants = match list_tenants(store, signal).await {
        Ok(tenants) => tenants,
        Err(e) => {
            tracing::warn!(signal = signal_name, error = %e, "listing tenants for the bucket index refresh failed");
            return 0;
        }
    };
    let mut updated = 0;
    for tenant in tenants {
        match update_bucket_index(store, signal, &tenant).await {
            Ok(_) => updated += 1,
            Err(e) => {
                tracing::warn!(signal = signal_name, %tenant, error = %e, "bucket index refresh failed")
            }
        }
    }
    updated
}

/// `POST` on each of `paths` flushes the shipper: 204 when every tenant shipped, 500 listing
/// the failures otherwise.
pub(crate) fn flush_router<S: BlockShipper>(shipper: &Arc<S>, paths: &[&str]) -> Router {
    paths.iter().fold(Router::new(), |router, path| {
        let this = shipper.clone();
        router.route(
            path,
            post(move || async move {
                let outcome = this.flush().await;
                match outcome.errors.is_empty() {
                    true => StatusCode::NO_CONTENT.into_response(),
                    false => (StatusCode::INTERNAL_SERVER_ERROR, outcome.errors.join("\n"))
                        .into_response(),
                }
            }),
        )
    })
}

/// The result of a flush on shutdown, logged: an error listing the failures, if any.
pub(crate) fn flushed_on_shutdown(signal: Signal, outcome: &ShipOutcome) -> Result<(), BoxError> {
    tracing::info!(
        signal = signal.as_str(),
        blocks = outcome.blocks_uploaded,
        failures = outcome.errors.len(),
        "flushed on shutdown"
    );
    match outcome.errors.is_empty() {
        true => Ok(()),
        false => Err(outcome.errors.join("; ").into()),
    }
}

/// A shipper's lifecycle (`ingester-<signal>-shipper`): at start the bucket indexes are
/// refreshed, then [`BlockShipper::ship_due`] runs every `check_interval`; stopping cancels
/// the timer and calls [`BlockShipper::shutdown`].
pub(crate) struct ShipperService<S: BlockShipper> {
    shipper: Arc<S>,
    name: String,
    cancel: CancellationToken,
}

impl<S: BlockShipper> ShipperService<S> {
    pub(crate) fn new(shipper: Arc<S>) -> Self {
        ShipperService {
            name: format!("ingester-{}-shipper", shipper.signal().as_str()),
            shipper,
            cancel: CancellationToken::new(),
        }
    }
}

impl<S: BlockShipper> Service for ShipperService<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        let shipper = self.shipper.clone();
        let cancel = self.cancel.clone();
        let period = shipper.check_interval();
        Box::pin(async move {
            let signal = shipper.signal();
            let refresh = refresh_bucket_indexes(shipper.store(), signal);
            if tokio::time::timeout(BUCKET_INDEX_REFRESH_TIMEOUT, refresh)
                .await
                .is_err()
            {
                tracing::warn!(
                    signal = signal.as_str(),
                    "bucket index refresh at start timed out; the next upload refreshes it"
                );
            }
            spawn_every(period, cancel, move || {
                let shipper = shipper.clone();
                async move {
                    shipper.ship_due().await;
                }
            });
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        self.cancel.cancel();
        self.shipper.shutdown()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::Body;
    use object_store::memory::InMemory;
    use tower::ServiceExt;

    use super::*;

    /// Counts what the service and the router ask; its passes report `errors`.
    #[derive(Default)]
    struct FakeShipper {
        store: InMemory,
        errors: Vec<String>,
        due: AtomicUsize,
        flushes: AtomicUsize,
        shutdowns: AtomicUsize,
    }

    impl FakeShipper {
        fn outcome(&self) -> ShipOutcome {
            ShipOutcome {
                blocks_uploaded: 1,
                errors: self.errors.clone(),
            }
        }
    }

    impl BlockShipper for FakeShipper {
        fn signal(&self) -> Signal {
            Signal::Logs
        }

        fn store(&self) -> &dyn ObjectStore {
            &self.store
        }

        fn check_interval(&self) -> Duration {
            Duration::from_millis(10)
        }

        fn ship_due(&self) -> BoxFuture<'_, ShipOutcome> {
            self.due.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { self.outcome() })
        }

        fn flush(&self) -> BoxFuture<'_, ShipOutcome> {
            self.flushes.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { self.outcome() })
        }

        fn shutdown(&self) -> BoxFuture<'_, Result<(), BoxError>> {
            self.shutdowns.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { flushed_on_shutdown(Signal::Logs, &self.outcome()) })
        }
    }

    #[tokio::test]
    async fn files_are_stored_under_the_block_and_counted() {
        let store = InMemory::new();
        let tenant = TenantId::parse("t").unwrap();
        let files = [
            ("index", Bytes::from_static(b"ab")),
            ("meta.json", Bytes::from_static(b"{}")),
        ];
        let bytes = put_block_files(&store, Signal::Logs, &tenant, "b1", &files).await;
        assert_eq!(bytes.unwrap(), 4);
        for (file, content) in files {
            let key = block_object_key(Signal::Logs, &tenant, "b1", file);
            let stored = store.get(&key).await.unwrap().bytes().await.unwrap();
            assert_eq!(stored, content, "{file}");
        }
        assert_eq!(source_ingester("ingester-3"), "ingester-3");
    }

    #[tokio::test]
    async fn the_flush_route_answers_204_or_500_listing_the_failures() {
        // errors -> status, body
        let cases: &[(&[&str], StatusCode, &str)] = &[
            (&[], StatusCode::NO_CONTENT, ""),
            (
                &["a failed", "b failed"],
                StatusCode::INTERNAL_SERVER_ERROR,
                "a failed\nb failed",
            ),
        ];
        for &(errors, status, body) in cases {
            let shipper = Arc::new(FakeShipper {
                errors: errors.iter().map(|e| e.to_string()).collect(),
                ..FakeShipper::default()
            });
            let router = flush_router(&shipper, &["/one", "/two"]);
            for path in ["/one", "/two"] {
                let request = http::Request::post(path).body(Body::empty()).unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), status, "{path}");
                let got = axum::body::to_bytes(response.into_body(), 1 << 10).await;
                assert_eq!(got.unwrap(), body.as_bytes(), "{path}");
            }
            assert_eq!(shipper.flushes.load(Ordering::SeqCst), 2);
        }
    }

    #[tokio::test]
    async fn the_service_ships_on_its_timer_and_shuts_the_shipper_down() {
        let shipper = Arc::new(FakeShipper {
            errors: vec!["tenant t: storage is down".into()],
            ..FakeShipper::default()
        });
        let service = ShipperService::new(shipper.clone());
        assert_eq!(service.name(), "ingester-logs-shipper");
        service.start().await.unwrap();
        let ticked = async {
            while shipper.due.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), ticked)
            .await
            .unwrap();
        let error = service.stop().await.unwrap_err();
        assert_eq!(error.to_string(), "tenant t: storage is down");
        assert_eq!(shipper.shutdowns.load(Ordering::SeqCst), 1);
        assert_eq!(shipper.flushes.load(Ordering::SeqCst), 0);
    }
}
