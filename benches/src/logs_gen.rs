//! Realistic, deterministic log workloads for `sextant-logs-bench`: nginx access lines
//! (ingress-nginx's format and plain `combined`), JSON application logs (zap-style: level,
//! msg, trace_id, span_id, user, latency, ...) and Kubernetes events (logfmt, as Alloy's
//! `loki.source.kubernetes_events` writes them), on a cluster of a few hundred streams labelled
//! `namespace`, `app`, `pod`, `container`, `job` (plus `level` for application logs).
//!
//! The same seed gives the same lines. Timestamps increase by a fixed step over the whole
//! output, so every stream's entries are in order. Some lines carry a random `trace_id=<hex>`
//! (in nginx query strings and application messages), so a needle search (`|= "trace_id=.."`)
//! has many near misses; [`LogsGenerator::needle_line`] writes a line for a given trace id.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_logs::model::LogBatch;
use sextant_model::Labels;

/// Which kind of lines a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogsWorkload {
    /// nginx access lines: ingress-nginx's upstream format and `combined`.
    Nginx,
    /// JSON application logs.
    JsonApp,
    /// Kubernetes events in logfmt.
    K8sEvents,
}

impl LogsWorkload {
    pub const ALL: [LogsWorkload; 3] = [
        LogsWorkload::Nginx,
        LogsWorkload::JsonApp,
        LogsWorkload::K8sEvents,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LogsWorkload::Nginx => "nginx",
            LogsWorkload::JsonApp => "json_app",
            LogsWorkload::K8sEvents => "k8s_events",
        }
    }
}

/// Which streams a generator writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsMix {
    /// Only the streams of one workload.
    Only(LogsWorkload),
    /// Every stream; lines split about 40 % nginx, 52 % application, 8 % events.
    Mixed,
}

const NAMESPACES: [&str; 10] = [
    "checkout",
    "payments",
    "catalog",
    "search",
    "auth",
    "notifications",
    "orders",
    "shipping",
    "recommendations",
    "accounts",
];
const APPS_PER_NAMESPACE: usize = 2;
const APP_SUFFIXES: [&str; 2] = ["api", "worker"];
const PODS_PER_APP: usize = 3;
const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];
const LEVEL_WEIGHTS: [u32; 4] = [10, 70, 14, 6];
const INGRESS_PODS: usize = 6;
const EVENT_TYPES: [&str; 2] = ["Normal", "Warning"];

#[derive(Debug, Clone)]
struct GenStream {
    labels: Labels,
    workload: LogsWorkload,
    /// For application and nginx lines: the service the lines talk about.
    service: String,
    /// For events: the namespace and one of its pods' names.
    namespace: String,
    pod: String,
    /// For nginx: whether the line is in ingress-nginx's format (else `combined`).
    ingress: bool,
    /// For application streams: the level every line has.
    level: &'static str,
}

/// Generates batches of log lines over a Kubernetes-like cluster (see the module docs).
#[derive(Debug)]
pub struct LogsGenerator {
    rng: StdRng,
    streams: Vec<GenStream>,
    /// Cumulative selection weights over `streams`.
    weights: Vec<u32>,
    ts_ns: i64,
    step_ns: i64,
}

impl LogsGenerator {
    /// Lines start at `start_ns` and are `step_ns` apart.
    pub fn new(mix: LogsMix, seed: u64, start_ns: i64, step_ns: i64) -> LogsGenerator {
        let mut rng = StdRng::seed_from_u64(seed);
        let streams: Vec<GenStream> = cluster_streams(&mut rng)
            .into_iter()
            .filter(|s| mix == LogsMix::Mixed || mix == LogsMix::Only(s.workload))
            .collect();
        let mut total = 0;
        let weights = streams
            .iter()
            .map(|s| {
                total += stream_weight(s);
                total
            })
            .collect();
        LogsGenerator {
            rng,
            streams,
            weights,
            ts_ns: start_ns,
            step_ns: step_ns.max(1),
        }
    }

    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// The time the next line gets.
    pub fn next_ts_ns(&self) -> i64 {
        self.ts_ns
    }

