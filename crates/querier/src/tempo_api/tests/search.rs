//! T3: `/api/search` as Grafana's TraceQL editor and its legacy search tab send it.

use super::*;

/// `q` URL-encoded as Grafana sends it.
fn search_uri(q: &str, rest: &str) -> String {
    let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    format!("/api/search?q={q}{rest}")
}

/// The trace IDs of a search answer, in order.
fn trace_ids(answer: &Json) -> Vec<String> {
    answer["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_owned())
        .collect()
}

/// Tempo's form of the IDs: hex without leading zeros.
const CHECKOUT: &str = "af7651916cd43dd8448eb211c80319c";
const HEALTH: &str = "1";

#[tokio::test]
async fn t3_traceql_search_field_by_field() {
    let (app, _) = app();
    let (start, end) = (T0 / SECOND, T0 / SECOND + 3600);
    let uri = search_uri(
        r#"{ resource.service.name = "checkout" }"#,
        &format!("&limit=20&spss=3&start={start}&end={end}"),
    );
    let answer = get(&app, &uri, &[("Accept", "application/json")])
        .await
        .json();
    assert_eq!(trace_ids(&answer), [CHECKOUT]);
    let trace = &answer["traces"][0];
    assert_eq!(trace["rootServiceName"], "frontend");
    assert_eq!(trace["rootTraceName"], "GET /checkout");
    assert_eq!(trace["startTimeUnixNano"], (T0 + 10 * SECOND).to_string());
    assert_eq!(trace["durationMs"], 300);
    let set = &trace["spanSets"][0];
    assert_eq!(set["matched"], 1);
    let span = &set["spans"][0];
    assert_eq!(span["spanID"], "0000000000000002");
    assert_eq!(span["name"], "charge");
    assert_eq!(
        span["startTimeUnixNano"],
        (T0 + 10 * SECOND + 10 * MS).to_string()
    );
    assert_eq!(span["durationNanos"], (200 * MS).to_string());
    assert_eq!(
        trace["spanSet"], *set,
        "the legacy spanSet is the first set"
    );

    let metrics = &answer["metrics"];
    let bytes = checkout_trace().encoded_len() + health_trace().encoded_len();
    assert_eq!(metrics["inspectedTraces"], 2);
    assert_eq!(metrics["inspectedBytes"], bytes.to_string());
    assert_eq!(metrics["completedJobs"], 1);
    assert_eq!(metrics["totalJobs"], 1);
}

#[tokio::test]
async fn t3_limit_spss_and_time_range() {
    let (app, _) = app();
    let s = T0 / SECOND;
    // (query, rest of the URL, trace IDs, spans shown and matched in the first set)
    let cases = [
        ("{}", String::new(), vec![HEALTH, CHECKOUT], (1, 1)),
        ("{}", "&limit=1".to_owned(), vec![HEALTH], (1, 1)),
        (
            r#"{ .http.method = "GET" }"#,
            format!("&start={s}&end={}", s + 15),
            vec![CHECKOUT],
            (1, 1),
        ),
        (
            "{}",
            format!("&start={}&end={}", s + 100, s + 200),
            vec![],
            (0, 0),
        ),
        (
            "{}",
            format!("&start={}&end={}", s + 15, s + 60),
            vec![HEALTH],
            (1, 1),
        ),
    ];
    for (q, rest, want, (shown, matched)) in cases {
        let answer = get(&app, &search_uri(q, &rest), &[]).await.json();
        assert_eq!(trace_ids(&answer), want, "{q}{rest}");
        if let Some(first) = answer["traces"].get(0) {
            let set = &first["spanSets"][0];
            assert_eq!(set["spans"].as_array().unwrap().len(), shown, "{q}{rest}");
            assert_eq!(set["matched"], matched, "{q}{rest}");
        }
    }
    // The checkout trace's three spans, shown per `spss`.
    for (spss, shown) in [("", 3), ("&spss=1", 1), ("&spss=10", 3)] {
        let uri = search_uri("{ resource.deployment.environment = \"prod\" }", spss);
        let answer = get(&app, &format!("{uri}&start={s}&end={}", s + 15), &[])
            .await
            .json();
        let set = &answer["traces"][0]["spanSets"][0];
        assert_eq!(set["spans"].as_array().unwrap().len(), shown, "{spss}");
        assert_eq!(set["matched"], 3, "{spss}");
    }
}

#[tokio::test]
async fn t3_structural_select_and_aggregates() {
    let (app, _) = app();
    let q = r#"{ resource.service.name = "frontend" } >> { span.db.system = "postgres" }"#;
    let answer = get(&app, &search_uri(q, ""), &[]).await.json();
    assert_eq!(trace_ids(&answer), [CHECKOUT]);
    assert_eq!(
        answer["traces"][0]["spanSets"][0]["spans"][0]["name"],
        "SELECT"
    );

    let q = r#"{ name = "charge" } | select(span.payment.amount)"#;
    let answer = get(&app, &search_uri(q, ""), &[]).await.json();
    let attribute = &answer["traces"][0]["spanSets"][0]["spans"][0]["attributes"][0];
    assert_eq!(attribute["key"], "payment.amount");
    assert_eq!(attribute["value"]["doubleValue"], 12.5);

    // Several spansets: the legacy `spanSet` is the first.
    let q = "{ } | by(resource.service.name)";
    let s = T0 / SECOND;
    let uri = search_uri(q, &format!("&start={s}&end={}", s + 15));
    let answer = get(&app, &uri, &[]).await.json();
    let trace = &answer["traces"][0];
    let sets = trace["spanSets"].as_array().unwrap();
    assert_eq!(sets.len(), 3);
    assert_eq!(sets[1]["attributes"][0]["key"], "by(resource.service.name)");
    assert_eq!(sets[1]["attributes"][0]["value"]["stringValue"], "checkout");
    assert_eq!(trace["spanSet"], sets[0]);

    let q = "{ } | count() > 2";
    let answer = get(&app, &search_uri(q, ""), &[]).await.json();
    assert_eq!(trace_ids(&answer), [CHECKOUT]);
    let aggregate = &answer["traces"][0]["spanSets"][0]["attributes"][0];
    assert_eq!(aggregate["key"], "count()");
    assert_eq!(aggregate["value"]["intValue"], "3");
}

#[tokio::test]
async fn t3_legacy_tags_and_durations() {
    let (app, _) = app();
    // `http.status_code` is an int in one trace and a string in the other: both match.
    let tags = r#"service.name="frontend" http.status_code=200"#;
    let tags: String = form_urlencoded::byte_serialize(tags.as_bytes()).collect();
    let cases = [
        ("", vec![HEALTH, CHECKOUT]),
        ("&minDuration=100ms", vec![CHECKOUT]),
        ("&maxDuration=100ms", vec![HEALTH]),
        ("&minDuration=1ms&maxDuration=1s", vec![HEALTH, CHECKOUT]),
        ("&minDuration=1s", vec![]),
    ];
    for (durations, want) in cases {
        let uri = format!("/api/search?tags={tags}{durations}&limit=20");
        let answer = get(&app, &uri, &[]).await.json();
        assert_eq!(trace_ids(&answer), want, "{durations}");
    }
    let legacy = [
        ("name=charge", vec![CHECKOUT]),
        ("error=true", vec![CHECKOUT]),
        ("status.code=ok", vec![CHECKOUT]),
        ("retry=true", vec![CHECKOUT]),
        ("db.system=mysql", vec![]),
        ("", vec![HEALTH, CHECKOUT]),
    ];
    for (tags, want) in legacy {
        let tags: String = form_urlencoded::byte_serialize(tags.as_bytes()).collect();
        let answer = get(&app, &format!("/api/search?tags={tags}"), &[])
            .await
            .json();
        assert_eq!(trace_ids(&answer), want, "{tags}");
    }
    // Only durations: the legacy form without tags.
    let answer = get(&app, "/api/search?minDuration=100ms", &[]).await.json();
    assert_eq!(trace_ids(&answer), [CHECKOUT]);
}

#[tokio::test]
async fn t3_bad_queries_are_400_with_the_reason() {
    let (app, _) = app();
    let cases = [
        (
            search_uri("{ .a = ", ""),
            "invalid TraceQL query: parse error at line 1",
        ),
        (search_uri("{ } | rate()", ""), "unsupported TraceQL"),
        (
            search_uri("{}", "&tags=a%3D1"),
            "invalid request: can't specify tags and q in the same query",
        ),
        (
            search_uri("{}", "&limit=0"),
            "invalid limit: must be a positive number",
        ),
        (search_uri("{}", "&start=x"), "invalid start"),
        (
            search_uri("{}", "&start=20&end=10"),
            "http parameter start must be before end",
        ),
        ("/api/search?tags=a%3D%22x".to_owned(), "invalid tags"),
    ];
    for (uri, want) in cases {
        let message = get(&app, &uri, &[]).await.error(StatusCode::BAD_REQUEST);
        assert!(message.starts_with(want), "{uri}: {message}");
    }
}
