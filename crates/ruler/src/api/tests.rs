use std::collections::{BTreeMap, HashMap};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use object_store::memory::InMemory;
use sextant_kit::tenant::{TenantResolver, ORG_ID_HEADER};
use sextant_model::{Signal, TenantId};
use tower::ServiceExt;

use super::*;
use crate::rule_file::RuleGroupDesc;
use crate::state::{
    AlertInstance, AlertState, AlertingRuleStatus, RecordingRuleStatus, RuleGroupState, RuleHealth,
    RuleStatus,
};
use crate::store::{CombinedRuleStore, LocalRuleStore, ObjectRuleStore};

const GROUP: &str = "name: g1\nrules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    annotations:\n      summary: '{{ $labels.job }} is down'\n";
const LOGS_GROUP: &str = "name: lg\nrules:\n  - alert: Errors\n    expr: 'sum(rate({app=\"x\"} |= \"error\" [1m])) > 0'\n";

/// A fixed state per (signal, tenant).
#[derive(Default)]
struct FakeView {
    groups: HashMap<(Signal, TenantId), Vec<RuleGroupState>>,
    alerts: HashMap<(Signal, TenantId), Vec<AlertInstance>>,
}

impl RulesStateView for FakeView {
    fn rule_groups(&self, signal: Signal, tenant: &TenantId) -> Vec<RuleGroupState> {
        self.groups
            .get(&(signal, tenant.clone()))
            .cloned()
            .unwrap_or_default()
    }

    fn alerts(&self, signal: Signal, tenant: &TenantId) -> Vec<AlertInstance> {
        self.alerts
            .get(&(signal, tenant.clone()))
            .cloned()
            .unwrap_or_default()
    }
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn alert(name: &str) -> AlertInstance {
    AlertInstance {
        labels: BTreeMap::from([("alertname".to_string(), name.to_string())]),
        annotations: BTreeMap::new(),
        state: AlertState::Firing,
        active_at_ms: Some(0),
        keep_firing_since_ms: None,
        value: 1.0,
    }
}

fn group_state(file: &str, name: &str, alerting: &str, recording: &str) -> RuleGroupState {
    RuleGroupState {
        name: name.to_string(),
        file: file.to_string(),
        rules: vec![
            RuleStatus::Alerting(AlertingRuleStatus {
                state: AlertState::Firing,
                name: alerting.to_string(),
                query: "up == 0".to_string(),
                duration: 0.0,
                keep_firing_for: 0.0,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                alerts: vec![alert(alerting)],
                health: RuleHealth::Ok,
                last_error: String::new(),
                evaluation_time: 0.0,
                last_evaluation_ms: None,
            }),
            RuleStatus::Recording(RecordingRuleStatus {
                name: recording.to_string(),
                query: "sum(up)".to_string(),
                labels: BTreeMap::new(),
                health: RuleHealth::Ok,
                last_error: String::new(),
                evaluation_time: 0.0,
                last_evaluation_ms: None,
            }),
        ],
        interval: 60.0,
        limit: 0,
        evaluation_time: 0.0,
        last_evaluation_ms: None,
    }
}

fn fake_view() -> FakeView {
    let mut view = FakeView::default();
    let a = tenant("a");
    view.groups.insert(
        (Signal::Metrics, a.clone()),
        vec![group_state("ns", "g1", "Down", "job:up:sum")],
    );
    view.groups.insert(
        (Signal::Logs, a.clone()),
        vec![group_state("logs-ns", "lg", "Errors", "app:lines")],
    );
    view.groups.insert(
        (Signal::Metrics, tenant("b")),
        vec![group_state("ns", "secret", "BOnly", "b:rec")],
    );
    view.alerts
        .insert((Signal::Metrics, a.clone()), vec![alert("Down")]);
    view.alerts.insert((Signal::Logs, a), vec![alert("Errors")]);
    view.alerts
        .insert((Signal::Metrics, tenant("b")), vec![alert("BOnly")]);
    view
}

fn router_with(store: Arc<dyn RuleStore>, limits: RulesApiLimits) -> Router {
    rules_router(RulesApiState {
        store,
        view: Arc::new(fake_view()),
        tenants: TenantResolver::new(true),
        limits,
    })
}

fn router() -> Router {
    router_with(
        Arc::new(ObjectRuleStore::new(Arc::new(InMemory::new()))),
        RulesApiLimits::default(),
    )
}

async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    org: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(org) = org {
        request = request.header(ORG_ID_HEADER, org);
    }
    let request = request
        .header("content-type", "application/yaml")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn create_read_delete_cycle() {
    let r = router();
    let a = Some("a");
    let base = "/prometheus/config/v1/rules";
    let (status, body) = call(&r, Method::GET, base, a, "").await;
    assert_eq!(
        (status, body.trim()),
        (StatusCode::NOT_FOUND, "no rule groups found")
    );

    let (status, body) = call(&r, Method::POST, &format!("{base}/ns"), a, GROUP).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "success");

