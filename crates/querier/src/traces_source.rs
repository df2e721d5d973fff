//! What the Tempo HTTP API needs from the traces data layer, for one tenant at a time. The
//! querier's implementation ([``TracesQuerier``]) merges ingesters and
//! blocks; the API's tests use an in-memory one. Times are Unix nanoseconds, a zero bound is
//! unbounded.

use futures::future::BoxFuture;
use sextant_model::TenantId;
use sextant_traces::model::{Trace, TraceId};
use sextant_traces::traceql::eval::TraceqlTraceMatch;

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

/// A typed tag value, Tempo's `{"type":"string","value":"checkout"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct TracesTagValue {
    /// `string`, `int`, `float`, `bool`, `duration`, `status` or `kind`.
    pub value_type: String,
    pub value: String,
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
