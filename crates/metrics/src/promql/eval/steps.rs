//! Walking evaluated matrices step by step: gathering one step's vector from each input,
//! collecting per-step results back into series, and the sample accounting that enforces
//! `max_samples` (Prometheus's `rangeEval`, `gatherVector` and `currentSamples`).

use hashbrown::HashMap;

use sextant_model::{Label, Labels, METRIC_NAME};

use crate::promql::value::{EvalError, FPoint, HPoint, Matrix, Sample, Series, Vector};

use super::Evaluator;

const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// The error for two series with the same labels at one step.
pub(crate) fn duplicate_labelset() -> EvalError {
    EvalError::Execution(DUPLICATE_LABELSET.into())
}

/// Read positions into the series of a matrix, advanced as the steps go by.
pub(crate) struct Cursors {
    pos: Vec<(usize, usize)>,
}

impl Cursors {
    pub fn new(m: &Matrix) -> Self {
        Cursors {
            pos: vec![(0, 0); m.len()],
        }
    }

    /// The samples of `m` at exactly `ts`, appended to `out`.
    pub fn gather(&mut self, m: &Matrix, ts: i64, out: &mut Vector) {
        for (s, (fi, hi)) in m.iter().zip(self.pos.iter_mut()) {
            if let Some(p) = s.floats.get(*fi).filter(|p| p.t == ts) {
                *fi += 1;
                out.push(Sample {
                    metric: s.metric.clone(),
                    t: ts,
                    f: p.f,
                    h: None,
                    drop_name: s.drop_name,
                });
            } else if let Some(p) = s.histograms.get(*hi).filter(|p| p.t == ts) {
                *hi += 1;
                out.push(Sample {
                    metric: s.metric.clone(),
                    t: ts,
                    f: 0.0,
                    h: Some(p.h.clone()),
                    drop_name: s.drop_name,
                });
            }
        }
    }
}

/// The value of a scalar-typed matrix (one series, one point per step) at `ts`.
pub(crate) fn scalar_at(m: &Matrix, cursor: &mut usize, ts: i64) -> f64 {
    let Some(s) = m.first() else {
        return f64::NAN;
    };
    while *cursor < s.floats.len() && s.floats[*cursor].t < ts {
        *cursor += 1;
    }
    match s.floats.get(*cursor) {
        Some(p) if p.t == ts => p.f,
        _ => f64::NAN,
    }
}

/// Builds the output series of a range evaluation from per-step vectors.
pub(crate) struct Collector {
    single_step: bool,
    /// Output series by labels, with the last step each received a sample.
    index: HashMap<Labels, (usize, i64)>,
    series: Matrix,
}

impl Collector {
    pub fn new(single_step: bool) -> Self {
        Collector {
            single_step,
            index: HashMap::new(),
            series: Vec::new(),
        }
    }

    /// Adds one step's result. Fails on two samples with the same labels at one step.
    pub fn add(&mut self, ts: i64, result: Vector) -> Result<(), EvalError> {
        for s in result {
            let idx = match self.index.get_mut(&s.metric) {
                Some((idx, last)) => {
                    if *last == ts && !self.single_step {
                        return Err(duplicate_labelset());
                    }
                    *last = ts;
                    *idx
                }
                None if self.single_step => {
                    self.series.push(Series {
                        metric: s.metric,
                        drop_name: s.drop_name,
                        ..Series::default()
                    });
                    push_point(self.series.last_mut(), ts, s.f, s.h);
                    continue;
                }
                None => {
                    self.index.insert(s.metric.clone(), (self.series.len(), ts));
                    self.series.push(Series {
                        metric: s.metric,
                        drop_name: s.drop_name,
                        ..Series::default()
                    });
                    self.series.len() - 1
                }
            };
            push_point(self.series.get_mut(idx), ts, s.f, s.h);
        }
        Ok(())
    }

    pub fn finish(self) -> Matrix {
        self.series
    }
}

fn push_point(
    s: Option<&mut Series>,
    ts: i64,
    f: f64,
    h: Option<Box<crate::promql::histogram::FloatHistogram>>,
) {
    let Some(s) = s else { return };
    match h {
        Some(h) => s.histograms.push(HPoint { t: ts, h }),
        None => s.floats.push(FPoint { t: ts, f }),
    }
}

/// Points held by a matrix, for `max_samples`.
pub(crate) fn matrix_samples(m: &Matrix) -> usize {
    m.iter().map(|s| s.floats.len() + s.histograms.len()).sum()
}

