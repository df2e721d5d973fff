//! The logs querier over in-memory ingesters and logs blocks in an in-memory bucket: what
//! an ingester shipped and still holds, and what each replica uploaded, comes back once.

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_model::{Labels, MatchOp, Matcher};

use super::fakes::{tenant, FakeLogsIngester, FakeLogsIngesters, NOW_MS, SECOND, T0};
use super::LogsQuerier;
use crate::config::QuerierConfig;
use crate::logs_blocks::testing::upload_logs_block;
use crate::loki_api::{LogsSource, MemLogsSource};

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
    let streams = streams.iter().map(|s| (&s.labels, s.entries.as_slice()));
    upload_logs_block(store, &tenant(), (id, source), 1 << 10, streams).await;
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
    let ingesters = (1..=3)
        .map(|_| {
            let data = MemLogsSource::new();
            data.push("team-a", &web(), entry(2, "web 2", true));
            data.push("team-a", &web(), entry(5, "web 5", false));
            FakeLogsIngester {
                data: Arc::new(data),
                fail: false,
            }
        })
        .collect();
    let (fakes, ring) = FakeLogsIngesters::numbered(ingesters, "logs", NOW_MS);
    let mut registry = Registry::default();
    LogsQuerier::new(ring, Arc::new(fakes), &mut registry)
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
