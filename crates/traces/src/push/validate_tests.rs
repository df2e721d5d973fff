use sextant_proto::otlp::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
use sextant_proto::otlp::trace::v1::span::{Event, Link};

use super::*;
use crate::model::tests::{attr, resource_spans, span};

const LIMITS: TracesValidationLimits = TracesValidationLimits {
    max_attribute_bytes: 8,
    max_attributes_per_span: 2,
    max_attributes_per_resource: 2,
};

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![resource_spans("svc", vec![("lib", spans)])],
    }
}

fn attrs(n: usize) -> Vec<KeyValue> {
    (0..n).map(|i| attr(&format!("k{i}"), "v")).collect()
}

#[test]
fn invalid_spans_are_dropped_with_a_reason_naming_the_field() {
    use TracesRejectionReason::*;
    let path = "resourceSpans[0].scopeSpans[0].spans[1]";
    // (what is wrong, how, expected reason and message after the path; None = accepted)
    type Mutate = fn(&mut Span);
    /// The reason and the message after the path; `None`: the span is accepted.
    type Want = Option<(TracesRejectionReason, &'static str)>;
    let cases: &[(&str, Mutate, Want)] = &[
        ("nothing", |_| {}, None),
        (
            "empty trace ID",
            |s| s.trace_id.clear(),
            Some((InvalidTraceId, "traceId: trace ID is empty")),
        ),
        (
            "8-byte trace ID",
            |s| s.trace_id.truncate(8),
            Some((InvalidTraceId, "traceId: trace ID must be 16 bytes, got 8")),
        ),
        (
            "32-byte trace ID",
            |s| s.trace_id = vec![1; 32],
            Some((InvalidTraceId, "traceId: trace ID must be 16 bytes, got 32")),
        ),
        (
            "zero trace ID",
            |s| s.trace_id = vec![0; 16],
            Some((InvalidTraceId, "traceId: trace ID is all zeros")),
        ),
        (
            "empty span ID",
            |s| s.span_id.clear(),
            Some((InvalidSpanId, "spanId: span ID is empty")),
        ),
        (
            "16-byte span ID",
            |s| s.span_id = vec![1; 16],
            Some((InvalidSpanId, "spanId: span ID must be 8 bytes, got 16")),
        ),
        (
            "zero span ID",
            |s| s.span_id = vec![0; 8],
            Some((InvalidSpanId, "spanId: span ID is all zeros")),
        ),
        ("2 attributes", |s| s.attributes = attrs(2), None),
        (
            "3 attributes",
            |s| s.attributes = attrs(3),
            Some((
                TooManyAttributes,
                "attributes: 3 attributes, more than max_attributes_per_span (2); drop \
                 attributes or raise the tenant's limits.traces.max_attributes_per_span",
            )),
        ),
        (
            "3 event attributes",
            |s| {
                s.events = vec![
                    Event::default(),
                    Event {
                        attributes: attrs(3),
                        ..Event::default()
                    },
                ]
            },
            Some((
                TooManyAttributes,
                "events[1].attributes: 3 attributes, more than",
            )),
        ),
        (
            "3 link attributes",
            |s| {
                s.links = vec![Link {
                    attributes: attrs(3),
                    ..Link::default()
                }]
            },
            Some((TooManyAttributes, "links[0].attributes: 3 attributes")),
        ),
        (
            "zero duration",
            |s| s.end_time_unix_nano = s.start_time_unix_nano,
            None,
        ),
        (
            "end before start",
            |s| s.end_time_unix_nano = s.start_time_unix_nano - 1,
            Some((
                EndBeforeStart,
                "endTimeUnixNano: span ends (1699999999999999999) before it starts \
                 (startTimeUnixNano 1700000000000000000)",
            )),
        ),
        (
            "an empty parent span ID",
            |s| s.parent_span_id.clear(),
            None,
        ),
    ];
    for (what, mutate, want) in cases {
        let mut bad = span(1, 2, "bad");
        mutate(&mut bad);
        let got = validate_traces(request(vec![span(1, 1, "ok"), bad]), &LIMITS);
        let names: Vec<&str> = got
            .batch
            .traces
            .iter()
            .flat_map(|t| t.spans())
            .map(|s| s.name.as_str())
            .collect();
        match want {
            None => {
                assert_eq!(names, ["ok", "bad"], "{what}");
                assert!(got.rejections.is_empty(), "{what}: {:?}", got.rejections);
                assert_eq!(got.partial_success(), None, "{what}");
            }
            Some((reason, message)) => {
                assert_eq!(names, ["ok"], "{what}");
                assert_eq!(got.rejections.len(), 1, "{what}");
                let rejection = &got.rejections[0];
                assert_eq!((rejection.reason, rejection.spans), (*reason, 1), "{what}");
                let full = format!("{path}.{message}");
                assert!(
                    rejection.message.starts_with(&full),
                    "{what}: {} !~ {full}",
                    rejection.message
                );
                assert_eq!(got.partial_success().unwrap().rejected_spans, 1, "{what}");
            }
        }
    }
}

#[test]
fn resources_and_scopes_with_too_many_attributes_refuse_their_spans() {
    let mut crowded_resource =
        resource_spans("a", vec![("lib", vec![span(1, 1, "x"), span(1, 2, "y")])]);
    crowded_resource
        .resource
        .as_mut()
        .unwrap()
        .attributes
        .extend(attrs(2));
    let mut crowded_scope = resource_spans(
        "b",
        vec![
            ("lib", vec![span(2, 1, "z")]),
            ("ok", vec![span(2, 2, "w")]),
        ],
    );
    crowded_scope.scope_spans[0].scope = Some(InstrumentationScope {
        attributes: attrs(3),
        ..InstrumentationScope::default()
    });
    let request = ExportTraceServiceRequest {
        resource_spans: vec![crowded_resource, crowded_scope],
    };
    let got = validate_traces(request, &LIMITS);
    let names: Vec<&str> = got
        .batch
        .traces
        .iter()
        .flat_map(|t| t.spans())
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["w"]);
    assert_eq!(got.rejections.len(), 1);
    let rejection = &got.rejections[0];
    assert_eq!(
        (rejection.reason, rejection.spans),
        (TracesRejectionReason::TooManyAttributes, 3)
    );
    assert_eq!(
        rejection.message,
        "resourceSpans[0].resource.attributes: resource has 3 attributes, more than \
         max_attributes_per_resource (2); drop attributes or raise the tenant's \
         limits.traces.max_attributes_per_resource"
    );
    // The scope's refusal counted under the same reason; the first message is kept.
    let partial = got.partial_success().unwrap();
    assert_eq!(partial.rejected_spans, 3);
    assert!(partial
        .error_message
        .starts_with("3 spans refused (too_many_attributes): resourceSpans[0]"));
}

