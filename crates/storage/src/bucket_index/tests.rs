//! The bucket index against an in-memory store.

use object_store::memory::InMemory;

use super::*;
use crate::keys::block_object_key;

fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

fn meta(id: &str, min: i64, max: i64, level: u32) -> Vec<u8> {
    format!(
        r#"{{"version":2,"block_id":"{id}","min_time_ms":{min},"max_time_ms":{max},
            "stats":{{"series":1}},"source_ingester":"ing-1",
            "compaction":{{"level":{level},"sources":["{id}"]}},"tenant":"team-a"}}"#
    )
    .into_bytes()
}

async fn put(store: &InMemory, id: &str, file: &str, bytes: Vec<u8>) {
    let key = block_object_key(Signal::Metrics, &tenant(), id, file);
    store.put(&key, PutPayload::from(bytes)).await.unwrap();
}

fn ids(blocks: &[BucketBlock]) -> Vec<&str> {
    blocks.iter().map(|b| b.block_id.as_str()).collect()
}

#[tokio::test]
async fn update_lists_complete_blocks_only() {
    let store = InMemory::new();
    assert_eq!(
        read_bucket_index(&store, Signal::Metrics, &tenant())
            .await
            .unwrap(),
        None
    );
    put(&store, "B2", "index", vec![1]).await;
    put(&store, "B2", "meta.json", meta("B2", 200, 299, 1)).await;
    put(&store, "B1", "meta.json", meta("B1", 100, 199, 2)).await;
    // no meta.json yet: an upload in progress
    put(&store, "B3", "index", vec![1]).await;

    let index = update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(ids(&index.blocks), ["B1", "B2"]);
    assert_eq!(
        index.blocks[0],
        BucketBlock {
            block_id: "B1".into(),
            min_time_ms: 100,
            max_time_ms: 199,
            compaction_level: 2,
            source: "ing-1".into(),
            resolution_ms: 0,
        }
    );
    assert!(index.updated_at_ms > 0);
    let read = read_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(read.as_ref(), Some(&index));

    // idempotent; picks up the finished upload and forgets deleted blocks
    put(&store, "B3", "meta.json", meta("B3", 50, 99, 1)).await;
    let key = block_object_key(Signal::Metrics, &tenant(), "B2", "meta.json");
    store.delete(&key).await.unwrap();
    let index = update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(ids(&index.blocks), ["B3", "B1"]);
    let again = update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(again.blocks, index.blocks);
}

