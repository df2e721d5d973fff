//! The data layer end to end over fake ingesters and blocks in an in-memory store.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStoreExt;
use prometheus_client::registry::Registry;
use sextant_metrics::block::{chunk_byte_range, BlockIndex, INDEX_FILE};
use sextant_metrics::promql::Series;
use sextant_model::{MatchOp, Matcher, Signal, TenantId};
use sextant_proto::prometheus::{metric_metadata::MetricType, MetricMetadata};
use sextant_ring::InstanceState;
use sextant_storage::keys;

use super::fakes::{labels, put_block, ring, CountingStore, Data, FakeIngester, FakeIngesters};
use super::*;

const NOW: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchOp::Equal, name, value).unwrap()
}

/// Samples every 15 s from `from`.
fn samples(from: i64, n: i64, value: f64) -> Vec<(i64, f64)> {
    (0..n)
        .map(|i| (from + i * 15_000, value + i as f64))
        .collect()
}

struct Setup {
    ingesters: Arc<FakeIngesters>,
    store: Arc<CountingStore>,
    querier: Querier,
    registry: Registry,
}

fn setup(ingesters: Vec<FakeIngester>, config: QuerierConfig) -> Setup {
    let (fakes, ring) = FakeIngesters::numbered(ingesters, "ing", NOW);
    let fakes = Arc::new(fakes);
    let store = Arc::new(CountingStore::default());
    let mut registry = Registry::default();
    let querier = Querier::new(config, ring, fakes.clone(), store.clone(), &mut registry)
        .with_clock(Arc::new(|| NOW));
    Setup {
        ingesters: fakes,
        store,
        querier,
        registry,
    }
}

fn replicas(series: Vec<Data>, failing: usize) -> Vec<FakeIngester> {
    (0..3)
        .map(|i| FakeIngester {
            series: series.clone(),
            fail: i < failing,
            ..FakeIngester::default()
        })
        .collect()
}

fn points(s: &Series) -> Vec<(i64, f64)> {
    s.floats.iter().map(|p| (p.t, p.f)).collect()
}

fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}

#[tokio::test]
async fn select_merges_replicas_of_ingesters_and_blocks() {
    let up = labels(&[("__name__", "up"), ("job", "a")]);
    let recent = samples(NOW - 10 * MIN, 8, 100.0);
    let old = samples(NOW - 2 * HOUR, 8, 0.0);
    // blocks overlap the ingesters on the first recent sample
    let mut stored = old.clone();
    stored.push(recent[0]);
    let s = setup(
        replicas(vec![(up.clone(), recent.clone())], 1),
        QuerierConfig::default(),
    );
    for id in ["b1", "b2", "b3"] {
        let series = vec![
            (up.clone(), stored.clone()),
            (
                labels(&[("__name__", "other")]),
                samples(NOW - 2 * HOUR, 4, 0.0),
            ),
        ];
        put_block(s.store.as_ref(), &tenant(), id, series).await;
    }

    let got = s
        .querier
        .select(
            &tenant(),
            NOW - 3 * HOUR,
            NOW,
            &[eq("__name__", "up")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].metric, up);
    let want: Vec<(i64, f64)> = old.iter().chain(&recent).copied().collect();
    assert_eq!(points(&got[0]), want);

    // a narrower range cuts both sources
    let got = s
        .querier
        .select(
            &tenant(),
            NOW - 2 * HOUR + 15_000,
            NOW - 10 * MIN,
            &[eq("job", "a")],
            None,
        )
        .await
        .unwrap();
    let want: Vec<(i64, f64)> = old[1..].iter().chain(&recent[..1]).copied().collect();
    assert_eq!(points(&got[0]), want);
}

#[tokio::test]
async fn ingester_quorum_failures() {
    let up = labels(&[("__name__", "up")]);
    let data = vec![(up, samples(NOW - MIN, 2, 1.0))];
    let s = setup(replicas(data.clone(), 1), QuerierConfig::default());
    let got = s
        .querier
        .select(&tenant(), NOW - HOUR, NOW, &[eq("__name__", "up")], None)
        .await;
    assert_eq!(got.unwrap().len(), 1, "one of three may fail");

    let s = setup(replicas(data.clone(), 2), QuerierConfig::default());
    let err = s
        .querier
        .select(&tenant(), NOW - HOUR, NOW, &[eq("__name__", "up")], None)
        .await
        .unwrap_err();
    let QuerierError::Ingesters(message) = &err else {
        panic!("wrong error {err:?}");
    };
    assert!(
        message.contains("ingester-1") && message.contains("ingester-2"),
        "{message}"
    );
    assert_eq!(err.kind(), sextant_model::ErrorKind::Unavailable);
    let err = s
        .querier
        .label_names(&tenant(), NOW - HOUR, NOW, &[], 0)
        .await
        .unwrap_err();
    assert!(matches!(err, QuerierError::Ingesters(_)), "{err:?}");
    let err = s.querier.metadata(&tenant(), "", 0).await.unwrap_err();
    assert!(matches!(err, QuerierError::Ingesters(_)), "{err:?}");
}

