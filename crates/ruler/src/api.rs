//! The rules HTTP API, compatible with Mimir/Cortex and Loki (so `mimirtool`, `cortextool`,
//! `lokitool` and Grafana's alerting UI can manage rules):
//!
//! - configuration (YAML), `api/config.rs`: `GET /prometheus/config/v1/rules` (all
//!   namespaces), `GET|POST|DELETE .../rules/{namespace}`, `GET|DELETE
//!   .../rules/{namespace}/{group}`; the same for metrics under the Cortex paths
//!   `/api/v1/rules/{namespace}[/{group}]`, and for logs under `/loki/api/v1/rules[...]`.
//! - state (Prometheus JSON), `api/read.rs`: `GET /prometheus/api/v1/rules` and
//!   `GET /prometheus/api/v1/alerts` (and `/api/v1/rules`, `/api/v1/alerts`), with the groups
//!   and alerts of both signals, as Grafana's Prometheus and Loki data sources read them.
//!
//! Every request resolves its tenant from `X-Scope-OrgID`; all reads and writes are scoped to
//! that tenant.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use sextant_kit::tenant::TenantResolver;

use crate::state::RulesStateView;
use crate::store::RuleStore;

mod config;
mod read;

/// Limits of the configuration API; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RulesApiLimits {
    /// Most rule groups one tenant may have per signal (Mimir's
    /// `ruler_max_rule_groups_per_tenant`).
    pub max_rule_groups_per_tenant: usize,
    /// Most rules in one group (Mimir's `ruler_max_rules_per_rule_group`).
    pub max_rules_per_rule_group: usize,
    /// Largest accepted request body (413 beyond).
    pub max_request_body_bytes: usize,
}

impl Default for RulesApiLimits {
    fn default() -> Self {
        RulesApiLimits {
            max_rule_groups_per_tenant: 0,
            max_rules_per_rule_group: 0,
            max_request_body_bytes: 1 << 20,
        }
    }
}

/// What the rules API needs.
#[derive(Clone)]
pub struct RulesApiState {
    pub store: Arc<dyn RuleStore>,
    pub view: Arc<dyn RulesStateView>,
    pub tenants: TenantResolver,
    pub limits: RulesApiLimits,
}

/// The rules API's routes (configuration and state, both signals).
pub fn rules_router(state: RulesApiState) -> Router {
    let body_limit = state.limits.max_request_body_bytes;
    let shared = Arc::new(state);
    config::routes()
        .merge(read::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(shared)
}

#[cfg(test)]
mod tests;
