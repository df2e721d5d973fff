//! Alerting rules with Prometheus's semantics (`rules/alerting.go`): an alert per result
//! series, pending until it held for `for`, firing, kept firing for `keep_firing_for` after
//! the condition cleared, then inactive (resolved) and kept 15 minutes so Alertmanager hears
//! of the resolution. Each evaluation writes `ALERTS` and `ALERTS_FOR_STATE`.
//!
//! - `alerting/restore.rs`: restoring `activeAt` from `ALERTS_FOR_STATE` after a restart.
//! - `alerting/send.rs`: which alerts go to Alertmanager, with which `endsAt`.
//! - `alerting/tests.rs`: sequences of evaluations against a fake query client.

mod restore;
mod send;
#[cfg(test)]
mod tests;

pub use restore::RestoreSettings;

use std::collections::BTreeMap;
use std::time::Duration;

use sextant_model::labels::METRIC_NAME;
use sextant_model::Labels;

use crate::client::{QueryResult, RuleSample, RulerQueryError};
use crate::group::{EvalContext, RuleEvalStatus};
use crate::rule_file::RuleDesc;
use crate::state::{AlertInstance, AlertState, AlertingRuleStatus};
use crate::template::{expand, TemplateData};

/// How long a resolved alert is kept (and re-sent) so that Alertmanager sees it resolve.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// The series of active alerts.
pub const ALERTS_METRIC: &str = "ALERTS";
/// The series of the alerts' `activeAt`, read back to restore `for` state.
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";
const ALERT_NAME_LABEL: &str = "alertname";
const ALERT_STATE_LABEL: &str = "alertstate";

/// One alert of a rule: a label set the rule's expression returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Result labels without `__name__`, then the rule's labels, then `alertname`.
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub value: f64,
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub last_sent_at_ms: Option<i64>,
    /// `endsAt` of the last send of a firing alert.
    pub valid_until_ms: i64,
    pub keep_firing_since_ms: Option<i64>,
}

/// An alerting rule and its alerts.
pub struct AlertingRule {
    desc: RuleDesc,
    name: String,
    hold: Duration,
    keep_firing_for: Duration,
    active: BTreeMap<Labels, Alert>,
    /// Whether `for` state was restored (or needs none): `ALERTS` is written only after.
    restored: bool,
    status: RuleEvalStatus,
}

impl AlertingRule {
    /// A rule from its description (`alert` set; validated before).
    pub fn new(desc: RuleDesc) -> Self {
        Self {
            name: desc.alert.clone().unwrap_or_default(),
            hold: desc.for_.unwrap_or_default(),
            keep_firing_for: desc.keep_firing_for.unwrap_or_default(),
            desc,
            active: BTreeMap::new(),
            restored: false,
            status: RuleEvalStatus::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn desc(&self) -> &RuleDesc {
        &self.desc
    }

    pub fn hold_duration(&self) -> Duration {
        self.hold
    }

    pub fn status_mut(&mut self) -> &mut RuleEvalStatus {
        &mut self.status
    }

    /// Marks the `for` state as restored (or not needing it): `ALERTS` is written from now on.
    pub fn set_restored(&mut self) {
        self.restored = true;
    }

    /// Takes over the alerts of the same rule in a group that was replaced (Prometheus's
    /// `CopyState`), so a changed group neither re-fires nor forgets its alerts.
    pub fn take_state_from(&mut self, old: &mut AlertingRule) {
        self.active = std::mem::take(&mut old.active);
        self.restored = old.restored;
        self.status = std::mem::take(&mut old.status);
    }

    /// Queries the expression and advances the alerts; returns the `ALERTS` and
    /// `ALERTS_FOR_STATE` samples to write.
    pub async fn eval(
        &mut self,
        ctx: &EvalContext<'_>,
        ts_ms: i64,
    ) -> Result<Vec<RuleSample>, RulerQueryError> {
        let query_ts = ts_ms - ctx.query_offset.as_millis() as i64;
        let result = ctx
            .query
            .instant_query(ctx.signal, ctx.tenant, &self.desc.expr, query_ts)
            .await?;
        self.apply(result, ts_ms, query_ts, ctx)
    }

    /// The state machine on one query result (no I/O).
    fn apply(
        &mut self,
        result: QueryResult,
        ts_ms: i64,
        sample_ts: i64,
        ctx: &EvalContext<'_>,
    ) -> Result<Vec<RuleSample>, RulerQueryError> {
        let current = self.build_alerts(result, ts_ms, ctx)?;
        for (labels, alert) in &current {
            match self.active.get_mut(labels) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = alert.value;
                    old.annotations = alert.annotations.clone();
                }
                _ => {
                    self.active.insert(labels.clone(), alert.clone());
                }
            }
        }
        let mut samples = Vec::new();
        let mut active_count = 0u64;
        let hold_ms = self.hold.as_millis() as i64;
        let keep_firing_ms = self.keep_firing_for.as_millis() as i64;
        let retention_ms = RESOLVED_RETENTION.as_millis() as i64;
        self.active.retain(|labels, alert| {
            if current.contains_key(labels) {
                alert.keep_firing_since_ms = None;
            } else {
                let mut keep_firing = false;
                if alert.state == AlertState::Firing && keep_firing_ms > 0 {
                    let since = *alert.keep_firing_since_ms.get_or_insert(ts_ms);
                    keep_firing = ts_ms - since < keep_firing_ms;
                }
                let expired = alert
                    .resolved_at_ms
                    .is_some_and(|r| ts_ms - r > retention_ms);
                if alert.state == AlertState::Pending || expired {
                    return false;
                }
                if alert.state != AlertState::Inactive && !keep_firing {
                    alert.state = AlertState::Inactive;
                    alert.resolved_at_ms = Some(ts_ms);
                }
                if !keep_firing {
                    return true;
                }
            }
            active_count += 1;
            if alert.state == AlertState::Pending && ts_ms - alert.active_at_ms >= hold_ms {
                alert.state = AlertState::Firing;
                alert.fired_at_ms = Some(ts_ms);
            }
            true
        });
        if ctx.limit > 0 && active_count > ctx.limit {
            self.active.clear();
            return Err(RulerQueryError::LimitExceeded {
                limit: ctx.limit,
                got: active_count as usize,
            });
        }
        if self.restored {
            // Pending, firing and kept-firing alerts; resolved ones are no longer in `ALERTS`.
            for alert in self
                .active
                .values()
                .filter(|a| a.state != AlertState::Inactive)
            {
                samples.push(alert_sample(alert, sample_ts));
                samples.push(for_state_sample(alert, sample_ts));
            }
        }
        Ok(samples)
    }