#[tokio::test]
async fn unhealthy_instances_count_as_failed() {
    let data = vec![(labels(&[("__name__", "up")]), samples(NOW - MIN, 2, 1.0))];
    let fakes = Arc::new(FakeIngesters {
        by_addr: [("a:1", false), ("b:1", true), ("c:1", false)]
            .into_iter()
            .map(|(addr, fail)| {
                let ingester = FakeIngester {
                    series: data.clone(),
                    fail,
                    ..FakeIngester::default()
                };
                (addr.to_string(), ingester)
            })
            .collect(),
        ..FakeIngesters::default()
    });
    let stale = NOW - 2 * MIN;
    let ring = ring(&[
        ("i-a", "a:1", InstanceState::Active, stale),
        ("i-b", "b:1", InstanceState::Active, NOW),
        ("i-c", "c:1", InstanceState::Active, NOW),
    ]);
    let querier = Querier::new(
        QuerierConfig::default(),
        Arc::new(move || Arc::clone(&ring)),
        fakes.clone(),
        Arc::new(CountingStore::default()),
        &mut Registry::default(),
    )
    .with_clock(Arc::new(|| NOW));
    let err = querier
        .series(&tenant(), NOW - HOUR, NOW, &[vec![eq("__name__", "up")]], 0)
        .await;
    let message = err.unwrap_err().to_string();
    assert!(
        message.contains("i-a at a:1: unhealthy") && message.contains("i-b"),
        "{message}"
    );
    assert!(
        !fakes.requests.lock().contains(&"a:1".to_string()),
        "unhealthy instances are not asked"
    );
}

#[tokio::test]
async fn fetches_only_the_chunks_it_needs_and_caches_indexes() {
    let s = setup(replicas(vec![], 0), QuerierConfig::default());
    let series: Vec<Data> = (0..50)
        .map(|i| {
            (
                labels(&[("__name__", "m"), ("i", &i.to_string())]),
                samples(NOW - 2 * HOUR, 8, 0.0),
            )
        })
        .collect();
    put_block(s.store.as_ref(), &tenant(), "big", series).await;
    s.store.reset();

    // the second chunk of one series: samples 4..8
    let (start, end) = (NOW - 2 * HOUR + 4 * 15_000, NOW - HOUR);
    let got = s
        .querier
        .select(&tenant(), start, end, &[eq("i", "7")], None)
        .await
        .unwrap();
    assert_eq!(
        points(&got[0]),
        samples(NOW - 2 * HOUR, 8, 0.0)[4..].to_vec()
    );

    let index_key = keys::block_object_key(Signal::Metrics, &tenant(), "big", INDEX_FILE);
    let index_bytes = s
        .store
        .get(&index_key)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let index = BlockIndex::parse(&index_bytes).unwrap();
    let (_, chunks) = index.series(index.select(&[eq("i", "7")])[0]).unwrap();
    let want = chunk_byte_range(&chunks[1]);
    assert_eq!(
        s.store.served("/chunks"),
        want.end - want.start,
        "exactly one chunk entry"
    );
    let chunks_key = keys::block_object_key(Signal::Metrics, &tenant(), "big", "chunks");
    assert!(s.store.served("/chunks") * 50 < s.store.size(&chunks_key).await);

    s.store.reset();
    s.querier
        .select(&tenant(), start, end, &[eq("i", "8")], None)
        .await
        .unwrap();
    assert_eq!(s.store.served("/index"), 0, "the parsed index is cached");
    let text = metrics_text(&s.registry);
    assert!(
        text.contains("sextant_querier_index_cache_hits_total{signal=\"metrics\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sextant_querier_index_cache_misses_total{signal=\"metrics\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sextant_querier_blocks_opened_total{signal=\"metrics\"} 2"),
        "{text}"
    );
}

