use proptest::prelude::*;
use sextant_proto::loki::LabelPairAdapter;

use super::*;
use crate::push::body::tests::gzip;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn entry(ts_ns: i64, line: &str, metadata: &[(&str, &str)]) -> Entry {
    Entry {
        ts_ns,
        line: line.to_string(),
        metadata: labels(metadata),
    }
}

fn proto_entry(secs: i64, nanos: i32, line: &str, metadata: &[(&str, &str)]) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(prost_types::Timestamp {
            seconds: secs,
            nanos,
        }),
        line: line.to_string(),
        structured_metadata: metadata
            .iter()
            .map(|(n, v)| LabelPairAdapter {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        parsed: vec![],
    }
}

/// A push as Promtail/Alloy build it: label text from `LabelSet.String()`, snappy block body.
fn promtail_body(streams: Vec<StreamAdapter>) -> Vec<u8> {
    let raw = PushRequest {
        streams,
        format: String::new(),
    }
    .encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

fn promtail_request() -> (Vec<u8>, LogBatch) {
    let body = promtail_body(vec![
        StreamAdapter {
            labels: r#"{filename="/var/log/syslog", job="varlogs"}"#.into(),
            entries: vec![
                proto_entry(1_700_000_000, 1, "Nov 14 22:13:20 host kernel: ok", &[]),
                proto_entry(
                    1_700_000_001,
                    0,
                    "second",
                    &[("trace_id", "abc"), ("pod", "p-1")],
                ),
            ],
            hash: 0,
        },
        StreamAdapter {
            labels: r#"{job="empty"}"#.into(),
            entries: vec![],
            hash: 0,
        },
        StreamAdapter {
            labels: r#"{app="api", env=""}"#.into(),
            entries: vec![proto_entry(1_700_000_002, 500, "GET /", &[])],
            hash: 0,
        },
    ]);
    let want = LogBatch {
        streams: vec![
            Stream {
                labels: labels(&[("filename", "/var/log/syslog"), ("job", "varlogs")]),
                entries: vec![
                    entry(
                        1_700_000_000_000_000_001,
                        "Nov 14 22:13:20 host kernel: ok",
                        &[],
                    ),
                    entry(
                        1_700_000_001_000_000_000,
                        "second",
                        &[("pod", "p-1"), ("trace_id", "abc")],
                    ),
                ],
            },
            Stream {
                labels: labels(&[("app", "api")]),
                entries: vec![entry(1_700_000_002_000_000_500, "GET /", &[])],
            },
        ],
    };
    (body, want)
}

#[test]
fn promtail_protobuf_bodies() {
    let (body, want) = promtail_request();
    let cases = [
        (Some("application/x-protobuf"), None, body.clone()),
        (None, None, body.clone()),
        (Some("application/x-protobuf"), Some("snappy"), body.clone()),
        (Some("application/x-protobuf"), Some("gzip"), gzip(&body)),
    ];
    for (content_type, encoding, body) in cases {
        let got = decode_loki_push(content_type, encoding, &body, 1 << 20);
        assert_eq!(got.as_ref(), Ok(&want), "{content_type:?} {encoding:?}");
    }
}

/// What python-logging-loki (and Fluent Bit's JSON mode) send.
const PYTHON_LOGGING_LOKI: &str = r#"{"streams": [{"stream": {"application": "my-app",
    "logger": "root", "severity": "info", "empty": ""}, "values": [["1700000000123456789",
    "Something happened"], ["1700000000223456789", "with metadata", {"trace_id": "0af7651916cd43dd",
    "user": "bob"}]]}, {"stream": {"a": "b"}, "values": []}]}"#;

