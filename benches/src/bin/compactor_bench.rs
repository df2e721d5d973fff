//! `sextant-compactor-bench`: the compactor's vertical compaction of one tenant's RF=3 block
//! copies, measured on the engine it runs (`sextant_metrics::block::merge_blocks`).
//!
//! One block of `--series` series (default 1,000,000: 100 metric names × 10,000 instances,
//! half counters, half gauges) with `--samples` samples each (default 120: two hours at 60 s)
//! is written with `BlockWriter` as an ingester cuts it; `--replicas` copies of it (default 3,
//! the same samples under different block ids, as three ingesters upload them) are merged
//! into one. Reported: input samples/s and MB/s, output bytes against one replica, wall time,
//! and peak RSS (`VmHWM`) after writing the input and at the end. See `benches/README.md`,
//! section Compactor.

use std::io::Write as _;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use sextant_benches::procfs::status_bytes;
use sextant_metrics::block::{
    merge_blocks, BlockCompaction, BlockSource, BlockWriter, EncodedBlock, MetricsBlockSourceFiles,
    MetricsMergeOptions, BLOCK_CHUNK_MAX_SAMPLES,
};
use sextant_metrics::chunk::{XorAppender, XorChunk};
use sextant_model::Labels;

const USAGE: &str =
    "usage: sextant-compactor-bench [--series N] [--samples N] [--step-ms MS] [--replicas N]";
/// Series per metric name.
const INSTANCES: usize = 10_000;
const TENANT: &str = "bench";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    series: usize,
    samples: usize,
    step_ms: i64,
    replicas: usize,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            series: 1_000_000,
            samples: 120,
            step_ms: 60_000,
            replicas: 3,
        }
    }
}

fn parse_args(args: impl Iterator<Item = String>) -> anyhow::Result<Spec> {
    let mut spec = Spec::default();
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<usize>()
                .with_context(|| format!("{flag} {value}"))
        };
        match flag.as_str() {
            "--series" => spec.series = number()?,
            "--samples" => spec.samples = number()?,
            "--step-ms" => spec.step_ms = number()? as i64,
            "--replicas" => spec.replicas = number()?,
            _ => bail!("unknown argument {flag}\n{USAGE}"),
        }
    }
    ensure!(
        spec.series > 0 && spec.replicas > 0 && (1..=u16::MAX as usize).contains(&spec.samples),
        "--series and --replicas must be positive, --samples 1..=65535\n{USAGE}"
    );
    Ok(spec)
}

/// Series `s`, in block order: `compactor_bench_mNN{instance="iNNNNN", job="bench"}`.
fn labels(s: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("compactor_bench_m{:03}", s / INSTANCES)),
        ("instance", format!("i{:05}", s % INSTANCES)),
        ("job", "bench".to_string()),
    ])
}

