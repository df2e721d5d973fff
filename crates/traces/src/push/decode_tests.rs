use proptest::prelude::*;
use sextant_proto::otlp::common::v1::any_value;

use super::*;
use crate::model::tests::{arb_request, resource_spans, span};
use crate::push::body::tests::gzip;

const PROTOBUF: Option<&str> = Some("application/x-protobuf");
const JSON: Option<&str> = Some("application/json");
const LIMIT: usize = 1 << 20;

/// The OTLP spec's example (`opentelemetry-proto/examples/trace.json`), uppercase IDs and all.
const SPEC_EXAMPLE: &str = r#"{
  "resourceSpans": [{
    "resource": {
      "attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]
    },
    "scopeSpans": [{
      "scope": {
        "name": "my.library",
        "version": "1.0.0",
        "attributes": [
          {"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}
        ]
      },
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "kind": 2,
        "attributes": [
          {"key": "my.span.attr", "value": {"stringValue": "some value"}},
          {"key": "retries", "value": {"intValue": "3"}}
        ]
      }]
    }]
  }]
}"#;

fn sample() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![resource_spans(
            "checkout",
            vec![("http", vec![span(1, 1, "GET /"), span(2, 1, "POST /pay")])],
        )],
    }
}

#[test]
fn the_spec_example_decodes_with_hex_ids() {
    let request = decode_otlp_traces(JSON, None, SPEC_EXAMPLE.as_bytes(), LIMIT).unwrap();
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        span.trace_id,
        [
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c
        ]
    );
    assert_eq!(
        span.span_id,
        [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
    );
    assert_eq!(
        span.parent_span_id,
        [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73]
    );
    assert_eq!(span.name, "I'm a server span");
    assert_eq!(span.kind, 2);
    assert_eq!(
        (span.start_time_unix_nano, span.end_time_unix_nano),
        (1_544_712_660_000_000_000, 1_544_712_661_000_000_000)
    );
    let retries = span.attributes[1].value.as_ref().unwrap().value.as_ref();
    assert_eq!(retries, Some(&any_value::Value::IntValue(3)));
}

#[test]
fn bodies_decode_by_content_type_and_encoding() {
    let proto = prost::Message::encode_to_vec(&sample());
    let json = serde_json::to_vec(&sample()).unwrap();
    // (content type, content encoding, body)
    let cases: Vec<(Option<&str>, Option<&str>, Vec<u8>)> = vec![
        (PROTOBUF, None, proto.clone()),
        (
            Some("application/protobuf"),
            Some("identity"),
            proto.clone(),
        ),
        (PROTOBUF, Some("gzip"), gzip(&proto)),
        (JSON, None, json.clone()),
        (
            Some("application/json; charset=utf-8"),
            Some("gzip"),
            gzip(&json),
        ),
    ];
    for (content_type, encoding, body) in cases {
        let got = decode_otlp_traces(content_type, encoding, &body, LIMIT);
        assert_eq!(got, Ok(sample()), "{content_type:?} {encoding:?}");
    }
}

#[test]
fn bad_bodies_are_refused_with_a_message() {
    let proto = prost::Message::encode_to_vec(&sample());
    let bad_id = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#;
    let bad_time =
        r#"{"resourceSpans":[{"scopeSpans":[{},{"spans":[{},{"startTimeUnixNano":"soon"}]}]}]}"#;
    /// Content type, content encoding, body, limit, expected status, expected message start.
    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Vec<u8>,
        usize,
        u16,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            Some("text/plain"),
            None,
            proto.clone(),
            LIMIT,
            415,
            "content type \"text/plain\" is not supported, expected application/x-protobuf or application/json",
        ),
        (
            None,
            None,
            proto.clone(),
            LIMIT,
            415,
            "content type \"\" is not supported",
        ),
        (
            PROTOBUF,
            Some("zstd"),
            proto.clone(),
            LIMIT,
            415,
            "content encoding \"zstd\" is not supported, expected gzip or identity",
        ),
        (
            PROTOBUF,
            Some("gzip"),
            gzip(&proto),
            10,
            413,
            "request body too large: more than 10 bytes after decompression",
        ),
        (PROTOBUF, None, proto.clone(), 10, 413, "request body too large"),
        (
            PROTOBUF,
            None,
            b"\x0a\xff\xff".to_vec(),
            LIMIT,
            400,
            "decoding OTLP protobuf traces request: ",
        ),
        (PROTOBUF, Some("gzip"), b"nope".to_vec(), LIMIT, 400, "decompressing gzip body"),
        (
            JSON,
            None,
            bad_id.into(),
            LIMIT,
            400,
            "decoding OTLP/JSON traces request: resourceSpans[0].scopeSpans[0].spans[0].traceId: ",
        ),
        (
            JSON,
            None,
            bad_time.into(),
            LIMIT,
            400,
            "decoding OTLP/JSON traces request: resourceSpans[0].scopeSpans[1].spans[1].startTimeUnixNano: ",
        ),
        (JSON, None, b"{} {}".to_vec(), LIMIT, 400, "decoding OTLP/JSON traces request: trailing"),
        (JSON, None, b"[".to_vec(), LIMIT, 400, "decoding OTLP/JSON traces request: "),
    ];
    for (content_type, encoding, body, limit, status, message) in cases {
        let err = decode_otlp_traces(content_type, encoding, &body, limit).unwrap_err();
        assert_eq!(err.kind().http_status(), status, "{err}");
        assert!(err.to_string().starts_with(message), "{err} !~ {message}");
    }
}

proptest! {
    #[test]
    fn random_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        for content_type in [PROTOBUF, JSON] {
            for encoding in [None, Some("gzip")] {
                let _ = decode_otlp_traces(content_type, encoding, &body, 1024);
            }
        }
    }

    #[test]
    fn random_gzip_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let compressed = gzip(&body);
        for content_type in [PROTOBUF, JSON] {
            let _ = decode_otlp_traces(content_type, Some("gzip"), &compressed, 1024);
        }
    }

    #[test]
    fn requests_round_trip_through_protobuf_and_json(request in arb_request()) {
        let proto = prost::Message::encode_to_vec(&request);
        let decoded = decode_otlp_traces(PROTOBUF, Some("gzip"), &gzip(&proto), 0);
        prop_assert_eq!(decoded.as_ref(), Ok(&request));
        let json = serde_json::to_vec(&request).unwrap();
        prop_assert_eq!(decode_otlp_traces(JSON, None, &json, 0), Ok(request));
    }
}
