//! The logs block reader over blocks written into an in-memory bucket.

use object_store::memory::InMemory;
use sextant_model::MatchOp;

use super::testing::upload_logs_block;
use super::*;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SEC;

fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

fn labels(app: &str) -> Labels {
    Labels::from_pairs([("app", app), ("env", "prod")])
}

/// One entry per second in `[from_s, to_s)` past [`T0`].
fn entries(app: &str, from_s: i64, to_s: i64) -> Vec<Entry> {
    (from_s..to_s)
        .map(|s| Entry {
            ts_ns: T0 + s * SEC,
            line: format!("{app} {s}"),
            metadata: Labels::default(),
        })
        .collect()
}

/// Writes a block of `streams` (in label order) and refreshes the bucket index.
async fn put_block(store: &InMemory, id: &str, streams: &[(Labels, Vec<Entry>)]) {
    // small chunks, so that a range needs only some of a stream's chunks
    let streams = streams.iter().map(|(l, e)| (l, e.as_slice()));
    upload_logs_block(store, &tenant(), (id, "ingester-1"), 64, streams).await;
}

struct Setup {
    reader: LogsBlockReader,
    registry: Registry,
}

async fn setup() -> Setup {
    let store = Arc::new(InMemory::new());
    put_block(
        &store,
        "B1",
        &[
            (labels("api"), entries("api", 0, 60)),
            (labels("web"), entries("web", 0, 60)),
        ],
    )
    .await;
    put_block(&store, "B2", &[(labels("api"), entries("api", 60, 120))]).await;
    let mut registry = Registry::default();
    let reader = LogsBlockReader::new(&QuerierConfig::default(), store, &mut registry);
    Setup { reader, registry }
}

