//! Retention: the decision table, then each signal end to end on an in-memory bucket with
//! real engine blocks.

use std::time::Duration;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prometheus_client::registry::Registry;
use sextant_logs::block::{read_logs_chunk, LogsBlockIndex};
use sextant_model::limits::StreamRetention;
use sextant_model::{Signal, TenantId, TenantLimits};
use sextant_storage::keys::block_object_key;
use sextant_storage::{list_blocks, read_bucket_index, update_bucket_index, BucketBlock};

use super::*;
use crate::signals::fixtures::{logs_block, metrics_block, metrics_samples, TENANT};
use crate::signals::SourceBlock;

fn block(id: &str, min: i64, max: i64, resolution_ms: i64) -> BucketBlock {
    BucketBlock {
        block_id: id.into(),
        min_time_ms: min,
        max_time_ms: max,
        compaction_level: 1,
        source: "i".into(),
        resolution_ms,
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn limits_with(f: impl FnOnce(&mut TenantLimits)) -> TenantLimits {
    let mut l = TenantLimits::default();
    f(&mut l);
    l
}

fn rule(selector: &str, priority: u32, period: u64) -> StreamRetention {
    StreamRetention {
        selector: selector.into(),
        priority,
        period: secs(period),
    }
}

#[test]
fn plan_table() {
    use RetentionAction::{Delete, Rewrite};
    let del = |id: &str| Delete {
        block_id: id.into(),
    };
    let rw = |id: &str| Rewrite {
        block_id: id.into(),
    };
    let blocks = vec![
        block("old", 0, 49_999, 0),
        block("edge", 0, 50_000, 0),
        block("straddle", 40_000, 59_999, 0),
        block("barely", 49_000, 60_000, 0),
        block("new", 50_000, 90_000, 0),
        block("old-5m", 0, 40_000, 300_000),
        block("straddle-5m", 40_000, 60_000, 300_000),
    ];
    let now = 100_000;
    let all = [
        "old",
        "edge",
        "straddle",
        "barely",
        "new",
        "old-5m",
        "straddle-5m",
    ];
    // (name, signal, limits, expected actions); cutoff 50 s unless said otherwise; a block is
    // rewritten once half its range is expired ("straddle" just, "barely" not)
    let cases: Vec<(&str, Signal, TenantLimits, Vec<RetentionAction>)> = vec![
        (
            "metrics: expired deleted, half expired rewritten, downsampled only whole",
            Signal::Metrics,
            limits_with(|l| l.compactor_blocks_retention_period = secs(50)),
            vec![del("old"), rw("edge"), rw("straddle"), del("old-5m")],
        ),
        (
            "metrics: 0 keeps everything",
            Signal::Metrics,
            TenantLimits::default(),
            vec![],
        ),
        (
            "traces: whole blocks only",
            Signal::Traces,
            limits_with(|l| l.traces.block_retention = secs(50)),
            vec![del("old"), del("old-5m")],
        ),
        (
            "logs: global period",
            Signal::Logs,
            limits_with(|l| l.logs.retention_period = secs(50)),
            vec![del("old"), rw("edge"), rw("straddle"), del("old-5m")],
        ),
        (
            "logs: a longer stream rule delays whole deletion, a shorter one rewrites more",
            Signal::Logs,
            limits_with(|l| {
                l.logs.retention_period = secs(50);
                l.logs.retention_stream =
                    vec![rule("{app=\"a\"}", 1, 70), rule("{app=\"b\"}", 1, 20)];
            }),
            all.iter().map(|id| rw(id)).collect(),
        ),
        (
            "logs: a stream kept forever stops whole deletion",
            Signal::Logs,
            limits_with(|l| {
                l.logs.retention_period = secs(50);
                l.logs.retention_stream = vec![rule("{app=\"a\"}", 0, 0)];
            }),
            vec![rw("old"), rw("edge"), rw("straddle"), rw("old-5m")],
        ),
        (
            "logs: only a stream rule",
            Signal::Logs,
            limits_with(|l| l.logs.retention_stream = vec![rule("{app=\"a\"}", 0, 70)]),
            vec![rw("old"), rw("edge"), rw("old-5m")],
        ),
    ];
    for (name, signal, limits, want) in cases {
        let policy = RetentionPolicy::new(signal, &limits).unwrap();
        assert_eq!(
            plan_retention(signal, &blocks, &policy, now),
            want,
            "{name}"
        );
    }
}

fn tenant() -> TenantId {
    TenantId::parse(TENANT).unwrap()
}

async fn put_block(store: &dyn ObjectStore, signal: Signal, block: &SourceBlock) {
    // BTreeMap order puts meta.json after chunks and index: complete last
    for (file, bytes) in &block.files {
        let key = block_object_key(signal, &tenant(), &block.block_id, file);
        store
            .put(&key, PutPayload::from(bytes.clone()))
            .await
            .unwrap();
    }
}

async fn get_block(store: &dyn ObjectStore, signal: Signal, id: &str) -> SourceBlock {
    let mut block = SourceBlock {
        block_id: id.into(),
        ..SourceBlock::default()
    };
    for file in ["meta.json", "index", "chunks"] {
        let key = block_object_key(signal, &tenant(), id, file);
        let bytes = store.get(&key).await.unwrap().bytes().await.unwrap();
        block.files.insert(file.into(), bytes);
    }
    block
}

/// Every (app, ts in s, line) of a logs block.
pub(crate) fn logs_entries(block: &SourceBlock) -> Vec<(String, i64, String)> {
    let index = LogsBlockIndex::parse(&block.files["index"]).unwrap();
    let mut out = Vec::new();
    for r in index.select(&[]) {
        let (labels, metas) = index.stream(r).unwrap();
        let app = labels.get("app").unwrap_or_default().to_owned();
        for meta in metas {
            let chunk = read_logs_chunk(&block.files["chunks"], meta).unwrap();
            for e in chunk.entries().unwrap() {
                out.push((app.clone(), e.ts_ns / 1_000_000_000, e.line));
            }
        }
    }
    out
}

async fn run(
    store: &dyn ObjectStore,
    signal: Signal,
    limits: &TenantLimits,
    now_ms: i64,
) -> RetentionOutcome {
    let metrics = CompactorRetentionMetrics::new(&mut Registry::default());
    apply_retention(
        store,
        signal,
        &tenant(),
        limits,
        now_ms,
        "compactor-1",
        &metrics,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn metrics_retention_end_to_end() {
    let store = InMemory::new();
    let samples = |from: i64, to: i64| (from..=to).map(|s| (s * 1000, s as f64)).collect();
    put_block(
        &store,
        Signal::Metrics,
        &metrics_block(
            "straddle",
            &[("up", samples(1, 10)), ("gone", samples(1, 3))],
        ),
    )
    .await;
    put_block(
        &store,
        Signal::Metrics,
        &metrics_block("expired", &[("up", samples(1, 4))]),
    )
    .await;
    put_block(
        &store,
        Signal::Metrics,
        &metrics_block("fresh", &[("up", samples(20, 30))]),
    )
    .await;
    update_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    let limits = limits_with(|l| l.compactor_blocks_retention_period = secs(5));
    // cutoff 6 s: "straddle" (1..=10 s) is just half expired
    let outcome = run(&store, Signal::Metrics, &limits, 11_000).await;
    assert_eq!(
        outcome,
        RetentionOutcome {
            blocks_deleted: 1,
            blocks_rewritten: 1,
            failures: 0
        }
    );
    let blocks = list_blocks(&store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    let ids: Vec<&str> = blocks.iter().map(|b| b.block_id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        !ids.contains(&"straddle") && !ids.contains(&"expired"),
        "{ids:?}"
    );
    assert!(ids.contains(&"fresh"));
    let new = blocks.iter().find(|b| b.block_id != "fresh").unwrap();
    assert_eq!((new.min_time_ms, new.max_time_ms), (6_000, 10_000));
    let got = metrics_samples(&get_block(&store, Signal::Metrics, &new.block_id).await);
    let want: std::collections::BTreeSet<_> = (6..=10)
        .map(|s| ("up".to_owned(), s * 1000, (s as f64).to_bits()))
        .collect();
    assert_eq!(got, want);
    let index = read_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap()
        .unwrap();
    let mut marked: Vec<&str> = index
        .deletion_marks
        .iter()
        .map(|m| m.block_id.as_str())
        .collect();
    marked.sort();
    assert_eq!(marked, ["expired", "straddle"]);
    // a second run finds nothing left to do
    assert_eq!(
        run(&store, Signal::Metrics, &limits, 11_000).await,
        RetentionOutcome::default()
    );
}

#[tokio::test]
async fn logs_retention_per_stream_end_to_end() {
    let store = InMemory::new();
    let s = 1_000_000_000;
    put_block(
        &store,
        Signal::Logs,
        &logs_block(
            "mixed",
            &[
                ("api", vec![(10 * s, "a10"), (60 * s, "a60")]),
                (
                    "debug",
                    vec![(10 * s, "d10"), (30 * s, "d30"), (60 * s, "d60")],
                ),
                ("noisy", vec![(60 * s, "n60"), (95 * s, "n95")]),
            ],
        ),
    )
    .await;
    put_block(
        &store,
        Signal::Logs,
        &logs_block("expired", &[("debug", vec![(s, "d1"), (5 * s, "d5")])]),
    )
    .await;
    put_block(
        &store,
        Signal::Logs,
        &logs_block("kept", &[("debug", vec![(25 * s, "d25")])]),
    )
    .await;
    put_block(
        &store,
        Signal::Logs,
        &logs_block("fresh", &[("api", vec![(96 * s, "a96")])]),
    )
    .await;
    update_bucket_index(&store, Signal::Logs, &tenant())
        .await
        .unwrap();
    let limits = limits_with(|l| {
        l.logs.retention_period = secs(50);
        l.logs.retention_stream = vec![
            rule("{app=\"debug\"}", 1, 80),
            rule("{app=~\"no.*\"}", 0, 10),
        ];
    });
    let outcome = run(&store, Signal::Logs, &limits, 100_000).await;
    assert_eq!(
        outcome,
        RetentionOutcome {
            blocks_deleted: 1,
            blocks_rewritten: 1,
            failures: 0
        }
    );
    let blocks = list_blocks(&store, Signal::Logs, &tenant()).await.unwrap();
    let mut ids: Vec<&str> = blocks.iter().map(|b| b.block_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(
        &ids[1..],
        ["fresh", "kept"],
        "the rewritten block's ULID sorts first"
    );
    let got = logs_entries(&get_block(&store, Signal::Logs, ids[0]).await);
    let want = [
        ("api", 60, "a60"),
        ("debug", 30, "d30"),
        ("debug", 60, "d60"),
        ("noisy", 95, "n95"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|&(a, t, l)| (a.to_owned(), t, l.to_owned()))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn traces_retention_marks_whole_blocks_only() {
    let store = InMemory::new();
    for (id, min_s, max_s) in [("old", 1, 40), ("straddle", 40, 60), ("new", 60, 90)] {
        let meta = format!(
            r#"{{"version":1,"block_id":"{id}","min_time_ns":{},"max_time_ns":{},"tenant":"{TENANT}"}}"#,
            min_s * 1_000_000_000i64,
            max_s * 1_000_000_000i64
        );
        let key = block_object_key(Signal::Traces, &tenant(), id, "meta.json");
        store
            .put(&key, PutPayload::from(Bytes::from(meta)))
            .await
            .unwrap();
    }
    update_bucket_index(&store, Signal::Traces, &tenant())
        .await
        .unwrap();
    let limits = limits_with(|l| l.traces.block_retention = secs(50));
    let outcome = run(&store, Signal::Traces, &limits, 100_000).await;
    assert_eq!((outcome.blocks_deleted, outcome.blocks_rewritten), (1, 0));
    let blocks = list_blocks(&store, Signal::Traces, &tenant())
        .await
        .unwrap();
    let ids: Vec<&str> = blocks.iter().map(|b| b.block_id.as_str()).collect();
    assert_eq!(ids, ["straddle", "new"]);
}

#[tokio::test]
async fn a_bad_stream_selector_fails_the_pass_and_touches_nothing() {
    let store = InMemory::new();
    put_block(
        &store,
        Signal::Logs,
        &logs_block("b", &[("api", vec![(1, "x")])]),
    )
    .await;
    update_bucket_index(&store, Signal::Logs, &tenant())
        .await
        .unwrap();
    let limits = limits_with(|l| {
        l.logs.retention_period = secs(1);
        l.logs.retention_stream = vec![rule("{app=", 0, 10)];
    });
    let metrics = CompactorRetentionMetrics::new(&mut Registry::default());
    let err = apply_retention(
        &store,
        Signal::Logs,
        &tenant(),
        &limits,
        100_000,
        "c",
        &metrics,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("{app="), "{err}");
    assert_eq!(
        list_blocks(&store, Signal::Logs, &tenant())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_pass_can_be_spawned() {
    fn send<T: Send>(_: T) {}
    let (store, limits) = (InMemory::new(), TenantLimits::default());
    let metrics = CompactorRetentionMetrics::default();
    let t = tenant();
    send(apply_retention(
        &store,
        Signal::Logs,
        &t,
        &limits,
        0,
        "c",
        &metrics,
    ));
}
