//! Object keys. Every key Sextant writes is computed here, nowhere else:
//! `<signal>/<tenant>/<block-id>/<file>`, where `file` may hold `/` (e.g. `chunks/000001`), and
//! the tenant's `<signal>/<tenant>/bucket-index.json`.

use object_store::path::{Path, PathPart};
use sextant_model::{Signal, TenantId};

/// The file whose presence marks a block complete (uploaded last).
pub const BLOCK_META_FILE: &str = "meta.json";

/// The file whose presence marks a block for deletion: queriers stop reading it (a block that
/// replaces it is complete), the compactor deletes it once the mark is older than its delay.
pub const DELETION_MARK_FILE: &str = "deletion-mark.json";

/// The key of the marker that asks the compactor to delete all of a tenant's data for `signal`.
pub fn tenant_deletion_mark_key(signal: Signal, tenant: &TenantId) -> Path {
    tenant_prefix(signal, tenant)
        .parts()
        .chain([PathPart::from("tenant-deletion-mark.json")])
        .collect()
}

/// The key of the tenant's bucket index for `signal`.
pub fn bucket_index_key(signal: Signal, tenant: &TenantId) -> Path {
    tenant_prefix(signal, tenant)
        .parts()
        .chain([PathPart::from("bucket-index.json")])
        .collect()
}

/// The key of `file` in block `block_id` of `tenant` for `signal`.
pub fn block_object_key(signal: Signal, tenant: &TenantId, block_id: &str, file: &str) -> Path {
    let file_parts = file
        .split('/')
        .filter(|p| !p.is_empty())
        .map(PathPart::from);
    block_prefix(signal, tenant, block_id)
        .parts()
        .chain(file_parts)
        .collect()
}

/// The prefix under which all of one block's files live.
pub fn block_prefix(signal: Signal, tenant: &TenantId, block_id: &str) -> Path {
    tenant_prefix(signal, tenant)
        .parts()
        .chain([PathPart::from(block_id)])
        .collect()
}

/// The prefix under which all blocks of `tenant` for `signal` live.
pub fn tenant_prefix(signal: Signal, tenant: &TenantId) -> Path {
    Path::from_iter([signal.as_str(), tenant.as_str()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layout() {
        let t = TenantId::parse("team-a").unwrap();
        let cases = [
            (
                Signal::Metrics,
                "01HX",
                "meta.json",
                "metrics/team-a/01HX/meta.json",
            ),
            (
                Signal::Logs,
                "01HY",
                "chunks/000001",
                "logs/team-a/01HY/chunks/000001",
            ),
            (
                Signal::Traces,
                "b",
                "/data.parquet",
                "traces/team-a/b/data.parquet",
            ),
        ];
        for (signal, block, file, want) in cases {
            assert_eq!(block_object_key(signal, &t, block, file).as_ref(), want);
        }
        assert_eq!(
            tenant_prefix(Signal::Metrics, &t).as_ref(),
            "metrics/team-a"
        );
        assert_eq!(
            block_prefix(Signal::Logs, &t, "b1").as_ref(),
            "logs/team-a/b1"
        );
        assert_eq!(
            bucket_index_key(Signal::Traces, &t).as_ref(),
            "traces/team-a/bucket-index.json"
        );
    }

    #[test]
    fn keys_stay_under_their_prefix() {
        let t = TenantId::parse("t").unwrap();
        let key = block_object_key(Signal::Metrics, &t, "b/../x", "../../escape");
        assert!(
            key.prefix_matches(&block_prefix(Signal::Metrics, &t, "b/../x")),
            "{key}"
        );
        assert!(
            key.prefix_matches(&tenant_prefix(Signal::Metrics, &t)),
            "{key}"
        );
    }
}
