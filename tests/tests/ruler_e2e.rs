//! The ruler end to end, with a real Alertmanager (`prometheus-alertmanager`) on loopback:
//! a PromQL alert over remote-written data fires with its labels and annotations expanded
//! and resolves (and another tenant sees none of it); a LogQL alert over pushed log lines
//! does the same; a recording rule's output equals its expression evaluated directly.
//! `ruler_ha_e2e.rs` runs two rulers.
//!
//! Ignored like every e2e test: `cargo build -p sextant-server`, then
//! `cargo test -p sextant-e2e --test ruler_e2e -- --ignored --nocapture`.

#[path = "ruler/support.rs"]
mod support;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use sextant_e2e::wait::wait_for;

use support::{
    now_ms, push_gauge, push_log_lines, push_series, start_alertmanager, start_ruler_all, RulerApi,
    TENANT, TENANT_B,
};

const TEMP_GROUP: &str = r#"
name: temperature
interval: 1s
rules:
  - alert: E2ETempHigh
    expr: e2e_temp > 50
    for: 2s
    labels:
      severity: page
      team: "{{ $labels.room }}"
    annotations:
      summary: "{{ $labels.room }} is {{ $value }} degrees"
      description: "{{ $labels.room }} reads {{ $value | humanize }} (over {{ 50 | humanize }})"
"#;

/// The labels Alertmanager must show for the kitchen at 1500 degrees: the series' labels
/// without `__name__`, the rule's labels expanded, the external label.
const TEMP_ALERT_LABELS: [(&str, &str); 5] = [
    ("alertname", "E2ETempHigh"),
    ("cluster", "e2e"),
    ("room", "kitchen"),
    ("severity", "page"),
    ("team", "kitchen"),
];

/// Its annotations, expanded with `$labels`, `$value` and `humanize`.
const TEMP_ALERT_ANNOTATIONS: [(&str, &str); 2] = [
    ("description", "kitchen reads 1.5k (over 50)"),
    ("summary", "kitchen is 1500 degrees"),
];

