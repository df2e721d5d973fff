//! What a filesystem bucket holds, read the way the compactor tests check it: every block of a
//! tenant with its `meta.json` fields and bytes, the bucket index, whether a tenant is fully
//! compacted, and checks on the `compaction.sources` of compacted blocks.
//!
//! Blocks live under `<bucket>/<signal>/<tenant>/<block id>/`; a block is complete once its
//! `meta.json` is there. The metas of the three signals share `source_ingester` and
//! `compaction: {level, sources}` (the level-1 blocks a compacted block replaces, transitively).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use sextant_storage::block_id::block_id_time_ms;
use sextant_storage::BucketIndex;
use tokio::task::JoinHandle;

/// The compactor rings, one per signal.
pub const COMPACTOR_METRICS_RING: &str = "compactor-metrics";
pub const COMPACTOR_LOGS_RING: &str = "compactor-logs";
pub const COMPACTOR_TRACES_RING: &str = "compactor-traces";

/// The name of a block's object that marks it for deletion.
const DELETION_MARK_FILE: &str = "deletion-mark.json";
const META_FILE: &str = "meta.json";

/// A complete block: its `meta.json` is present and parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    pub id: String,
    /// 1 for a block cut by an ingester, higher for compacted ones.
    pub level: u32,
    /// The level-1 blocks it holds (its own id for a level-1 block).
    pub sources: Vec<String>,
    /// `source_ingester`: the ingester or compactor that wrote it.
    pub source: String,
    /// Sum of the sizes of its files, deletion mark excluded.
    pub bytes: u64,
    pub marked_for_deletion: bool,
}

/// The blocks of one tenant and signal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantBlocks {
    pub complete: Vec<StoredBlock>,
    /// Ids of blocks with files but no `meta.json` (uploads in progress or cut short).
    pub partial: Vec<String>,
}

#[derive(Deserialize)]
struct MetaFields {
    source_ingester: String,
    compaction: MetaCompaction,
}

#[derive(Deserialize)]
struct MetaCompaction {
    level: u32,
    #[serde(default)]
    sources: Vec<String>,
}

/// Every block of `tenant` for `signal` (`metrics`, `logs`, `traces`) in the bucket at
/// `bucket`, in id order. Directories left empty by deletions are ignored, and so are the
/// staging files of uploads in progress (`name#n`).
pub fn tenant_blocks(bucket: &Path, signal: &str, tenant: &str) -> TenantBlocks {
    let mut out = TenantBlocks::default();
    let Ok(entries) = std::fs::read_dir(bucket.join(signal).join(tenant)) else {
        return out;
    };
    let mut dirs: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .filter(|(name, _)| block_id_time_ms(name).is_some())
        .collect();
    dirs.sort();
    for (id, dir) in dirs {
        let files: BTreeMap<String, u64> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.metadata().ok()?)))
            .filter(|(name, meta)| meta.is_file() && !name.contains('#'))
            .map(|(name, meta)| (name, meta.len()))
            .collect();
        let meta = std::fs::read(dir.join(META_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<MetaFields>(&bytes).ok());
        match meta {
            Some(meta) => out.complete.push(StoredBlock {
                bytes: files
                    .iter()
                    .filter(|(name, _)| *name != DELETION_MARK_FILE)
                    .map(|(_, len)| len)
                    .sum(),
                marked_for_deletion: files.contains_key(DELETION_MARK_FILE),
                id,
                level: meta.compaction.level,
                sources: meta.compaction.sources,
                source: meta.source_ingester,
            }),
            None if !files.is_empty() => out.partial.push(id),
            None => {}
        }
    }
    out
}

/// The tenants with a directory under `<bucket>/<signal>/`, sorted.
pub fn bucket_tenants(bucket: &Path, signal: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(bucket.join(signal)) else {
        return Vec::new();
    };
    let mut tenants: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    tenants.sort();
    tenants
}