    /// Lines until their bytes reach `raw_bytes` (at least one), grouped by stream in order
    /// of first appearance, as a client batches them.
    pub fn batch(&mut self, raw_bytes: usize) -> LogBatch {
        let mut by_stream: Vec<Option<usize>> = vec![None; self.streams.len()];
        let mut batch = LogBatch::default();
        let mut bytes = 0;
        while bytes < raw_bytes.max(1) {
            let s = self.pick_stream();
            let line = self.line(s, None);
            bytes += line.len();
            let slot = *by_stream[s].get_or_insert_with(|| {
                batch.streams.push(Stream {
                    labels: self.streams[s].labels.clone(),
                    entries: Vec::new(),
                });
                batch.streams.len() - 1
            });
            batch.streams[slot].entries.push(Entry {
                ts_ns: self.ts_ns,
                line,
                metadata: Labels::default(),
            });
            self.ts_ns += self.step_ns;
        }
        batch
    }

    /// A line for the stream with these labels that carries `trace_id=<trace_id>` (nginx: in
    /// the query string, application logs: in the message); `None` for event streams (they
    /// never carry trace ids) and labels this generator does not write.
    pub fn needle_line(&mut self, labels: &Labels, trace_id: &str) -> Option<String> {
        let s = self.streams.iter().position(|s| &s.labels == labels)?;
        (self.streams[s].workload != LogsWorkload::K8sEvents).then(|| self.line(s, Some(trace_id)))
    }

    fn pick_stream(&mut self) -> usize {
        let total = self.weights.last().copied().unwrap_or(1);
        let r = self.rng.random_range(0..total);
        self.weights.partition_point(|&w| w <= r)
    }

    fn line(&mut self, s: usize, trace: Option<&str>) -> String {
        let stream = &self.streams[s];
        let mut out = String::with_capacity(400);
        let ts = self.ts_ns;
        match stream.workload {
            LogsWorkload::Nginx => nginx_line(&mut self.rng, stream, ts, trace, &mut out),
            LogsWorkload::JsonApp => json_line(&mut self.rng, stream, ts, trace, &mut out),
            LogsWorkload::K8sEvents => event_line(&mut self.rng, stream, &mut out),
        }
        out
    }
}

/// How often a stream is picked: nginx and application streams are busy, events rare.
fn stream_weight(s: &GenStream) -> u32 {
    match s.workload {
        LogsWorkload::Nginx if s.ingress => 100,
        LogsWorkload::Nginx => 30,
        LogsWorkload::JsonApp => {
            LEVEL_WEIGHTS[LEVELS.iter().position(|l| *l == s.level).unwrap_or(1)]
        }
        LogsWorkload::K8sEvents => 25,
    }
}

/// `name-<10 hex>-<5 alnum>`, like a Deployment's pods.
fn pod_name(rng: &mut StdRng, app: &str) -> String {
    const ALNUM: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let hash: u64 = rng.random_range(0..1 << 40);
    let suffix: String = (0..5)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect();
    format!("{app}-{hash:010x}-{suffix}")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// The cluster: ingress-nginx pods, an nginx sidecar per application pod, application pods
/// with one stream per level, and an event stream per namespace and event type.
fn cluster_streams(rng: &mut StdRng) -> Vec<GenStream> {
    let mut out = Vec::new();
    let base = GenStream {
        labels: Labels::default(),
        workload: LogsWorkload::Nginx,
        service: String::new(),
        namespace: String::new(),
        pod: String::new(),
        ingress: false,
        level: "info",
    };
    for _ in 0..INGRESS_PODS {
        let pod = pod_name(rng, "ingress-nginx-controller");
        out.push(GenStream {
            labels: labels(&[
                ("namespace", "ingress-nginx"),
                ("app", "ingress-nginx"),
                ("pod", &pod),
                ("container", "controller"),
                ("job", "ingress-nginx/ingress-nginx"),
            ]),
            ingress: true,
            namespace: "ingress-nginx".into(),
            pod,
            ..base.clone()
        });
    }
    for ns in NAMESPACES {
        for suffix in APP_SUFFIXES.iter().take(APPS_PER_NAMESPACE) {
            let app = format!("{ns}-{suffix}");
            let job = format!("{ns}/{app}");
            for _ in 0..PODS_PER_APP {
                let pod = pod_name(rng, &app);
                let common = [
                    ("namespace", ns),
                    ("app", &app),
                    ("pod", &pod),
                    ("job", &job),
                ];
                let with = |extra: &[(&str, &str)]| {
                    labels(&common.iter().chain(extra).copied().collect::<Vec<_>>())
                };
                if *suffix == "api" {
                    out.push(GenStream {
                        labels: with(&[("container", "nginx")]),
                        service: app.clone(),
                        namespace: ns.into(),
                        pod: pod.clone(),
                        ..base.clone()
                    });
                }
                for level in LEVELS {
                    out.push(GenStream {
                        labels: with(&[("container", suffix), ("level", level)]),
                        workload: LogsWorkload::JsonApp,
                        service: app.clone(),
                        namespace: ns.into(),
                        pod: pod.clone(),
                        level,
                        ..base.clone()
                    });
                }
            }
        }
        for kind in EVENT_TYPES {
            let pod = pod_name(rng, &format!("{ns}-api"));
            out.push(GenStream {
                labels: labels(&[
                    ("namespace", ns),
                    ("app", "kubernetes-events"),
                    ("job", "integrations/kubernetes/eventhandler"),
                    ("type", kind),
                ]),
                workload: LogsWorkload::K8sEvents,
                namespace: ns.into(),
                pod,
                level: if kind == "Normal" { "info" } else { "warn" },
                ..base.clone()
            });
        }
    }
    out
}

const PATHS: [&str; 10] = [
    "/api/v1/orders",
    "/api/v1/orders/{id}",
    "/api/v1/users/{id}",
    "/api/v1/cart",
    "/api/v1/products/{id}",
    "/api/v1/search",
    "/static/js/app.{id}.js",
    "/healthz",
    "/metrics",
    "/login",
];
const METHODS: [&str; 6] = ["GET", "GET", "GET", "GET", "POST", "PUT"];
const STATUSES: [u16; 12] = [200, 200, 200, 200, 200, 200, 200, 201, 204, 304, 404, 500];
const AGENTS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "okhttp/4.12.0",
    "kube-probe/1.31",
];

