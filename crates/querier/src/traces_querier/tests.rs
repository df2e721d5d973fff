//! The traces querier over in-memory ingesters: fragments and replicas of a trace come back
//! whole with each span once, search results once per trace, tags as unions.

use super::fakes::{
    fragment, querier_over, span_ids, strings, tenant, trace_id, FakeTracesIngester,
    FakeTracesIngesters, MS, T0,
};
use super::TracesQuerier;
use crate::source::QuerierError;
use crate::traces_source::{TracesSearchParams, TracesSource, TracesTagScope};

/// Trace 1 (root `GET /` of api at 0 ms, `db` of db at 10 ms, `cache` of api at 50 ms) is
/// spread over the three ingesters; trace 2 (web at 1 s) is on all three, trace 3 (api at
/// 500 ms, 300 ms long) on b and c.
fn ingesters(failing: &[&str]) -> FakeTracesIngesters {
    let root = (1, "GET /", 0, 100, 0);
    let db = (2, "db", 10, 20, 1);
    let cache = (3, "cache", 50, 10, 1);
    let web = fragment(2, "web", &[(1, "GET /home", 1000, 5, 0)]);
    let buy = fragment(3, "api", &[(1, "POST /buy", 500, 300, 0)]);
    let held = [
        ("a", vec![fragment(1, "api", &[root, cache]), web.clone()]),
        (
            "b",
            vec![
                fragment(1, "api", &[root]),
                fragment(1, "db", &[db]),
                web.clone(),
                buy.clone(),
            ],
        ),
        ("c", vec![fragment(1, "db", &[db]), web, buy]),
    ];
    FakeTracesIngesters {
        by_addr: held
            .into_iter()
            .map(|(id, traces)| {
                let fail = failing.contains(&id);
                (format!("{id}:9095"), FakeTracesIngester { traces, fail })
            })
            .collect(),
        ..FakeTracesIngesters::default()
    }
}

fn querier(failing: &[&str]) -> TracesQuerier {
    querier_over(ingesters(failing), None)
}

#[tokio::test]
async fn trace_by_id_merges_fragments_and_replicas() {
    // (trace, failing ingesters, span IDs expected; None: not found)
    type Case = (u8, Vec<&'static str>, Option<Vec<u8>>);
    let cases: Vec<Case> = vec![
        (1, vec![], Some(vec![1, 2, 3])),
        (1, vec!["c"], Some(vec![1, 2, 3])),
        (1, vec!["b"], Some(vec![1, 2, 3])),
        (2, vec![], Some(vec![1])),
        (3, vec!["b"], Some(vec![1])),
        (9, vec![], None),
    ];
    for (trace, failing, want) in cases {
        let q = querier(&failing);
        let got = q
            .trace_by_id(&tenant(), trace_id(trace), 0, 0)
            .await
            .unwrap();
        assert_eq!(
            got.as_ref().map(span_ids),
            want,
            "trace {trace}, failing {failing:?}"
        );
        if let Some(t) = got {
            assert_eq!(t.id, trace_id(trace));
        }
    }
}

#[tokio::test]
async fn more_failures_than_the_replication_allows_is_an_error() {
    let q = querier(&["a", "b"]);
    let err = q
        .trace_by_id(&tenant(), trace_id(1), 0, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, QuerierError::Ingesters(_)), "{err}");
    let err = q.search(&tenant(), params("{}", 0, 3)).await.unwrap_err();
    assert!(matches!(err, QuerierError::Ingesters(_)), "{err}");
}

fn params(query: &str, limit: u32, spss: u32) -> TracesSearchParams {
    TracesSearchParams {
        query: query.to_owned(),
        limit,
        spans_per_span_set: spss,
        ..TracesSearchParams::default()
    }
}

