//! Forwards the ruler's endpoints (rules API, `rules`, `alerts`) to the rulers' HTTP API when
//! the querier runs without a ruler in its process, so that a Grafana data source pointed at
//! the querier can manage and show rules (as Mimir's gateway does). The request's method,
//! path, query, tenant header, content type and body go as they came; the answer comes back
//! with its status, content type and body.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

/// The header that names the tenant.
const TENANT_HEADER: &str = "X-Scope-OrgID";

#[derive(Clone)]
struct ProxyState {
    base: String,
    client: object_store_reqwest::Client,
}

/// The routes the ruler serves, forwarded to `base` (e.g. `http://sextant-ruler:8080`).
pub fn ruler_proxy_router(base: &str) -> Router {
    // reqwest is built without a bundled TLS provider (see crates/storage/Cargo.toml)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = ProxyState {
        base: base.trim_end_matches('/').to_owned(),
        client: object_store_reqwest::Client::new(),
    };
    Router::new()
        .route("/prometheus/api/v1/rules", get(forward))
        .route("/prometheus/api/v1/alerts", get(forward))
        .route("/api/v1/rules", any(forward))
        .route("/prometheus/config/v1/rules", any(forward))
        .route("/prometheus/config/v1/rules/{*rest}", any(forward))
        .route("/api/v1/rules/{*rest}", any(forward))
        .route("/loki/api/v1/rules", any(forward))
        .route("/loki/api/v1/rules/{*rest}", any(forward))
        .with_state(state)
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", state.base);
    let mut request = state.client.request(method, &url).body(body);
    for name in [TENANT_HEADER, header::CONTENT_TYPE.as_str()] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(%url, error = %e, "cannot reach the ruler");
            let message = format!("cannot reach the ruler at {}: {e}", state.base);
            return (StatusCode::BAD_GATEWAY, message).into_response();
        }
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let body = match answer.bytes().await {
        Ok(body) => body,
        Err(e) => {
            let message = format!("reading the ruler's answer: {e}");
            return (StatusCode::BAD_GATEWAY, message).into_response();
        }
    };
    let mut response = (status, body).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// A fake ruler echoing what it received.
    async fn fake_ruler() -> SocketAddr {
        async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
            let tenant = headers
                .get(TENANT_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            let text = format!(
                "{method} {uri} tenant={tenant} body={}",
                String::from_utf8_lossy(&body)
            );
            (
                StatusCode::ACCEPTED,
                [(header::CONTENT_TYPE, "text/plain")],
                text,
            )
                .into_response()
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, Router::new().fallback(any(echo)))
                .await
                .unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn forwards_method_path_tenant_and_body() {
        let addr = fake_ruler().await;
        let router = ruler_proxy_router(&format!("http://{addr}/"));
        let cases = [
            ("GET", "/prometheus/api/v1/rules?type=alert", ""),
            (
                "POST",
                "/prometheus/config/v1/rules/ns1",
                "name: g\nrules: []\n",
            ),
            ("DELETE", "/loki/api/v1/rules/ns/g", ""),
            ("GET", "/api/v1/rules", ""),
        ];
        for (method, path, body) in cases {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .header(TENANT_HEADER, "team-a")
                .header(header::CONTENT_TYPE, "application/yaml")
                .body(Body::from(body.to_owned()))
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED, "{method} {path}");
            let got = response.into_body().collect().await.unwrap().to_bytes();
            let want = format!("{method} {path} tenant=team-a body={body}");
            assert_eq!(String::from_utf8_lossy(&got), want);
        }
    }

    #[tokio::test]
    async fn an_unreachable_ruler_is_a_bad_gateway() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let router = ruler_proxy_router(&format!("http://{addr}"));
        let request = Request::builder()
            .uri("/prometheus/api/v1/rules")
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    }
}
