use std::collections::BTreeMap;
use std::time::Duration;

use sextant_model::{Labels, Signal, TenantId};

use super::*;
use crate::client::testing::FakeQueryClient;
use crate::client::LatestSample;
use crate::group::EvalContext;

const MIN: i64 = 60_000;

fn rule(for_: Duration, keep_firing_for: Duration) -> AlertingRule {
    AlertingRule::new(RuleDesc {
        alert: Some("HighLoad".into()),
        expr: "load > 1".into(),
        for_: Some(for_),
        keep_firing_for: Some(keep_firing_for),
        labels: BTreeMap::from([
            ("severity".into(), "page".into()),
            ("job".into(), "overridden".into()),
        ]),
        annotations: BTreeMap::from([(
            "summary".into(),
            "{{ $labels.instance }} load is {{ $value }}".into(),
        )]),
        ..RuleDesc::default()
    })
}

fn series(instance: &str) -> (Labels, f64) {
    let labels = Labels::from_pairs([("__name__", "load"), ("instance", instance), ("job", "j")]);
    (labels, 2.0)
}

struct Env {
    query: FakeQueryClient,
    tenant: TenantId,
    external: BTreeMap<String, String>,
}

impl Env {
    fn new() -> Self {
        Self {
            query: FakeQueryClient::default(),
            tenant: TenantId::parse("t").unwrap(),
            external: BTreeMap::new(),
        }
    }

    fn ctx(&self, limit: u64, offset: Duration) -> EvalContext<'_> {
        EvalContext {
            signal: Signal::Metrics,
            tenant: &self.tenant,
            query: &self.query,
            query_offset: offset,
            limit,
            external_labels: &self.external,
            external_url: "http://ruler",
        }
    }
}

/// The state of each alert by its `instance` label, pending and firing only.
fn states(rule: &AlertingRule) -> Vec<(String, AlertState)> {
    rule.active_alerts()
        .into_iter()
        .map(|a| (a.labels["instance"].clone(), a.state))
        .collect()
}

/// (minute, instances returned, expected states by instance)
type Step = (i64, Vec<&'static str>, Vec<(&'static str, AlertState)>);

/// (minute, firing?, expected (startsAt, endsAt) of the alert sent, if any)
type SendStep = (i64, bool, Option<(i64, i64)>);

#[tokio::test]
async fn state_machine_over_evaluations() {
    use AlertState::{Firing, Pending};
    struct Case {
        name: &'static str,
        for_min: u64,
        keep_firing_min: u64,
        steps: Vec<Step>,
    }
    let cases = [
        Case {
            name: "pending until for, then firing, then resolved",
            for_min: 2,
            keep_firing_min: 0,
            steps: vec![
                (0, vec!["a"], vec![("a", Pending)]),
                (1, vec!["a"], vec![("a", Pending)]),
                (2, vec!["a", "b"], vec![("a", Firing), ("b", Pending)]),
                (3, vec!["b"], vec![("b", Pending)]),
                (4, vec![], vec![]),
            ],
        },
        Case {
            name: "a pending alert that clears is forgotten and starts over",
            for_min: 2,
            keep_firing_min: 0,
            steps: vec![
                (0, vec!["a"], vec![("a", Pending)]),
                (1, vec![], vec![]),
                (2, vec!["a"], vec![("a", Pending)]),
                (3, vec!["a"], vec![("a", Pending)]),
                (4, vec!["a"], vec![("a", Firing)]),
            ],
        },
        Case {
            name: "no for fires at once",
            for_min: 0,
            keep_firing_min: 0,
            steps: vec![(0, vec!["a"], vec![("a", Firing)]), (1, vec![], vec![])],
        },
        Case {
            name: "keep_firing_for holds a cleared alert",
            for_min: 0,
            keep_firing_min: 2,
            steps: vec![
                (0, vec!["a"], vec![("a", Firing)]),
                (1, vec![], vec![("a", Firing)]),
                (2, vec![], vec![("a", Firing)]),
                (3, vec![], vec![]),
            ],
        },
        Case {
            name: "keep_firing_for restarts when the condition returns",
            for_min: 0,
            keep_firing_min: 2,
            steps: vec![
                (0, vec!["a"], vec![("a", Firing)]),
                (1, vec![], vec![("a", Firing)]),
                (2, vec!["a"], vec![("a", Firing)]),
                (3, vec![], vec![("a", Firing)]),
                (4, vec![], vec![("a", Firing)]),
                (5, vec![], vec![]),
            ],
        },
        Case {
            name: "a resolved alert that returns is pending again",
            for_min: 1,
            keep_firing_min: 0,
            steps: vec![
                (0, vec!["a"], vec![("a", Pending)]),
                (1, vec!["a"], vec![("a", Firing)]),
                (2, vec![], vec![]),
                (3, vec!["a"], vec![("a", Pending)]),
            ],
        },
    ];
    for case in cases {
        let env = Env::new();
        let mut rule = rule(
            Duration::from_secs(case.for_min * 60),
            Duration::from_secs(case.keep_firing_min * 60),
        );
        for (minute, instances, want) in case.steps {
            env.query
                .set("load > 1", instances.iter().map(|i| series(i)).collect());
            rule.eval(&env.ctx(0, Duration::ZERO), minute * MIN)
                .await
                .unwrap();
            let want: Vec<(String, AlertState)> =
                want.into_iter().map(|(i, s)| (i.to_string(), s)).collect();
            assert_eq!(states(&rule), want, "{} at minute {minute}", case.name);
        }
    }
}

