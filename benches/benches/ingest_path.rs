//! The whole ingester-side cost per sample of a remote write 1.0 request: decompress, decode,
//! validate, append to head and WAL (tempdir), in steady state. Requests are replayed shifted
//! forward in time by whole cycles (adding to 2000 timestamps: ~0.1% of an iteration).

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sextant_metrics::remote_write::{decode_v1, decompress};
use sextant_metrics::validation::validate_batch;
use sextant_metrics::write::WriteBatch;
use sextant_model::TenantLimits;

mod support;

fn bench_ingest(c: &mut Criterion) {
    let reqs = support::requests(support::ROUNDS);
    let limits = TenantLimits::default();
    let opts = support::append_options();
    let now = support::now_ms();
    let (db, _dir) = support::open_db();
    let (mut next, mut written) = (0u64, 0u64);

    let mut g = c.benchmark_group("ingest_path");
    g.throughput(Throughput::Elements(support::SERIES as u64));
    g.bench_function("decompress_decode_validate_append", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                let req = &reqs[(next % support::ROUNDS as u64) as usize];
                let shift = support::shift_for(next, support::ROUNDS);
                next += 1;
                let raw = decompress(&req.body, support::MAX_DECOMPRESSED).expect("decompress");
                let mut batch = WriteBatch::default();
                decode_v1(&raw, &mut batch).expect("decode");
                batch
                    .samples
                    .iter_mut()
                    .for_each(|s| s.timestamp_ms += shift);
                let report = validate_batch(&mut batch, &limits, now);
                assert_eq!(report.total_discarded(), 0, "{:?}", report.first_errors);
                let out = db.append(&batch, &opts).expect("append");
                assert_eq!(out.rejected_total(), 0, "{:?}", out.rejected);
                written += out.samples_written;
            }
            t0.elapsed()
        })
    });
    g.finish();
    assert_eq!(
        written,
        next * support::SERIES as u64,
        "every sample is stored"
    );
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench_ingest
}
criterion_main!(benches);
