//! Two rulers sharing rule groups over the `ruler-metrics` ring: one `-target=all` process and
//! one `-target=ruler` process joined to it by memberlist, both sending to one real
//! Alertmanager. Every group is evaluated exactly once per interval (its iterations summed over
//! both rulers match the elapsed time, its recorded series has one sample per second and no
//! gap) before one ruler stops and after the other took over all groups, whether the stopped
//! one left the ring (SIGTERM) or died (SIGKILL: after the 10 s heartbeat timeout).
//!
//! Ignored like every e2e test: `cargo build -p sextant-server`, then
//! `cargo test -p sextant-e2e --test ruler_ha_e2e -- --ignored --nocapture`.

#[path = "ruler/support.rs"]
mod support;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use sextant_e2e::wait::wait_for;
use sextant_e2e::SextantProcess;

use support::{
    now_ms, start_alertmanager, start_ruler_all, start_ruler_only, RulerApi, RULER_METRICS_RING,
    TENANT,
};

/// Groups spread over the two rulers.
const HA_GROUPS: usize = 10;

fn ha_namespace_yaml(group: usize) -> String {
    format!(
        "name: g{group}\ninterval: 1s\nrules:\n  - record: e2e:ha_g{group}\n    expr: vector({group})\n"
    )
}

/// How the second ruler stops.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    /// SIGTERM: it leaves the ring, the other ruler takes over at its next poll.
    Terminate,
    /// SIGKILL: it stays in the ring until its heartbeat is older than the timeout (10 s).
    Kill,
}

#[tokio::test]
#[ignore = "e2e: needs target/debug/sextant and prometheus-alertmanager"]
async fn e2e_two_rulers_evaluate_each_group_once_before_and_after_one_terminates() -> Result<()> {
    two_rulers(Stop::Terminate).await
}

#[tokio::test]
#[ignore = "e2e: needs target/debug/sextant and prometheus-alertmanager"]
async fn e2e_two_rulers_evaluate_each_group_once_before_and_after_one_is_killed() -> Result<()> {
    two_rulers(Stop::Kill).await
}

/// Heartbeat timeout + poll interval + one evaluation interval + slack for the test's polling.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(10 + 1 + 1 + 2);

async fn two_rulers(stop: Stop) -> Result<()> {
    let am = start_alertmanager().await?;
    let (all, _config) = start_ruler_all(&am, &[]).await?;
    let (mut ruler, _ruler_config) = start_ruler_only(&am, &all).await?;
    all.wait_for_ring(
        RULER_METRICS_RING,
        Duration::from_secs(30),
        "2 rulers",
        |r| r.active_healthy() == 2,
    )
    .await?;
    let api = RulerApi::new(&all, TENANT)?;
    for group in 0..HA_GROUPS {
        api.post_group("/prometheus/config/v1/rules/ha", &ha_namespace_yaml(group))
            .await?;
    }
    // Both rulers own some of the groups, and together all of them (a ruler still joining
    // in the other's view may own nothing for a moment; with 128 tokens each, a lasting
    // 10/0 split has odds of 2^-9).
    let split = wait_for(
        Duration::from_secs(30),
        "10 groups shared by 2 rulers",
        || async {
            let owned = [owned_groups(&all).await?, owned_groups(&ruler).await?];
            let shared = owned.iter().sum::<f64>() == HA_GROUPS as f64 && !owned.contains(&0.0);
            Ok(shared.then_some(owned))
        },
    )
    .await;
    let split = match split {
        Ok(split) => split,
        Err(e) => anyhow::bail!(
            "{e:#}\nowned now: {:?} {:?}\nlisted: {:?} {:?}\nrings: {:?}\n{:?}\n{}\n{}",
            owned_groups(&all).await,
            owned_groups(&ruler).await,
            listed_groups(&api).await,
            listed_groups(&RulerApi::new(&ruler, TENANT)?).await,
            all.ring(RULER_METRICS_RING).await,
            ruler.ring(RULER_METRICS_RING).await,
            all.logs_tail(),
            ruler.logs_tail()
        ),
    };
    eprintln!("{stop:?}: owned groups (all, ruler): {split:?}");
    // Let every group start, then count over a window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let window = count_window(&api, &[&all, &ruler], Duration::from_secs(10)).await?;
    eprintln!("{stop:?}: two rulers: {window}");
    let shown = [
        listed_groups(&api).await?,
        listed_groups(&RulerApi::new(&ruler, TENANT)?).await?,
    ];
    let mut union: Vec<&String> = shown.iter().flatten().collect();
    union.sort();
    let expected: Vec<String> = (0..HA_GROUPS).map(|g| format!("g{g}")).collect();
    ensure!(
        union == expected.iter().collect::<Vec<_>>(),
        "/api/v1/rules of the two rulers: {shown:?}"
    );

    let before_stop = iterations(&[&all]).await?;
    let stop_ms = now_ms();
    let stopped = Instant::now();
    match stop {
        Stop::Terminate => drop(ruler.terminate(Duration::from_secs(30)).await?),
        Stop::Kill => ruler.kill9()?,
    }
    wait_for(
        TAKEOVER_LIMIT,
        "the remaining ruler owns all groups",
        || async { Ok((owned_groups(&all).await? == HA_GROUPS as f64).then_some(())) },
    )
    .await
    .with_context(|| all.logs_tail())?;
    let takeover = stopped.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let gap = check_transition(&api, &all, &before_stop, stop_ms, stopped).await?;
    let window = count_window(&api, &[&all], Duration::from_secs(10)).await?;
    eprintln!(
        "{stop:?}: one ruler: {window}; owned all groups {takeover:?} after the stop; \
         longest gap in a group's output {gap} ms"
    );
    Ok(())
}

