//! Search candidates against the evaluator, time and duration bounds, tag names and values.

use std::collections::BTreeSet;

use proptest::prelude::*;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::gen::{generated_traces, kv, BASE_NS};
use super::*;
use crate::tags::{TraceTag, TraceTagNames, TraceTagScope, TraceTagValues};
use crate::traceql::eval::TraceqlEvaluator;
use crate::traceql::parse;

fn columns(traces: &[Trace]) -> TracesSearchColumns {
    TracesSearchColumns::parse(&build(traces, 8 << 10).search).unwrap()
}

fn candidates(columns: &TracesSearchColumns, query: &str) -> BTreeSet<TraceId> {
    let prefilter = TracesPrefilter::from_query(&parse(query).unwrap());
    let filter = TracesBlockFilter {
        prefilter,
        ..TracesBlockFilter::default()
    };
    columns
        .candidates(&filter)
        .into_iter()
        .map(|c| c.id)
        .collect()
}

fn evaluator_matches(traces: &[Trace], query: &str) -> BTreeSet<TraceId> {
    let q = parse(query).unwrap();
    let eval = TraceqlEvaluator::new(&q).unwrap();
    traces
        .iter()
        .filter(|t| eval.search(t, 3).is_some())
        .map(|t| t.id)
        .collect()
}