#[tokio::test]
async fn search_combines_each_trace_once_newest_first() {
    /// (trace ID text, root service, start ms after T0, duration ms, span IDs, matched)
    type Want = (&'static str, &'static str, u64, u64, Vec<&'static str>, u32);
    struct Case {
        params: TracesSearchParams,
        want: Vec<Want>,
    }
    let span = |n: u8| -> &'static str {
        match n {
            1 => "0000000000000001",
            2 => "0000000000000002",
            _ => "0000000000000003",
        }
    };
    let cases = vec![
        Case {
            params: params("{}", 0, 0),
            want: vec![
                ("2", "web", 1000, 5, vec![span(1)], 1),
                ("3", "api", 500, 300, vec![span(1)], 1),
                ("1", "api", 0, 100, vec![span(1), span(3), span(2)], 3),
            ],
        },
        Case {
            params: params("{}", 2, 3),
            want: vec![
                ("2", "web", 1000, 5, vec![span(1)], 1),
                ("3", "api", 500, 300, vec![span(1)], 1),
            ],
        },
        Case {
            params: params(
                r#"{ resource.service.name = "api" && duration < 200ms }"#,
                0,
                3,
            ),
            want: vec![("1", "api", 0, 100, vec![span(1), span(3)], 2)],
        },
        Case {
            // the root comes from b; c holds only the db span
            params: params(r#"{ name = "db" }"#, 0, 3),
            want: vec![("1", "api", 0, 100, vec![span(2)], 1)],
        },
        Case {
            params: TracesSearchParams {
                min_duration_ns: 200 * MS,
                ..params("{}", 0, 3)
            },
            want: vec![("3", "api", 500, 300, vec![span(1)], 1)],
        },
    ];
    for case in cases {
        let name = format!("{:?}", case.params);
        let q = querier(&[]);
        let outcome = q.search(&tenant(), case.params).await.unwrap();
        let got: Vec<_> = outcome
            .traces
            .iter()
            .map(|m| {
                let mut spans: Vec<&str> = m.span_sets[0]
                    .spans
                    .iter()
                    .map(|s| s.span_id.as_str())
                    .collect();
                spans.sort_unstable();
                (
                    m.trace_id.as_str(),
                    m.root_service_name.as_str(),
                    (m.start_time_unix_nano - T0) / MS,
                    m.duration_ms,
                    spans,
                    m.span_sets[0].matched,
                )
            })
            .collect();
        let want: Vec<_> = case
            .want
            .into_iter()
            .map(|(id, root, start, duration, mut spans, matched)| {
                spans.sort_unstable();
                (id, root, start, duration, spans, matched)
            })
            .collect();
        assert_eq!(got, want, "{name}");
        assert_eq!(outcome.completed_jobs, 3, "{name}");
    }
}

#[tokio::test]
async fn search_refuses_bad_queries() {
    let q = querier(&[]);
    for query in ["{ .a = }", "{ } | rate()", "nonsense"] {
        let err = q.search(&tenant(), params(query, 0, 3)).await.unwrap_err();
        assert!(matches!(err, QuerierError::BadRequest(_)), "{query}: {err}");
    }
}

#[tokio::test]
async fn tag_names_are_unions_per_scope() {
    let q = querier(&["c"]);
    let scope = |name: &str, tags: &[&str]| TracesTagScope {
        name: name.to_owned(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    };
    let cases = vec![
        (
            "",
            0,
            vec![
                scope("resource", &["service.name"]),
                scope("span", &["http.route"]),
            ],
        ),
        ("span", 0, vec![scope("span", &["http.route"])]),
        ("", 1, vec![scope("resource", &["service.name"])]),
        ("intrinsic", 0, vec![]),
    ];
    for (s, limit, want) in cases {
        let got = q.tag_names(&tenant(), s, 0, 0, limit).await.unwrap();
        assert_eq!(got, want, "scope {s:?}, limit {limit}");
    }
    let err = q.tag_names(&tenant(), "nope", 0, 0, 0).await.unwrap_err();
    assert!(matches!(err, QuerierError::BadRequest(_)), "{err}");
}

#[tokio::test]
async fn tag_values_are_sorted_unions() {
    let q = querier(&[]);
    let cases = vec![
        (
            "resource.service.name",
            "",
            0,
            strings(&["api", "db", "web"]),
        ),
        ("resource.service.name", "{}", 2, strings(&["api", "db"])),
        (
            "resource.service.name",
            r#"{ name = "db" }"#,
            0,
            strings(&["db"]),
        ),
        (
            "span.http.route",
            r#"{ resource.service.name = "api" }"#,
            0,
            strings(&["GET /", "POST /buy", "cache"]),
        ),
    ];
    for (tag, query, limit, want) in cases {
        let got = q
            .tag_values(&tenant(), tag, query, 0, 0, limit)
            .await
            .unwrap();
        assert_eq!(got, want, "{tag} {query}");
    }
    let err = q
        .tag_values(&tenant(), "span.", "", 0, 0, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, QuerierError::BadRequest(_)), "{err}");
}