#[tokio::test]
async fn labels_and_annotations_are_expanded_per_alert() {
    let env = Env::new();
    let mut rule = rule(Duration::ZERO, Duration::ZERO);
    env.query.set("load > 1", vec![series("host-1")]);
    rule.eval(&env.ctx(0, Duration::ZERO), 0).await.unwrap();
    let alert = &rule.active_alerts()[0];
    let want = BTreeMap::from([
        ("alertname".to_string(), "HighLoad".to_string()),
        ("instance".into(), "host-1".into()),
        ("job".into(), "overridden".into()),
        ("severity".into(), "page".into()),
    ]);
    assert_eq!(alert.labels, want, "no __name__, rule labels win");
    assert_eq!(alert.annotations["summary"], "host-1 load is 2");
    assert_eq!(rule.state(), AlertState::Firing);
}

#[tokio::test]
async fn alerts_series_are_written_once_restored() {
    let env = Env::new();
    let mut rule = rule(Duration::from_secs(60), Duration::ZERO);
    env.query.set("load > 1", vec![series("a")]);
    let offset = Duration::from_secs(30);
    let samples = rule.eval(&env.ctx(0, offset), 10 * MIN).await.unwrap();
    assert!(samples.is_empty(), "nothing written before the restore");
    rule.set_restored();
    let samples = rule.eval(&env.ctx(0, offset), 11 * MIN).await.unwrap();
    let at = 11 * MIN - 30_000;
    let base = [
        ("alertname", "HighLoad"),
        ("instance", "a"),
        ("job", "overridden"),
        ("severity", "page"),
    ];
    let alerts = Labels::from_pairs(
        base.iter()
            .copied()
            .chain([("__name__", "ALERTS"), ("alertstate", "firing")]),
    );
    let for_state = Labels::from_pairs(
        base.iter()
            .copied()
            .chain([("__name__", "ALERTS_FOR_STATE")]),
    );
    assert_eq!(
        samples,
        vec![
            RuleSample {
                labels: alerts,
                value: 1.0,
                timestamp_ms: at
            },
            RuleSample {
                labels: for_state,
                value: 600.0,
                timestamp_ms: at
            },
        ]
    );
    let queried: Vec<i64> = env.query.calls.lock().iter().map(|c| c.3).collect();
    assert_eq!(
        queried,
        [10 * MIN - 30_000, at],
        "query_offset shifts the query"
    );
}

#[tokio::test]
async fn limit_and_duplicates_are_errors() {
    let env = Env::new();
    let mut rule = rule(Duration::ZERO, Duration::ZERO);
    env.query.set("load > 1", vec![series("a"), series("b")]);
    rule.eval(&env.ctx(2, Duration::ZERO), 0).await.unwrap();
    let err = rule
        .eval(&env.ctx(1, Duration::ZERO), MIN)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exceeded limit of 1"), "{err}");
    assert!(
        states(&rule).is_empty(),
        "alerts are dropped on a limit error"
    );

    // `job` is overridden by the rule: these two collide.
    let a = Labels::from_pairs([("instance", "a"), ("job", "x")]);
    let b = Labels::from_pairs([("instance", "a"), ("job", "y")]);
    env.query.set("load > 1", vec![(a, 1.0), (b, 1.0)]);
    let err = rule
        .eval(&env.ctx(0, Duration::ZERO), 2 * MIN)
        .await
        .unwrap_err();
    assert!(matches!(err, RulerQueryError::DuplicateSeries(_)), "{err}");
}

#[tokio::test]
async fn resolved_alerts_are_kept_fifteen_minutes() {
    let env = Env::new();
    let mut rule = rule(Duration::ZERO, Duration::ZERO);
    env.query.set("load > 1", vec![series("a")]);
    rule.eval(&env.ctx(0, Duration::ZERO), 0).await.unwrap();
    env.query.set("load > 1", vec![]);
    for minute in 1..=16 {
        rule.eval(&env.ctx(0, Duration::ZERO), minute * MIN)
            .await
            .unwrap();
        assert_eq!(rule.active.len(), 1, "minute {minute}");
        assert!(
            rule.active_alerts().is_empty(),
            "resolved alerts are not shown"
        );
    }
    rule.eval(&env.ctx(0, Duration::ZERO), 17 * MIN)
        .await
        .unwrap();
    assert!(rule.active.is_empty());
}

