//! TraceQL search over blocks: newest blocks first, a batch at a time; in each block the
//! candidate traces (`pages.rs`) are decoded and evaluated on the blocking pool, until
//! `limit` distinct traces matched.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use sextant_model::TenantId;
use sextant_storage::BucketBlock;
use sextant_traces::block::{TracesBlockFilter, TracesBlockIndex, TracesPrefilter};
use sextant_traces::traceql::eval::{TraceqlEvaluator, TraceqlTraceMatch};
use sextant_traces::traceql::TraceqlQuery;

use super::pages::{candidate_traces, Enough, PageCandidates};
use super::TracesBlockReader;
use crate::source::QuerierError;
use crate::traces_source::TracesSearchParams;

/// One search over the blocks.
pub(crate) struct TracesBlockSearch {
    query: Arc<TraceqlQuery>,
    filter: TracesBlockFilter,
    /// Stop once this many distinct traces matched (0: never).
    limit: usize,
    spans_per_span_set: usize,
}

impl TracesBlockSearch {
    /// The search of `params`, whose query parsed into `query`.
    pub(crate) fn new(query: Arc<TraceqlQuery>, params: &TracesSearchParams) -> Self {
        TracesBlockSearch {
            filter: TracesBlockFilter {
                start_ns: params.start_ns,
                end_ns: params.end_ns,
                min_duration_ns: params.min_duration_ns,
                max_duration_ns: params.max_duration_ns,
                prefilter: TracesPrefilter::from_query(&query),
            },
            query,
            limit: params.limit as usize,
            spans_per_span_set: params.spans_per_span_set as usize,
        }
    }
}

/// What the blocks found: matches (one per trace and block; several blocks may hold the same
/// trace), and what was read.
#[derive(Debug, Default)]
pub(crate) struct TracesBlockSearchResult {
    pub(crate) matches: Vec<TraceqlTraceMatch>,
    pub(crate) inspected_traces: u64,
    pub(crate) inspected_bytes: u64,
    /// Blocks overlapping the search, and those read before enough traces matched.
    pub(crate) blocks_total: u64,
    pub(crate) blocks_searched: u64,
}

impl TracesBlockSearchResult {
    fn absorb(&mut self, other: TracesBlockSearchResult) {
        self.matches.extend(other.matches);
        self.inspected_traces += other.inspected_traces;
        self.inspected_bytes += other.inspected_bytes;
        self.blocks_searched += other.blocks_searched;
    }
}

/// Distinct traces matched so far, against the search's limit.
struct FoundTraces {
    ids: Mutex<HashSet<String>>,
    limit: usize,
}

impl FoundTraces {
    fn add(&self, matches: &[TraceqlTraceMatch]) {
        let mut ids = self.ids.lock();
        ids.extend(matches.iter().map(|m| m.trace_id.clone()));
    }
}

impl Enough for FoundTraces {
    fn remaining(&self) -> Option<usize> {
        (self.limit > 0).then(|| self.limit.saturating_sub(self.ids.lock().len()))
    }
}

impl TracesBlockReader {
    /// Searches the blocks overlapping the range, newest first, until `limit` distinct
    /// traces matched.
    pub(crate) async fn search(
        &self,
        tenant: &TenantId,
        search: TracesBlockSearch,
    ) -> Result<TracesBlockSearchResult, QuerierError> {
        let (start_ns, end_ns) = (search.filter.start_ns, search.filter.end_ns);
        let blocks = self.overlapping(tenant, start_ns, end_ns).await?;
        let found = FoundTraces {
            ids: Mutex::new(HashSet::new()),
            limit: search.limit,
        };
        let mut result = TracesBlockSearchResult {
            blocks_total: blocks.len() as u64,
            ..TracesBlockSearchResult::default()
        };
        for batch in blocks.chunks(self.search_batch) {
            if found.enough() {
                break;
            }
            let per_block = self
                .read_blocks(tenant, batch, |block, index| {
                    self.search_block(tenant, block, index, &search, &found)
                })
                .await?;
            per_block.into_iter().for_each(|r| result.absorb(r));
        }
        tracing::debug!(
            tenant = %tenant,
            blocks = result.blocks_total,
            searched = result.blocks_searched,
            inspected_traces = result.inspected_traces,
            matches = result.matches.len(),
            "searched traces blocks"
        );
        Ok(result)
    }

    async fn search_block(
        &self,
        tenant: &TenantId,
        block: BucketBlock,
        index: Arc<TracesBlockIndex>,
        search: &TracesBlockSearch,
        found: &FoundTraces,
    ) -> Result<TracesBlockSearchResult, QuerierError> {
        if found.enough() {
            return Ok(TracesBlockSearchResult::default());
        }
        let mut result = TracesBlockSearchResult {
            blocks_searched: 1,
            ..TracesBlockSearchResult::default()
        };
        let query = Arc::clone(&search.query);
        let spss = search.spans_per_span_set;
        let evaluate = move |pages: &[PageCandidates], fetched: &[Bytes], wanted| {
            evaluate_pages(&query, pages, fetched, spss, wanted)
        };
        let rounds = self
            .each_candidate_round(
                tenant,
                &block,
                &index,
                search.filter.clone(),
                found,
                evaluate,
                |r: &TracesBlockSearchResult| found.add(&r.matches),
            )
            .await?;
        rounds.into_iter().for_each(|r| result.absorb(r));
        self.traces_inspected.inc_by(result.inspected_traces);
        Ok(result)
    }
}

/// Evaluates the query on the candidate traces of the fetched pages, stopping after
/// `wanted` matches (`None`: all).
fn evaluate_pages(
    query: &TraceqlQuery,
    pages: &[PageCandidates],
    fetched: &[Bytes],
    spans_per_span_set: usize,
    wanted: Option<usize>,
) -> Result<TracesBlockSearchResult, String> {
    let eval = TraceqlEvaluator::new(query).map_err(|e| e.to_string())?;
    let mut result = TracesBlockSearchResult {
        inspected_bytes: fetched.iter().map(|b| b.len() as u64).sum(),
        ..TracesBlockSearchResult::default()
    };
    for trace in candidate_traces(pages, fetched) {
        if wanted.is_some_and(|w| result.matches.len() >= w) {
            break;
        }
        let trace = trace?;
        result.inspected_traces += 1;
        if let Some(m) = eval.search(&trace, spans_per_span_set) {
            result.matches.push(m);
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_traces_counts_distinct_ids_against_the_limit() {
        let m = |id: &str| TraceqlTraceMatch {
            trace_id: id.into(),
            root_service_name: String::new(),
            root_trace_name: String::new(),
            start_time_unix_nano: 0,
            duration_ms: 0,
            span_sets: vec![],
        };
        let found = FoundTraces {
            ids: Mutex::new(HashSet::new()),
            limit: 2,
        };
        found.add(&[m("a"), m("a")]);
        assert!(!found.enough());
        found.add(&[m("a"), m("b")]);
        assert!(found.enough());
        let unlimited = FoundTraces {
            ids: Mutex::new(HashSet::new()),
            limit: 0,
        };
        unlimited.add(&[m("a")]);
        assert!(!unlimited.enough());
    }
}
