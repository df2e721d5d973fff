//! What the Tempo HTTP API needs from the traces data layer, for one tenant at a time. The
//! querier's implementation ([``TracesQuerier``]) merges ingesters and
//! blocks; the API's tests use an in-memory one. Times are Unix nanoseconds, a zero bound is
//! unbounded.
//!
//! Both implementations validate requests with the same functions (`parse_search`,
//! `tag_values_filter`) and convert the engine's tag collectors with
//! `TracesTagScope::from_names` and `From<TraceTagValue>`.

use std::sync::Arc;

use futures::future::BoxFuture;
use sextant_model::TenantId;
use sextant_traces::model::{Trace, TraceId};
use sextant_traces::tags::{TraceTagNames, TraceTagValue};
use sextant_traces::traceql::eval::{TraceqlEvaluator, TraceqlTraceMatch};
use sextant_traces::traceql::{parse, TraceqlQuery};

use crate::source::QuerierError;

/// A search as the API received it (`/api/search`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracesSearchParams {
    /// TraceQL; the legacy `tags`/`minDuration`/`maxDuration` form is translated to TraceQL by
    /// the API before it gets here (`{}` when nothing was asked).
    pub query: String,
    /// Traces overlapping `[start_ns, end_ns)`.
    pub start_ns: i64,
    pub end_ns: i64,
    /// At most this many traces (the API's default is 20).
    pub limit: u32,
    /// Spans shown per spanset (`spss`, default 3).
    pub spans_per_span_set: u32,
    /// Trace duration bounds, 0 = none.
    pub min_duration_ns: u64,
    pub max_duration_ns: u64,
}

/// What a search found, merged across ingesters and blocks (one entry per trace, spansets of
/// partial results combined, as Tempo's combiner does), newest traces first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TracesSearchOutcome {
    pub traces: Vec<TraceqlTraceMatch>,
    /// Tempo's `metrics` block of the search response.
    pub inspected_traces: u64,
    pub inspected_bytes: u64,
    pub completed_jobs: u64,
    pub total_jobs: u64,
}

/// One scope's attribute names (`resource`, `span`, `event`, `link`, `instrumentation`,
/// `intrinsic`), sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracesTagScope {
    pub name: String,
    pub tags: Vec<String>,
}

impl TracesTagScope {
    /// The scopes collected in `names`, in their order (empty ones included).
    pub(crate) fn from_names(names: &TraceTagNames) -> Vec<TracesTagScope> {
        names
            .scopes()
            .into_iter()
            .map(|(scope, tags)| TracesTagScope {
                name: scope.as_str().to_owned(),
                tags,
            })
            .collect()
    }
}

/// A typed tag value, Tempo's `{"type":"string","value":"checkout"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct TracesTagValue {
    /// `string`, `int`, `float`, `bool`, `duration`, `status` or `kind`.
    pub value_type: String,
    pub value: String,
}

impl From<TraceTagValue> for TracesTagValue {
    fn from(v: TraceTagValue) -> Self {
        TracesTagValue {
            value_type: v.value_type.to_owned(),
            value: v.value,
        }
    }
}

/// The data behind the Tempo API.
pub trait TracesSource: Send + Sync {
    /// Every span held of the trace (ingesters and blocks, each span once by span ID), or
    /// `None` when nothing is held.
    fn trace_by_id<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: TraceId,
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Option<Trace>, QuerierError>>;

    /// TraceQL search (the query is validated by the caller; an unsupported query is a
    /// `QuerierError::BadRequest`).
    fn search<'a>(
        &'a self,
        tenant: &'a TenantId,
        params: TracesSearchParams,
    ) -> BoxFuture<'a, Result<TracesSearchOutcome, QuerierError>>;

    /// Attribute names per scope; `scope` empty means every scope. Intrinsics are not
    /// included (the API adds them).
    fn tag_names<'a>(
        &'a self,
        tenant: &'a TenantId,
        scope: &'a str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<TracesTagScope>, QuerierError>>;

    /// Values of one TraceQL identifier (`resource.service.name`, `.foo`, `name`, `status`),
    /// over the spans matching `query` when it is a valid TraceQL filter, sorted and unique.
    fn tag_values<'a>(
        &'a self,
        tenant: &'a TenantId,
        tag: &'a str,
        query: &'a str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<TracesTagValue>, QuerierError>>;
}

/// The query of a search, parsed and checked to be executable (else a bad request).
pub(crate) fn parse_search(query: &str) -> Result<TraceqlQuery, QuerierError> {
    let query = parse(query).map_err(bad_request)?;
    TraceqlEvaluator::new(&query).map_err(bad_request)?;
    Ok(query)
}

/// The filter of a tag values request: `None` when there is none, it selects everything
/// (`{}`) or it is not an executable TraceQL search (then ignored, as the ingesters do).
pub(crate) fn tag_values_filter(query: &str) -> Option<Arc<TraceqlQuery>> {
    let query = query.trim();
    if query.is_empty() {
        return None;
    }
    let parsed = parse_search(query).ok()?;
    let everything = parse("{}").ok()?;
    (parsed != everything).then(|| Arc::new(parsed))
}

/// A request's `limit` as a count (0: no limit).
pub(crate) fn limit_count(limit: u32) -> usize {
    if limit == 0 {
        usize::MAX
    } else {
        limit as usize
    }
}

pub(crate) fn bad_request(e: impl std::fmt::Display) -> QuerierError {
    QuerierError::BadRequest(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_filters() {
        // (query, whether it filters)
        let cases = [
            ("", false),
            ("  ", false),
            ("{}", false),
            ("{ }", false),
            (r#"{ resource.service.name = "a" }"#, true),
            (r#"{ resource.service.name = "a" && }"#, false),
            ("{ } | rate()", false),
        ];
        for (query, filters) in cases {
            assert_eq!(tag_values_filter(query).is_some(), filters, "{query:?}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(limit_count(0), usize::MAX);
        assert_eq!(limit_count(3), 3);
        assert!(matches!(
            parse_search("{ } | rate()"),
            Err(QuerierError::BadRequest(_))
        ));
        assert!(parse_search("{ .a = 1 }").is_ok());
    }
}
