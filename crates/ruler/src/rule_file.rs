//! The Prometheus rule-file format: what the rules API accepts and returns as YAML, what rule
//! storage holds (one group per object) and what the local rule directory contains.
//! Shape only; [`crate::validate`] checks the contents.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A rule file: `groups:` and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroupsFile {
    #[serde(default)]
    pub groups: Vec<RuleGroupDesc>,
}

/// One rule group, as in Prometheus (plus Mimir's `source_tenants`, accepted and kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroupDesc {
    pub name: String,
    /// Evaluation interval; `None` = the ruler's `evaluation_interval`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    pub interval: Option<Duration>,
    /// How far back in time each evaluation queries (Prometheus's `query_offset`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    pub query_offset: Option<Duration>,
    /// Most series a rule may produce per evaluation; 0 = no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_tenants: Vec<String>,
    #[serde(default)]
    pub rules: Vec<RuleDesc>,
}

/// One recording (`record`) or alerting (`alert`) rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDesc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    /// How long the condition must hold before the alert fires (`for`).
    #[serde(
        default,
        rename = "for",
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    pub for_: Option<Duration>,
    /// How long a firing alert keeps firing after its condition cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    pub keep_firing_for: Option<Duration>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Optional Prometheus durations (`30s`, `1h30m`), written back in the same form.
mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&sextant_model::duration::format(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| sextant_model::duration::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_rule_file_round_trips() {
        let yaml = r#"
groups:
  - name: example
    interval: 30s
    query_offset: 1m
    limit: 10
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
      - alert: HighErrorRate
        expr: job:http_errors:rate5m > 0.5
        for: 10m
        keep_firing_for: 5m
        labels:
          severity: page
        annotations:
          summary: "High error rate on {{ $labels.job }}"
"#;
        let file: RuleGroupsFile = serde_yaml::from_str(yaml).unwrap();
        let group = &file.groups[0];
        assert_eq!(group.interval, Some(Duration::from_secs(30)));
        assert_eq!(group.query_offset, Some(Duration::from_secs(60)));
        assert_eq!(group.limit, 10);
        assert_eq!(group.rules[1].for_, Some(Duration::from_secs(600)));
        assert_eq!(
            group.rules[1].keep_firing_for,
            Some(Duration::from_secs(300))
        );
        assert_eq!(group.rules[1].labels["severity"], "page");
        let again: RuleGroupsFile =
            serde_yaml::from_str(&serde_yaml::to_string(&file).unwrap()).unwrap();
        assert_eq!(again, file);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let yaml = "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        bogus: 1\n";
        assert!(serde_yaml::from_str::<RuleGroupsFile>(yaml).is_err());
    }
}
