//! The shortcuts of range evaluation (groups found once, range functions on several threads)
//! must give exactly what the per-step path gives: every step of a range query equals an
//! instant query at that step, and any parallelism gives the same result.

use sextant_model::Labels;

use crate::promql::engine::{Engine, EngineOptions};
use crate::promql::queryable::MemQueryable;
use crate::promql::value::{stale_nan, Value};

const S: i64 = 1000;

/// Series as (labels, [(t, value bits)]), sorted.
type Points = Vec<(String, Vec<(i64, u64)>)>;

/// 240 series of irregular counters and gauges in 4 jobs × 6 instances × 10 cpus, some with
/// resets, NaNs and stale markers, every 15 s for 40 minutes.
fn store() -> MemQueryable {
    let mut q = MemQueryable::new();
    let mut seed: u64 = 42;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    for job in 0..4 {
        for inst in 0..6 {
            for cpu in 0..10 {
                let l = Labels::from_pairs([
                    ("__name__", "c_total"),
                    ("job", ["a", "b", "c", "d"][job]),
                    ("instance", &format!("i{inst}")),
                    ("cpu", &cpu.to_string()),
                ]);
                let mut v = 0.0;
                for i in 0..160 {
                    v += (next() * 10.0).round() / 4.0;
                    let r = next();
                    let value = match () {
                        _ if r < 0.01 => f64::NAN,
                        _ if r < 0.02 => stale_nan(),
                        _ if r < 0.03 => {
                            v = 0.0;
                            v
                        }
                        _ => v,
                    };
                    if r > 0.97 {
                        continue; // a missed scrape
                    }
                    q.add_float(&l, i * 15 * S + (next() * 2000.0) as i64, value);
                }
            }
        }
    }
    q
}

fn engine(parallelism: usize) -> Engine {
    Engine::new(EngineOptions {
        parallelism,
        ..EngineOptions::default()
    })
}

/// A result as sorted (labels, [(t, value bits)]).
fn matrix(value: Value) -> Points {
    let Value::Matrix(m) = value else {
        panic!("not a matrix: {value:?}");
    };
    let mut out: Vec<_> = m
        .into_iter()
        .map(|s| {
            let points = s.floats.iter().map(|p| (p.t, p.f.to_bits())).collect();
            (s.metric.to_string(), points)
        })
        .collect();
    out.sort();
    out
}

const QUERIES: &[&str] = &[
    "sum by (job) (rate(c_total[1m]))",
    "avg without (cpu) (rate(c_total[2m]))",
    "max by (instance) (c_total)",
    "min(c_total)",
    "count by (job, cpu) (c_total > 10)",
    "group by (job) (c_total)",
    "stddev by (job) (irate(c_total[1m]))",
    "stdvar(increase(c_total[5m]))",
    "quantile by (job) (0.9, rate(c_total[1m]))",
    "sum by (job) (avg_over_time(c_total[3m]))",
    "sum(changes(c_total[10m])) by (cpu)",
];

#[test]
fn range_steps_equal_instant_queries() {
    let q = store();
    let e = engine(1);
    let (start, end, step) = (10 * 60 * S, 35 * 60 * S, 30 * S);
    for query in QUERIES {
        let range = matrix(e.range(&q, query, start, end, step).unwrap().value);
        let mut from_instants: Points = Vec::new();
        let mut t = start;
        while t <= end {
            let Value::Vector(v) = e.instant(&q, query, t).unwrap().value else {
                panic!("{query}: not a vector");
            };
            for s in v {
                let key = s.metric.to_string();
                match from_instants.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, points)) => points.push((t, s.f.to_bits())),
                    None => from_instants.push((key, vec![(t, s.f.to_bits())])),
                }
            }
            t += step;
        }
        from_instants.sort();
        assert!(!range.is_empty(), "{query}: empty");
        assert_eq!(range, from_instants, "{query}");
    }
}

#[test]
fn parallelism_does_not_change_results() {
    let q = store();
    let (start, end, step) = (5 * 60 * S, 40 * 60 * S, 15 * S);
    for query in QUERIES {
        let one = e_range(&engine(1), &q, query, start, end, step);
        for threads in [2, 3, 7] {
            let many = e_range(&engine(threads), &q, query, start, end, step);
            assert_eq!(one, many, "{query} with {threads} threads");
        }
    }
}

fn e_range(
    e: &Engine,
    q: &MemQueryable,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
) -> (Points, Vec<String>, Vec<String>) {
    let res = e.range(q, query, start, end, step).unwrap();
    (
        matrix(res.value),
        res.annotations.warnings,
        res.annotations.infos,
    )
}

/// More groups × steps than one accumulator grid holds: the grid is walked in runs of steps.
#[test]
fn many_groups_over_many_steps_equal_instant_queries() {
    let mut q = MemQueryable::new();
    for i in 0..3000 {
        let l = Labels::from_pairs([("__name__", "g"), ("i", &i.to_string())]);
        for k in 0..110 {
            if (i + k) % 7 != 0 {
                q.add_float(&l, k * 15 * S, (i * k) as f64 / 4.0);
            }
        }
    }
    // one thread: a single run of 100 steps × 3000 groups is more than one grid holds
    let e = engine(1);
    let (start, end, step) = (5 * 15 * S, 104 * 15 * S, 15 * S);
    for query in ["sum by (i) (g)", "max without () (g)"] {
        let range = matrix(e.range(&q, query, start, end, step).unwrap().value);
        let mut from_instants: Points = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mut t = start;
        while t <= end {
            let Value::Vector(v) = e.instant(&q, query, t).unwrap().value else {
                panic!("{query}: not a vector");
            };
            for s in v {
                let key = s.metric.to_string();
                let i = *index.entry(key.clone()).or_insert_with(|| {
                    from_instants.push((key, Vec::new()));
                    from_instants.len() - 1
                });
                from_instants[i].1.push((t, s.f.to_bits()));
            }
            t += step;
        }
        from_instants.sort();
        assert_eq!(range.len(), 3000, "{query}");
        assert_eq!(range, from_instants, "{query}");
    }
}
