//! `query`, `query_range`, `query_exemplars` and `format_query`.

use std::time::{Duration, Instant};

use axum::extract::State;
use promql_parser::parser;
use sextant_metrics::promql::{Engine, QueryResult, Value};
use sextant_model::TenantId;

use super::params::{invalid_param, Params, MAX_TIME_MS, MIN_TIME_MS};
use super::queryable::SourceQueryable;
use super::{json, ApiState, MaxSourceResolution, PromError, Success, Tenant};

/// Prometheus's cap on the points of one series in a range query.
pub const MAX_POINTS_PER_SERIES: i128 = 11_000;

const NANOS_PER_MS: i64 = 1_000_000;

/// One evaluation: an instant query when `step_ms` is 0.
#[derive(Debug, Clone)]
struct Evaluation {
    query: String,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    lookback_delta_ms: Option<i64>,
    timeout: Duration,
    /// Most series in the answer; 0 = all.
    limit: usize,
    /// Add `stats` to the answer.
    stats: bool,
    /// The coarsest block resolution the engine may read (0 raw, `i64::MAX` auto).
    max_source_resolution_ms: i64,
}

/// `GET|POST /query`: `query`, `time`, `timeout`, `lookback_delta`, `limit`, `stats`,
/// `max_source_resolution`.
pub async fn instant(
    State(state): State<ApiState>,
    Tenant(tenant): Tenant,
    params: Params,
) -> Result<Success, PromError> {
    let limit = params.limit()?;
    let time = params.time_or("time", (state.now_ms)())?;
    let timeout = timeout(&state, &params)?;
    let lookback_delta_ms = lookback_delta(&params)?;
    let eval = Evaluation {
        query: params.get("query").to_string(),
        start_ms: time,
        end_ms: time,
        step_ms: 0,
        lookback_delta_ms,
        timeout,
        limit,
        stats: !params.get("stats").is_empty(),
        max_source_resolution_ms: max_source_resolution(&state, &params)?.as_ms(),
    };
    evaluate(&state, tenant, eval).await
}

