//! Ingester-side cost of appending 2000-series batches to a tenant's head and WAL (tempdir):
//! in steady state (every series exists, one new sample each) and when creating the series.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sextant_metrics::remote_write::{decode_v1, decompress};
use sextant_metrics::write::WriteBatch;

mod support;

fn bench_append(c: &mut Criterion) {
    let reqs = support::requests(support::ROUNDS);
    let raws: Vec<Vec<u8>> = reqs
        .iter()
        .map(|r| decompress(&r.body, support::MAX_DECOMPRESSED).expect("decompress"))
        .collect();
    let mut batches: Vec<WriteBatch<'_>> = raws
        .iter()
        .map(|raw| {
            let mut batch = WriteBatch::default();
            decode_v1(raw, &mut batch).expect("decode");
            batch
        })
        .collect();
    let base: Vec<Vec<i64>> = batches
        .iter()
        .map(|b| b.samples.iter().map(|s| s.timestamp_ms).collect())
        .collect();
    let opts = support::append_options();

    let mut g = c.benchmark_group("head_append");
    g.throughput(Throughput::Elements(support::SERIES as u64));
    let (db, _dir) = support::open_db();
    let (mut next, mut written) = (0u64, 0u64);
    g.bench_function("steady_state", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let r = (next % support::ROUNDS as u64) as usize;
                support::set_timestamps(
                    &mut batches[r],
                    &base[r],
                    support::shift_for(next, support::ROUNDS),
                );
                next += 1;
                let t0 = Instant::now();
                let out = db.append(&batches[r], &opts).expect("append");
                spent += t0.elapsed();
                assert_eq!(out.rejected_total(), 0, "{:?}", out.rejected);
                written += out.samples_written;
            }
            spent
        })
    });
    assert_eq!(
        written,
        next * support::SERIES as u64,
        "every sample is stored"
    );
    g.bench_function("create_series", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let (fresh, _dir) = support::open_db();
                let t0 = Instant::now();
                let out = fresh.append(&batches[0], &opts).expect("append");
                spent += t0.elapsed();
                assert_eq!(out.series_created, support::SERIES as u64);
            }
            spent
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench_append
}
criterion_main!(benches);
