//! Where the engine reads series from.
//!
//! The engine is synchronous: it runs on a blocking thread and asks a [`Queryable`] for the
//! series of each selector. The querier implements it over ingesters and blocks; tests and the
//! script runner use [`MemQueryable`].

use std::collections::BTreeMap;

use sextant_model::{Labels, Matcher};

use super::histogram::FloatHistogram;
use super::value::{EvalError, FPoint, HPoint, Series};
use crate::downsample::{raw_as_aggregate, DownsampleHint};

/// The time range a selector needs, inclusive at both ends, in milliseconds, and the
/// downsampled aggregate the engine wants instead of raw samples, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectHints {
    pub start_ms: i64,
    pub end_ms: i64,
    pub downsample: Option<DownsampleHint>,
}

/// A source of series.
pub trait Queryable: Send + Sync {
    /// The series matching every matcher, with their samples in `[start_ms, end_ms]`, in time
    /// order. Series without a sample in the range may be left out. The order of the returned
    /// series does not matter.
    fn select(&self, hints: &SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, EvalError>;
}

/// Series held in memory, keyed by their labels. A select with a downsample hint gets the
/// raw samples in the aggregate's form ([`raw_as_aggregate`]).
#[derive(Debug, Default, Clone)]
pub struct MemQueryable {
    series: BTreeMap<Labels, Series>,
}

impl MemQueryable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a float sample; samples must arrive in time order per series.
    pub fn add_float(&mut self, labels: &Labels, t: i64, f: f64) {
        self.entry(labels).floats.push(FPoint { t, f });
    }

    /// Appends a histogram sample; samples must arrive in time order per series.
    pub fn add_histogram(&mut self, labels: &Labels, t: i64, h: FloatHistogram) {
        self.entry(labels)
            .histograms
            .push(HPoint { t, h: Box::new(h) });
    }

    pub fn clear(&mut self) {
        self.series.clear();
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    fn entry(&mut self, labels: &Labels) -> &mut Series {
        self.series.entry(labels.clone()).or_insert_with(|| Series {
            metric: labels.clone(),
            ..Series::default()
        })
    }
}

impl Queryable for MemQueryable {
    fn select(&self, hints: &SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, EvalError> {
        let in_range = |t: i64| t >= hints.start_ms && t <= hints.end_ms;
        let mut out = Vec::new();
        for series in self.series.values() {
            let matched = matchers
                .iter()
                .all(|m| m.matches(series.metric.get(&m.name).unwrap_or("")));
            if !matched {
                continue;
            }
            let floats: Vec<FPoint> = series
                .floats
                .iter()
                .filter(|p| in_range(p.t))
                .copied()
                .collect();
            let histograms: Vec<HPoint> = series
                .histograms
                .iter()
                .filter(|p| in_range(p.t))
                .cloned()
                .collect();
            if floats.is_empty() && histograms.is_empty() {
                continue;
            }
            let series = Series {
                metric: series.metric.clone(),
                floats,
                histograms,
                drop_name: false,
            };
            out.push(match hints.downsample {
                Some(hint) => raw_as_aggregate(series, hint.aggregate),
                None => series,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use sextant_model::MatchOp;

    use super::*;

    #[test]
    fn select_filters_by_matchers_and_time() {
        let mut q = MemQueryable::new();
        let a = Labels::from_pairs([("__name__", "x"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "x"), ("job", "b")]);
        for t in [0, 10, 20] {
            q.add_float(&a, t, t as f64);
            q.add_float(&b, t, -(t as f64));
        }
        let m = [Matcher::new(MatchOp::Equal, "job", "a").unwrap()];
        let got = q
            .select(
                &SelectHints {
                    start_ms: 5,
                    end_ms: 20,
                    downsample: None,
                },
                &m,
            )
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].metric, a);
        assert_eq!(
            got[0].floats,
            vec![FPoint { t: 10, f: 10.0 }, FPoint { t: 20, f: 20.0 }]
        );
        let none = q
            .select(
                &SelectHints {
                    start_ms: 21,
                    end_ms: 30,
                    downsample: None,
                },
                &m,
            )
            .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn select_with_a_hint_gives_the_aggregate_form() {
        use crate::downsample::{MetricsAggregate, RESOLUTION_5M_MS};
        let mut q = MemQueryable::new();
        let a = Labels::from_pairs([("__name__", "x")]);
        for t in [10, 20] {
            q.add_float(&a, t, 7.0);
        }
        q.add_histogram(&a, 30, FloatHistogram::default());
        let select = |aggregate| {
            let hints = SelectHints {
                start_ms: 0,
                end_ms: 30,
                downsample: Some(DownsampleHint {
                    resolution_ms: RESOLUTION_5M_MS,
                    aggregate,
                }),
            };
            q.select(&hints, &[]).unwrap().remove(0)
        };
        let count = select(MetricsAggregate::Count);
        let ones: Vec<FPoint> = [10, 20, 30].map(|t| FPoint { t, f: 1.0 }).to_vec();
        assert_eq!((count.floats, count.histograms.len()), (ones, 0));
        let sum = select(MetricsAggregate::Sum);
        assert_eq!((sum.floats.len(), sum.histograms.len()), (2, 1));
    }
}