#[test]
fn json_bodies() {
    let want = LogBatch {
        streams: vec![Stream {
            labels: labels(&[
                ("application", "my-app"),
                ("logger", "root"),
                ("severity", "info"),
            ]),
            entries: vec![
                entry(1_700_000_000_123_456_789, "Something happened", &[]),
                entry(
                    1_700_000_000_223_456_789,
                    "with metadata",
                    &[("trace_id", "0af7651916cd43dd"), ("user", "bob")],
                ),
            ],
        }],
    };
    let body = PYTHON_LOGGING_LOKI.as_bytes();
    let cases = [
        (Some("application/json"), None, body.to_vec()),
        (
            Some("application/json; charset=utf-8"),
            Some("gzip"),
            gzip(body),
        ),
    ];
    for (content_type, encoding, body) in cases {
        let got = decode_loki_push(content_type, encoding, &body, 1 << 20);
        assert_eq!(got.as_ref(), Ok(&want), "{content_type:?} {encoding:?}");
    }
    let empty = [r#"{}"#, r#"{"streams": null}"#, r#"{"streams": []}"#];
    for body in empty {
        let got = decode_loki_push(Some("application/json"), None, body.as_bytes(), 0);
        assert_eq!(got, Ok(LogBatch::default()), "{body}");
    }
}

#[test]
fn json_errors_name_the_field() {
    let cases = [
        ("[]", "expected a JSON object with \"streams\""),
        (r#"{"streams": {}}"#, "streams: expected an array"),
        (
            r#"{"streams": [1]}"#,
            "streams[0]: expected an object with \"stream\" and \"values\"",
        ),
        (
            r#"{"streams": [{"stream": "x", "values": []}]}"#,
            "streams[0].stream: expected an object of label pairs",
        ),
        (
            r#"{"streams": [{"stream": {"a": 1}, "values": []}]}"#,
            "streams[0].stream.a: expected a string value, got a number",
        ),
        (
            r#"{"streams": [{"stream": {}, "values": {}}]}"#,
            "streams[0].values: expected an array",
        ),
        (
            r#"{"streams": [{}, {}, {"values": [["1","a"],["2","b"],["3","c"],["4","d"],["5","e"],["abc","f"]]}]}"#,
            "streams[2].values[5][0]: invalid timestamp \"abc\"",
        ),
        (
            r#"{"streams": [{"values": [[1700000000, "a"]]}]}"#,
            "streams[0].values[0][0]: invalid timestamp 1700000000, expected a string of nanoseconds",
        ),
        (
            r#"{"streams": [{"values": [["99999999999999999999", "a"]]}]}"#,
            "streams[0].values[0][0]: invalid timestamp \"99999999999999999999\"",
        ),
        (
            r#"{"streams": [{"values": [[null, "a"]]}]}"#,
            "streams[0].values[0][0]: expected a string timestamp in nanoseconds, got null",
        ),
        (
            r#"{"streams": [{"values": [["1", {"msg": "x"}]]}]}"#,
            "streams[0].values[0][1]: expected a string log line, got an object",
        ),
        (
            r#"{"streams": [{"values": [["1"]]}]}"#,
            "streams[0].values[0]: expected 2 or 3 elements (timestamp, line, structured metadata), got 1",
        ),
        (
            r#"{"streams": [{"values": ["1 a"]}]}"#,
            "streams[0].values[0]: expected [\"<unix epoch in nanoseconds>\", \"<log line>\"]",
        ),
        (
            r#"{"streams": [{"values": [["1", "a", ["k", "v"]]]}]}"#,
            "streams[0].values[0][2]: expected an object of structured metadata, got an array",
        ),
        (
            r#"{"streams": [{"values": [["1", "a", {"k": true}]]}]}"#,
            "streams[0].values[0][2].k: expected a string value, got a boolean",
        ),
    ];
    for (body, want) in cases {
        let got = decode_loki_push(Some("application/json"), None, body.as_bytes(), 0);
        assert_eq!(got, Err(PushError::BadRequest(want.to_string())), "{body}");
    }
    let got = decode_loki_push(Some("application/json"), None, b"{\"streams\": [", 0);
    assert!(
        matches!(&got, Err(PushError::BadRequest(m)) if m.starts_with("decoding JSON push request: EOF")),
        "{got:?}"
    );
}

#[test]
fn protobuf_errors_name_the_field() {
    let stream = |labels: &str, entries: Vec<EntryAdapter>| StreamAdapter {
        labels: labels.into(),
        entries,
        hash: 0,
    };
    let ok = || vec![proto_entry(1, 0, "x", &[])];
    let cases = [
        (
            vec![stream("{a=\"b\"}", ok()), stream("{a=~\"b\"}", ok())],
            "streams[1].labels: Error parsing labels '{a=~\"b\"}' with error: 1:3: parse error: \
             unexpected \"=~\" in label matching, expected \"=\" (stream labels are equality pairs)",
        ),
        (
            vec![stream("{b=\"1\", a=\"x\", b=\"2\"}", ok())],
            "streams[0].labels: stream '{b=\"1\", a=\"x\", b=\"2\"}' has duplicate label name: 'b'",
        ),
        (
            vec![stream(
                "{a=\"b\"}",
                vec![proto_entry(1, 0, "x", &[]), proto_entry(i64::MAX / 10, 0, "x", &[])],
            )],
            "streams[0].entries[1].timestamp: out of range (922337203685477580s)",
        ),
    ];
    for (streams, want) in cases {
        let body = promtail_body(streams);
        let got = decode_loki_push(None, None, &body, 0);
        assert_eq!(got, Err(PushError::BadRequest(want.to_string())));
    }
    let not_protobuf = snap::raw::Encoder::new()
        .compress_vec(b"\xff\xff\xff")
        .unwrap();
    let got = decode_loki_push(None, None, &not_protobuf, 0);
    assert!(
        matches!(&got, Err(PushError::BadRequest(m)) if m.starts_with("decoding protobuf push request")),
        "{got:?}"
    );
    let got = decode_loki_push(None, None, b"\xff\xff\xff\xff\xff\xff", 0);
    assert!(matches!(got, Err(PushError::BadRequest(m)) if m.starts_with("decompressing snappy")));
}

#[test]
fn media_type_encoding_and_size_errors() {
    let line = "x".repeat(1000);
    let body = promtail_body(vec![StreamAdapter {
        labels: r#"{job="a"}"#.into(),
        entries: vec![proto_entry(1, 0, &line, &[])],
        hash: 0,
    }]);
    // the snappy body fits, the protobuf inside does not
    let decompressed = snap::raw::decompress_len(&body).unwrap();
    assert!(body.len() < decompressed);
    let cases = [
        (
            Some("text/plain"),
            None,
            0,
            PushError::UnsupportedContentType(
                "text/plain".into(),
                "application/x-protobuf or application/json",
            ),
        ),
        (
            Some("application/x-protobuf"),
            Some("br"),
            0,
            PushError::UnsupportedContentEncoding("br".into()),
        ),
        (
            Some("application/x-protobuf"),
            None,
            10,
            PushError::TooLarge { limit: 10 },
        ),
        (
            Some("application/x-protobuf"),
            None,
            decompressed - 1,
            PushError::TooLarge {
                limit: decompressed - 1,
            },
        ),
    ];
    for (content_type, encoding, limit, want) in cases {
        let got = decode_loki_push(content_type, encoding, &body, limit);
        assert_eq!(got, Err(want));
    }
}

type Pairs<'a> = &'a [(&'a str, &'a str)];

#[test]
fn service_name_discovery() {
    let defaults: Vec<String> = crate::push::DEFAULT_DISCOVER_SERVICE_NAME
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cases: [(Pairs<'_>, &[String], Pairs<'_>); 5] = [
        (
            &[("job", "varlogs"), ("app", "web")],
            &defaults,
            &[("app", "web"), ("job", "varlogs"), ("service_name", "web")],
        ),
        (
            &[("job", "varlogs")],
            &defaults,
            &[("job", "varlogs"), ("service_name", "varlogs")],
        ),
        (
            &[("host", "h1")],
            &defaults,
            &[("host", "h1"), ("service_name", "unknown_service")],
        ),
        (
            &[("service_name", "api"), ("app", "web")],
            &defaults,
            &[("app", "web"), ("service_name", "api")],
        ),
        (&[("host", "h1")], &[], &[("host", "h1")]),
    ];
    for (stream_labels, discover, want) in cases {
        let mut batch = LogBatch {
            streams: vec![Stream {
                labels: labels(stream_labels),
                entries: vec![entry(1, "x", &[])],
            }],
        };
        discover_service_name(&mut batch, discover);
        assert_eq!(batch.streams[0].labels, labels(want), "{stream_labels:?}");
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        content_type in prop::sample::select(vec!["application/x-protobuf", "application/json"]),
        encoding in prop::sample::select(vec!["", "gzip", "deflate", "snappy"]),
    ) {
        let _ = decode_loki_push(Some(content_type), Some(encoding), &body, 1 << 16);
        let snappy = snap::raw::Encoder::new().compress_vec(&body).unwrap();
        let _ = decode_loki_push(Some(content_type), Some(encoding), &snappy, 1 << 16);
    }

    #[test]
    fn json_ish_text_never_panics(body in r#"[\[\]{}",:0-9a-z \\-]{0,80}"#) {
        let _ = decode_loki_push(Some("application/json"), None, body.as_bytes(), 1 << 16);
        let wrapped = format!(r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[{body}]}}]}}"#);
        let _ = decode_loki_push(Some("application/json"), None, wrapped.as_bytes(), 1 << 16);
    }
}