/// From the stop until now: the remaining ruler evaluated no group more than once per
/// interval, and every group's samples stayed on its 1 s grid (the new owner keeps the old
/// one's evaluation slots), with one gap at most. Returns the longest gap in ms.
async fn check_transition(
    api: &RulerApi,
    all: &SextantProcess,
    before: &[f64],
    stop_ms: i64,
    stopped: Instant,
) -> Result<i64> {
    let after = iterations(&[all]).await?;
    let elapsed = stopped.elapsed().as_secs_f64();
    let mut longest = 0;
    for group in 0..HA_GROUPS {
        let delta = after[group] - before[group];
        ensure!(
            delta <= elapsed + 1.5,
            "g{group}: {delta} iterations by the remaining ruler in {elapsed:.1}s"
        );
        let stamps = recorded_timestamps(api, group, stop_ms - 3_000, now_ms()).await?;
        for pair in stamps.windows(2) {
            let step = pair[1] - pair[0];
            ensure!(
                step > 0 && step % 1_000 == 0,
                "g{group}: samples {step} ms apart across the stop: {stamps:?}"
            );
            longest = longest.max(step);
        }
    }
    ensure!(
        longest <= TAKEOVER_LIMIT.as_millis() as i64,
        "a gap of {longest} ms"
    );
    Ok(longest)
}

/// The group names `/prometheus/api/v1/rules` lists (the groups this process evaluates).
async fn listed_groups(api: &RulerApi) -> Result<Vec<String>> {
    let groups = api.rule_groups().await?;
    Ok(groups
        .iter()
        .filter_map(|g| g["name"].as_str().map(str::to_string))
        .collect())
}

/// Over `length`: every group's iterations (summed over `rulers`) match the elapsed time
/// ±1, and its recorded series has one sample per interval with no gap.
async fn count_window(
    api: &RulerApi,
    rulers: &[&SextantProcess],
    length: Duration,
) -> Result<String> {
    let before = iterations(rulers).await?;
    let from_ms = now_ms();
    let started = Instant::now();
    tokio::time::sleep(length).await;
    let after = iterations(rulers).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let to_ms = now_ms();
    let mut counts = Vec::new();
    for group in 0..HA_GROUPS {
        let delta = after[group] - before[group];
        ensure!(
            (delta - elapsed).abs() <= 1.5,
            "group g{group}: {delta} iterations in {elapsed:.1}s (before {before:?}, after {after:?})"
        );
        counts.push(delta);
        let stamps = recorded_timestamps(api, group, from_ms, to_ms).await?;
        check_no_gap(group, &stamps)?;
    }
    Ok(format!(
        "{elapsed:.1}s window, iterations per group {counts:?}"
    ))
}

/// Consecutive recorded samples exactly one interval apart.
fn check_no_gap(group: usize, stamps: &[i64]) -> Result<()> {
    ensure!(stamps.len() >= 5, "g{group}: too few samples {stamps:?}");
    for pair in stamps.windows(2) {
        ensure!(
            pair[1] - pair[0] == 1_000,
            "g{group}: samples {} ms apart: {stamps:?}",
            pair[1] - pair[0]
        );
    }
    Ok(())
}

/// The timestamps of `e2e:ha_g<group>` samples in `(from_ms, to_ms]`.
async fn recorded_timestamps(
    api: &RulerApi,
    group: usize,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<i64>> {
    let seconds = (to_ms - from_ms) / 1000 + 1;
    let time = format!("{}.{:03}", to_ms / 1000, to_ms % 1000);
    let result = api
        .query_at(&format!("e2e:ha_g{group}[{seconds}s]"), &time)
        .await?;
    ensure!(result.len() == 1, "g{group}: {result:?}");
    let values = result[0]["values"].as_array().cloned().unwrap_or_default();
    let mut stamps = Vec::new();
    for v in values {
        let ts = (v[0].as_f64().unwrap_or_default() * 1000.0).round() as i64;
        ensure!(
            v[1] == group.to_string().as_str(),
            "g{group}: value {}",
            v[1]
        );
        if ts > from_ms {
            stamps.push(ts);
        }
    }
    Ok(stamps)
}

/// `sextant_ruler_group_iterations_total` of each `ha;g<N>` group summed over `rulers`.
async fn iterations(rulers: &[&SextantProcess]) -> Result<Vec<f64>> {
    let mut sums = vec![0.0; HA_GROUPS];
    for ruler in rulers {
        let text = ruler.metrics_text().await?;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("sextant_ruler_group_iterations_total{") else {
                continue;
            };
            let Some(group) = label_value(rest, "rule_group") else {
                continue;
            };
            let Some(n) = group
                .strip_prefix("ha;g")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            let value: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("bad line {line}"))?;
            if let Some(sum) = sums.get_mut(n) {
                *sum += value;
            }
        }
    }
    Ok(sums)
}

/// The value of `name="..."` in a label set (values without quotes or escapes).
fn label_value<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let len = labels[start..].find('"')?;
    Some(&labels[start..start + len])
}

/// `sextant_ruler_owned_groups{signal="metrics"}` of one process.
async fn owned_groups(process: &SextantProcess) -> Result<f64> {
    let text = process.metrics_text().await?;
    text.lines()
        .find(|l| l.starts_with("sextant_ruler_owned_groups{") && l.contains("signal=\"metrics\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .context("no sextant_ruler_owned_groups{signal=\"metrics\"}")
}
