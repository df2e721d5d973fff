use sextant_proto::otlp::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::span::{Event, Link};
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::*;
use crate::model::tests::{attr, span};
use crate::model::{Trace, TraceId};
use crate::traceql::eval::TraceqlEvaluator;
use crate::traceql::parse;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

/// Two services; `checkout` has a server root span with a client child that failed.
fn trace() -> Trace {
    use any_value::Value as V;
    let root = Span {
        attributes: vec![
            attr("http.method", "GET"),
            kv("http.status_code", V::IntValue(200)),
            kv("ratio", V::DoubleValue(0.5)),
        ],
        events: vec![Event {
            name: "retry".into(),
            attributes: vec![attr("attempt", "2")],
            ..Event::default()
        }],
        ..span(1, 1, "GET /cart")
    };
    let child = Span {
        parent_span_id: root.span_id.clone(),
        kind: 3,
        end_time_unix_nano: root.start_time_unix_nano + 1_500_000,
        status: Some(Status {
            code: 2,
            message: "timeout".into(),
        }),
        attributes: vec![
            attr("http.method", "POST"),
            kv("cached", V::BoolValue(false)),
            kv("big", V::DoubleValue(1.5e7)),
            kv("blob", V::BytesValue(vec![1, 2])),
        ],
        links: vec![Link {
            attributes: vec![attr("link.kind", "follows")],
            ..Link::default()
        }],
        ..span(1, 2, "charge")
    };
    let other = Span {
        parent_span_id: child.span_id.clone(),
        attributes: vec![kv(
            "http.method",
            V::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(V::StringValue("PUT".into())),
                    },
                    AnyValue {
                        value: Some(V::IntValue(7)),
                    },
                ],
            }),
        )],
        ..span(1, 3, "ledger")
    };
    let resource = |service: &str, spans: Vec<Span>| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![attr("service.name", service), kv("cpus", V::IntValue(4))],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "otel-go".into(),
                version: "1.2.0".into(),
                attributes: vec![attr("lib.lang", "go")],
                ..InstrumentationScope::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    };
    Trace {
        id: TraceId([1; 16]),
        resource_spans: vec![
            resource("checkout", vec![root, child]),
            resource("payments", vec![other]),
        ],
    }
}

#[test]
fn tags_parse_identifiers_and_refuse_anything_else() {
    let ok = [
        "resource.service.name",
        "span.http.method",
        ".foo",
        "span.\"with space\"",
        "name",
        "status",
        "kind",
        "statusMessage",
        "duration",
        "traceDuration",
        "rootName",
        "rootServiceName",
        "event:name",
        "instrumentation:version",
    ];
    for tag in ok {
        assert!(
            TraceTag::parse(tag).is_ok(),
            "{tag}: {:?}",
            TraceTag::parse(tag)
        );
    }
    let refused = [
        "",
        "foo bar",
        "1",
        "\"quoted\"",
        "span.a = 1",
        ".a != nil } && { .b",
        "parent.foo",
        "span:id",
        "nestedSetLeft",
        "{",
        "resource",
    ];
    for tag in refused {
        let err = TraceTag::parse(tag).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("invalid tag {tag:?}")),
            "{tag}: {err}"
        );
        assert_eq!(err.kind(), sextant_model::ErrorKind::BadRequest);
    }
}

