//! Series in the form a [`DownsampleHint`] asks for. Downsampled blocks hold one series per
//! aggregate, named by [`AGGREGATE_LABEL`]: a read keeps the hinted aggregate and `raw`
//! (native histograms copied unchanged) and strips the label. Raw samples, from raw blocks or
//! ingesters, are converted with [`raw_as_aggregate`]; where downsampled blocks answer, raw
//! samples from elsewhere are dropped (they are the same data).

use sextant_metrics::downsample::{
    raw_as_aggregate, DownsampleHint, MetricsAggregate, AGGREGATE_LABEL, AGGREGATE_RAW,
    COUNTER_SERIES,
};
use sextant_metrics::promql::Series;
use sextant_model::{Label, Labels, MatchOp, Matcher};

use super::resolution::Spans;

/// Selects the series of `aggregate` and the `raw` ones in a downsampled block.
pub(crate) fn aggregate_matcher(aggregate: MetricsAggregate) -> Matcher {
    let value = match aggregate {
        // the counter is stored as several series (see COUNTER_SERIES); the merge by labels
        // joins them once the label is stripped
        MetricsAggregate::Counter => format!("{}|{AGGREGATE_RAW}", COUNTER_SERIES.join("|")),
        _ => format!("{}|{AGGREGATE_RAW}", aggregate.as_str()),
    };
    // a literal alternation of lowercase words always compiles
    Matcher::new(MatchOp::RegexMatch, AGGREGATE_LABEL, value)
        .unwrap_or_else(|e| unreachable!("aggregate matcher: {e}"))
}

/// A block's decoded series as the read wants them: samples outside the block's `spans`
/// dropped, and with a hint, in the hinted aggregate's form without [`AGGREGATE_LABEL`].
/// Series left without samples are dropped.
pub(crate) fn block_series(
    series: Vec<Series>,
    spans: &Spans,
    hint: Option<DownsampleHint>,
) -> Vec<Series> {
    series
        .into_iter()
        .map(|s| keep_spans(s, spans))
        .map(|s| match hint {
            Some(hint) => as_aggregate(s, hint.aggregate),
            None => s,
        })
        .filter(has_samples)
        .collect()
}

/// Raw series (an ingester's answer) in the hinted aggregate's form, without the samples
/// that downsampled blocks answer.
pub(crate) fn raw_series(
    series: Vec<Series>,
    downsampled: &Spans,
    hint: DownsampleHint,
) -> Vec<Series> {
    series
        .into_iter()
        .map(|mut s| {
            if !downsampled.is_empty() {
                s.floats.retain(|p| !downsampled.contains(p.t));
                s.histograms.retain(|p| !downsampled.contains(p.t));
            }
            raw_as_aggregate(s, hint.aggregate)
        })
        .filter(has_samples)
        .collect()
}

/// One series of a block in `aggregate`'s form: a downsampled series loses its
/// [`AGGREGATE_LABEL`] (`raw` ones are converted), a raw block's series is converted.
fn as_aggregate(mut s: Series, aggregate: MetricsAggregate) -> Series {
    match s.metric.get(AGGREGATE_LABEL) {
        Some(AGGREGATE_RAW) | None => {
            s.metric = without_aggregate_label(&s.metric);
            raw_as_aggregate(s, aggregate)
        }
        Some(_) => {
            s.metric = without_aggregate_label(&s.metric);
            s
        }
    }
}

fn without_aggregate_label(labels: &Labels) -> Labels {
    if labels.get(AGGREGATE_LABEL).is_none() {
        return labels.clone();
    }
    let kept: Vec<Label> = labels
        .iter()
        .filter(|l| l.name != AGGREGATE_LABEL)
        .cloned()
        .collect();
    Labels::from_sorted(kept)
}

/// Keeps the samples inside `spans`; the decoder already cut at their bounds, so only gaps
/// between several spans need a look at each sample.
fn keep_spans(mut s: Series, spans: &Spans) -> Series {
    if spans.len() > 1 {
        s.floats.retain(|p| spans.contains(p.t));
        s.histograms.retain(|p| spans.contains(p.t));
    }
    s
}

fn has_samples(s: &Series) -> bool {
    !s.floats.is_empty() || !s.histograms.is_empty()
}

#[cfg(test)]
mod tests {
    use sextant_metrics::promql::{FPoint, FloatHistogram, HPoint};

    use super::*;

