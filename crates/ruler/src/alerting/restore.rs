//! Restoring `for` state after a restart (Prometheus's `RestoreForState`): the active alerts
//! of the first evaluations start over as pending; each takes back the `activeAt` its
//! `ALERTS_FOR_STATE` series last recorded, shifted by the outage so that it still waits the
//! rest of `for`, and at least `for_grace_period`.

use std::time::Duration;

use sextant_model::Labels;

use super::{for_state_labels, AlertingRule, ALERTS_FOR_STATE_METRIC, ALERT_NAME_LABEL};
use crate::client::{is_stale_nan, LatestSample, RulerQueryError};
use crate::group::EvalContext;

/// Settings of a restore.
#[derive(Debug, Clone, Copy)]
pub struct RestoreSettings {
    /// Only state written within this long before the restore counts.
    pub outage_tolerance: Duration,
    /// Least time a restored alert still waits before firing.
    pub grace_period: Duration,
}

impl AlertingRule {
    /// Restores `activeAt` of the active alerts from `ALERTS_FOR_STATE` at `ts_ms`, then
    /// marks the rule restored. Rules whose `for` is shorter than the grace period skip it.
    pub async fn restore_for_state(
        &mut self,
        ctx: &EvalContext<'_>,
        ts_ms: i64,
        settings: RestoreSettings,
    ) -> Result<(), RulerQueryError> {
        if self.hold < settings.grace_period || self.active.is_empty() {
            self.restored = true;
            return Ok(());
        }
        let selector = format!(
            "{ALERTS_FOR_STATE_METRIC}{{{ALERT_NAME_LABEL}={}}}",
            promql_string(&self.name)
        );
        let series = ctx
            .query
            .latest_samples(ctx.tenant, &selector, ts_ms, settings.outage_tolerance)
            .await?;
        self.apply_restore(&series, ts_ms, settings);
        self.restored = true;
        Ok(())
    }

    fn apply_restore(&mut self, series: &[LatestSample], ts_ms: i64, settings: RestoreSettings) {
        let hold_ms = self.hold.as_millis() as i64;
        let grace_ms = settings.grace_period.as_millis() as i64;
        for alert in self.active.values_mut() {
            let wanted: Labels = for_state_labels(&alert.labels);
            let Some(last) = series.iter().find(|s| s.labels == wanted) else {
                continue;
            };
            if is_stale_nan(last.value) || !last.value.is_finite() {
                continue;
            }
            // Prometheus works in whole seconds here.
            let down_at_ms = last.timestamp_ms.div_euclid(1000) * 1000;
            let mut active_at_ms = (last.value as i64).saturating_mul(1000);
            let remaining_ms = hold_ms - (down_at_ms - active_at_ms);
            if remaining_ms <= 0 {
                // It was firing: the next evaluation fires it again.
            } else if remaining_ms < grace_ms {
                active_at_ms = ts_ms + grace_ms - hold_ms;
            } else {
                active_at_ms += ts_ms - down_at_ms;
            }
            alert.active_at_ms = active_at_ms;
        }
    }
}

/// A PromQL double-quoted string literal.
fn promql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
