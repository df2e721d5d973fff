//! `GET /compactor/ring`: the compactor rings' instances and, per instance, the tenants whose
//! per-tenant passes it owns (as of the last run). HTML, or JSON with `?format=json`.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sextant_ring::gossip::now_ms;

use super::Compactor;
use crate::sharding::{compactor_ring_name, owner, tenant_token};

/// The router of the compactor's status page (the server mounts it).
pub fn compactor_router(compactor: Arc<Compactor>) -> Router {
    Router::new()
        .route("/compactor/ring", get(ring_page))
        .with_state(compactor)
}

#[derive(Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

/// One instance of a compactor ring.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CompactorInstanceStatus {
    pub id: String,
    pub addr: String,
    pub state: String,
    pub tokens: usize,
    pub heartbeat_ms: i64,
    pub healthy: bool,
    /// Tenants whose per-tenant passes it owns.
    pub tenants: Vec<String>,
}

/// One compactor ring.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CompactorRingStatus {
    pub name: String,
    /// False for a lone compactor without a ring (it owns everything).
    pub sharded: bool,
    pub instances: Vec<CompactorInstanceStatus>,
}

fn status(compactor: &Compactor) -> Vec<CompactorRingStatus> {
    let now = now_ms();
    compactor
        .shardings()
        .map(|(signal, sharding)| {
            let tenants = compactor.last_tenants(signal);
            let Some(ring) = sharding.ring() else {
                return CompactorRingStatus {
                    name: compactor_ring_name(signal),
                    sharded: false,
                    instances: Vec::new(),
                };
            };
            let snapshot = ring.token_ring();
            let timeout =
                i64::try_from(snapshot.config().heartbeat_timeout.as_millis()).unwrap_or(i64::MAX);
            let owners: Vec<Option<String>> = tenants
                .iter()
                .map(|t| owner(&snapshot, tenant_token(t), now))
                .collect();
            let instances = snapshot
                .instances()
                .iter()
                .map(|d| CompactorInstanceStatus {
                    id: d.id.clone(),
                    addr: d.addr.clone(),
                    state: d.state.as_str().to_owned(),
                    tokens: d.tokens.len(),
                    heartbeat_ms: d.heartbeat_ms,
                    healthy: d.is_healthy(now, timeout),
                    tenants: tenants
                        .iter()
                        .zip(&owners)
                        .filter(|(_, o)| o.as_deref() == Some(d.id.as_str()))
                        .map(|(t, _)| t.to_string())
                        .collect(),
                })
                .collect();
            CompactorRingStatus {
                name: compactor_ring_name(signal),
                sharded: true,
                instances,
            }
        })
        .collect()
}

async fn ring_page(
    State(compactor): State<Arc<Compactor>>,
    Query(q): Query<FormatQuery>,
) -> Response {
    let rings = status(&compactor);
    if q.format.as_deref() == Some("json") {
        return Json(serde_json::json!({ "rings": rings })).into_response();
    }
    let mut body = String::from("<!DOCTYPE html><html><head><title>Compactor ring</title></head><body><h1>Compactor ring</h1>");
    for ring in &rings {
        let _ = write!(body, "<h2>{}</h2>", escape(&ring.name));
        if !ring.sharded {
            body.push_str("<p>not sharded: this compactor owns every tenant</p>");
            continue;
        }
        body.push_str("<table border=1><tr><th>id</th><th>address</th><th>state</th><th>tokens</th><th>healthy</th><th>tenants</th></tr>");
        for i in &ring.instances {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&i.id),
                escape(&i.addr),
                i.state,
                i.tokens,
                i.healthy,
                escape(&i.tenants.join(", "))
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</body></html>");
    Html(body).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
