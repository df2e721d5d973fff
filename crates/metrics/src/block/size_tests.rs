//! Block size on a realistic series set: 10k series, 2h of 15 s samples (480 per series), a
//! mix of constant gauges, integer counters, float counters and random-walk gauges, with
//! Prometheus-like label sets, written as the head hands them over (120-sample XOR chunks).
//! Prints bytes per sample of the chunks file and bytes per series of the index: `cargo test -p sextant-metrics --lib block::size_tests -- --ignored --nocapture`.

use sextant_model::Labels;

use super::*;
use crate::chunk::{XorAppender, XorChunk, DEFAULT_CHUNK_MAX_SAMPLES};

const SERIES: usize = 10_000;
const SAMPLES: i64 = 480;
const STEP_MS: i64 = 15_000;
const T0: i64 = 1_700_000_000_000;

/// A small deterministic generator (xorshift64*), so the numbers are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn labels(i: usize) -> Labels {
    let metric = [
        "http_requests_total",
        "process_cpu_seconds_total",
        "go_goroutines",
        "node_memory_Active_bytes",
        "up",
        "http_request_duration_seconds_bucket",
        "kube_pod_info",
        "container_cpu_usage_seconds_total",
    ][i % 8];
    let pod = format!("api-{:x}-{}", (i / 40) * 7919 % 65536, i / 40 % 5);
    Labels::from_pairs([
        ("__name__", metric.to_string()),
        ("cluster", format!("prod-{}", i % 3)),
        (
            "instance",
            format!("10.0.{}.{}:9100", i / 200 % 256, i / 8 % 256),
        ),
        (
            "job",
            ["api", "node", "kube-state-metrics"][i / 8 % 3].to_string(),
        ),
        ("namespace", format!("team-{}", i / 400)),
        ("pod", pod),
        ("series", (i % 8).to_string()),
    ])
}

/// One series' values: the kind cycles with the series number.
fn values(i: usize, rng: &mut Rng) -> Vec<f64> {
    let mut v = (rng.below(1000)) as f64;
    (0..SAMPLES)
        .map(|_| {
            match i % 10 {
                // constant gauges (up, info metrics, limits)
                0..=2 => {}
                // integer counters (requests, bytes)
                3..=6 => v += rng.below(50) as f64,
                // float counters (cpu seconds)
                7 => v += rng.below(1500) as f64 / 1000.0,
                // gauges moving in steps (goroutines, memory pages)
                _ => v = (v + rng.below(21) as f64 - 10.0).max(0.0),
            }
            v
        })
        .collect()
}

#[test]
#[ignore = "measurement: prints sizes (about 10 s in a debug build)"]
fn bytes_per_sample_and_per_series() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut series: Vec<(Labels, Vec<XorChunk>)> = (0..SERIES)
        .map(|i| {
            let vals = values(i, &mut rng);
            let chunks = vals
                .chunks(DEFAULT_CHUNK_MAX_SAMPLES)
                .enumerate()
                .map(|(c, part)| {
                    let mut app = XorAppender::new();
                    for (j, v) in part.iter().enumerate() {
                        let k = (c * DEFAULT_CHUNK_MAX_SAMPLES + j) as i64;
                        app.append(T0 + k * STEP_MS, *v);
                    }
                    app.finish()
                })
                .collect();
            (labels(i), chunks)
        })
        .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let write = |mut w: BlockWriter| {
        for (labels, chunks) in &series {
            w.add_series(labels, chunks).unwrap();
        }
        w.finish(BlockSource::default())
    };
    let kept = write(BlockWriter::new());
    let block = write(BlockWriter::with_chunk_max_samples(BLOCK_CHUNK_MAX_SAMPLES));
    let samples = block.meta.stats.samples as f64;
    let payload: usize = series
        .iter()
        .flat_map(|(_, c)| c)
        .map(|c| c.bytes().len())
        .sum();
    let chunks_per_sample = block.chunks.len() as f64 / samples;
    let index_per_series = block.index.len() as f64 / SERIES as f64;
    eprintln!(
        "{SERIES} series x {SAMPLES} samples: chunks file {:.3} B/sample with merged chunks \
         ({:.3} with the head's 120-sample chunks, XOR payload alone {:.3}), index \
         {index_per_series:.1} B/series ({:.1} unmerged)",
        chunks_per_sample,
        kept.chunks.len() as f64 / samples,
        payload as f64 / samples,
        kept.index.len() as f64 / SERIES as f64,
    );
    assert_eq!(block.meta.stats.samples, SERIES as u64 * SAMPLES as u64);
    assert_eq!(block.meta.stats.chunks, SERIES as u64);
    assert!(chunks_per_sample < 1.2 && index_per_series < 400.0);
}
