//! The logs ingester driven through its gRPC methods, on a temporary WAL directory.

use futures::StreamExt;
use sextant_logs::db::{LogsDbConfig, LogsFsyncPolicy};
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_logs::push::push_request_from_streams;
use sextant_proto::ingester::logs_ingester_server::LogsIngester as _;
use sextant_proto::ingester::MatcherSet;

use super::*;

const SEC: i64 = 1_000_000_000;

/// (seconds, line, structured metadata)
type TestEntry<'a> = (i64, &'a str, &'a [(&'a str, &'a str)]);

fn template() -> LogsDbConfig {
    LogsDbConfig {
        fsync: LogsFsyncPolicy::Always,
        ..LogsDbConfig::default()
    }
}

fn stream(pairs: &[(&str, &str)], entries: &[TestEntry<'_>]) -> Stream {
    Stream {
        labels: Labels::from_pairs(pairs.iter().copied()),
        entries: entries
            .iter()
            .map(|(t, line, meta)| Entry {
                ts_ns: t * SEC,
                line: line.to_string(),
                metadata: Labels::from_pairs(meta.iter().copied()),
            })
            .collect(),
    }
}

fn push(tenant: &str, streams: &[Stream]) -> LogsPushRequest {
    LogsPushRequest {
        tenant: tenant.into(),
        push: Some(push_request_from_streams(streams)),
    }
}

fn eq(name: &str, value: &str) -> wire::LabelMatcher {
    wire::LabelMatcher {
        r#type: wire::label_matcher::Type::Eq as i32,
        name: name.into(),
        value: value.into(),
    }
}

fn query(tenant: &str, matchers: Vec<wire::LabelMatcher>) -> LogsQueryRequest {
    LogsQueryRequest {
        tenant: tenant.into(),
        start_ns: 0,
        end_ns: 1_000 * SEC,
        matchers,
        line_filters: String::new(),
    }
}

/// The streams of a query answer, decoded back.
async fn streams_of(grpc: &LogsGrpc, request: LogsQueryRequest) -> Vec<Stream> {
    let answer = grpc
        .query_stream(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    let batches: Vec<LogsQueryResponse> = answer.map(|r| r.unwrap()).collect().await;
    let request = sextant_proto::loki::PushRequest {
        streams: batches.into_iter().flat_map(|b| b.streams).collect(),
        format: String::new(),
    };
    batch_from_push_request(request).unwrap().streams
}

fn web() -> Stream {
    stream(
        &[("app", "web"), ("env", "prod")],
        &[
            (10, "GET /a 200", &[("trace_id", "t1")]),
            (20, "GET /b 500", &[]),
        ],
    )
}

fn db() -> Stream {
    stream(&[("app", "db"), ("env", "dev")], &[(15, "slow query", &[])])
}

#[tokio::test]
async fn pushed_entries_come_back_with_their_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let ingester = Arc::new(LogsIngester::new(dir.path(), template()));
    let grpc = LogsGrpc(ingester.clone());
    let reply = grpc
        .push(Request::new(push("team-a", &[web(), db()])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.entries_written, reply.entries_rejected), (3, 0));
    assert_eq!(
        reply.bytes_written,
        ("GET /a 200GET /b 500slow query").len() as u64
    );

    let cases: Vec<(Vec<wire::LabelMatcher>, Vec<Stream>)> = vec![
        (vec![eq("app", "web")], vec![web()]),
        (vec![eq("env", "dev")], vec![db()]),
        (vec![eq("app", "none")], vec![]),
    ];
    for (matchers, want) in cases {
        let got = streams_of(&grpc, query("team-a", matchers.clone())).await;
        assert_eq!(got, want, "{matchers:?}");
    }
    // another tenant sees nothing
    assert!(streams_of(&grpc, query("team-b", vec![eq("app", "web")]))
        .await
        .is_empty());
}

#[tokio::test]
async fn line_filters_run_in_the_ingester() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = LogsGrpc(Arc::new(LogsIngester::new(dir.path(), template())));
    grpc.push(Request::new(push("team-a", &[web(), db()])))
        .await
        .unwrap();
    let only_b = stream(
        &[("app", "web"), ("env", "prod")],
        &[(20, "GET /b 500", &[])],
    );
    // (line filters, the answer)
    let cases: Vec<(&str, Vec<Stream>)> = vec![
        ("", vec![db(), web()]),
        (r#"|= "500""#, vec![only_b.clone()]),
        (r#"|= "GET" != "/a""#, vec![only_b]),
        (r#"|~ "slow|fast""#, vec![db()]),
        (r#"|= "nowhere""#, vec![]),
    ];
    for (filters, want) in cases {
        let request = LogsQueryRequest {
            line_filters: filters.to_string(),
            ..query("team-a", vec![])
        };
        let mut got = streams_of(&grpc, request).await;
        got.sort_by(|a, b| a.labels.cmp(&b.labels));
        assert_eq!(got, want, "{filters}");
    }
    let bad = LogsQueryRequest {
        line_filters: "| json".to_string(),
        ..query("team-a", vec![])
    };
    match grpc.query_stream(Request::new(bad)).await {
        Err(status) => assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status}"),
        Ok(_) => panic!("line filters `| json` were accepted"),
    }
}

#[tokio::test]
async fn entries_too_far_behind_are_rejected_and_described() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = LogsGrpc(Arc::new(LogsIngester::new(dir.path(), template())));
    let late = stream(
        &[("app", "web")],
        &[(7200, "new", &[]), (10, "very old", &[])],
    );
    let reply = grpc
        .push(Request::new(push("team-a", &[late])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.entries_written, reply.entries_rejected), (1, 1));
    assert!(
        reply.rejections[0].contains("entry too far behind"),
        "{:?}",
        reply.rejections
    );
}

#[tokio::test]
async fn a_restarted_ingester_replays_every_tenant() {
    let dir = tempfile::tempdir().unwrap();
    {
        let grpc = LogsGrpc(Arc::new(LogsIngester::new(dir.path(), template())));
        grpc.push(Request::new(push("team-a", &[web()])))
            .await
            .unwrap();
        grpc.push(Request::new(push("team-b", &[db()])))
            .await
            .unwrap();
    }
    let ingester = Arc::new(LogsIngester::new(dir.path(), template()));
    assert_eq!(ingester.replay_all().await.unwrap(), 2);
    let grpc = LogsGrpc(ingester);
    assert_eq!(
        streams_of(&grpc, query("team-a", vec![eq("app", "web")])).await,
        vec![web()]
    );
    assert_eq!(
        streams_of(&grpc, query("team-b", vec![eq("app", "db")])).await,
        vec![db()]
    );
}

#[tokio::test]
async fn labels_series_and_stats_describe_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = LogsGrpc(Arc::new(LogsIngester::new(dir.path(), template())));
    grpc.push(Request::new(push("team-a", &[web(), db()])))
        .await
        .unwrap();
    let labels = |name: &str, matchers: Vec<wire::LabelMatcher>| LogsLabelsRequest {
        tenant: "team-a".into(),
        start_ns: 0,
        end_ns: 1_000 * SEC,
        matchers,
        label_name: name.into(),
    };
    let names = grpc
        .label_names(Request::new(labels("", vec![])))
        .await
        .unwrap();
    assert_eq!(names.into_inner().values, ["app", "env"]);
    let values = grpc
        .label_values(Request::new(labels("app", vec![])))
        .await
        .unwrap();
    assert_eq!(values.into_inner().values, ["db", "web"]);
    let values = grpc
        .label_values(Request::new(labels("app", vec![eq("env", "prod")])))
        .await
        .unwrap();
    assert_eq!(values.into_inner().values, ["web"]);
    let missing = grpc
        .label_values(Request::new(labels("", vec![])))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::InvalidArgument);

    let series = grpc
        .series(Request::new(LogsSeriesRequest {
            tenant: "team-a".into(),
            start_ns: 0,
            end_ns: 1_000 * SEC,
            matcher_sets: vec![
                MatcherSet {
                    matchers: vec![eq("app", "db")],
                },
                MatcherSet {
                    matchers: vec![eq("env", "dev")],
                },
            ],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(series.series, vec![series_labels(&db().labels)]);

    let stats = grpc
        .stats(Request::new(LogsStatsRequest {
            tenant: "team-a".into(),
            start_ns: 0,
            end_ns: 1_000 * SEC,
            matchers: vec![eq("app", "web")],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stats.streams, stats.entries, stats.bytes), (1, 2, 20));
}

#[tokio::test]
async fn bad_requests_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = LogsGrpc(Arc::new(LogsIngester::new(dir.path(), template())));
    let bad_tenant = grpc
        .push(Request::new(push("a/b", &[web()])))
        .await
        .unwrap_err();
    assert_eq!(bad_tenant.code(), tonic::Code::InvalidArgument);
    let mut bad_labels = push("team-a", &[web()]);
    if let Some(p) = bad_labels.push.as_mut() {
        p.streams[0].labels = "{app=".into();
    }
    let err = grpc.push(Request::new(bad_labels)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("streams[0]"), "{}", err.message());
}
