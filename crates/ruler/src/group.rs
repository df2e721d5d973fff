//! A rule group: its rules evaluated in order at one timestamp, results and `ALERTS` written,
//! staleness markers for series a rule stopped producing, alerts handed to the notifier.
//!
//! - `group/run.rs`: the loop at the group's interval (aligned as Prometheus does) and the
//!   restore of `for` state after the second evaluation.
//! - `group/tests.rs`: evaluations against fake clients.

mod run;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sextant_model::{Labels, Signal, TenantId};

use crate::alerting::{AlertingRule, RestoreSettings};
use crate::client::{QueryClient, RuleSample, RulerQueryError, SampleWriter, STALE_NAN};
use crate::instrumentation::{GroupLabels, RulerMetrics};
use crate::notifier::Notifier;
use crate::recording::RecordingRule;
use crate::rule_file::RuleGroupDesc;
use crate::state::{AlertInstance, RuleGroupState, RuleHealth, RuleStatus};

pub(crate) use run::now_ms;
pub use run::{eval_timestamp, run_group, GroupSnapshot};

/// What one rule's evaluation needs besides its own definition.
pub struct EvalContext<'a> {
    pub signal: Signal,
    pub tenant: &'a TenantId,
    pub query: &'a dyn QueryClient,
    pub query_offset: Duration,
    /// Most series (alerts) a rule may produce; 0 = no limit.
    pub limit: u64,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
}

/// The outcome of a rule's last evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleEvalStatus {
    pub health: RuleHealth,
    pub last_error: String,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_seconds: f64,
}

impl RuleEvalStatus {
    fn record(&mut self, result: &Result<(), RulerQueryError>, wall_ms: i64, took: Duration) {
        self.last_evaluation_ms = Some(wall_ms);
        self.evaluation_seconds = took.as_secs_f64();
        match result {
            Ok(()) => {
                self.health = RuleHealth::Ok;
                self.last_error.clear();
            }
            Err(e) => {
                self.health = RuleHealth::Err;
                self.last_error = e.to_string();
            }
        }
    }
}

/// A rule of a group.
pub enum Rule {
    Alerting(AlertingRule),
    Recording(RecordingRule),
}

/// The identity of a group; its hash places it on the ring and offsets its evaluations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub signal: Signal,
    pub tenant: TenantId,
    pub namespace: String,
    pub name: String,
}

impl GroupKey {
    /// `xxh3(tenant, signal, namespace, group)`, fields separated by a byte no name holds.
    pub fn hash(&self) -> u64 {
        let mut bytes = Vec::with_capacity(64);
        for part in [
            self.tenant.as_str(),
            self.signal.as_str(),
            &self.namespace,
            &self.name,
        ] {
            bytes.extend_from_slice(part.as_bytes());
            bytes.push(0xff);
        }
        xxhash_rust::xxh3::xxh3_64(&bytes)
    }

    /// The ring token of the group.
    pub fn ring_token(&self) -> u32 {
        let h = self.hash();
        (h ^ (h >> 32)) as u32
    }

    fn metric_labels(&self) -> GroupLabels {
        GroupLabels {
            signal: self.signal.as_str(),
            tenant: self.tenant.to_string(),
            rule_group: format!("{};{}", self.namespace, self.name),
        }
    }
}

/// Settings every group shares.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub default_interval: Duration,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub resend_delay: Duration,
    pub restore: RestoreSettings,
}

/// The collaborators every group shares.
pub struct GroupDeps {
    pub query: Arc<dyn QueryClient>,
    pub writer: Arc<dyn SampleWriter>,
    pub notifier: Arc<Notifier>,
    pub metrics: RulerMetrics,
    pub settings: GroupSettings,
}

/// A group, its rules and their state.
pub struct RuleGroup {
    key: GroupKey,
    desc: RuleGroupDesc,
    interval: Duration,
    rules: Vec<Rule>,
    /// Per rule, the series written by its last successful evaluation.
    previous_series: Vec<BTreeSet<Labels>>,
    should_restore: bool,
    last_evaluation_ms: Option<i64>,
    evaluation_seconds: f64,
    metric_labels: GroupLabels,
}