    /// One alert per result series, labels and annotations expanded.
    fn build_alerts(
        &self,
        result: QueryResult,
        ts_ms: i64,
        ctx: &EvalContext<'_>,
    ) -> Result<BTreeMap<Labels, Alert>, RulerQueryError> {
        let mut alerts = BTreeMap::new();
        for (series, value) in result {
            let series_labels = labels_map(&series);
            let data = TemplateData {
                labels: &series_labels,
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
                value,
            };
            let labels = self.alert_labels(&series, &data);
            let annotations = self
                .desc
                .annotations
                .iter()
                .map(|(name, text)| (name.clone(), expand(text, &data)))
                .collect();
            let alert = Alert {
                labels: labels.clone(),
                annotations,
                state: AlertState::Pending,
                value,
                active_at_ms: ts_ms,
                fired_at_ms: None,
                resolved_at_ms: None,
                last_sent_at_ms: None,
                valid_until_ms: 0,
                keep_firing_since_ms: None,
            };
            if alerts.insert(labels, alert).is_some() {
                return Err(RulerQueryError::DuplicateSeries(
                    "after applying alert labels".into(),
                ));
            }
        }
        Ok(alerts)
    }

    /// The result's labels without `__name__`, the rule's (expanded) labels over them (an empty
    /// value removes the label), and `alertname`.
    fn alert_labels(&self, series: &Labels, data: &TemplateData<'_>) -> Labels {
        let mut labels: BTreeMap<String, String> = series
            .iter()
            .filter(|l| l.name != METRIC_NAME)
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        for (name, text) in &self.desc.labels {
            let value = expand(text, data);
            if value.is_empty() {
                labels.remove(name);
            } else {
                labels.insert(name.clone(), value);
            }
        }
        labels.insert(ALERT_NAME_LABEL.into(), self.name.clone());
        Labels::from_pairs(labels)
    }

    /// The rule's state: the most severe of its alerts.
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Pending and firing alerts (not the resolved ones kept for Alertmanager).
    pub fn active_alerts(&self) -> Vec<AlertInstance> {
        self.active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .map(|a| AlertInstance {
                labels: labels_map(&a.labels),
                annotations: a.annotations.clone(),
                state: a.state,
                active_at_ms: Some(a.active_at_ms),
                keep_firing_since_ms: a.keep_firing_since_ms,
                value: a.value,
            })
            .collect()
    }

    /// The rule as `/api/v1/rules` shows it.
    pub fn status(&self) -> AlertingRuleStatus {
        AlertingRuleStatus {
            state: self.state(),
            name: self.name.clone(),
            query: self.desc.expr.clone(),
            duration: self.hold.as_secs_f64(),
            keep_firing_for: self.keep_firing_for.as_secs_f64(),
            labels: self.desc.labels.clone(),
            annotations: self.desc.annotations.clone(),
            alerts: self.active_alerts(),
            health: self.status.health,
            last_error: self.status.last_error.clone(),
            evaluation_time: self.status.evaluation_seconds,
            last_evaluation_ms: self.status.last_evaluation_ms,
        }
    }
}

/// `ALERTS{alertname, alertstate, ...} 1`.
fn alert_sample(alert: &Alert, ts_ms: i64) -> RuleSample {
    let labels = alert
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .chain([
            (METRIC_NAME, ALERTS_METRIC),
            (ALERT_STATE_LABEL, alert.state.as_str()),
        ]);
    RuleSample {
        labels: Labels::from_pairs(labels),
        value: 1.0,
        timestamp_ms: ts_ms,
    }
}

/// `ALERTS_FOR_STATE{alertname, ...} <activeAt in seconds>`.
fn for_state_sample(alert: &Alert, ts_ms: i64) -> RuleSample {
    RuleSample {
        labels: for_state_labels(&alert.labels),
        value: alert.active_at_ms.div_euclid(1000) as f64,
        timestamp_ms: ts_ms,
    }
}

fn for_state_labels(alert_labels: &Labels) -> Labels {
    let pairs = alert_labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .chain([(METRIC_NAME, ALERTS_FOR_STATE_METRIC)]);
    Labels::from_pairs(pairs)
}

pub(crate) fn labels_map(labels: &Labels) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}
