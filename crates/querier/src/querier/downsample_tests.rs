//! Downsampled blocks end to end: raw blocks and their 5m and 1h versions (built with
//! `downsample_block`) in an in-memory store, read through the querier and the Prometheus
//! API.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prometheus_client::registry::Registry;
use sextant_kit::tenant::TenantResolver;
use sextant_metrics::block::{
    downsample_block, BlockSource, BlockWriter, EncodedBlock, MetricsBlockSourceFiles,
    MetricsMergeOptions, CHUNKS_FILE, INDEX_FILE, META_FILE,
};
use sextant_metrics::chunk::XorAppender;
use sextant_metrics::downsample::{
    DownsampleHint, MetricsAggregate, AGGREGATE_LABEL, RESOLUTION_1H_MS, RESOLUTION_5M_MS,
};
use sextant_metrics::promql::{Engine, Series};
use sextant_model::{Labels, MatchOp, Signal, TenantId};
use sextant_storage::keys;
use tower::ServiceExt;

use super::fakes::{labels, CountingStore, Data, FakeIngester, FakeIngesters};
use super::*;
use crate::api::{prometheus_api_router, ApiState};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// An hour-aligned "now"; the querier's clock.
const NOW: i64 = 472_222 * HOUR;

/// `g{i}`: a gauge of pseudo-random values with two decimals; `c{i}`: a counter growing by
/// pseudo-random steps that resets every 5000 samples. One sample per `interval` in
/// `[from, to)`, as irregular as real data so that raw chunks compress like real ones.
fn dataset(series: usize, from: i64, to: i64, interval: i64) -> Vec<Data> {
    let noise = |t: i64, salt: u64| {
        // splitmix64 of (t, salt)
        let mut z = (t as u64) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % 10_000
    };
    let mut out = Vec::new();
    for i in 0..series {
        let id = i.to_string();
        let times: Vec<i64> = (from..to).step_by(interval as usize).collect();
        let gauge = times
            .iter()
            .map(|&t| (t, noise(t, i as u64) as f64 / 100.0));
        let mut value = 0.0;
        let counter = times.iter().map(|&t| {
            value = if (t / interval) % 5000 == 0 {
                0.0
            } else {
                value + (noise(t, 1000 + i as u64) % 100) as f64
            };
            (t, value)
        });
        out.push((labels(&[("__name__", "g"), ("i", &id)]), gauge.collect()));
        out.push((labels(&[("__name__", "c"), ("i", &id)]), counter.collect()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A raw block of `series` with chunks of 120 samples.
fn raw_block(id: &str, tenant: &TenantId, series: &[Data]) -> EncodedBlock {
    let mut writer = BlockWriter::new();
    for (l, samples) in series {
        let chunks: Vec<_> = samples
            .chunks(120)
            .map(|part| {
                let mut a = XorAppender::new();
                for &(t, v) in part {
                    assert!(a.append(t, v));
                }
                a.finish()
            })
            .collect();
        writer.add_series(l, &chunks).unwrap();
    }
    writer.finish(BlockSource {
        block_id: id.to_string(),
        tenant: tenant.to_string(),
        ..BlockSource::default()
    })
}

/// `raw` downsampled to `resolution_ms`, named `id`.
fn downsampled(raw: &EncodedBlock, resolution_ms: i64, id: &str) -> EncodedBlock {
    let meta = raw.meta.to_json();
    let src = MetricsBlockSourceFiles {
        meta: &meta,
        index: &raw.index,
        chunks: &raw.chunks,
    };
    downsample_block(&src, resolution_ms, &MetricsMergeOptions::new(id)).unwrap()
}

async fn upload(store: &dyn ObjectStore, tenant: &TenantId, block: &EncodedBlock) {
    let files = [
        (INDEX_FILE, block.index.clone()),
        (CHUNKS_FILE, block.chunks.clone()),
        (META_FILE, block.meta.to_json()),
    ];
    for (file, bytes) in files {
        let key = keys::block_object_key(Signal::Metrics, tenant, &block.meta.block_id, file);
        store.put(&key, PutPayload::from(bytes)).await.unwrap();
    }
}

fn querier(ingested: Vec<Data>, store: Arc<CountingStore>, registry: &mut Registry) -> Querier {
    let replicas = (0..3)
        .map(|_| FakeIngester {
            series: ingested.clone(),
            ..FakeIngester::default()
        })
        .collect();
    let (fakes, ring) = FakeIngesters::numbered(replicas, "ing", NOW);
    let config = QuerierConfig {
        query_ingesters_within: Duration::ZERO,
        ..QuerierConfig::default()
    };
    Querier::new(config, ring, Arc::new(fakes), store, registry).with_clock(Arc::new(|| NOW))
}

fn total(series: &[Series]) -> (f64, usize) {
    let values = series.iter().flat_map(|s| s.floats.iter().map(|p| p.f));
    (values.clone().sum(), values.count())
}

fn distinct(data: &[&[Data]]) -> Vec<Data> {
    let mut merged: std::collections::BTreeMap<Labels, std::collections::BTreeMap<i64, f64>> =
        Default::default();
    for part in data {
        for (l, samples) in part.iter() {
            merged
                .entry(l.clone())
                .or_default()
                .extend(samples.iter().copied());
        }
    }
    merged
        .into_iter()
        .map(|(l, s)| (l, s.into_iter().collect()))
        .collect()
}

fn in_range(data: &[Data], from: i64, to: i64) -> Vec<Data> {
    data.iter()
        .map(|(l, s)| {
            let kept = s.iter().copied().filter(|&(t, _)| from <= t && t < to);
            (l.clone(), kept.collect())
        })
        .collect()
}

#[tokio::test]
async fn raw_reads_ignore_downsampled_blocks() {
    let tenant = TenantId::default_tenant();
    let store = Arc::new(CountingStore::default());
    let data = dataset(2, NOW - 2 * DAY, NOW - DAY, 15_000);
    let raw = raw_block("raw", &tenant, &data);
    upload(store.as_ref(), &tenant, &raw).await;
    upload(
        store.as_ref(),
        &tenant,
        &downsampled(&raw, RESOLUTION_5M_MS, "d5m"),
    )
    .await;
    upload(
        store.as_ref(),
        &tenant,
        &downsampled(&raw, RESOLUTION_1H_MS, "d1h"),
    )
    .await;
    let q = querier(Vec::new(), store, &mut Registry::default());
    let (start, end) = (NOW - 3 * DAY, NOW);

    let series = q.select(&tenant, start, end, &[], None).await.unwrap();
    let got: Vec<Data> = series
        .iter()
        .map(|s| {
            (
                s.metric.clone(),
                s.floats.iter().map(|p| (p.t, p.f)).collect(),
            )
        })
        .collect();
    assert_eq!(got, data, "raw samples, each once");

    let names = q.label_names(&tenant, start, end, &[], 0).await.unwrap();
    assert_eq!(names, vec!["__name__", "i"]);
    let any = vec![vec![
        Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()
    ]];
    let values = q
        .label_values(&tenant, AGGREGATE_LABEL, start, end, &any, 0)
        .await
        .unwrap();
    assert!(values.is_empty(), "{values:?}");
    let listed = q.series(&tenant, start, end, &any, 0).await.unwrap();
    let want: Vec<Labels> = data.iter().map(|(l, _)| l.clone()).collect();
    assert_eq!(listed, want);
}

#[tokio::test]
async fn hinted_select_counts_each_sample_once_across_resolutions_and_sources() {
    let tenant = TenantId::default_tenant();
    let store = Arc::new(CountingStore::default());
    // raw blocks r1 [-48h, -24h) and r2 [-24h, -10h), r1 also at 1h; ingesters hold
    // [-26h, now], so they repeat the end of r1 and overlap r2
    let from = NOW - 2 * DAY - 7 * MIN;
    let all = dataset(2, from, NOW, 20_000);
    let r1 = in_range(&all, from, NOW - DAY);
    let r2 = in_range(&all, NOW - DAY, NOW - 10 * HOUR);
    let ingested = in_range(&all, NOW - 26 * HOUR, NOW);
    let r1_block = raw_block("r1", &tenant, &r1);
    upload(store.as_ref(), &tenant, &r1_block).await;
    upload(store.as_ref(), &tenant, &raw_block("r2", &tenant, &r2)).await;
    upload(
        store.as_ref(),
        &tenant,
        &downsampled(&r1_block, RESOLUTION_1H_MS, "h1"),
    )
    .await;
    let q = querier(ingested.clone(), store, &mut Registry::default());

    let gauges = [Matcher::new(MatchOp::Equal, "__name__", "g").unwrap()];
    let want = distinct(&[&r1, &r2, &ingested]);
    let want_gauges: Vec<&Data> = want
        .iter()
        .filter(|(l, _)| l.metric_name() == Some("g"))
        .collect();
    let want_sum: f64 = want_gauges
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .sum();
    let want_count: usize = want_gauges.iter().map(|(_, s)| s.len()).sum();
    let cases = [
        (MetricsAggregate::Sum, want_sum),
        (MetricsAggregate::Count, want_count as f64),
    ];
    for (aggregate, want) in cases {
        for resolution_ms in [RESOLUTION_1H_MS, i64::MAX] {
            let hint = DownsampleHint {
                resolution_ms,
                aggregate,
            };
            let got = q
                .select(&tenant, from - DAY, NOW, &gauges, Some(hint))
                .await
                .unwrap();
            assert_eq!(got.len(), 2, "{aggregate:?}");
            assert!(got.iter().all(|s| s.metric.get(AGGREGATE_LABEL).is_none()));
            let (sum, points) = total(&got);
            assert!(
                (sum - want).abs() <= 1e-6 * want.abs(),
                "{aggregate:?}: {sum} != {want}"
            );
            assert!(
                points < want_count,
                "{aggregate:?} read aggregates: {points}"
            );
        }
    }
    // a 5m hint cannot use the 1h block: every raw sample once
    let hint = DownsampleHint {
        resolution_ms: RESOLUTION_5M_MS,
        aggregate: MetricsAggregate::Count,
    };
    let got = q
        .select(&tenant, from - DAY, NOW, &gauges, Some(hint))
        .await
        .unwrap();
    assert_eq!(total(&got), (want_count as f64, want_count));
}

/// `GET` of `uri` on the router; the status and the JSON body.
async fn get(router: &axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

/// The `(labels, [(t, value)])` of a matrix answer.
fn matrix(body: &serde_json::Value) -> Vec<(String, Vec<(f64, f64)>)> {
    let result = body["data"]["result"].as_array().unwrap();
    result
        .iter()
        .map(|s| {
            let values = s["values"].as_array().unwrap();
            let points = values
                .iter()
                .map(|v| {
                    let t = v[0].as_f64().unwrap();
                    let f: f64 = v[1].as_str().unwrap().parse().unwrap();
                    (t, f)
                })
                .collect();
            (s["metric"].to_string(), points)
        })
        .collect()
}

fn assert_close(
    raw: &[(String, Vec<(f64, f64)>)],
    other: &[(String, Vec<(f64, f64)>)],
    what: &str,
) {
    assert_eq!(raw.len(), other.len(), "{what}: series");
    for ((l1, p1), (l2, p2)) in raw.iter().zip(other) {
        assert_eq!(l1, l2, "{what}");
        assert_eq!(p1.len(), p2.len(), "{what} {l1}: points");
        for (a, b) in p1.iter().zip(p2) {
            assert_eq!(a.0, b.0, "{what} {l1}");
            let tolerance = 1e-9 * a.1.abs().max(1.0);
            assert!(
                (a.1 - b.1).abs() <= tolerance,
                "{what} {l1} at {}: {} vs {}",
                a.0,
                a.1,
                b.1
            );
        }
    }
}

#[tokio::test]
async fn thirty_days_from_1h_blocks_give_raw_answers_for_10x_fewer_bytes() {
    let tenant = TenantId::default_tenant();
    let store = Arc::new(CountingStore::default());
    let (from, to) = (NOW - 31 * DAY, NOW - DAY);
    let data = dataset(2, from, to, 30_000);
    let raw = raw_block("raw", &tenant, &data);
    upload(store.as_ref(), &tenant, &raw).await;
    upload(
        store.as_ref(),
        &tenant,
        &downsampled(&raw, RESOLUTION_5M_MS, "d5m"),
    )
    .await;
    upload(
        store.as_ref(),
        &tenant,
        &downsampled(&raw, RESOLUTION_1H_MS, "d1h"),
    )
    .await;
    let mut registry = Registry::default();
    let q = querier(Vec::new(), store.clone(), &mut registry);
    let state = ApiState::new(Arc::new(q), Engine::default(), TenantResolver::new(false));
    let router = prometheus_api_router(state);
    let (start, end) = ((from + DAY) / 1000, to / 1000);
    for query in [
        "sum_over_time(g[1h])",
        "rate(c[1h])",
        "max_over_time(g[1h])",
    ] {
        let mut answers = Vec::new();
        // raw, 1h, the config's default (auto: 1h here) and 5m
        for parameter in ["=raw", "=1h", "", "=5m"] {
            store.reset();
            let resolution = match parameter {
                "" => String::new(),
                p => format!("&max_source_resolution{p}"),
            };
            let uri = format!(
                "/prometheus/api/v1/query_range?query={query}&start={start}&end={end}&step=3600{resolution}"
            );
            let (status, body) = get(&router, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            let bytes = store.served(CHUNKS_FILE) + store.served(INDEX_FILE);
            answers.push((matrix(&body), bytes));
        }
        let (raw_answer, raw_bytes) = &answers[0];
        assert_eq!(raw_answer.len(), 2, "{query}");
        let hours = (end - start) / 3600 + 1;
        assert_eq!(
            raw_answer[0].1.len() as i64,
            hours,
            "{query}: one point per hour"
        );
        for (i, (answer, bytes)) in answers.iter().enumerate().skip(1) {
            assert_close(raw_answer, answer, &format!("{query} #{i}"));
            // 5m aggregates of a counter are a fifth of its samples, less compressible
            let factor = if i == 3 { 1 } else { 10 };
            assert!(
                bytes * factor < *raw_bytes,
                "{query} #{i}: read {bytes} bytes, raw {raw_bytes}"
            );
        }
    }
    let text = {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    };
    for resolution in ["raw", "5m", "1h"] {
        let line = format!(
            "sextant_querier_fetched_bytes_total{{signal=\"metrics\",file=\"chunks\",resolution=\"{resolution}\"}}"
        );
        assert!(text.contains(&line), "{line}\n{text}");
    }
}

#[tokio::test]
async fn max_source_resolution_parameter_is_validated() {
    let store = Arc::new(CountingStore::default());
    let q = querier(Vec::new(), store, &mut Registry::default());
    let state = ApiState::new(Arc::new(q), Engine::default(), TenantResolver::new(false));
    let router = prometheus_api_router(state);
    let cases = [
        ("raw", StatusCode::OK),
        ("0s", StatusCode::OK),
        ("5m", StatusCode::OK),
        ("1h", StatusCode::OK),
        ("auto", StatusCode::OK),
        ("fine", StatusCode::BAD_REQUEST),
        ("-300", StatusCode::BAD_REQUEST),
    ];
    for (value, want) in cases {
        for path in ["query?time=100", "query_range?start=0&end=100&step=10"] {
            let uri = format!("/prometheus/api/v1/{path}&query=up&max_source_resolution={value}");
            let (status, body) = get(&router, &uri).await;
            assert_eq!(status, want, "{uri}: {body}");
            if want == StatusCode::BAD_REQUEST {
                let error = body["error"].as_str().unwrap();
                assert!(
                    error.starts_with("invalid parameter \"max_source_resolution\""),
                    "{error}"
                );
            }
        }
    }
}
