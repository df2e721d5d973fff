//! [`TracesQuerier`]: the [`TracesSource`] behind the Tempo API, reading the ingesters of the
//! `ingester-traces` ring and, once [`TracesQuerier::with_blocks`] gave it a bucket, the
//! traces blocks the ingesters uploaded (`crate::traces_blocks`).
//!
//! Every call asks every healthy ingester (the fan-out of [`crate::ingesters`]: it fails once
//! more than `replication_factor / 2` instances failed) and, concurrently, the blocks
//! overlapping its range. A trace comes back from up to RF ingesters and from several blocks
//! (one per replica, and one per cut when it lived long): trace by ID merges the fragments
//! with each span once ([`merge_traces`]), search combines the results per trace as Tempo's
//! combiner does ([`TracesSearchCombiner`]), tag names and values are sorted unions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::TryFutureExt;
use prometheus_client::registry::Registry;
use sextant_model::TenantId;
use sextant_proto::ingester::{
    TraceByIdRequest, TraceByIdResponse, TracesSearchRequest, TracesSearchResponse,
    TracesSearchTagValuesRequest, TracesSearchTagValuesResponse, TracesSearchTagsRequest,
    TracesSearchTagsResponse,
};
use sextant_traces::model::{Trace, TraceId};
use sextant_traces::search::{
    decode_trace, merge_traces, trace_match_from_proto, TracesSearchCombiner,
};
use sextant_traces::tags::{TraceTag, TraceTagScope};
use tonic::Status;

use crate::blocks::read_optional;
use crate::config::QuerierConfig;
use crate::ingesters::{IngesterFanOut, RingSnapshot};
use crate::instrumentation::IngesterRequests;
use crate::querier::Clock;
use crate::source::QuerierError;
use crate::traces_blocks::{TracesBlockReader, TracesBlockSearch};
use crate::traces_source::{
    bad_request, limit_count, parse_search, tag_values_filter, TracesSearchOutcome,
    TracesSearchParams, TracesSource, TracesTagScope, TracesTagValue,
};

/// Fragments smaller than this in all (encoded bytes) are merged on the async runtime;
/// larger ones on a blocking thread.
const INLINE_MERGE_BYTES: usize = 64 << 10;

/// Read RPCs of the traces ingester at `addr` (pooled tonic clients of `TracesIngester` in
/// the server, in-memory ingesters in tests).
pub trait TracesIngesterQueryClients: Send + Sync + 'static {
    /// `FindTraceById`.
    fn find_trace_by_id(
        &self,
        addr: &str,
        request: TraceByIdRequest,
    ) -> BoxFuture<'static, Result<TraceByIdResponse, Status>>;

    /// `Search`.
    fn search(
        &self,
        addr: &str,
        request: TracesSearchRequest,
    ) -> BoxFuture<'static, Result<TracesSearchResponse, Status>>;

    /// `SearchTags`.
    fn search_tags(
        &self,
        addr: &str,
        request: TracesSearchTagsRequest,
    ) -> BoxFuture<'static, Result<TracesSearchTagsResponse, Status>>;

    /// `SearchTagValues`.
    fn search_tag_values(
        &self,
        addr: &str,
        request: TracesSearchTagValuesRequest,
    ) -> BoxFuture<'static, Result<TracesSearchTagValuesResponse, Status>>;
}

/// The traces data layer over the `ingester-traces` ring.
pub struct TracesQuerier {
    ingesters: IngesterFanOut<dyn TracesIngesterQueryClients>,
    /// The uploaded blocks; `None` reads the ingesters only.
    blocks: Option<TracesBlockReader>,
}

impl TracesQuerier {
    /// `ring` returns the current `ingester-traces` ring, `clients` reaches an ingester by
    /// address; `sextant_querier_traces_ingester_requests_total` goes to `registry`.
    pub fn new(
        ring: RingSnapshot,
        clients: Arc<dyn TracesIngesterQueryClients>,
        registry: &mut Registry,
    ) -> Self {
        TracesQuerier {
            ingesters: IngesterFanOut::new(
                "ingester-traces",
                ring,
                clients,
                IngesterRequests::register_traces(registry),
            ),
            blocks: None,
        }
    }

