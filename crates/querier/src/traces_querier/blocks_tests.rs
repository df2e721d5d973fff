//! The traces querier over in-memory ingesters and traces blocks in an in-memory bucket: a
//! trace split over ingesters and a block comes back whole with each span once; searches
//! and tags cover both sources.

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::ObjectStore;
use sextant_traces::block::{TracesBlockOptions, TracesBlockWriter};
use sextant_traces::model::Trace;
use sextant_traces::search::merge_traces;

use super::fakes::{
    fragment, querier_over, span_ids, strings, tenant, trace_id, FakeTracesIngester,
    FakeTracesIngesters, MS, T0,
};
use super::TracesQuerier;
use crate::config::QuerierConfig;
use crate::traces_blocks::testing::put_traces_block;
use crate::traces_source::{TracesSearchParams, TracesSource};

const SECOND_MS: u64 = 1000;

/// Uploads a block of `traces` (fragments of one ID merged) as an ingester does, with a
/// page per trace.
async fn upload(store: &dyn ObjectStore, id: &str, source: &str, traces: Vec<Trace>) {
    let mut by_id: std::collections::BTreeMap<_, Vec<Trace>> = Default::default();
    for t in traces {
        by_id.entry(t.id).or_default().push(t);
    }
    let mut writer = TracesBlockWriter::new(TracesBlockOptions { page_bytes: 64 });
    for fragments in by_id.into_values() {
        writer.add_trace(&merge_traces(fragments)).unwrap();
    }
    let block = writer.finish(id.into(), source.into()).unwrap();
    put_traces_block(store, &tenant(), id, &block).await;
}

fn querier(
    held: Vec<(&str, Vec<Trace>)>,
    store: Arc<dyn ObjectStore>,
    config: &QuerierConfig,
) -> TracesQuerier {
    let fakes = FakeTracesIngesters {
        by_addr: ["a", "b", "c"]
            .into_iter()
            .map(|id| {
                let traces = held.iter().find(|(h, _)| *h == id).map(|(_, t)| t.clone());
                let ingester = FakeTracesIngester {
                    fail: traces.is_none(),
                    traces: traces.unwrap_or_default(),
                };
                (format!("{id}:9095"), ingester)
            })
            .collect(),
        ..FakeTracesIngesters::default()
    };
    querier_over(fakes, Some((store, config)))
}

/// Block of a: trace 1's root, db span and an `audit` span only the block holds, trace 4
/// (billing, `GET /old`) and trace 5 (web). Ingester a holds trace 1's root and cache
/// spans, b its db span; c is down.
async fn split_trace_querier() -> TracesQuerier {
    let root = (1, "GET /", 0, 100, 0);
    let db = (2, "db", 10, 20, 1);
    let cache = (3, "cache", 50, 10, 1);
    let audit = (4, "audit", 90, 5, 1);
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let shipped = vec![
        fragment(1, "api", &[root, audit]),
        fragment(1, "db", &[db]),
        fragment(4, "billing", &[(1, "GET /old", 200, 10, 0)]),
        fragment(5, "web", &[(1, "GET /x", 300, 10, 0)]),
    ];
    upload(&*store, "01BLOCKA", "a", shipped).await;
    let held = vec![
        ("a", vec![fragment(1, "api", &[root, cache])]),
        ("b", vec![fragment(1, "db", &[db])]),
    ];
    querier(held, store, &QuerierConfig::default())
}

#[tokio::test]
async fn trace_by_id_merges_ingesters_and_blocks() {
    let q = split_trace_querier().await;
    let after_block = (T0 + 10 * SECOND_MS * MS) as i64;
    // (trace, start, end, span IDs; None: not found)
    let cases: Vec<(u8, i64, i64, Option<Vec<u8>>)> = vec![
        (1, 0, 0, Some(vec![1, 2, 3, 4])),
        (4, 0, 0, Some(vec![1])),
        (9, 0, 0, None),
        (1, after_block, after_block + 1, Some(vec![1, 2, 3])),
        (4, after_block, 0, None),
    ];
    for (trace, start, end, want) in cases {
        let got = q
            .trace_by_id(&tenant(), trace_id(trace), start, end)
            .await
            .unwrap();
        assert_eq!(
            got.as_ref().map(span_ids),
            want,
            "trace {trace} [{start}, {end})"
        );
    }
}

