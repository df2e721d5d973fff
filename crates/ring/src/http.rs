//! Status pages: `/ring` (index), `/ring/{name}` (HTML table or `?format=json`),
//! `POST /ring/{name}/forget` (form field `id`) and `/memberlist`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::gossip::{now_ms, GossipKv, MemberStatus};
use crate::lifecycler::ring::forget;
use crate::token_ring::InstanceDesc;

/// What the pages read: the KV and the heartbeat timeout of each ring.
#[derive(Clone)]
pub struct RingHttpState {
    kv: Arc<GossipKv>,
    heartbeat_timeouts: BTreeMap<String, Duration>,
}

impl RingHttpState {
    /// Pages over `kv`; rings known to gossip are listed even when not registered.
    pub fn new(kv: Arc<GossipKv>) -> Self {
        Self {
            kv,
            heartbeat_timeouts: BTreeMap::new(),
        }
    }

    /// Lists `name` (even before anything registers) and judges health with `heartbeat_timeout`.
    pub fn with_ring(mut self, name: &str, heartbeat_timeout: Duration) -> Self {
        self.heartbeat_timeouts
            .insert(name.to_string(), heartbeat_timeout);
        self
    }

    fn ring_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.heartbeat_timeouts.keys().cloned().collect();
        names.extend(self.kv.ring_names());
        names.sort();
        names.dedup();
        names
    }

    fn timeout_ms(&self, name: &str) -> i64 {
        let timeout = self
            .heartbeat_timeouts
            .get(name)
            .copied()
            .unwrap_or(Duration::from_secs(60));
        i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The router of the status pages.
pub fn ring_router(state: RingHttpState) -> Router {
    Router::new()
        .route("/ring", get(ring_index))
        .route("/ring/{name}", get(ring_page))
        .route("/ring/{name}/forget", post(ring_forget))
        .route("/memberlist", get(memberlist_page))
        .with_state(state)
}

#[derive(Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

impl FormatQuery {
    fn json(&self) -> bool {
        self.format.as_deref() == Some("json")
    }
}

/// One row of `/ring/{name}?format=json`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RingInstanceStatus {
    pub id: String,
    pub addr: String,
    pub zone: String,
    pub state: String,
    pub tokens: usize,
    pub heartbeat_ms: i64,
    pub healthy: bool,
}

/// The body of `/ring/{name}?format=json`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RingStatus {
    pub name: String,
    pub instances: Vec<RingInstanceStatus>,
}

fn status(name: &str, instances: &[InstanceDesc], now_ms: i64, timeout_ms: i64) -> RingStatus {
    RingStatus {
        name: name.to_string(),
        instances: instances
            .iter()
            .map(|d| RingInstanceStatus {
                id: d.id.clone(),
                addr: d.addr.clone(),
                zone: d.zone.clone(),
                state: d.state.as_str().to_string(),
                tokens: d.tokens.len(),
                heartbeat_ms: d.heartbeat_ms,
                healthy: d.is_healthy(now_ms, timeout_ms),
            })
            .collect(),
    }
}

async fn ring_index(State(state): State<RingHttpState>, Query(q): Query<FormatQuery>) -> Response {
    let names = state.ring_names();
    if q.json() {
        return Json(serde_json::json!({ "rings": names })).into_response();
    }
    let mut body = String::from("<h1>Rings</h1><ul>");
    for name in &names {
        let n = escape(name);
        let _ = write!(body, r#"<li><a href="/ring/{n}">{n}</a></li>"#);
    }
    body.push_str("</ul>");
    page("Rings", &body)
}

async fn ring_page(
    State(state): State<RingHttpState>,
    Path(name): Path<String>,
    Query(q): Query<FormatQuery>,
) -> Response {
    if !state.ring_names().contains(&name) {
        return (StatusCode::NOT_FOUND, format!("unknown ring {name:?}\n")).into_response();
    }
    let desc = state.kv.get(&name);
    // `Left` tombstones only exist so gossip does not resurrect a departed instance: hide them.
    let instances: Vec<InstanceDesc> = desc.live_instances().cloned().collect();
    let now = now_ms();
    let status = status(&name, &instances, now, state.timeout_ms(&name));
    if q.json() {
        return Json(status).into_response();
    }
    page(&format!("Ring {name}"), &ring_table(&status, now))
}

fn ring_table(status: &RingStatus, now_ms: i64) -> String {
    let name = escape(&status.name);
    let mut body = format!(
        "<h1>Ring {name}</h1><table border=1><tr><th>ID</th><th>Address</th><th>Zone</th>\
         <th>State</th><th>Tokens</th><th>Last heartbeat</th><th>Healthy</th><th></th></tr>"
    );
    for i in &status.instances {
        let age = Duration::from_millis(u64::try_from(now_ms - i.heartbeat_ms).unwrap_or(0));
        let _ = write!(
            body,
            "<tr><td>{id}</td><td>{addr}</td><td>{zone}</td><td>{state}</td><td>{tokens}</td>\
             <td>{age} ago</td><td>{healthy}</td><td><form method=post action=\"/ring/{name}/forget\">\
             <input type=hidden name=id value=\"{id}\"><button type=submit>Forget</button></form></td></tr>",
            id = escape(&i.id),
            addr = escape(&i.addr),
            zone = escape(&i.zone),
            state = i.state,
            tokens = i.tokens,
            age = sextant_model::duration::format(age),
            healthy = if i.healthy { "yes" } else { "NO" },
        );
    }
    body.push_str("</table>");
    body
}

#[derive(Deserialize)]
struct ForgetForm {
    id: String,
}

async fn ring_forget(
    State(state): State<RingHttpState>,
    Path(name): Path<String>,
    Form(form): Form<ForgetForm>,
) -> Response {
    if !forget(&state.kv, &name, &form.id) {
        let msg = format!("no instance {:?} in ring {name:?}\n", form.id);
        return (StatusCode::NOT_FOUND, msg).into_response();
    }
    Redirect::to(&format!("/ring/{name}")).into_response()
}

async fn memberlist_page(
    State(state): State<RingHttpState>,
    Query(q): Query<FormatQuery>,
) -> Response {
    let members = state.kv.members().await;
    if q.json() {
        return Json(serde_json::json!({ "node": state.kv.node_name(), "members": members }))
            .into_response();
    }
    page(
        "Memberlist",
        &members_table(&state.kv.node_name(), &members),
    )
}

fn members_table(node: &str, members: &[MemberStatus]) -> String {
    let mut body = format!(
        "<h1>Memberlist</h1><p>This node: {}</p><table border=1>\
         <tr><th>Name</th><th>Address</th><th>State</th></tr>",
        escape(node)
    );
    for m in members {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&m.name),
            escape(&m.addr),
            escape(&m.state)
        );
    }
    body.push_str("</table>");
    body
}

fn page(title: &str, body: &str) -> Response {
    let title = escape(title);
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>{title}</title></head><body>{body}</body></html>"
    ))
    .into_response()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
