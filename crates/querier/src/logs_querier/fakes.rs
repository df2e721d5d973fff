//! In-memory logs ingesters behind [`LogsIngesterQueryClients`]: each is a [`MemLogsSource`]
//! answering through the wire messages, and a ring of them.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use sextant_logs::push::stream_to_proto;
use sextant_model::{Labels, Matcher, TenantId};
use sextant_proto::ingester::{
    LogsLabelsRequest, LogsLabelsResponse, LogsQueryRequest, LogsQueryResponse, LogsSeriesRequest,
    LogsSeriesResponse, LogsStatsRequest, LogsStatsResponse, SeriesLabels,
};
use sextant_proto::prometheus::{Label, LabelMatcher};
use tonic::Status;

use super::LogsIngesterQueryClients;
use crate::ingesters::fakes::{FakeIngesterPool, MayFail};
use crate::loki_api::{LogsSource, MemLogsSource};

/// Heartbeats and the querier's clock, in ms.
pub(super) const NOW_MS: i64 = 1_700_000_000_000;
/// 2023-11-14T22:13:20Z in ns.
pub(super) const T0: i64 = 1_700_000_000_000_000_000;
pub(super) const SECOND: i64 = 1_000_000_000;

pub(super) fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

/// One fake ingester: its streams, or a failure.
#[derive(Default)]
pub(super) struct FakeLogsIngester {
    pub(super) data: Arc<MemLogsSource>,
    pub(super) fail: bool,
}

impl MayFail for FakeLogsIngester {
    fn fails(&self) -> bool {
        self.fail
    }
}

/// Ingesters by address; records the address of every request.
pub(super) type FakeLogsIngesters = FakeIngesterPool<FakeLogsIngester>;

fn matchers(wire: &[LabelMatcher]) -> Result<Vec<Matcher>, Status> {
    wire.iter()
        .map(|m| {
            sextant_proto::matcher_from_wire(m).map_err(|e| Status::invalid_argument(e.to_string()))
        })
        .collect()
}

fn parse_tenant(name: &str) -> Result<TenantId, Status> {
    TenantId::parse(name).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn labels_to_wire(labels: &Labels) -> Vec<Label> {
    labels
        .iter()
        .map(|l| Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

impl FakeLogsIngesters {
    /// Runs `f` on the ingester at `addr`, or fails like an unreachable one.
    fn answer<T, F>(&self, addr: &str, f: F) -> BoxFuture<'static, Result<T, Status>>
    where
        T: Send + 'static,
        F: FnOnce(Arc<MemLogsSource>) -> BoxFuture<'static, Result<T, Status>>,
    {
        match self.reach(addr) {
            Ok(ingester) => f(Arc::clone(&ingester.data)),
            Err(status) => Box::pin(async { Err(status) }),
        }
    }

    fn labels(
        &self,
        addr: &str,
        r: LogsLabelsRequest,
    ) -> BoxFuture<'static, Result<LogsLabelsResponse, Status>> {
        self.answer(addr, move |data| {
            Box::pin(async move {
                let (tenant, matchers) = (parse_tenant(&r.tenant)?, matchers(&r.matchers)?);
                let selection = (!matchers.is_empty()).then_some(matchers.as_slice());
                let values = if r.label_name.is_empty() {
                    data.label_names(&tenant, r.start_ns, r.end_ns, selection)
                        .await
                } else {
                    data.label_values(&tenant, &r.label_name, r.start_ns, r.end_ns, selection)
                        .await
                };
                let values = values.map_err(|e| Status::internal(e.to_string()))?;
                Ok(LogsLabelsResponse { values })
            })
        })
    }
}

impl LogsIngesterQueryClients for FakeLogsIngesters {
    /// One batch per stream, as a real ingester may send them.
    fn query_stream(
        &self,
        addr: &str,
        r: LogsQueryRequest,
    ) -> BoxFuture<'static, Result<Vec<LogsQueryResponse>, Status>> {
        self.answer(addr, move |data| {
            Box::pin(async move {
                let (tenant, matchers) = (parse_tenant(&r.tenant)?, matchers(&r.matchers)?);
                let streams = data
                    .select(&tenant, &matchers, r.start_ns, r.end_ns)
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?;
                Ok(streams
                    .iter()
                    .map(|s| LogsQueryResponse {
                        streams: vec![stream_to_proto(s)],
                    })
                    .collect())
            })
        })
    }

    fn label_names(
        &self,
        addr: &str,
        r: LogsLabelsRequest,
    ) -> BoxFuture<'static, Result<LogsLabelsResponse, Status>> {
        self.labels(addr, r)
    }

    fn label_values(
        &self,
        addr: &str,
        r: LogsLabelsRequest,
    ) -> BoxFuture<'static, Result<LogsLabelsResponse, Status>> {
        self.labels(addr, r)
    }

    fn series(
        &self,
        addr: &str,
        r: LogsSeriesRequest,
    ) -> BoxFuture<'static, Result<LogsSeriesResponse, Status>> {
        self.answer(addr, move |data| {
            Box::pin(async move {
                let tenant = parse_tenant(&r.tenant)?;
                let sets = r
                    .matcher_sets
                    .iter()
                    .map(|set| matchers(&set.matchers))
                    .collect::<Result<Vec<_>, _>>()?;
                let series = data
                    .series(&tenant, &sets, r.start_ns, r.end_ns)
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?;
                let unique: BTreeSet<Labels> = series.into_iter().collect();
                Ok(LogsSeriesResponse {
                    series: unique
                        .iter()
                        .map(|l| SeriesLabels {
                            labels: labels_to_wire(l),
                        })
                        .collect(),
                })
            })
        })
    }

    fn stats(
        &self,
        addr: &str,
        r: LogsStatsRequest,
    ) -> BoxFuture<'static, Result<LogsStatsResponse, Status>> {
        self.answer(addr, move |data| {
            Box::pin(async move {
                let (tenant, matchers) = (parse_tenant(&r.tenant)?, matchers(&r.matchers)?);
                let stats = data
                    .stats(&tenant, &matchers, r.start_ns, r.end_ns)
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?;
                Ok(LogsStatsResponse {
                    streams: stats.streams,
                    chunks: stats.chunks,
                    entries: stats.entries,
                    bytes: stats.bytes,
                })
            })
        })
    }
}