/// The samples of series `s`: counters (even metric names) go up by a pseudo-random whole
/// number per step, gauges walk in steps of 0.25.
fn chunk(s: usize, spec: &Spec) -> XorChunk {
    let counter = (s / INSTANCES).is_multiple_of(2);
    let mut state = (s as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut value = (s % 97) as f64;
    let mut appender = XorAppender::new();
    for i in 0..spec.samples {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let step = (state % 20) as f64;
        value = match counter {
            true => value + step,
            false => value + (step - 9.5) * 0.25,
        };
        appender.append(i as i64 * spec.step_ms, value);
    }
    appender.finish()
}

/// The block one ingester would upload.
fn replica_block(spec: &Spec) -> anyhow::Result<EncodedBlock> {
    let mut writer = BlockWriter::with_chunk_max_samples(BLOCK_CHUNK_MAX_SAMPLES);
    for s in 0..spec.series {
        writer.add_series(&labels(s), &[chunk(s, spec)])?;
    }
    Ok(writer.finish(replica_source(0)))
}

fn replica_source(replica: usize) -> BlockSource {
    let block_id = format!("replica-{replica}");
    BlockSource {
        tenant: TENANT.into(),
        source_ingester: format!("ingester-{replica}"),
        compaction: BlockCompaction {
            level: 1,
            sources: vec![block_id.clone()],
        },
        block_id,
    }
}

/// The `meta.json` of every replica: the same block under its own id and source.
fn replica_metas(block: &EncodedBlock, replicas: usize) -> Vec<Vec<u8>> {
    (0..replicas)
        .map(|r| {
            let source = replica_source(r);
            let mut meta = block.meta.clone();
            meta.block_id = source.block_id;
            meta.source_ingester = source.source_ingester;
            meta.compaction = source.compaction;
            meta.to_json()
        })
        .collect()
}

#[derive(Debug)]
struct Report {
    spec: Spec,
    write_seconds: f64,
    merge_seconds: f64,
    replica_bytes: u64,
    output_bytes: u64,
    output_samples: u64,
    output_series: u64,
    rss_after_input: Option<u64>,
    peak_rss: Option<u64>,
}

fn run(spec: Spec) -> anyhow::Result<Report> {
    let started = Instant::now();
    let block = replica_block(&spec)?;
    let write_seconds = started.elapsed().as_secs_f64();
    let metas = replica_metas(&block, spec.replicas);
    let rss_after_input = status_bytes(std::process::id(), "VmHWM")?;
    let sources: Vec<MetricsBlockSourceFiles<'_>> = metas
        .iter()
        .map(|meta| MetricsBlockSourceFiles {
            meta,
            index: &block.index,
            chunks: &block.chunks,
        })
        .collect();
    let options = MetricsMergeOptions {
        block_id: "compacted".into(),
        source_ingester: "compactor".into(),
        chunk_max_samples: BLOCK_CHUNK_MAX_SAMPLES,
    };
    let started = Instant::now();
    let merged = merge_blocks(&sources, &options)?;
    let merge_seconds = started.elapsed().as_secs_f64();
    let bytes = |b: &EncodedBlock| (b.index.len() + b.chunks.len() + b.meta.to_json().len()) as u64;
    Ok(Report {
        spec,
        write_seconds,
        merge_seconds,
        replica_bytes: bytes(&block),
        output_bytes: bytes(&merged),
        output_samples: merged.meta.stats.samples,
        output_series: merged.meta.stats.series,
        rss_after_input,
        peak_rss: status_bytes(std::process::id(), "VmHWM")?,
    })
}

impl Report {
    fn input_samples(&self) -> u64 {
        (self.spec.series * self.spec.samples * self.spec.replicas) as u64
    }

    /// The merge kept every distinct sample once.
    fn check(&self) -> anyhow::Result<()> {
        let distinct = (self.spec.series * self.spec.samples) as u64;
        ensure!(
            self.output_samples == distinct && self.output_series == self.spec.series as u64,
            "merged block holds {} series and {} samples, want {} and {distinct}",
            self.output_series,
            self.output_samples,
            self.spec.series
        );
        Ok(())
    }

    fn markdown(&self) -> String {
        let mb = |b: u64| b as f64 / 1e6;
        let rss = |b: Option<u64>| b.map_or("n/a".to_string(), |b| format!("{:.0} MB", mb(b)));
        let input_bytes = self.replica_bytes * self.spec.replicas as u64;
        let rows = [
            (
                "input",
                format!(
                    "{} replicas × {} series × {} samples = {} samples, {:.1} MB",
                    self.spec.replicas,
                    self.spec.series,
                    self.spec.samples,
                    self.input_samples(),
                    mb(input_bytes)
                ),
            ),
            (
                "writing one replica (BlockWriter)",
                format!("{:.2} s", self.write_seconds),
            ),
            ("merge wall time", format!("{:.2} s", self.merge_seconds)),
            (
                "merge throughput",
                format!(
                    "{:.2} M input samples/s, {:.1} MB/s of input",
                    self.input_samples() as f64 / self.merge_seconds / 1e6,
                    mb(input_bytes) / self.merge_seconds
                ),
            ),
            (
                "output",
                format!(
                    "{:.1} MB = {:.3} × one replica ({:.1} MB); {:.2} bytes/sample",
                    mb(self.output_bytes),
                    self.output_bytes as f64 / self.replica_bytes as f64,
                    mb(self.replica_bytes),
                    self.output_bytes as f64 / self.output_samples.max(1) as f64
                ),
            ),
            (
                "peak RSS (VmHWM)",
                format!(
                    "{} after writing the input, {} at the end",
                    rss(self.rss_after_input),
                    rss(self.peak_rss)
                ),
            ),
        ];
        let mut out = String::from("| measure | value |\n|---|---|\n");
        for (name, value) in rows {
            out.push_str(&format!("| {name} | {value} |\n"));
        }
        out
    }
}

fn main() -> anyhow::Result<()> {
    let spec = parse_args(std::env::args().skip(1))?;
    let report = run(spec)?;
    report.check()?;
    std::io::stdout().write_all(report.markdown().as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn arguments_override_the_defaults_and_bad_ones_are_refused() {
        assert_eq!(parse_args(args(&[])).unwrap(), Spec::default());
        let spec = parse_args(args(&[
            "--series",
            "10",
            "--samples",
            "5",
            "--replicas",
            "2",
        ]));
        let want = Spec {
            series: 10,
            samples: 5,
            replicas: 2,
            ..Spec::default()
        };
        assert_eq!(spec.unwrap(), want);
        for bad in [
            &["--series"][..],
            &["--series", "x"],
            &["--series", "0"],
            &["--samples", "70000"],
            &["--what", "1"],
        ] {
            assert!(parse_args(args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn series_are_generated_in_label_order() {
        let all: Vec<Labels> = (0..3 * INSTANCES).step_by(997).map(labels).collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn replicas_merge_into_one_copy_of_every_sample() {
        let spec = Spec {
            series: 2 * INSTANCES + 7,
            samples: 30,
            ..Spec::default()
        };
        let report = run(spec).unwrap();
        report.check().unwrap();
        assert!(
            report.output_bytes <= report.replica_bytes + 200,
            "{report:?}"
        );
        assert!(report.markdown().contains("merge throughput"));
    }
}
