//! Downsampled reads: which selectors get a hint, and that answers stay the raw ones.

use std::sync::Mutex;

use sextant_model::{Labels, Matcher};

use super::plan::{self, QueryTimes};
use crate::downsample::{DownsampleHint, MetricsAggregate, RESOLUTION_1H_MS, RESOLUTION_5M_MS};
use crate::promql::engine::{Engine, EngineOptions};
use crate::promql::histogram::FloatHistogram;
use crate::promql::parse;
use crate::promql::queryable::{MemQueryable, Queryable, SelectHints};
use crate::promql::value::{stale_nan, EvalError, Series};

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const AUTO: i64 = i64::MAX;

/// The hints the plan gives the query's selectors, in order.
fn hints(query: &str, start: i64, step: i64, max: i64) -> Vec<Option<DownsampleHint>> {
    let expr = parse::parse_with_range(query, step, 0).unwrap();
    let times = QueryTimes {
        start,
        end: start + 10 * step,
        step,
        max_source_resolution: max,
        lookback: 5 * M,
        default_subquery_step: M,
    };
    let plan = plan::plan(expr, times).unwrap();
    plan.selectors.iter().map(|s| s.downsample).collect()
}

fn hint(resolution_ms: i64, aggregate: MetricsAggregate) -> Option<DownsampleHint> {
    Some(DownsampleHint {
        resolution_ms,
        aggregate,
    })
}

#[test]
fn plan_picks_the_coarsest_resolution_that_covers_whole_windows() {
    use MetricsAggregate::*;
    let (h1, m5) = (RESOLUTION_1H_MS, RESOLUTION_5M_MS);
    /// (query, start, step, max source resolution, the hint of each selector)
    type Case = (&'static str, i64, i64, i64, Vec<Option<DownsampleHint>>);
    let cases: Vec<Case> = vec![
        ("rate(x_total[1h])", 0, H, AUTO, vec![hint(h1, Counter)]),
        (
            "increase(x_total[2h])",
            5 * H,
            H,
            AUTO,
            vec![hint(h1, Counter)],
        ),
        ("sum_over_time(x[1h])", 0, H, AUTO, vec![hint(h1, Sum)]),
        ("count_over_time(x[1d])", 0, H, AUTO, vec![hint(h1, Count)]),
        ("min_over_time(x[1h])", 0, H, AUTO, vec![hint(h1, Min)]),
        ("max_over_time(x[1h])", 0, H, AUTO, vec![hint(h1, Max)]),
        // instant queries: step 0
        ("rate(x_total[1h])", 7 * H, 0, AUTO, vec![hint(h1, Counter)]),
        (
            "rate(x_total[1h])",
            7 * H + 5 * M,
            0,
            AUTO,
            vec![hint(m5, Counter)],
        ),
        // a range, step, start, offset or @ that only 5m divides
        ("rate(x_total[5m])", 0, H, AUTO, vec![hint(m5, Counter)]),
        (
            "rate(x_total[1h])",
            0,
            30 * M,
            AUTO,
            vec![hint(m5, Counter)],
        ),
        (
            "rate(x_total[1h])",
            10 * M,
            H,
            AUTO,
            vec![hint(m5, Counter)],
        ),
        (
            "rate(x_total[1h] offset 10m)",
            0,
            H,
            AUTO,
            vec![hint(m5, Counter)],
        ),
        (
            "rate(x_total[1h] @ 3900)",
            0,
            H,
            AUTO,
            vec![hint(m5, Counter)],
        ),
        (
            "rate(x_total[1h] @ 7200)",
            0,
            H,
            AUTO,
            vec![hint(h1, Counter)],
        ),
        // ... or nothing divides
        ("rate(x_total[1h] offset 7m)", 0, H, AUTO, vec![None]),
        ("rate(x_total[61m])", 0, H, AUTO, vec![None]),
        ("rate(x_total[1h])", 0, 90 * S, AUTO, vec![None]),
        ("rate(x_total[1h])", 1, H, AUTO, vec![None]),
        // the maximum caps the resolution
        ("rate(x_total[1h])", 0, H, 0, vec![None]),
        ("rate(x_total[1h])", 0, H, m5, vec![hint(m5, Counter)]),
        ("rate(x_total[1h])", 0, H, h1 - 1, vec![hint(m5, Counter)]),
        ("rate(x_total[1h])", 0, H, m5 - 1, vec![None]),
        // other functions, plain selectors and subqueries read raw samples
        ("avg_over_time(x[1h])", 0, H, AUTO, vec![None]),
        ("irate(x_total[1h])", 0, H, AUTO, vec![None]),
        ("delta(x[1h])", 0, H, AUTO, vec![None]),
        ("last_over_time(x[1h])", 0, H, AUTO, vec![None]),
        ("x", 0, H, AUTO, vec![None]),
        (
            "max_over_time(rate(x_total[1h])[1d:1h])",
            0,
            H,
            AUTO,
            vec![None],
        ),
        ("sum_over_time(x[1h:5m])", 0, H, AUTO, vec![None]),
        // each selector on its own
        (
            "sum(rate(x_total[1h])) / sum(avg_over_time(x[1h])) + max_over_time(y[5m])",
            0,
            H,
            AUTO,
            vec![hint(h1, Counter), None, hint(m5, Max)],
        ),
    ];
    for (query, start, step, max, want) in cases {
        assert_eq!(
            hints(query, start, step, max),
            want,
            "{query} at {start} step {step} max {max}"
        );
    }
}

/// Counters and gauges every ~15 s for 12 h with jitter, missed scrapes, resets, NaNs,
/// staleness markers, a series that starts late and one that stops early, a native
/// histogram counter and a series mixing floats and histograms.
fn store() -> MemQueryable {
    let mut q = MemQueryable::new();
    let mut seed: u64 = 7;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    for (i, name) in ["a_total", "b_total", "late_total", "early_total", "g"]
        .into_iter()
        .enumerate()
    {
        let labels =
            Labels::from_pairs([("__name__", name), ("job", ["x", "y"][i % 2]), ("s", name)]);
        let (from, to) = match name {
            "late_total" => (5 * H + 7 * M, 12 * H),
            "early_total" => (0, 7 * H + 3 * M),
            _ => (0, 12 * H),
        };
        let mut v = 0.0;
        let mut t = from;
        while t < to {
            t += 15 * S + (next() * 3000.0) as i64 - 1000;
            v += (next() * 10.0).round() / 4.0;
            let r = next();
            let value = match () {
                _ if r < 0.003 => f64::NAN,
                _ if r < 0.006 => stale_nan(),
                _ if r < 0.009 => {
                    v = next();
                    v
                }
                _ if name == "g" => (next() - 0.5) * 100.0,
                _ => v,
            };
            if r > 0.98 {
                continue;
            }
            q.add_float(&labels, t, value);
        }
    }
    let h = Labels::from_pairs([("__name__", "h_total"), ("job", "x")]);
    let mixed = Labels::from_pairs([("__name__", "mixed_total"), ("job", "y"), ("s", "m")]);
    for k in 1..(12 * 60) {
        let t = k * M + 123;
        let histogram = FloatHistogram {
            count: k as f64,
            sum: 2.0 * k as f64,
            zero_count: k as f64,
            ..FloatHistogram::default()
        };
        q.add_histogram(&h, t, histogram.clone());
        if (k / 90) % 2 == 0 {
            q.add_float(&mixed, t, k as f64);
        } else {
            q.add_histogram(&mixed, t, histogram);
        }
    }
    q
}

/// A queryable that records the hints it is asked with.
struct Recording<'a> {
    inner: &'a MemQueryable,
    hints: Mutex<Vec<Option<DownsampleHint>>>,
}