/// Whether two series of a vector share their labels.
pub(crate) fn contains_same_labelset(v: &[Sample]) -> bool {
    if v.len() <= 1 {
        return false;
    }
    let mut seen = hashbrown::HashSet::with_capacity(v.len());
    v.iter().any(|s| !seen.insert(&s.metric))
}

/// Labels without `__name__` and the other metadata labels (`__type__`, `__unit__`).
pub(crate) fn drop_metric_name(labels: &Labels) -> Labels {
    if !labels.iter().any(|l| is_metadata_label(&l.name)) {
        return labels.clone();
    }
    let kept: Vec<Label> = labels
        .iter()
        .filter(|l| !is_metadata_label(&l.name))
        .cloned()
        .collect();
    Labels::from_sorted(kept)
}

fn is_metadata_label(name: &str) -> bool {
    name == METRIC_NAME || name == "__type__" || name == "__unit__"
}

/// Merges series that ended up with equal labels (after dropping names) when their points do
/// not overlap; overlapping points are an error (Prometheus's `mergeSeriesWithSameLabelset`).
pub(crate) fn merge_same_labelset(mat: Matrix) -> Result<Matrix, EvalError> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(mat.len());
    let mut out: Matrix = Vec::with_capacity(mat.len());
    let mut merged_any = false;
    for s in mat {
        match index.get(&s.metric) {
            Some(&i) => {
                merged_any = true;
                out[i].floats.extend(s.floats);
                out[i].histograms.extend(s.histograms);
            }
            None => {
                index.insert(s.metric.clone(), out.len());
                out.push(s);
            }
        }
    }
    if merged_any {
        for s in &mut out {
            s.floats.sort_by_key(|p| p.t);
            s.histograms.sort_by_key(|p| p.t);
            let dup_f = s.floats.windows(2).any(|w| w[0].t == w[1].t);
            let dup_h = s.histograms.windows(2).any(|w| w[0].t == w[1].t);
            let dup_mixed = s
                .histograms
                .iter()
                .any(|h| s.floats.binary_search_by_key(&h.t, |p| p.t).is_ok());
            if dup_f || dup_h || dup_mixed {
                return Err(duplicate_labelset());
            }
        }
    }
    Ok(out)
}

impl Evaluator<'_> {
    /// The timestamps of the evaluation steps.
    pub fn steps(&self) -> impl Iterator<Item = i64> {
        let (start, end, interval) = (self.start, self.end, self.interval);
        (0..)
            .map(move |i: i64| start + i * interval)
            .take_while(move |t| *t <= end)
    }

    pub fn num_steps(&self) -> usize {
        usize::try_from((self.end - self.start) / self.interval + 1).unwrap_or(0)
    }

    /// Counts `n` more samples held in memory; fails beyond `max_samples`.
    pub fn add_samples(&mut self, n: usize) -> Result<(), EvalError> {
        self.state.current_samples += n;
        self.state.peak_samples = self.state.peak_samples.max(self.state.current_samples);
        if self.state.current_samples > self.env.max_samples {
            return Err(EvalError::TooManySamples("query execution"));
        }
        Ok(())
    }

    /// Evaluates `f` at every step over the gathered vectors of `inputs` and collects the
    /// results into series.
    pub fn range_eval<F>(&mut self, inputs: &[Matrix], mut f: F) -> Result<Matrix, EvalError>
    where
        F: FnMut(&mut Self, i64, Vec<Vector>) -> Result<Vector, EvalError>,
    {
        let base = self.state.current_samples;
        let mut cursors: Vec<Cursors> = inputs.iter().map(Cursors::new).collect();
        let mut collector = Collector::new(self.start == self.end);
        let mut held = base;
        let steps: Vec<i64> = self.steps().collect();
        for ts in steps {
            self.state.current_samples = held;
            let mut vectors = Vec::with_capacity(inputs.len());
            for (m, c) in inputs.iter().zip(cursors.iter_mut()) {
                let mut v = Vec::with_capacity(m.len());
                c.gather(m, ts, &mut v);
                self.add_samples(v.len())?;
                vectors.push(v);
            }
            let result = f(self, ts, vectors)?;
            if self.start == self.end
                && !self.env.delayed_name_removal
                && contains_same_labelset(&result)
            {
                return Err(duplicate_labelset());
            }
            self.add_samples(result.len())?;
            held += result.len();
            collector.add(ts, result)?;
        }
        let out = collector.finish();
        self.state.current_samples = base + matrix_samples(&out);
        Ok(out)
    }
}
