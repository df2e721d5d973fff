//! The S3 backend of `sextant-storage` against a real S3 server: `s3s-fs` (a filesystem-backed
//! S3 implementation, installed by `tests/setup-e2e.sh`), started on a free loopback port with a
//! fixed access key. Everything goes through `sextant_storage::object_store` wrapped in
//! `InstrumentedStore`, exactly as the server builds its store.
//!
//! Needs the `s3s-fs` binary, hence ignored by `cargo test`; `make e2e` runs it with `--ignored`.

use std::sync::Arc;

use anyhow::{ensure, Result};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sextant_e2e::s3::{S3sFs, ACCESS_KEY, SECRET_KEY};
use sextant_model::{Signal, TenantId};
use sextant_storage::keys::{block_object_key, tenant_prefix};
use sextant_storage::{object_store, Backend, InstrumentedStore, S3Config, StorageConfig};

const BUCKET: &str = "blocks";

fn s3_store(server: &S3sFs, secret_key: &str) -> Result<Arc<dyn ObjectStore>> {
    let config = StorageConfig {
        backend: Backend::S3,
        s3: S3Config {
            endpoint: server.endpoint(),
            bucket: BUCKET.to_string(),
            access_key_id: ACCESS_KEY.to_string(),
            secret_access_key: secret_key.to_string(),
            path_style: true,
            allow_http: true,
            ..S3Config::default()
        },
        ..StorageConfig::default()
    };
    let inner = object_store(&config)?;
    Ok(Arc::new(InstrumentedStore::new(
        inner,
        &mut Default::default(),
    )))
}

/// `len` bytes that differ between neighbouring positions and between 256-byte periods.
fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
        .collect()
}

#[tokio::test]
#[ignore = "needs s3s-fs; run with make e2e"]
async fn e2e_s3_backend_round_trip() -> Result<()> {
    let server = S3sFs::start(BUCKET).await?;
    let store = s3_store(&server, SECRET_KEY)?;
    let wrong_secret = s3_store(&server, "not-the-secret")?;
    let probe = Path::from("probe");
    ensure!(
        wrong_secret
            .put(&probe, PutPayload::from_static(b"x"))
            .await
            .is_err(),
        "s3s-fs accepted a request signed with the wrong secret"
    );
    let tenant = TenantId::parse("team-a")?;
    let other = TenantId::parse("team-b")?;
    let meta = block_object_key(Signal::Metrics, &tenant, "01HX", "meta.json");
    let chunk = block_object_key(Signal::Metrics, &tenant, "01HX", "chunks/000001");
    let foreign = block_object_key(Signal::Metrics, &other, "01HY", "meta.json");

    let small = pattern(10_000);
    store.put(&meta, PutPayload::from_static(b"{}")).await?;
    store.put(&chunk, small.clone().into()).await?;
    store.put(&foreign, PutPayload::from_static(b"{}")).await?;

    let got = store.get(&chunk).await?.bytes().await?;
    ensure!(
        got == small,
        "get returned {} bytes, not what was put",
        got.len()
    );
    let range = store.get_range(&chunk, 1000..1100).await?;
    ensure!(
        range == small.slice(1000..1100),
        "get_range 1000..1100 differs"
    );
    let head = store.head(&chunk).await?;
    ensure!(
        head.size == 10_000 && head.location == chunk,
        "head: {head:?}"
    );

    let mut listed: Vec<Path> = store
        .list(Some(&tenant_prefix(Signal::Metrics, &tenant)))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    listed.sort();
    ensure!(
        listed == vec![chunk.clone(), meta.clone()],
        "list: {listed:?}"
    );

    store.delete(&meta).await?;
    let err = store.head(&meta).await.expect_err("deleted object is gone");
    ensure!(
        matches!(err, object_store::Error::NotFound { .. }),
        "head after delete: {err}"
    );

    multipart_round_trip(store.as_ref(), &tenant).await
}

/// ~12 MiB in 5 MiB parts (S3's minimum part size), read back whole and in a range that spans
/// a part boundary.
async fn multipart_round_trip(store: &dyn ObjectStore, tenant: &TenantId) -> Result<()> {
    let key = block_object_key(Signal::Metrics, tenant, "01HZ", "chunks/000002");
    let data = pattern(12 * 1024 * 1024 + 123);
    let mut upload =
        WriteMultipart::new_with_chunk_size(store.put_multipart(&key).await?, 5 * 1024 * 1024);
    for piece in data.chunks(1024 * 1024) {
        upload.wait_for_capacity(2).await?;
        upload.write(piece);
    }
    upload.finish().await?;

    let head = store.head(&key).await?;
    ensure!(
        head.size == data.len() as u64,
        "multipart size: {}",
        head.size
    );
    let got = store.get(&key).await?.bytes().await?;
    ensure!(
        got == data,
        "multipart object differs ({} bytes)",
        got.len()
    );
    let boundary = 5 * 1024 * 1024;
    let range = store.get_range(&key, boundary - 10..boundary + 10).await?;
    ensure!(
        range == data.slice(boundary as usize - 10..boundary as usize + 10),
        "range across the part boundary differs"
    );
    Ok(())
}
