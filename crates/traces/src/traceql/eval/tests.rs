//! Sextant's own table of TraceQL queries over a fixed multi-service trace.

use sextant_proto::otlp::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::span::{Event, Link};
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::*;
use crate::model::TraceId;
use crate::traceql::parse;

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.to_owned()))
}

fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

fn array(key: &str, values: &[any_value::Value]) -> KeyValue {
    let values = values
        .iter()
        .map(|v| AnyValue {
            value: Some(v.clone()),
        })
        .collect();
    kv(key, any_value::Value::ArrayValue(ArrayValue { values }))
}

fn id(trace: u8, n: u8) -> Vec<u8> {
    vec![0, 0, 0, 0, 0, 0, trace, n]
}

fn trace_id(n: u8) -> TraceId {
    let mut bytes = [0; 16];
    bytes[15] = n;
    TraceId(bytes)
}

/// A span of trace `t`: (number, parent number or 0, name, kind, start ms, end ms, status
/// code, attributes).
#[allow(clippy::too_many_arguments)]
fn span(
    t: u8,
    n: u8,
    parent: u8,
    name: &str,
    kind: i32,
    (start, end): (u64, u64),
    status: i32,
    attributes: Vec<KeyValue>,
) -> Span {
    Span {
        trace_id: trace_id(t).0.to_vec(),
        span_id: id(t, n),
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            id(t, parent)
        },
        name: name.to_owned(),
        kind,
        start_time_unix_nano: T0 + start * MS,
        end_time_unix_nano: T0 + end * MS,
        attributes,
        status: Some(Status {
            code: status,
            message: String::new(),
        }),
        ..Default::default()
    }
}

