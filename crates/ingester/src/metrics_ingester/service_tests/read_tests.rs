//! The label, series and metadata RPCs.

use sextant_proto::ingester::MatcherSet;

use super::*;

fn labels_request(
    name: &str,
    start_ms: i64,
    end_ms: i64,
    m: Vec<wire::LabelMatcher>,
) -> MetricsLabelsRequest {
    MetricsLabelsRequest {
        tenant: TENANT.to_string(),
        start_ms,
        end_ms,
        matchers: m,
        label_name: name.to_string(),
        limit: 0,
    }
}

#[tokio::test]
async fn label_names_values_and_series_follow_range_and_matchers() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(dir.path()).started().await;
    f.ingester
        .push(push_request(&[up_a(), up_b(), down_a()]))
        .await
        .unwrap();
    let up = || vec![matcher(MatchType::Eq, "__name__", "up")];
    let names = f
        .ingester
        .label_names(labels_request("", 0, i64::MAX, vec![]))
        .await
        .unwrap();
    assert_eq!(names.values, ["__name__", "job"]);
    let values = f
        .ingester
        .label_values(labels_request("job", 1200, 1600, up()))
        .await
        .unwrap();
    assert_eq!(values.values, ["b"]);
    let values = f
        .ingester
        .label_values(labels_request("__name__", 0, i64::MAX, vec![]))
        .await
        .unwrap();
    assert_eq!(values.values, ["down", "up"]);
    let mut limited = labels_request("__name__", 0, i64::MAX, vec![]);
    limited.limit = 1;
    assert_eq!(
        f.ingester.label_values(limited).await.unwrap().values,
        ["down"]
    );
    assert!(f
        .ingester
        .label_values(labels_request("", 0, 1, vec![]))
        .await
        .is_err());

    let series = f
        .ingester
        .series(MetricsSeriesRequest {
            tenant: TENANT.to_string(),
            start_ms: 0,
            end_ms: 1200,
            matcher_sets: vec![
                MatcherSet { matchers: up() },
                MatcherSet {
                    matchers: vec![matcher(MatchType::Eq, "__name__", "down")],
                },
            ],
            limit: 0,
        })
        .await
        .unwrap();
    let got: Vec<Vec<(String, String)>> = series
        .series
        .iter()
        .map(|s| {
            s.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        })
        .collect();
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    assert_eq!(
        got,
        [
            vec![pair("__name__", "down"), pair("job", "a")],
            vec![pair("__name__", "up"), pair("job", "a")],
        ]
    );
}

#[tokio::test]
async fn metadata_from_remote_write_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(dir.path()).started().await;
    let request = wire::WriteRequest {
        timeseries: vec![up_a()],
        metadata: vec![wire::MetricMetadata {
            r#type: 2,
            metric_family_name: "up".into(),
            help: "Whether the target is up.".into(),
            unit: String::new(),
        }],
    };
    f.ingester
        .push(MetricsPushRequest {
            tenant: TENANT.to_string(),
            write_request: request.encode_to_vec(),
        })
        .await
        .unwrap();
    let got = f
        .ingester
        .metadata(MetricsMetadataRequest {
            tenant: TENANT.to_string(),
            metric: String::new(),
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(got.metadata, request.metadata);
    let other = f
        .ingester
        .metadata(MetricsMetadataRequest {
            tenant: "nobody".to_string(),
            metric: String::new(),
            limit: 0,
        })
        .await
        .unwrap();
    assert!(other.metadata.is_empty());
}
