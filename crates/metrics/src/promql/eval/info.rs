//! `info(v, {selector})`: enriches series with the data labels of info series (by default
//! `target_info`) that share their identifying labels (`instance`, `job`), as of the same
//! reference time as the samples of `v` (Prometheus's promql/info.go).

use hashbrown::HashMap;

use sextant_model::{Label, Labels, MatchOp, Matcher, METRIC_NAME};

use crate::promql::queryable::SelectHints;
use crate::promql::value::{EvalError, Matrix, Sample, Series};

use super::plan::{Call, Node};
use super::selector::{pick, Picked};
use super::steps::{Collector, Cursors};
use super::Evaluator;

const TARGET_INFO: &str = "target_info";

/// The name and identifying labels an info series is joined on.
type Signature = Vec<(String, String)>;
/// The current info series by signature: (index into the info matrix, sample time).
type CurrentInfo = HashMap<Signature, (usize, i64)>;
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];

/// The matchers of the second argument, split by role.
struct InfoMatchers {
    /// `__name__` matchers choosing the info metrics (defaulted when none are positive).
    names: Vec<Matcher>,
    /// Matchers on data labels, by label name.
    data: Vec<Matcher>,
}

impl InfoMatchers {
    fn new(given: &[Matcher]) -> Result<Self, EvalError> {
        let (names, data): (Vec<Matcher>, Vec<Matcher>) =
            given.iter().cloned().partition(|m| m.name == METRIC_NAME);
        let has_positive = names
            .iter()
            .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::RegexMatch));
        let mut names_all = names.clone();
        if names.is_empty() {
            names_all.push(matcher(MatchOp::Equal, TARGET_INFO)?);
        } else if !has_positive {
            names_all.push(matcher(MatchOp::RegexMatch, ".+_info")?);
        }
        Ok(InfoMatchers {
            names: names_all,
            data,
        })
    }

    /// Whether a base series is itself one of the info series (then it is not enriched).
    fn is_info_series(&self, labels: &Labels) -> bool {
        let name = labels.metric_name().unwrap_or("");
        self.names.iter().all(|m| m.matches(name))
    }

    fn is_data_label(&self, name: &str) -> bool {
        self.data.is_empty() || self.data.iter().any(|m| m.name == name)
    }

    fn all_data_matchers_match_empty(&self) -> bool {
        self.data.iter().all(Matcher::matches_empty)
    }
}

fn matcher(op: MatchOp, value: &str) -> Result<Matcher, EvalError> {
    Matcher::new(op, METRIC_NAME, value).map_err(|e| EvalError::Execution(e.to_string()))
}

/// The identifying labels of a series under an info metric name: what base and info series
/// are joined on.
fn signature(name: &str, labels: &Labels) -> Signature {
    let mut sig = vec![(METRIC_NAME.to_string(), name.to_string())];
    for l in IDENTIFYING_LABELS {
        if let Some(v) = labels.get(l) {
            sig.push((l.to_string(), v.to_string()));
        }
    }
    sig
}

