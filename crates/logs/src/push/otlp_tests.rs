use proptest::prelude::*;
use sextant_proto::otlp::common::v1::any_value::Value as Kind;
use sextant_proto::otlp::common::v1::KeyValueList;
use sextant_proto::otlp::logs::v1::{ResourceLogs, ScopeLogs};

use super::*;
use crate::push::body::tests::gzip;

const NOW: i64 = 1_700_000_100_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn kv(key: &str, kind: Kind) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(kind) }),
        key_strindex: 0,
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Kind::StringValue(value.into()))
}

fn record(time: u64, observed: u64, body: Kind, attributes: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        body: Some(AnyValue { value: Some(body) }),
        attributes,
        ..LogRecord::default()
    }
}

fn resource_logs(
    resource: Vec<KeyValue>,
    scope: InstrumentationScope,
    logs: Vec<LogRecord>,
) -> ResourceLogs {
    ResourceLogs {
        resource: Some(Resource {
            attributes: resource,
            ..Resource::default()
        }),
        scope_logs: vec![ScopeLogs {
            scope: Some(scope),
            log_records: logs,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// What the OpenTelemetry Python/Java SDKs' OTLP exporters send from a Kubernetes pod.
fn sdk_request() -> ExportLogsServiceRequest {
    let scope = InstrumentationScope {
        name: "checkout.handlers".into(),
        version: "1.2.0".into(),
        attributes: vec![s("library.language", "python")],
        dropped_attributes_count: 0,
    };
    let mut error = record(
        1_700_000_000_000_000_001,
        1_700_000_000_500_000_000,
        Kind::StringValue("payment failed".into()),
        vec![
            s("code.function", "charge"),
            kv("http.status_code", Kind::IntValue(502)),
            kv(
                "user",
                Kind::KvlistValue(KeyValueList {
                    values: vec![s("id", "u-1"), kv("vip", Kind::BoolValue(true))],
                }),
            ),
        ],
    );
    error.severity_number = 17;
    error.severity_text = "ERROR".into();
    error.flags = 1;
    error.trace_id = (1..=16).collect();
    error.span_id = vec![0xab; 8];
    let structured = record(
        0,
        1_700_000_001_000_000_000,
        Kind::KvlistValue(KeyValueList {
            values: vec![s("msg", "done"), kv("ms", Kind::DoubleValue(12.5))],
        }),
        vec![],
    );
    let untimed = record(0, 0, Kind::StringValue("no time".into()), vec![]);
    ExportLogsServiceRequest {
        resource_logs: vec![
            resource_logs(
                vec![
                    s("service.name", "checkout"),
                    s("service.version", "2.0"),
                    s("k8s.namespace.name", "shop"),
                    s("k8s.pod.name", "checkout-7d9f"),
                    s("telemetry.sdk.language", "python"),
                    s("deployment.environment", ""),
                ],
                scope,
                vec![error, structured],
            ),
            resource_logs(vec![], InstrumentationScope::default(), vec![untimed]),
        ],
    }
}

fn sdk_batch() -> LogBatch {
    let checkout = labels(&[
        ("k8s_namespace_name", "shop"),
        ("k8s_pod_name", "checkout-7d9f"),
        ("service_name", "checkout"),
    ]);
    let shared = [
        ("service_version", "2.0"),
        ("telemetry_sdk_language", "python"),
        ("library_language", "python"),
        ("scope_name", "checkout.handlers"),
        ("scope_version", "1.2.0"),
    ];
    let error_metadata: Vec<(&str, &str)> = shared
        .iter()
        .copied()
        .chain([
            ("code_function", "charge"),
            ("http_status_code", "502"),
            ("user_id", "u-1"),
            ("user_vip", "true"),
            ("observed_timestamp", "1700000000500000000"),
            ("severity_number", "17"),
            ("severity_text", "ERROR"),
            ("flags", "1"),
            ("trace_id", "0102030405060708090a0b0c0d0e0f10"),
            ("span_id", "abababababababab"),
        ])
        .collect();
    LogBatch {
        streams: vec![
            Stream {
                labels: checkout,
                entries: vec![
                    Entry {
                        ts_ns: 1_700_000_000_000_000_001,
                        line: "payment failed".into(),
                        metadata: labels(&error_metadata),
                    },
                    Entry {
                        ts_ns: 1_700_000_001_000_000_000,
                        line: r#"{"ms":12.5,"msg":"done"}"#.into(),
                        metadata: labels(&shared),
                    },
                ],
            },
            Stream {
                labels: labels(&[("service_name", "unknown_service")]),
                entries: vec![Entry {
                    ts_ns: NOW,
                    line: "no time".into(),
                    metadata: Labels::default(),
                }],
            },
        ],
    }
}

#[test]
fn sdk_request_maps_like_loki() {
    let got = otlp_logs_to_batch_at(sdk_request(), &OtlpLogsConfig::default(), NOW);
    assert_eq!(got, sdk_batch());
}

#[test]
fn protobuf_and_json_bodies() {
    let protobuf = sdk_request().encode_to_vec();
    let json = serde_json::to_vec(&sdk_request()).unwrap();
    let config = OtlpLogsConfig::default();
    let cases = [
        ("application/x-protobuf", None, protobuf.clone()),
        ("application/protobuf", Some("gzip"), gzip(&protobuf)),
        ("application/json", None, json.clone()),
        ("application/json; charset=utf-8", Some("gzip"), gzip(&json)),
    ];
    for (content_type, encoding, body) in cases {
        let got = decode_otlp_logs(Some(content_type), encoding, &body, 1 << 20, &config).unwrap();
        // the record without a timestamp gets the decoding time
        let mut want = sdk_batch();
        want.streams[1].entries[0].ts_ns = got.streams[1].entries[0].ts_ns;
        assert_eq!(got, want, "{content_type} {encoding:?}");
    }
}

/// OTLP/JSON as the spec writes it: lowerCamelCase, 64-bit integers as strings, hex IDs,
/// enums as integers.
#[test]
fn otlp_json_spec_example() {
    let body = r#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"my.service"}}]},
      "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},
        "logRecords":[{"timeUnixNano":"1544712660300000000","observedTimeUnixNano":"1544712660300000000",
          "severityNumber":10,"severityText":"Information",
          "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
          "body":{"stringValue":"Example log record"},
          "attributes":[{"key":"int.attribute","value":{"intValue":"10"}},
            {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"stringValue":"values"}]}}}]}]}]}]}"#;
    let got = decode_otlp_logs(
        Some("application/json"),
        None,
        body.as_bytes(),
        0,
        &OtlpLogsConfig::default(),
    )
    .unwrap();
    let want = LogBatch {
        streams: vec![Stream {
            labels: labels(&[("service_name", "my.service")]),
            entries: vec![Entry {
                ts_ns: 1_544_712_660_300_000_000,
                line: "Example log record".into(),
                metadata: labels(&[
                    ("array_attribute", r#"["many","values"]"#),
                    ("int_attribute", "10"),
                    ("observed_timestamp", "1544712660300000000"),
                    ("scope_name", "my.library"),
                    ("scope_version", "1.0.0"),
                    ("severity_number", "10"),
                    ("severity_text", "Information"),
                    ("span_id", "eee19b7ec3c1b174"),
                    ("trace_id", "5b8efff798038103d269b633813fc60c"),
                ]),
            }],
        }],
    };
    assert_eq!(got, want);
}

