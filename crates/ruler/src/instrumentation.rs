//! `sextant_ruler_*` self-metrics, registered on an injected registry. Group metrics carry the
//! tenant and `rule_group` (`<namespace>;<group>`, as Prometheus's `<file>;<group>`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The labels of a group's metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub signal: &'static str,
    pub tenant: String,
    pub rule_group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabels {
    signal: &'static str,
}

/// The ruler's metrics; cheap to clone (shared families).
#[derive(Clone, Default)]
pub struct RulerMetrics {
    group_last_duration: Family<GroupLabels, Gauge<f64, AtomicU64>>,
    group_iterations: Family<GroupLabels, Counter>,
    group_iterations_missed: Family<GroupLabels, Counter>,
    evaluations: Family<GroupLabels, Counter>,
    evaluation_failures: Family<GroupLabels, Counter>,
    write_failures: Family<GroupLabels, Counter>,
    notifications_sent: Family<TenantLabels, Counter>,
    notifications_errors: Family<TenantLabels, Counter>,
    notifications_dropped: Family<TenantLabels, Counter>,
    notifications_queue_length: Family<TenantLabels, Gauge>,
    owned_groups: Family<SignalLabels, Gauge>,
}

impl RulerMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = RulerMetrics::default();
        let r = registry.sub_registry_with_prefix("sextant_ruler");
        r.register(
            "group_last_duration_seconds",
            "Duration of the last evaluation of a rule group.",
            m.group_last_duration.clone(),
        );
        r.register(
            "group_iterations",
            "Evaluations of a rule group run.",
            m.group_iterations.clone(),
        );
        r.register(
            "group_iterations_missed",
            "Evaluations of a rule group skipped because the previous one ran too long.",
            m.group_iterations_missed.clone(),
        );
        r.register("evaluations", "Rule evaluations.", m.evaluations.clone());
        r.register(
            "evaluation_failures",
            "Rule evaluations that failed.",
            m.evaluation_failures.clone(),
        );
        r.register(
            "write_failures",
            "Writes of rule results (recordings, ALERTS) that failed.",
            m.write_failures.clone(),
        );
        m.register_notifications(r);
        r.register(
            "owned_groups",
            "Rule groups this ruler evaluates.",
            m.owned_groups.clone(),
        );
        m
    }

    fn register_notifications(&self, r: &mut Registry) {
        r.register(
            "notifications_sent",
            "Alerts sent to Alertmanager.",
            self.notifications_sent.clone(),
        );
        r.register(
            "notifications_errors",
            "Alerts whose sending to Alertmanager failed.",
            self.notifications_errors.clone(),
        );
        r.register(
            "notifications_dropped",
            "Alerts dropped because a notification queue was full.",
            self.notifications_dropped.clone(),
        );
        r.register(
            "notifications_queue_length",
            "Alerts waiting to be sent.",
            self.notifications_queue_length.clone(),
        );
    }

    pub(crate) fn group_evaluated(&self, group: &GroupLabels, seconds: f64, missed: u64) {
        self.group_last_duration.get_or_create(group).set(seconds);
        self.group_iterations
            .get_or_create(group)
            .inc_by(1 + missed);
        self.group_iterations_missed
            .get_or_create(group)
            .inc_by(missed);
    }

    pub(crate) fn rule_evaluated(&self, group: &GroupLabels, failed: bool) {
        self.evaluations.get_or_create(group).inc();
        if failed {
            self.evaluation_failures.get_or_create(group).inc();
        }
    }

    pub(crate) fn write_failed(&self, group: &GroupLabels) {
        self.write_failures.get_or_create(group).inc();
    }

    pub(crate) fn notifications_sent(&self, tenant: &str, n: usize) {
        self.notifications_sent
            .get_or_create(&tenant_labels(tenant))
            .inc_by(n as u64);
    }

    pub(crate) fn notifications_failed(&self, tenant: &str, n: usize) {
        self.notifications_errors
            .get_or_create(&tenant_labels(tenant))
            .inc_by(n as u64);
    }

    pub(crate) fn notifications_dropped(&self, tenant: &str, n: usize) {
        self.notifications_dropped
            .get_or_create(&tenant_labels(tenant))
            .inc_by(n as u64);
    }

    pub(crate) fn queue_length_changed(&self, tenant: &str, delta: i64) {
        self.notifications_queue_length
            .get_or_create(&tenant_labels(tenant))
            .inc_by(delta);
    }

    pub(crate) fn set_owned_groups(&self, signal: &'static str, n: usize) {
        self.owned_groups
            .get_or_create(&SignalLabels { signal })
            .set(n as i64);
    }

    /// Evaluations counted for a group (tests).
    #[cfg(test)]
    pub(crate) fn evaluation_counts(&self, group: &GroupLabels) -> (u64, u64) {
        (
            self.evaluations.get_or_create(group).get(),
            self.evaluation_failures.get_or_create(group).get(),
        )
    }

    /// Alerts whose send failed for a tenant (tests).
    #[cfg(test)]
    pub(crate) fn notification_errors(&self, tenant: &str) -> u64 {
        self.notifications_errors
            .get_or_create(&tenant_labels(tenant))
            .get()
    }

    /// Alerts dropped for a tenant (tests).
    #[cfg(test)]
    pub(crate) fn dropped(&self, tenant: &str) -> u64 {
        self.notifications_dropped
            .get_or_create(&tenant_labels(tenant))
            .get()
    }
}

fn tenant_labels(tenant: &str) -> TenantLabels {
    TenantLabels {
        tenant: tenant.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn exported_names() {
        let mut registry = Registry::default();
        let metrics = RulerMetrics::new(&mut registry);
        let group = GroupLabels {
            signal: "metrics",
            tenant: "t".into(),
            rule_group: "ns;g".into(),
        };
        metrics.group_evaluated(&group, 0.5, 2);
        metrics.rule_evaluated(&group, true);
        metrics.notifications_dropped("t", 3);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        let wanted = [
            r#"sextant_ruler_group_last_duration_seconds{signal="metrics",tenant="t",rule_group="ns;g"} 0.5"#,
            r#"sextant_ruler_group_iterations_total{signal="metrics",tenant="t",rule_group="ns;g"} 3"#,
            r#"sextant_ruler_group_iterations_missed_total{signal="metrics",tenant="t",rule_group="ns;g"} 2"#,
            r#"sextant_ruler_evaluations_total{signal="metrics",tenant="t",rule_group="ns;g"} 1"#,
            r#"sextant_ruler_evaluation_failures_total{signal="metrics",tenant="t",rule_group="ns;g"} 1"#,
            r#"sextant_ruler_notifications_dropped_total{tenant="t"} 3"#,
        ];
        for line in wanted {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
