//! The Prometheus read API of the ruler's state: `/api/v1/rules` and `/api/v1/alerts`
//! (under `/prometheus` too), groups and alerts of both signals for the caller's tenant.
//! Filters of `/rules` as in Prometheus: `type=alert|record`, `rule_name[]`, `rule_group[]`,
//! `file[]` (the namespace), `exclude_alerts=true`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sextant_kit::error::ApiError;
use sextant_model::Signal;

use super::RulesApiState;
use crate::state::{RuleGroupState, RuleStatus};

type Shared = Arc<RulesApiState>;

/// The signals that have rules, in the order their groups are listed.
const RULE_SIGNALS: [Signal; 2] = [Signal::Metrics, Signal::Logs];

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/prometheus/api/v1/rules", get(rules_handler))
        .route("/prometheus/api/v1/alerts", get(alerts_handler))
}

/// Which rules `/api/v1/rules` returns.
#[derive(Debug, Default, PartialEq)]
pub(super) struct RulesFilter {
    /// `Some(true)`: alerting rules only; `Some(false)`: recording rules only.
    alerting: Option<bool>,
    rule_names: HashSet<String>,
    groups: HashSet<String>,
    files: HashSet<String>,
    exclude_alerts: bool,
}

impl RulesFilter {
    /// Reads the filter from a query string; an unknown `type` is an error.
    pub(super) fn parse(query: &str) -> Result<Self, String> {
        let mut filter = RulesFilter::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match key.trim_end_matches("[]") {
                "type" => {
                    filter.alerting = match value.as_str() {
                        "alert" => Some(true),
                        "record" => Some(false),
                        "" => None,
                        other => return Err(format!("invalid query parameter type='{other}'")),
                    }
                }
                "rule_name" => {
                    filter.rule_names.insert(value);
                }
                "rule_group" => {
                    filter.groups.insert(value);
                }
                "file" => {
                    filter.files.insert(value);
                }
                "exclude_alerts" => filter.exclude_alerts = value == "true",
                _ => {}
            }
        }
        Ok(filter)
    }

    /// Whether only some rules are asked for (groups left without rules are then dropped).
    fn filters_rules(&self) -> bool {
        self.alerting.is_some() || !self.rule_names.is_empty()
    }

    fn keeps_rule(&self, rule: &RuleStatus) -> bool {
        let is_alerting = matches!(rule, RuleStatus::Alerting(_));
        self.alerting.is_none_or(|a| a == is_alerting)
            && (self.rule_names.is_empty() || self.rule_names.contains(rule.name()))
    }

    /// The groups kept, with their rules filtered.
    pub(super) fn apply(&self, groups: Vec<RuleGroupState>) -> Vec<RuleGroupState> {
        groups
            .into_iter()
            .filter(|g| self.groups.is_empty() || self.groups.contains(&g.name))
            .filter(|g| self.files.is_empty() || self.files.contains(&g.file))
            .filter_map(|mut group| {
                group.rules.retain(|r| self.keeps_rule(r));
                if self.exclude_alerts {
                    for rule in &mut group.rules {
                        if let RuleStatus::Alerting(alerting) = rule {
                            alerting.alerts.clear();
                        }
                    }
                }
                (!self.filters_rules() || !group.rules.is_empty()).then_some(group)
            })
            .collect()
    }
}

fn bad_data(message: String) -> Response {
    let body = json!({"status": "error", "errorType": "bad_data", "error": message});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn rules_handler(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match state.tenants.resolve(&headers) {
        Ok(tenant) => tenant,
        Err(e) => return e.into_response(),
    };
    let filter = match RulesFilter::parse(query.as_deref().unwrap_or("")) {
        Ok(filter) => filter,
        Err(message) => return bad_data(message),
    };
    let groups: Vec<RuleGroupState> = RULE_SIGNALS
        .iter()
        .flat_map(|signal| state.view.rule_groups(*signal, &tenant))
        .collect();
    let groups = filter.apply(groups);
    Json(json!({"status": "success", "data": {"groups": groups}})).into_response()
}

async fn alerts_handler(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let tenant = match state.tenants.resolve(&headers) {
        Ok(tenant) => tenant,
        Err(e) => return ApiError::into_response(e),
    };
    let alerts: Vec<_> = RULE_SIGNALS
        .iter()
        .flat_map(|signal| state.view.alerts(*signal, &tenant))
        .collect();
    Json(json!({"status": "success", "data": {"alerts": alerts}})).into_response()
}
