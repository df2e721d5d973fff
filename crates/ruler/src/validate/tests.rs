use super::*;

fn group(yaml: &str) -> RuleGroupDesc {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

#[test]
fn valid_groups_pass() {
    let metrics = group(
        r#"
name: g
interval: 30s
rules:
  - record: job:up:sum
    expr: sum by (job) (up)
    labels: {team: a}
  - alert: HighErrors
    expr: rate(errors_total[5m]) > 0.5
    for: 10m
    keep_firing_for: 5m
    labels: {severity: "{{ if gt $value 1.0 }}page{{ else }}ticket{{ end }}"}
    annotations: {summary: "{{ $labels.job }} at {{ $value | humanizePercentage }}"}
"#,
    );
    validate_group(Signal::Metrics, &metrics).unwrap();
    let logs = group(
        r#"
name: lg
rules:
  - alert: LogErrors
    expr: 'sum(rate({app="x"} |= "error" [1m])) > 0'
  - record: app:lines:rate1m
    expr: 'sum by (app) (rate({app=~".+"}[1m]))'
"#,
    );
    validate_group(Signal::Logs, &logs).unwrap();
}

#[test]
fn each_problem_names_group_and_rule() {
    // (signal, group yaml, expected message fragment)
    let cases = [
        (
            Signal::Metrics,
            "name: ''\nrules: [{record: a, expr: up}]",
            "group \"\": group name must not be empty",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: []",
            "group \"g\": a group must have at least one rule",
        ),
        (
            Signal::Metrics,
            "name: g\ninterval: 0s\nrules: [{record: a, expr: up}]",
            "interval must be greater than 0",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{expr: up}]",
            "group \"g\", rule 1 (\"\"): one of 'record' or 'alert' must be set",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{record: a, alert: B, expr: up}]",
            "only one of 'record' and 'alert' must be set",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{record: a, expr: up}, {alert: HighErrors, expr: 'sum(('}]",
            "group \"g\", rule 2 (\"HighErrors\"): bad expr:",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{record: 'bad name', expr: up}]",
            "invalid recording rule name \"bad name\"",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{record: a, expr: up, for: 1m}]",
            "invalid field 'for' in recording rule",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{record: a, expr: up, keep_firing_for: 1m}]",
            "invalid field 'keep_firing_for'",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{record: a, expr: up, annotations: {a: b}}]",
            "invalid field 'annotations' in recording rule",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{alert: A, expr: up, labels: {'1x': b}}]",
            "invalid label name \"1x\"",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{alert: A, expr: up, labels: {__name__: b}}]",
            "invalid label name \"__name__\"",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{alert: A, expr: up, annotations: {'a-b': b}}]",
            "invalid annotation name \"a-b\"",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{alert: A, expr: up, annotations: {s: '{{ $labels.job'}}]",
            "bad annotation template \"s\": template: 1:1: unclosed action",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{alert: A, expr: up, labels: {s: '{{ nope }}'}}]",
            "bad label template \"s\"",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{alert: ' ', expr: up}]",
            "alert name must not be empty",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{alert: A, expr: ''}]",
            "field 'expr' must be set in rule",
        ),
        (
            Signal::Logs,
            "name: g\nrules: [{alert: A, expr: '{app=\"x\"} |= \"error\"'}]",
            "a logs rule needs a metric query",
        ),
        (
            Signal::Logs,
            "name: g\nrules: [{alert: A, expr: 'sum(rate(up[5m]))'}]",
            "bad expr",
        ),
        (
            Signal::Metrics,
            "name: g\nrules: [{alert: A, expr: 'sum(rate({app=\"x\"} |= \"e\" [1m]))'}]",
            "bad expr",
        ),
        (
            Signal::Traces,
            "name: g\nrules: [{record: a, expr: up}]",
            "traces has no rules",
        ),
    ];
    for (signal, yaml, want) in cases {
        let err = validate_group(signal, &group(yaml)).expect_err(yaml);
        assert!(matches!(err, RulerError::Invalid(_)), "{err}");
        assert!(
            err.to_string().contains(want),
            "{yaml}\n got: {err}\nwant: {want}"
        );
    }
}

#[test]
fn all_problems_are_reported_together() {
    let g = group(
        "name: g\nrules: [{record: 'a b', expr: 'sum(('}, {alert: X, expr: up, labels: {'-': x}}]",
    );
    let message = validate_group(Signal::Metrics, &g).unwrap_err().to_string();
    for want in [
        "rule 1 (\"a b\"): invalid recording rule name",
        "rule 1 (\"a b\"): bad expr",
        "rule 2 (\"X\"): invalid label name",
    ] {
        assert!(message.contains(want), "{message}");
    }
}

#[test]
fn duplicate_groups_in_a_namespace_are_refused() {
    let a = group("name: same\nrules: [{record: a, expr: up}]");
    let b = group("name: other\nrules: [{record: a, expr: up}]");
    validate_namespace(Signal::Metrics, &[a.clone(), b.clone()]).unwrap();
    let err = validate_namespace(Signal::Metrics, &[a.clone(), b, a]).unwrap_err();
    assert!(
        err.to_string()
            .contains("group \"same\": is repeated in the same namespace"),
        "{err}"
    );
    assert!(validate_namespace_name("").is_err());
    assert!(validate_namespace_name("ns").is_ok());
}
