//! Unit tests of the tail's parts, then websocket sessions against the router served on a
//! loopback port over a [`MemLogsSource`].

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sextant_kit::tenant::TenantResolver;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use super::*;
use crate::loki_api::{loki_api_router, system_now_ns, LokiApiConfig, MemLogsSource};
use crate::source::QuerierError;

const SECOND: i64 = NANOS_PER_SECOND;

fn entry(ts_ns: i64, line: &str) -> Entry {
    Entry {
        ts_ns,
        line: line.to_string(),
        metadata: Labels::default(),
    }
}

fn app(name: &str) -> Labels {
    Labels::from_pairs([("app", name)])
}

#[test]
fn parameters_like_loki() {
    let now = 10_000 * SECOND;
    // (query string, Ok((start, limit, delay)) or Err(message prefix))
    type Case<'a> = (&'a str, Result<(i64, usize, i64), &'a str>);
    let cases: &[Case<'_>] = &[
        ("query={app=\"a\"}", Ok((now - 3600 * SECOND, 100, 0))),
        (
            "query={app=\"a\"}&start=5000&limit=7&delay_for=5",
            Ok((5000 * SECOND, 7, 5 * SECOND)),
        ),
        (
            "query=count_over_time({app=\"a\"}[1m])",
            Ok((now - 3600 * SECOND, 100, 0)),
        ),
        ("query={app=", Err("parse error")),
        (
            "query={app=\"a\"}&delay_for=6",
            Err("delay_for can't be greater than 5"),
        ),
        (
            "query={app=\"a\"}&delay_for=-1",
            Err("delay_for can't be greater than 5"),
        ),
        (
            "query={app=\"a\"}&delay_for=x",
            Err("strconv.ParseInt: parsing \"x\""),
        ),
        (
            "query={app=\"a\"}&limit=0",
            Err("limit must be a positive value"),
        ),
        (
            "query={app=\"a\"}&limit=5001",
            Err("max entries limit per query exceeded"),
        ),
        ("query={app=\"a\"}&start=abc", Err("")),
    ];
    for (query, want) in cases {
        let params = Params::parse(Some(query), None);
        let got = TailRequest::parse(&params, now, 5000);
        match (got, want) {
            (Ok(r), Ok((start, limit, delay))) => {
                assert_eq!(
                    (r.start_ns, r.limit, r.delay_ns),
                    (*start, *limit, *delay),
                    "{query}"
                );
            }
            (Err(e), Err(prefix)) => {
                assert_eq!(e.status, 400, "{query}");
                assert!(e.message.starts_with(prefix), "{query}: {}", e.message);
            }
            (got, want) => panic!("{query}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn cursor_sends_each_entry_once() {
    // (cursor start, already sent, entries of a poll, entries kept)
    type Case<'a> = (
        i64,
        &'a [(i64, &'a str, &'a str)],
        Vec<(&'a str, i64, &'a str)>,
        Vec<(&'a str, i64, &'a str)>,
    );
    let cases: Vec<Case<'_>> = vec![
        // first poll: everything, sorted by time across streams
        (
            0,
            &[],
            vec![("a", 20, "x"), ("b", 10, "y"), ("a", 30, "z")],
            vec![("b", 10, "y"), ("a", 20, "x"), ("a", 30, "z")],
        ),
        // the entry sent at the boundary comes back: skipped; others at that time are new
        (
            30,
            &[(30, "a", "z")],
            vec![("a", 30, "z"), ("b", 30, "z"), ("a", 30, "w")],
            vec![("b", 30, "z"), ("a", 30, "w")],
        ),
        // the whole window comes back with a late entry in it
        (
            30,
            &[(30, "a", "z"), (40, "a", "q")],
            vec![("a", 30, "z"), ("a", 35, "late"), ("a", 40, "q")],
            vec![("a", 35, "late")],
        ),
        // older than the cursor: never sent
        (30, &[], vec![("a", 29, "old")], vec![]),
        // identical entries in one poll are sent once
        (
            0,
            &[],
            vec![("a", 5, "x"), ("a", 5, "x")],
            vec![("a", 5, "x")],
        ),
    ];
    for (from_ns, sent, input, want) in cases {
        let mut cursor = TailCursor::starting_at(from_ns);
        for (ts, a, line) in sent {
            cursor.sent.insert((*ts, app(a), line.to_string()));
        }
        let streams = input
            .iter()
            .map(|(a, ts, line)| Stream {
                labels: app(a),
                entries: vec![entry(*ts, line)],
            })
            .collect();
        let got: Vec<(String, i64, String)> = cursor
            .take_unsent(streams)
            .into_iter()
            .map(|(l, e)| (l.get("app").unwrap().to_string(), e.ts_ns, e.line))
            .collect();
        let want: Vec<(String, i64, String)> = want
            .iter()
            .map(|(a, ts, line)| (a.to_string(), *ts, line.to_string()))
            .collect();
        assert_eq!(got, want, "{input:?}");
        assert_eq!(cursor.sent.len(), sent.len() + want.len(), "{input:?}");
    }
}

#[test]
fn cursor_moves_forward_only_and_forgets_what_it_passed() {
    let mut cursor = TailCursor::starting_at(10);
    for ts in [10, 20] {
        cursor.sent.insert((ts, app("a"), "x".to_string()));
    }
    cursor.move_to(15);
    assert_eq!(cursor.from_ns, 15);
    assert_eq!(cursor.sent.len(), 1);
    cursor.move_to(5);
    assert_eq!((cursor.from_ns, cursor.sent.len()), (15, 1));
    cursor.move_to(21);
    assert!(cursor.sent.is_empty());
}

#[test]
fn frames_group_entries_by_stream() {
    let entries = vec![
        (app("b"), entry(1, "one")),
        (app("a"), entry(2, "two")),
        (app("b"), entry(3, "say \"hi\"")),
    ];
    assert_eq!(
        render_frame(&entries),
        r#"{"streams":[{"stream":{"app":"b"},"values":[["1","one"],["3","say \"hi\""]]},{"stream":{"app":"a"},"values":[["2","two"]]}]}"#
    );
}

#[test]
fn close_reasons_fit_a_close_frame() {
    let cases = [
        ("short".to_string(), "short".to_string()),
        ("x".repeat(200), "x".repeat(123)),
        // a two-byte character straddling the cut is left out whole
        (format!("{}é", "x".repeat(122)), "x".repeat(122)),
    ];
    for (reason, want) in cases {
        assert_eq!(truncate_reason(&reason), want);
    }
}

#[test]
fn active_tails_count_per_tenant_and_release_on_drop() {
    let tails = LokiActiveTails::default();
    let t = TenantId::parse("t").unwrap();
    let u = TenantId::parse("u").unwrap();
    let first = tails.acquire(&t, 2).unwrap();
    let second = tails.acquire(&t, 2).unwrap();
    assert_eq!(
        tails.acquire(&t, 2).err().unwrap(),
        "max concurrent tail requests limit exceeded, count > limit (3 > 2)"
    );
    let other = tails.acquire(&u, 2).unwrap();
    assert_eq!((tails.count(&t), tails.count(&u)), (2, 1));
    drop(first);
    assert_eq!(tails.count(&t), 1);
    assert!(tails.acquire(&t, 0).is_ok(), "0 is no limit");
    drop((second, other));
    assert_eq!((tails.count(&t), tails.count(&u)), (0, 0));
}

// ---- websocket sessions ----

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Server {
    addr: SocketAddr,
    source: Arc<MemLogsSource>,
    state: LokiApiState,
}

async fn serve(config: LokiApiConfig) -> Server {
    let source = Arc::new(MemLogsSource::new());
    let state = LokiApiState::new(source.clone(), TenantResolver::new(false), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = loki_api_router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        addr,
        source,
        state,
    }
}

fn fast_config() -> LokiApiConfig {
    LokiApiConfig {
        tail_poll_interval: Duration::from_millis(20),
        ..LokiApiConfig::default()
    }
}

impl Server {
    fn push(&self, labels: &Labels, ts_ns: i64, line: &str) {
        let tenant = TenantId::default_tenant();
        self.source
            .push(tenant.as_str(), labels, entry(ts_ns, line));
    }

    fn url(&self, params: &str) -> String {
        format!("ws://{}/loki/api/v1/tail?{params}", self.addr)
    }

    async fn connect(&self, params: &str) -> Client {
        let (client, _) = tokio_tungstenite::connect_async(self.url(params))
            .await
            .unwrap();
        client
    }

    /// Waits until `n` tails of the default tenant run.
    async fn wait_for_tails(&self, n: usize) {
        let tenant = TenantId::default_tenant();
        for _ in 0..500 {
            if self.state.active_tails.count(&tenant) == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{} tails running, want {n}",
            self.state.active_tails.count(&tenant)
        );
    }
}

fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[derive(Debug, PartialEq)]
enum Frame {
    /// (app, ts, line) of each entry, in the frame's order.
    Entries(Vec<(String, i64, String)>),
    Closed(u16, String),
}

/// The next text or close frame (pings skipped), or `None` after `wait`.
async fn next_frame(client: &mut Client, wait: Duration) -> Option<Frame> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, client.next())
            .await
            .ok()?;
        match message
            .expect("connection ended without a close frame")
            .unwrap()
        {
            WsMessage::Text(text) => return Some(Frame::Entries(parse_frame(&text))),
            WsMessage::Close(frame) => {
                let frame = frame.expect("a close frame with a reason");
                return Some(Frame::Closed(frame.code.into(), frame.reason.to_string()));
            }
            _ => continue,
        }
    }
}

