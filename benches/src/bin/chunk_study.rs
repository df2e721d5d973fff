//! `chunk_study`: measures float chunk encodings on a real block. Decodes every float chunk of
//! a block directory (`index`, `chunks`), re-encodes each series' samples with every candidate
//! and reports bytes per sample (chunk payload alone, and with the chunks file's per-entry
//! framing: length varint and CRC32), encode and decode ns per sample, and a breakdown by
//! metric name. Every candidate is checked to round-trip bit for bit.
//!
//! `cargo run --release -p sextant-benches --bin chunk_study -- <block dir> [--every N]
//! [--families N]`: `--every N` keeps one series in N, `--families N` prints the N metric
//! names with the most samples.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use sextant_metrics::block::{
    read_chunk, BlockIndex, BlockSource, BlockWriter, SeriesRef, BLOCK_CHUNK_MAX_SAMPLES,
};
use sextant_metrics::chunk::{FloatChunk, XorAppender, XorChunk};
use sextant_model::Labels;

/// Bytes the chunks file adds to each chunk: a length varint (two bytes for these sizes) and
/// a CRC32.
const ENTRY_FRAMING: u64 = 2 + 4;

/// One way to store a series' samples.
struct Candidate {
    name: &'static str,
    /// Column title in the breakdown by metric name.
    short: &'static str,
    /// Samples per chunk; 0 keeps the block's own chunks.
    chunk_len: usize,
    encode: fn(&[(i64, f64)]) -> Option<FloatChunk>,
}

fn xor_only(samples: &[(i64, f64)]) -> Option<FloatChunk> {
    let mut app = XorAppender::new();
    for &(t, v) in samples {
        if !app.append(t, v) {
            return None;
        }
    }
    Some(FloatChunk::Xor(app.finish()))
}

const CANDIDATES: &[Candidate] = &[
    Candidate {
        name: "xor (block's chunks)",
        short: "xor",
        chunk_len: 0,
        encode: xor_only,
    },
    Candidate {
        name: "xor, 480/chunk",
        short: "xor480",
        chunk_len: 480,
        encode: xor_only,
    },
    Candidate {
        name: "best, 120/chunk",
        short: "best120",
        chunk_len: 120,
        encode: FloatChunk::encode,
    },
    Candidate {
        name: "best, 240/chunk",
        short: "best240",
        chunk_len: 240,
        encode: FloatChunk::encode,
    },
    Candidate {
        name: "best, 480/chunk",
        short: "best480",
        chunk_len: 480,
        encode: FloatChunk::encode,
    },
];

#[derive(Debug, Default, Clone)]
struct Tally {
    samples: u64,
    chunks: u64,
    decimal_chunks: u64,
    payload: u64,
    encode_ns: u128,
    decode_ns: u128,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.samples += other.samples;
        self.chunks += other.chunks;
        self.decimal_chunks += other.decimal_chunks;
        self.payload += other.payload;
        self.encode_ns += other.encode_ns;
        self.decode_ns += other.decode_ns;
    }

    fn per_sample(&self, v: f64) -> f64 {
        v / self.samples.max(1) as f64
    }
}

struct Args {
    dir: PathBuf,
    every: usize,
    families: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        dir: PathBuf::new(),
        every: 1,
        families: 25,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--every" => args.every = it.next().context("--every N")?.parse()?,
            "--families" => args.families = it.next().context("--families N")?.parse()?,
            _ if a.starts_with("--") => bail!("unknown flag {a}"),
            _ => args.dir = PathBuf::from(a),
        }
    }
    if args.dir.as_os_str().is_empty() {
        bail!("usage: chunk_study <block dir> [--every N] [--families N]");
    }
    args.every = args.every.max(1);
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let index = std::fs::read(args.dir.join("index")).context("reading index")?;
    let chunks = std::fs::read(args.dir.join("chunks")).context("reading chunks")?;
    let index = BlockIndex::parse(&index)?;
    let mut totals = vec![Tally::default(); CANDIDATES.len()];
    let mut families: BTreeMap<String, Vec<Tally>> = BTreeMap::new();
    let mut irregular_series = 0u64;
    let mut writer_input: Vec<(Labels, Vec<XorChunk>)> = Vec::new();
    for i in (0..index.num_series()).step_by(args.every) {
        let Some((labels, metas)) = index.series(SeriesRef(i as u32)) else {
            continue;
        };
        let block_chunks = metas
            .iter()
            .map(|m| read_chunk(&chunks, m))
            .collect::<Result<Vec<_>, _>>()?;
        let samples: Vec<(i64, f64)> = block_chunks.iter().flat_map(|c| c.iter()).collect();
        if samples
            .windows(3)
            .any(|w| w[2].0 - w[1].0 != w[1].0 - w[0].0)
        {
            irregular_series += 1;
        }
        writer_input.push((labels.clone(), block_chunks.iter().map(as_xor).collect()));
        let family = labels.metric_name().unwrap_or("").to_string();
        let entry = families
            .entry(family)
            .or_insert_with(|| vec![Tally::default(); CANDIDATES.len()]);
        for (c, candidate) in CANDIDATES.iter().enumerate() {
            let tally = measure(candidate, &samples, &block_chunks)?;
            totals[c].add(&tally);
            entry[c].add(&tally);
        }
    }
    let mut report = totals_table(&totals)?;
    writeln!(
        report,
        "series with irregular timestamps: {irregular_series}\n"
    )?;
    report.push_str(&writer_table(&writer_input)?);
    report.push_str(&families_table(&families, args.families)?);
    std::io::stdout().write_all(report.as_bytes())?;
    Ok(())
}