#[tokio::test]
async fn opens_only_blocks_overlapping_the_range() {
    let s = setup(replicas(vec![], 0), QuerierConfig::default());
    let m = labels(&[("__name__", "m")]);
    put_block(
        s.store.as_ref(),
        &tenant(),
        "old",
        vec![(m.clone(), samples(NOW - 30 * HOUR, 4, 0.0))],
    )
    .await;
    put_block(
        s.store.as_ref(),
        &tenant(),
        "new",
        vec![(m.clone(), samples(NOW - 2 * HOUR, 4, 9.0))],
    )
    .await;
    s.store.reset();
    let got = s
        .querier
        .select(&tenant(), NOW - 3 * HOUR, NOW, &[eq("__name__", "m")], None)
        .await
        .unwrap();
    assert_eq!(points(&got[0]), samples(NOW - 2 * HOUR, 4, 9.0));
    assert_eq!(s.store.served("old/index"), 0);
    assert!(s.store.served("new/index") > 0);
}

#[tokio::test]
async fn labels_and_series_are_sorted_unions() {
    let recent = vec![
        (
            labels(&[("__name__", "up"), ("job", "api")]),
            samples(NOW - MIN, 2, 1.0),
        ),
        (
            labels(&[("__name__", "up"), ("job", "db"), ("zone", "z1")]),
            samples(NOW - MIN, 2, 1.0),
        ),
    ];
    let s = setup(replicas(recent, 1), QuerierConfig::default());
    let stored = vec![
        (
            labels(&[("__name__", "up"), ("job", "api")]),
            samples(NOW - 2 * HOUR, 2, 1.0),
        ),
        (
            labels(&[("__name__", "disk"), ("job", "node"), ("dev", "sda")]),
            samples(NOW - 2 * HOUR, 2, 1.0),
        ),
    ];
    put_block(s.store.as_ref(), &tenant(), "b1", stored).await;
    let (t, start, end) = (tenant(), NOW - 3 * HOUR, NOW);
    let q = &s.querier;

    let names = q.label_names(&t, start, end, &[], 0).await.unwrap();
    assert_eq!(names, ["__name__", "dev", "job", "zone"]);
    let names = q.label_names(&t, start, end, &[], 2).await.unwrap();
    assert_eq!(names, ["__name__", "dev"]);
    let sets = [vec![eq("__name__", "up")]];
    let names = q.label_names(&t, start, end, &sets, 0).await.unwrap();
    assert_eq!(names, ["__name__", "job", "zone"]);

    let jobs = q.label_values(&t, "job", start, end, &[], 0).await.unwrap();
    assert_eq!(jobs, ["api", "db", "node"]);
    let jobs = q
        .label_values(&t, "job", start, end, &sets, 0)
        .await
        .unwrap();
    assert_eq!(jobs, ["api", "db"]);
    let sets2 = [vec![eq("job", "db")], vec![eq("dev", "sda")]];
    let jobs = q
        .label_values(&t, "job", start, end, &sets2, 0)
        .await
        .unwrap();
    assert_eq!(jobs, ["db", "node"]);

    let series = q.series(&t, start, end, &sets2, 0).await.unwrap();
    assert_eq!(
        series,
        [
            labels(&[("__name__", "disk"), ("job", "node"), ("dev", "sda")]),
            labels(&[("__name__", "up"), ("job", "db"), ("zone", "z1")]),
        ]
    );
    let series = q
        .series(&t, start, end, &[vec![eq("job", "api")]], 0)
        .await
        .unwrap();
    assert_eq!(series, [labels(&[("__name__", "up"), ("job", "api")])]);
    // blocks outside the range contribute nothing
    let names = q
        .label_values(&t, "dev", NOW - 30 * MIN, end, &[], 0)
        .await
        .unwrap();
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn metadata_comes_from_ingesters_deduplicated() {
    let meta = |family: &str, help: &str| MetricMetadata {
        r#type: MetricType::Counter as i32,
        metric_family_name: family.into(),
        help: help.into(),
        unit: String::new(),
    };
    let mut ingesters = replicas(vec![], 0);
    ingesters[0].metadata = vec![meta("a_total", "A."), meta("b_total", "B.")];
    ingesters[1].metadata = vec![meta("a_total", "A."), meta("a_total", "A, again.")];
    let s = setup(ingesters, QuerierConfig::default());
    let all = s.querier.metadata(&tenant(), "", 0).await.unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), ["a_total", "b_total"]);
    assert_eq!(all["a_total"].len(), 2);
    assert_eq!(all["a_total"][0].metric_type, "counter");
    let one = s.querier.metadata(&tenant(), "b_total", 0).await.unwrap();
    assert_eq!(one.keys().collect::<Vec<_>>(), ["b_total"]);
    let limited = s.querier.metadata(&tenant(), "", 1).await.unwrap();
    assert_eq!(limited.len(), 1);
}