impl RuleGroup {
    /// A new group (validated before); its alerts' `for` state is restored after the second
    /// evaluation unless [`RuleGroup::take_state_from`] carries state over.
    pub fn new(key: GroupKey, desc: RuleGroupDesc, default_interval: Duration) -> Self {
        let rules: Vec<Rule> = desc
            .rules
            .iter()
            .map(|r| match r.alert {
                Some(_) => Rule::Alerting(AlertingRule::new(r.clone())),
                None => Rule::Recording(RecordingRule::new(r.clone())),
            })
            .collect();
        Self {
            interval: desc
                .interval
                .filter(|d| !d.is_zero())
                .unwrap_or(default_interval),
            previous_series: vec![BTreeSet::new(); rules.len()],
            rules,
            metric_labels: key.metric_labels(),
            key,
            desc,
            should_restore: true,
            last_evaluation_ms: None,
            evaluation_seconds: 0.0,
        }
    }

    pub fn key(&self) -> &GroupKey {
        &self.key
    }

    pub fn desc(&self) -> &RuleGroupDesc {
        &self.desc
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Carries the state of the same group before a change (Prometheus's `CopyState`): rules
    /// matched by kind, name and labels keep their alerts, health and last series, and no
    /// restore is needed.
    pub fn take_state_from(&mut self, old: &mut RuleGroup) {
        self.should_restore = old.should_restore;
        self.last_evaluation_ms = old.last_evaluation_ms;
        self.evaluation_seconds = old.evaluation_seconds;
        let mut taken = vec![false; old.rules.len()];
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let found = old
                .rules
                .iter_mut()
                .enumerate()
                .find(|(j, o)| !taken[*j] && rule_identity(o) == rule_identity(rule));
            let Some((j, old_rule)) = found else { continue };
            taken[j] = true;
            self.previous_series[i] = std::mem::take(&mut old.previous_series[j]);
            match (rule, old_rule) {
                (Rule::Alerting(new), Rule::Alerting(old)) => new.take_state_from(old),
                (Rule::Recording(new), Rule::Recording(old)) => new.take_state_from(old),
                _ => {}
            }
        }
    }

    /// Evaluates every rule at `ts_ms` (Unix ms), writes the results and sends the alerts.
    pub async fn eval(&mut self, deps: &GroupDeps, ts_ms: i64) {
        let started = Instant::now();
        let wall_ms = run::now_ms();
        let settings = &deps.settings;
        let ctx = EvalContext {
            signal: self.key.signal,
            tenant: &self.key.tenant,
            query: deps.query.as_ref(),
            query_offset: self.desc.query_offset.unwrap_or_default(),
            limit: self.desc.limit,
            external_labels: &settings.external_labels,
            external_url: &settings.external_url,
        };
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let rule_started = Instant::now();
            let previous = &mut self.previous_series[i];
            let result = eval_rule(rule, &ctx, deps, &self.metric_labels, previous, ts_ms).await;
            deps.metrics
                .rule_evaluated(&self.metric_labels, result.is_err());
            if let Err(e) = &result {
                tracing::warn!(tenant = %self.key.tenant, signal = %self.key.signal, namespace = %self.key.namespace, group = %self.key.name, rule = rule_name(rule), error = %e, "rule evaluation failed");
            }
            rule_status_mut(rule).record(&result, wall_ms, rule_started.elapsed());
            if let (Ok(()), Rule::Alerting(r)) = (&result, rule) {
                let alerts = r.alerts_to_send(
                    ts_ms,
                    settings.resend_delay,
                    self.interval,
                    &settings.external_url,
                );
                deps.notifier.send(&self.key.tenant, alerts);
            }
        }
        self.last_evaluation_ms = Some(wall_ms);
        self.evaluation_seconds = started.elapsed().as_secs_f64();
    }

    /// Restores the `for` state of the alerting rules at `now_ms` (after the second
    /// evaluation); a failed query is logged and the alerts keep their new `activeAt`.
    pub async fn restore(&mut self, deps: &GroupDeps, now_ms: i64) {
        if !std::mem::take(&mut self.should_restore) {
            return;
        }
        let ctx = EvalContext {
            signal: self.key.signal,
            tenant: &self.key.tenant,
            query: deps.query.as_ref(),
            query_offset: Duration::ZERO,
            limit: 0,
            external_labels: &deps.settings.external_labels,
            external_url: &deps.settings.external_url,
        };
        for rule in &mut self.rules {
            let Rule::Alerting(r) = rule else { continue };
            let restored = r
                .restore_for_state(&ctx, now_ms, deps.settings.restore)
                .await;
            if let Err(e) = restored {
                tracing::warn!(tenant = %self.key.tenant, group = %self.key.name, rule = r.name(), error = %e, "restoring alert state failed");
                r.set_restored();
            }
        }
    }