#[tokio::test]
async fn list_blocks_falls_back_to_a_listing() {
    let store = InMemory::new();
    put(&store, "B1", "meta.json", meta("B1", 100, 199, 1)).await;
    put(&store, "BAD", "meta.json", b"not json".to_vec()).await;
    let blocks = list_blocks(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(ids(&blocks), ["B1"]);
    // the index, once written, is what is listed
    update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    put(&store, "B2", "meta.json", meta("B2", 200, 299, 1)).await;
    let blocks = list_blocks(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(ids(&blocks), ["B1"]);
    assert!(list_blocks(&store, Signal::Logs, &tenant())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn corrupt_index_is_rebuilt_and_tenants_are_listed() {
    let store = InMemory::new();
    put(&store, "B1", "meta.json", meta("B1", 100, 199, 1)).await;
    let key = bucket_index_key(Signal::Metrics, &tenant());
    store
        .put(&key, PutPayload::from_static(b"{"))
        .await
        .unwrap();
    assert!(matches!(
        read_bucket_index(&store, Signal::Metrics, &tenant()).await,
        Err(StorageError::Corrupt(_))
    ));
    let index = update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(ids(&index.blocks), ["B1"]);
    let other = TenantId::parse("team-b").unwrap();
    let key = block_object_key(Signal::Metrics, &other, "B9", "meta.json");
    store
        .put(&key, PutPayload::from(meta("B9", 1, 2, 1)))
        .await
        .unwrap();
    let tenants = list_tenants(&store, Signal::Metrics).await.unwrap();
    let names: Vec<&str> = tenants.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, ["team-a", "team-b"]);
}

/// Every ingester uploads its block and then updates the index at about the same moment: once
/// all are done, the stored index holds every block (no writer's older LIST wins).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_leave_every_block_in_the_index() {
    for round in 0..20 {
        let store = std::sync::Arc::new(InMemory::new());
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let id = format!("R{round}B{i}");
                    put(
                        &store,
                        &id,
                        "meta.json",
                        meta(&id, i * 100, i * 100 + 99, 1),
                    )
                    .await;
                    update_bucket_index(store.as_ref(), Signal::Metrics, &tenant())
                        .await
                        .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let index = read_bucket_index(store.as_ref(), Signal::Metrics, &tenant())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            index.blocks.len(),
            6,
            "round {round}: {:?}",
            ids(&index.blocks)
        );
    }
}

/// Logs (and traces) metas carry ns: the index holds the ms range covering them.
#[tokio::test]
async fn ns_metas_are_indexed_in_covering_ms() {
    let store = InMemory::new();
    let logs_meta = |id: &str, min: i64, max: i64| {
        format!(
            r#"{{"version":1,"block_id":"{id}","min_time_ns":{min},"max_time_ns":{max},
                "source_ingester":"ing-2","compaction":{{"level":1,"sources":["{id}"]}}}}"#
        )
        .into_bytes()
    };
    // (id, min ns, max ns) -> (min ms, max ms)
    let cases: &[(&str, i64, i64, i64, i64)] = &[
        ("L1", 1_000_000, 2_000_000, 1, 2),
        ("L2", 1_500_000, 2_000_001, 1, 3),
        ("L3", -1, 0, -1, 0),
    ];
    for &(id, min, max, _, _) in cases {
        let key = block_object_key(Signal::Logs, &tenant(), id, "meta.json");
        store
            .put(&key, PutPayload::from(logs_meta(id, min, max)))
            .await
            .unwrap();
    }
    let no_times = br#"{"block_id":"L4","source_ingester":"x"}"#.to_vec();
    let key = block_object_key(Signal::Logs, &tenant(), "L4", "meta.json");
    store.put(&key, PutPayload::from(no_times)).await.unwrap();

    let index = update_bucket_index(&store, Signal::Logs, &tenant())
        .await
        .unwrap();
    let got: Vec<(&str, i64, i64)> = index
        .blocks
        .iter()
        .map(|b| (b.block_id.as_str(), b.min_time_ms, b.max_time_ms))
        .collect();
    let mut want: Vec<(&str, i64, i64)> = cases.iter().map(|c| (c.0, c.3, c.4)).collect();
    want.sort_by_key(|w| (w.1, w.0));
    assert_eq!(got, want);
    assert!(index.blocks.iter().all(|b| b.source == "ing-2"));
    // metrics and logs indexes of a tenant are separate objects
    assert_eq!(
        read_bucket_index(&store, Signal::Metrics, &tenant())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn marked_blocks_leave_the_index_and_deleted_blocks_leave_nothing() {
    let store = InMemory::new();
    put(&store, "B1", "meta.json", meta("B1", 100, 199, 1)).await;
    put(&store, "B1", "index", vec![1]).await;
    put(&store, "B2", "meta.json", meta("B2", 100, 199, 2)).await;
    mark_block_for_deletion(&store, Signal::Metrics, &tenant(), "B1")
        .await
        .unwrap();
    let index = update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(ids(&index.blocks), ["B2"]);
    assert_eq!(index.deletion_marks.len(), 1);
    assert_eq!(index.deletion_marks[0].block_id, "B1");
    let marked_at = index.deletion_marks[0].deletion_time_ms;
    assert!(marked_at > 0);
    // marking again keeps the first time
    mark_block_for_deletion(&store, Signal::Metrics, &tenant(), "B1")
        .await
        .unwrap();
    let again = update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(again.deletion_marks[0].deletion_time_ms, marked_at);
    let listed = list_blocks(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(ids(&listed), ["B2"]);

    delete_block(&store, Signal::Metrics, &tenant(), "B1")
        .await
        .unwrap();
    let index = update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(ids(&index.blocks), ["B2"]);
    assert!(index.deletion_marks.is_empty());
    let prefix = crate::keys::block_prefix(Signal::Metrics, &tenant(), "B1");
    let left: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn partial_blocks_are_those_without_meta() {
    let store = InMemory::new();
    put(&store, "B1", "meta.json", meta("B1", 100, 199, 1)).await;
    put(&store, "B2", "index", vec![1]).await;
    put(&store, "B2", "chunks/000001", vec![1]).await;
    let partial = list_partial_blocks(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(partial.len(), 1);
    assert_eq!(partial[0].0, "B2");
    assert!(partial[0].1 > 0);
}

#[tokio::test]
async fn downsampled_blocks_carry_their_resolution() {
    let store = InMemory::new();
    let json = r#"{"version":3,"block_id":"D1","min_time_ms":0,"max_time_ms":10,
        "source_ingester":"compactor-1","compaction":{"level":3,"sources":["A"]},
        "downsample":{"resolution_ms":300000},"tenant":"team-a"}"#;
    put(&store, "D1", "meta.json", json.as_bytes().to_vec()).await;
    let index = update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    assert_eq!(index.blocks[0].resolution_ms, 300_000);
    assert_eq!(index.blocks[0].compaction_level, 3);
}