/// `GET|POST /query_range`: `query`, `start`, `end`, `step`, and the options of [`instant`].
pub async fn range(
    State(state): State<ApiState>,
    Tenant(tenant): Tenant,
    params: Params,
) -> Result<Success, PromError> {
    let limit = params.limit()?;
    let start_ms = params.time("start")?;
    let end_ms = params.time("end")?;
    if end_ms < start_ms {
        return Err(PromError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    let step_ms = range_step_ms(&params, start_ms, end_ms)?;
    let timeout = timeout(&state, &params)?;
    let lookback_delta_ms = lookback_delta(&params)?;
    let eval = Evaluation {
        query: params.get("query").to_string(),
        start_ms,
        end_ms,
        step_ms,
        lookback_delta_ms,
        timeout,
        limit,
        stats: !params.get("stats").is_empty(),
        max_source_resolution_ms: max_source_resolution(&state, &params)?.as_ms(),
    };
    evaluate(&state, tenant, eval).await
}

/// The `step` of a range query in milliseconds, checked like Prometheus (positive, at most
/// 11,000 points per series).
fn range_step_ms(params: &Params, start_ms: i64, end_ms: i64) -> Result<i64, PromError> {
    let step_ns =
        super::params::parse_duration(params.get("step")).map_err(|e| invalid_param("step", e))?;
    // Steps below a millisecond cannot be evaluated on millisecond timestamps.
    if step_ns < NANOS_PER_MS {
        return Err(PromError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let range_ns = i128::from(end_ms - start_ms) * i128::from(NANOS_PER_MS);
    if range_ns / i128::from(step_ns) > MAX_POINTS_PER_SERIES {
        return Err(PromError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    Ok(step_ns / NANOS_PER_MS)
}

/// The query's time budget: the configured timeout, shortened by a `timeout` parameter.
fn timeout(state: &ApiState, params: &Params) -> Result<Duration, PromError> {
    let configured = state.config.query_timeout;
    match params
        .duration("timeout")
        .map_err(|e| invalid_param("timeout", e))?
    {
        Some(ns) => Ok(configured.min(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)))),
        None => Ok(configured),
    }
}

/// The `max_source_resolution` parameter, or the configured default without one.
fn max_source_resolution(
    state: &ApiState,
    params: &Params,
) -> Result<MaxSourceResolution, PromError> {
    match params.get("max_source_resolution") {
        "" => Ok(state.config.max_source_resolution),
        value => value
            .parse()
            .map_err(|e| invalid_param("max_source_resolution", e)),
    }
}

fn lookback_delta(params: &Params) -> Result<Option<i64>, PromError> {
    let ns = params
        .duration("lookback_delta")
        .map_err(|e| PromError::bad_data(format!("error parsing lookback delta duration: {e}")))?;
    Ok(ns.map(|ns| ns / NANOS_PER_MS).filter(|ms| *ms > 0))
}

/// Runs the engine on a blocking thread, its selects bridged back to the runtime, and
/// renders the answer there too (large results take a while to write).
async fn evaluate(
    state: &ApiState,
    tenant: TenantId,
    eval: Evaluation,
) -> Result<Success, PromError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + eval.timeout;
    let queryable = SourceQueryable::new(
        state.source.clone(),
        tenant,
        tokio::runtime::Handle::current(),
        deadline.into_std(),
    );
    let mut engine: Engine = state.engine.clone();
    if let Some(ms) = eval.lookback_delta_ms {
        engine.options.lookback_delta_ms = ms;
    }
    engine.options.max_source_resolution_ms = eval.max_source_resolution_ms;
    let slot = tokio::time::timeout_at(deadline, state.query_slots.clone().acquire_owned());
    let permit = match slot.await {
        Err(_) => return Err(PromError::timeout("query timed out in query queue")),
        Ok(Err(closed)) => return Err(PromError::internal(closed.to_string())),
        Ok(Ok(permit)) => permit,
    };
    // The permit moves into the task: a query abandoned at its deadline keeps its slot
    // until the engine stops.
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let result = if eval.step_ms == 0 {
            engine.instant(&queryable, &eval.query, eval.start_ms)
        } else {
            engine.range(
                &queryable,
                &eval.query,
                eval.start_ms,
                eval.end_ms,
                eval.step_ms,
            )
        };
        let answer = result.map(|r| respond(r, eval.limit, eval.stats, started));
        (answer, queryable.take_source_error())
    });
    match tokio::time::timeout_at(deadline, task).await {
        Err(_) => Err(PromError::timeout("query timed out in query execution")),
        Ok(Err(join)) => Err(PromError::internal(format!(
            "query evaluation failed: {join}"
        ))),
        Ok(Ok((Ok(result), _))) => Ok(result),
        Ok(Ok((Err(_), Some(source_error)))) => Err(PromError::from_source(source_error)),
        Ok(Ok((Err(e), None))) => Err(PromError::from_eval(e)),
    }
}

/// The answer of a query: its data, `limit` applied, annotations as warnings and infos.
fn respond(result: QueryResult, limit: usize, stats: bool, started: Instant) -> Success {
    let QueryResult {
        mut value,
        annotations,
        samples_read,
    } = result;
    let mut warnings = annotations.warnings;
    if limit > 0 && truncate(&mut value, limit) {
        warnings.push("results truncated due to limit".to_string());
    }
    let mut data = String::new();
    json::push_query_data(&mut data, &value);
    if stats {
        // Reopen the object to add `stats` after `result`.
        data.pop();
        data.push_str(&stats_json(samples_read, started.elapsed()));
        data.push('}');
    }
    Success {
        data,
        warnings,
        infos: annotations.infos,
    }
}

/// Keeps the first `limit` series of a vector or matrix; whether any were dropped.
fn truncate(value: &mut Value, limit: usize) -> bool {
    match value {
        Value::Vector(v) if v.len() > limit => v.truncate(limit),
        Value::Matrix(m) if m.len() > limit => m.truncate(limit),
        _ => return false,
    }
    true
}

/// `,"stats":{..}` with the timings and samples Sextant measures.
fn stats_json(samples_read: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    format!(
        ",\"stats\":{{\"timings\":{{\"evalTotalTime\":{seconds},\"execTotalTime\":{seconds}}},\
         \"samples\":{{\"totalQueryableSamples\":{samples_read}}}}}"
    )
}

/// `GET|POST /query_exemplars`: validates `query`, `start`, `end`. Sextant does not store
/// queryable exemplars yet, so the answer is always an empty list.
pub async fn exemplars(
    State(_state): State<ApiState>,
    Tenant(_tenant): Tenant,
    params: Params,
) -> Result<Success, PromError> {
    let start = params.time_or("start", MIN_TIME_MS)?;
    let end = params.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(PromError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    parser::parse(params.get("query")).map_err(PromError::bad_data)?;
    Ok(Success::new("[]".to_string()))
}

/// `GET|POST /format_query`: the query pretty-printed.
pub async fn format(params: Params) -> Result<Success, PromError> {
    let expr = parser::parse(params.get("query")).map_err(|e| invalid_param("query", e))?;
    Success::json(&expr.prettify())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params::parse(Some(query), None)
    }

    #[test]
    fn step_table() {
        // (query string, start, end, Ok(step ms) or Err(message))
        let cases: &[(&str, i64, i64, Result<i64, &str>)] = &[
            ("step=15", 0, 3_600_000, Ok(15_000)),
            ("step=0.5", 0, 60_000, Ok(500)),
            ("step=15s", 0, 3_600_000, Ok(15_000)),
            ("step=1m30s", 0, 3_600_000, Ok(90_000)),
            ("step=1", 0, 11_000_000, Ok(1000)),
            (
                "step=1",
                0,
                11_001_000,
                Err("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"),
            ),
            (
                "step=0",
                0,
                1000,
                Err("zero or negative query resolution step widths are not accepted. Try a positive integer"),
            ),
            (
                "step=-5",
                0,
                1000,
                Err("zero or negative query resolution step widths are not accepted. Try a positive integer"),
            ),
            (
                "",
                0,
                1000,
                Err("invalid parameter \"step\": cannot parse \"\" to a valid duration"),
            ),
            (
                "step=abc",
                0,
                1000,
                Err("invalid parameter \"step\": cannot parse \"abc\" to a valid duration"),
            ),
        ];
        for (query, start, end, want) in cases {
            let got = range_step_ms(&params(query), *start, *end).map_err(|e| e.message);
            assert_eq!(got, want.map_err(str::to_string), "{query}");
        }
    }

    #[test]
    fn truncate_only_when_longer() {
        let mut v = Value::Vector(Vec::new());
        assert!(!truncate(&mut v, 1));
        let mut s = Value::Scalar { t: 0, f: 1.0 };
        assert!(!truncate(&mut s, 1));
        let series = sextant_metrics::promql::Series::default();
        let mut m = Value::Matrix(vec![series.clone(), series]);
        assert!(truncate(&mut m, 1));
        assert!(matches!(m, Value::Matrix(ref x) if x.len() == 1));
    }
}
