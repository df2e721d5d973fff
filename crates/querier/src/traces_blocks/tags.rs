//! Tag names and values over blocks: the search columns answer what they keep; values they
//! do not keep (events, links, arrays, ...) and values under a TraceQL filter come from the
//! decoded candidate traces.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use sextant_model::TenantId;
use sextant_storage::BucketBlock;
use sextant_traces::block::{
    TracesBlockFilter, TracesBlockIndex, TracesPrefilter, TracesSearchColumns,
};
use sextant_traces::tags::{TraceTag, TraceTagNames, TraceTagScope, TraceTagValue, TraceTagValues};
use sextant_traces::traceql::eval::TraceqlEvaluator;
use sextant_traces::traceql::TraceqlQuery;

use super::pages::{candidate_traces, Enough, PageCandidates};
use super::{block_may_overlap, blocking, TracesBlockReader};
use crate::source::QuerierError;
use crate::traces_source::{bad_request, TracesTagScope, TracesTagValue};

/// Distinct tag values found so far, against the request's limit.
struct FoundValues {
    values: Mutex<BTreeSet<TracesTagValue>>,
    limit: usize,
}

impl FoundValues {
    fn add(&self, values: Vec<TraceTagValue>) {
        self.values
            .lock()
            .extend(values.into_iter().map(TracesTagValue::from));
    }
}

impl Enough for FoundValues {
    fn remaining(&self) -> Option<usize> {
        (self.limit > 0).then(|| self.limit.saturating_sub(self.values.lock().len()))
    }
}

/// One tag values request over the blocks.
struct TagValuesRequest {
    tag: Arc<TraceTag>,
    /// Only the spans this matches (`None`: every span).
    filter: Option<Arc<TraceqlQuery>>,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
}

impl TracesBlockReader {
    /// Attribute names of the `scope` (all when empty; none for `intrinsic`) in the blocks
    /// overlapping `[start_ns, end_ns)`: the scopes of every block, not merged.
    pub(crate) async fn tag_names(
        &self,
        tenant: &TenantId,
        scope: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<TracesTagScope>, QuerierError> {
        let scopes = TraceTagScope::parse_filter(scope).map_err(bad_request)?;
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let per_block = self
            .each_columns(tenant, start_ns, end_ns, move |columns| {
                let mut names = TraceTagNames::new(scopes.clone(), 0);
                columns.tag_names(&mut names);
                TracesTagScope::from_names(&names)
            })
            .await?;
        Ok(per_block.into_iter().flatten().collect())
    }

    /// Values of `tag` in the blocks overlapping `[start_ns, end_ns)` (over the spans
    /// `filter` matches when there is one), newest blocks first until `limit` values are
    /// found (0: no limit).
    pub(crate) async fn tag_values(
        &self,
        tenant: &TenantId,
        tag: &str,
        filter: Option<Arc<TraceqlQuery>>,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> Result<Vec<TracesTagValue>, QuerierError> {
        let tag = TraceTag::parse(tag).map_err(bad_request)?;
        let request = TagValuesRequest {
            tag: Arc::new(tag),
            filter,
            start_ns,
            end_ns,
            limit: limit as usize,
        };
        let blocks = self.overlapping(tenant, start_ns, end_ns).await?;
        let found = FoundValues {
            values: Mutex::new(BTreeSet::new()),
            limit: request.limit,
        };
        for batch in blocks.chunks(self.search_batch) {
            if found.enough() {
                break;
            }
            self.read_blocks(tenant, batch, |block, index| {
                self.block_tag_values(tenant, block, index, &request, &found)
            })
            .await?;
        }
        Ok(found.values.into_inner().into_iter().collect())
    }

    async fn block_tag_values(
        &self,
        tenant: &TenantId,
        block: BucketBlock,
        index: Arc<TracesBlockIndex>,
        request: &TagValuesRequest,
        found: &FoundValues,
    ) -> Result<(), QuerierError> {
        if request.filter.is_none() {
            let columns = self.columns(tenant, &block.block_id).await?;
            let (tag, limit) = (Arc::clone(&request.tag), request.limit);
            let from_columns = blocking(move || {
                let mut values = TraceTagValues::new(limit);
                columns
                    .tag_values(&tag, &mut values)
                    .then(|| values.into_vec())
            })
            .await?;
            if let Some(values) = from_columns {
                found.add(values);
                return Ok(());
            }
        }
        let block_filter = TracesBlockFilter {
            start_ns: request.start_ns,
            end_ns: request.end_ns,
            prefilter: request
                .filter
                .as_deref()
                .map(TracesPrefilter::from_query)
                .unwrap_or_default(),
            ..TracesBlockFilter::default()
        };
        let (tag, filter) = (Arc::clone(&request.tag), request.filter.clone());
        let collect = move |pages: &[PageCandidates], fetched: &[Bytes], _wanted| {
            values_of_pages(filter.as_deref(), &tag, pages, fetched)
        };
        let record = |values: &Vec<TraceTagValue>| found.add(values.clone());
        self.each_candidate_round(tenant, &block, &index, block_filter, found, collect, record)
            .await?;
        Ok(())
    }
}

impl TracesBlockReader {
    /// Runs `f` on the search columns of every block overlapping `[start_ns, end_ns)` on the
    /// blocking pool.
    async fn each_columns<T, F>(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
        f: F,
    ) -> Result<Vec<T>, QuerierError>
    where
        T: Send + 'static,
        F: Fn(&TracesSearchColumns) -> T + Clone + Send + 'static,
    {
        self.blocks
            .each_block(
                tenant,
                |b: &BucketBlock| block_may_overlap(b, start_ns, end_ns),
                |block, _| {
                    let f = f.clone();
                    async move {
                        let columns = self.columns(tenant, &block.block_id).await?;
                        blocking(move || f(&columns)).await
                    }
                },
            )
            .await
    }
}

/// The values of `tag` in the candidate traces, over the spans `filter` matches.
fn values_of_pages(
    filter: Option<&TraceqlQuery>,
    tag: &TraceTag,
    pages: &[PageCandidates],
    fetched: &[Bytes],
) -> Result<Vec<TraceTagValue>, String> {
    let eval = match filter {
        Some(q) => Some(TraceqlEvaluator::new(q).map_err(|e| e.to_string())?),
        None => None,
    };
    // every value of the round: some may be known already, the caller counts distinct ones
    let mut values = TraceTagValues::new(0);
    for trace in candidate_traces(pages, fetched) {
        values.add_trace(&trace?, tag, eval.as_ref());
    }
    Ok(values.into_vec())
}
