use proptest::prelude::*;
use prost::Message;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::TracesData;

use super::*;

/// A string attribute.
pub(crate) fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        key_strindex: 0,
    }
}

/// The trace ID whose last byte is `n`.
pub(crate) fn trace_id(n: u8) -> Vec<u8> {
    let mut id = vec![0; 16];
    id[15] = n;
    id
}

/// A valid span of trace `trace`, named `name`, with span ID `span`.
pub(crate) fn span(trace: u8, span: u8, name: &str) -> Span {
    Span {
        trace_id: trace_id(trace),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, span],
        name: name.into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_500_000_000,
        attributes: vec![attr("http.method", "GET")],
        ..Span::default()
    }
}

/// Resource spans of service `service` with one scope per `(scope name, spans)`.
pub(crate) fn resource_spans(service: &str, scopes: Vec<(&str, Vec<Span>)>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![attr("service.name", service)],
            ..Resource::default()
        }),
        scope_spans: scopes
            .into_iter()
            .map(|(name, spans)| ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: name.into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            })
            .collect(),
        schema_url: "https://opentelemetry.io/schemas/1.24.0".into(),
    }
}

#[test]
fn trace_ids_parse_tempo_style_and_display_as_32_hex() {
    let full = "0123456789abcdef0123456789abcdef";
    // (text, expected display or error)
    let cases: &[(&str, Result<&str, TraceIdError>)] = &[
        (full, Ok(full)),
        ("0123456789ABCDEF0123456789ABCDEF", Ok(full)),
        ("1", Ok("00000000000000000000000000000001")),
        ("abc", Ok("00000000000000000000000000000abc")),
        ("123456789abcdef", Ok("00000000000000000123456789abcdef")),
        ("", Err(TraceIdError::Empty)),
        (
            "0123456789abcdef0123456789abcdef0",
            Err(TraceIdError::TooLong),
        ),
        (
            "12g4",
            Err(TraceIdError::NotHex {
                character: 'g',
                position: 3,
            }),
        ),
        (
            "é1",
            Err(TraceIdError::NotHex {
                character: 'é',
                position: 1,
            }),
        ),
        (
            "-1",
            Err(TraceIdError::NotHex {
                character: '-',
                position: 1,
            }),
        ),
    ];
    for (text, want) in cases {
        let got = text.parse::<TraceId>().map(|id| id.to_string());
        assert_eq!(
            got.as_deref().map_err(Clone::clone),
            want.clone(),
            "{text:?}"
        );
    }
    let err = "12g4".parse::<TraceId>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "trace IDs can only contain hex characters: invalid character 'g' at position 3"
    );
    let id: TraceId = "abc".parse().unwrap();
    assert_eq!(id.as_bytes()[14..], [0x0a, 0xbc]);
}

#[test]
fn trace_ids_from_bytes_need_exactly_16() {
    let cases = [
        (0, false),
        (8, false),
        (15, false),
        (16, true),
        (17, false),
        (32, false),
    ];
    for (len, ok) in cases {
        assert_eq!(TraceId::from_bytes(&vec![7; len]).is_some(), ok, "{len}");
    }
    assert!(TraceId::from_bytes(&[0; 16]).unwrap().is_zero());
    assert!(!TraceId::from_bytes(&trace_id(1)).unwrap().is_zero());
}

#[test]
fn token_depends_on_tenant_and_trace_id() {
    let a = TenantId::parse("a").unwrap();
    let b = TenantId::parse("b").unwrap();
    let one = TraceId::from_bytes(&trace_id(1)).unwrap();
    let two = TraceId::from_bytes(&trace_id(2)).unwrap();
    assert_eq!(one.token(&a), one.token(&a));
    assert_ne!(one.token(&a), one.token(&b));
    assert_ne!(one.token(&a), two.token(&a));
}

