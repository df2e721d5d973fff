//! Traces through the public APIs: OTLP/HTTP pushes, the Tempo API's trace by ID (v1 and v2,
//! JSON and protobuf) and TraceQL search. Every answer is flattened into [`SpanRecord`]s, the
//! same shape `tests/python/otel_traces.py` prints for what it exported, so tests compare sets.
//!
//! Answers are read leniently where Tempo and OTLP/JSON differ without changing meaning (the
//! v1 JSON's `batches` or `resourceSpans`, int64s as strings or numbers, span kinds as numbers
//! or names); IDs must be hex, as OTLP/JSON prescribes.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use prost::Message;
use serde::Deserialize;
use serde_json::Value;
use sextant_proto::otlp::collector::trace::v1::ExportTraceServiceResponse;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::trace::v1::TracesData;

use crate::remote_write::TENANT_HEADER;

/// The ring of the traces ingesters.
pub const INGESTER_TRACES_RING: &str = "ingester-traces";
pub const PROTOBUF: &str = "application/protobuf";
pub const OTLP_PROTOBUF: &str = "application/x-protobuf";

/// One span as the tests compare it. IDs are lowercase hex (`parent_span_id` empty for a
/// root), attribute values rendered as text (`7`, `true`, `7.25`, `checkout`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct SpanRecord {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// `service.name` of the span's resource.
    pub service: String,
    pub name: String,
    /// OTLP's `SpanKind` number (1 internal, 2 server, 3 client, ...).
    pub kind: i32,
    pub start_ns: u64,
    pub end_ns: u64,
    /// The span's own attributes.
    pub attributes: BTreeMap<String, String>,
}

/// Tempo's `TraceByIDResponse` of `/api/v2/traces/<id>` with `Accept: application/protobuf`:
/// its `Trace` is byte-compatible with OTLP `TracesData`.
#[derive(Clone, PartialEq, Message)]
pub struct TempoTraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    pub trace: Option<TracesData>,
    /// `COMPLETE` = 0, `PARTIAL` = 1.
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(string, tag = "4")]
    pub message: String,
}

/// Which trace-by-ID endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempoApi {
    V1,
    V2,
}

/// What the trace-by-ID request's `Accept` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempoFormat {
    Json,
    Protobuf,
}

/// An OTLP attribute.
pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A trace ID as Tempo may print it (leading zeros dropped, any case) as 32 lowercase digits.
pub fn normalize_trace_id(id: &str) -> String {
    format!("{:0>32}", id.to_ascii_lowercase())
}

fn render_any_value(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(f)) => f.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attribute_map(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), render_any_value(kv.value.as_ref())))
        .collect()
}

/// Every span of `data`, in order.
pub fn spans_of_traces_data(data: &TracesData) -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for rs in &data.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| attribute_map(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            out.push(SpanRecord {
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                service: service.clone(),
                name: span.name.clone(),
                kind: span.kind,
                start_ns: span.start_time_unix_nano,
                end_ns: span.end_time_unix_nano,
                attributes: attribute_map(&span.attributes),
            });
        }
    }
    out
}

fn json_u64(value: &Value) -> Result<u64> {
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_u64().context("not a u64"),
        Value::String(s) => s.parse().with_context(|| format!("not a u64: {s:?}")),
        other => bail!("not a u64: {other}"),
    }
}

fn json_hex_id(value: &Value, bytes: usize) -> Result<String> {
    let id = value.as_str().unwrap_or_default();
    ensure!(
        id.is_empty() || (id.len() == 2 * bytes && id.bytes().all(|b| b.is_ascii_hexdigit())),
        "not a {bytes}-byte hex ID: {value}"
    );
    Ok(id.to_ascii_lowercase())
}

/// An OTLP/JSON `AnyValue` as text (int64s may be strings or numbers).
fn render_json_value(value: &Value) -> String {
    let field = |name: &str| value.get(name);
    if let Some(s) = field("stringValue").and_then(Value::as_str) {
        return s.to_string();
    }
    if let Some(i) = field("intValue") {
        return i.as_str().map_or_else(|| i.to_string(), str::to_string);
    }
    if let Some(f) = field("doubleValue") {
        return f.as_f64().map_or_else(|| f.to_string(), |f| f.to_string());
    }
    if let Some(b) = field("boolValue") {
        return b.to_string();
    }
    value.to_string()
}