#[test]
fn rejections_are_counted_per_reason_in_first_seen_order() {
    let mut no_span_id = span(1, 1, "a");
    no_span_id.span_id.clear();
    let mut no_trace_id = span(1, 2, "b");
    no_trace_id.trace_id.clear();
    let mut zero_trace_id = span(1, 3, "c");
    zero_trace_id.trace_id = vec![0; 16];
    let got = validate_traces(
        request(vec![
            no_span_id,
            no_trace_id,
            zero_trace_id,
            span(3, 4, "d"),
        ]),
        &LIMITS,
    );
    let summary: Vec<(&str, u64)> = got
        .rejections
        .iter()
        .map(|r| (r.reason.as_str(), r.spans))
        .collect();
    assert_eq!(summary, [("invalid_span_id", 1), ("invalid_trace_id", 2)]);
    assert_eq!(got.rejected_spans(), 3);
    assert_eq!(got.batch.span_count(), 1);
    let message = got.partial_success().unwrap().error_message;
    assert_eq!(
        message,
        "1 spans refused (invalid_span_id): resourceSpans[0].scopeSpans[0].spans[0].spanId: span ID is empty; \
         2 spans refused (invalid_trace_id): resourceSpans[0].scopeSpans[0].spans[1].traceId: trace ID is empty"
    );
}