#[tokio::test]
async fn sends_firing_alerts_every_resend_delay_and_resolutions_once() {
    let env = Env::new();
    let mut rule = rule(Duration::from_secs(60), Duration::ZERO);
    let resend = Duration::from_secs(120);
    let interval = Duration::from_secs(60);
    let steps: [SendStep; 7] = [
        (0, true, None),                           // pending: not sent
        (1, true, Some((MIN, MIN + 8 * MIN))),     // fires: endsAt = now + 4 × 2m
        (2, true, None),                           // within resend delay
        (3, true, None),                           // exactly the delay: not yet
        (4, true, Some((MIN, 4 * MIN + 8 * MIN))), // re-sent
        (5, false, Some((MIN, 5 * MIN))),          // resolved: endsAt = resolution
        (6, false, None),
    ];
    for (minute, firing, want) in steps {
        let result = if firing { vec![series("a")] } else { vec![] };
        env.query.set("load > 1", result);
        let ts = minute * MIN;
        rule.eval(&env.ctx(0, Duration::ZERO), ts).await.unwrap();
        let sent = rule.alerts_to_send(ts, resend, interval, "http://ruler/");
        let got = sent.first().map(|a| (a.starts_at_ms, a.ends_at_ms));
        assert_eq!(got, want, "minute {minute}");
        if let Some(alert) = sent.first() {
            assert_eq!(
                alert.generator_url,
                "http://ruler/graph?g0.expr=load+%3E+1&g0.tab=1"
            );
            assert_eq!(alert.labels["alertname"], "HighLoad");
        }
    }
}

#[tokio::test]
async fn restores_active_at_from_alerts_for_state() {
    const HOLD: i64 = 30 * MIN;
    struct Case {
        name: &'static str,
        /// (value = activeAt seconds, sample time ms) of ALERTS_FOR_STATE, if any.
        stored: Option<(f64, i64)>,
        want_active_at: i64,
    }
    let now = 50 * MIN;
    let cases = [
        Case {
            name: "was firing: fires again at the next evaluation",
            stored: Some((0.0, 40 * MIN)),
            want_active_at: 0,
        },
        Case {
            name: "less than the grace period left: waits the grace period",
            stored: Some((0.0, 25 * MIN)),
            want_active_at: now + 10 * MIN - HOLD,
        },
        Case {
            name: "otherwise: shifted by the outage",
            stored: Some((0.0, 10 * MIN)),
            want_active_at: 40 * MIN,
        },
        Case {
            name: "a staleness marker means it was not active",
            stored: Some((crate::client::STALE_NAN, 40 * MIN)),
            want_active_at: now - MIN,
        },
        Case {
            name: "older than the outage tolerance is ignored",
            stored: Some((0.0, now - 61 * MIN)),
            want_active_at: now - MIN,
        },
        Case {
            name: "no series",
            stored: None,
            want_active_at: now - MIN,
        },
    ];
    let settings = RestoreSettings {
        outage_tolerance: Duration::from_secs(3600),
        grace_period: Duration::from_secs(600),
    };
    for case in cases {
        let env = Env::new();
        let mut rule = rule(Duration::from_millis(HOLD as u64), Duration::ZERO);
        env.query.set("load > 1", vec![series("a")]);
        rule.eval(&env.ctx(0, Duration::ZERO), now - MIN)
            .await
            .unwrap();
        if let Some((value, timestamp_ms)) = case.stored {
            let labels = for_state_labels(&rule.active.values().next().unwrap().labels);
            let other = Labels::from_pairs([("__name__", "ALERTS_FOR_STATE"), ("x", "y")]);
            env.query.set_latest(
                "ALERTS_FOR_STATE{alertname=\"HighLoad\"}",
                vec![
                    LatestSample {
                        labels: other,
                        timestamp_ms,
                        value: 1.0,
                    },
                    LatestSample {
                        labels,
                        timestamp_ms,
                        value,
                    },
                ],
            );
        }
        rule.restore_for_state(&env.ctx(0, Duration::ZERO), now, settings)
            .await
            .unwrap();
        assert!(rule.restored, "{}", case.name);
        let active_at = rule.active.values().next().unwrap().active_at_ms;
        assert_eq!(active_at, case.want_active_at, "{}", case.name);
    }
}

#[tokio::test]
async fn short_for_skips_the_restore() {
    let env = Env::new();
    let mut rule = rule(Duration::from_secs(60), Duration::ZERO);
    env.query.set("load > 1", vec![series("a")]);
    rule.eval(&env.ctx(0, Duration::ZERO), 0).await.unwrap();
    let settings = RestoreSettings {
        outage_tolerance: Duration::from_secs(3600),
        grace_period: Duration::from_secs(600),
    };
    rule.restore_for_state(&env.ctx(0, Duration::ZERO), MIN, settings)
        .await
        .unwrap();
    assert!(rule.restored);
    assert_eq!(
        env.query.calls.lock().len(),
        1,
        "only the evaluation queried"
    );
}
