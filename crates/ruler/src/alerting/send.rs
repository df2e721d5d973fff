//! Which alerts go to Alertmanager after an evaluation (Prometheus's `sendAlerts` and
//! `needsSending`): firing alerts every `resend_delay` with `endsAt` four intervals ahead,
//! resolved alerts with `endsAt` = their resolution time.

use std::time::Duration;

use super::{labels_map, Alert, AlertingRule};
use crate::notifier::PostableAlert;
use crate::state::AlertState;

impl AlertingRule {
    /// The alerts to send at `ts_ms`, marking them sent.
    pub fn alerts_to_send(
        &mut self,
        ts_ms: i64,
        resend_delay: Duration,
        interval: Duration,
        external_url: &str,
    ) -> Vec<PostableAlert> {
        let delta_ms = resend_delay.max(interval).as_millis() as i64;
        let resend_ms = resend_delay.as_millis() as i64;
        let generator_url = generator_url(external_url, &self.desc.expr);
        let mut out = Vec::new();
        for alert in self.active.values_mut() {
            if !needs_sending(alert, ts_ms, resend_ms) {
                continue;
            }
            alert.last_sent_at_ms = Some(ts_ms);
            alert.valid_until_ms = ts_ms + 4 * delta_ms;
            out.push(PostableAlert {
                labels: labels_map(&alert.labels),
                annotations: alert.annotations.clone(),
                starts_at_ms: alert.fired_at_ms.unwrap_or(alert.active_at_ms),
                ends_at_ms: alert.resolved_at_ms.unwrap_or(alert.valid_until_ms),
                generator_url: generator_url.clone(),
            });
        }
        out
    }
}

fn needs_sending(alert: &Alert, ts_ms: i64, resend_ms: i64) -> bool {
    if alert.state == AlertState::Pending {
        return false;
    }
    let last_sent = alert.last_sent_at_ms.unwrap_or(i64::MIN);
    // Resolved since the last send: send the resolution now.
    if alert.resolved_at_ms.is_some_and(|r| r > last_sent) {
        return true;
    }
    last_sent.saturating_add(resend_ms) < ts_ms
}

/// Prometheus's link to the expression: `{external_url}/graph?g0.expr=..&g0.tab=1`.
pub(crate) fn generator_url(external_url: &str, expr: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("g0.expr", expr)
        .append_pair("g0.tab", "1")
        .finish();
    format!("{}/graph?{query}", external_url.trim_end_matches('/'))
}