    fn series(pairs: &[(&str, &str)], points: &[(i64, f64)]) -> Series {
        Series {
            metric: Labels::from_pairs(pairs.iter().copied()),
            floats: points.iter().map(|&(t, f)| FPoint { t, f }).collect(),
            ..Series::default()
        }
    }

    /// A series as `(labels, float points, histogram count)`.
    type Summary = (String, Vec<(i64, f64)>, usize);

    fn summary(all: &[Series]) -> Vec<Summary> {
        all.iter()
            .map(|s| {
                let points = s.floats.iter().map(|p| (p.t, p.f)).collect();
                (s.metric.to_string(), points, s.histograms.len())
            })
            .collect()
    }

    const COUNT: DownsampleHint = DownsampleHint {
        resolution_ms: 3_600_000,
        aggregate: MetricsAggregate::Count,
    };
    const SUM: DownsampleHint = DownsampleHint {
        resolution_ms: 3_600_000,
        aggregate: MetricsAggregate::Sum,
    };

    #[test]
    fn counter_matcher_selects_its_three_series_and_raw() {
        let m = aggregate_matcher(MetricsAggregate::Counter);
        let cases = [
            ("counter", true),
            ("counter_first", true),
            ("counter_inner", true),
            ("raw", true),
            ("count", false),
            ("counter_other", false),
        ];
        for (value, want) in cases {
            assert_eq!(m.matches(value), want, "{value}");
        }
    }

    #[test]
    fn matcher_selects_the_aggregate_and_raw() {
        let m = aggregate_matcher(MetricsAggregate::Sum);
        let cases = [
            ("sum", true),
            ("raw", true),
            ("count", false),
            ("summary", false),
            ("", false),
        ];
        for (value, want) in cases {
            assert_eq!(m.matches(value), want, "{value}");
        }
    }

    #[test]
    fn block_series_table() {
        let spans = Spans::from_ranges([(0, 10), (20, 30)]);
        let one_span = Spans::from_ranges([(0, 30)]);
        let aggr = |a: &'static str| [("__name__", "m"), (AGGREGATE_LABEL, a)];
        let mut raw_histograms = series(&aggr("raw"), &[]);
        raw_histograms.histograms.push(HPoint {
            t: 5,
            h: Box::new(FloatHistogram::default()),
        });
        type Case<'a> = (
            &'a str,
            Vec<Series>,
            &'a Spans,
            Option<DownsampleHint>,
            Vec<Summary>,
        );
        let cases: [Case<'_>; 5] = [
            (
                "raw read keeps raw samples in the spans",
                vec![series(
                    &[("__name__", "m")],
                    &[(5, 1.0), (15, 2.0), (25, 3.0)],
                )],
                &spans,
                None,
                vec![("m{}".into(), vec![(5, 1.0), (25, 3.0)], 0)],
            ),
            (
                "one span needs no filtering",
                vec![series(&[("__name__", "m")], &[(5, 1.0), (15, 2.0)])],
                &one_span,
                None,
                vec![("m{}".into(), vec![(5, 1.0), (15, 2.0)], 0)],
            ),
            (
                "count aggregate keeps its values, loses the label",
                vec![series(&aggr("count"), &[(10, 240.0)])],
                &one_span,
                Some(COUNT),
                vec![("m{}".into(), vec![(10, 240.0)], 0)],
            ),
            (
                "raw block samples become counts of one",
                vec![series(&[("__name__", "m")], &[(5, 7.0), (25, 8.0)])],
                &one_span,
                Some(COUNT),
                vec![("m{}".into(), vec![(5, 1.0), (25, 1.0)], 0)],
            ),
            (
                "raw histograms lose the label; empty series dropped",
                vec![raw_histograms, series(&aggr("sum"), &[(15, 3.0)])],
                &spans,
                Some(SUM),
                vec![("m{}".into(), vec![], 1)],
            ),
        ];
        for (name, input, spans, hint, want) in cases {
            let got = block_series(input, spans, hint);
            assert_eq!(summary(&got), want, "{name}");
        }
    }

    #[test]
    fn raw_series_drop_what_downsampled_blocks_answer() {
        let downsampled = Spans::from_ranges([(0, 100)]);
        let input = vec![
            series(&[("__name__", "a")], &[(50, 5.0), (150, 6.0)]),
            series(&[("__name__", "b")], &[(60, 1.0)]),
        ];
        let got = raw_series(input, &downsampled, COUNT);
        assert_eq!(
            summary(&got),
            vec![("a{}".to_string(), vec![(150, 1.0)], 0)]
        );
    }
}