fn metric(registry: &Registry, name: &str) -> u64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn select_reads_the_overlapping_blocks_and_chunks() {
    let s = setup().await;
    let app = |v: &str| Matcher::new(MatchOp::Equal, "app", v).unwrap();
    // (matchers, [from, to) in s) -> per block: (app, first s, last s) of each stream
    type Want = Vec<Vec<(&'static str, i64, i64)>>;
    let cases: Vec<(Vec<Matcher>, i64, i64, Want)> = vec![
        (vec![], 10, 20, vec![vec![("api", 10, 19), ("web", 10, 19)]]),
        (
            vec![app("api")],
            50,
            70,
            vec![vec![("api", 50, 59)], vec![("api", 60, 69)]],
        ),
        (vec![app("web")], 60, 120, vec![vec![]]),
        (vec![app("none")], 0, 120, vec![vec![], vec![]]),
        (vec![], 200, 300, vec![]),
    ];
    for (matchers, from, to, want) in cases {
        let got = s
            .reader
            .select(&tenant(), &matchers, &[], T0 + from * SEC, T0 + to * SEC)
            .await
            .unwrap();
        let got: Want = got
            .iter()
            .map(|block| {
                block
                    .iter()
                    .map(|st| {
                        let app = if st.labels.get("app") == Some("api") {
                            "api"
                        } else {
                            "web"
                        };
                        let first = (st.entries[0].ts_ns - T0) / SEC;
                        let last = (st.entries.last().unwrap().ts_ns - T0) / SEC;
                        assert_eq!(st.entries.len() as i64, last - first + 1);
                        (app, first, last)
                    })
                    .collect()
            })
            .collect();
        assert_eq!(got, want, "{matchers:?} [{from}, {to})");
    }
    // each index was fetched once, then served from the cache
    assert_eq!(
        metric(&s.registry, "sextant_querier_logs_index_cache_misses_total"),
        2
    );
    assert!(metric(&s.registry, "sextant_querier_logs_index_cache_hits_total") >= 4);
}

#[tokio::test]
async fn only_the_needed_chunk_bytes_are_fetched() {
    let s = setup().await;
    let app = Matcher::new(MatchOp::Equal, "app", "api").unwrap();
    s.reader
        .select(
            &tenant(),
            std::slice::from_ref(&app),
            &[],
            T0,
            T0 + 120 * SEC,
        )
        .await
        .unwrap();
    let all = metric(
        &s.registry,
        "sextant_querier_logs_block_fetched_bytes_total",
    );
    // indexes are cached now: a one-second range fetches a chunk or two
    s.reader
        .select(&tenant(), &[app], &[], T0 + 5 * SEC, T0 + 6 * SEC)
        .await
        .unwrap();
    let one = metric(
        &s.registry,
        "sextant_querier_logs_block_fetched_bytes_total",
    ) - all;
    assert!(one > 0 && one * 10 < all, "{one} of {all}");
}

#[tokio::test]
async fn series_of_matching_streams_with_data_in_range() {
    let s = setup().await;
    let app = |v: &str| Matcher::new(MatchOp::Equal, "app", v).unwrap();
    // (matcher sets, [from, to) in s) -> per block: the label sets
    type Case = (Vec<Vec<Matcher>>, i64, i64, Vec<Vec<Labels>>);
    let cases: Vec<Case> = vec![
        (vec![], 0, 10, vec![vec![labels("api"), labels("web")]]),
        (
            vec![vec![app("web")]],
            0,
            120,
            vec![vec![labels("web")], vec![]],
        ),
        (
            vec![vec![app("web")], vec![app("api")]],
            90,
            100,
            vec![vec![labels("api")]],
        ),
    ];
    for (sets, from, to, want) in cases {
        let got = s
            .reader
            .series(&tenant(), &sets, T0 + from * SEC, T0 + to * SEC)
            .await
            .unwrap();
        assert_eq!(got, want, "{sets:?}");
    }
}

#[tokio::test]
async fn a_tenant_without_blocks_reads_nothing() {
    let s = setup().await;
    let other = TenantId::parse("team-b").unwrap();
    let got = s
        .reader
        .select(&other, &[], &[], 0, i64::MAX)
        .await
        .unwrap();
    assert!(got.is_empty());
}

#[test]
fn block_overlap_uses_the_covering_ms() {
    let block = |min, max| BucketBlock {
        block_id: "b".into(),
        min_time_ms: min,
        max_time_ms: max,
        compaction_level: 1,
        source: String::new(),
        resolution_ms: 0,
    };
    // (block ms, query ns) -> overlaps
    let cases = [
        ((1, 2), (0, NS_PER_MS), false),
        ((1, 2), (0, NS_PER_MS + 1), true),
        ((1, 2), (2 * NS_PER_MS, 3 * NS_PER_MS), true),
        ((1, 2), (2 * NS_PER_MS + 1, 3 * NS_PER_MS), false),
    ];
    for ((min, max), (start, end), want) in cases {
        assert_eq!(
            block_may_overlap(&block(min, max), start, end),
            want,
            "{min} {max} {start} {end}"
        );
    }
}

#[tokio::test]
async fn line_filters_run_inside_the_block_reader() {
    let s = setup().await;
    let stages = |text: &str| sextant_logs::logql::eval::parse_line_filters(text).unwrap();
    // (line filters, [from, to) in s) -> the lines returned, over every block
    let cases: Vec<(&str, i64, i64, Vec<&str>)> = vec![
        ("", 10, 12, vec!["api 10", "api 11", "web 10", "web 11"]),
        (r#"|= "api 1""#, 10, 13, vec!["api 10", "api 11", "api 12"]),
        (
            r#"|= "api 5" != "api 50""#,
            50,
            70,
            vec![
                "api 51", "api 52", "api 53", "api 54", "api 55", "api 56", "api 57", "api 58",
                "api 59",
            ],
        ),
        (r#"|~ "web 1[0-1]$""#, 0, 120, vec!["web 10", "web 11"]),
        (r#"|= "nowhere""#, 0, 120, vec![]),
    ];
    for (text, from, to, want) in cases {
        let got = s
            .reader
            .select(
                &tenant(),
                &[],
                &stages(text),
                T0 + from * SEC,
                T0 + to * SEC,
            )
            .await
            .unwrap();
        let mut lines: Vec<String> = got
            .iter()
            .flatten()
            .flat_map(|st| st.entries.iter().map(|e| e.line.clone()))
            .collect();
        lines.sort();
        assert_eq!(lines, want, "{text} [{from}, {to})");
    }
}