fn resource_spans(
    service: &str,
    extra: Vec<KeyValue>,
    scope: InstrumentationScope,
    spans: Vec<Span>,
) -> ResourceSpans {
    let mut attributes = vec![s("service.name", service)];
    attributes.extend(extra);
    ResourceSpans {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(scope),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn scope(name: &str, version: &str, attributes: Vec<KeyValue>) -> InstrumentationScope {
    InstrumentationScope {
        name: name.to_owned(),
        version: version.to_owned(),
        attributes,
        ..Default::default()
    }
}

const INTERNAL: i32 = 1;
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const UNSET: i32 = 0;
const OK: i32 = 1;
const ERROR: i32 = 2;

/// frontend → checkout → payment, with database calls, an event per failing call and a link
/// to the batch trace.
fn shop_trace() -> Trace {
    let t = 0xa1;
    let frontend = vec![
        span(
            t,
            1,
            0,
            "GET /checkout",
            SERVER,
            (0, 1200),
            ERROR,
            vec![
                s("http.method", "GET"),
                i("http.status_code", 502),
                s("http.route", "/checkout"),
                array(
                    "tags",
                    &[
                        any_value::Value::StringValue("web".to_owned()),
                        any_value::Value::StringValue("checkout".to_owned()),
                    ],
                ),
            ],
        ),
        span(t, 2, 1, "render", INTERNAL, (10, 60), OK, vec![]),
        span(
            t,
            3,
            1,
            "POST /api/checkout",
            CLIENT,
            (100, 1100),
            ERROR,
            vec![s("http.method", "POST"), i("http.status_code", 502)],
        ),
    ];
    let mut charge = span(
        t,
        7,
        4,
        "charge",
        CLIENT,
        (300, 1000),
        ERROR,
        vec![s("rpc.system", "grpc")],
    );
    charge.events.push(Event {
        time_unix_nano: T0 + 950 * MS,
        name: "exception".to_owned(),
        attributes: vec![s("exception.type", "PaymentDeclined")],
        ..Default::default()
    });
    let mut publish = span(
        t,
        8,
        4,
        "publish order",
        PRODUCER,
        (1010, 1020),
        UNSET,
        vec![s("messaging.system", "kafka")],
    );
    publish.links.push(Link {
        trace_id: trace_id(0xb2).0.to_vec(),
        span_id: id(0xb2, 1),
        attributes: vec![s("reason", "retry")],
        ..Default::default()
    });
    let checkout = vec![
        span(
            t,
            4,
            3,
            "POST /api/checkout",
            SERVER,
            (110, 1090),
            ERROR,
            vec![s("http.method", "POST"), i("http.status_code", 502)],
        ),
        span(
            t,
            5,
            4,
            "SELECT orders",
            CLIENT,
            (120, 170),
            UNSET,
            vec![
                s("db.system", "postgresql"),
                s("db.statement", "SELECT * FROM orders WHERE id = $1"),
                i("db.rows", 12),
            ],
        ),
        span(
            t,
            6,
            4,
            "INSERT orders",
            CLIENT,
            (180, 260),
            UNSET,
            vec![
                s("db.system", "postgresql"),
                i("db.rows", 1),
                kv("retry.ratio", any_value::Value::DoubleValue(0.5)),
            ],
        ),
        charge,
        publish,
    ];
    let mut payment_server = span(
        t,
        9,
        7,
        "Charge",
        SERVER,
        (310, 990),
        ERROR,
        vec![
            s("rpc.system", "grpc"),
            kv("payment.amount", any_value::Value::DoubleValue(42.5)),
            kv("payment.cached", any_value::Value::BoolValue(false)),
            array(
                "codes",
                &[
                    any_value::Value::IntValue(51),
                    any_value::Value::IntValue(54),
                ],
            ),
        ],
    );
    payment_server.status.as_mut().unwrap().message = "card declined".to_owned();
    let mut bank = span(
        t,
        12,
        9,
        "call bank",
        CLIENT,
        (450, 980),
        ERROR,
        vec![s("http.method", "POST"), i("http.status_code", 402)],
    );
    bank.events.push(Event {
        time_unix_nano: T0 + 460 * MS,
        name: "retry".to_owned(),
        attributes: vec![i("attempt", 2)],
        ..Default::default()
    });
    let payment = vec![
        payment_server,
        span(
            t,
            10,
            9,
            "fraud check",
            INTERNAL,
            (320, 400),
            OK,
            vec![i("fraud.score", 7)],
        ),
        span(
            t,
            11,
            9,
            "SELECT cards",
            CLIENT,
            (410, 440),
            UNSET,
            vec![s("db.system", "redis"), i("db.rows", 1)],
        ),
        bank,
    ];
    Trace {
        id: trace_id(t),
        resource_spans: vec![
            resource_spans(
                "frontend",
                vec![],
                scope("frontend-http", "1.2.0", vec![s("lib.tier", "edge")]),
                frontend,
            ),
            resource_spans(
                "checkout",
                vec![s("cloud.region", "eu-west-1"), i("pod.replicas", 3)],
                scope("checkout-lib", "0.9.0", vec![]),
                checkout,
            ),
            resource_spans(
                "payment",
                vec![s("cloud.region", "us-east-1")],
                scope("payment-lib", "2.0.0", vec![]),
                payment,
            ),
        ],
    }
}

/// An unrelated trace: a nightly job and its query.
fn batch_trace() -> Trace {
    let t = 0xb2;
    let spans = vec![
        span(t, 1, 0, "nightly job", INTERNAL, (0, 5000), UNSET, vec![]),
        span(
            t,
            2,
            1,
            "SELECT orders",
            CLIENT,
            (100, 2100),
            UNSET,
            vec![s("db.system", "postgresql")],
        ),
    ];
    Trace {
        id: trace_id(t),
        resource_spans: vec![resource_spans(
            "batch",
            vec![],
            scope("batch-lib", "1.0.0", vec![]),
            spans,
        )],
    }
}

/// The span names of each spanset, sorted within a set.
fn names(result: &Option<TraceqlTraceMatch>) -> Vec<Vec<String>> {
    result
        .iter()
        .flat_map(|m| &m.span_sets)
        .map(|set| {
            let mut names: Vec<String> = set.spans.iter().map(|s| s.name.clone()).collect();
            names.sort();
            names
        })
        .collect()
}

fn run(query: &str, trace: &Trace) -> Option<TraceqlTraceMatch> {
    let q = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let eval = TraceqlEvaluator::new(&q).unwrap_or_else(|e| panic!("{query}: {e}"));
    eval.search(trace, 0)
}

const ALL: &[&str] = &[
    "GET /checkout",
    "render",
    "POST /api/checkout",
    "POST /api/checkout",
    "SELECT orders",
    "INSERT orders",
    "charge",
    "publish order",
    "Charge",
    "fraud check",
    "SELECT cards",
    "call bank",
];

/// (query, spansets of the shop trace (span names; empty: no match), whether the batch trace
/// matches).
#[rustfmt::skip]
const TABLE: &[(&str, &[&[&str]], bool)] = &[
    // intrinsics
    ("{ }", &[ALL], true),
    ("{ true }", &[ALL], true),
    ("{ false }", &[], false),
    (r#"{ name = "charge" }"#, &[&["charge"]], false),
    (r#"{ span:name = "Charge" }"#, &[&["Charge"]], false),
    ("{ status = error }", &[&["GET /checkout", "POST /api/checkout", "POST /api/checkout", "charge", "Charge", "call bank"]], false),
    ("{ span:status = ok }", &[&["render", "fraud check"]], false),
    ("{ status = unset && kind = client }", &[&["SELECT orders", "INSERT orders", "SELECT cards"]], true),
    (r#"{ statusMessage = "card declined" }"#, &[&["Charge"]], false),
    ("{ kind = producer }", &[&["publish order"]], false),
    ("{ kind != server && span:kind != client }", &[&["render", "publish order", "fraud check"]], true),
    ("{ duration > 500ms }", &[&["GET /checkout", "POST /api/checkout", "POST /api/checkout", "charge", "Charge", "call bank"]], true),
    ("{ duration >= 1s && duration < 1100ms }", &[&["POST /api/checkout"]], false),
    ("{ span:duration <= 10ms }", &[&["publish order"]], false),
    (r#"{ rootName = "GET /checkout" && kind = client }"#, &[&["POST /api/checkout", "SELECT orders", "INSERT orders", "charge", "SELECT cards", "call bank"]], false),
    (r#"{ rootServiceName = "frontend" && resource.service.name = "payment" }"#, &[&["Charge", "fraud check", "SELECT cards", "call bank"]], false),
    (r#"{ trace:rootService = "batch" }"#, &[], true),
    ("{ traceDuration > 1s && name = \"render\" }", &[&["render"]], false),
    ("{ trace:duration > 2s }", &[], true),
    (r#"{ span:id = "000000000000a10c" }"#, &[&["call bank"]], false),
    (r#"{ span:parentID = "000000000000a109" }"#, &[&["fraud check", "SELECT cards", "call bank"]], false),
    (r#"{ trace:id = "000000000000000000000000000000a1" && name = "render" }"#, &[&["render"]], false),
    (r#"{ event:name = "exception" }"#, &[&["charge"]], false),
    ("{ event:timeSinceStart > 600ms }", &[&["charge"]], false),
    (r#"{ link:traceID = "000000000000000000000000000000b2" }"#, &[&["publish order"]], false),
    (r#"{ link:traceID = "b2" }"#, &[&["publish order"]], false),
    (r#"{ trace:id = "a1" && kind = producer }"#, &[&["publish order"]], false),
    (r#"{ trace:id =~ "0+a1" }"#, &[], false),
    (r#"{ trace:id != "00b2" && kind = producer }"#, &[&["publish order"]], false),
    (r#"{ link:spanID = "000000000000b201" }"#, &[&["publish order"]], false),
    ("{ childCount = 4 }", &[&["POST /api/checkout"]], false),
    ("{ nestedSetParent = -1 }", &[&["GET /checkout"]], true),
    ("{ nestedSetLeft = 1 && nestedSetRight = 24 }", &[&["GET /checkout"]], false),
    (r#"{ instrumentation:name = "frontend-http" }"#, &[&["GET /checkout", "render", "POST /api/checkout"]], false),
    (r#"{ instrumentation:version = "2.0.0" && kind = server }"#, &[&["Charge"]], false),
    // attributes
    (r#"{ span.http.method = "POST" }"#, &[&["POST /api/checkout", "POST /api/checkout", "call bank"]], false),
    ("{ .http.status_code >= 500 }", &[&["GET /checkout", "POST /api/checkout", "POST /api/checkout"]], false),
    ("{ span.http.status_code = 402 }", &[&["call bank"]], false),
    (r#"{ .service.name = "checkout" }"#, &[&["POST /api/checkout", "SELECT orders", "INSERT orders", "charge", "publish order"]], false),
    (r#"{ resource.service.name = "batch" }"#, &[], true),
    (r#"{ span.service.name = "checkout" }"#, &[], false),
    (r#"{ resource.cloud.region =~ "eu-.*" }"#, &[&["POST /api/checkout", "SELECT orders", "INSERT orders", "charge", "publish order"]], false),
    (r#"{ resource.cloud.region =~ "west" }"#, &[], false),
    (r#"{ span.db.statement =~ "SELECT.*" }"#, &[&["SELECT orders"]], false),
    (r#"{ span.db.system !~ "post.*" && span.db.system != nil }"#, &[&["SELECT cards"]], false),
    ("{ span.db.system = nil && kind = client }", &[&["POST /api/checkout", "charge", "call bank"]], false),
    ("{ span.db.system != nil }", &[&["SELECT orders", "INSERT orders", "SELECT cards"]], true),
    ("{ span.db.rows > 1 }", &[&["SELECT orders"]], false),
    ("{ span.db.rows = 12.0 }", &[&["SELECT orders"]], false),
    ("{ span.retry.ratio = 0.5 }", &[&["INSERT orders"]], false),
    ("{ span.payment.amount > 42 }", &[&["Charge"]], false),
    ("{ span.payment.cached = false }", &[&["Charge"]], false),
    ("{ span.http.method = 1 }", &[], false),
    (r#"{ span.missing != "x" }"#, &[], false),
    (r#"{ event.exception.type = "PaymentDeclined" }"#, &[&["charge"]], false),
    ("{ event.attempt = 2 }", &[&["call bank"]], false),
    (r#"{ link.reason = "retry" }"#, &[&["publish order"]], false),
    (r#"{ instrumentation.lib.tier = "edge" }"#, &[&["GET /checkout", "render", "POST /api/checkout"]], false),
    // array attributes: any element, every element for != and !~
    (r#"{ span.tags = "web" }"#, &[&["GET /checkout"]], false),
    (r#"{ span.tags =~ "che.*" }"#, &[&["GET /checkout"]], false),
    (r#"{ span.tags != "web" }"#, &[], false),
    (r#"{ span.tags !~ "z.*" }"#, &[&["GET /checkout"]], false),
    ("{ span.codes > 52 }", &[&["Charge"]], false),
    ("{ span.codes = 50 }", &[], false),
    // arithmetic and logic
    ("{ resource.pod.replicas * 2 = 6 && kind = client }", &[&["SELECT orders", "INSERT orders", "charge"]], false),
    ("{ span.db.rows + 1 = 2 }", &[&["INSERT orders", "SELECT cards"]], false),
    ("{ duration - 500ms > 500ms }", &[&["GET /checkout"]], true),
    ("{ span.fraud.score % 2 = 1 && span.fraud.score ^ 2 = 49 }", &[&["fraud check"]], false),
    (r#"{ span.http.status_code = 402 || name = "render" }"#, &[&["render", "call bank"]], false),
    ("{ !(kind = client) && status = error }", &[&["GET /checkout", "POST /api/checkout", "Charge"]], false),
    // structural
    (r#"{ resource.service.name = "checkout" } > { resource.service.name = "payment" }"#, &[&["Charge"]], false),
    (r#"{ name = "charge" } >> { kind = client }"#, &[&["SELECT cards", "call bank"]], false),
    (r#"{ name = "call bank" } < { }"#, &[&["Charge"]], false),
    (r#"{ name = "call bank" } << { kind = server }"#, &[&["GET /checkout", "POST /api/checkout", "Charge"]], false),
    (r#"{ name = "SELECT orders" } ~ { }"#, &[&["INSERT orders", "charge", "publish order"]], false),
    ("{ kind = server } !> { kind = client }", &[], true),
    (r#"{ resource.service.name = "payment" } !>> { status = error }"#, &[&["GET /checkout", "POST /api/checkout", "POST /api/checkout", "charge", "Charge"]], false),
    (r#"{ name = "Charge" } !< { kind = client }"#, &[&["POST /api/checkout", "SELECT orders", "INSERT orders", "SELECT cards", "call bank"]], true),
    (r#"{ name = "fraud check" } !~ { resource.service.name = "payment" }"#, &[&["Charge", "fraud check"]], false),
    ("{ kind = server } !<< { kind = internal }", &[&["render", "fraud check"]], true),
    (r#"{ name = "charge" } &> { name = "Charge" }"#, &[&["charge", "Charge"]], false),
    (r#"{ name = "render" } &~ { name = "POST /api/checkout" }"#, &[&["render", "POST /api/checkout"]], false),
    ("{ kind = server } > { kind = client } > { kind = server }", &[&["POST /api/checkout", "Charge"]], false),
    // spanset && and ||
    (r#"{ name = "render" } && { name = "fraud check" }"#, &[&["render", "fraud check"]], false),
    (r#"{ name = "render" } && { name = "nope" }"#, &[], false),
    (r#"{ name = "render" } || { name = "nope" }"#, &[&["render"]], false),
    (r#"{ name = "nightly job" } || { name = "render" }"#, &[&["render"]], true),
    // pipelines
    ("{ kind = client } | count() > 5", &[&["POST /api/checkout", "SELECT orders", "INSERT orders", "charge", "SELECT cards", "call bank"]], false),
    ("{ kind = client } | count() > 6", &[], false),
    ("{ span.db.system != nil } | avg(duration) > 40ms", &[&["SELECT orders", "INSERT orders", "SELECT cards"]], true),
    ("{ span.db.system != nil } | max(duration) < 100ms", &[&["SELECT orders", "INSERT orders", "SELECT cards"]], false),
    ("{ span.db.system != nil } | min(duration) = 30ms", &[&["SELECT orders", "INSERT orders", "SELECT cards"]], false),
    ("{ span.db.system != nil } | sum(span.db.rows) = 14", &[&["SELECT orders", "INSERT orders", "SELECT cards"]], false),
    ("{ span.db.system != nil } | by(span.db.system)", &[&["SELECT orders", "INSERT orders"], &["SELECT cards"]], true),
    ("{ } | by(resource.service.name) | count() > 3", &[&["POST /api/checkout", "SELECT orders", "INSERT orders", "charge", "publish order"], &["Charge", "fraud check", "SELECT cards", "call bank"]], false),
    ("{ } | by(resource.service.name) | coalesce()", &[ALL], true),
    ("{ kind = client } | by(resource.service.name) | avg(duration) > 279ms", &[&["POST /api/checkout"], &["SELECT cards", "call bank"]], true),
    ("{ status = ok } | select(span.fraud.score, resource.service.name)", &[&["render", "fraud check"]], false),
    (r#"({ kind = server } | count() > 2) >> { name = "fraud check" }"#, &[&["fraud check"]], false),
];

#[test]
fn query_table() {
    let (shop, batch) = (shop_trace(), batch_trace());
    let mut failures = Vec::new();
    for &(query, want_shop, want_batch) in TABLE {
        let mut want: Vec<Vec<String>> = want_shop
            .iter()
            .map(|set| set.iter().map(|s| s.to_string()).collect())
            .collect();
        want.iter_mut().for_each(|set| set.sort());
        let got_shop = names(&run(query, &shop));
        let got_batch = run(query, &batch).is_some();
        if got_shop != want || got_batch != want_batch {
            failures.push(format!(
                "{query}\n  shop: got {got_shop:?}, want {want:?}\n  batch: got {got_batch}, want {want_batch}"
            ));
        }
    }
    assert!(TABLE.len() >= 60);
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        TABLE.len(),
        failures.join("\n")
    );
}

fn attributes(span: &TraceqlSpan) -> Vec<(String, String)> {
    span.attributes
        .iter()
        .map(|kv| {
            let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
            let text = match value {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), text)
        })
        .collect()
}

#[test]
fn select_attaches_attributes_to_spans() {
    let result = run(
        "{ status = ok } | select(span.fraud.score, resource.service.name, status, name)",
        &shop_trace(),
    )
    .expect("match");
    let spans = &result.span_sets[0].spans;
    let got: Vec<(&str, Vec<(String, String)>)> = spans
        .iter()
        .map(|s| (s.name.as_str(), attributes(s)))
        .collect();
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        got,
        vec![
            (
                "render",
                vec![pair("service.name", "frontend"), pair("status", "ok")]
            ),
            (
                "fraud check",
                vec![
                    pair("fraud.score", "7"),
                    pair("service.name", "payment"),
                    pair("status", "ok")
                ]
            ),
        ]
    );
}

#[test]
fn spanset_attributes_carry_by_and_aggregate_values() {
    let result = run(
        "{ span.db.system != nil } | by(span.db.system) | count() > 0",
        &shop_trace(),
    )
    .expect("match");
    let sets: Vec<Vec<(String, String)>> = result
        .span_sets
        .iter()
        .map(|set| {
            let span = TraceqlSpan {
                span_id: String::new(),
                name: String::new(),
                start_time_unix_nano: 0,
                duration_nanos: 0,
                attributes: set.attributes.clone(),
            };
            attributes(&span)
        })
        .collect();
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        sets,
        vec![
            vec![
                pair("by(span.db.system)", "postgresql"),
                pair("count()", "2")
            ],
            vec![pair("by(span.db.system)", "redis"), pair("count()", "1")],
        ]
    );
}

#[test]
fn spans_per_span_set_limits_spans_not_matched() {
    let q = parse("{ kind = client }").unwrap();
    let eval = TraceqlEvaluator::new(&q).unwrap();
    let result = eval.search(&shop_trace(), 2).expect("match");
    let set = &result.span_sets[0];
    assert_eq!(set.matched, 6);
    let names: Vec<&str> = set.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["POST /api/checkout", "SELECT orders"]);
}

#[test]
fn result_serializes_as_tempo_search_metadata() {
    let result = run(r#"{ name = "render" }"#, &shop_trace()).expect("match");
    let json = serde_json::to_value(&result).unwrap();
    let want = serde_json::json!({
        "traceID": "a1",
        "rootServiceName": "frontend",
        "rootTraceName": "GET /checkout",
        "startTimeUnixNano": T0.to_string(),
        "durationMs": 1200,
        "spanSets": [{
            "spans": [{
                "spanID": "000000000000a102",
                "name": "render",
                "startTimeUnixNano": (T0 + 10 * MS).to_string(),
                "durationNanos": "50000000",
            }],
            "matched": 1,
        }],
    });
    assert_eq!(json, want);
}

#[test]
fn unimplemented_queries_are_refused() {
    let cases = [
        ("{ } | rate()", "unsupported"),
        ("({ } | count()) > ({ } | count())", "unsupported"),
        ("{ parent.http.method = \"GET\" }", "unsupported"),
        (r#"{ name =~ "(" }"#, "invalid"),
    ];
    for (query, want) in cases {
        let q = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        let got = match TraceqlEvaluator::new(&q) {
            Err(TraceqlError::Unsupported(_)) => "unsupported",
            Err(TraceqlError::Invalid(_)) => "invalid",
            Err(e) => panic!("{query}: unexpected {e}"),
            Ok(_) => "ok",
        };
        assert_eq!(got, want, "{query}");
    }
}

#[test]
fn malformed_span_trees_do_not_hang_or_panic() {
    // Two spans naming each other as parent, one naming itself, one with no ID.
    let t = 0xc3;
    let mut spans = vec![
        span(t, 1, 2, "a", SERVER, (0, 10), UNSET, vec![]),
        span(t, 2, 1, "b", CLIENT, (0, 10), UNSET, vec![]),
        span(t, 3, 3, "c", CLIENT, (0, 10), UNSET, vec![]),
        span(t, 4, 0, "d", CLIENT, (20, 10), UNSET, vec![]),
    ];
    spans[3].span_id.clear();
    let trace = Trace {
        id: trace_id(t),
        resource_spans: vec![resource_spans("x", vec![], scope("s", "1", vec![]), spans)],
    };
    for query in [
        "{ } >> { }",
        "{ } << { }",
        "{ } !>> { }",
        "{ } &<< { }",
        "{ } ~ { }",
        "{ nestedSetLeft > 0 }",
        "{ duration > 0s }",
        "{ } | by(span:parentID)",
    ] {
        let _ = run(query, &trace);
    }
    assert_eq!(names(&run("{ duration = 0s }", &trace)), [["d"]]);
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    const FILTERS: &[&str] = &[
        "{ }",
        "{ status = error }",
        "{ .http.status_code >= 500 }",
        r#"{ span.db.system =~ "post.*" }"#,
        "{ duration > 100ms }",
        "{ event:name != nil }",
        "{ link.reason = nil }",
        "{ span.db.rows / 0 = 1 }",
        "{ span.db.rows % 0 > 1 }",
        "{ -span.db.rows ^ 70 < 0 }",
        "{ span.db.rows * 9223372036854775807 > 0 }",
        "{ nestedSetParent < nestedSetLeft }",
        "{ childCount + 1.5 > 2 }",
    ];
    const OPS: &[&str] = &[
        "&&", "||", ">", ">>", "<", "<<", "~", "!>", "!>>", "!<", "!<<", "!~", "&>", "&>>", "&<",
        "&<<", "&~",
    ];
    const STAGES: &[&str] = &[
        "count() > 1",
        "avg(duration) > 1ms",
        "max(span.db.rows) > 1",
        "sum(span.payment.amount) >= 0",
        "min(.http.status_code) = 502",
        "by(resource.service.name)",
        "by(span.db.rows)",
        "select(span.http.method, event:name)",
        "coalesce()",
    ];

    fn query() -> impl Strategy<Value = String> {
        let spanset = (
            prop::sample::select(FILTERS),
            prop::collection::vec(
                (prop::sample::select(OPS), prop::sample::select(FILTERS)),
                0..3,
            ),
        )
            .prop_map(|(first, rest)| {
                rest.iter()
                    .fold(first.to_owned(), |q, (op, f)| format!("{q} {op} {f}"))
            });
        (
            spanset,
            prop::collection::vec(prop::sample::select(STAGES), 0..3),
        )
            .prop_map(|(spanset, stages)| {
                stages
                    .iter()
                    .fold(spanset, |q, stage| format!("{q} | {stage}"))
            })
    }

    proptest! {
        #[test]
        fn evaluation_never_panics(query in query()) {
            let Ok(q) = parse(&query) else { return Ok(()) };
            let Ok(eval) = TraceqlEvaluator::new(&q) else { return Ok(()) };
            for trace in [shop_trace(), batch_trace(), Trace::default()] {
                let _ = eval.search(&trace, 3);
            }
        }
    }
}