fn json_attributes(value: &Value) -> BTreeMap<String, String> {
    let Some(list) = value.as_array() else {
        return BTreeMap::new();
    };
    list.iter()
        .map(|kv| {
            let key = kv["key"].as_str().unwrap_or_default().to_string();
            (key, render_json_value(&kv["value"]))
        })
        .collect()
}

fn json_span_kind(value: &Value) -> Result<i32> {
    const NAMES: [&str; 6] = [
        "SPAN_KIND_UNSPECIFIED",
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ];
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_i64().map(|k| k as i32).context("span kind"),
        Value::String(s) => NAMES
            .iter()
            .position(|n| n == s)
            .map(|k| k as i32)
            .with_context(|| format!("unknown span kind {s:?}")),
        other => bail!("span kind {other}"),
    }
}

fn json_span(span: &Value, service: &str) -> Result<SpanRecord> {
    Ok(SpanRecord {
        trace_id: json_hex_id(&span["traceId"], 16)?,
        span_id: json_hex_id(&span["spanId"], 8)?,
        parent_span_id: json_hex_id(&span["parentSpanId"], 8)?,
        service: service.to_string(),
        name: span["name"].as_str().unwrap_or_default().to_string(),
        kind: json_span_kind(&span["kind"])?,
        start_ns: json_u64(&span["startTimeUnixNano"])?,
        end_ns: json_u64(&span["endTimeUnixNano"])?,
        attributes: json_attributes(&span["attributes"]),
    })
}

/// Every span of a Tempo trace-by-ID JSON answer: v1 `{"batches":[...]}`, v2
/// `{"trace":{"resourceSpans":[...]}}` (either key accepted at either level).
pub fn spans_of_tempo_json(body: &Value) -> Result<Vec<SpanRecord>> {
    let trace = body.get("trace").unwrap_or(body);
    let batches = trace
        .get("batches")
        .or_else(|| trace.get("resourceSpans"))
        .and_then(Value::as_array)
        .with_context(|| format!("no batches or resourceSpans in {body}"))?;
    let mut out = Vec::new();
    for rs in batches {
        let resource = json_attributes(&rs["resource"]["attributes"]);
        let service = resource.get("service.name").cloned().unwrap_or_default();
        let scopes = rs["scopeSpans"].as_array().context("no scopeSpans")?;
        for span in scopes
            .iter()
            .filter_map(|ss| ss["spans"].as_array())
            .flatten()
        {
            out.push(json_span(span, &service)?);
        }
    }
    Ok(out)
}

/// What an OTLP/HTTP push answered.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpPushOutcome {
    pub status: u16,
    /// `partial_success.rejected_spans` of a 200 (0 without it).
    pub rejected_spans: i64,
    /// The partial success's message, or the error body.
    pub message: String,
}

impl OtlpPushOutcome {
    /// Accepted whole: 200 and nothing rejected.
    pub fn acknowledged(&self) -> bool {
        self.status == 200 && self.rejected_spans == 0
    }
}

/// A client of one process's traces HTTP APIs, as one tenant (or none).
#[derive(Debug, Clone)]
pub struct TempoClient {
    base: String,
    org: Option<String>,
    http: reqwest::Client,
}

