//! Loki's per-tenant active stream limit (`max_global_streams_per_user`,
//! `max_streams_per_user`), checked when a push would create a stream.
//!
//! An ingester holds its share of the global limit: the limit times the replication factor,
//! divided by the healthy ingesters of the ring (each holds everything when there are fewer
//! than RF); `max_streams_per_user` caps it locally, the lower non-zero one wins. A push's
//! entries for streams that exist are always kept; a new stream past the limit loses all its
//! entries, and the push answers `RESOURCE_EXHAUSTED` (429) with Loki's message after the
//! rest is in the WAL: the distributor counts it in its partial-accept answer. Pushes that
//! create streams are serialised per tenant so that concurrent ones cannot overshoot.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use sextant_kit::overrides::Overrides;
use sextant_logs::db::{LogsAppendReport, LogsDbError, LogsTenantDb};
use sextant_logs::model::LogBatch;
use sextant_model::limits::TenantLogsLimits;
use sextant_model::{Labels, MatchOp, Matcher, TenantId};
use tonic::Status;

use super::LogsIngester;
use crate::metrics_ingester::RingMembership;

/// Rejection messages a refused push carries at most.
const MAX_MESSAGES: usize = 10;

/// What the stream limit needs: per-tenant limits, the ring's size and the RF.
pub struct LogsStreamLimits {
    overrides: Overrides,
    ring: Arc<dyn RingMembership>,
    replication_factor: usize,
    /// Per tenant: held while a push that creates streams checks and appends.
    creating: Mutex<HashMap<TenantId, Arc<Mutex<()>>>>,
}

impl LogsStreamLimits {
    pub fn new(
        overrides: Overrides,
        ring: Arc<dyn RingMembership>,
        replication_factor: usize,
    ) -> Self {
        LogsStreamLimits {
            overrides,
            ring,
            replication_factor,
            creating: Mutex::new(HashMap::new()),
        }
    }

    /// This ingester's stream limit for `tenant`, `None` when unlimited.
    pub fn local_limit(&self, tenant: &TenantId) -> Option<u64> {
        let limits = self.overrides.limits(tenant);
        local_stream_limit(
            &limits.logs,
            self.replication_factor,
            self.ring.healthy_instances(),
        )
    }

    fn creation_lock(&self, tenant: &TenantId) -> Arc<Mutex<()>> {
        self.creating
            .lock()
            .entry(tenant.clone())
            .or_default()
            .clone()
    }
}

/// The lower non-zero of `max_streams_per_user` and this ingester's share of
/// `max_global_streams_per_user`; `None` when both are 0.
pub fn local_stream_limit(
    limits: &TenantLogsLimits,
    replication_factor: usize,
    healthy: usize,
) -> Option<u64> {
    let global = limits.max_global_streams_per_user;
    let share = if global == 0 {
        0
    } else {
        let healthy = healthy.max(1) as u64;
        let rf = replication_factor.max(1) as u64;
        (global * rf.min(healthy)).div_ceil(healthy)
    };
    [limits.max_streams_per_user, share]
        .into_iter()
        .filter(|&n| n > 0)
        .min()
}

/// The streams of a push refused for the limit.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RefusedStreams {
    pub entries: u64,
    /// Loki's message, one per refused stream.
    pub messages: Vec<String>,
}

impl RefusedStreams {
    /// `RESOURCE_EXHAUSTED` listing the refused streams, then the head's rejections, when a
    /// stream was refused.
    pub fn into_status(self, report: &LogsAppendReport) -> Result<(), Status> {
        if self.messages.is_empty() {
            return Ok(());
        }
        let head = report.rejected.iter().map(|r| r.message.clone());
        let messages: Vec<String> = self.messages.into_iter().chain(head).collect();
        let mut text = messages[..messages.len().min(MAX_MESSAGES)].join("\n");
        let rejected = self.entries + report.rejected_total();
        text.push_str(&format!(
            "\n(entries written: {}, entries rejected: {rejected})",
            report.entries_written
        ));
        Err(Status::resource_exhausted(text))
    }
}

/// Loki's message for a stream refused by the limit.
pub fn stream_limit_message(labels: &Labels, tenant: &TenantId) -> String {
    format!(
        "Maximum active stream limit exceeded when trying to create stream {labels}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{tenant}'"
    )
}

