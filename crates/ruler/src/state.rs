//! The observable state of rule groups, rules and alerts: what `/api/v1/rules` and
//! `/api/v1/alerts` return. The types serialize to Prometheus's JSON shapes (camelCase fields,
//! RFC 3339 timestamps, durations in seconds, the alert value as a Go `%e` string), so the API
//! hands them to `serde_json` as they are.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use sextant_model::{Signal, TenantId};

/// Read access to the rules this ruler evaluates, for the read APIs.
pub trait RulesStateView: Send + Sync {
    /// The groups of one tenant and signal, sorted by namespace then group name.
    fn rule_groups(&self, signal: Signal, tenant: &TenantId) -> Vec<RuleGroupState>;
    /// The active (pending or firing) alerts of one tenant and signal.
    fn alerts(&self, signal: Signal, tenant: &TenantId) -> Vec<AlertInstance>;
}

/// One rule group as Prometheus shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroupState {
    pub name: String,
    /// The namespace (Prometheus: the rule file).
    pub file: String,
    pub rules: Vec<RuleStatus>,
    /// Evaluation interval in seconds.
    pub interval: f64,
    pub limit: u64,
    /// Duration of the last evaluation of the whole group, in seconds.
    pub evaluation_time: f64,
    /// Start of the last evaluation (Unix ms); `None` before the first one.
    #[serde(rename = "lastEvaluation", serialize_with = "serialize_time_ms")]
    pub last_evaluation_ms: Option<i64>,
}

/// One rule and the outcome of its last evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RuleStatus {
    Alerting(AlertingRuleStatus),
    Recording(RecordingRuleStatus),
}

impl RuleStatus {
    pub fn name(&self) -> &str {
        match self {
            RuleStatus::Alerting(r) => &r.name,
            RuleStatus::Recording(r) => &r.name,
        }
    }
}

/// Whether the last evaluation of a rule succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuleHealth {
    #[default]
    Unknown,
    Ok,
    Err,
}

/// The state of an alert, and of an alerting rule (the most severe of its alerts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    #[default]
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// An alerting rule (`"type": "alerting"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertingRuleStatus {
    pub state: AlertState,
    pub name: String,
    pub query: String,
    /// `for`, in seconds.
    pub duration: f64,
    /// `keep_firing_for`, in seconds.
    pub keep_firing_for: f64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub alerts: Vec<AlertInstance>,
    pub health: RuleHealth,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    /// Seconds.
    pub evaluation_time: f64,
    #[serde(rename = "lastEvaluation", serialize_with = "serialize_time_ms")]
    pub last_evaluation_ms: Option<i64>,
}

/// A recording rule (`"type": "recording"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRuleStatus {
    pub name: String,
    pub query: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub health: RuleHealth,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    /// Seconds.
    pub evaluation_time: f64,
    #[serde(rename = "lastEvaluation", serialize_with = "serialize_time_ms")]
    pub last_evaluation_ms: Option<i64>,
}

/// One pending or firing alert (an element of `alerts` in both APIs).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertInstance {
    /// Expanded labels, `alertname` included.
    pub labels: BTreeMap<String, String>,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    #[serde(
        rename = "activeAt",
        serialize_with = "serialize_time_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub active_at_ms: Option<i64>,
    #[serde(
        rename = "keepFiringSince",
        serialize_with = "serialize_time_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub keep_firing_since_ms: Option<i64>,
    /// The query value that produced the alert (as Go's `%e`: `"1e+00"`).
    #[serde(serialize_with = "serialize_go_float")]
    pub value: f64,
}

fn serialize_time_ms<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_rfc3339_ms(*ms)),
        // Go's zero time, what Prometheus shows before the first evaluation.
        None => s.serialize_str("0001-01-01T00:00:00Z"),
    }
}

fn serialize_go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_go_float_e(*v))
}

/// `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest mantissa, a signed two-digit exponent.
pub fn format_go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let text = format!("{v:e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// Unix milliseconds as RFC 3339 in UTC (`2026-11-22T03:40:00.5Z`), fraction trimmed as Go does.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if millis != 0 {
        let frac = format!("{millis:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formatting_matches_prometheus() {
        let cases = [
            (1.0, "1e+00"),
            (0.5, "5e-01"),
            (1234.5, "1.2345e+03"),
            (-2.0, "-2e+00"),
            (1e100, "1e+100"),
            (0.0, "0e+00"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(format_go_float_e(v), want, "{v}");
        }
    }

    #[test]
    fn rfc3339_formatting() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_500, "1970-01-01T00:00:01.5Z"),
            (1_795_837_200_123, "2026-11-28T03:40:00.123Z"),
            (951_782_400_000, "2000-02-29T00:00:00Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_rfc3339_ms(ms), want, "{ms}");
        }
    }

    #[test]
    fn rule_group_serializes_in_prometheus_shape() {
        let group = RuleGroupState {
            name: "g".into(),
            file: "ns".into(),
            rules: vec![
                RuleStatus::Alerting(AlertingRuleStatus {
                    state: AlertState::Firing,
                    name: "High".into(),
                    query: "up == 0".into(),
                    duration: 60.0,
                    keep_firing_for: 0.0,
                    labels: BTreeMap::from([("severity".into(), "page".into())]),
                    annotations: BTreeMap::new(),
                    alerts: vec![AlertInstance {
                        labels: BTreeMap::from([("alertname".into(), "High".into())]),
                        annotations: BTreeMap::new(),
                        state: AlertState::Firing,
                        active_at_ms: Some(0),
                        keep_firing_since_ms: None,
                        value: 1.0,
                    }],
                    health: RuleHealth::Ok,
                    last_error: String::new(),
                    evaluation_time: 0.25,
                    last_evaluation_ms: Some(1000),
                }),
                RuleStatus::Recording(RecordingRuleStatus {
                    name: "r".into(),
                    query: "sum(up)".into(),
                    labels: BTreeMap::new(),
                    health: RuleHealth::Err,
                    last_error: "boom".into(),
                    evaluation_time: 0.0,
                    last_evaluation_ms: None,
                }),
            ],
            interval: 60.0,
            limit: 0,
            evaluation_time: 0.5,
            last_evaluation_ms: None,
        };
        let json = serde_json::to_value(&group).unwrap();
        let want = serde_json::json!({
            "name": "g", "file": "ns", "interval": 60.0, "limit": 0, "evaluationTime": 0.5,
            "lastEvaluation": "0001-01-01T00:00:00Z",
            "rules": [
                {"type": "alerting", "state": "firing", "name": "High", "query": "up == 0",
                 "duration": 60.0, "keepFiringFor": 0.0, "labels": {"severity": "page"},
                 "annotations": {}, "health": "ok", "evaluationTime": 0.25,
                 "lastEvaluation": "1970-01-01T00:00:01Z",
                 "alerts": [{"labels": {"alertname": "High"}, "annotations": {},
                             "state": "firing", "activeAt": "1970-01-01T00:00:00Z",
                             "value": "1e+00"}]},
                {"type": "recording", "name": "r", "query": "sum(up)", "health": "err",
                 "lastError": "boom", "evaluationTime": 0.0,
                 "lastEvaluation": "0001-01-01T00:00:00Z"}
            ]
        });
        assert_eq!(json, want);
    }
}
