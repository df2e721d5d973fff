//! The read side of the traces ingester: trace by ID, TraceQL search, tag names and values
//! over the traces held in memory, each on the blocking pool (decoding and evaluation are CPU
//! work). A tenant that pushed nothing here gets empty answers.

use sextant_proto::ingester::{
    TraceByIdRequest, TraceByIdResponse, TracesSearchRequest, TracesSearchResponse,
    TracesSearchTagValuesRequest, TracesSearchTagValuesResponse, TracesSearchTagsRequest,
    TracesSearchTagsResponse, TracesTagScope, TracesTagValue,
};
use sextant_traces::db::TracesDbSearch;
use sextant_traces::model::TraceId;
use sextant_traces::search::{encode_trace, trace_match_to_proto};
use sextant_traces::tags::TraceTagError;
use sextant_traces::traceql::eval::TraceqlEvaluator;
use sextant_traces::traceql::{self, TraceqlError, TraceqlQuery};
use tonic::Status;

use super::TracesIngester;
use crate::metrics_ingester::parse_tenant;

impl TracesIngester {
    /// Every span held of the trace, as an encoded OTLP `TracesData` (empty when none). The
    /// time range is not applied: what the ingester holds is recent by definition.
    pub async fn find_trace_by_id(
        &self,
        request: TraceByIdRequest,
    ) -> Result<TraceByIdResponse, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        let id = TraceId::from_bytes(&request.trace_id).ok_or_else(|| {
            Status::invalid_argument(format!(
                "a trace ID must be 16 bytes, got {}",
                request.trace_id.len()
            ))
        })?;
        let Some(db) = self.tenant(&tenant) else {
            return Ok(TraceByIdResponse::default());
        };
        let trace = blocking("find", move || db.find(&id).map(|t| encode_trace(&t))).await?;
        Ok(TraceByIdResponse {
            trace: trace.unwrap_or_default(),
        })
    }

    /// Runs the TraceQL query over the traces held: at most `limit` matches, newest first.
    /// A query that does not parse or cannot be evaluated is `INVALID_ARGUMENT`.
    pub async fn search(
        &self,
        request: TracesSearchRequest,
    ) -> Result<TracesSearchResponse, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        let query = parse_query(&request.query)?;
        // refuse what the evaluator cannot run before looking for the tenant
        TraceqlEvaluator::new(&query).map_err(invalid_query)?;
        let Some(db) = self.tenant(&tenant) else {
            return Ok(TracesSearchResponse::default());
        };
        let params = TracesDbSearch {
            start_ns: request.start_ns,
            end_ns: request.end_ns,
            min_duration_ns: request.min_duration_ns,
            max_duration_ns: request.max_duration_ns,
            limit: request.limit as usize,
            spans_per_span_set: request.spans_per_span_set as usize,
            required_strings: TracesDbSearch::required_strings_of(&query),
        };
        let result = blocking("search", move || {
            TraceqlEvaluator::new(&query).map(|eval| db.search(&eval, &params))
        })
        .await?
        .map_err(invalid_query)?;
        let traces = result
            .traces
            .iter()
            .map(trace_match_to_proto)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Status::internal(format!("search result: {e}")))?;
        Ok(TracesSearchResponse {
            traces,
            inspected_traces: result.inspected_traces,
            inspected_bytes: result.inspected_bytes,
        })
    }

    /// Attribute names per scope of the traces held in the range; an unknown scope is
    /// `INVALID_ARGUMENT`.
    pub async fn search_tags(
        &self,
        request: TracesSearchTagsRequest,
    ) -> Result<TracesSearchTagsResponse, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        sextant_traces::tags::TraceTagScope::parse_filter(&request.scope).map_err(invalid_tag)?;
        let Some(db) = self.tenant(&tenant) else {
            return Ok(TracesSearchTagsResponse::default());
        };
        let (start, end, limit) = (request.start_ns, request.end_ns, request.limit as usize);
        let names = blocking("tags", move || {
            db.tag_names(&request.scope, start, end, limit)
        })
        .await?
        .map_err(invalid_tag)?;
        let scopes = names
            .scopes()
            .into_iter()
            .map(|(scope, tags)| TracesTagScope {
                name: scope.as_str().to_owned(),
                tags,
            })
            .collect();
        Ok(TracesSearchTagsResponse { scopes })
    }

    /// The typed values of one TraceQL identifier in the traces held, over the spans the
    /// request's filter matches (all spans when it is empty or does not parse, as Tempo).
    pub async fn search_tag_values(
        &self,
        request: TracesSearchTagValuesRequest,
    ) -> Result<TracesSearchTagValuesResponse, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        sextant_traces::tags::TraceTag::parse(&request.tag).map_err(invalid_tag)?;
        let Some(db) = self.tenant(&tenant) else {
            return Ok(TracesSearchTagValuesResponse::default());
        };
        let filter = filter_query(&request.query);
        let (start, end, limit) = (request.start_ns, request.end_ns, request.limit as usize);
        let values = blocking("tag values", move || {
            let eval = filter.as_ref().and_then(|q| TraceqlEvaluator::new(q).ok());
            db.tag_values(&request.tag, eval.as_ref(), start, end, limit)
        })
        .await?
        .map_err(invalid_tag)?;
        let values = values
            .into_iter()
            .map(|v| TracesTagValue {
                r#type: v.value_type.to_owned(),
                value: v.value,
            })
            .collect();
        Ok(TracesSearchTagValuesResponse { values })
    }
}

/// The query of a search; empty means every trace (`{}`).
fn parse_query(query: &str) -> Result<TraceqlQuery, Status> {
    let text = match query.trim() {
        "" => "{}",
        q => q,
    };
    traceql::parse(text).map_err(invalid_query)
}

/// The filter of a tag values request: `None` when empty or when it does not parse.
fn filter_query(query: &str) -> Option<TraceqlQuery> {
    match query.trim() {
        "" | "{}" => None,
        q => traceql::parse(q).ok(),
    }
}

/// Tempo's texts: `invalid TraceQL query: parse error at line 1, col 3: ...`.
fn invalid_query(e: TraceqlError) -> Status {
    match e {
        TraceqlError::Parse { .. } => {
            Status::invalid_argument(format!("invalid TraceQL query: {e}"))
        }
        TraceqlError::Invalid(_) | TraceqlError::Unsupported(_) => {
            Status::invalid_argument(e.to_string())
        }
    }
}

fn invalid_tag(e: TraceTagError) -> Status {
    Status::invalid_argument(e.to_string())
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("traces {what} task failed: {e}")))
}
