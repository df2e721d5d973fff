//! T5 (tag names, v2 then v1) and T6 (tag values, v2 then v1) as Grafana's TraceQL editor
//! and search builder send them: tags URL-encoded twice, `q` possibly half-typed.

use super::*;

fn strings(value: &Json) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// `(type, value)` pairs of a v2 tag values answer.
fn typed(answer: &Json) -> Vec<(String, String)> {
    answer["tagValues"]
        .as_array()
        .expect("tagValues")
        .iter()
        .map(|v| {
            let text = |k: &str| v[k].as_str().unwrap().to_owned();
            (text("type"), text("value"))
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(t, v)| (t.to_string(), v.to_string()))
        .collect()
}

/// `tag` URL-encoded twice, as Grafana sends it (`encodeURIComponent` twice).
fn twice(tag: &str) -> String {
    let once: String = form_urlencoded::byte_serialize(tag.as_bytes()).collect();
    form_urlencoded::byte_serialize(once.as_bytes()).collect()
}

#[tokio::test]
async fn t5_tag_names_v2_then_v1() {
    let (app, _) = app();
    let answer = get(&app, "/api/v2/search/tags?limit=5000", &[])
        .await
        .json();
    let scopes = answer["scopes"].as_array().expect("scopes");
    let names: Vec<&str> = scopes.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "resource",
            "span",
            "event",
            "link",
            "instrumentation",
            "intrinsic"
        ]
    );
    let want: [&[&str]; 5] = [
        &["deployment.environment", "service.name"],
        &[
            "db.system",
            "http.method",
            "http.status_code",
            "payment.amount",
            "retry",
        ],
        &["db.rows"],
        &[],
        &["library.language"],
    ];
    for (scope, want) in scopes.iter().zip(want) {
        assert_eq!(strings(&scope["tags"]), want, "{}", scope["name"]);
    }
    let intrinsics = strings(&scopes[5]["tags"]);
    assert_eq!(intrinsics.len(), 20);
    for name in [
        "duration",
        "name",
        "status",
        "kind",
        "rootServiceName",
        "span:name",
        "trace:duration",
        "event:name",
        "instrumentation:version",
    ] {
        assert!(intrinsics.contains(&name), "{name}: {intrinsics:?}");
    }

    let cases = [
        ("span", vec!["span"]),
        ("intrinsic", vec!["intrinsic"]),
        (
            "none",
            vec![
                "resource",
                "span",
                "event",
                "link",
                "instrumentation",
                "intrinsic",
            ],
        ),
    ];
    for (scope, want) in cases {
        let answer = get(&app, &format!("/api/v2/search/tags?scope={scope}"), &[])
            .await
            .json();
        let got: Vec<&str> = answer["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{scope}");
    }
    let message = get(&app, "/api/v2/search/tags?scope=bogus", &[])
        .await
        .error(StatusCode::BAD_REQUEST);
    assert_eq!(message, "invalid scope: bogus");

    // Grafana's fallback: the unscoped v1 list, no intrinsics.
    let v1 = get(&app, "/api/search/tags?limit=5000", &[]).await.json();
    assert_eq!(
        strings(&v1["tagNames"]),
        [
            "db.rows",
            "db.system",
            "deployment.environment",
            "http.method",
            "http.status_code",
            "library.language",
            "payment.amount",
            "retry",
            "service.name"
        ]
    );
    // A time range leaving only the health check.
    let s = T0 / SECOND;
    let uri = format!("/api/search/tags?start={}&end={}", s + 15, s + 60);
    let v1 = get(&app, &uri, &[]).await.json();
    assert_eq!(
        strings(&v1["tagNames"]),
        [
            "deployment.environment",
            "http.method",
            "http.status_code",
            "library.language",
            "service.name"
        ]
    );
}

#[tokio::test]
async fn t6_tag_values_v2_typed_and_filtered() {
    let (app, _) = app();
    let services = pairs(&[
        ("string", "checkout"),
        ("string", "db"),
        ("string", "frontend"),
    ]);
    let s = T0 / SECOND;
    // (tag as Grafana puts it in the path, rest of the URL, expected values)
    let cases = [
        (
            twice("resource.service.name"),
            String::new(),
            services.clone(),
        ),
        (
            twice("resource.service.name"),
            "&q=%7B%20span.http.method%20%3D%20%22GET%22%20%7D".to_owned(),
            pairs(&[("string", "frontend")]),
        ),
        (
            // Half-typed in the editor: the filter is ignored, not an error.
            twice("resource.service.name"),
            "&q=%7B%20resource.service.name%20%3D%20%22a%22%20%26%26%20%7D".to_owned(),
            services.clone(),
        ),
        (
            twice("resource.service.name"),
            format!("&start={}&end={}", s + 15, s + 60),
            pairs(&[("string", "frontend")]),
        ),
        (
            twice("span.http.status_code"),
            String::new(),
            pairs(&[("int", "200"), ("string", "200")]),
        ),
        (
            twice(".payment.amount"),
            String::new(),
            pairs(&[("float", "12.5")]),
        ),
        (
            twice("span.retry"),
            String::new(),
            pairs(&[("bool", "true")]),
        ),
        (
            twice("event.db.rows"),
            String::new(),
            pairs(&[("string", "3")]),
        ),
        (
            twice("name"),
            "&q=%7B%7D".to_owned(),
            pairs(&[
                ("string", "GET /checkout"),
                ("string", "GET /health"),
                ("string", "SELECT"),
                ("string", "charge"),
            ]),
        ),
        (
            twice("span:status"),
            String::new(),
            pairs(&[
                ("keyword", "ok"),
                ("keyword", "error"),
                ("keyword", "unset"),
            ]),
        ),
        (twice("kind"), String::new(), {
            let kinds = [
                "client",
                "server",
                "producer",
                "consumer",
                "internal",
                "unspecified",
            ];
            kinds
                .iter()
                .map(|k| ("keyword".to_owned(), k.to_string()))
                .collect()
        }),
        (twice("duration"), String::new(), vec![]),
        (
            twice("rootServiceName"),
            String::new(),
            pairs(&[("string", "frontend")]),
        ),
    ];
    for (tag, rest, want) in cases {
        let uri = format!("/api/v2/search/tag/{tag}/values?limit=5000{rest}");
        let answer = get(&app, &uri, &[]).await.json();
        assert_eq!(typed(&answer), want, "{uri}");
    }
    for tag in ["foo", ".a%20%3D%201"] {
        let uri = format!("/api/v2/search/tag/{tag}/values");
        let message = get(&app, &uri, &[]).await.error(StatusCode::BAD_REQUEST);
        assert!(
            message.starts_with("please provide a valid tagName"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn t6_tag_values_v1() {
    let (app, _) = app();
    let cases = [
        ("service.name", vec!["checkout", "db", "frontend"]),
        ("http.status_code", vec!["200"]),
        ("db.system", vec!["postgres"]),
        ("status.code", vec!["unset", "ok", "error"]),
        ("error", vec!["true"]),
        ("no.such.tag", vec![]),
    ];
    for (tag, want) in cases {
        let uri = format!("/api/search/tag/{}/values", twice(tag));
        let answer = get(&app, &uri, &[]).await.json();
        assert_eq!(strings(&answer["tagValues"]), want, "{tag}");
    }
}