impl TempoClient {
    /// `base` is `http://host:port`.
    pub fn new(base: impl Into<String>, org: Option<&str>) -> Result<Self> {
        Ok(TempoClient {
            base: base.into(),
            org: org.map(str::to_string),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.org {
            Some(org) => request.header(TENANT_HEADER, org),
            None => request,
        }
    }

    /// `POST /v1/traces` with an OTLP protobuf body.
    pub async fn push(&self, data: &TracesData) -> Result<OtlpPushOutcome> {
        let response = self
            .request(reqwest::Method::POST, "/v1/traces")
            .header("Content-Type", OTLP_PROTOBUF)
            .body(data.encode_to_vec())
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        if status != 200 {
            let message = String::from_utf8_lossy(&body).into_owned();
            return Ok(OtlpPushOutcome {
                status,
                rejected_spans: 0,
                message,
            });
        }
        let answer = ExportTraceServiceResponse::decode(body.as_ref())
            .context("decode the ExportTraceServiceResponse")?;
        let partial = answer.partial_success.unwrap_or_default();
        Ok(OtlpPushOutcome {
            status,
            rejected_spans: partial.rejected_spans,
            message: partial.error_message,
        })
    }

    /// The spans of one trace (`None` on 404) from `/api/traces/<id>` or
    /// `/api/v2/traces/<id>`, as JSON or protobuf.
    pub async fn trace_by_id(
        &self,
        api: TempoApi,
        format: TempoFormat,
        trace_id: &str,
    ) -> Result<Option<Vec<SpanRecord>>> {
        let path = match api {
            TempoApi::V1 => format!("/api/traces/{trace_id}"),
            TempoApi::V2 => format!("/api/v2/traces/{trace_id}"),
        };
        let accept = match format {
            TempoFormat::Json => "application/json",
            TempoFormat::Protobuf => PROTOBUF,
        };
        let response = self
            .request(reqwest::Method::GET, &path)
            .header("Accept", accept)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        if status == 404 {
            return Ok(None);
        }
        ensure!(
            status == 200,
            "GET {path} ({accept}): {status} {}",
            String::from_utf8_lossy(&body)
        );
        let spans = match (format, api) {
            (TempoFormat::Json, _) => spans_of_tempo_json(&serde_json::from_slice(&body)?),
            (TempoFormat::Protobuf, TempoApi::V1) => {
                Ok(spans_of_traces_data(&TracesData::decode(body.as_ref())?))
            }
            (TempoFormat::Protobuf, TempoApi::V2) => {
                let answer = TempoTraceByIdResponse::decode(body.as_ref())?;
                Ok(spans_of_traces_data(&answer.trace.unwrap_or_default()))
            }
        };
        spans
            .with_context(|| format!("GET {path} ({accept})"))
            .map(Some)
    }

    /// The IDs (32 hex digits) of the traces `/api/search?q=` finds in `[start_s, end_s]`.
    pub async fn search(
        &self,
        query: &str,
        limit: usize,
        start_s: i64,
        end_s: i64,
    ) -> Result<Vec<String>> {
        let params = [
            ("q", query.to_string()),
            ("limit", limit.to_string()),
            ("start", start_s.to_string()),
            ("end", end_s.to_string()),
        ];
        let response = self
            .request(reqwest::Method::GET, "/api/search")
            .query(&params)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        ensure!(status == 200, "search {query}: {status} {body}");
        let body: Value = serde_json::from_str(&body)?;
        let traces = body["traces"]
            .as_array()
            .with_context(|| format!("no traces in {body}"))?;
        traces
            .iter()
            .map(|t| {
                t["traceID"]
                    .as_str()
                    .map(normalize_trace_id)
                    .with_context(|| format!("no traceID in {t}"))
            })
            .collect()
    }
}

/// Span records grouped by trace ID, each trace's spans sorted.
pub fn group_by_trace(spans: &[SpanRecord]) -> BTreeMap<String, Vec<SpanRecord>> {
    let mut out: BTreeMap<String, Vec<SpanRecord>> = BTreeMap::new();
    for span in spans {
        out.entry(span.trace_id.clone())
            .or_default()
            .push(span.clone());
    }
    for spans in out.values_mut() {
        spans.sort();
    }
    out
}

/// Checks that `got` holds exactly the spans of `want` (each once), naming the first
/// difference.
pub fn check_same_spans(what: &str, want: &[SpanRecord], got: &[SpanRecord]) -> Result<()> {
    let mut got_sorted = got.to_vec();
    got_sorted.sort();
    let mut want_sorted = want.to_vec();
    want_sorted.sort();
    if got_sorted == want_sorted {
        return Ok(());
    }
    let missing: Vec<&SpanRecord> = want_sorted
        .iter()
        .filter(|s| !got_sorted.contains(s))
        .take(2)
        .collect();
    let extra: Vec<&SpanRecord> = got_sorted
        .iter()
        .filter(|s| !want_sorted.contains(s))
        .take(2)
        .collect();
    bail!(
        "{what}: {} spans, want {}; missing e.g. {missing:#?}; unexpected e.g. {extra:#?}",
        got.len(),
        want.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_proto::otlp::resource::v1::Resource;
    use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn sample() -> TracesData {
        let span = Span {
            trace_id: vec![0xab; 16],
            span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
            parent_span_id: Vec::new(),
            name: "place-order".into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_050_000_000,
            attributes: vec![
                kv("order.id", any_value::Value::IntValue(7)),
                kv("amount", any_value::Value::DoubleValue(7.25)),
                kv("cache.hit", any_value::Value::BoolValue(true)),
                kv("tier", any_value::Value::StringValue("gold".into())),
            ],
            ..Default::default()
        };
        TracesData {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv(
                        "service.name",
                        any_value::Value::StringValue("checkout".into()),
                    )],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn expected() -> SpanRecord {
        SpanRecord {
            trace_id: "ab".repeat(16),
            span_id: "0102030405060708".into(),
            parent_span_id: String::new(),
            service: "checkout".into(),
            name: "place-order".into(),
            kind: 2,
            start_ns: 1_700_000_000_000_000_000,
            end_ns: 1_700_000_000_050_000_000,
            attributes: [
                ("amount", "7.25"),
                ("cache.hit", "true"),
                ("order.id", "7"),
                ("tier", "gold"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }

    #[test]
    fn protobuf_answers_flatten_to_records() {
        let data = sample();
        assert_eq!(spans_of_traces_data(&data), vec![expected()]);
        let v2 = TempoTraceByIdResponse {
            trace: Some(data.clone()),
            status: 0,
            message: String::new(),
        };
        let decoded = TempoTraceByIdResponse::decode(v2.encode_to_vec().as_slice()).unwrap();
        assert_eq!(
            spans_of_traces_data(&decoded.trace.unwrap()),
            vec![expected()]
        );
    }

    #[test]
    fn json_answers_of_every_shape_flatten_to_the_same_records() {
        // The OTLP/JSON of opentelemetry-proto's serde (hex IDs, string int64s, numeric kind).
        let otlp = serde_json::to_value(sample()).unwrap();
        let resource_spans = otlp["resourceSpans"].clone();
        let mut numeric = resource_spans.clone();
        let span = &mut numeric[0]["scopeSpans"][0]["spans"][0];
        span["startTimeUnixNano"] = serde_json::json!(1_700_000_000_000_000_000u64);
        span["kind"] = serde_json::json!("SPAN_KIND_SERVER");
        span["attributes"][0]["value"] = serde_json::json!({"intValue": 7});
        let cases = [
            ("otlp", otlp),
            ("v1", serde_json::json!({ "batches": resource_spans })),
            (
                "v2",
                serde_json::json!({"trace": {"resourceSpans": resource_spans}}),
            ),
            ("numbers", serde_json::json!({ "batches": numeric })),
        ];
        for (name, body) in cases {
            let spans = spans_of_tempo_json(&body).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert_eq!(spans, vec![expected()], "{name}: {body}");
        }
    }

    #[test]
    fn json_answers_with_bad_ids_or_no_spans_are_errors() {
        let mut base64_ids = serde_json::to_value(sample()).unwrap();
        base64_ids["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] =
            serde_json::json!("q6urq6urq6urq6urq6urqw==");
        let cases = [
            base64_ids,
            serde_json::json!({}),
            serde_json::json!({"trace": {}}),
        ];
        for body in cases {
            assert!(spans_of_tempo_json(&body).is_err(), "{body}");
        }
    }

    #[test]
    fn trace_ids_are_padded_and_lowercased() {
        let cases = [
            ("ABC", format!("{}abc", "0".repeat(29))),
            (&"f".repeat(32), "f".repeat(32)),
        ];
        for (id, want) in cases {
            assert_eq!(normalize_trace_id(id), want);
        }
    }

    #[test]
    fn span_set_comparison_names_the_difference() {
        let a = expected();
        let mut b = expected();
        b.span_id = "ffffffffffffffff".into();
        assert!(check_same_spans("t", &[a.clone(), b.clone()], &[b.clone(), a.clone()]).is_ok());
        let err = check_same_spans("t", &[a.clone(), b.clone()], &[a.clone(), a.clone()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ffffffffffffffff"), "{err}");
        assert!(check_same_spans("t", std::slice::from_ref(&a), &[]).is_err());
        assert_eq!(group_by_trace(&[b.clone(), a.clone()])[&a.trace_id], {
            let mut v = vec![a, b];
            v.sort();
            v
        });
    }
}