impl Evaluator<'_> {
    pub fn eval_info(&mut self, call: &Call) -> Result<Matrix, EvalError> {
        let env = self.env;
        let given: &[Matcher] = match call.args.get(1).map(Node::unwrapped) {
            Some(Node::Vector(i)) => env.selectors[*i].matchers(),
            _ => &[],
        };
        let matchers = InfoMatchers::new(given)?;
        let base = self.eval(&call.args[0])?;
        let steps: Vec<i64> = self.steps().collect();
        let ref_times: Vec<i64> = steps
            .iter()
            .map(|&ts| self.info_ref_time(&call.args[0], ts))
            .collect();
        let has_identifying = base.iter().any(|s| {
            !matchers.is_info_series(&s.metric)
                && IDENTIFYING_LABELS.iter().any(|l| s.metric.get(l).is_some())
        });
        let info = if has_identifying {
            self.fetch_info_series(&matchers, &ref_times)?
        } else {
            Vec::new()
        };
        let info_names: Vec<String> = {
            let mut names: Vec<String> = info
                .iter()
                .filter_map(|s| s.metric.metric_name().map(str::to_string))
                .collect();
            names.sort();
            names.dedup();
            names
        };
        let mut cursors = Cursors::new(&base);
        let mut collector = Collector::new(self.start == self.end);
        for (&ts, &ref_t) in steps.iter().zip(&ref_times) {
            let mut vector = Vec::new();
            cursors.gather(&base, ts, &mut vector);
            let current = self.current_info(&info, ref_t)?;
            let mut out = Vec::with_capacity(vector.len());
            for sample in vector {
                if matchers.is_info_series(&sample.metric) {
                    out.push(sample);
                    continue;
                }
                if let Some(s) = enrich(sample, &info, &current, &info_names, &matchers)? {
                    out.push(s);
                }
            }
            self.add_samples(out.len())?;
            collector.add(ts, out)?;
        }
        Ok(collector.finish())
    }

    /// The time the samples of `arg` refer to at step `ts`, following the `@` and offsets of
    /// the first selector and the subqueries around it.
    fn info_ref_time(&self, arg: &Node, ts: i64) -> i64 {
        match arg.unwrapped() {
            Node::Vector(i) | Node::Matrix { sel: i, .. } => {
                self.ref_time(&self.env.selectors[*i], ts)
            }
            Node::Subquery(sq) => self.info_ref_time(&sq.expr, sq.at.unwrap_or(ts) - sq.offset_ms),
            Node::Neg(e) => self.info_ref_time(e, ts),
            Node::Call(c) => c.args.first().map_or(ts, |a| self.info_ref_time(a, ts)),
            Node::Binary(b) => self.info_ref_time(&b.lhs, ts),
            Node::Aggregate(a) => self.info_ref_time(&a.expr, ts),
            _ => ts,
        }
    }

    fn fetch_info_series(
        &mut self,
        m: &InfoMatchers,
        ref_times: &[i64],
    ) -> Result<Matrix, EvalError> {
        let min = ref_times.iter().copied().min().unwrap_or(self.start);
        let max = ref_times.iter().copied().max().unwrap_or(self.end);
        let hints = SelectHints {
            start_ms: min - self.env.lookback + 1,
            end_ms: max,
            downsample: None,
        };
        let mut all: Vec<Matcher> = m.names.clone();
        all.extend(m.data.iter().cloned());
        let mut series = self.env.queryable.select(&hints, &all)?;
        series.sort_by(|a, b| a.metric.cmp(&b.metric));
        Ok(series)
    }

    /// The info series current at `ref_t` by signature: (index into `info`, sample time).
    /// Of two with one signature the newer wins; equal times are an error.
    fn current_info(&mut self, info: &Matrix, ref_t: i64) -> Result<CurrentInfo, EvalError> {
        let mut by_sig = CurrentInfo::new();
        for (i, s) in info.iter().enumerate() {
            let t = match pick(s, ref_t, self.env.lookback) {
                Some(Picked::Float(t, _)) => t,
                Some(Picked::Histogram(..)) => {
                    return Err(EvalError::Execution(format!(
                        "this should be an info metric, with float samples: {}",
                        s.metric
                    )));
                }
                None => continue,
            };
            self.state.samples_read += 1;
            let sig = signature(s.metric.metric_name().unwrap_or(""), &s.metric);
            match by_sig.get(&sig) {
                Some(&(j, existing)) if existing == t => {
                    return Err(EvalError::Execution(format!(
                        "found duplicate series for info metric: existing {} @ {existing}, new {} @ {t}",
                        info[j].metric, s.metric
                    )));
                }
                Some(&(_, existing)) if existing > t => {}
                _ => {
                    by_sig.insert(sig, (i, t));
                }
            }
        }
        Ok(by_sig)
    }
}

/// Adds the data labels of the matching info series to a base sample; `None` drops it.
fn enrich(
    sample: Sample,
    info: &[Series],
    current: &CurrentInfo,
    info_names: &[String],
    m: &InfoMatchers,
) -> Result<Option<Sample>, EvalError> {
    let mut added: Vec<Label> = Vec::new();
    let mut seen_any = false;
    for name in info_names {
        let Some(&(idx, _)) = current.get(&signature(name, &sample.metric)) else {
            continue;
        };
        seen_any = true;
        for l in info[idx].metric.iter() {
            if l.name == METRIC_NAME || !m.is_data_label(&l.name) {
                continue;
            }
            if let Some(existing) = added.iter().find(|a| a.name == l.name) {
                if existing.value != l.value {
                    return Err(EvalError::Execution(format!(
                        "conflicting label: {}",
                        l.name
                    )));
                }
                continue;
            }
            if sample.metric.get(&l.name).is_some() {
                continue;
            }
            added.push(l.clone());
        }
    }
    if !seen_any && !m.all_data_matchers_match_empty() {
        return Ok(None);
    }
    if added.is_empty() {
        return Ok(Some(sample));
    }
    let mut labels = sample.metric.clone().into_vec();
    labels.extend(added);
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(Sample {
        metric: Labels::from_sorted(labels),
        ..sample
    }))
}