/// Appends `batch` to `db`, first refusing the new streams past the tenant's limit (none
/// without `limits`). Blocks: run it on a blocking thread.
pub(crate) fn append_within_limits(
    limits: Option<&LogsStreamLimits>,
    tenant: &TenantId,
    db: &LogsTenantDb,
    batch: LogBatch,
) -> Result<(LogsAppendReport, RefusedStreams), LogsDbError> {
    let limit = limits.and_then(|l| l.local_limit(tenant).map(|n| (l, n)));
    let Some((limits, limit)) = limit else {
        return Ok((db.append(&batch)?, RefusedStreams::default()));
    };
    if batch.streams.iter().all(|s| stream_exists(db, &s.labels)) {
        return Ok((db.append(&batch)?, RefusedStreams::default()));
    }
    let lock = limits.creation_lock(tenant);
    let _creating = lock.lock();
    let (kept, refused) = refuse_new_streams(db, batch, limit, tenant);
    if !refused.messages.is_empty() {
        tracing::debug!(%tenant, limit, refused_streams = refused.messages.len(),
            entries = refused.entries, "logs streams refused by the stream limit");
    }
    Ok((db.append(&kept)?, refused))
}

/// Splits the batch: streams that exist, and new ones while the head has room, are kept.
fn refuse_new_streams(
    db: &LogsTenantDb,
    batch: LogBatch,
    limit: u64,
    tenant: &TenantId,
) -> (LogBatch, RefusedStreams) {
    let mut active = db.stream_count() as u64;
    let mut created: Vec<Labels> = Vec::new();
    let mut kept = LogBatch::default();
    let mut refused = RefusedStreams::default();
    for stream in batch.streams {
        let known = created.contains(&stream.labels) || stream_exists(db, &stream.labels);
        if !known && active >= limit {
            refused.entries += stream.entries.len() as u64;
            let message = stream_limit_message(&stream.labels, tenant);
            if !refused.messages.contains(&message) {
                refused.messages.push(message);
            }
            continue;
        }
        if !known {
            active += 1;
            created.push(stream.labels.clone());
        }
        kept.streams.push(stream);
    }
    (kept, refused)
}

/// Whether the head holds a stream with exactly these labels.
fn stream_exists(db: &LogsTenantDb, labels: &Labels) -> bool {
    let matchers: Vec<Matcher> = labels
        .iter()
        .filter_map(|l| Matcher::new(MatchOp::Equal, &l.name, &l.value).ok())
        .collect();
    db.series(&matchers, i64::MIN, i64::MAX).contains(labels)
}

