//! Writing logs blocks into a bucket as an ingester uploads them (tests only).

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sextant_logs::block::{
    LogsBlockCompaction, LogsBlockSource, LogsBlockWriter, CHUNKS_FILE, INDEX_FILE, META_FILE,
};
use sextant_logs::logql::eval::Entry;
use sextant_model::{Labels, Signal, TenantId};
use sextant_storage::{keys, update_bucket_index};

/// Uploads block `id` of `streams` (in label order) for `tenant` as ingester `source` does,
/// chunks closed at about `chunk_bytes`, and refreshes the tenant's bucket index.
pub(crate) async fn upload_logs_block<'a>(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    block: (&str, &str),
    chunk_bytes: usize,
    streams: impl IntoIterator<Item = (&'a Labels, &'a [Entry])>,
) {
    let (id, source) = block;
    let mut writer = LogsBlockWriter::new(chunk_bytes, chunk_bytes);
    for (labels, entries) in streams {
        writer.add_stream(labels, entries).unwrap();
    }
    let block = writer.finish(LogsBlockSource {
        block_id: id.into(),
        tenant: tenant.to_string(),
        source_ingester: source.into(),
        compaction: LogsBlockCompaction {
            level: 1,
            sources: vec![id.into()],
        },
    });
    let files = [
        (INDEX_FILE, block.index.clone()),
        (CHUNKS_FILE, block.chunks.clone()),
        (META_FILE, block.meta_json()),
    ];
    for (file, bytes) in files {
        let key = keys::block_object_key(Signal::Logs, tenant, id, file);
        store.put(&key, PutPayload::from(bytes)).await.unwrap();
    }
    update_bucket_index(store, Signal::Logs, tenant)
        .await
        .unwrap();
}