fn parse_frame(text: &str) -> Vec<(String, i64, String)> {
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    assert!(json.get("dropped_entries").is_none(), "{text}");
    let mut out = Vec::new();
    for stream in json["streams"].as_array().unwrap() {
        let app = stream["stream"]["app"].as_str().unwrap().to_string();
        for value in stream["values"].as_array().unwrap() {
            let ts = value[0].as_str().unwrap().parse().unwrap();
            out.push((app.clone(), ts, value[1].as_str().unwrap().to_string()));
        }
    }
    assert!(out.len() <= MAX_ENTRIES_PER_FRAME, "{} entries", out.len());
    out
}

/// Waits for a ping, failing on any other frame.
async fn wait_for_ping(client: &mut Client) {
    let message = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
    let message = message.expect("no ping").unwrap().unwrap();
    assert!(matches!(message, WsMessage::Ping(_)), "{message:?}");
}

/// Entries from frames until `n` arrived, sorted by time.
async fn collect(client: &mut Client, n: usize) -> Vec<(String, i64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        match next_frame(client, Duration::from_secs(5)).await {
            Some(Frame::Entries(entries)) => got.extend(entries),
            other => panic!("waiting for {n} entries, have {got:?}, got {other:?}"),
        }
    }
    got.sort_by_key(|(_, ts, _)| *ts);
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_then_new_entries_once_each_through_the_pipeline() {
    let server = serve(fast_config()).await;
    let now = system_now_ns();
    let (a, b) = (app("a"), app("b"));
    server.push(&a, now - 40 * SECOND, "zero");
    server.push(&a, now - 30 * SECOND, "one");
    server.push(&b, now - 25 * SECOND, "drop me");
    server.push(&b, now - 2 * SECOND, "two");
    server.push(&app("c"), now - SECOND, "not selected");
    let query = enc(r#"{app=~"a|b"} != "drop""#);
    let mut client = server.connect(&format!("query={query}&limit=2")).await;

    // the newest two matching entries, oldest first
    let backfill = collect(&mut client, 2).await;
    let want = vec![
        ("a".to_string(), now - 30 * SECOND, "one".to_string()),
        ("b".to_string(), now - 2 * SECOND, "two".to_string()),
    ];
    assert_eq!(backfill, want);

    // late entries: one at the time of the last entry sent (inside the late window), one
    // far too late; then one filtered out and a new one
    server.push(&a, now - 2 * SECOND, "same time");
    server.push(&a, now - 30 * SECOND, "far too late");
    server.push(&a, now - SECOND, "drop me too");
    server.push(&b, system_now_ns(), "three");
    let live = collect(&mut client, 2).await;
    assert_eq!(
        live[0],
        ("a".to_string(), now - 2 * SECOND, "same time".to_string())
    );
    assert_eq!((live[1].0.as_str(), live[1].2.as_str()), ("b", "three"));

    // many polls of the same window later nothing was sent twice
    let quiet = next_frame(&mut client, Duration::from_millis(300)).await;
    assert_eq!(quiet, None);
    client.close(None).await.unwrap();
    server.wait_for_tails(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_a_poll_arrives_whole_and_once() {
    let server = serve(fast_config()).await;
    let mut client = server
        .connect(&format!("query={}", enc(r#"{app="a"}"#)))
        .await;
    // a ping follows the first empty poll: the (empty) backfill is over
    wait_for_ping(&mut client).await;
    // three entries per timestamp, so that polls cut inside a timestamp
    let n = 2 * POLL_MAX_ENTRIES + 500;
    let base = system_now_ns() - 5 * SECOND;
    for i in 0..n {
        server.push(&app("a"), base + (i / 3) as i64, &format!("line {i}"));
    }
    let got = collect(&mut client, n).await;
    let lines: HashSet<&str> = got.iter().map(|(_, _, line)| line.as_str()).collect();
    assert_eq!((got.len(), lines.len()), (n, n));
    let quiet = next_frame(&mut client, Duration::from_millis(200)).await;
    assert_eq!(quiet, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatty_client_does_not_hold_back_polls() {
    let config = LokiApiConfig {
        tail_poll_interval: Duration::from_millis(200),
        ..LokiApiConfig::default()
    };
    let server = serve(config).await;
    let query = format!("query={}", enc(r#"{app="a"}"#));
    let mut client = server.connect(&query).await;
    wait_for_ping(&mut client).await;
    server.push(&app("a"), system_now_ns(), "hello");
    // the client talks every 5 ms or so, far more often than the 200 ms poll interval
    for _ in 0..400 {
        client.send(WsMessage::Text("hi".into())).await.unwrap();
        if let Some(Frame::Entries(got)) = next_frame(&mut client, Duration::from_millis(5)).await {
            assert_eq!(got[0].2, "hello");
            return;
        }
    }
    panic!("no entry while the client kept talking");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_for_holds_back_recent_entries() {
    let server = serve(fast_config()).await;
    let now = system_now_ns();
    server.push(&app("a"), now - 10 * SECOND, "old enough");
    server.push(&app("a"), now, "too recent");
    let query = enc(r#"{app="a"}"#);
    let mut client = server.connect(&format!("query={query}&delay_for=1")).await;
    let got = collect(&mut client, 2).await;
    let lines: Vec<&str> = got.iter().map(|(_, _, line)| line.as_str()).collect();
    assert_eq!(lines, vec!["old enough", "too recent"]);
    // the recent entry was held back until a second after its time
    assert!(system_now_ns() >= now + SECOND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_a_400_before_the_upgrade() {
    let server = serve(fast_config()).await;
    let cases = [
        (enc("{app="), "parse error"),
        (
            format!("{}&delay_for=6", enc(r#"{app="a"}"#)),
            "delay_for can't be greater than 5",
        ),
    ];
    for (query, want) in cases {
        let url = server.url(&format!("query={query}"));
        let error = tokio_tungstenite::connect_async(url).await.unwrap_err();
        let tungstenite::Error::Http(response) = error else {
            panic!("{query}: {error:?}");
        };
        assert_eq!(response.status(), 400, "{query}");
        let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
        assert!(body.contains(want), "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_close_the_tail_with_the_reason() {
    let config = LokiApiConfig {
        tail_max_duration: Duration::from_millis(300),
        ..fast_config()
    };
    let server = serve(config).await;
    let selector = enc(r#"{app="a"}"#);
    let metric = enc(r#"count_over_time({app="a"}[1m])"#);

    let mut client = server.connect(&format!("query={metric}")).await;
    let want = Frame::Closed(1011, "only log selector is supported".to_string());
    assert_eq!(
        next_frame(&mut client, Duration::from_secs(5)).await,
        Some(want)
    );

    let mut client = server.connect(&format!("query={selector}")).await;
    let want = Frame::Closed(1011, "reached tail max duration limit".to_string());
    assert_eq!(
        next_frame(&mut client, Duration::from_secs(5)).await,
        Some(want)
    );

    let mut client = server.connect(&format!("query={selector}")).await;
    server
        .source
        .set_failure(Some(QuerierError::Ingesters("ingesters down".into())));
    let Some(Frame::Closed(code, reason)) = next_frame(&mut client, Duration::from_secs(5)).await
    else {
        panic!("no close frame");
    };
    assert_eq!(code, 1011);
    assert!(reason.contains("ingesters down"), "{reason}");
    server.wait_for_tails(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tails_per_tenant_are_limited_until_one_leaves() {
    let config = LokiApiConfig {
        max_concurrent_tail_requests: 1,
        ..fast_config()
    };
    let server = serve(config).await;
    let query = format!("query={}", enc(r#"{app="a"}"#));
    let mut first = server.connect(&query).await;
    server.wait_for_tails(1).await;

    let mut second = server.connect(&query).await;
    let want = Frame::Closed(
        1011,
        "max concurrent tail requests limit exceeded, count > limit (2 > 1)".to_string(),
    );
    assert_eq!(
        next_frame(&mut second, Duration::from_secs(5)).await,
        Some(want)
    );

    first.close(None).await.unwrap();
    server.wait_for_tails(0).await;
    let mut third = server.connect(&query).await;
    server.wait_for_tails(1).await;
    assert_eq!(
        next_frame(&mut third, Duration::from_millis(100)).await,
        None
    );
}
