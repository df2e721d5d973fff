//! Release-mode measurements, run by hand:
//! `cargo test -p sextant-logs --release -- --ignored --nocapture measure`.

use std::time::Instant;

use sextant_model::Labels;

use super::*;
use crate::block::LogsBlockSource;
use crate::logql::eval::{Entry, Stream};

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// An nginx combined-log line.
fn nginx_line(rng: &mut Rng, ts_s: i64) -> String {
    const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
    const PATHS: [&str; 6] = [
        "/",
        "/api/v1/users",
        "/api/v1/orders",
        "/static/app.js",
        "/login",
        "/metrics",
    ];
    const STATUS: [u16; 5] = [200, 200, 200, 404, 500];
    const AGENTS: [&str; 3] = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "curl/8.4.0",
        "Go-http-client/1.1",
    ];
    format!(
        "10.{}.{}.{} - - [{}] \"{} {}?id={} HTTP/1.1\" {} {} \"-\" \"{}\"",
        rng.next(4),
        rng.next(256),
        rng.next(256),
        ts_s,
        METHODS[rng.next(4) as usize],
        PATHS[rng.next(6) as usize],
        rng.next(100_000),
        STATUS[rng.next(5) as usize],
        rng.next(50_000),
        AGENTS[rng.next(3) as usize],
    )
}

#[test]
#[ignore = "measurement; run in release by hand"]
fn measure_append_throughput_and_compression() {
    const STREAMS: usize = 20;
    const BATCHES: usize = 500;
    const PER_STREAM: usize = 50;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let labels: Vec<Labels> = (0..STREAMS)
        .map(|i| Labels::from_pairs([("app", "nginx"), ("pod", &format!("nginx-{i}"))]))
        .collect();
    let mut ts = 1_700_000_000_000_000_000i64;
    let batches: Vec<LogBatch> = (0..BATCHES)
        .map(|_| LogBatch {
            streams: labels
                .iter()
                .map(|l| Stream {
                    labels: l.clone(),
                    entries: (0..PER_STREAM)
                        .map(|_| {
                            ts += 1_000_000;
                            Entry {
                                ts_ns: ts,
                                line: nginx_line(&mut rng, ts / 1_000_000_000),
                                metadata: Labels::default(),
                            }
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let raw: usize = batches.iter().map(LogBatch::line_bytes).sum();
    let lines: usize = batches.iter().map(LogBatch::entries).sum();
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = LogsTenantDb::open(LogsDbConfig {
        dir: dir.path().to_path_buf(),
        ..LogsDbConfig::default()
    })
    .unwrap();
    let start = Instant::now();
    for b in &batches {
        db.append(b).unwrap();
    }
    db.sync().unwrap();
    let append = start.elapsed();
    let start = Instant::now();
    let block = db
        .cut_block(i64::MAX, LogsBlockSource::default())
        .unwrap()
        .unwrap();
    let cut = start.elapsed();
    let stored = block.chunks.len() + block.index.len();
    eprintln!(
        "{lines} lines, {raw} raw bytes: append {:.0} lines/s ({:.1} MB/s), wal {} bytes; \
         block {} bytes = {:.3} bytes per raw byte ({} chunks), cut in {:?}",
        lines as f64 / append.as_secs_f64(),
        raw as f64 / append.as_secs_f64() / 1e6,
        db.wal_bytes_written(),
        stored,
        stored as f64 / raw as f64,
        block.meta.stats.chunks,
        cut
    );
    assert_eq!(block.meta.stats.entries, lines as u64);
}
