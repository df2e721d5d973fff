//! Putting traces blocks into a bucket as an ingester uploads them (tests only).

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sextant_model::{Signal, TenantId};
use sextant_storage::{keys, update_bucket_index};
use sextant_traces::block::EncodedTracesBlock;

/// Puts the files of `block` under `traces/<tenant>/<id>/` and refreshes the tenant's bucket
/// index.
pub(crate) async fn put_traces_block(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    id: &str,
    block: &EncodedTracesBlock,
) {
    for (file, bytes) in block.files() {
        let key = keys::block_object_key(Signal::Traces, tenant, id, file);
        store.put(&key, PutPayload::from(bytes)).await.unwrap();
    }
    update_bucket_index(store, Signal::Traces, tenant)
        .await
        .unwrap();
}
