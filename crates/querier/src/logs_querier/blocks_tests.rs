//! The logs querier over in-memory ingesters and logs blocks in an in-memory bucket: what
//! an ingester shipped and still holds, and what each replica uploaded, comes back once.

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prometheus_client::registry::Registry;
use sextant_logs::block::{
    LogsBlockCompaction, LogsBlockSource, LogsBlockWriter, CHUNKS_FILE, INDEX_FILE, META_FILE,
};
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_model::{Labels, MatchOp, Matcher, Signal, TenantId};
use sextant_storage::{keys, update_bucket_index};

use super::fakes::{ring, FakeLogsIngester, FakeLogsIngesters};
use super::LogsQuerier;
use crate::config::QuerierConfig;
use crate::loki_api::{LogsSource, MemLogsSource};

const NOW_MS: i64 = 1_700_000_000_000;
const T0: i64 = 1_700_000_000_000_000_000;
const SECOND: i64 = 1_000_000_000;

fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

fn web() -> Labels {
    Labels::from_pairs([("app", "web"), ("env", "prod")])
}

fn api() -> Labels {
    Labels::from_pairs([("app", "api"), ("env", "dev")])
}

fn entry(s: i64, line: &str, traced: bool) -> Entry {
    Entry {
        ts_ns: T0 + s * SECOND,
        line: line.to_string(),
        metadata: match traced {
            true => Labels::from_pairs([("trace_id", "abc")]),
            false => Labels::default(),
        },
    }
}

/// Uploads one replica's block of `streams` (label order) as an ingester does.
async fn upload(store: &dyn ObjectStore, id: &str, source: &str, streams: &[Stream]) {
    let mut writer = LogsBlockWriter::new(1 << 10, 1 << 10);
    for s in streams {
        writer.add_stream(&s.labels, &s.entries).unwrap();
    }
    let block = writer.finish(LogsBlockSource {
        block_id: id.into(),
        tenant: "team-a".into(),
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
        let key = keys::block_object_key(Signal::Logs, &tenant(), id, file);
        store.put(&key, PutPayload::from(bytes)).await.unwrap();
    }
    update_bucket_index(store, Signal::Logs, &tenant())
        .await
        .unwrap();
}

/// Shipped: web at 0..=2 s (a line twice, with and without metadata) and api at 1 s, one
/// block per replica. Still in the heads: web at 2 s (shipped, not truncated) and 5 s.
async fn querier() -> LogsQuerier {
    let shipped = vec![
        Stream {
            labels: api(),
            entries: vec![entry(1, "api 1", false)],
        },
        Stream {
            labels: web(),
            entries: vec![
                entry(0, "web 0", false),
                entry(2, "web 2", false),
                entry(2, "web 2", true),
            ],
        },
    ];
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    for replica in 1..=3 {
        let id = format!("01BLOCK{replica}");
        upload(&*store, &id, &format!("ingester-{replica}"), &shipped).await;
    }
    let instances: Vec<(String, String)> = (1..=3)
        .map(|i| (format!("ingester-{i}"), format!("logs-{i}:9095")))
        .collect();
    let fakes = FakeLogsIngesters {
        by_addr: instances
            .iter()
            .map(|(_, addr)| {
                let data = MemLogsSource::new();
                data.push("team-a", &web(), entry(2, "web 2", true));
                data.push("team-a", &web(), entry(5, "web 5", false));
                let ingester = FakeLogsIngester {
                    data: Arc::new(data),
                    fail: false,
                };
                (addr.clone(), ingester)
            })
            .collect(),
        ..FakeLogsIngesters::default()
    };
    let ring = ring(&instances, NOW_MS);
    let mut registry = Registry::default();
    LogsQuerier::new(
        Arc::new(move || Arc::clone(&ring)),
        Arc::new(fakes),
        &mut registry,
    )
    .with_clock(Arc::new(|| NOW_MS))
    .with_blocks(&QuerierConfig::default(), store, &mut registry)
}

#[tokio::test]
async fn blocks_and_ingesters_give_each_entry_once() {
    let q = querier().await;
    let any = [Matcher::new(MatchOp::RegexMatch, "app", ".+").unwrap()];
    // (start s, end s) -> (labels, entries as (s, line, has metadata))
    type Want = Vec<(Labels, Vec<(i64, &'static str, bool)>)>;
    type Got = Vec<(Labels, Vec<(i64, String, bool)>)>;
    let cases: Vec<(i64, i64, Want)> = vec![
        (
            0,
            10,
            vec![
                (api(), vec![(1, "api 1", false)]),
                (
                    web(),
                    vec![
                        (0, "web 0", false),
                        (2, "web 2", false),
                        (2, "web 2", true),
                        (5, "web 5", false),
                    ],
                ),
            ],
        ),
        (
            2,
            3,
            vec![(web(), vec![(2, "web 2", false), (2, "web 2", true)])],
        ),
        (3, 10, vec![(web(), vec![(5, "web 5", false)])]),
    ];
    for (start, end, want) in cases {
        let got = q
            .select(&tenant(), &any, T0 + start * SECOND, T0 + end * SECOND)
            .await
            .unwrap();
        let got: Got = got
            .into_iter()
            .map(|s| {
                let entries = s
                    .entries
                    .into_iter()
                    .map(|e| ((e.ts_ns - T0) / SECOND, e.line, !e.metadata.is_empty()));
                (s.labels, entries.collect())
            })
            .collect();
        let want: Got = want
            .into_iter()
            .map(|(l, e)| {
                (
                    l,
                    e.into_iter()
                        .map(|(s, line, m)| (s, line.to_string(), m))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "[{start}, {end})");
    }
}

#[tokio::test]
async fn labels_and_series_include_the_blocks() {
    let q = querier().await;
    let (start, end) = (T0, T0 + 10 * SECOND);
    let names = q.label_names(&tenant(), start, end, None).await.unwrap();
    assert_eq!(names, ["app", "env"]);
    let apps = q
        .label_values(&tenant(), "app", start, end, None)
        .await
        .unwrap();
    assert_eq!(apps, ["api", "web"]);
    let dev = [Matcher::new(MatchOp::Equal, "env", "dev").unwrap()];
    let apps = q
        .label_values(&tenant(), "app", start, end, Some(&dev))
        .await
        .unwrap();
    assert_eq!(apps, ["api"]);
    let series = q.series(&tenant(), &[], start, end).await.unwrap();
    assert_eq!(series, [api(), web()]);
    // after the shipped range only the heads' stream is left
    let late = q
        .series(&tenant(), &[], T0 + 3 * SECOND, end)
        .await
        .unwrap();
    assert_eq!(late, [web()]);
}