#[test]
fn candidates_hold_every_match_and_prune_when_they_can() {
    let traces = generated_traces(300, 10);
    let columns = columns(&traces);
    // (query, whether the prefilter is exact for these traces)
    let cases = [
        (r#"{ span.user.id = "user-7" }"#, true),
        (r#"{ .http.url = "/api/items/3" && status = error }"#, true),
        (
            r#"{ name = "charge" && span.http.status_code = 500 }"#,
            true,
        ),
        (r#"{ duration > 30ms }"#, true),
        (r#"{ span.http.status_code >= 500 && kind = client }"#, true),
        (
            r#"{ resource.service.name = "frontend" && span.user.id =~ "user-1.*" }"#,
            true,
        ),
        (r#"{ span.user.id !~ "user-.*" }"#, true),
        (r#"{ rootServiceName = "checkout" }"#, true),
        (r#"{ rootName = "charge" }"#, true),
        (r#"{ traceDuration > 50ms }"#, true),
        (r#"{ .ratio = 0.5 && span.cache.hit = true }"#, true),
        (r#"{ span.cache.hit && .ratio > 1 }"#, true),
        (r#"{ span.user.id = "user-7" } && { status = error }"#, true),
        (r#"{ span.http.status_code = "500" }"#, true),
        (r#"{ 500 = span.http.status_code && 1ms < duration }"#, true),
        (r#"{ span.missing = 1 }"#, true),
        (r#"{ .host.name = "host-1" && .user.id = "user-3" }"#, true),
        (r#"{ }"#, true),
        (r#"{ span.user.id = "user-7" || status = error }"#, false),
        (
            r#"{ span.user.id = "user-7" } >> { name = "render" }"#,
            false,
        ),
        (r#"{ span.labels = "a" }"#, false),
        (r#"{ span.user.id = "user-7" } | count() > 2"#, false),
        (r#"{ !(span.user.id = "user-7") }"#, false),
    ];
    for (query, exact) in cases {
        let matches = evaluator_matches(&traces, query);
        let found = candidates(&columns, query);
        assert!(matches.is_subset(&found), "{query}: a match was dropped");
        if exact {
            assert_eq!(found, matches, "{query}");
        }
    }
    assert_eq!(
        candidates(&columns, r#"{ span.user.id = "user-7" }"#).len(),
        3
    );
}

#[test]
fn time_and_duration_bounds() {
    let traces = generated_traces(100, 4);
    let columns = columns(&traces);
    let ms = 1_000_000i64;
    let base = BASE_NS as i64;
    let cases = [
        (0, 0, 0, 0),
        (base + 50 * ms, 0, 0, 0),
        (0, base + 50 * ms, 0, 0),
        (base + 20 * ms, base + 30 * ms, 0, 0),
        (0, 0, 10 * ms as u64, 0),
        (0, 0, 0, 10 * ms as u64),
        (0, 0, 8 * ms as u64, 16 * ms as u64),
    ];
    for (start_ns, end_ns, min_duration_ns, max_duration_ns) in cases {
        let filter = TracesBlockFilter {
            start_ns,
            end_ns,
            min_duration_ns,
            max_duration_ns,
            prefilter: TracesPrefilter::default(),
        };
        let found: Vec<TraceId> = columns
            .candidates(&filter)
            .into_iter()
            .map(|c| c.id)
            .collect();
        let want: Vec<TraceId> = traces
            .iter()
            .filter(|t| {
                let start = t.spans().map(|s| s.start_time_unix_nano).min().unwrap() as i64;
                let end = t.spans().map(|s| s.end_time_unix_nano).max().unwrap() as i64;
                let d = (end - start) as u64;
                (end_ns == 0 || start < end_ns)
                    && (start_ns == 0 || end >= start_ns)
                    && d >= min_duration_ns
                    && (max_duration_ns == 0 || d <= max_duration_ns)
            })
            .map(|t| t.id)
            .collect();
        assert_eq!(
            found, want,
            "{start_ns} {end_ns} {min_duration_ns} {max_duration_ns}"
        );
        assert!(!want.is_empty() && (want.len() < 100 || start_ns + end_ns == 0));
    }
}

#[test]
fn candidates_name_their_page() {
    let traces = generated_traces(200, 4);
    let block = build(&traces, 4 << 10);
    let index = TracesBlockIndex::parse(&block.index).unwrap();
    let columns = TracesSearchColumns::parse(&block.search).unwrap();
    let all = columns.candidates(&TracesBlockFilter::default());
    assert_eq!(all.len(), 200);
    for c in all {
        let page = index.page(c.page).unwrap();
        assert_eq!(index.page_for(&c.id), Some(page));
    }
}

#[test]
fn tag_names_match_the_decoded_traces() {
    let traces = generated_traces(50, 6);
    let columns = columns(&traces);
    for scope in [
        "",
        "resource",
        "span",
        "event",
        "link",
        "instrumentation",
        "intrinsic",
    ] {
        let scopes = TraceTagScope::parse_filter(scope).unwrap();
        let mut from_block = TraceTagNames::new(scopes.clone(), 0);
        columns.tag_names(&mut from_block);
        let mut from_traces = TraceTagNames::new(scopes, 0);
        traces.iter().for_each(|t| from_traces.add_trace(t));
        assert_eq!(from_block.scopes(), from_traces.scopes(), "{scope}");
    }
    let mut names = TraceTagNames::new(vec![TraceTagScope::Event], 0);
    columns.tag_names(&mut names);
    assert_eq!(
        names.scopes(),
        vec![(TraceTagScope::Event, vec!["attempt".to_owned()])]
    );
}

#[test]
fn tag_values_match_the_decoded_traces() {
    let traces = generated_traces(60, 6);
    let columns = columns(&traces);
    // (tag, whether the columns answer it)
    let cases = [
        ("resource.service.name", true),
        ("span.http.status_code", true),
        (".http.method", true),
        (".ratio", true),
        ("span.cache.hit", true),
        (".host.name", true),
        ("span.missing", true),
        ("name", true),
        ("status", true),
        ("kind", true),
        ("rootServiceName", true),
        ("rootName", true),
        ("duration", true),
        ("traceDuration", true),
        ("span.labels", false),
        ("statusMessage", false),
        ("event:name", false),
        ("event.attempt", false),
    ];
    for (tag, answered) in cases {
        let tag_ref = TraceTag::parse(tag).unwrap();
        let mut from_block = TraceTagValues::new(0);
        assert_eq!(
            columns.tag_values(&tag_ref, &mut from_block),
            answered,
            "{tag}"
        );
        if !answered {
            assert!(from_block.is_empty());
            continue;
        }
        let mut from_traces = TraceTagValues::new(0);
        traces
            .iter()
            .for_each(|t| from_traces.add_trace(t, &tag_ref, None));
        assert_eq!(from_block.into_vec(), from_traces.into_vec(), "{tag}");
    }
    let mut bare = TraceTagValues::new(0);
    assert!(columns.tag_values(&TraceTag::unscoped("service.name"), &mut bare));
    assert_eq!(bare.len(), 3);
}

/// Queries covering every kind of condition the prefilter takes (and some it skips).
const PROPERTY_QUERIES: &[&str] = &[
    r#"{ .a = "x" }"#,
    r#"{ span.a = "x" && resource.a = "y" }"#,
    r#"{ resource.a != "x" }"#,
    r#"{ .a > 1 }"#,
    r#"{ .a <= 1.5 }"#,
    r#"{ span.a = true }"#,
    r#"{ span.a }"#,
    r#"{ .a =~ "x|y" }"#,
    r#"{ .a !~ "x" }"#,
    r#"{ name = "n1" && status = error }"#,
    r#"{ status != ok && kind = server }"#,
    r#"{ kind = unspecified }"#,
    r#"{ duration >= 2ms }"#,
    r#"{ duration < 1ms && .a = 2 }"#,
    r#"{ rootServiceName = "s1" }"#,
    r#"{ rootName = "n0" && traceDuration > 1ms }"#,
    r#"{ resource.service.name = "s2" && .a != 2 }"#,
    r#"{ .a = "x" } && { .a = 2 }"#,
    r#"{ .a = "x" } | count() > 1"#,
    r#"{ .a = "x" } | by(name) | { status = error }"#,
    r#"{ .a = "x" || .a = 1 }"#,
    r#"{ 1 < .a }"#,
];

fn any_attr_value() -> impl Strategy<Value = Option<any_value::Value>> {
    use any_value::Value;
    prop_oneof![
        Just(None),
        Just(Some(Value::StringValue("x".into()))),
        Just(Some(Value::StringValue("y".into()))),
        (0i64..3).prop_map(|i| Some(Value::IntValue(i))),
        Just(Some(Value::DoubleValue(1.5))),
        any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
        Just(Some(Value::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(Value::StringValue("x".into()))
            }],
        }))),
    ]
}

fn attrs(value: Option<any_value::Value>) -> Vec<KeyValue> {
    value.map(|v| kv("a", v)).into_iter().collect()
}

prop_compose! {
    fn any_span()(
        value in any_attr_value(),
        name in 0u8..2,
        status in 0i32..4,
        kind in 0i32..7,
        duration_ms in 0u64..4,
        parent in proptest::option::of(0u8..4),
    ) -> Span {
        Span {
            name: format!("n{name}"),
            status: Some(Status { code: status, ..Default::default() }),
            kind,
            start_time_unix_nano: BASE_NS,
            end_time_unix_nano: BASE_NS + duration_ms * 1_000_000,
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            span_id: vec![name; 8],
            attributes: attrs(value),
            ..Default::default()
        }
    }
}

prop_compose! {
    fn any_resource()(
        service in proptest::option::of(1u8..3),
        value in any_attr_value(),
        spans in proptest::collection::vec(any_span(), 1..4),
    ) -> ResourceSpans {
        let mut attributes = attrs(value);
        attributes.extend(service.map(|s| kv("service.name", super::gen::s(&format!("s{s}")))));
        ResourceSpans {
            resource: Some(Resource { attributes, ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any traces round trip, and the prefilter never drops a trace the evaluator matches.
    #[test]
    fn prefilter_keeps_every_match(
        traces in proptest::collection::vec(proptest::collection::vec(any_resource(), 1..3), 1..12)
    ) {
        let mut traces: Vec<Trace> = traces
            .into_iter()
            .enumerate()
            .map(|(i, resource_spans)| Trace { id: gen::trace_id(i as u64), resource_spans })
            .collect();
        traces.sort_by_key(|t| t.id);
        let block = build(&traces, 512);
        for t in &traces {
            let found = lookup(&block, &t.id);
            prop_assert_eq!(found.as_ref(), Some(t));
        }
        let columns = TracesSearchColumns::parse(&block.search).unwrap();
        for query in PROPERTY_QUERIES {
            let matches = evaluator_matches(&traces, query);
            let found = candidates(&columns, query);
            prop_assert!(matches.is_subset(&found), "{}: {:?} not in {:?}", query, matches, found);
            // the strings a matching trace must hold are in its protobuf encoding
            let required = TracesPrefilter::from_query(&parse(query).unwrap());
            for t in traces.iter().filter(|t| matches.contains(&t.id)) {
                let encoded = crate::search::encode_trace(t);
                for s in required.required_strings() {
                    prop_assert!(
                        memchr::memmem::find(&encoded, s.as_bytes()).is_some(),
                        "{}: {:?} not in the encoding of a match", query, s
                    );
                }
            }
        }
    }
}

#[test]
fn required_strings_of_queries() {
    let cases: &[(&str, &[&str])] = &[
        (r#"{ .a = "x" }"#, &["a", "x"]),
        (r#"{ span.a = "x" && resource.a = "y" }"#, &["a", "x", "y"]),
        (r#"{ resource.a != "x" }"#, &["a"]),
        (r#"{ .a > 1 }"#, &["a"]),
        (r#"{ name = "n1" && status = error }"#, &["n1"]),
        (
            r#"{ rootServiceName = "s1" } >> { span.db = "redis" }"#,
            &[],
        ),
        (
            r#"{ rootServiceName = "s1" } && { span.db = "redis" }"#,
            &["db", "redis", "s1"],
        ),
        (r#"{ .a = "x" || .a = 1 }"#, &[]),
        (r#"{ .a =~ "x.*" }"#, &["a"]),
        (r#"{ duration > 1s }"#, &[]),
    ];
    for (query, want) in cases {
        let prefilter = TracesPrefilter::from_query(&parse(query).unwrap());
        assert_eq!(prefilter.required_strings(), *want, "{query}");
    }
}