/// `<bucket>/<signal>/<tenant>/bucket-index.json`, `None` while there is none.
pub fn read_bucket_index(bucket: &Path, signal: &str, tenant: &str) -> Result<Option<BucketIndex>> {
    let path = bucket.join(signal).join(tenant).join("bucket-index.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("parse {}", path.display()))
            .map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Why a tenant does not count as compacted yet; `None` when it does: its bucket index lists
/// blocks, none of level 1 and no deletion marks, and the bucket agrees (no level-1 block, no
/// block marked for deletion, no partial block).
pub fn not_compacted_yet(bucket: &Path, signal: &str, tenant: &str) -> Result<Option<String>> {
    let Some(index) = read_bucket_index(bucket, signal, tenant)? else {
        return Ok(Some("no bucket index".into()));
    };
    let blocks = tenant_blocks(bucket, signal, tenant);
    let index_level1 = index
        .blocks
        .iter()
        .filter(|b| b.compaction_level <= 1)
        .count();
    let stored_level1 = blocks.complete.iter().filter(|b| b.level <= 1).count();
    let marked = blocks
        .complete
        .iter()
        .filter(|b| b.marked_for_deletion)
        .count();
    let reasons = [
        (
            index.blocks.is_empty(),
            "the index lists no block".to_string(),
        ),
        (
            index_level1 > 0,
            format!("the index lists {index_level1} level-1 blocks"),
        ),
        (
            !index.deletion_marks.is_empty(),
            format!(
                "the index lists {} deletion marks",
                index.deletion_marks.len()
            ),
        ),
        (
            stored_level1 > 0,
            format!("{stored_level1} level-1 blocks stored"),
        ),
        (marked > 0, format!("{marked} blocks marked for deletion")),
        (
            !blocks.partial.is_empty(),
            format!("{} partial blocks", blocks.partial.len()),
        ),
    ];
    let why: Vec<String> = reasons
        .into_iter()
        .filter(|(bad, _)| *bad)
        .map(|(_, reason)| reason)
        .collect();
    Ok((!why.is_empty()).then(|| format!("{signal}/{tenant}: {}", why.join(", "))))
}

/// Bytes of the complete blocks per `source_ingester`.
pub fn bytes_by_source(blocks: &[StoredBlock]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for block in blocks {
        *out.entry(block.source.clone()).or_default() += block.bytes;
    }
    out
}

/// Checks that the `compacted` blocks hold every one of `level1` exactly once: their sources
/// are pairwise disjoint and together are `level1`.
pub fn check_sources_partition(compacted: &[StoredBlock], level1: &BTreeSet<String>) -> Result<()> {
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for block in compacted {
        for source in &block.sources {
            if let Some(other) = owner.insert(source, &block.id) {
                bail!(
                    "source block {source} is in both {other} and {} (compacted twice)",
                    block.id
                );
            }
        }
    }
    let held: BTreeSet<String> = owner.keys().map(|s| s.to_string()).collect();
    let missing: Vec<_> = level1.difference(&held).take(5).collect();
    let unknown: Vec<_> = held.difference(level1).take(5).collect();
    if !missing.is_empty() || !unknown.is_empty() {
        bail!(
            "compacted blocks hold {} sources, {} level-1 blocks were uploaded; \
             missing e.g. {missing:?}, unknown e.g. {unknown:?}",
            held.len(),
            level1.len()
        );
    }
    Ok(())
}

/// Checks that compacted blocks only ever nest: two blocks sharing a source are one inside the
/// other (a later level re-merging an earlier one). Equal or crossing source sets mean a group
/// was compacted twice.
pub fn check_sources_nest(compacted: &[StoredBlock]) -> Result<()> {
    let sets: Vec<(&StoredBlock, BTreeSet<&str>)> = compacted
        .iter()
        .map(|b| (b, b.sources.iter().map(String::as_str).collect()))
        .collect();
    let describe = |b: &StoredBlock, sources: &BTreeSet<&str>| {
        format!(
            "{} (level {}, by {}, {} sources)",
            b.id,
            b.level,
            b.source,
            sources.len()
        )
    };
    for (i, (a, sa)) in sets.iter().enumerate() {
        for (b, sb) in &sets[i + 1..] {
            if sa.is_disjoint(sb) {
                continue;
            }
            let nested = (sa.is_subset(sb) || sb.is_subset(sa)) && sa.len() != sb.len();
            if !nested {
                let shared = sa.intersection(sb).count();
                bail!(
                    "blocks {} and {} share {shared} sources without one holding the other's \
                     (a group compacted twice)",
                    describe(a, sa),
                    describe(b, sb)
                );
            }
        }
    }
    Ok(())
}

/// Records every complete block of `signal` (all tenants) seen while it runs, polling the bucket
/// every `period` until `stop` is set; the task returns them by `(tenant, id)`. Blocks are
/// deleted seconds after being marked, so a short period sees each one.
pub fn observe_blocks(
    bucket: &Path,
    signal: &'static str,
    period: Duration,
    stop: Arc<AtomicBool>,
) -> JoinHandle<BTreeMap<(String, String), StoredBlock>> {
    let bucket = bucket.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut seen = BTreeMap::new();
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            for tenant in bucket_tenants(&bucket, signal) {
                for block in tenant_blocks(&bucket, signal, &tenant).complete {
                    seen.entry((tenant.clone(), block.id.clone()))
                        .or_insert(block);
                }
            }
            if stopping {
                return seen;
            }
            std::thread::sleep(period);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "01JD0000000000000000000001";
    const B: &str = "01JD0000000000000000000002";
    const C: &str = "01JD0000000000000000000003";
    const D: &str = "01JD0000000000000000000004";

    fn block(id: &str, level: u32, sources: &[&str]) -> StoredBlock {
        StoredBlock {
            id: id.into(),
            level,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            source: "c".into(),
            bytes: 0,
            marked_for_deletion: false,
        }
    }

    fn write(dir: &Path, file: &str, content: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), content).unwrap();
    }

    fn meta(level: u32, sources: &[&str], source: &str) -> String {
        serde_json::json!({"version": 1, "source_ingester": source,
            "compaction": {"level": level, "sources": sources}})
        .to_string()
    }

    #[test]
    fn blocks_are_complete_partial_or_ignored() {
        let bucket = tempfile::tempdir().unwrap();
        let tenant = bucket.path().join("metrics").join("t");
        write(&tenant.join(A), "index", "12345");
        write(&tenant.join(A), META_FILE, &meta(1, &[A], "ingester-0"));
        write(&tenant.join(B), META_FILE, &meta(2, &[C, D], "compactor"));
        write(&tenant.join(B), DELETION_MARK_FILE, "{}");
        write(&tenant.join(C), "index", "x");
        write(&tenant.join(C), "meta.json#1", "staging");
        std::fs::create_dir_all(tenant.join(D)).unwrap();
        write(&tenant.join("markers"), "x", "not a block");
        write(&tenant, "bucket-index.json", "{}");

        let blocks = tenant_blocks(bucket.path(), "metrics", "t");
        let ids: Vec<(&str, u32, bool)> = blocks
            .complete
            .iter()
            .map(|b| (b.id.as_str(), b.level, b.marked_for_deletion))
            .collect();
        assert_eq!(ids, [(A, 1, false), (B, 2, true)]);
        let a_bytes = 5 + meta(1, &[A], "ingester-0").len() as u64;
        assert_eq!(blocks.complete[0].bytes, a_bytes);
        assert_eq!(blocks.complete[1].sources, [C, D]);
        assert_eq!(blocks.partial, [C]);
        assert_eq!(bytes_by_source(&blocks.complete)["ingester-0"], a_bytes);
        assert_eq!(bucket_tenants(bucket.path(), "metrics"), ["t"]);
        assert!(tenant_blocks(bucket.path(), "logs", "t")
            .complete
            .is_empty());
    }

    #[test]
    fn a_tenant_is_compacted_once_index_and_bucket_hold_only_higher_levels() {
        let bucket = tempfile::tempdir().unwrap();
        let tenant = bucket.path().join("logs").join("t");
        let not_yet = || not_compacted_yet(bucket.path(), "logs", "t").unwrap();
        assert_eq!(not_yet().as_deref(), Some("no bucket index"));

        let index = |level: u32, marks: usize| {
            let marks: Vec<_> = (0..marks)
                .map(|_| serde_json::json!({"block_id": A, "deletion_time_ms": 1}))
                .collect();
            serde_json::json!({"version": 1, "updated_at_ms": 1, "deletion_marks": marks,
                "blocks": [{"block_id": B, "min_time_ms": 0, "max_time_ms": 1,
                    "compaction_level": level, "source": "x"}]})
            .to_string()
        };
        write(&tenant.join(A), META_FILE, &meta(1, &[A], "i"));
        write(&tenant.join(A), DELETION_MARK_FILE, "{}");
        write(&tenant.join(B), META_FILE, &meta(2, &[A], "c"));
        write(&tenant, "bucket-index.json", &index(1, 1));
        let why = not_yet().unwrap();
        for part in [
            "1 level-1 blocks",
            "1 deletion marks",
            "marked for deletion",
        ] {
            assert!(why.contains(part), "{why}");
        }
        std::fs::remove_dir_all(tenant.join(A)).unwrap();
        write(&tenant, "bucket-index.json", &index(2, 0));
        assert_eq!(not_yet(), None);
        write(&tenant.join(C), "index", "partial");
        assert!(not_yet().unwrap().contains("1 partial blocks"));
    }

    #[test]
    fn sources_must_partition_the_level1_blocks() {
        let level1: BTreeSet<String> = [A, B, C].iter().map(|s| s.to_string()).collect();
        let ok = [block(D, 2, &[A, B]), block(D, 3, &[C])];
        assert!(check_sources_partition(&ok, &level1).is_ok());
        let cases: [&[StoredBlock]; 3] = [
            &[block(D, 2, &[A, B]), block(D, 2, &[B, C])],
            &[block(D, 2, &[A, B])],
            &[block(D, 2, &[A, B, C, D])],
        ];
        for case in cases {
            assert!(check_sources_partition(case, &level1).is_err(), "{case:?}");
        }
    }

    #[test]
    fn compacted_blocks_may_nest_but_not_repeat_or_cross() {
        let nested = [
            block("x", 2, &[A, B]),
            block("y", 2, &[C]),
            block("z", 3, &[A, B, C]),
        ];
        assert!(check_sources_nest(&nested).is_ok());
        let cases: [&[StoredBlock]; 2] = [
            &[block("x", 2, &[A, B]), block("y", 2, &[A, B])],
            &[block("x", 2, &[A, B]), block("y", 2, &[B, C])],
        ];
        for case in cases {
            assert!(check_sources_nest(case).is_err(), "{case:?}");
        }
    }
}