#[tokio::test]
#[ignore = "e2e: needs target/debug/sextant and prometheus-alertmanager"]
async fn e2e_ruler_promql_alert_fires_in_alertmanager_and_resolves() -> Result<()> {
    let am = start_alertmanager().await?;
    // A resend delay far longer than the test: Alertmanager holds a firing alert for four
    // delays, so it can only disappear within the test through an explicit resolution.
    let (process, _config) = start_ruler_all(&am, &["-ruler.resend-delay=30s"]).await?;
    let api = RulerApi::new(&process, TENANT)?;
    api.post_group("/prometheus/config/v1/rules/e2e", TEMP_GROUP)
        .await?;
    api.wait_group_loaded("temperature").await?;

    let pushed_high = Instant::now();
    push_gauge(
        &process,
        "e2e_temp",
        &[("room", "kitchen")],
        now_ms(),
        1500.0,
    )
    .await?;
    let pending = wait_for(Duration::from_secs(10), "ruler alert pending", || async {
        let alerts = api.ruler_alerts().await?;
        Ok(alerts.iter().any(|a| a["state"] == "pending").then_some(()))
    })
    .await;
    pending.context("the alert never went pending")?;
    let fired = wait_for(Duration::from_secs(20), "alert in alertmanager", || async {
        let alerts = am.alerts_named("E2ETempHigh").await?;
        Ok((!alerts.is_empty()).then_some(alerts))
    })
    .await
    .with_context(|| process.logs_tail())?;
    let time_to_fire = pushed_high.elapsed();
    ensure!(fired.len() == 1, "one alert expected: {fired:?}");
    let got_labels: Vec<(&str, &str)> = fired[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ensure!(got_labels == TEMP_ALERT_LABELS, "labels: {got_labels:?}");
    let got_annotations: Vec<(&str, &str)> = fired[0]
        .annotations
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ensure!(
        got_annotations == TEMP_ALERT_ANNOTATIONS,
        "annotations: {got_annotations:?}"
    );
    ensure!(fired[0].status.state == "active", "{:?}", fired[0].status);
    ensure!(
        time_to_fire >= Duration::from_secs(2),
        "fired before `for: 2s` elapsed: {time_to_fire:?}"
    );
    let firing = api.ruler_alerts().await?;
    ensure!(
        firing.len() == 1 && firing[0]["state"] == "firing",
        "{firing:?}"
    );
    ensure!(api.rule_state("E2ETempHigh").await? == "firing");
    let alerts_series = api
        .query(r#"ALERTS{alertname="E2ETempHigh",alertstate="firing"}"#)
        .await?;
    ensure!(alerts_series.len() == 1, "ALERTS series: {alerts_series:?}");

    let other = RulerApi::new(&process, TENANT_B)?;
    ensure!(
        other.rule_groups().await?.is_empty(),
        "tenant B sees groups"
    );
    ensure!(
        other.ruler_alerts().await?.is_empty(),
        "tenant B sees alerts"
    );

    let pushed_low = Instant::now();
    push_gauge(&process, "e2e_temp", &[("room", "kitchen")], now_ms(), 20.0).await?;
    wait_for(
        Duration::from_secs(15),
        "alert resolved in alertmanager",
        || async {
            Ok(am
                .alerts_named("E2ETempHigh")
                .await?
                .is_empty()
                .then_some(()))
        },
    )
    .await
    .with_context(|| process.logs_tail())?;
    let time_to_resolve = pushed_low.elapsed();
    ensure!(am.received_total("resolved").await? >= 1.0);
    ensure!(api.ruler_alerts().await?.is_empty());
    ensure!(api.rule_state("E2ETempHigh").await? == "inactive");
    eprintln!("promql alert: fired {time_to_fire:?} after the push, resolved {time_to_resolve:?} after the low push");
    Ok(())
}

const LOGS_GROUP: &str = r#"
name: log-errors
interval: 1s
rules:
  - alert: E2ELogErrors
    expr: sum(rate({app="x"} |= "error" [10s])) > 0
    for: 0s
    labels:
      severity: ticket
    annotations:
      summary: "errors at {{ $value }} lines/s"
"#;

#[tokio::test]
#[ignore = "e2e: needs target/debug/sextant and prometheus-alertmanager"]
async fn e2e_ruler_logql_alert_fires_in_alertmanager_and_resolves() -> Result<()> {
    let am = start_alertmanager().await?;
    let (process, _config) = start_ruler_all(&am, &["-ruler.resend-delay=1s"]).await?;
    let api = RulerApi::new(&process, TENANT)?;
    api.post_group("/loki/api/v1/rules/e2e-logs", LOGS_GROUP)
        .await?;
    api.wait_group_loaded("log-errors").await?;

    let started = Instant::now();
    let fired = wait_for(
        Duration::from_secs(30),
        "log alert in alertmanager",
        || async {
            push_log_lines(&process, &[("app", "x")], &["level=error msg=boom", "ok"]).await?;
            let alerts = am.alerts_named("E2ELogErrors").await?;
            Ok((!alerts.is_empty()).then_some(alerts))
        },
    )
    .await
    .with_context(|| process.logs_tail())?;
    let time_to_fire = started.elapsed();
    ensure!(fired.len() == 1, "{fired:?}");
    let labels: Vec<(&str, &str)> = fired[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ensure!(
        labels
            == [
                ("alertname", "E2ELogErrors"),
                ("cluster", "e2e"),
                ("severity", "ticket")
            ],
        "labels: {labels:?}"
    );
    let summary = &fired[0].annotations["summary"];
    ensure!(
        summary.starts_with("errors at ")
            && summary.ends_with(" lines/s")
            && summary != "errors at 0 lines/s",
        "summary: {summary}"
    );

    let stopped = Instant::now();
    wait_for(Duration::from_secs(40), "log alert resolved", || async {
        Ok(am
            .alerts_named("E2ELogErrors")
            .await?
            .is_empty()
            .then_some(()))
    })
    .await
    .with_context(|| process.logs_tail())?;
    let time_to_resolve = stopped.elapsed();
    ensure!(
        time_to_resolve >= Duration::from_secs(5),
        "resolved before the 10s range emptied: {time_to_resolve:?}"
    );
    ensure!(api.rule_state("E2ELogErrors").await? == "inactive");
    eprintln!("logql alert: fired {time_to_fire:?} after the first error line, resolved {time_to_resolve:?} after the last");
    Ok(())
}

const RECORDING_GROUP: &str = r#"
name: requests
interval: 1s
rules:
  - record: job:e2e_requests:rate1m
    expr: sum by (job) (rate(e2e_requests_total[1m]))
"#;

#[tokio::test]
#[ignore = "e2e: needs target/debug/sextant and prometheus-alertmanager"]
async fn e2e_ruler_recording_rule_matches_the_expression() -> Result<()> {
    let am = start_alertmanager().await?;
    let (process, _config) = start_ruler_all(&am, &[]).await?;
    let api = RulerApi::new(&process, TENANT)?;
    // Two jobs of two instances, counters over the last two minutes at a 5 s step, the
    // newest sample a few seconds old so evaluations after the push see all of it.
    let end = now_ms() - 3_000;
    for (job, instance, per_step) in [("api", "a", 3.0), ("api", "b", 7.5), ("db", "a", 0.25)] {
        let samples: Vec<(i64, f64)> = (0..25)
            .map(|i| (end - (24 - i) * 5_000, per_step * i as f64))
            .collect();
        push_series(
            &process,
            &[
                ("__name__", "e2e_requests_total"),
                ("instance", instance),
                ("job", job),
            ],
            &samples,
        )
        .await?;
    }
    let pushed = now_ms();
    api.post_group("/prometheus/config/v1/rules/e2e", RECORDING_GROUP)
        .await?;
    // The newest recorded sample evaluated after the push.
    let recorded = wait_for(Duration::from_secs(20), "recorded samples", || async {
        let result = api.query("job:e2e_requests:rate1m[30s]").await?;
        let latest: Vec<(String, i64, f64)> = result
            .iter()
            .filter_map(|series| {
                let job = series["metric"]["job"].as_str()?.to_string();
                let last = series["values"].as_array()?.last()?;
                let ts_ms = (last[0].as_f64()? * 1000.0).round() as i64;
                Some((job, ts_ms, last[1].as_str()?.parse().ok()?))
            })
            .filter(|(_, ts, _)| *ts > pushed)
            .collect();
        Ok((latest.len() == 2).then_some(latest))
    })
    .await
    .with_context(|| process.logs_tail())?;
    for (job, ts_ms, value) in &recorded {
        let time = format!("{}.{:03}", ts_ms / 1000, ts_ms % 1000);
        let direct = api
            .query_at("sum by (job) (rate(e2e_requests_total[1m]))", &time)
            .await?;
        let want: f64 = direct
            .iter()
            .find(|s| s["metric"]["job"] == job.as_str())
            .and_then(|s| s["value"][1].as_str()?.parse().ok())
            .with_context(|| format!("no direct value for {job}: {direct:?}"))?;
        ensure!(
            (value - want).abs() <= 1e-9,
            "{job} at {time}: recorded {value}, direct {want}"
        );
        ensure!(want > 0.0, "{job}: a zero rate proves nothing");
        eprintln!("recording {job} at {time}: recorded {value} == direct {want}");
    }
    let labels = api.query("job:e2e_requests:rate1m").await?;
    for series in &labels {
        let keys: Vec<&String> = series["metric"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        ensure!(keys == ["__name__", "job"], "recorded labels: {series}");
    }
    Ok(())
}
