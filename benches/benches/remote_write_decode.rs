//! Distributor-side cost of a realistic 2000-series remote write 1.0 request: snappy
//! decompression, decoding into a borrowed `WriteBatch`, validation; and prost decoding of the
//! same body as the reference point (owned strings for every label).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use sextant_metrics::remote_write::{decode_v1, decompress};
use sextant_metrics::validation::validate_batch;
use sextant_metrics::write::WriteBatch;
use sextant_model::TenantLimits;
use sextant_proto::prometheus::WriteRequest;

mod support;

fn bench_decode(c: &mut Criterion) {
    // the second round: every series already known, values evolved once
    let reqs = support::requests(2);
    let body = &reqs[1].body;
    let raw = decompress(body, support::MAX_DECOMPRESSED).expect("decompress");
    let limits = TenantLimits::default();
    let now = support::now_ms();

    let mut g = c.benchmark_group("remote_write_decode");
    g.throughput(Throughput::Elements(u64::from(reqs[1].samples)));
    g.bench_function("decompress", |b| {
        b.iter(|| decompress(black_box(body), support::MAX_DECOMPRESSED).expect("decompress"))
    });
    g.bench_function("decode_v1", |b| {
        let mut batch = WriteBatch::default();
        b.iter(|| {
            batch.clear();
            decode_v1(black_box(&raw), &mut batch).expect("decode");
        })
    });
    g.bench_function("prost_decode_reference", |b| {
        b.iter(|| WriteRequest::decode(black_box(raw.as_slice())).expect("prost decode"))
    });
    g.bench_function("validate_batch", |b| {
        let mut batch = WriteBatch::default();
        decode_v1(&raw, &mut batch).expect("decode");
        let report = validate_batch(&mut batch, &limits, now);
        assert_eq!(report.total_discarded(), 0, "{:?}", report.first_errors);
        // a valid batch is left unchanged, so validating it again does the same work
        b.iter(|| validate_batch(black_box(&mut batch), &limits, now))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench_decode
}
criterion_main!(benches);
