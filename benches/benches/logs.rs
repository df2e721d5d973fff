//! The logs engine's hot paths on realistic mixed logs (`sextant_benches::logs_gen`), in raw
//! line bytes per second: appending 1 MiB batches to a tenant database (WAL in a tempdir),
//! in order, overtaken by the next batch, and again (a retried push: all duplicates), a whole
//! push (decode + validate + append), a needle line filter per line, and reading a
//! chunk with and without the filter pushed down.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use sextant_benches::logs_bench::now_ns;
use sextant_benches::logs_gen::{LogsGenerator, LogsMix};
use sextant_logs::chunk::LogsChunk;
use sextant_logs::db::{LogsDbConfig, LogsTenantDb};
use sextant_logs::logql::parse::parse_log_expr;
use sextant_logs::pipeline::{LogsLineFilter, Pipeline};
use sextant_logs::push::{
    decode_loki_push, push_request_from_streams, validate, LogsValidationLimits,
};
use sextant_model::Labels;

mod support;

const BATCH_BYTES: usize = 1 << 20;
const NEEDLE: &str = "trace_id=4f1c2a9be07d4c55a1f0c3d2b6e8a901";

fn open_db() -> (LogsTenantDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogsDbConfig {
        dir: dir.path().to_path_buf(),
        ..LogsDbConfig::default()
    };
    (LogsTenantDb::open(config).expect("open").0, dir)
}

/// A generator whose lines end about now (validation accepts them) and run 10 µs apart.
fn generator() -> LogsGenerator {
    LogsGenerator::new(LogsMix::Mixed, 42, now_ns() - 3_600_000_000_000, 10_000)
}

fn bench_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("logs_append");
    g.throughput(Throughput::Bytes(BATCH_BYTES as u64));
    let (db, _dir) = open_db();
    let mut gen = generator();
    g.bench_function("batch_1mib", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let batch = gen.batch(BATCH_BYTES);
                let t0 = Instant::now();
                let report = db.append(&batch).expect("append");
                spent += t0.elapsed();
                assert_eq!(report.entries_written as usize, batch.entries());
            }
            spent
        })
    });
    // a push overtaken by the next one (out of order within the window), and a push sent
    // again (every entry a duplicate): only the late or repeated push is timed
    let (db, _dir) = open_db();
    for (name, repeat) in [("out_of_order_1mib", false), ("retried_1mib", true)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let (early, late) = (gen.batch(BATCH_BYTES), gen.batch(BATCH_BYTES));
                    db.append(if repeat { &early } else { &late })
                        .expect("append");
                    let t0 = Instant::now();
                    let report = db.append(&early).expect("append");
                    spent += t0.elapsed();
                    let want = if repeat { 0 } else { early.entries() };
                    assert_eq!(report.entries_written as usize, want);
                }
                spent
            })
        });
    }
    let (db, _dir) = open_db();
    let limits = LogsValidationLimits::default();
    g.bench_function("push_decode_validate_append", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let batch = gen.batch(BATCH_BYTES);
                let raw = push_request_from_streams(&batch.streams).encode_to_vec();
                let body = snap::raw::Encoder::new()
                    .compress_vec(&raw)
                    .expect("snappy");
                let t0 = Instant::now();
                let decoded = decode_loki_push(None, None, &body, 64 << 20).expect("decode");
                let (accepted, rejected) = validate(decoded, &limits, now_ns());
                let report = db.append(&accepted).expect("append");
                spent += t0.elapsed();
                assert!(rejected.is_empty());
                assert_eq!(report.entries_written as usize, batch.entries());
            }
            spent
        })
    });
    g.finish();
}

fn bench_line_filter(c: &mut Criterion) {
    let batch = generator().batch(4 << 20);
    let mut entries: Vec<_> = batch.streams.iter().flat_map(|s| &s.entries).collect();
    entries.sort_by_key(|e| e.ts_ns);
    let expr = parse_log_expr(&format!(r#"{{namespace=~".+"}} |= "{NEEDLE}""#)).expect("parse");
    let pipeline = Pipeline::new(&expr.pipeline).expect("pipeline");
    let filter = LogsLineFilter::new(&expr.pipeline).expect("filter");
    let labels = Labels::from_pairs([("namespace", "checkout")]);

    let mut g = c.benchmark_group("logs_line_filter");
    g.throughput(Throughput::Bytes(batch.line_bytes() as u64));
    g.bench_function("pipeline_process", |b| {
        b.iter(|| {
            let passed = entries
                .iter()
                .filter(|e| {
                    pipeline
                        .process(e.ts_ns, &e.line, &labels, &e.metadata)
                        .is_some()
                })
                .count();
            assert_eq!(passed, 0);
        })
    });
    // the line filter alone, against `str::contains` (what `|=` ran before), for the needle
    // and for a short literal found in many lines
    let short = parse_log_expr(r#"{namespace=~".+"} |= "error""#).expect("parse");
    let short = LogsLineFilter::new(&short.pipeline).expect("filter");
    let errors = entries.iter().filter(|e| e.line.contains("error")).count();
    let cases = [(NEEDLE, &filter, 0), ("error", &short, errors)];
    for (name, (literal, filter, want)) in ["needle", "short"].into_iter().zip(cases) {
        g.bench_function(format!("line_filter_matches_{name}"), |b| {
            b.iter(|| {
                assert_eq!(
                    entries.iter().filter(|e| filter.matches(&e.line)).count(),
                    want
                )
            })
        });
        g.bench_function(format!("str_contains_reference_{name}"), |b| {
            b.iter(|| {
                assert_eq!(
                    entries.iter().filter(|e| e.line.contains(literal)).count(),
                    want
                )
            })
        });
    }
    let mut chunk = LogsChunk::new(256 << 10);
    for e in &entries {
        chunk.push((*e).clone()).expect("push");
    }
    chunk.close_block().expect("close");
    let mut out = Vec::new();
    g.bench_function("chunk_entries_in", |b| {
        b.iter(|| {
            out.clear();
            chunk
                .entries_in(i64::MIN, i64::MAX, &mut out)
                .expect("read");
        })
    });
    g.bench_function("chunk_entries_matching", |b| {
        b.iter(|| {
            out.clear();
            chunk
                .entries_matching(i64::MIN, i64::MAX, &filter, &mut out)
                .expect("read");
            assert!(out.is_empty());
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench_append, bench_line_filter
}
criterion_main!(benches);