impl LogsIngester {
    /// Enforces the per-tenant stream limits on every later push.
    pub fn with_stream_limits(mut self, limits: LogsStreamLimits) -> Self {
        self.stream_limits = Some(Arc::new(limits));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestRing;
    use sextant_logs::db::{LogsDbConfig, LogsFsyncPolicy};
    use sextant_logs::logql::eval::{Entry, Stream};
    use sextant_logs::push::push_request_from_streams;
    use sextant_model::TenantLimits;
    use sextant_proto::ingester::{LogsPushRequest, LogsSeriesRequest};

    #[test]
    fn local_limit_table() {
        // (global, local, rf, healthy) -> limit
        let cases = [
            ((5000, 0, 3, 3), Some(5000)),
            ((5000, 0, 3, 6), Some(2500)),
            ((5000, 0, 1, 4), Some(1250)),
            ((10, 0, 3, 4), Some(8)),
            ((100, 0, 3, 1), Some(100)), // fewer ingesters than RF: each holds everything
            ((100, 0, 3, 0), Some(100)),
            ((5000, 100, 3, 3), Some(100)),
            ((50, 100, 3, 3), Some(50)),
            ((0, 100, 3, 3), Some(100)),
            ((0, 0, 3, 3), None),
        ];
        for ((global, local, rf, healthy), want) in cases {
            let limits = TenantLogsLimits {
                max_global_streams_per_user: global,
                max_streams_per_user: local,
                ..TenantLogsLimits::default()
            };
            let got = local_stream_limit(&limits, rf, healthy);
            assert_eq!(got, want, "{global} {local} {rf} {healthy}");
        }
    }

    fn stream(app: &str, lines: &[(i64, &str)]) -> Stream {
        Stream {
            labels: Labels::from_pairs([("app", app)]),
            entries: lines
                .iter()
                .map(|(ts, line)| Entry {
                    ts_ns: *ts,
                    line: line.to_string(),
                    metadata: Labels::default(),
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

    /// An ingester on `dir` whose tenants may hold `global` streams over `healthy`
    /// ingesters with RF 3.
    fn ingester(dir: &std::path::Path, global: u64, healthy: usize) -> LogsIngester {
        let mut limits = TenantLimits::default();
        limits.logs.max_global_streams_per_user = global;
        let template = LogsDbConfig {
            fsync: LogsFsyncPolicy::Interval(std::time::Duration::from_secs(60)),
            ..LogsDbConfig::default()
        };
        let stream_limits = LogsStreamLimits::new(
            Overrides::fixed(limits),
            Arc::new(TestRing::new(healthy)),
            3,
        );
        LogsIngester::new(dir, template).with_stream_limits(stream_limits)
    }

    async fn streams_of(ingester: &LogsIngester, tenant: &str) -> Vec<String> {
        let request = LogsSeriesRequest {
            tenant: tenant.into(),
            start_ns: 0,
            end_ns: i64::MAX,
            matcher_sets: Vec::new(),
        };
        let series = ingester.series(request).await.unwrap().series;
        series.iter().map(|s| s.labels[0].value.clone()).collect()
    }

    #[tokio::test]
    async fn new_streams_past_the_limit_are_refused_existing_ones_still_accept() {
        let dir = tempfile::tempdir().unwrap();
        // 6 streams over 9 ingesters with RF 3: 2 per ingester
        let ingester = ingester(dir.path(), 6, 9);
        let first = [stream("a", &[(1, "a1")]), stream("b", &[(1, "b1")])];
        let answer = ingester.push(push("t", &first)).await.unwrap();
        assert_eq!(answer.entries_written, 2);

        // a new stream is refused whole; the existing stream's entries are written
        let next = [
            stream("c", &[(2, "c1"), (3, "c2")]),
            stream("a", &[(2, "a2")]),
        ];
        let status = ingester.push(push("t", &next)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        let want = "Maximum active stream limit exceeded when trying to create stream \
            {app=\"c\"}, reduce the number of active streams (reduce labels or reduce label \
            values), or contact your Loki administrator to see if the limit can be increased, \
            user: 't'";
        assert!(status.message().starts_with(want), "{}", status.message());
        assert!(
            status
                .message()
                .ends_with("(entries written: 1, entries rejected: 2)"),
            "{}",
            status.message()
        );
        assert_eq!(streams_of(&ingester, "t").await, vec!["a", "b"]);

        // existing streams keep accepting; another tenant has its own budget
        let again = [stream("b", &[(4, "b2")])];
        assert_eq!(
            ingester
                .push(push("t", &again))
                .await
                .unwrap()
                .entries_written,
            1
        );
        let other = [stream("c", &[(1, "c1")]), stream("d", &[(1, "d1")])];
        assert_eq!(
            ingester
                .push(push("u", &other))
                .await
                .unwrap()
                .entries_written,
            2
        );
    }

    #[tokio::test]
    async fn a_push_fills_the_room_left_then_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let ingester = ingester(dir.path(), 2, 3);
        let streams = [
            stream("a", &[(1, "x")]),
            stream("b", &[(1, "x")]),
            stream("c", &[(1, "x")]),
            stream("a", &[(2, "y")]),
        ];
        let status = ingester.push(push("t", &streams)).await.unwrap_err();
        assert!(
            status.message().contains("stream {app=\"c\"}"),
            "{status:?}"
        );
        assert!(
            !status.message().contains("stream {app=\"a\"}"),
            "{status:?}"
        );
        assert_eq!(streams_of(&ingester, "t").await, vec!["a", "b"]);
    }

    #[tokio::test]
    async fn no_limit_without_the_hook_or_with_zero() {
        for global in [0, 1] {
            let dir = tempfile::tempdir().unwrap();
            let ingester = if global == 0 {
                ingester(dir.path(), 0, 3)
            } else {
                LogsIngester::new(dir.path(), LogsDbConfig::default())
            };
            let streams: Vec<Stream> = (0..5)
                .map(|i| stream(&i.to_string(), &[(1, "x")]))
                .collect();
            let answer = ingester.push(push("t", &streams)).await.unwrap();
            assert_eq!(answer.entries_written, 5, "global {global}");
        }
    }
}
