//! Reading series out of one block without I/O: which chunk byte ranges a selection needs,
//! and decoding the fetched ranges into samples.

use std::ops::Range;

use bytes::Bytes;
use sextant_metrics::block::{
    chunk_byte_range, read_chunk, read_histogram_chunk, BlockError, BlockIndex, ChunkMeta,
};
use sextant_metrics::promql::{FPoint, FloatHistogram, HPoint, Series};
use sextant_model::{Labels, Matcher};

/// One series a selection needs from a block: its float and histogram chunks overlapping
/// the time range.
#[derive(Debug)]
pub(crate) struct PlannedSeries {
    pub(crate) labels: Labels,
    pub(crate) floats: Vec<ChunkMeta>,
    pub(crate) histograms: Vec<ChunkMeta>,
}

/// The series a selection needs from a block and the coalesced byte ranges of the chunks
/// file that hold their chunks.
#[derive(Debug, Default)]
pub(crate) struct ReadPlan {
    pub(crate) series: Vec<PlannedSeries>,
    pub(crate) ranges: Vec<Range<u64>>,
}

/// Whether a chunk (or block) covering `[min, max]` overlaps `[start, end]`.
pub(crate) fn overlaps(min: i64, max: i64, start: i64, end: i64) -> bool {
    min <= end && max >= start
}