#[test]
fn service_name_discovery_and_label_config() {
    let cases: Vec<(Vec<KeyValue>, OtlpLogsConfig, Labels)> = vec![
        (
            vec![
                s("k8s.namespace.name", "ns"),
                s("k8s.container.name", "web"),
            ],
            OtlpLogsConfig::default(),
            labels(&[
                ("k8s_container_name", "web"),
                ("k8s_namespace_name", "ns"),
                ("service_name", "web"),
            ]),
        ),
        (
            vec![
                s("service.name", ""),
                s("container.name", "c"),
                s("k8s.job.name", "j"),
            ],
            OtlpLogsConfig::default(),
            labels(&[
                ("container_name", "c"),
                ("k8s_job_name", "j"),
                ("service_name", "c"),
            ]),
        ),
        (
            vec![s("service.name", "svc"), s("host.name", "h")],
            OtlpLogsConfig {
                resource_attributes_as_labels: vec!["host.name".into()],
                discover_service_name: vec![],
            },
            labels(&[("host_name", "h")]),
        ),
        (
            vec![s("host.name", "h")],
            OtlpLogsConfig {
                resource_attributes_as_labels: vec![],
                discover_service_name: vec![],
            },
            Labels::default(),
        ),
    ];
    for (attributes, config, want) in cases {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![resource_logs(
                attributes.clone(),
                InstrumentationScope::default(),
                vec![record(1, 0, Kind::StringValue("x".into()), vec![])],
            )],
        };
        let got = otlp_logs_to_batch_at(request, &config, NOW);
        assert_eq!(got.streams[0].labels, want, "{attributes:?}");
    }
}

