//! Storing log deletion requests as the compactor's API does (tests only).

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sextant_model::{Signal, TenantId};
use sextant_storage::keys::deletion_request_key;
use sextant_storage::{LogDeletionRequest, LogDeletionStatus};

/// Stores request `id` of `tenant` deleting what `query` selects in `[start_ms, end_ms]`.
pub(crate) async fn store_deletion_request(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    id: &str,
    query: &str,
    (start_ms, end_ms): (i64, i64),
    status: LogDeletionStatus,
) {
    let request = LogDeletionRequest {
        request_id: id.into(),
        query: query.into(),
        start_time_ms: start_ms,
        end_time_ms: end_ms,
        created_at_ms: 0,
        status,
        entries_deleted: 0,
        processed_at_ms: 0,
        applied_through_ms: 0,
    };
    let key = deletion_request_key(Signal::Logs, tenant, id);
    let json = serde_json::to_vec(&request).unwrap();
    store.put(&key, PutPayload::from(json)).await.unwrap();
}
