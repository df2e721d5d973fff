//! Instant queries over HTTP: Prometheus's `/api/v1/query` for metrics, Loki's
//! `/loki/api/v1/query` for logs; both answer the same `data.resultType`/`data.result` JSON.

use futures::future::BoxFuture;
use serde::Deserialize;
use sextant_model::{Labels, Signal, TenantId};

use super::{
    join_url, read_response, LatestSample, QueryClient, QueryResult, RulerQueryError, TENANT_HEADER,
};

/// Queries `{base}/prometheus/api/v1/query` and `{base}/loki/api/v1/query`.
#[derive(Clone)]
pub struct HttpQueryClient {
    client: object_store_reqwest::Client,
    base_url: String,
}

impl HttpQueryClient {
    /// `base_url` is the query API's root, e.g. `http://127.0.0.1:8080`.
    pub fn new(client: object_store_reqwest::Client, base_url: impl Into<String>) -> Self {
        Self {
            client,
            base_url: base_url.into(),
        }
    }

    async fn query(
        &self,
        signal: Signal,
        tenant: &TenantId,
        expr: &str,
        time_ms: i64,
    ) -> Result<Decoded, RulerQueryError> {
        let (url, request) = match signal {
            Signal::Metrics => {
                let url = join_url(&self.base_url, "/prometheus/api/v1/query");
                let body = form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", expr)
                    .append_pair("time", &seconds_param(time_ms))
                    .finish();
                let request = self
                    .client
                    .post(&url)
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body);
                (url, request)
            }
            Signal::Logs => {
                let params = form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", expr)
                    .append_pair("time", &(i128::from(time_ms) * 1_000_000).to_string())
                    .finish();
                let url = join_url(&self.base_url, "/loki/api/v1/query");
                let request = self.client.get(format!("{url}?{params}"));
                (url, request)
            }
            Signal::Traces => return Err(RulerQueryError::UnsupportedSignal(signal)),
        };
        let response = request.header(TENANT_HEADER, tenant.as_str()).send().await;
        let body = read_response(&url, response).await?;
        decode_query_response(&body).map_err(|e| match e {
            DecodeError::Json(message) => RulerQueryError::Decode { url, message },
            DecodeError::Unsupported(kind) => RulerQueryError::UnsupportedResult(kind),
        })
    }

    async fn vector(
        &self,
        signal: Signal,
        tenant: &TenantId,
        expr: &str,
        time_ms: i64,
    ) -> Result<QueryResult, RulerQueryError> {
        match self.query(signal, tenant, expr, time_ms).await? {
            Decoded::Vector(v) => Ok(v),
            Decoded::Matrix(_) => Err(RulerQueryError::UnsupportedResult("matrix".into())),
        }
    }

    async fn latest(
        &self,
        tenant: &TenantId,
        selector: &str,
        time_ms: i64,
        range: std::time::Duration,
    ) -> Result<Vec<LatestSample>, RulerQueryError> {
        let expr = format!(
            "{selector}[{}]",
            sextant_model::duration::format(range.max(std::time::Duration::from_millis(1)))
        );
        match self.query(Signal::Metrics, tenant, &expr, time_ms).await? {
            Decoded::Matrix(m) => Ok(m),
            Decoded::Vector(_) => Err(RulerQueryError::UnsupportedResult("vector".into())),
        }
    }
}

impl QueryClient for HttpQueryClient {
    fn instant_query<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        expr: &'a str,
        time_ms: i64,
    ) -> BoxFuture<'a, Result<QueryResult, RulerQueryError>> {
        Box::pin(self.vector(signal, tenant, expr, time_ms))
    }

    fn latest_samples<'a>(
        &'a self,
        tenant: &'a TenantId,
        selector: &'a str,
        time_ms: i64,
        range: std::time::Duration,
    ) -> BoxFuture<'a, Result<Vec<LatestSample>, RulerQueryError>> {
        Box::pin(self.latest(tenant, selector, time_ms, range))
    }
}