/// Selects the series matching `matchers` with at least one chunk in `[start, end]`.
pub(crate) fn plan_reads(
    index: &BlockIndex,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> ReadPlan {
    let in_range = |chunks: Vec<ChunkMeta>| -> Vec<ChunkMeta> {
        chunks
            .into_iter()
            .filter(|c| overlaps(c.min_time, c.max_time, start, end))
            .collect()
    };
    let series: Vec<PlannedSeries> = index
        .select(matchers)
        .into_iter()
        .filter_map(|r| {
            let (labels, floats) = index.series(r)?;
            let histograms = index.histogram_chunks(r).unwrap_or_default();
            Some(PlannedSeries {
                labels,
                floats: in_range(floats),
                histograms: in_range(histograms),
            })
        })
        .filter(|s| !s.floats.is_empty() || !s.histograms.is_empty())
        .collect();
    let ranges = coalesce(
        series
            .iter()
            .flat_map(|s| s.floats.iter().chain(&s.histograms))
            .map(chunk_byte_range),
    );
    ReadPlan { series, ranges }
}

/// Sorts ranges and merges those that overlap or touch.
pub(crate) fn coalesce(ranges: impl Iterator<Item = Range<u64>>) -> Vec<Range<u64>> {
    let mut ranges: Vec<Range<u64>> = ranges.filter(|r| r.start < r.end).collect();
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// Decodes the planned chunks from the fetched ranges (`fetched[i]` holds `plan.ranges[i]`),
/// keeping samples in `[start, end]`.
pub(crate) fn decode(
    plan: ReadPlan,
    fetched: &[Bytes],
    start: i64,
    end: i64,
) -> Result<Vec<Series>, BlockError> {
    if fetched.len() != plan.ranges.len() {
        return Err(BlockError::Corrupt(
            "fetched ranges do not match the plan".into(),
        ));
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let samples: usize = plan.series.iter().map(planned_samples).sum();
    if threads == 1 || samples < MIN_PARALLEL_SAMPLES {
        return decode_run(&plan.series, &plan.ranges, fetched, start, end);
    }
    let run = plan.series.len().div_ceil(threads).max(1);
    let runs: Vec<Result<Vec<Series>, BlockError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = plan
            .series
            .chunks(run)
            .map(|r| scope.spawn(|| decode_run(r, &plan.ranges, fetched, start, end)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::with_capacity(plan.series.len());
    for r in runs {
        out.extend(r?);
    }
    Ok(out)
}

/// Below this many samples a block's chunks are decoded on one thread.
const MIN_PARALLEL_SAMPLES: usize = 200_000;

fn planned_samples(p: &PlannedSeries) -> usize {
    p.floats.iter().map(|m| m.num_samples as usize).sum()
}

/// Decodes a run of planned series, in order.
fn decode_run(
    run: &[PlannedSeries],
    ranges: &[Range<u64>],
    fetched: &[Bytes],
    start: i64,
    end: i64,
) -> Result<Vec<Series>, BlockError> {
    let mut out = Vec::with_capacity(run.len());
    for planned in run {
        let series = decode_series(planned, ranges, fetched, start, end)?;
        if !series.floats.is_empty() || !series.histograms.is_empty() {
            out.push(series);
        }
    }
    Ok(out)
}

/// The samples of one planned series in `[start, end]`.
fn decode_series(
    planned: &PlannedSeries,
    ranges: &[Range<u64>],
    fetched: &[Bytes],
    start: i64,
    end: i64,
) -> Result<Series, BlockError> {
    let in_range = |t: i64| start <= t && t <= end;
    let mut series = Series {
        metric: planned.labels.clone(),
        ..Series::default()
    };
    series.floats.reserve_exact(planned_samples(planned));
    for meta in &planned.floats {
        let chunk = read_chunk(chunk_entry(ranges, fetched, meta)?, meta)?;
        let mut samples = chunk.iter();
        series.floats.extend(
            samples
                .by_ref()
                // samples are in time order: stop decoding past the end
                .take_while(|&(t, _)| t <= end)
                .filter(|&(t, _)| t >= start)
                .map(|(t, f)| FPoint { t, f }),
        );
        if let Some(e) = samples.error() {
            return Err(e.into());
        }
    }
    for meta in &planned.histograms {
        let chunk = read_histogram_chunk(chunk_entry(ranges, fetched, meta)?, meta)?;
        series.histograms.extend(
            chunk
                .histograms()
                .iter()
                .filter(|h| in_range(h.timestamp_ms))
                .map(|h| HPoint {
                    t: h.timestamp_ms,
                    h: Box::new(FloatHistogram::from_wire(h)),
                }),
        );
    }
    Ok(series)
}

/// The bytes of one chunk's entry inside the fetched range that contains it.
fn chunk_entry<'a>(
    ranges: &[Range<u64>],
    fetched: &'a [Bytes],
    meta: &ChunkMeta,
) -> Result<&'a [u8], BlockError> {
    let want = chunk_byte_range(meta);
    let i = ranges
        .partition_point(|r| r.start <= want.start)
        .wrapping_sub(1);
    let missing = || BlockError::Corrupt(format!("chunk {want:?} was not fetched"));
    let (range, bytes) = ranges.get(i).zip(fetched.get(i)).ok_or_else(missing)?;
    if want.end > range.end {
        return Err(missing());
    }
    let from = usize::try_from(want.start - range.start).map_err(|_| missing())?;
    let to = usize::try_from(want.end - range.start).map_err(|_| missing())?;
    bytes.get(from..to).ok_or_else(missing)
}

#[cfg(test)]
mod tests {
    use sextant_metrics::block::{BlockSource, BlockWriter};
    use sextant_metrics::chunk::{HistogramChunk, XorAppender, XorChunk};
    use sextant_metrics::write::{BucketSpan, Histogram, HistogramCount};
    use sextant_model::MatchOp;

    use super::*;

    fn chunk(points: &[(i64, f64)]) -> XorChunk {
        let mut a = XorAppender::new();
        for &(t, v) in points {
            assert!(a.append(t, v));
        }
        a.finish()
    }

    fn block() -> (BlockIndex, Vec<u8>) {
        let mut w = BlockWriter::new();
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        w.add_series(
            &a,
            &[
                chunk(&[(0, 0.0), (10, 1.0)]),
                chunk(&[(20, 2.0), (30, 3.0)]),
            ],
        )
        .unwrap();
        w.add_series(&b, &[chunk(&[(0, 5.0), (30, 6.0)])]).unwrap();
        let encoded = w.finish(BlockSource::default());
        (BlockIndex::parse(&encoded.index).unwrap(), encoded.chunks)
    }

    fn fetch(file: &[u8], ranges: &[Range<u64>]) -> Vec<Bytes> {
        ranges
            .iter()
            .map(|r| Bytes::copy_from_slice(&file[r.start as usize..r.end as usize]))
            .collect()
    }

    #[test]
    fn coalesces_touching_and_overlapping_ranges() {
        type Pairs = &'static [(u64, u64)];
        let cases: [(Pairs, Pairs); 5] = [
            (&[], &[]),
            (&[(5, 10), (0, 5)], &[(0, 10)]),
            (&[(0, 4), (6, 8)], &[(0, 4), (6, 8)]),
            (&[(0, 10), (2, 3), (9, 12)], &[(0, 12)]),
            (&[(3, 3)], &[]),
        ];
        for (input, want) in cases {
            let got: Vec<(u64, u64)> = coalesce(input.iter().map(|&(a, b)| a..b))
                .into_iter()
                .map(|r| (r.start, r.end))
                .collect();
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn plans_only_overlapping_chunks_and_decodes_in_range() {
        let (index, file) = block();
        let m = Matcher::new(MatchOp::Equal, "__name__", "a").unwrap();
        let plan = plan_reads(&index, &[m], 15, 25);
        assert_eq!(plan.series.len(), 1);
        assert_eq!(
            plan.series[0].floats.len(),
            1,
            "only the second chunk overlaps"
        );
        let fetched = fetch(&file, &plan.ranges);
        let series = decode(plan, &fetched, 15, 25).unwrap();
        let got: Vec<(i64, f64)> = series[0].floats.iter().map(|p| (p.t, p.f)).collect();
        assert_eq!(got, vec![(20, 2.0)]);
    }

    #[test]
    fn decodes_all_series_from_coalesced_ranges() {
        let (index, file) = block();
        let plan = plan_reads(&index, &[], 0, 30);
        assert_eq!(
            plan.ranges.len(),
            1,
            "adjacent chunks coalesce: {:?}",
            plan.ranges
        );
        let fetched = fetch(&file, &plan.ranges);
        let series = decode(plan, &fetched, 0, 30).unwrap();
        let counts: Vec<usize> = series.iter().map(|s| s.floats.len()).collect();
        assert_eq!(counts, vec![4, 2]);
    }

    fn histogram(timestamp_ms: i64, count: u64) -> Histogram {
        Histogram {
            timestamp_ms,
            count: HistogramCount::Int(count),
            sum: 1.5,
            schema: 0,
            zero_threshold: 0.001,
            zero_count: HistogramCount::Int(0),
            negative_spans: vec![],
            negative_deltas: vec![],
            negative_counts: vec![],
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 2,
            }],
            positive_deltas: vec![1, i64::try_from(count).unwrap() - 2],
            positive_counts: vec![],
            reset_hint: 0,
            custom_values: vec![],
        }
    }

    #[test]
    fn decodes_histogram_chunks_in_range() {
        let mut w = BlockWriter::new();
        let labels = Labels::from_pairs([("__name__", "h")]);
        let floats = [chunk(&[(0, 1.0)])];
        let hists = [HistogramChunk::encode(&[histogram(5, 3), histogram(25, 4)]).unwrap()];
        w.add_series_with_histograms(&labels, &floats, &hists)
            .unwrap();
        let encoded = w.finish(BlockSource::default());
        let index = BlockIndex::parse(&encoded.index).unwrap();
        let plan = plan_reads(&index, &[], 20, 30);
        assert!(
            plan.series[0].floats.is_empty(),
            "the float chunk ends at 0"
        );
        let fetched = fetch(&encoded.chunks, &plan.ranges);
        let series = decode(plan, &fetched, 20, 30).unwrap();
        assert!(series[0].floats.is_empty());
        let got: Vec<(i64, f64, Vec<f64>)> = series[0]
            .histograms
            .iter()
            .map(|p| (p.t, p.h.count, p.h.positive_buckets.clone()))
            .collect();
        assert_eq!(got, vec![(25, 4.0, vec![1.0, 3.0])]);
    }

    #[test]
    fn corrupt_or_missing_bytes_are_errors() {
        let (index, file) = block();
        let plan = plan_reads(&index, &[], 0, 30);
        let mut fetched = fetch(&file, &plan.ranges);
        let mut bad = fetched[0].to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        fetched[0] = Bytes::from(bad);
        assert!(decode(plan, &fetched, 0, 30).is_err());
        let plan = plan_reads(&index, &[], 0, 30);
        assert!(decode(plan, &[], 0, 30).is_err());
    }
}
