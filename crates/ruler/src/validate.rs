//! Checks a rule group before it is stored or loaded, as Prometheus's `rulefmt` does, plus
//! the query language of the signal: PromQL for metrics, a LogQL *metric* query for logs.
//! Every problem is reported, each naming its group and rule:
//! `group "x", rule 2 ("HighErrors"): bad expr: ...`.

use std::collections::BTreeMap;
use std::collections::HashSet;

use sextant_model::labels::{is_valid_label_name, is_valid_metric_name};
use sextant_model::Signal;

use crate::error::RulerError;
use crate::rule_file::{RuleDesc, RuleGroupDesc};
use crate::template::Template;

/// Validates the groups of one namespace: each group, and no group name twice.
pub fn validate_namespace(signal: Signal, groups: &[RuleGroupDesc]) -> Result<(), RulerError> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for group in groups {
        if !seen.insert(group.name.as_str()) {
            problems.push(format!(
                "group {:?}: is repeated in the same namespace",
                group.name
            ));
        }
        problems.extend(group_problems(signal, group));
    }
    into_result(problems)
}

/// Validates one group.
pub fn validate_group(signal: Signal, group: &RuleGroupDesc) -> Result<(), RulerError> {
    into_result(group_problems(signal, group))
}

/// Validates a namespace name given in an API path.
pub fn validate_namespace_name(namespace: &str) -> Result<(), RulerError> {
    if namespace.trim().is_empty() {
        return Err(RulerError::Invalid(
            "a namespace must be provided in the request".into(),
        ));
    }
    Ok(())
}

fn into_result(problems: Vec<String>) -> Result<(), RulerError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RulerError::Invalid(problems.join("; ")))
    }
}

fn group_problems(signal: Signal, group: &RuleGroupDesc) -> Vec<String> {
    let mut problems = Vec::new();
    let at = format!("group {:?}", group.name);
    if group.name.trim().is_empty() {
        problems.push(format!("{at}: group name must not be empty"));
    }
    if group.rules.is_empty() {
        problems.push(format!("{at}: a group must have at least one rule"));
    }
    if group.interval.is_some_and(|d| d.is_zero()) {
        problems.push(format!("{at}: interval must be greater than 0"));
    }
    if !matches!(signal, Signal::Metrics | Signal::Logs) {
        problems.push(format!("{at}: {signal} has no rules"));
    }
    for (i, rule) in group.rules.iter().enumerate() {
        let name = rule
            .record
            .as_deref()
            .or(rule.alert.as_deref())
            .unwrap_or("");
        let at = format!("{at}, rule {} ({name:?})", i + 1);
        problems.extend(
            rule_problems(signal, rule)
                .into_iter()
                .map(|p| format!("{at}: {p}")),
        );
    }
    problems
}

/// What is wrong with one rule, without the group/rule prefix.
fn rule_problems(signal: Signal, rule: &RuleDesc) -> Vec<String> {
    let mut problems = Vec::new();
    match (&rule.record, &rule.alert) {
        (None, None) => problems.push("one of 'record' or 'alert' must be set".to_string()),
        (Some(_), Some(_)) => {
            problems.push("only one of 'record' and 'alert' must be set".to_string())
        }
        (Some(record), None) => problems.extend(recording_problems(record, rule)),
        (None, Some(alert)) => {
            if alert.trim().is_empty() {
                problems.push("alert name must not be empty".to_string());
            }
        }
    }
    if let Err(e) = check_expr(signal, &rule.expr) {
        problems.push(format!("bad expr: {e}"));
    }
    for name in rule.labels.keys() {
        if !is_valid_label_name(name.as_bytes()) || name == "__name__" {
            problems.push(format!("invalid label name {name:?}"));
        }
    }
    for name in rule.annotations.keys() {
        if !is_valid_label_name(name.as_bytes()) {
            problems.push(format!("invalid annotation name {name:?}"));
        }
    }
    problems.extend(template_problems("label", &rule.labels));
    problems.extend(template_problems("annotation", &rule.annotations));
    problems
}

fn recording_problems(record: &str, rule: &RuleDesc) -> Vec<String> {
    let mut problems = Vec::new();
    if !is_valid_metric_name(record.as_bytes()) {
        problems.push(format!("invalid recording rule name {record:?}"));
    }
    if rule.for_.is_some() {
        problems.push("invalid field 'for' in recording rule".to_string());
    }
    if rule.keep_firing_for.is_some() {
        problems.push("invalid field 'keep_firing_for' in recording rule".to_string());
    }
    if !rule.annotations.is_empty() {
        problems.push("invalid field 'annotations' in recording rule".to_string());
    }
    problems
}

fn template_problems(what: &str, templates: &BTreeMap<String, String>) -> Vec<String> {
    templates
        .iter()
        .filter_map(|(name, text)| {
            Template::parse(text)
                .err()
                .map(|e| format!("bad {what} template {name:?}: {e}"))
        })
        .collect()
}

/// Parses `expr` in the signal's query language.
fn check_expr(signal: Signal, expr: &str) -> Result<(), String> {
    if expr.trim().is_empty() {
        return Err("field 'expr' must be set in rule".to_string());
    }
    match signal {
        Signal::Metrics => sextant_metrics::promql::parse::parse(expr, 0)
            .map(drop)
            .map_err(|e| e.to_string()),
        Signal::Logs => sextant_logs::logql::parse::parse_sample_expr(expr)
            .map(drop)
            .map_err(|e| format!("{e} (a logs rule needs a metric query)")),
        Signal::Traces => Err("traces have no rules".to_string()),
    }
}

#[cfg(test)]
mod tests;