    /// A staleness marker at `ts_ms` for every series the rules wrote last: written when the
    /// group is deleted so that its series end at once.
    pub fn stale_markers(&self, ts_ms: i64) -> Vec<RuleSample> {
        self.previous_series
            .iter()
            .flatten()
            .map(|labels| RuleSample {
                labels: labels.clone(),
                value: STALE_NAN,
                timestamp_ms: ts_ms,
            })
            .collect()
    }

    /// Whether the next evaluation is followed by a restore.
    pub fn needs_restore(&self) -> bool {
        self.should_restore
    }

    /// The group as `/api/v1/rules` shows it.
    pub fn state(&self) -> RuleGroupState {
        RuleGroupState {
            name: self.key.name.clone(),
            file: self.key.namespace.clone(),
            rules: self
                .rules
                .iter()
                .map(|r| match r {
                    Rule::Alerting(r) => RuleStatus::Alerting(r.status()),
                    Rule::Recording(r) => RuleStatus::Recording(r.status()),
                })
                .collect(),
            interval: self.interval.as_secs_f64(),
            limit: self.desc.limit,
            evaluation_time: self.evaluation_seconds,
            last_evaluation_ms: self.last_evaluation_ms,
        }
    }

    /// Pending and firing alerts of every alerting rule.
    pub fn alerts(&self) -> Vec<AlertInstance> {
        self.rules
            .iter()
            .filter_map(|r| match r {
                Rule::Alerting(r) => Some(r.active_alerts()),
                Rule::Recording(_) => None,
            })
            .flatten()
            .collect()
    }

    pub(crate) fn metric_labels(&self) -> &GroupLabels {
        &self.metric_labels
    }
}

fn rule_status_mut(rule: &mut Rule) -> &mut RuleEvalStatus {
    match rule {
        Rule::Alerting(r) => r.status_mut(),
        Rule::Recording(r) => r.status_mut(),
    }
}

fn rule_name(rule: &Rule) -> &str {
    match rule {
        Rule::Alerting(r) => r.name(),
        Rule::Recording(r) => r.name(),
    }
}

/// Kind, name and labels: how a rule is recognised across a group change.
fn rule_identity(rule: &Rule) -> (bool, &str, &BTreeMap<String, String>) {
    match rule {
        Rule::Alerting(r) => (true, r.name(), &r.desc().labels),
        Rule::Recording(r) => (false, r.name(), &r.desc().labels),
    }
}

/// Evaluates one rule and writes its samples, with staleness markers for the series of
/// `previous` it no longer produces; `previous` becomes what was written.
async fn eval_rule(
    rule: &mut Rule,
    ctx: &EvalContext<'_>,
    deps: &GroupDeps,
    labels: &GroupLabels,
    previous: &mut BTreeSet<Labels>,
    ts_ms: i64,
) -> Result<(), RulerQueryError> {
    let samples = match rule {
        Rule::Alerting(r) => r.eval(ctx, ts_ms).await?,
        Rule::Recording(r) => r.eval(ctx, ts_ms).await?,
    };
    let sample_ts = ts_ms - ctx.query_offset.as_millis() as i64;
    let writer = deps.writer.as_ref();
    match write_with_stale_markers(writer, ctx.tenant, samples, previous, sample_ts).await {
        Ok(series) => {
            *previous = series;
            Ok(())
        }
        Err(e) => {
            deps.metrics.write_failed(labels);
            Err(e)
        }
    }
}

/// Writes `samples` plus a staleness marker for each series of `previous` not among them;
/// returns the series written.
async fn write_with_stale_markers(
    writer: &dyn SampleWriter,
    tenant: &TenantId,
    mut samples: Vec<RuleSample>,
    previous: &BTreeSet<Labels>,
    sample_ts: i64,
) -> Result<BTreeSet<Labels>, RulerQueryError> {
    let current: BTreeSet<Labels> = samples.iter().map(|s| s.labels.clone()).collect();
    samples.extend(previous.difference(&current).map(|labels| RuleSample {
        labels: labels.clone(),
        value: STALE_NAN,
        timestamp_ms: sample_ts,
    }));
    writer.write(tenant, samples).await?;
    Ok(current)
}
