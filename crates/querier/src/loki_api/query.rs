//! `query` and `query_range`: LogQL log queries answer streams, metric queries vectors,
//! scalars or matrices. The evaluator runs on a blocking thread over
//! [`SourceLogQueryable`], under the query's deadline and a concurrency slot.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::State;
use sextant_logs::logql::ast::Expr;
use sextant_logs::logql::eval::{
    eval_instant, eval_logs, eval_range, Direction, Entry, EvalError, QueryValue, Stream,
};
use sextant_logs::logql::parse::parse_expr;
use sextant_model::{Labels, TenantId};

use super::json::{push_metric_result, push_stats, push_streams, LokiQueryStats};
use super::params;
use super::queryable::SourceLogQueryable;
use super::{LokiApiState, LokiError, LokiJson, LokiTenant};
use crate::api::params::Params;

/// One evaluation. Instant queries have `start_ns == end_ns` and no step.
#[derive(Debug, Clone)]
struct Evaluation {
    query: String,
    start_ns: i64,
    end_ns: i64,
    /// 0 for instant queries.
    step_ns: i64,
    /// Least time between two returned entries (log range queries); 0 = all.
    interval_ns: i64,
    limit: usize,
    direction: Direction,
}

/// `GET|POST /query`: `query`, `time`, `limit`, `direction`.
pub async fn instant(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let limit = params::limit(&params)?;
    let time = params::time(&params, (state.now_ns)())?;
    let direction = params::direction(&params)?;
    let eval = Evaluation {
        query: params.get("query").to_string(),
        start_ns: time,
        end_ns: time,
        step_ns: 0,
        interval_ns: 0,
        limit,
        direction,
    };
    evaluate(&state, tenant, eval).await
}

/// `GET|POST /query_range`: `query`, `start`, `end`, `since`, `limit`, `direction`, `step`,
/// `interval`.
pub async fn range(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let (start_ns, end_ns) = params::range_bounds(&params, (state.now_ns)())?;
    let limit = params::limit(&params)?;
    let direction = params::direction(&params)?;
    let step_ns = params::step(&params, start_ns, end_ns)?;
    let interval_ns = params::interval(&params)?;
    let eval = Evaluation {
        query: params.get("query").to_string(),
        start_ns,
        end_ns,
        step_ns,
        interval_ns,
        limit,
        direction,
    };
    evaluate(&state, tenant, eval).await
}

/// Parses, waits for a slot, evaluates on a blocking thread and renders there.
async fn evaluate(
    state: &LokiApiState,
    tenant: TenantId,
    eval: Evaluation,
) -> Result<LokiJson, LokiError> {
    let arrived = Instant::now();
    let expr = parse_expr(&eval.query).map_err(|e| LokiError::from_eval(e.into()))?;
    let max = state.config.max_entries_limit_per_query;
    if matches!(expr, Expr::Log(_)) && max > 0 && eval.limit > max {
        return Err(LokiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {max})",
            eval.limit
        )));
    }
    let deadline = tokio::time::Instant::now() + state.config.query_timeout;
    let queryable = SourceLogQueryable::new(
        state.source.clone(),
        tenant,
        tokio::runtime::Handle::current(),
        deadline.into_std(),
    );
    let slot = tokio::time::timeout_at(deadline, state.query_slots.clone().acquire_owned());
    let permit = match slot.await {
        Err(_) => return Err(LokiError::timeout()),
        Ok(Err(closed)) => return Err(LokiError::internal(closed.to_string())),
        Ok(Ok(permit)) => permit,
    };
    let queue_time = arrived.elapsed();
    // The permit moves into the task: a query abandoned at its deadline keeps its slot
    // until the evaluator stops.
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let started = Instant::now();
        let answer = run(&queryable, &expr, &eval).map(|result| {
            let stats = LokiQueryStats {
                processed: queryable.processed(),
                returned: result.returned(),
                exec_time: started.elapsed(),
                queue_time,
            };
            result.render(eval.end_ns, &stats)
        });
        (answer, queryable.take_source_error(), queryable.timed_out())
    });
    match tokio::time::timeout_at(deadline, task).await {
        Err(_) => Err(LokiError::timeout()),
        Ok(Err(join)) => Err(LokiError::internal(format!(
            "query evaluation failed: {join}"
        ))),
        Ok(Ok((Ok(json), _, _))) => Ok(LokiJson(json)),
        Ok(Ok((Err(_), _, true))) => Err(LokiError::timeout()),
        Ok(Ok((Err(_), Some(source_error), _))) => Err(LokiError::from_source(source_error)),
        Ok(Ok((Err(e), None, _))) => Err(LokiError::from_eval(e)),
    }
}

/// The result of a query before rendering.
enum Answer {
    Streams(Vec<Stream>),
    Metric(QueryValue),
}

impl Answer {
    /// Entries or samples in the answer.
    fn returned(&self) -> u64 {
        let n = match self {
            Answer::Streams(streams) => streams.iter().map(|s| s.entries.len()).sum(),
            Answer::Metric(QueryValue::Scalar(_)) => 1,
            Answer::Metric(QueryValue::Vector(v)) => v.len(),
            Answer::Metric(QueryValue::Matrix(m)) => m.iter().map(|s| s.points.len()).sum(),
        };
        n as u64
    }