fn hex(rng: &mut StdRng, digits: usize, out: &mut String) {
    let mut left = digits;
    while left > 0 {
        let n = left.min(16);
        let v: u64 = rng.random();
        let _ = write!(out, "{:016x}", v);
        out.truncate(out.len() - (16 - n));
        left -= n;
    }
}

fn path(rng: &mut StdRng, trace: Option<&str>, out: &mut String) {
    let template = PATHS[rng.random_range(0..PATHS.len())];
    match template.split_once("{id}") {
        Some((a, b)) => {
            let _ = write!(out, "{a}{}{b}", rng.random_range(1..2_000_000u32));
        }
        None => out.push_str(template),
    }
    match trace {
        Some(t) => {
            let _ = write!(out, "?trace_id={t}");
        }
        None if rng.random_range(0..20) == 0 => {
            out.push_str("?trace_id=");
            hex(rng, 32, out);
        }
        None if rng.random_range(0..4) == 0 => {
            let _ = write!(out, "?page={}&limit=50", rng.random_range(1..40));
        }
        None => {}
    }
}

fn nginx_line(rng: &mut StdRng, s: &GenStream, ts_ns: i64, trace: Option<&str>, out: &mut String) {
    let _ = write!(
        out,
        "10.{}.{}.{} - - [",
        rng.random_range(0..64),
        rng.random_range(0..256),
        rng.random_range(1..255)
    );
    nginx_time(ts_ns, out);
    let method = METHODS[rng.random_range(0..METHODS.len())];
    let _ = write!(out, "] \"{method} ");
    path(rng, trace, out);
    let status = STATUSES[rng.random_range(0..STATUSES.len())];
    let body = if status == 304 || status == 204 {
        0
    } else {
        rng.random_range(120..48_000)
    };
    let agent = AGENTS[rng.random_range(0..AGENTS.len())];
    let _ = write!(out, " HTTP/1.1\" {status} {body} \"-\" \"{agent}\"");
    if s.ingress {
        let ns = NAMESPACES[rng.random_range(0..NAMESPACES.len())];
        let (req_time, up_time) = latency_pair(rng);
        let _ = write!(
            out,
            " {} {req_time:.3} [{ns}-{ns}-api-80] [] 10.244.{}.{}:8080 {body} {up_time:.3} {status} ",
            rng.random_range(200..1400),
            rng.random_range(0..16),
            rng.random_range(2..250),
        );
        hex(rng, 32, out);
    }
}

/// Request and upstream times in seconds, log-normal around 20 ms.
fn latency_pair(rng: &mut StdRng) -> (f64, f64) {
    let up = 0.004 * (rng.random_range(0.0..3.5f64)).exp();
    (up + rng.random_range(0.0..0.002), up)
}

const MESSAGES: [(&str, &str); 8] = [
    ("http", "request completed"),
    ("http", "request completed"),
    ("http", "request completed"),
    ("db", "query executed"),
    ("cache", "cache miss"),
    ("kafka", "message consumed"),
    ("grpc", "finished unary call"),
    ("auth", "token validated"),
];
const ERRORS: [&str; 5] = [
    "context deadline exceeded",
    "connection reset by peer",
    "rpc error: code = Unavailable desc = upstream connect error",
    "pq: duplicate key value violates unique constraint \"orders_pkey\"",
    "invalid argument: quantity must be positive",
];