impl Queryable for Recording<'_> {
    fn select(&self, hints: &SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, EvalError> {
        if let Ok(mut seen) = self.hints.lock() {
            seen.push(hints.downsample);
        }
        self.inner.select(hints, matchers)
    }
}

fn engine(max_source_resolution_ms: i64) -> Engine {
    Engine::new(EngineOptions {
        max_source_resolution_ms,
        parallelism: 2,
        ..EngineOptions::default()
    })
}

const FUNCTIONS: [&str; 6] = [
    "rate",
    "increase",
    "sum_over_time",
    "count_over_time",
    "min_over_time",
    "max_over_time",
];

/// Every function over every series with ranges, offsets and `@` the resolutions divide,
/// alone and aggregated.
fn queries() -> Vec<String> {
    let mut out = Vec::new();
    for f in FUNCTIONS {
        for selector in [
            "{job=~\".+\"}[5m]",
            "{job=~\".+\"}[1h]",
            "{job=~\".+\"}[2h] offset 1h",
            "{job=~\".+\"}[1h] @ 21600",
            "{job=\"x\"}[15m] offset 5m",
        ] {
            out.push(format!("{f}({selector})"));
        }
        out.push(format!("sum by (job) ({f}({{job=~\".+\"}}[1h]))"));
    }
    out
}

#[test]
fn raw_samples_in_aggregate_form_give_the_raw_answers() {
    let q = store();
    let (raw, auto) = (engine(0), engine(AUTO));
    let cases = [
        // (start, end, step): 1h and 5m grids, and an instant query
        (2 * H, 12 * H, H),
        (H, 12 * H, 5 * M),
        (6 * H, 6 * H, 0),
    ];
    for query in queries() {
        for (start, end, step) in cases {
            let recording = Recording {
                inner: &q,
                hints: Mutex::new(Vec::new()),
            };
            let run = |e: &Engine, q: &dyn Queryable| match step {
                0 => e.instant(q, &query, start),
                _ => e.range(q, &query, start, end, step),
            };
            let want = run(&raw, &q).unwrap();
            let got = run(&auto, &recording).unwrap();
            let context = format!("{query} over {start}..{end} step {step}");
            assert_eq!(
                format!("{:?}", got.value),
                format!("{:?}", want.value),
                "{context}"
            );
            assert_eq!(got.annotations, want.annotations, "{context}");
            let seen = recording.hints.into_inner().unwrap();
            assert!(seen.iter().all(Option::is_some), "{context}: {seen:?}");
        }
    }
}

#[test]
fn results_are_not_empty() {
    // guards the equivalence test against comparing two empty answers
    let q = store();
    for query in queries() {
        let res = engine(AUTO).range(&q, &query, 2 * H, 12 * H, H).unwrap();
        let crate::promql::value::Value::Matrix(m) = res.value else {
            panic!("{query}: not a matrix");
        };
        assert!(!m.is_empty(), "{query}");
    }
}