    /// The whole response body.
    fn render(&self, ts_ns: i64, stats: &LokiQueryStats) -> String {
        let mut out = String::from("{\"status\":\"success\",\"data\":{");
        match self {
            Answer::Streams(streams) => {
                out.push_str("\"resultType\":\"streams\",\"result\":");
                push_streams(&mut out, streams);
            }
            Answer::Metric(value) => push_metric_result(&mut out, value, ts_ns),
        }
        out.push(',');
        push_stats(&mut out, stats);
        out.push_str("}}");
        out
    }
}

fn run(q: &SourceLogQueryable, expr: &Expr, eval: &Evaluation) -> Result<Answer, EvalError> {
    match expr {
        Expr::Sample(sample) if eval.step_ns == 0 => {
            eval_instant(q, sample, eval.start_ns).map(Answer::Metric)
        }
        Expr::Sample(sample) => {
            eval_range(q, sample, eval.start_ns, eval.end_ns, eval.step_ns).map(Answer::Metric)
        }
        Expr::Log(log) => {
            // An instant log query reads the entries at its time exactly: `[t, t]`.
            let end_ns = if eval.step_ns == 0 {
                eval.end_ns.saturating_add(1)
            } else {
                eval.end_ns
            };
            if eval.interval_ns == 0 {
                let streams = eval_logs(q, log, eval.start_ns, end_ns, eval.limit, eval.direction)?;
                return Ok(Answer::Streams(streams));
            }
            let all = eval_logs(q, log, eval.start_ns, end_ns, usize::MAX, eval.direction)?;
            Ok(Answer::Streams(sample_interval(
                all,
                eval.interval_ns,
                eval.limit,
                eval.direction,
            )))
        }
    }
}

/// Loki's `interval`: walking all entries in `direction` order, keeps one only when it is
/// at least `interval_ns` away from the last kept one, up to `limit` entries.
fn sample_interval(
    streams: Vec<Stream>,
    interval_ns: i64,
    limit: usize,
    direction: Direction,
) -> Vec<Stream> {
    let mut all: Vec<(Labels, Entry)> = streams
        .into_iter()
        .flat_map(|s| {
            let labels = s.labels;
            s.entries.into_iter().map(move |e| (labels.clone(), e))
        })
        .collect();
    match direction {
        Direction::Forward => all.sort_by_key(|(_, e)| e.ts_ns),
        Direction::Backward => all.sort_by_key(|(_, e)| std::cmp::Reverse(e.ts_ns)),
    }
    let mut kept: BTreeMap<Labels, Vec<Entry>> = BTreeMap::new();
    let mut last: Option<i64> = None;
    let mut count = 0;
    for (labels, entry) in all {
        if count == limit {
            break;
        }
        let due = match (last, direction) {
            (None, _) => true,
            (Some(t), Direction::Forward) => entry.ts_ns >= t.saturating_add(interval_ns),
            (Some(t), Direction::Backward) => entry.ts_ns <= t.saturating_sub(interval_ns),
        };
        if due {
            last = Some(entry.ts_ns);
            count += 1;
            kept.entry(labels).or_default().push(entry);
        }
    }
    kept.into_iter()
        .map(|(labels, entries)| Stream { labels, entries })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(app: &str, times: &[i64]) -> Stream {
        Stream {
            labels: Labels::from_pairs([("app", app)]),
            entries: times
                .iter()
                .map(|t| Entry {
                    ts_ns: *t,
                    line: t.to_string(),
                    metadata: Labels::default(),
                })
                .collect(),
        }
    }

    #[test]
    fn interval_sampling_across_streams() {
        // (interval, limit, direction, kept times per stream a, b)
        type Case<'a> = (i64, usize, Direction, &'a [i64], &'a [i64]);
        let cases: &[Case<'_>] = &[
            (10, 100, Direction::Forward, &[0, 20], &[10, 30]),
            (15, 100, Direction::Forward, &[0, 15], &[30]),
            (10, 2, Direction::Forward, &[0], &[10]),
            (10, 100, Direction::Backward, &[20, 0], &[30, 10]),
            (25, 100, Direction::Backward, &[], &[30, 5]),
        ];
        for (interval, limit, direction, want_a, want_b) in cases {
            let input = vec![stream("a", &[0, 15, 20]), stream("b", &[5, 10, 30])];
            let got = sample_interval(input, *interval, *limit, *direction);
            let times = |app: &str| -> Vec<i64> {
                got.iter()
                    .filter(|s| s.labels.get("app") == Some(app))
                    .flat_map(|s| s.entries.iter().map(|e| e.ts_ns))
                    .collect()
            };
            assert_eq!(
                times("a"),
                want_a.to_vec(),
                "{interval} {limit} {direction:?}"
            );
            assert_eq!(
                times("b"),
                want_b.to_vec(),
                "{interval} {limit} {direction:?}"
            );
        }
    }
}