    let (status, body) = call(&r, Method::GET, base, a, "").await;
    assert_eq!(status, StatusCode::OK);
    let listed: BTreeMap<String, Vec<RuleGroupDesc>> = serde_yaml::from_str(&body).unwrap();
    let posted: RuleGroupDesc = serde_yaml::from_str(GROUP).unwrap();
    assert_eq!(
        listed,
        BTreeMap::from([("ns".to_string(), vec![posted.clone()])])
    );

    let (status, body) = call(&r, Method::GET, &format!("{base}/ns"), a, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with("ns:"), "{body}");
    let (status, _) = call(&r, Method::GET, &format!("{base}/other"), a, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = call(&r, Method::GET, &format!("{base}/ns/g1"), a, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_yaml::from_str::<RuleGroupDesc>(&body).unwrap(),
        posted
    );
    let (status, body) = call(&r, Method::GET, &format!("{base}/ns/nope"), a, "").await;
    assert_eq!(
        (status, body.trim()),
        (StatusCode::NOT_FOUND, "group does not exist")
    );

    let (status, _) = call(&r, Method::DELETE, &format!("{base}/ns/g1"), a, "").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = call(&r, Method::DELETE, &format!("{base}/ns/g1"), a, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&r, Method::DELETE, &format!("{base}/ns"), a, "").await;
    assert_eq!(
        (status, body.trim()),
        (StatusCode::NOT_FOUND, "group namespace does not exist")
    );

    call(&r, Method::POST, &format!("{base}/ns"), a, GROUP).await;
    let (status, _) = call(&r, Method::DELETE, &format!("{base}/ns"), a, "").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = call(&r, Method::GET, base, a, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn escaped_names_in_paths() {
    let r = router();
    let a = Some("a");
    let body = GROUP.replace("name: g1", "name: 'g 1/x'");
    let (status, text) = call(
        &r,
        Method::POST,
        "/prometheus/config/v1/rules/team%2Fapi",
        a,
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (status, text) = call(
        &r,
        Method::GET,
        "/prometheus/config/v1/rules/team%2Fapi/g%201%2Fx",
        a,
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (_, text) = call(&r, Method::GET, "/prometheus/config/v1/rules", a, "").await;
    assert!(text.starts_with("team/api:"), "{text}");
}

#[tokio::test]
async fn cortex_and_loki_paths() {
    let r = router();
    let a = Some("a");
    // Cortex alias writes the metrics rules
    let (status, body) = call(&r, Method::POST, "/api/v1/rules/ns", a, GROUP).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = call(&r, Method::GET, "/prometheus/config/v1/rules/ns/g1", a, "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&r, Method::GET, "/api/v1/rules/ns/g1", a, "").await;
    assert_eq!(status, StatusCode::OK);

    // logs rules live apart from metrics rules
    let (status, body) = call(&r, Method::POST, "/loki/api/v1/rules/app", a, LOGS_GROUP).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, body) = call(&r, Method::GET, "/loki/api/v1/rules", a, "").await;
    let listed: BTreeMap<String, Vec<RuleGroupDesc>> = serde_yaml::from_str(&body).unwrap();
    assert_eq!(listed.keys().collect::<Vec<_>>(), ["app"]);
    let (_, body) = call(&r, Method::GET, "/prometheus/config/v1/rules", a, "").await;
    let listed: BTreeMap<String, Vec<RuleGroupDesc>> = serde_yaml::from_str(&body).unwrap();
    assert_eq!(listed.keys().collect::<Vec<_>>(), ["ns"]);
    let (status, _) = call(&r, Method::DELETE, "/loki/api/v1/rules/app/lg", a, "").await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // a PromQL rule is not a LogQL rule, and the reverse
    let (status, body) = call(&r, Method::POST, "/loki/api/v1/rules/app", a, GROUP).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = call(
        &r,
        Method::POST,
        "/prometheus/config/v1/rules/ns",
        a,
        LOGS_GROUP,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn invalid_requests_are_refused_naming_the_problem() {
    let r = router();
    let a = Some("a");
    let url = "/prometheus/config/v1/rules/ns";
    let bad_expr = GROUP.replace("expr: up == 0", "expr: 'up =='");
    let cases = [
        (
            bad_expr.as_str(),
            "group \"g1\", rule 2 (\"Down\"): bad expr",
        ),
        (
            "name: g\nrules: [{record: 'x y', expr: up}]",
            "rule 1 (\"x y\"): invalid recording rule name",
        ),
        (
            "name: g\nrules: [{alert: A, expr: up, annotations: {s: '{{ $nope }}'}}]",
            "bad annotation template \"s\"",
        ),
        ("name: [", "unable to decode rule group"),
        (
            "name: g\nbogus: 1\nrules: [{record: a, expr: up}]",
            "unknown field `bogus`",
        ),
        ("", "unable to decode rule group"),
    ];
    for (body, want) in cases {
        let (status, text) = call(&r, Method::POST, url, a, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert!(text.contains(want), "{body}\n got: {text}\nwant: {want}");
    }
    let (status, _) = call(&r, Method::GET, "/prometheus/config/v1/rules", a, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");

    let (status, text) = call(&r, Method::POST, url, None, GROUP).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    let (status, _) = call(&r, Method::GET, "/prometheus/api/v1/rules", None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let huge = format!("{GROUP}# {}\n", "x".repeat(2 << 20));
    let (status, _) = call(&r, Method::POST, url, a, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn limits_are_enforced() {
    let limits = RulesApiLimits {
        max_rule_groups_per_tenant: 1,
        max_rules_per_rule_group: 2,
        ..RulesApiLimits::default()
    };
    let r = router_with(
        Arc::new(ObjectRuleStore::new(Arc::new(InMemory::new()))),
        limits,
    );
    let a = Some("a");
    let url = "/prometheus/config/v1/rules/ns";
    assert_eq!(
        call(&r, Method::POST, url, a, GROUP).await.0,
        StatusCode::ACCEPTED
    );
    // replacing the same group is fine; a second group is not
    assert_eq!(
        call(&r, Method::POST, url, a, GROUP).await.0,
        StatusCode::ACCEPTED
    );
    let second = GROUP.replace("name: g1", "name: g2");
    let (status, text) = call(&r, Method::POST, url, a, &second).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("rule groups limit (limit: 1 actual: 2)"),
        "{text}"
    );
    // another tenant has its own count
    assert_eq!(
        call(&r, Method::POST, url, Some("b"), &second).await.0,
        StatusCode::ACCEPTED
    );
    let three = format!("{GROUP}  - record: c\n    expr: up\n");
    let (status, text) = call(&r, Method::POST, url, a, &three).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("rules per rule group limit (limit: 2 actual: 3)"),
        "{text}"
    );
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let r = router();
    let url = "/prometheus/config/v1/rules/ns";
    assert_eq!(
        call(&r, Method::POST, url, Some("a"), GROUP).await.0,
        StatusCode::ACCEPTED
    );
    for (method, uri) in [
        (Method::GET, "/prometheus/config/v1/rules"),
        (Method::GET, "/prometheus/config/v1/rules/ns"),
        (Method::GET, "/prometheus/config/v1/rules/ns/g1"),
        (Method::DELETE, "/prometheus/config/v1/rules/ns/g1"),
        (Method::DELETE, "/prometheus/config/v1/rules/ns"),
    ] {
        let (status, _) = call(&r, method.clone(), uri, Some("b"), "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
    }
    assert_eq!(
        call(
            &r,
            Method::GET,
            "/prometheus/config/v1/rules/ns/g1",
            Some("a"),
            ""
        )
        .await
        .0,
        StatusCode::OK
    );

    let (_, body) = call(&r, Method::GET, "/prometheus/api/v1/rules", Some("b"), "").await;
    assert!(
        body.contains("BOnly") && !body.contains("Down") && !body.contains("Errors"),
        "{body}"
    );
    let (_, body) = call(&r, Method::GET, "/prometheus/api/v1/alerts", Some("a"), "").await;
    assert!(
        body.contains("Down") && body.contains("Errors") && !body.contains("BOnly"),
        "{body}"
    );
}

#[tokio::test]
async fn local_namespaces_are_read_only_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("metrics/a")).unwrap();
    std::fs::write(
        dir.path().join("metrics/a/gitops.yaml"),
        format!("groups:\n  - {}", GROUP.replace('\n', "\n    ")),
    )
    .unwrap();
    let remote: Arc<dyn RuleStore> = Arc::new(ObjectRuleStore::new(Arc::new(InMemory::new())));
    let store = CombinedRuleStore::new(LocalRuleStore::new(dir.path()), remote);
    let r = router_with(Arc::new(store), RulesApiLimits::default());
    let (status, body) = call(
        &r,
        Method::GET,
        "/prometheus/config/v1/rules/gitops/g1",
        Some("a"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &r,
        Method::POST,
        "/prometheus/config/v1/rules/gitops",
        Some("a"),
        GROUP,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("read-only"), "{body}");
    let (status, _) = call(
        &r,
        Method::DELETE,
        "/prometheus/config/v1/rules/gitops",
        Some("a"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn rule_names(body: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["status"], "success", "{body}");
    json["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn read_api_filters() {
    let r = router();
    let cases: [(&str, &[&str]); 8] = [
        ("", &["Down", "job:up:sum", "Errors", "app:lines"]),
        ("?type=alert", &["Down", "Errors"]),
        ("?type=record", &["job:up:sum", "app:lines"]),
        (
            "?rule_name[]=Down&rule_name[]=app:lines",
            &["Down", "app:lines"],
        ),
        ("?rule_group[]=lg", &["Errors", "app:lines"]),
        ("?file[]=ns", &["Down", "job:up:sum"]),
        ("?file[]=ns&type=record", &["job:up:sum"]),
        ("?rule_name[]=nothing", &[]),
    ];
    let path = "/prometheus/api/v1/rules";
    for (query, want) in cases {
        let (status, body) = call(&r, Method::GET, &format!("{path}{query}"), Some("a"), "").await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(rule_names(&body), want, "{path}{query}");
    }
    let (_, body) = call(
        &r,
        Method::GET,
        "/prometheus/api/v1/rules?exclude_alerts=true",
        Some("a"),
        "",
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["data"]["groups"][0]["rules"][0]["alerts"],
        serde_json::json!([])
    );
    let (status, body) = call(
        &r,
        Method::GET,
        "/prometheus/api/v1/rules?type=bogus",
        Some("a"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["errorType"], "bad_data");

    let (status, body) = call(&r, Method::GET, "/prometheus/api/v1/alerts", Some("a"), "").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<_> = json["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Down", "Errors"]);
}

#[tokio::test]
async fn cortex_path_lists_every_namespace_as_yaml() {
    let r = router();
    let (status, _) = call(&r, Method::GET, "/api/v1/rules", Some("a"), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no rule groups yet");
    let (status, _) = call(&r, Method::POST, "/api/v1/rules/ns", Some("a"), GROUP).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = call(&r, Method::GET, "/api/v1/rules", Some("a"), "").await;
    assert_eq!(status, StatusCode::OK);
    let listed: std::collections::BTreeMap<String, Vec<crate::rule_file::RuleGroupDesc>> =
        serde_yaml::from_str(&body).unwrap();
    assert_eq!(listed["ns"].len(), 1, "{body}");
    let (status, _) = call(&r, Method::GET, "/api/v1/rules", Some("b"), "").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "tenant b sees none of a's rules"
    );
}
