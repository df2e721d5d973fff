//! Replays pre-encoded requests: one worker per shard, one request in flight each (the
//! Prometheus queue manager model). Responses are handled like Prometheus does: 2xx accepted;
//! 5xx, 429 and connection errors retried with exponential backoff; other 4xx rejected.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::encode::EncodedRequest;

/// Where and how to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    pub url: String,
    /// Sent as `X-Scope-OrgID` when set.
    pub tenant: Option<String>,
    pub max_retries: u32,
}

/// Counts and latencies of a replay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayStats {
    pub ok_samples: u64,
    pub ok_requests: u64,
    pub rejected_requests: u64,
    pub rejected_samples: u64,
    /// Samples of requests that still failed after `max_retries` retries.
    pub failed_samples: u64,
    pub retries: u64,
    pub conn_errors: u64,
    pub bytes_sent: u64,
    /// Every attempt's latency (request sent to body read).
    pub latencies: Vec<Duration>,
    /// "status: body" (truncated) -> occurrences.
    pub errors: BTreeMap<String, u64>,
}

impl ReplayStats {
    fn merge(&mut self, o: ReplayStats) {
        self.ok_samples += o.ok_samples;
        self.ok_requests += o.ok_requests;
        self.rejected_requests += o.rejected_requests;
        self.rejected_samples += o.rejected_samples;
        self.failed_samples += o.failed_samples;
        self.retries += o.retries;
        self.conn_errors += o.conn_errors;
        self.bytes_sent += o.bytes_sent;
        self.latencies.extend(o.latencies);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }

    /// Latency quantile (0..=1) in milliseconds.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let i = ((q * l.len() as f64) as usize).min(l.len().checked_sub(1)?);
        Some(l[i].as_secs_f64() * 1000.0)
    }
}

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Accepted,
    Rejected(String),
    Retry(String),
}

fn classify(status: u16, body: &str) -> Attempt {
    let key = || {
        format!(
            "{status}: {}",
            body.trim().chars().take(200).collect::<String>()
        )
    };
    match status {
        200..=299 => Attempt::Accepted,
        429 | 500..=599 => Attempt::Retry(key()),
        _ => Attempt::Rejected(key()),
    }
}

pub fn build_client(concurrency: usize, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .timeout(timeout)
        .user_agent("sextant-loadgen/0.1")
        .build()
}

/// Sends every shard's requests in order, shards concurrently; returns the merged stats.
pub async fn replay(
    client: reqwest::Client,
    cfg: ReplayConfig,
    shards: Vec<Vec<EncodedRequest>>,
) -> ReplayStats {
    let cfg = Arc::new(cfg);
    let workers: Vec<_> = shards
        .into_iter()
        .map(|reqs| tokio::spawn(send_shard(client.clone(), Arc::clone(&cfg), reqs)))
        .collect();
    let mut total = ReplayStats::default();
    for w in workers {
        match w.await {
            Ok(st) => total.merge(st),
            Err(e) => *total.errors.entry(format!("worker: {e}")).or_default() += 1,
        }
    }
    total
}

async fn send_shard(
    client: reqwest::Client,
    cfg: Arc<ReplayConfig>,
    reqs: Vec<EncodedRequest>,
) -> ReplayStats {
    let mut st = ReplayStats::default();
    for req in &reqs {
        send_with_retries(&client, &cfg, req, &mut st).await;
    }
    st
}