/// Encodes one series' samples with a candidate, decodes them back and checks every bit.
fn measure(
    candidate: &Candidate,
    samples: &[(i64, f64)],
    block_chunks: &[FloatChunk],
) -> anyhow::Result<Tally> {
    let start = Instant::now();
    let encoded: Vec<FloatChunk> = if candidate.chunk_len == 0 {
        block_chunks.to_vec()
    } else {
        samples
            .chunks(candidate.chunk_len)
            .map(|part| (candidate.encode)(part).context("chunk too long"))
            .collect::<anyhow::Result<_>>()?
    };
    let encode_ns = start.elapsed().as_nanos();
    let start = Instant::now();
    let mut decoded = Vec::with_capacity(samples.len());
    for c in &encoded {
        decoded.extend(c.iter());
    }
    let decode_ns = start.elapsed().as_nanos();
    let bits = |s: &[(i64, f64)]| s.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
    if bits(&decoded) != bits(samples) {
        bail!("{} does not round-trip", candidate.name);
    }
    Ok(Tally {
        samples: samples.len() as u64,
        chunks: encoded.len() as u64,
        decimal_chunks: encoded
            .iter()
            .filter(|c| matches!(c, FloatChunk::Decimal(_)))
            .count() as u64,
        payload: encoded.iter().map(|c| c.bytes().len() as u64).sum(),
        encode_ns: if candidate.chunk_len == 0 {
            0
        } else {
            encode_ns
        },
        decode_ns,
    })
}

/// A block's float chunk as the XOR chunk the head would hand the writer.
fn as_xor(chunk: &FloatChunk) -> XorChunk {
    match chunk {
        FloatChunk::Xor(c) => c.clone(),
        FloatChunk::Decimal(c) => {
            let mut app = XorAppender::new();
            c.iter().for_each(|(t, v)| {
                app.append(t, v);
            });
            app.finish()
        }
    }
}

/// Whole blocks written from the series' XOR chunks: chunks file and index sizes, and the
/// writer's time per sample (decoding the XOR chunks, choosing and encoding).
fn writer_table(series: &[(Labels, Vec<XorChunk>)]) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "{:<34} {:>14} {:>15} {:>14}",
        "block writer", "chunks B/sample", "index B/series", "write ns/sample"
    )?;
    let writers = [
        ("new() (keeps the chunks)", BlockWriter::new()),
        (
            "with_chunk_max_samples(480)",
            BlockWriter::with_chunk_max_samples(BLOCK_CHUNK_MAX_SAMPLES),
        ),
    ];
    for (name, mut writer) in writers {
        let start = Instant::now();
        for (labels, chunks) in series {
            writer.add_series(labels, chunks)?;
        }
        let block = writer.finish(BlockSource::default());
        let ns = start.elapsed().as_nanos() as f64;
        let samples = block.meta.stats.samples.max(1) as f64;
        writeln!(
            out,
            "{name:<34} {:>14.3} {:>15.1} {:>14.1}",
            block.chunks.len() as f64 / samples,
            block.index.len() as f64 / series.len().max(1) as f64,
            ns / samples,
        )?;
    }
    writeln!(out)?;
    Ok(out)
}

fn totals_table(totals: &[Tally]) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    writeln!(
        out,
        "{:<22} {:>10} {:>8} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "candidate", "samples", "chunks", "decimal", "B/sample", "+framing", "enc ns", "dec ns"
    )?;
    for (c, t) in CANDIDATES.iter().zip(totals) {
        writeln!(
            out,
            "{:<22} {:>10} {:>8} {:>8.1}% {:>9.3} {:>9.3} {:>7.1} {:>7.2}",
            c.name,
            t.samples,
            t.chunks,
            100.0 * t.decimal_chunks as f64 / t.chunks.max(1) as f64,
            t.per_sample(t.payload as f64),
            t.per_sample((t.payload + t.chunks * ENTRY_FRAMING) as f64),
            t.per_sample(t.encode_ns as f64),
            t.per_sample(t.decode_ns as f64),
        )?;
    }
    Ok(out)
}

/// Payload bytes per sample of each candidate for the metric names with the most samples.
fn families_table(
    families: &BTreeMap<String, Vec<Tally>>,
    limit: usize,
) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    let mut rows: Vec<(&String, &Vec<Tally>)> = families.iter().collect();
    rows.sort_by_key(|(_, t)| std::cmp::Reverse(t[0].samples));
    write!(
        out,
        "{:<44} {:>6}",
        "metric name (payload B/sample)", "share"
    )?;
    for c in CANDIDATES {
        write!(out, " {:>9}", c.short)?;
    }
    writeln!(out)?;
    let all: u64 = families.values().map(|t| t[0].samples).sum();
    for (name, tallies) in rows.into_iter().take(limit) {
        let share = 100.0 * tallies[0].samples as f64 / all.max(1) as f64;
        write!(out, "{name:<44} {share:>5.1}%")?;
        for t in tallies {
            write!(out, " {:>9.3}", t.per_sample(t.payload as f64))?;
        }
        writeln!(out)?;
    }
    Ok(out)
}