fn params(query: &str, limit: u32) -> TracesSearchParams {
    TracesSearchParams {
        query: query.to_owned(),
        limit,
        spans_per_span_set: 0,
        ..TracesSearchParams::default()
    }
}

#[tokio::test]
async fn search_combines_ingesters_and_blocks() {
    let q = split_trace_querier().await;
    // (query, limit, [(trace ID text, root service, span IDs' last digit)])
    type Want = Vec<(&'static str, &'static str, Vec<char>)>;
    let cases: Vec<(&str, u32, Want)> = vec![
        (
            r#"{ resource.service.name = "api" }"#,
            0,
            vec![("1", "api", vec!['1', '3', '4'])],
        ),
        (
            r#"{ resource.service.name =~ "api|billing" }"#,
            0,
            vec![
                ("4", "billing", vec!['1']),
                ("1", "api", vec!['1', '3', '4']),
            ],
        ),
        (r#"{ name = "db" }"#, 0, vec![("1", "api", vec!['2'])]),
        (
            "{}",
            2,
            vec![("5", "web", vec!['1']), ("4", "billing", vec!['1'])],
        ),
    ];
    for (query, limit, want) in cases {
        let outcome = q.search(&tenant(), params(query, limit)).await.unwrap();
        let got: Vec<(&str, &str, Vec<char>)> = outcome
            .traces
            .iter()
            .map(|m| {
                let mut spans: Vec<char> = m
                    .span_sets
                    .iter()
                    .flat_map(|s| &s.spans)
                    .filter_map(|s| s.span_id.chars().last())
                    .collect();
                spans.sort_unstable();
                (m.trace_id.as_str(), m.root_service_name.as_str(), spans)
            })
            .collect();
        assert_eq!(got, want, "{query} limit {limit}");
        assert!(outcome.inspected_traces > 0, "{query}");
    }
}

#[tokio::test]
async fn tags_cover_ingesters_and_blocks() {
    let q = split_trace_querier().await;
    let cases = vec![
        (
            "resource.service.name",
            "",
            strings(&["api", "billing", "db", "web"]),
        ),
        (
            "span.http.route",
            r#"{ name = "GET /old" }"#,
            strings(&["GET /old"]),
        ),
        (
            "name",
            r#"{ resource.service.name = "api" }"#,
            strings(&["GET /", "audit", "cache"]),
        ),
    ];
    for (tag, query, want) in cases {
        let got = q.tag_values(&tenant(), tag, query, 0, 0, 0).await.unwrap();
        assert_eq!(got, want, "{tag} {query}");
    }
    let names = q.tag_names(&tenant(), "", 0, 0, 0).await.unwrap();
    let names: Vec<(&str, Vec<&str>)> = names
        .iter()
        .map(|s| (s.name.as_str(), s.tags.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        names,
        [
            ("resource", vec!["service.name"]),
            ("span", vec!["http.route"])
        ]
    );
}

#[tokio::test]
async fn search_stops_reading_blocks_once_the_limit_is_reached() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    // block n holds trace n starting n seconds after T0
    for n in 1..=4u8 {
        let start_ms = u64::from(n) * SECOND_MS;
        let trace = fragment(n, "api", &[(1, "GET /", start_ms, 10, 0)]);
        upload(&*store, &format!("01BLOCK{n}"), "a", vec![trace]).await;
    }
    let config = QuerierConfig {
        max_concurrent_block_reads: 1,
        ..QuerierConfig::default()
    };
    let held = vec![("a", vec![]), ("b", vec![]), ("c", vec![])];
    let q = querier(held, store, &config);
    let outcome = q.search(&tenant(), params("{}", 2)).await.unwrap();
    let ids: Vec<&str> = outcome.traces.iter().map(|m| m.trace_id.as_str()).collect();
    assert_eq!(ids, ["4", "3"]);
    // 3 ingesters and 4 blocks; the two newest blocks were enough
    assert_eq!((outcome.completed_jobs, outcome.total_jobs), (5, 7));
    let all = q.search(&tenant(), params("{}", 0)).await.unwrap();
    assert_eq!(all.traces.len(), 4);
    assert_eq!((all.completed_jobs, all.total_jobs), (7, 7));
}