fn json_line(rng: &mut StdRng, s: &GenStream, ts_ns: i64, trace: Option<&str>, out: &mut String) {
    out.push_str("{\"ts\":\"");
    rfc3339_micros(ts_ns, out);
    let (logger, msg) = MESSAGES[rng.random_range(0..MESSAGES.len())];
    let line_no = rng.random_range(40..900);
    let _ = write!(
        out,
        "\",\"level\":\"{}\",\"logger\":\"{logger}\",\"caller\":\"{logger}/handler.go:{line_no}\",\"msg\":\"",
        s.level
    );
    let calls_upstream = trace.is_some() || rng.random_range(0..10) == 0;
    if calls_upstream {
        out.push_str("calling upstream ");
        out.push_str(&s.service);
        out.push_str(" trace_id=");
        match trace {
            Some(t) => out.push_str(t),
            None => hex(rng, 32, out),
        }
    } else {
        out.push_str(msg);
    }
    out.push_str("\",\"trace_id\":\"");
    hex(rng, 32, out);
    out.push_str("\",\"span_id\":\"");
    hex(rng, 16, out);
    let method = METHODS[rng.random_range(0..METHODS.len())];
    let _ = write!(
        out,
        "\",\"user\":\"user_{}\",\"method\":\"{method}\",\"path\":\"",
        rng.random_range(1..250_000)
    );
    path(rng, None, out);
    let status = STATUSES[rng.random_range(0..STATUSES.len())];
    let (latency, _) = latency_pair(rng);
    let _ = write!(
        out,
        "\",\"status\":{status},\"latency_ms\":{:.2},\"bytes\":{}",
        latency * 1000.0,
        rng.random_range(80..60_000)
    );
    if s.level == "error" || s.level == "warn" {
        let err = ERRORS[rng.random_range(0..ERRORS.len())].replace('"', "\\\"");
        let _ = write!(out, ",\"error\":\"{err}\"");
    }
    out.push('}');
}

const EVENTS: [(&str, &str, &str, &str); 8] = [
    ("Normal", "Scheduled", "default-scheduler", "Successfully assigned {ns}/{pod} to node-{n}"),
    ("Normal", "Pulled", "kubelet", "Container image \\\"registry.example.com/{ns}/api:v1.{n}.0\\\" already present on machine"),
    ("Normal", "Created", "kubelet", "Created container api"),
    ("Normal", "Started", "kubelet", "Started container api"),
    ("Normal", "ScalingReplicaSet", "deployment-controller", "Scaled up replica set {pod} to {n}"),
    ("Warning", "BackOff", "kubelet", "Back-off restarting failed container api in pod {pod}_{ns}"),
    ("Warning", "Unhealthy", "kubelet", "Readiness probe failed: Get \\\"http://10.244.{n}.7:8080/healthz\\\": context deadline exceeded"),
    ("Warning", "FailedScheduling", "default-scheduler", "0/{n} nodes are available: 3 Insufficient cpu. preemption: 0/{n} nodes are available"),
];

fn event_line(rng: &mut StdRng, s: &GenStream, out: &mut String) {
    let kind = if s.level == "info" {
        "Normal"
    } else {
        "Warning"
    };
    let candidates: Vec<_> = EVENTS.iter().filter(|e| e.0 == kind).collect();
    let (kind, reason, component, msg) = *candidates[rng.random_range(0..candidates.len())];
    let n = rng.random_range(1..40u32).to_string();
    let msg = msg
        .replace("{ns}", &s.namespace)
        .replace("{pod}", &s.pod)
        .replace("{n}", &n);
    let _ = write!(
        out,
        "type={kind} reason={reason} kind=Pod name={} objectAPIversion=v1 objectRV={} eventRV={} sourcecomponent={component} sourcehost=node-{n} count={} msg=\"{msg}\"",
        s.pod,
        rng.random_range(1_000_000..90_000_000u64),
        rng.random_range(1_000_000..90_000_000u64),
        rng.random_range(1..12),
    );
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    micros: i64,
}

fn civil(ts_ns: i64) -> Civil {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: sod / 60 % 60,
        second: sod % 60,
        micros: ts_ns.rem_euclid(1_000_000_000) / 1000,
    }
}