#[tokio::test]
async fn old_queries_skip_ingesters() {
    // every ingester fails: a query that does not reach them still succeeds
    let s = setup(replicas(vec![], 3), QuerierConfig::default());
    let m = labels(&[("__name__", "m")]);
    put_block(
        s.store.as_ref(),
        &tenant(),
        "b",
        vec![(m, samples(NOW - 20 * HOUR, 4, 0.0))],
    )
    .await;
    let got = s
        .querier
        .select(
            &tenant(),
            NOW - 21 * HOUR,
            NOW - 14 * HOUR,
            &[eq("__name__", "m")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(got[0].floats.len(), 4);
    assert!(s.ingesters.requests.lock().is_empty());
    let err = s
        .querier
        .select(
            &tenant(),
            NOW - 21 * HOUR,
            NOW,
            &[eq("__name__", "m")],
            None,
        )
        .await;
    assert!(err.is_err(), "a recent end asks the ingesters");
}

async fn count_m(querier: &Querier) -> usize {
    let got = querier
        .select(&tenant(), NOW - 4 * HOUR, NOW, &[eq("__name__", "m")], None)
        .await
        .unwrap();
    got[0].floats.len()
}

#[tokio::test]
async fn block_list_is_refreshed_after_the_interval() {
    let m = labels(&[("__name__", "m")]);
    for (refresh, sees_new_block) in [(Duration::from_secs(3600), false), (Duration::ZERO, true)] {
        let config = QuerierConfig {
            bucket_index_refresh: refresh,
            ..QuerierConfig::default()
        };
        let s = setup(replicas(vec![], 0), config);
        put_block(
            s.store.as_ref(),
            &tenant(),
            "b1",
            vec![(m.clone(), samples(NOW - 3 * HOUR, 2, 0.0))],
        )
        .await;
        assert_eq!(count_m(&s.querier).await, 2);
        put_block(
            s.store.as_ref(),
            &tenant(),
            "b2",
            vec![(m.clone(), samples(NOW - 2 * HOUR, 2, 0.0))],
        )
        .await;
        let want = if sees_new_block { 4 } else { 2 };
        assert_eq!(count_m(&s.querier).await, want, "refresh {refresh:?}");
    }
}

#[tokio::test]
async fn empty_ring_is_an_error() {
    let s = setup(vec![], QuerierConfig::default());
    let source: Arc<dyn MetricsSource> = Arc::new(s.querier);
    let err = source
        .label_names(&tenant(), NOW - HOUR, NOW, &[], 0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no instances"), "{err}");
}

#[tokio::test]
async fn a_vanished_block_fails_once_then_the_list_is_reloaded() {
    let s = setup(replicas(vec![], 0), QuerierConfig::default());
    let m = labels(&[("__name__", "m")]);
    put_block(
        s.store.as_ref(),
        &tenant(),
        "gone",
        vec![(m, samples(NOW - 2 * HOUR, 2, 0.0))],
    )
    .await;
    let t = tenant();
    let select = || s.querier.select(&t, NOW - 3 * HOUR, NOW, &[], None);
    assert_eq!(select().await.unwrap().len(), 1);
    let prefix = keys::block_prefix(Signal::Metrics, &tenant(), "gone");
    for file in ["meta.json", "index", "chunks"] {
        s.store.delete(&prefix.clone().join(file)).await.unwrap();
    }
    // the cached index still names the block; its chunks are gone
    let err = select().await.unwrap_err();
    assert!(matches!(err, QuerierError::Blocks(_)), "{err:?}");
    assert!(
        select().await.unwrap().is_empty(),
        "the block list was reloaded"
    );
}

#[tokio::test]
async fn counts_ingester_requests_by_outcome() {
    let data = vec![(labels(&[("__name__", "up")]), samples(NOW - MIN, 2, 1.0))];
    let s = setup(replicas(data, 1), QuerierConfig::default());
    s.querier
        .select(&tenant(), NOW - HOUR, NOW, &[eq("__name__", "up")], None)
        .await
        .unwrap();
    let text = metrics_text(&s.registry);
    for (status, n) in [("success", 2), ("failure", 1)] {
        let line = format!(
            "sextant_querier_ingester_requests_total{{signal=\"metrics\",operation=\"query_stream\",status=\"{status}\"}} {n}"
        );
        assert!(text.contains(&line), "{line}\n{text}");
    }
}
