//! The HTTP API of deletions: Mimir's tenant deletion and Loki's log deletion requests, with
//! their paths and JSON. Handlers are thin: tenant from `X-Scope-OrgID`, parameters checked
//! (a 400 names the bad parameter), then the domain functions of `super`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use object_store::ObjectStore;
use serde::Serialize;
use sextant_kit::error::ApiError;
use sextant_kit::tenant::TenantResolver;
use sextant_model::{ErrorKind, Signal};

use super::requests::{
    delete_log_deletion_request, list_log_deletion_requests, put_log_deletion_request,
    validate_deletion_query, LogDeletionRequest, LogDeletionStatus,
};
use super::tenant::{mark_tenant_for_deletion, tenant_deletion_status};
use crate::error::CompactorError;

/// What the deletion endpoints need.
#[derive(Clone)]
pub struct CompactorDeletionState {
    pub store: Arc<dyn ObjectStore>,
    pub tenants: TenantResolver,
    /// The signals a tenant deletion covers (every signal the cluster stores).
    pub signals: Vec<Signal>,
}

/// `POST /compactor/delete_tenant`, `GET /compactor/delete_tenant_status`, and
/// `POST|GET|DELETE /loki/api/v1/delete`.
pub fn deletion_router(state: CompactorDeletionState) -> Router {
    Router::new()
        .route("/compactor/delete_tenant", post(delete_tenant))
        .route("/compactor/delete_tenant_status", get(delete_tenant_status))
        .route(
            "/loki/api/v1/delete",
            post(create_request)
                .get(list_requests)
                .delete(cancel_request),
        )
        .with_state(state)
}

type Params = Query<HashMap<String, String>>;

async fn delete_tenant(
    State(state): State<CompactorDeletionState>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = state.tenants.resolve(&headers)?;
        mark_tenant_for_deletion(&*state.store, &tenant, &state.signals, now_ms())
            .await
            .map_err(internal)
    };
    match result.await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_tenant_status(
    State(state): State<CompactorDeletionState>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = state.tenants.resolve(&headers)?;
        tenant_deletion_status(&*state.store, &tenant, &state.signals)
            .await
            .map_err(internal)
    };
    match result.await {
        Ok(status) => Json(status).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn create_request(
    State(state): State<CompactorDeletionState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let result = async {
        let tenant = state.tenants.resolve(&headers)?;
        let request = new_request(&params, now_ms())?;
        put_log_deletion_request(&*state.store, &tenant, &request)
            .await
            .map_err(internal)?;
        tracing::info!(%tenant, request_id = request.request_id, query = request.query, "log deletion request received");
        Ok::<_, ApiError>(())
    };
    match result.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// One request as Loki lists it (times in Unix seconds), plus the entries deleted.
#[derive(Debug, Serialize)]
struct ListedRequest {
    request_id: String,
    start_time: f64,
    end_time: f64,
    query: String,
    status: LogDeletionStatus,
    created_at: f64,
    entries_deleted: u64,
}

async fn list_requests(
    State(state): State<CompactorDeletionState>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = state.tenants.resolve(&headers)?;
        list_log_deletion_requests(&*state.store, &tenant)
            .await
            .map_err(internal)
    };
    let seconds = |ms: i64| ms as f64 / 1000.0;
    match result.await {
        Ok(requests) => {
            let listed: Vec<ListedRequest> = requests
                .into_iter()
                .map(|r| ListedRequest {
                    start_time: seconds(r.start_time_ms),
                    end_time: seconds(r.end_time_ms),
                    created_at: seconds(r.created_at_ms),
                    request_id: r.request_id,
                    query: r.query,
                    status: r.status,
                    entries_deleted: r.entries_deleted,
                })
                .collect();
            Json(listed).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn cancel_request(
    State(state): State<CompactorDeletionState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let result = async {
        let tenant = state.tenants.resolve(&headers)?;
        let id = required(&params, "request_id")?;
        let requests = list_log_deletion_requests(&*state.store, &tenant)
            .await
            .map_err(internal)?;
        let not_found = || {
            ApiError::new(
                ErrorKind::NotFound,
                format!("request_id: no deletion request {id:?}"),
            )
        };
        let request = requests
            .iter()
            .find(|r| r.request_id == id)
            .ok_or_else(not_found)?;
        if request.status == LogDeletionStatus::Processed {
            return Err(bad_request(format!(
                "request_id: deletion request {id:?} is already processed and cannot be cancelled"
            )));
        }
        match delete_log_deletion_request(&*state.store, &tenant, id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(not_found()),
            Err(e) => Err(internal(e)),
        }
    };
    match result.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A new `received` request from `query`, `start` (required) and `end` (default now).
fn new_request(
    params: &HashMap<String, String>,
    now_ms: i64,
) -> Result<LogDeletionRequest, ApiError> {
    let query = required(params, "query")?;
    validate_deletion_query(query)
        .map_err(|e| bad_request(format!("query: invalid deletion query: {e}")))?;
    let start_time_ms = parse_time_ms(required(params, "start")?)
        .ok_or_else(|| bad_request("start: not a Unix time in seconds or an RFC3339 time"))?;
    let end_time_ms = match params.get("end").map(String::as_str) {
        None | Some("") => now_ms,
        Some(end) => parse_time_ms(end)
            .ok_or_else(|| bad_request("end: not a Unix time in seconds or an RFC3339 time"))?,
    };
    if end_time_ms < start_time_ms {
        return Err(bad_request("end: before start"));
    }
    Ok(LogDeletionRequest {
        request_id: format!("{:016x}", rand::random::<u64>()),
        query: query.to_owned(),
        start_time_ms,
        end_time_ms,
        created_at_ms: now_ms,
        status: LogDeletionStatus::Received,
        entries_deleted: 0,
        processed_at_ms: 0,
        applied_through_ms: 0,
    })
}

fn required<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    match params.get(name).map(String::as_str) {
        None | Some("") => Err(bad_request(format!("{name}: required"))),
        Some(value) => Ok(value),
    }
}

/// Unix seconds (integer or fractional) or RFC3339, as Loki's delete API takes them, in ms.
pub(crate) fn parse_time_ms(value: &str) -> Option<i64> {
    if let Ok(seconds) = value.parse::<f64>() {
        let ms = (seconds * 1000.0).round();
        return (seconds.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64);
    }
    parse_rfc3339_ms(value)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` in ms (fraction truncated to ms).
fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once(['T', 't'])?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let zone_at = rest.find(['Z', 'z', '+', '-'])?;
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (parts.next()??, parts.next()??, parts.next()??);
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !valid || [hour, minute, second].iter().any(|v| *v < 0) {
        return None;
    }
    let millis = format!("{:0<3}", fraction.get(..3).unwrap_or(fraction))
        .parse::<i64>()
        .ok()?;
    let offset_s = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone.get(1..)?.split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset_s) * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, message)
}

fn internal(e: CompactorError) -> ApiError {
    ApiError::new(e.kind(), e.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