/// `21/Nov/2026:10:00:00 +0000`.
fn nginx_time(ts_ns: i64, out: &mut String) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(ts_ns);
    let _ = write!(
        out,
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    );
}

/// `2026-11-21T10:00:00.123456Z`.
fn rfc3339_micros(ts_ns: i64, out: &mut String) {
    let c = civil(ts_ns);
    let _ = write!(
        out,
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_795_000_000_000_000_000;

    #[test]
    fn dates_format_like_nginx_and_rfc3339() {
        let cases = [
            (
                0,
                "01/Jan/1970:00:00:00 +0000",
                "1970-01-01T00:00:00.000000Z",
            ),
            (
                1_795_263_045_123_456_789,
                "21/Nov/2026:12:10:45 +0000",
                "2026-11-21T12:10:45.123456Z",
            ),
            (
                951_782_400_000_000_000,
                "29/Feb/2000:00:00:00 +0000",
                "2000-02-29T00:00:00.000000Z",
            ),
        ];
        for (ts, nginx, rfc) in cases {
            let (mut a, mut b) = (String::new(), String::new());
            nginx_time(ts, &mut a);
            rfc3339_micros(ts, &mut b);
            assert_eq!((a.as_str(), b.as_str()), (nginx, rfc), "{ts}");
        }
    }

    #[test]
    fn cluster_has_a_few_hundred_valid_streams() {
        let g = LogsGenerator::new(LogsMix::Mixed, 1, START, 1000);
        assert!(
            (200..=400).contains(&g.stream_count()),
            "{}",
            g.stream_count()
        );
        let mut seen = std::collections::HashSet::new();
        for s in &g.streams {
            assert!(seen.insert(s.labels.clone()), "duplicate {}", s.labels);
            assert!(s.labels.get("namespace").is_some(), "{}", s.labels);
        }
        for w in LogsWorkload::ALL {
            let only = LogsGenerator::new(LogsMix::Only(w), 1, START, 1000);
            assert!(only.streams.iter().all(|s| s.workload == w));
            assert!(only.stream_count() > 0, "{w:?}");
        }
    }

    #[test]
    fn batches_are_deterministic_ordered_and_sized() {
        let gen = |seed| LogsGenerator::new(LogsMix::Mixed, seed, START, 1000).batch(64 << 10);
        let (a, b, c) = (gen(7), gen(7), gen(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let bytes = a.line_bytes();
        assert!((64 << 10..(64 << 10) + 2000).contains(&bytes), "{bytes}");
        for s in &a.streams {
            assert!(s.entries.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
        }
    }

    #[test]
    fn lines_look_like_their_workload() {
        for w in LogsWorkload::ALL {
            let mut g = LogsGenerator::new(LogsMix::Only(w), 3, START, 1000);
            for s in g.batch(32 << 10).streams {
                for e in s.entries {
                    let line = &e.line;
                    match w {
                        LogsWorkload::Nginx => {
                            assert!(
                                line.contains(" HTTP/1.1\" ") && line.starts_with("10."),
                                "{line}"
                            );
                        }
                        LogsWorkload::JsonApp => {
                            let v: serde_json::Value = serde_json::from_str(line).expect(line);
                            assert_eq!(v["level"], s.labels.get("level").unwrap(), "{line}");
                            assert_eq!(v["trace_id"].as_str().map(str::len), Some(32));
                        }
                        LogsWorkload::K8sEvents => {
                            assert!(line.starts_with("type=") && line.ends_with('"'), "{line}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn needle_lines_carry_the_trace_id() {
        let mut g = LogsGenerator::new(LogsMix::Mixed, 5, START, 1000);
        let needle = "0123456789abcdef0123456789abcdef";
        let streams: Vec<(Labels, LogsWorkload)> = g
            .streams
            .iter()
            .map(|s| (s.labels.clone(), s.workload))
            .collect();
        for (labels, workload) in streams {
            let line = g.needle_line(&labels, needle);
            match workload {
                LogsWorkload::K8sEvents => assert_eq!(line, None),
                _ => {
                    let line = line.unwrap();
                    assert!(line.contains(&format!("trace_id={needle}")), "{line}");
                }
            }
        }
        assert_eq!(
            g.needle_line(&Labels::from_pairs([("a", "b")]), needle),
            None
        );
        let haystack = g.batch(1 << 20);
        let hits = haystack
            .streams
            .iter()
            .flat_map(|s| &s.entries)
            .filter(|e| e.line.contains("trace_id="))
            .count();
        assert!(hits > 100, "near misses: {hits}");
    }
}
