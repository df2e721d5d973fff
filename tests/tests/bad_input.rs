//! Every malformed or over-limit push is refused with the right status and a message that
//! names what to fix; the process keeps serving, and refused series never land.
//!
//! One `-target=all` process, multi-tenancy on, RF=1, at most 5 labels per series, and a
//! runtime overrides file giving tenant `slow` an ingestion rate of 10 samples/s.

use anyhow::{ensure, Result};
use sextant_e2e::remote_write::{series, snappy, write_request};
use sextant_e2e::{
    query_all_series, start_single, RawPush, RemoteWriteClient, SeriesSet, SextantProcess,
    WriteRequestV2Builder,
};

const TENANT: &str = "e2e";
const METRIC: &str = "bad_input_metric";
const TS: i64 = 1_700_000_000_000;

/// One refused push: the status expected and words the body must contain. Each word may list
/// alternatives separated by `|`; matching ignores case and treats `-` as `_` (so a message may
/// name a limit by its YAML key or its flag).
struct Case {
    name: &'static str,
    push: RawPush,
    status: u16,
    mentions: &'static [&'static str],
}

fn normalize(s: &str) -> String {
    s.to_lowercase().replace('-', "_")
}

fn mentions_all(body: &str, mentions: &[&str]) -> bool {
    let body = normalize(body);
    mentions
        .iter()
        .all(|m| m.split('|').any(|alt| body.contains(&normalize(alt))))
}

fn v1(labels: &[(&str, &str)]) -> RawPush {
    RawPush::v1(
        Some(TENANT),
        &write_request(vec![series(labels, &[(TS, 1.0)])]),
    )
}

fn with_body(body: Vec<u8>) -> RawPush {
    RawPush {
        body,
        ..v1(&[("__name__", METRIC)])
    }
}

fn cases() -> Vec<Case> {
    let mut too_many = vec![("__name__", METRIC)];
    too_many.extend([
        ("l1", "a"),
        ("l2", "a"),
        ("l3", "a"),
        ("l4", "a"),
        ("l5", "a"),
        ("l6", "a"),
    ]);
    let hundred_samples: Vec<(i64, f64)> = (0..100).map(|i| (TS + i, i as f64)).collect();
    let mut bad_ref = WriteRequestV2Builder::new();
    let name_ref = bad_ref.symbol("__name__");
    let metric_ref = bad_ref.symbol(METRIC);
    bad_ref.add_series_refs(vec![name_ref, metric_ref, 3, 99], &[(TS, 1.0)]);
    vec![
        Case {
            name: "malformed protobuf",
            // Field 1, length-delimited, claims 100 bytes but holds 1.
            push: with_body(snappy(&[0x0a, 0x64, 0x01])),
            status: 400,
            mentions: &["protobuf|decode|parse"],
        },
        Case {
            name: "bad snappy",
            // A length varint that never ends.
            push: with_body(vec![0xff; 16]),
            status: 400,
            mentions: &["snappy"],
        },
        Case {
            name: "wrong content type",
            push: RawPush {
                content_type: "text/plain".to_string(),
                ..v1(&[("__name__", METRIC)])
            },
            status: 415,
            mentions: &["content_type|content type|text/plain"],
        },
        Case {
            name: "wrong content encoding",
            push: RawPush {
                content_encoding: Some("gzip".to_string()),
                ..v1(&[("__name__", METRIC)])
            },
            status: 415,
            mentions: &["encoding|gzip"],
        },
        Case {
            name: "body over 4 MiB",
            push: with_body(vec![0x5a; 10 << 20]),
            status: 413,
            mentions: &["4194304|max_recv_msg_size|too large|limit"],
        },
        Case {
            name: "invalid label name",
            push: v1(&[("__name__", METRIC), ("bad-label", "x")]),
            status: 400,
            mentions: &["bad-label", METRIC],
        },
        Case {
            name: "missing metric name",
            push: v1(&[("job", "no_name")]),
            status: 400,
            mentions: &["__name__|metric name"],
        },
        Case {
            name: "duplicate label",
            push: v1(&[("__name__", METRIC), ("a", "1"), ("a", "2")]),
            status: 400,
            mentions: &["duplicate", METRIC],
        },
        Case {
            name: "unsorted labels",
            push: v1(&[("__name__", METRIC), ("b", "1"), ("a", "2")]),
            status: 400,
            mentions: &["sorted|order", METRIC],
        },
        Case {
            name: "too many labels",
            push: v1(&too_many),
            status: 400,
            mentions: &["max_label_names_per_series", METRIC],
        },
        Case {
            name: "missing tenant",
            push: RawPush {
                tenant: None,
                ..v1(&[("__name__", METRIC)])
            },
            status: 401,
            mentions: &["x-scope-orgid|tenant|org id"],
        },
        Case {
            name: "ingestion rate of an overridden tenant",
            push: RawPush::v1(
                Some("slow"),
                &write_request(vec![series(&[("__name__", METRIC)], &hundred_samples)]),
            ),
            status: 429,
            mentions: &["ingestion_rate"],
        },
        Case {
            name: "rw2 symbol reference out of range",
            push: RawPush::v2(Some(TENANT), &bad_ref.build()),
            status: 400,
            mentions: &["symbol|ref"],
        },
    ]
}