    /// Also reads the traces blocks in `store` (`traces/<tenant>/...`), with the block list
    /// refresh, cache size and read concurrency of `config`; `sextant_querier_traces_*` block
    /// metrics go to `registry`.
    pub fn with_blocks(
        mut self,
        config: &QuerierConfig,
        store: Arc<dyn object_store::ObjectStore>,
        registry: &mut Registry,
    ) -> Self {
        self.blocks = Some(TracesBlockReader::new(config, store, registry));
        self
    }

    /// Replaces the wall clock that judges ingester heartbeats (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.ingesters = self.ingesters.with_clock(clock);
        self
    }

    async fn trace_by_id_inner(
        &self,
        tenant: &TenantId,
        id: TraceId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Option<Trace>, QuerierError> {
        let request = TraceByIdRequest {
            tenant: tenant.to_string(),
            trace_id: id.as_bytes().to_vec(),
            start_ns,
            end_ns,
        };
        let from_ingesters = self.ingesters.call("find_trace_by_id", |c, addr| {
            c.find_trace_by_id(addr, request.clone())
        });
        let from_blocks = read_optional(self.blocks.as_ref(), |blocks| {
            blocks.find(tenant, id, start_ns, end_ns)
        });
        let (answers, mut fragments) = futures::try_join!(from_ingesters, from_blocks)?;
        let encoded: Vec<Vec<u8>> = answers
            .into_iter()
            .map(|a| a.trace)
            .filter(|t| !t.is_empty())
            .collect();
        if encoded.is_empty() && fragments.is_empty() {
            return Ok(None);
        }
        let bytes: usize = encoded.iter().map(Vec::len).sum::<usize>()
            + fragments.iter().map(Trace::encoded_len).sum::<usize>();
        let merge = move || -> Result<Trace, QuerierError> {
            for trace in &encoded {
                fragments.push(decode_trace(id, trace).map_err(undecodable)?);
            }
            Ok(merge_traces(fragments))
        };
        let trace = if bytes < INLINE_MERGE_BYTES {
            merge()?
        } else {
            tokio::task::spawn_blocking(merge)
                .await
                .map_err(|e| QuerierError::Ingesters(format!("merge task failed: {e}")))??
        };
        Ok((trace.span_count() > 0).then_some(trace))
    }

    async fn search_inner(
        &self,
        tenant: &TenantId,
        params: TracesSearchParams,
    ) -> Result<TracesSearchOutcome, QuerierError> {
        let query = Arc::new(parse_search(&params.query)?);
        let request = TracesSearchRequest {
            tenant: tenant.to_string(),
            query: params.query.clone(),
            start_ns: params.start_ns,
            end_ns: params.end_ns,
            limit: params.limit,
            spans_per_span_set: params.spans_per_span_set,
            min_duration_ns: params.min_duration_ns,
            max_duration_ns: params.max_duration_ns,
        };
        let from_ingesters = self
            .ingesters
            .call("search", |c, addr| c.search(addr, request.clone()));
        let from_blocks = read_optional(self.blocks.as_ref(), |blocks| {
            let search = TracesBlockSearch::new(Arc::clone(&query), &params);
            blocks.search(tenant, search).map_ok(Some)
        });
        let (answers, blocks) = futures::try_join!(from_ingesters, from_blocks)?;
        let mut combiner = TracesSearchCombiner::new(params.spans_per_span_set);
        let mut outcome = TracesSearchOutcome {
            total_jobs: answers.len() as u64,
            completed_jobs: answers.len() as u64,
            ..TracesSearchOutcome::default()
        };
        for answer in answers {
            outcome.inspected_traces += answer.inspected_traces;
            outcome.inspected_bytes += answer.inspected_bytes;
            for m in answer.traces {
                combiner.add(trace_match_from_proto(m).map_err(undecodable)?);
            }
        }
        if let Some(blocks) = blocks {
            outcome.inspected_traces += blocks.inspected_traces;
            outcome.inspected_bytes += blocks.inspected_bytes;
            outcome.total_jobs += blocks.blocks_total;
            outcome.completed_jobs += blocks.blocks_searched;
            blocks.matches.into_iter().for_each(|m| combiner.add(m));
        }
        outcome.traces = combiner.finish(params.limit as usize);
        Ok(outcome)
    }

    async fn tag_names_inner(
        &self,
        tenant: &TenantId,
        scope: &str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> Result<Vec<TracesTagScope>, QuerierError> {
        // intrinsics are left to the API
        let scopes = TraceTagScope::parse_filter(scope).map_err(bad_request)?;
        let request = TracesSearchTagsRequest {
            tenant: tenant.to_string(),
            scope: scope.to_owned(),
            start_ns,
            end_ns,
            limit,
        };
        let from_ingesters = self.ingesters.call("search_tags", |c, addr| {
            c.search_tags(addr, request.clone())
        });
        let from_blocks = read_optional(self.blocks.as_ref(), |blocks| {
            blocks.tag_names(tenant, scope, start_ns, end_ns)
        });
        let (answers, blocks) = futures::try_join!(from_ingesters, from_blocks)?;
        let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let from_wire = answers
            .into_iter()
            .flat_map(|a| a.scopes)
            .map(|s| TracesTagScope {
                name: s.name,
                tags: s.tags,
            });
        for s in from_wire.chain(blocks) {
            names.entry(s.name).or_default().extend(s.tags);
        }
        let mut left = limit_count(limit);
        let mut out = Vec::new();
        for scope in scopes {
            let Some(tags) = names.remove(scope.as_str()) else {
                continue;
            };
            let tags: Vec<String> = tags.into_iter().take(left).collect();
            left -= tags.len();
            if !tags.is_empty() {
                out.push(TracesTagScope {
                    name: scope.as_str().to_owned(),
                    tags,
                });
            }
        }
        Ok(out)
    }

    async fn tag_values_inner(
        &self,
        tenant: &TenantId,
        tag: &str,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> Result<Vec<TracesTagValue>, QuerierError> {
        TraceTag::parse(tag).map_err(bad_request)?;
        let request = TracesSearchTagValuesRequest {
            tenant: tenant.to_string(),
            tag: tag.to_owned(),
            query: query.to_owned(),
            start_ns,
            end_ns,
            limit,
        };
        let filter = tag_values_filter(query);
        let from_ingesters = self.ingesters.call("search_tag_values", |c, addr| {
            c.search_tag_values(addr, request.clone())
        });
        let from_blocks = read_optional(self.blocks.as_ref(), |blocks| {
            blocks.tag_values(tenant, tag, filter, start_ns, end_ns, limit)
        });
        let (answers, blocks) = futures::try_join!(from_ingesters, from_blocks)?;
        let from_wire = answers
            .into_iter()
            .flat_map(|a| a.values)
            .map(|v| TracesTagValue {
                value_type: v.r#type,
                value: v.value,
            });
        let values: BTreeSet<TracesTagValue> = from_wire.chain(blocks).collect();
        Ok(limited(values, limit))
    }
}

/// The first `limit` items of a sorted set (all of them when `limit` is 0).
fn limited<T>(items: BTreeSet<T>, limit: u32) -> Vec<T> {
    items.into_iter().take(limit_count(limit)).collect()
}

fn undecodable(e: impl std::fmt::Display) -> QuerierError {
    QuerierError::Ingesters(format!("undecodable answer from an ingester: {e}"))
}

impl TracesSource for TracesQuerier {
    fn trace_by_id<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: TraceId,
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Option<Trace>, QuerierError>> {
        Box::pin(self.trace_by_id_inner(tenant, id, start_ns, end_ns))
    }

    fn search<'a>(
        &'a self,
        tenant: &'a TenantId,
        params: TracesSearchParams,
    ) -> BoxFuture<'a, Result<TracesSearchOutcome, QuerierError>> {
        Box::pin(self.search_inner(tenant, params))
    }

    fn tag_names<'a>(
        &'a self,
        tenant: &'a TenantId,
        scope: &'a str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<TracesTagScope>, QuerierError>> {
        Box::pin(self.tag_names_inner(tenant, scope, start_ns, end_ns, limit))
    }

    fn tag_values<'a>(
        &'a self,
        tenant: &'a TenantId,
        tag: &'a str,
        query: &'a str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<TracesTagValue>, QuerierError>> {
        Box::pin(self.tag_values_inner(tenant, tag, query, start_ns, end_ns, limit))
    }
}

#[cfg(test)]
mod blocks_tests;
#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;
