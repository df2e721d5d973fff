//! The configuration API: rule groups as YAML, read from and written to the rule store.
//! Status codes and messages follow Mimir: 404 `no rule groups found` / `group does not
//! exist` / `group namespace does not exist`, 202 `{"status":"success",...}` on changes,
//! 400 naming the group and rule for invalid rules, plain-text errors.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use sextant_kit::error::ApiError;
use sextant_model::{ErrorKind, Signal, TenantId};

use super::RulesApiState;
use crate::error::RulerError;
use crate::rule_file::RuleGroupDesc;
use crate::validate::{validate_group, validate_namespace_name};

type Shared = Arc<RulesApiState>;

/// The path prefixes of the configuration API, with their signal and whether the bare prefix
/// lists all namespaces: Mimir's, Cortex's (`/api/v1/rules`, what cortextool calls; the
/// Prometheus read API is under `/prometheus/api/v1/`) and Loki's.
const PREFIXES: [(&str, Signal, bool); 3] = [
    ("/prometheus/config/v1/rules", Signal::Metrics, true),
    ("/api/v1/rules", Signal::Metrics, true),
    ("/loki/api/v1/rules", Signal::Logs, true),
];

pub(super) fn routes() -> Router<Shared> {
    let mut router = Router::new();
    for (prefix, signal, with_root) in PREFIXES {
        if with_root {
            router = router.route(
                prefix,
                get(move |State(s): State<Shared>, h: HeaderMap| async move {
                    respond(list(&s, signal, &h, None).await)
                }),
            );
        }
        router = router
            .route(
                &format!("{prefix}/{{namespace}}"),
                get(
                    move |State(s): State<Shared>, h: HeaderMap, Path(ns): Path<String>| async move {
                        respond(list(&s, signal, &h, Some(&ns)).await)
                    },
                )
                .post(
                    move |State(s): State<Shared>,
                          h: HeaderMap,
                          Path(ns): Path<String>,
                          body: Bytes| async move {
                        respond(create(&s, signal, &h, &ns, &body).await)
                    },
                )
                .delete(
                    move |State(s): State<Shared>, h: HeaderMap, Path(ns): Path<String>| async move {
                        respond(delete_namespace(&s, signal, &h, &ns).await)
                    },
                ),
            )
            .route(
                &format!("{prefix}/{{namespace}}/{{group}}"),
                get(
                    move |State(s): State<Shared>,
                          h: HeaderMap,
                          Path((ns, g)): Path<(String, String)>| async move {
                        respond(get_group(&s, signal, &h, &ns, &g).await)
                    },
                )
                .delete(
                    move |State(s): State<Shared>,
                          h: HeaderMap,
                          Path((ns, g)): Path<(String, String)>| async move {
                        respond(delete_group(&s, signal, &h, &ns, &g).await)
                    },
                ),
            );
    }
    router
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn tenant(state: &RulesApiState, headers: &HeaderMap) -> Result<TenantId, ApiError> {
    state.tenants.resolve(headers)
}

/// A YAML body, as Mimir answers the configuration API.
fn yaml(value: &impl Serialize) -> Result<Response, ApiError> {
    let text = serde_yaml::to_string(value)
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("encoding YAML: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/yaml")], text).into_response())
}

/// 202 with Mimir's success body: the change is stored and rulers pick it up at their next
/// poll.
fn accepted() -> Response {
    let body = serde_json::json!({"status": "success", "data": null, "errorType": "", "error": ""});
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

/// `GET .../rules` (all namespaces) and `GET .../rules/{namespace}`: `{namespace: [groups]}`.
async fn list(
    state: &RulesApiState,
    signal: Signal,
    headers: &HeaderMap,
    namespace: Option<&str>,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers)?;
    let mut namespaces = state.store.list_groups(signal, &tenant).await?;
    if let Some(namespace) = namespace {
        namespaces.retain(|ns, _| ns == namespace);
    }
    namespaces.retain(|_, groups| !groups.is_empty());
    if namespaces.is_empty() {
        return Err(RulerError::NoRuleGroups.into());
    }
    yaml(&namespaces)
}

async fn get_group(
    state: &RulesApiState,
    signal: Signal,
    headers: &HeaderMap,
    namespace: &str,
    group: &str,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers)?;
    let group = state
        .store
        .get_group(signal, &tenant, namespace, group)
        .await?;
    yaml(&group)
}

/// `POST .../rules/{namespace}` with one group as YAML: validated, limited, stored.
async fn create(
    state: &RulesApiState,
    signal: Signal,
    headers: &HeaderMap,
    namespace: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers)?;
    validate_namespace_name(namespace)?;
    let group: RuleGroupDesc =
        serde_yaml::from_slice(body).map_err(|e| RulerError::BadYaml(e.to_string()))?;
    validate_group(signal, &group)?;
    check_limits(state, signal, &tenant, namespace, &group).await?;
    state
        .store
        .put_group(signal, &tenant, namespace, &group)
        .await?;
    tracing::info!(%signal, %tenant, namespace, group = %group.name, rules = group.rules.len(), "rule group stored");
    Ok(accepted())
}

/// Mimir's per-tenant limits: rules per group, and groups per tenant (a replaced group does
/// not count twice).
async fn check_limits(
    state: &RulesApiState,
    signal: Signal,
    tenant: &TenantId,
    namespace: &str,
    group: &RuleGroupDesc,
) -> Result<(), ApiError> {
    let limits = state.limits;
    let max_rules = limits.max_rules_per_rule_group;
    if max_rules > 0 && group.rules.len() > max_rules {
        return Err(limit_error(format!(
            "per-user rules per rule group limit (limit: {max_rules} actual: {}) exceeded",
            group.rules.len()
        )));
    }
    let max_groups = limits.max_rule_groups_per_tenant;
    if max_groups == 0 {
        return Ok(());
    }
    let existing = state.store.list_groups(signal, tenant).await?;
    let replaces = existing
        .get(namespace)
        .is_some_and(|groups| groups.iter().any(|g| g.name == group.name));
    let after = existing.values().map(Vec::len).sum::<usize>() + usize::from(!replaces);
    if after > max_groups {
        return Err(limit_error(format!(
            "per-user rule groups limit (limit: {max_groups} actual: {after}) exceeded"
        )));
    }
    Ok(())
}

fn limit_error(message: String) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, message).with_id("err-sextant-ruler-limits")
}

async fn delete_group(
    state: &RulesApiState,
    signal: Signal,
    headers: &HeaderMap,
    namespace: &str,
    group: &str,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers)?;
    state
        .store
        .delete_group(signal, &tenant, namespace, group)
        .await?;
    tracing::info!(%signal, %tenant, namespace, group, "rule group deleted");
    Ok(accepted())
}

async fn delete_namespace(
    state: &RulesApiState,
    signal: Signal,
    headers: &HeaderMap,
    namespace: &str,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers)?;
    state
        .store
        .delete_namespace(signal, &tenant, namespace)
        .await?;
    tracing::info!(%signal, %tenant, namespace, "rule namespace deleted");
    Ok(accepted())
}