async fn start_process(overrides_dir: &std::path::Path) -> Result<SextantProcess> {
    let overrides = overrides_dir.join("overrides.yaml");
    std::fs::write(
        &overrides,
        "overrides:\n  slow:\n    ingestion_rate: 10\n    ingestion_burst_size: 10\n",
    )?;
    start_single(&[
        "-multitenancy-enabled=true".to_string(),
        "-limits.max-label-names-per-series=5".to_string(),
        format!("-runtime-config.file={}", overrides.display()),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pushes_are_refused_with_a_reason_and_good_ones_still_land() -> Result<()> {
    let overrides_dir = tempfile::tempdir()?;
    let mut process = start_process(overrides_dir.path()).await?;
    let client = RemoteWriteClient::new(process.http_addr())?;

    let mut wrong = Vec::new();
    for case in cases() {
        let response = client.push(&case.push).await?;
        if response.status != case.status || !mentions_all(&response.body, case.mentions) {
            wrong.push(format!(
                "{}: got {} {:?}, want {} mentioning {:?}",
                case.name, response.status, response.body, case.status, case.mentions
            ));
        }
    }
    ensure!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    ensure!(
        process.is_running(),
        "the process died\n{}",
        process.logs_tail()
    );

    // The process still takes valid pushes of both protocol versions.
    let ok_v1 = write_request(vec![series(
        &[("__name__", "ok_v1"), ("job", "e2e")],
        &[(TS, 1.0)],
    )]);
    let response = client.push_v1(Some(TENANT), &ok_v1).await?;
    ensure!(
        response.status == 204,
        "valid RW1 push: {} {}",
        response.status,
        response.body
    );
    let mut v2 = WriteRequestV2Builder::new();
    for job in ["a", "b", "c"] {
        v2.add_series(
            &[("__name__", "ok_v2"), ("job", job)],
            &[(TS, 1.0), (TS + 1000, 2.0)],
        );
    }
    let response = client.push_v2(Some(TENANT), &v2.build()).await?;
    ensure!(
        response.status == 204,
        "valid RW2 push: {} {}",
        response.status,
        response.body
    );
    let written: [(&str, &str); 3] = [
        ("X-Prometheus-Remote-Write-Samples-Written", "6"),
        ("X-Prometheus-Remote-Write-Histograms-Written", "0"),
        ("X-Prometheus-Remote-Write-Exemplars-Written", "0"),
    ];
    for (header, want) in written {
        ensure!(
            response.header(header) == Some(want),
            "RW2 response header {header}: got {:?}, want {want}",
            response.header(header)
        );
    }

    // Exactly the valid series landed: nothing of a refused push was written.
    let stored = SeriesSet::from_timeseries(&query_all_series(process.grpc_addr(), TENANT).await?);
    let keys: Vec<&str> = stored.series.keys().map(String::as_str).collect();
    ensure!(
        keys == [
            r#"{__name__="ok_v1", job="e2e"}"#,
            r#"{__name__="ok_v2", job="a"}"#,
            r#"{__name__="ok_v2", job="b"}"#,
            r#"{__name__="ok_v2", job="c"}"#,
        ],
        "stored series: {keys:?}"
    );
    ensure!(
        stored.sample_count() == 7,
        "stored samples: {}",
        stored.sample_count()
    );
    Ok(())
}

#[test]
fn mentions_match_alternatives_case_and_dashes() {
    let body = "err-sextant-max-label-names-per-series: series {__name__=\"m\"} has 7 labels";
    let cases: &[(&[&str], bool)] = &[
        (&["max_label_names_per_series"], true),
        (&["ERR_SEXTANT", "nope|series"], true),
        (&["nope|other"], false),
        (&["m\"}", "7 labels"], true),
    ];
    for (mentions, want) in cases {
        assert_eq!(mentions_all(body, mentions), *want, "{mentions:?}");
    }
}