#[test]
fn resources_with_the_same_labels_share_a_stream() {
    let logs = |line: &str| vec![record(1, 0, Kind::StringValue(line.into()), vec![])];
    let scope = InstrumentationScope::default;
    let request = ExportLogsServiceRequest {
        resource_logs: vec![
            resource_logs(
                vec![s("service.name", "a"), s("host.name", "1")],
                scope(),
                logs("a1"),
            ),
            resource_logs(vec![s("service.name", "b")], scope(), logs("b")),
            resource_logs(
                vec![s("service.name", "a"), s("host.name", "2")],
                scope(),
                logs("a2"),
            ),
            resource_logs(vec![s("service.name", "a")], scope(), vec![]),
        ],
    };
    let got = otlp_logs_to_batch_at(request, &OtlpLogsConfig::default(), NOW);
    let shape: Vec<(String, Vec<(String, String)>)> = got
        .streams
        .iter()
        .map(|s| {
            let lines = s
                .entries
                .iter()
                .map(|e| (e.line.clone(), e.metadata.to_string()))
                .collect();
            (s.labels.to_string(), lines)
        })
        .collect();
    let want = vec![
        (
            r#"{service_name="a"}"#.to_string(),
            vec![
                ("a1".to_string(), r#"{host_name="1"}"#.to_string()),
                ("a2".to_string(), r#"{host_name="2"}"#.to_string()),
            ],
        ),
        (
            r#"{service_name="b"}"#.to_string(),
            vec![("b".to_string(), "{}".to_string())],
        ),
    ];
    assert_eq!(shape, want);
}

#[test]
fn metadata_precedence_record_over_scope_over_resource() {
    let request = ExportLogsServiceRequest {
        resource_logs: vec![resource_logs(
            vec![s("service.name", "a"), s("k", "resource"), s("r", "1")],
            InstrumentationScope {
                attributes: vec![s("k", "scope"), s("only.scope", "s")],
                ..InstrumentationScope::default()
            },
            vec![
                record(1, 0, Kind::StringValue("x".into()), vec![s("k", "record")]),
                record(2, 0, Kind::StringValue("y".into()), vec![]),
            ],
        )],
    };
    let got = otlp_logs_to_batch_at(request, &OtlpLogsConfig::default(), NOW);
    let metadata: Vec<String> = got.streams[0]
        .entries
        .iter()
        .map(|e| e.metadata.to_string())
        .collect();
    assert_eq!(
        metadata,
        [
            r#"{k="record", only_scope="s", r="1"}"#,
            r#"{k="scope", only_scope="s", r="1"}"#
        ]
    );
}

#[test]
fn label_names_normalize_like_prometheus() {
    let cases = [
        ("service.name", "service_name"),
        ("http.response.status-code", "http_response_status_code"),
        ("2xx", "key_2xx"),
        ("_private", "key_private"),
        ("__reserved", "__reserved"),
        ("ünï", "key_n_"),
        ("", ""),
    ];
    for (key, want) in cases {
        assert_eq!(normalize_label(key), want, "{key}");
    }
}

/// Content type, content encoding, body, expected error.
type ErrorCase<'a> = (Option<&'a str>, Option<&'a str>, &'a [u8], PushError);

#[test]
fn decode_errors() {
    let config = OtlpLogsConfig::default();
    let cases: Vec<ErrorCase<'_>> = vec![
        (
            None,
            None,
            b"",
            PushError::UnsupportedContentType(
                String::new(),
                "application/x-protobuf or application/json",
            ),
        ),
        (
            Some("text/plain"),
            None,
            b"",
            PushError::UnsupportedContentType(
                "text/plain".into(),
                "application/x-protobuf or application/json",
            ),
        ),
        (
            Some("application/x-protobuf"),
            Some("snappy"),
            b"",
            PushError::UnsupportedContentEncoding("snappy".into()),
        ),
        (
            Some("application/json"),
            None,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"timeUnixNano":"soon"}]}]}]}"#,
            PushError::BadRequest(
                "decoding OTLP/JSON logs request: resourceLogs[0].scopeLogs[0].logRecords[1].timeUnixNano: invalid digit found in string at line 1 column 71"
                    .into(),
            ),
        ),
        (
            Some("application/json"),
            None,
            br#"{"resourceLogs":[]} x"#,
            PushError::BadRequest(
                "decoding OTLP/JSON logs request: trailing characters at line 1 column 21".into(),
            ),
        ),
        (
            Some("application/json"),
            None,
            &[b'x'; 100],
            PushError::TooLarge { limit: 99 },
        ),
    ];
    for (content_type, encoding, body, want) in cases {
        let limit = if body.len() == 100 { 99 } else { 0 };
        let got = decode_otlp_logs(content_type, encoding, body, limit, &config);
        assert_eq!(got, Err(want), "{content_type:?} {encoding:?}");
    }
    let got = decode_otlp_logs(
        Some("application/x-protobuf"),
        None,
        b"\x0a\xff",
        0,
        &config,
    );
    assert!(
        matches!(&got, Err(PushError::BadRequest(m)) if m.starts_with("decoding OTLP protobuf logs request")),
        "{got:?}"
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        content_type in prop::sample::select(vec!["application/x-protobuf", "application/json"]),
        encoding in prop::sample::select(vec!["", "gzip", "deflate"]),
    ) {
        let _ = decode_otlp_logs(Some(content_type), Some(encoding), &body, 1 << 16, &OtlpLogsConfig::default());
    }

    #[test]
    fn json_ish_text_never_panics(body in r#"[\[\]{}",:0-9a-zA-Z \\.-]{0,80}"#) {
        let config = OtlpLogsConfig::default();
        let _ = decode_otlp_logs(Some("application/json"), None, body.as_bytes(), 1 << 16, &config);
        let wrapped = format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{body}}}]}}]}}]}}"#);
        let _ = decode_otlp_logs(Some("application/json"), None, wrapped.as_bytes(), 1 << 16, &config);
    }
}