#[test]
fn long_attribute_keys_and_values_are_truncated() {
    use any_value::Value;
    let value = |v: Value| Some(AnyValue { value: Some(v) });
    let kv = |key: &str, v: Value| KeyValue {
        key: key.into(),
        value: value(v),
        key_strindex: 0,
    };
    // (attribute, expected after truncation to 8 bytes, whether it counts as truncated)
    let cases = [
        (attr("short", "value"), attr("short", "value"), false),
        (
            attr("exactly8", "12345678"),
            attr("exactly8", "12345678"),
            false,
        ),
        (attr("k", "123456789"), attr("k", "12345678"), true),
        (attr("a.long.key", "v"), attr("a.long.k", "v"), true),
        (
            attr("a.long.key", "123456789"),
            attr("a.long.k", "12345678"),
            true,
        ),
        // "ééééé" is 10 bytes: cut at the last character boundary before 8 bytes.
        (attr("k", "ééééé"), attr("k", "éééé"), true),
        (attr("k", "1234567é"), attr("k", "1234567"), true),
        (
            kv("k", Value::IntValue(123_456_789_012)),
            kv("k", Value::IntValue(123_456_789_012)),
            false,
        ),
        (
            kv("k", Value::BytesValue(vec![1; 9])),
            kv("k", Value::BytesValue(vec![1; 8])),
            true,
        ),
        (
            kv(
                "k",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::StringValue("123456789".into())),
                    }],
                }),
            ),
            kv(
                "k",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::StringValue("12345678".into())),
                    }],
                }),
            ),
            true,
        ),
        (
            kv(
                "k",
                Value::KvlistValue(KeyValueList {
                    values: vec![attr("inner.key", "v")],
                }),
            ),
            kv(
                "k",
                Value::KvlistValue(KeyValueList {
                    values: vec![attr("inner.ke", "v")],
                }),
            ),
            true,
        ),
    ];
    for (input, want, truncated) in cases {
        let mut s = span(1, 1, "x");
        s.attributes = vec![input.clone()];
        // No resource or scope: only the span's attribute can be truncated.
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![s],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let got = validate_traces(request, &LIMITS);
        let out = got.batch.traces[0].spans().next().unwrap().attributes[0].clone();
        assert_eq!(out, want, "{input:?}");
        assert_eq!(got.truncated_attributes, u64::from(truncated), "{input:?}");
        assert!(got.rejections.is_empty());
    }
}

#[test]
fn truncation_reaches_resources_scopes_events_and_links() {
    let long = "0123456789";
    let mut s = span(1, 1, "x");
    s.attributes = vec![attr("k", long)];
    s.events = vec![Event {
        attributes: vec![attr("k", long)],
        ..Event::default()
    }];
    s.links = vec![Link {
        attributes: vec![attr("k", long)],
        ..Link::default()
    }];
    let mut rs = resource_spans("a-long-service-name", vec![("lib", vec![s])]);
    rs.scope_spans[0].scope.as_mut().unwrap().attributes = vec![attr("k", long)];
    let request = ExportTraceServiceRequest {
        resource_spans: vec![rs],
    };
    let got = validate_traces(request.clone(), &LIMITS);
    assert_eq!(got.truncated_attributes, 5);
    // 0 switches truncation off.
    let off = TracesValidationLimits {
        max_attribute_bytes: 0,
        ..LIMITS
    };
    let got = validate_traces(request.clone(), &off);
    assert_eq!(got.truncated_attributes, 0);
    assert_eq!(got.batch, TraceBatch::from_request(request));
}

#[test]
fn zero_count_limits_are_off_and_defaults_follow_the_tenant_limits() {
    let mut s = span(1, 1, "x");
    s.attributes = attrs(500);
    let mut rs = resource_spans("a", vec![("lib", vec![s])]);
    rs.resource.as_mut().unwrap().attributes = attrs(500);
    let off = TracesValidationLimits {
        max_attribute_bytes: 0,
        max_attributes_per_span: 0,
        max_attributes_per_resource: 0,
    };
    let got = validate_traces(
        ExportTraceServiceRequest {
            resource_spans: vec![rs],
        },
        &off,
    );
    assert_eq!((got.batch.span_count(), got.rejected_spans()), (1, 0));
    let defaults = TracesValidationLimits::default();
    assert_eq!(
        (
            defaults.max_attribute_bytes,
            defaults.max_attributes_per_span,
            defaults.max_attributes_per_resource
        ),
        (2048, 128, 128)
    );
}