/// Unix ms as Prometheus's float seconds (`1700000000.123`).
fn seconds_param(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[derive(Deserialize)]
struct Response {
    data: Data,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    /// Absent for native histograms, which rules do not handle.
    #[serde(default)]
    value: Option<(f64, String)>,
}

#[derive(Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// A decoded answer: a vector (or scalar) for rules, a matrix for restoring state.
#[derive(Debug, PartialEq)]
enum Decoded {
    Vector(QueryResult),
    Matrix(Vec<LatestSample>),
}

#[derive(Debug, PartialEq)]
enum DecodeError {
    Json(String),
    Unsupported(String),
}

fn json_error(e: serde_json::Error) -> DecodeError {
    DecodeError::Json(e.to_string())
}

/// Decodes a successful query answer into series and values.
fn decode_query_response(body: &[u8]) -> Result<Decoded, DecodeError> {
    let response: Response = serde_json::from_slice(body).map_err(json_error)?;
    let result = response.data.result;
    match response.data.result_type.as_str() {
        "vector" => {
            let samples: Vec<VectorSample> = serde_json::from_value(result).map_err(json_error)?;
            let vector = samples
                .into_iter()
                .filter_map(|s| s.value.map(|(_, v)| (s.metric, v)))
                .map(|(metric, v)| Ok((Labels::from_pairs(metric), parse_value(&v)?)))
                .collect::<Result<_, _>>()?;
            Ok(Decoded::Vector(vector))
        }
        "scalar" => {
            let (_, v): (f64, String) = serde_json::from_value(result).map_err(json_error)?;
            Ok(Decoded::Vector(vec![(Labels::default(), parse_value(&v)?)]))
        }
        "matrix" => decode_matrix_latest(result).map(Decoded::Matrix),
        other => Err(DecodeError::Unsupported(other.to_string())),
    }
}

/// The last point of each series of a matrix.
fn decode_matrix_latest(result: serde_json::Value) -> Result<Vec<LatestSample>, DecodeError> {
    let series: Vec<MatrixSeries> = serde_json::from_value(result).map_err(json_error)?;
    series
        .into_iter()
        .filter_map(|s| s.values.last().cloned().map(|last| (s.metric, last)))
        .map(|(metric, (t, v))| {
            Ok(LatestSample {
                labels: Labels::from_pairs(metric),
                timestamp_ms: (t * 1000.0).round() as i64,
                value: parse_value(&v)?,
            })
        })
        .collect()
}

/// Prometheus's sample values: decimal text, `NaN`, `+Inf`, `-Inf`.
fn parse_value(text: &str) -> Result<f64, DecodeError> {
    text.parse::<f64>()
        .map_err(|_| DecodeError::Json(format!("invalid sample value {text:?}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::{Query, State};
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    use axum::{Form, Router};
    use parking_lot::Mutex;

    use super::*;
    use crate::client::build_http_client;

    #[test]
    fn decodes_vectors_scalars_and_refuses_streams() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"job":"a"},"value":[1.5,"2"]},
            {"metric":{},"value":[1.5,"+Inf"]},
            {"metric":{"h":"x"},"histogram":[1.5,{}]}]}}"#;
        let got = decode_query_response(vector).unwrap();
        assert_eq!(
            got,
            Decoded::Vector(vec![
                (Labels::from_pairs([("job", "a")]), 2.0),
                (Labels::default(), f64::INFINITY)
            ])
        );
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}"#;
        let Decoded::Vector(got) = decode_query_response(scalar).unwrap() else {
            panic!("a scalar is a vector of one")
        };
        assert!(got[0].1.is_nan() && got[0].0.is_empty());
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"1"},"values":[[1,"5"],[2.5,"6"]]},
            {"metric":{"a":"2"},"values":[]}]}}"#;
        assert_eq!(
            decode_query_response(matrix).unwrap(),
            Decoded::Matrix(vec![LatestSample {
                labels: Labels::from_pairs([("a", "1")]),
                timestamp_ms: 2_500,
                value: 6.0
            }])
        );
        let streams = br#"{"status":"success","data":{"resultType":"streams","result":[]}}"#;
        assert_eq!(
            decode_query_response(streams),
            Err(DecodeError::Unsupported("streams".into()))
        );
        assert!(matches!(
            decode_query_response(b"{}"),
            Err(DecodeError::Json(_))
        ));
    }

    #[test]
    fn seconds_param_keeps_milliseconds() {
        assert_eq!(seconds_param(1_700_000_000_123), "1700000000.123");
        assert_eq!(seconds_param(5), "0.005");
        assert_eq!(seconds_param(-1), "-1.999");
    }

    type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

    async fn prom(
        State(seen): State<Seen>,
        headers: HeaderMap,
        Form(form): Form<std::collections::HashMap<String, String>>,
    ) -> &'static str {
        let tenant = headers[TENANT_HEADER].to_str().unwrap().to_string();
        seen.lock()
            .push((tenant, form["query"].clone(), form["time"].clone()));
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up"},"value":[1,"1"]}]}}"#
    }

    async fn loki(
        State(seen): State<Seen>,
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> (axum::http::StatusCode, &'static str) {
        let tenant = headers[TENANT_HEADER].to_str().unwrap().to_string();
        seen.lock()
            .push((tenant, q["query"].clone(), q["time"].clone()));
        (
            axum::http::StatusCode::BAD_REQUEST,
            r#"{"status":"error","error":"parse error"}"#,
        )
    }

    #[tokio::test]
    async fn queries_both_apis_with_the_tenant() {
        let seen = Seen::default();
        let app = Router::new()
            .route("/prometheus/api/v1/query", post(prom))
            .route("/loki/api/v1/query", get(loki))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = build_http_client(std::time::Duration::from_secs(5)).unwrap();
        let client = HttpQueryClient::new(http, format!("http://{addr}/"));
        let tenant = TenantId::parse("team-a").unwrap();

        let got = client
            .instant_query(Signal::Metrics, &tenant, "up == 1", 2_500)
            .await
            .unwrap();
        assert_eq!(got, vec![(Labels::from_pairs([("__name__", "up")]), 1.0)]);
        let err = client
            .instant_query(Signal::Logs, &tenant, "sum(rate({a=\"b\"}[1m]))", 2_500)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RulerQueryError::Status { status: 400, .. }),
            "{err}"
        );
        assert_eq!(
            *seen.lock(),
            vec![
                ("team-a".into(), "up == 1".into(), "2.500".into()),
                (
                    "team-a".into(),
                    "sum(rate({a=\"b\"}[1m]))".into(),
                    "2500000000".into()
                ),
            ]
        );
    }
}