#[test]
fn spans_of_several_traces_across_resources_are_grouped_per_trace() {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![
            resource_spans(
                "frontend",
                vec![
                    ("http", vec![span(1, 1, "GET /"), span(2, 1, "GET /cart")]),
                    ("db", vec![span(1, 2, "SELECT"), span(3, 1, "INSERT")]),
                ],
            ),
            resource_spans(
                "checkout",
                vec![("grpc", vec![span(2, 2, "Pay"), span(1, 3, "Get")])],
            ),
        ],
    };
    let batch = TraceBatch::from_request(request.clone());
    // Per trace: its ID and, per resource, (service, [(scope, [span names])]).
    type Shape = Vec<(String, Vec<(String, Vec<String>)>)>;
    let shape = |trace: &Trace| -> Shape {
        trace
            .resource_spans
            .iter()
            .map(|rs| {
                let resource = rs.resource.as_ref().unwrap();
                let service = match &resource.attributes[0].value.as_ref().unwrap().value {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    other => panic!("{other:?}"),
                };
                let scopes = rs
                    .scope_spans
                    .iter()
                    .map(|ss| {
                        let names = ss.spans.iter().map(|s| s.name.clone()).collect();
                        (ss.scope.as_ref().unwrap().name.clone(), names)
                    })
                    .collect();
                (service, scopes)
            })
            .collect()
    };
    let owned = |service: &str, scopes: &[(&str, &[&str])]| {
        let scopes = scopes
            .iter()
            .map(|(s, names)| (s.to_string(), names.iter().map(|n| n.to_string()).collect()))
            .collect();
        (service.to_string(), scopes)
    };
    let want: Vec<(u8, Shape)> = vec![
        (
            1,
            vec![
                owned("frontend", &[("http", &["GET /"]), ("db", &["SELECT"])]),
                owned("checkout", &[("grpc", &["Get"])]),
            ],
        ),
        (
            2,
            vec![
                owned("frontend", &[("http", &["GET /cart"])]),
                owned("checkout", &[("grpc", &["Pay"])]),
            ],
        ),
        (3, vec![owned("frontend", &[("db", &["INSERT"])])]),
    ];
    let got: Vec<(u8, Shape)> = batch
        .traces
        .iter()
        .map(|t| (t.id.0[15], shape(t)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(batch.span_count(), 6);
    assert_eq!(batch.traces[0].span_count(), 3);
    // The schema URL travels with every copy of the resource.
    assert!(batch
        .traces
        .iter()
        .flat_map(|t| &t.resource_spans)
        .all(|rs| rs.schema_url == "https://opentelemetry.io/schemas/1.24.0"));
}

#[test]
fn encoded_len_is_the_traces_data_size() {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![
            resource_spans("a", vec![("s", vec![span(1, 1, "x"), span(2, 1, "y")])]),
            resource_spans("b", vec![("s", vec![span(1, 2, "z")])]),
        ],
    };
    let batch = TraceBatch::from_request(request);
    for trace in &batch.traces {
        let data = TracesData {
            resource_spans: trace.resource_spans.clone(),
        };
        assert_eq!(trace.encoded_len(), data.encoded_len());
    }
    let total = batch.encoded_len();
    assert_eq!(total, batch.into_request().encoded_len());
}

#[test]
fn spans_without_a_16_byte_trace_id_are_skipped() {
    let mut short = span(1, 1, "short");
    short.trace_id.truncate(8);
    let request = ExportTraceServiceRequest {
        resource_spans: vec![resource_spans(
            "a",
            vec![("s", vec![short, span(2, 1, "ok")])],
        )],
    };
    let batch = TraceBatch::from_request(request);
    assert_eq!(batch.traces.len(), 1);
    assert_eq!(batch.traces[0].spans().next().unwrap().name, "ok");
}

fn arb_any_value() -> impl Strategy<Value = AnyValue> {
    prop_oneof![
        "[a-zA-Z0-9 é]{0,12}".prop_map(any_value::Value::StringValue),
        any::<i64>().prop_map(any_value::Value::IntValue),
        any::<bool>().prop_map(any_value::Value::BoolValue),
    ]
    .prop_map(|v| AnyValue { value: Some(v) })
}

fn arb_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(("[a-z.]{1,8}", arb_any_value()), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(key, value)| KeyValue {
                key,
                value: Some(value),
                key_strindex: 0,
            })
            .collect()
    })
}

fn arb_span() -> impl Strategy<Value = Span> {
    (
        prop_oneof![
            (1u8..4).prop_map(trace_id),
            prop::collection::vec(any::<u8>(), 16)
        ],
        prop::collection::vec(any::<u8>(), 8),
        "[a-zA-Z /]{0,10}",
        0i32..6,
        any::<u64>(),
        any::<u64>(),
        arb_attributes(),
    )
        .prop_map(
            |(trace_id, span_id, name, kind, start, end, attributes)| Span {
                trace_id,
                span_id,
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                ..Span::default()
            },
        )
}

/// Requests of a few resources and scopes, spans of a few shared traces among random ones.
pub(crate) fn arb_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope =
        ("[a-z]{0,6}", prop::collection::vec(arb_span(), 0..5)).prop_map(|(name, spans)| {
            ScopeSpans {
                scope: Some(InstrumentationScope {
                    name,
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }
        });
    let resource = (arb_attributes(), prop::collection::vec(scope, 0..3)).prop_map(
        |(attributes, scope_spans)| ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Resource::default()
            }),
            scope_spans,
            schema_url: String::new(),
        },
    );
    prop::collection::vec(resource, 0..4)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

proptest! {
    #[test]
    fn trace_ids_round_trip_through_text(bytes in any::<[u8; 16]>()) {
        let id = TraceId(bytes);
        prop_assert_eq!(id.to_string().parse::<TraceId>(), Ok(id));
    }

    #[test]
    fn parsing_any_text_never_panics(text in "\\PC{0,40}") {
        let _ = text.parse::<TraceId>();
    }

    #[test]
    fn grouping_keeps_every_span_under_its_trace(request in arb_request()) {
        let mut want: Vec<Span> = request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect();
        let batch = TraceBatch::from_request(request);
        let mut seen = std::collections::HashSet::new();
        for trace in &batch.traces {
            prop_assert!(seen.insert(trace.id), "trace {} twice", trace.id);
            for span in trace.spans() {
                prop_assert_eq!(&span.trace_id[..], &trace.id.0[..]);
            }
            for rs in &trace.resource_spans {
                prop_assert!(rs.scope_spans.iter().all(|ss| !ss.spans.is_empty()));
            }
        }
        let mut got: Vec<Span> = batch.traces.iter().flat_map(|t| t.spans().cloned()).collect();
        let key = |s: &Span| (s.trace_id.clone(), s.span_id.clone(), s.name.clone());
        want.sort_by_key(key);
        got.sort_by_key(key);
        prop_assert_eq!(got, want);
    }
}
