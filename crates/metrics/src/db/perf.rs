//! Release-mode measurements, run by hand:
//! `cargo test -p sextant-metrics --release -- --ignored --nocapture`.

use std::ops::Range;
use std::time::Instant;

use super::*;
use crate::write::{LabelRef, Sample, SeriesEntry};

/// Nine labels per series, one of them unique (`pod`), the rest shared like in real targets.
/// The strings sit back to back in one buffer, as they do in a decompressed request body.
struct Body {
    text: String,
    /// Per series: nine (name, value) byte ranges into `text`.
    series: Vec<[(Range<usize>, Range<usize>); 9]>,
}

fn body(series: usize) -> Body {
    let mut text = String::new();
    let mut push = |s: &str| {
        let start = text.len();
        text.push_str(s);
        start..text.len()
    };
    let series = (0..series)
        .map(|i| {
            [
                ("__name__", format!("metric_{}", i % 50)),
                ("cluster", "eu-west-1".to_owned()),
                ("container", format!("c{}", i % 5)),
                ("env", "prod".to_owned()),
                (
                    "instance",
                    format!("10.0.{}.{}:9100", i / 250 % 256, i % 250),
                ),
                ("job", format!("job_{}", i % 20)),
                ("namespace", format!("ns{}", i % 30)),
                ("pod", format!("pod-{i:08x}")),
                ("region", "eu".to_owned()),
            ]
            .map(|(n, v)| (push(n), push(&v)))
        })
        .collect();
    Body { text, series }
}

/// A batch of one sample for each series of `series`.
fn batch_for<'a>(text: &'a str, series: &[[(Range<usize>, Range<usize>); 9]]) -> WriteBatch<'a> {
    let mut b = WriteBatch::default();
    for (i, set) in series.iter().enumerate() {
        let l0 = b.labels.len() as u32;
        b.labels.extend(set.iter().map(|(name, value)| LabelRef {
            name: &text[name.clone()],
            value: &text[value.clone()],
        }));
        b.samples.push(Sample {
            timestamp_ms: 0,
            value: 0.0,
        });
        b.series.push(SeriesEntry {
            labels: l0..b.labels.len() as u32,
            samples: i as u32..i as u32 + 1,
            ..SeriesEntry::default()
        });
    }
    b
}

fn set_round(b: &mut WriteBatch<'_>, round: i64) {
    for (i, s) in b.samples.iter_mut().enumerate() {
        s.timestamp_ms = 1_700_000_000_000 + round * 15_000;
        s.value = (round * (i as i64 % 7 + 1)) as f64;
    }
}

fn open_in(dir: &Path) -> TenantDb {
    let config = TenantDbConfig {
        dir: dir.to_path_buf(),
        ..TenantDbConfig::default()
    };
    TenantDb::open(config).unwrap().0
}

#[test]
#[ignore = "performance measurement; run in release"]
fn append_ns_per_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_in(dir.path());
    let body = body(2000);
    let mut batch = batch_for(&body.text, &body.series);
    let opts = AppendOptions::default();
    set_round(&mut batch, 0);
    db.append(&batch, &opts).unwrap();
    // several timed runs: on a shared machine the fastest is the closest to one idle core
    let (runs, rounds) = (7, 60);
    let mut results = Vec::new();
    for run in 0..runs {
        let start = Instant::now();
        for round in 1..=rounds {
            set_round(&mut batch, run * rounds + round);
            let out = db.append(&batch, &opts).unwrap();
            assert_eq!(out.samples_written, 2000);
        }
        results.push(start.elapsed().as_nanos() as f64 / (rounds as f64 * 2000.0));
    }
    results.sort_by(f64::total_cmp);
    eprintln!(
        "append (2000 series x 1 sample, 9 labels, with wal): best {:.0} ns/sample, median {:.0}",
        results[0],
        results[results.len() / 2]
    );
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
#[ignore = "memory measurement; run in release"]
fn bytes_per_series() {
    const SERIES: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let body = body(SERIES);
    let before = rss_bytes();
    let db = open_in(dir.path());
    {
        for part in body.series.chunks(10_000) {
            let mut batch = batch_for(&body.text, part);
            for round in 0..120 {
                set_round(&mut batch, round);
                db.append(&batch, &AppendOptions::default()).unwrap();
            }
        }
    }
    let after = rss_bytes();
    assert_eq!(db.series_count(), SERIES);
    let per_series = after.saturating_sub(before) as f64 / SERIES as f64;
    eprintln!(
        "head with {SERIES} series x 120 samples, 9 labels: {per_series:.0} bytes/series (rss)"
    );
}
