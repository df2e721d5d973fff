use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStoreExt, WriteMultipart};
use sextant_model::{Signal, TenantId};

use super::*;
use crate::keys::{block_object_key, tenant_prefix};

fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}

fn has(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[tokio::test]
async fn put_get_list_delete_are_counted() {
    let mut registry = Registry::default();
    let store = InstrumentedStore::new(Arc::new(InMemory::new()), &mut registry);
    let tenant = TenantId::parse("team-a").unwrap();
    let meta = block_object_key(Signal::Metrics, &tenant, "b1", "meta.json");
    let chunk = block_object_key(Signal::Metrics, &tenant, "b1", "chunks/000001");

    store
        .put(&meta, PutPayload::from_static(b"{}"))
        .await
        .unwrap();
    store
        .put(&chunk, PutPayload::from_static(b"0123456789"))
        .await
        .unwrap();
    let body = store.get(&chunk).await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"0123456789");
    assert_eq!(&store.get_range(&chunk, 2..5).await.unwrap()[..], b"234");
    assert_eq!(store.head(&meta).await.unwrap().size, 2);
    assert!(store
        .get(&block_object_key(Signal::Logs, &tenant, "b1", "meta.json"))
        .await
        .is_err());

    let listed: Vec<ObjectMeta> = store
        .list(Some(&tenant_prefix(Signal::Metrics, &tenant)))
        .try_collect()
        .await
        .unwrap();
    let mut keys: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "metrics/team-a/b1/chunks/000001",
            "metrics/team-a/b1/meta.json"
        ]
    );

    store.delete(&meta).await.unwrap();
    assert!(store.head(&meta).await.is_err());

    let text = metrics_text(&registry);
    for line in [
        r#"sextant_storage_operations_total{operation="put"} 2"#,
        r#"sextant_storage_operation_bytes_total{operation="put"} 12"#,
        r#"sextant_storage_operations_total{operation="get"} 3"#,
        r#"sextant_storage_operation_failures_total{operation="get"} 1"#,
        r#"sextant_storage_operation_bytes_total{operation="get"} 13"#,
        r#"sextant_storage_operations_total{operation="head"} 2"#,
        r#"sextant_storage_operation_failures_total{operation="head"} 1"#,
        r#"sextant_storage_operations_total{operation="list"} 1"#,
        r#"sextant_storage_operations_total{operation="delete"} 1"#,
        r#"sextant_storage_operation_duration_seconds_count{operation="put"} 2"#,
    ] {
        assert!(has(&text, line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn multipart_bytes_are_counted() {
    let mut registry = Registry::default();
    let store = InstrumentedStore::new(Arc::new(InMemory::new()), &mut registry);
    let key = Path::from("traces/t/b/data");
    let upload = store.put_multipart(&key).await.unwrap();
    let mut writer = WriteMultipart::new(upload);
    writer.write(b"hello ");
    writer.write(b"world");
    writer.finish().await.unwrap();
    assert_eq!(
        &store.get(&key).await.unwrap().bytes().await.unwrap()[..],
        b"hello world"
    );
    let text = metrics_text(&registry);
    assert!(
        has(
            &text,
            r#"sextant_storage_operations_total{operation="put_multipart"} 1"#
        ),
        "{text}"
    );
    assert!(
        has(
            &text,
            r#"sextant_storage_operation_bytes_total{operation="put_multipart"} 11"#
        ),
        "{text}"
    );
}