#[test]
fn tag_values_are_typed_and_filtered_by_the_spans_a_query_matches() {
    // (tag, filter, values as type:value, sorted)
    let cases: &[(&str, Option<&str>, &[&str])] = &[
        (
            "resource.service.name",
            None,
            &["string:checkout", "string:payments"],
        ),
        ("resource.cpus", None, &["int:4"]),
        (
            "span.http.method",
            None,
            &["int:7", "string:GET", "string:POST", "string:PUT"],
        ),
        (".http.method", Some("{ kind = client }"), &["string:POST"]),
        (
            ".service.name",
            Some("{ name = \"ledger\" }"),
            &["string:payments"],
        ),
        ("span.ratio", None, &["float:0.5"]),
        ("span.big", None, &["float:1.5e+07"]),
        ("span.cached", None, &["bool:false"]),
        ("span.blob", None, &[]),
        ("event.attempt", None, &["string:2"]),
        ("link.link.kind", None, &["string:follows"]),
        ("instrumentation.lib.lang", None, &["string:go"]),
        ("name", Some("{ status = error }"), &["string:charge"]),
        ("status", None, &["status:error", "status:unset"]),
        ("kind", None, &["kind:client", "kind:server"]),
        (
            "statusMessage",
            Some("{ status = error }"),
            &["string:timeout"],
        ),
        ("duration", Some("{ kind = client }"), &["duration:1.5ms"]),
        (
            "traceDuration",
            Some("{ kind = client }"),
            &["duration:500ms"],
        ),
        ("rootName", None, &["string:GET /cart"]),
        (
            "rootServiceName",
            Some("{ name = \"ledger\" }"),
            &["string:checkout"],
        ),
        ("event:name", None, &["string:retry"]),
        ("instrumentation:name", None, &["string:otel-go"]),
        ("name", Some("{ name = \"nope\" }"), &[]),
    ];
    let trace = trace();
    for (tag, filter, want) in cases {
        let query = filter.map(|q| parse(q).unwrap());
        let eval = query.as_ref().map(|q| TraceqlEvaluator::new(q).unwrap());
        let mut values = TraceTagValues::new(0);
        values.add_trace(&trace, &TraceTag::parse(tag).unwrap(), eval.as_ref());
        let got: Vec<String> = values
            .into_vec()
            .into_iter()
            .map(|v| format!("{}:{}", v.value_type, v.value))
            .collect();
        assert_eq!(got, *want, "{tag} {filter:?}");
    }
    let mut limited = TraceTagValues::new(2);
    limited.add_trace(&trace, &TraceTag::unscoped("http.method"), None);
    assert_eq!(limited.len(), 2);
    assert!(limited.is_full());
}

#[test]
fn tag_names_per_scope_with_a_limit() {
    let trace = trace();
    let mut all = TraceTagNames::new(TraceTagScope::parse_filter("").unwrap(), 0);
    all.add_trace(&trace);
    let scopes: Vec<(&str, Vec<String>)> = all
        .scopes()
        .into_iter()
        .map(|(s, n)| (s.as_str(), n))
        .collect();
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        scopes,
        vec![
            ("resource", names(&["cpus", "service.name"])),
            (
                "span",
                names(&[
                    "big",
                    "blob",
                    "cached",
                    "http.method",
                    "http.status_code",
                    "ratio"
                ])
            ),
            ("event", names(&["attempt"])),
            ("link", names(&["link.kind"])),
            ("instrumentation", names(&["lib.lang"])),
        ]
    );
    let mut span_only = TraceTagNames::new(TraceTagScope::parse_filter("span").unwrap(), 3);
    span_only.add_trace(&trace);
    assert_eq!(span_only.len(), 3);
    assert_eq!(span_only.scopes().len(), 1);
    // (scope parameter, scopes asked for)
    let filters: [(&str, Option<usize>); 5] = [
        ("", Some(5)),
        ("all", Some(5)),
        ("intrinsic", Some(0)),
        ("link", Some(1)),
        ("spans", None),
    ];
    for (scope, want) in filters {
        assert_eq!(
            TraceTagScope::parse_filter(scope).ok().map(|s| s.len()),
            want,
            "{scope}"
        );
    }
}

#[test]
fn floats_and_durations_print_as_go_does() {
    let floats = [
        (0.0, "0"),
        (0.5, "0.5"),
        (-2.25, "-2.25"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-300, "1.5e-300"),
        (f64::INFINITY, "+Inf"),
        (f64::NAN, "NaN"),
    ];
    for (f, want) in floats {
        assert_eq!(TraceTagValue::float(f).value, want, "{f}");
    }
    let durations = [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (250_000_000, "250ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (7_200_000_000_000, "2h0m0s"),
        (3_723_000_000_001, "1h2m3.000000001s"),
    ];
    for (ns, want) in durations {
        assert_eq!(TraceTagValue::duration(ns).value, want, "{ns}");
    }
}
