//! Recording rules (Prometheus's `rules/recording.go`): the expression's result renamed to the
//! rule's `record`, the rule's labels set over the result's, written at the evaluation time.

use std::collections::{BTreeMap, BTreeSet};

use sextant_model::labels::METRIC_NAME;
use sextant_model::Labels;

use crate::client::{QueryResult, RuleSample, RulerQueryError};
use crate::group::{EvalContext, RuleEvalStatus};
use crate::rule_file::RuleDesc;
use crate::state::RecordingRuleStatus;

/// A recording rule.
pub struct RecordingRule {
    desc: RuleDesc,
    name: String,
    status: RuleEvalStatus,
}

impl RecordingRule {
    /// A rule from its description (`record` set; validated before).
    pub fn new(desc: RuleDesc) -> Self {
        Self {
            name: desc.record.clone().unwrap_or_default(),
            desc,
            status: RuleEvalStatus::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn desc(&self) -> &RuleDesc {
        &self.desc
    }

    pub fn status_mut(&mut self) -> &mut RuleEvalStatus {
        &mut self.status
    }

    /// Keeps the health of the same rule in a replaced group.
    pub fn take_state_from(&mut self, old: &mut RecordingRule) {
        self.status = std::mem::take(&mut old.status);
    }

    /// Queries the expression at `ts_ms - query_offset` and returns the samples to write.
    pub async fn eval(
        &self,
        ctx: &EvalContext<'_>,
        ts_ms: i64,
    ) -> Result<Vec<RuleSample>, RulerQueryError> {
        let query_ts = ts_ms - ctx.query_offset.as_millis() as i64;
        let result = ctx
            .query
            .instant_query(ctx.signal, ctx.tenant, &self.desc.expr, query_ts)
            .await?;
        record(&self.name, &self.desc.labels, result, query_ts, ctx.limit)
    }

    pub fn status(&self) -> RecordingRuleStatus {
        RecordingRuleStatus {
            name: self.name.clone(),
            query: self.desc.expr.clone(),
            labels: self.desc.labels.clone(),
            health: self.status.health,
            last_error: self.status.last_error.clone(),
            evaluation_time: self.status.evaluation_seconds,
            last_evaluation_ms: self.status.last_evaluation_ms,
        }
    }
}

/// Relabels a result: `__name__` = `record`, the rule's labels over the result's (an empty
/// value removes the label). Two series with the same labels afterwards, or more than `limit`
/// series (when not 0), are errors.
fn record(
    record: &str,
    rule_labels: &BTreeMap<String, String>,
    result: QueryResult,
    ts_ms: i64,
    limit: u64,
) -> Result<Vec<RuleSample>, RulerQueryError> {
    let mut seen = BTreeSet::new();
    let mut samples = Vec::with_capacity(result.len());
    for (series, value) in result {
        let mut labels: BTreeMap<String, String> = series
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        labels.insert(METRIC_NAME.into(), record.to_string());
        for (name, value) in rule_labels {
            if value.is_empty() {
                labels.remove(name);
            } else {
                labels.insert(name.clone(), value.clone());
            }
        }
        let labels = Labels::from_pairs(labels);
        if !seen.insert(labels.clone()) {
            return Err(RulerQueryError::DuplicateSeries(labels.to_string()));
        }
        samples.push(RuleSample {
            labels,
            value,
            timestamp_ms: ts_ms,
        });
    }
    if limit > 0 && samples.len() as u64 > limit {
        return Err(RulerQueryError::LimitExceeded {
            limit,
            got: samples.len(),
        });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(pairs: &[(&str, &str)], v: f64) -> (Labels, f64) {
        (Labels::from_pairs(pairs.iter().copied()), v)
    }

    #[test]
    fn relabels_results() {
        struct Case {
            name: &'static str,
            rule_labels: &'static [(&'static str, &'static str)],
            result: Vec<(Labels, f64)>,
            limit: u64,
            want: Result<Vec<Labels>, &'static str>,
        }
        let cases = [
            Case {
                name: "renames and adds labels",
                rule_labels: &[("team", "a")],
                result: vec![series(&[("__name__", "up"), ("job", "x")], 1.0)],
                limit: 0,
                want: Ok(vec![Labels::from_pairs([
                    ("__name__", "job:up"),
                    ("job", "x"),
                    ("team", "a"),
                ])]),
            },
            Case {
                name: "rule labels override, empty removes",
                rule_labels: &[("job", "y"), ("instance", "")],
                result: vec![series(&[("instance", "i"), ("job", "x")], 1.0)],
                limit: 0,
                want: Ok(vec![Labels::from_pairs([
                    ("__name__", "job:up"),
                    ("job", "y"),
                ])]),
            },
            Case {
                name: "same labels after relabelling",
                rule_labels: &[("job", "y")],
                result: vec![series(&[("job", "a")], 1.0), series(&[("job", "b")], 2.0)],
                limit: 0,
                want: Err("same labelset"),
            },
            Case {
                name: "limit exceeded",
                rule_labels: &[],
                result: vec![series(&[("job", "a")], 1.0), series(&[("job", "b")], 2.0)],
                limit: 1,
                want: Err("exceeded limit of 1"),
            },
            Case {
                name: "limit reached is fine",
                rule_labels: &[],
                result: vec![series(&[("job", "a")], 1.0)],
                limit: 1,
                want: Ok(vec![Labels::from_pairs([
                    ("__name__", "job:up"),
                    ("job", "a"),
                ])]),
            },
        ];
        for case in cases {
            let labels: BTreeMap<String, String> = case
                .rule_labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            let got = record("job:up", &labels, case.result, 7, case.limit);
            match (got, case.want) {
                (Ok(samples), Ok(want)) => {
                    let got: Vec<Labels> = samples.iter().map(|s| s.labels.clone()).collect();
                    assert_eq!(got, want, "{}", case.name);
                    assert!(samples.iter().all(|s| s.timestamp_ms == 7), "{}", case.name);
                }
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{}: {e}", case.name),
                (got, want) => panic!("{}: got {got:?}, want {want:?}", case.name),
            }
        }
    }
}
