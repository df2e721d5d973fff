//! Stored log deletion requests (Loki's `POST /loki/api/v1/delete`), one JSON object per
//! request under `deletion-requests/logs/<tenant>/<id>.json` (see [`crate::keys`]).
//!
//! The compactor writes them and applies them to blocks; queriers read them with
//! [`list_log_deletion_requests`] to filter the selected entries at query time until then.

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use sextant_model::{Signal, TenantId};

use crate::keys::deletion_requests_prefix;
use crate::StorageError;

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogDeletionStatus {
    /// Stored, cancellable, not yet applied.
    Received,
    /// Applied to every block that existed (and kept in force for later blocks).
    Processed,
}

/// One stored log deletion request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogDeletionRequest {
    pub request_id: String,
    /// A stream selector, optionally followed by line filters.
    pub query: String,
    /// Inclusive time range of the entries to delete (Unix ms).
    pub start_time_ms: i64,
    pub end_time_ms: i64,
    pub created_at_ms: i64,
    pub status: LogDeletionStatus,
    /// Entries deleted so far.
    #[serde(default)]
    pub entries_deleted: u64,
    #[serde(default)]
    pub processed_at_ms: i64,
    /// Blocks whose ULID time is at most this were filtered.
    #[serde(default)]
    pub applied_through_ms: i64,
}

/// The tenant's log deletion requests, oldest first (by creation time, then id). An
/// unreadable one is logged and skipped; one deleted while listing is skipped.
pub async fn list_log_deletion_requests(
    store: &dyn ObjectStore,
    tenant: &TenantId,
) -> Result<Vec<LogDeletionRequest>, StorageError> {
    let prefix = deletion_requests_prefix(Signal::Logs, tenant);
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    let mut requests = Vec::with_capacity(objects.len());
    for object in objects {
        let bytes = match store.get(&object.location).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        match serde_json::from_slice::<LogDeletionRequest>(&bytes) {
            Ok(request) => requests.push(request),
            Err(e) => {
                tracing::warn!(%tenant, key = %object.location, error = %e, "unreadable deletion request skipped")
            }
        }
    }
    requests
        .sort_by(|a, b| (a.created_at_ms, &a.request_id).cmp(&(b.created_at_ms, &b.request_id)));
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::PutPayload;

    use super::*;
    use crate::keys::deletion_request_key;

    fn request(id: &str, created_at_ms: i64, status: LogDeletionStatus) -> LogDeletionRequest {
        LogDeletionRequest {
            request_id: id.into(),
            query: r#"{app="web"} |= "secret""#.into(),
            start_time_ms: 1_000,
            end_time_ms: 2_000,
            created_at_ms,
            status,
            entries_deleted: 0,
            processed_at_ms: 0,
            applied_through_ms: 0,
        }
    }

    async fn put(store: &InMemory, tenant: &TenantId, id: &str, json: Vec<u8>) {
        let key = deletion_request_key(Signal::Logs, tenant, id);
        store.put(&key, PutPayload::from(json)).await.unwrap();
    }

    #[tokio::test]
    async fn lists_a_tenants_requests_oldest_first_skipping_unreadable_ones() {
        let store = InMemory::new();
        let a = TenantId::parse("team-a").unwrap();
        let b = TenantId::parse("team-b").unwrap();
        let stored = [
            ("r2", request("r2", 20, LogDeletionStatus::Processed)),
            ("r1", request("r1", 10, LogDeletionStatus::Received)),
            ("r0", request("r0", 20, LogDeletionStatus::Received)),
        ];
        for (id, r) in &stored {
            put(&store, &a, id, serde_json::to_vec(r).unwrap()).await;
        }
        put(&store, &a, "broken", b"{not json".to_vec()).await;
        put(
            &store,
            &b,
            "other",
            serde_json::to_vec(&stored[0].1).unwrap(),
        )
        .await;

        let listed = list_log_deletion_requests(&store, &a).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids, ["r1", "r0", "r2"]);
        assert_eq!(listed[2], stored[0].1);
        let none = TenantId::parse("team-c").unwrap();
        assert!(list_log_deletion_requests(&store, &none)
            .await
            .unwrap()
            .is_empty());
    }

    #[test]
    fn reads_the_stored_shape() {
        // as the compactor has always written them, optional counters absent
        let json = r#"{"request_id":"00ab","query":"{app=\"web\"}","start_time_ms":1,
            "end_time_ms":2,"created_at_ms":3,"status":"processed"}"#;
        let r: LogDeletionRequest = serde_json::from_str(json).unwrap();
        assert_eq!(r.status, LogDeletionStatus::Processed);
        assert_eq!((r.entries_deleted, r.applied_through_ms), (0, 0));
        let text = serde_json::to_string(&request("x", 1, LogDeletionStatus::Received)).unwrap();
        assert!(text.contains(r#""status":"received""#), "{text}");
    }
}