async fn send_with_retries(
    client: &reqwest::Client,
    cfg: &ReplayConfig,
    req: &EncodedRequest,
    st: &mut ReplayStats,
) {
    let mut backoff = Duration::from_millis(50);
    for attempt in 0..=cfg.max_retries {
        let t0 = Instant::now();
        let outcome = match post(client, cfg, req).await {
            Ok((status, body)) => classify(status, &body),
            Err(e) => {
                st.conn_errors += 1;
                Attempt::Retry(format!("conn: {e}"))
            }
        };
        st.latencies.push(t0.elapsed());
        match outcome {
            Attempt::Accepted => {
                st.ok_samples += u64::from(req.samples);
                st.ok_requests += 1;
                st.bytes_sent += req.body.len() as u64;
                return;
            }
            Attempt::Rejected(key) => {
                st.rejected_requests += 1;
                st.rejected_samples += u64::from(req.samples);
                *st.errors.entry(key).or_default() += 1;
                return;
            }
            Attempt::Retry(key) => {
                *st.errors.entry(key).or_default() += 1;
                if attempt == cfg.max_retries {
                    st.failed_samples += u64::from(req.samples);
                    return;
                }
                st.retries += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn post(
    client: &reqwest::Client,
    cfg: &ReplayConfig,
    req: &EncodedRequest,
) -> reqwest::Result<(u16, String)> {
    let mut rb = client
        .post(&cfg.url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(req.body.clone());
    if let Some(t) = &cfg.tenant {
        rb = rb.header("X-Scope-OrgID", t);
    }
    let resp = rb.send().await?;
    let status = resp.status().as_u16();
    // read the whole body so the connection is reused
    let body = resp.bytes().await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_prometheus() {
        let cases = [
            (200, "", Attempt::Accepted),
            (204, "", Attempt::Accepted),
            (
                400,
                "out of order\n",
                Attempt::Rejected("400: out of order".into()),
            ),
            (413, "", Attempt::Rejected("413: ".into())),
            (429, "slow down", Attempt::Retry("429: slow down".into())),
            (503, "", Attempt::Retry("503: ".into())),
        ];
        for (status, body, want) in cases {
            assert_eq!(classify(status, body), want, "{status}");
        }
    }

    /// Answers each request with the next status of `statuses` (then 200), recording the
    /// tenant header and body length of every request.
    async fn scripted_server(
        statuses: Vec<u16>,
    ) -> (String, tokio::task::JoinHandle<Vec<(String, usize)>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v1/push", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = Vec::new();
            for i in 0.. {
                let head_end = loop {
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                    let mut chunk = [0u8; 4096];
                    match conn.read(&mut chunk).await.unwrap() {
                        0 => return seen,
                        n => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                        .unwrap_or_default()
                };
                let len: usize = header("content-length:").parse().unwrap();
                while buf.len() < head_end + len {
                    let mut chunk = [0u8; 4096];
                    let n = conn.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                buf.drain(..head_end + len);
                seen.push((header("x-scope-orgid:"), len));
                let status = statuses.get(i).copied().unwrap_or(200);
                let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nno");
                conn.write_all(resp.as_bytes()).await.unwrap();
            }
            seen
        });
        (url, server)
    }

    #[tokio::test]
    async fn retries_server_errors_and_counts_rejections() {
        let reqs = crate::encode::steady_state_requests(100, 3, 1_000_000_000_000);
        let (url, server) = scripted_server(vec![503, 200, 400]).await;
        let cfg = ReplayConfig {
            url,
            tenant: Some("t1".into()),
            max_retries: 2,
        };
        let client = build_client(1, Duration::from_secs(5)).unwrap();
        let st = replay(client, cfg, vec![reqs.clone()]).await;
        assert_eq!((st.ok_requests, st.ok_samples), (2, 200), "{st:?}");
        assert_eq!((st.rejected_requests, st.rejected_samples), (1, 100));
        assert_eq!((st.retries, st.failed_samples, st.conn_errors), (1, 0, 0));
        assert_eq!(st.latencies.len(), 4);
        assert_eq!(st.errors.get("503: no"), Some(&1));
        assert_eq!(st.errors.get("400: no"), Some(&1));
        let seen = server.await.unwrap();
        let lens: Vec<usize> = [0, 0, 1, 2].iter().map(|&i| reqs[i].body.len()).collect();
        assert_eq!(
            seen,
            lens.into_iter()
                .map(|l| ("t1".to_string(), l))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn latency_quantiles() {
        let mut st = ReplayStats::default();
        assert_eq!(st.latency_ms(0.5), None);
        st.latencies = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(st.latency_ms(0.5), Some(51.0));
        assert_eq!(st.latency_ms(0.99), Some(100.0));
        assert_eq!(st.latency_ms(0.0), Some(1.0));
    }
}
