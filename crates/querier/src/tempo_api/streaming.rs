//! Tempo's streaming gRPC API (`tempopb.StreamingQuerier`): what Grafana's Tempo data source
//! calls for search and tag autocomplete when its streaming option is on (the default),
//! plaintext HTTP/2 on the data source's host and port, the tenant in `x-scope-orgid`
//! metadata. Tempo serves it on its HTTP port (`stream_over_http_enabled`); so does Sextant:
//! [`tempo_streaming_router`] is merged into the HTTP router, and the HTTP server accepts
//! HTTP/1.1 and HTTP/2 (prior knowledge) on one port.
//!
//! Each method is the HTTP handler's logic behind a gRPC face: search validates with
//! [`search::search_params`] and [`search::check_query`] (legacy `Tags` translated by
//! [`legacy`]); the tag methods call the [`tags`] handlers and re-read their JSON answer.
//! Every stream carries one message, the complete result (`completedJobs = totalJobs`).
//! Errors: `InvalidArgument` for a bad request or query, `Unauthenticated` without a tenant,
//! the data layer's kind (`Unavailable`, `Internal`) otherwise.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::Router;
use futures::future::{ready, Ready};
use futures::stream::{once, Once};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sextant_kit::error::grpc_code;
use sextant_model::{ErrorKind, TenantId};
use sextant_proto::tempopb::streaming_querier_server::{StreamingQuerier, StreamingQuerierServer};
use sextant_proto::tempopb::{
    SearchMetrics, SearchRequest, SearchResponse, SearchTagValuesRequest, SearchTagValuesResponse,
    SearchTagValuesV2Response, SearchTagsRequest, SearchTagsResponse, SearchTagsV2Response,
    SearchTagsV2Scope, Span, SpanSet, TagValue, TraceSearchMetadata,
};
use sextant_traces::traceql::eval::{TraceqlSpan, TraceqlSpanSet, TraceqlTraceMatch};
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use super::{legacy, search, tags, TempoApiState, TempoError, TempoJson, TempoTenant};
use crate::api::params::Params;
use crate::source::QuerierError;
use crate::traces_source::{TracesSearchOutcome, TracesSearchParams};

#[cfg(test)]
mod tests;

/// The routes of `tempopb.StreamingQuerier` (`/tempopb.StreamingQuerier/*`), to merge into
/// the HTTP router. Unlike tonic's `Routes`, no fallback: other paths stay the HTTP router's.
pub fn tempo_streaming_router(state: TempoApiState) -> Router {
    type Server = StreamingQuerierServer<TempoStreamingQuerier>;
    let path = format!("/{}/{{*method}}", <Server as NamedService>::NAME);
    Router::new().route_service(&path, Server::new(TempoStreamingQuerier { state }))
}

/// The `tempopb.StreamingQuerier` service over the Tempo API's state.
#[derive(Clone)]
pub struct TempoStreamingQuerier {
    state: TempoApiState,
}

impl TempoStreamingQuerier {
    pub fn new(state: TempoApiState) -> Self {
        TempoStreamingQuerier { state }
    }

    /// The tenant in `x-scope-orgid` metadata, by the HTTP API's rules.
    fn tenant<T>(&self, request: &Request<T>) -> Result<TempoTenant, Status> {
        let headers = request.metadata().clone().into_headers();
        let tenant: TenantId = self.state.tenants.resolve(&headers)?;
        Ok(TempoTenant(tenant))
    }
}

/// A stream of one message: the complete answer.
pub type OneMessage<T> = Once<Ready<Result<T, Status>>>;

fn one<T>(message: T) -> Response<OneMessage<T>> {
    Response::new(once(ready(Ok(message))))
}

#[tonic::async_trait]
impl StreamingQuerier for TempoStreamingQuerier {
    type SearchStream = OneMessage<SearchResponse>;
    type SearchTagsStream = OneMessage<SearchTagsResponse>;
    type SearchTagsV2Stream = OneMessage<SearchTagsV2Response>;
    type SearchTagValuesStream = OneMessage<SearchTagValuesResponse>;
    type SearchTagValuesV2Stream = OneMessage<SearchTagValuesV2Response>;

    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<Self::SearchStream>, Status> {
        let TempoTenant(tenant) = self.tenant(&request)?;
        let params = search_request_params(request.get_ref()).map_err(status_from_tempo)?;
        search::check_query(&params.query).map_err(status_from_tempo)?;
        let outcome = self
            .state
            .source
            .search(&tenant, params)
            .await
            .map_err(status_from_source)?;
        Ok(one(search_response(outcome)))
    }

    async fn search_tags(
        &self,
        request: Request<SearchTagsRequest>,
    ) -> Result<Response<Self::SearchTagsStream>, Status> {
        let tenant = self.tenant(&request)?;
        let params = tags_params(request.get_ref());
        let answer = tags::tag_names_v1(tenant, State(self.state.clone()), params).await;
        let TagNamesV1 { tag_names } = reread(answer)?;
        Ok(one(SearchTagsResponse {
            tag_names,
            metrics: None,
        }))
    }

    async fn search_tags_v2(
        &self,
        request: Request<SearchTagsRequest>,
    ) -> Result<Response<Self::SearchTagsV2Stream>, Status> {
        let tenant = self.tenant(&request)?;
        let params = tags_params(request.get_ref());
        let answer = tags::tag_names_v2(tenant, State(self.state.clone()), params).await;
        let TagNamesV2 { scopes } = reread(answer)?;
        let scopes = scopes
            .into_iter()
            .map(|s| SearchTagsV2Scope {
                name: s.name,
                tags: s.tags,
            })
            .collect();
        Ok(one(SearchTagsV2Response {
            scopes,
            metrics: None,
        }))
    }

    async fn search_tag_values(
        &self,
        request: Request<SearchTagValuesRequest>,
    ) -> Result<Response<Self::SearchTagValuesStream>, Status> {
        let tenant = self.tenant(&request)?;
        let (tag, params) = tag_values_params(request.get_ref());
        let answer =
            tags::tag_values_v1(tenant, State(self.state.clone()), Path(tag), params).await;
        let TagValuesV1 { tag_values } = reread(answer)?;
        Ok(one(SearchTagValuesResponse {
            tag_values,
            metrics: None,
        }))
    }

    async fn search_tag_values_v2(
        &self,
        request: Request<SearchTagValuesRequest>,
    ) -> Result<Response<Self::SearchTagValuesV2Stream>, Status> {
        let tenant = self.tenant(&request)?;
        let (tag, params) = tag_values_params(request.get_ref());
        let answer =
            tags::tag_values_v2(tenant, State(self.state.clone()), Path(tag), params).await;
        let TagValuesV2 { tag_values } = reread(answer)?;
        let tag_values = tag_values
            .into_iter()
            .map(|v| TagValue {
                r#type: v.value_type,
                value: v.value,
            })
            .collect();
        Ok(one(SearchTagValuesV2Response {
            tag_values,
            metrics: None,
        }))
    }
}

/// The search a gRPC request asks for, by the HTTP API's rules: its fields become the
/// parameters of `/api/search` (Unix seconds, `limit`, `spss`, durations in ms; 0 = absent),
/// and `Tags` the legacy query.
pub fn search_request_params(request: &SearchRequest) -> Result<TracesSearchParams, TempoError> {
    let mut pairs: Vec<(&str, String)> = vec![("q", request.query.clone())];
    let numbers = [
        ("start", request.start),
        ("end", request.end),
        ("limit", request.limit),
        ("spss", request.spans_per_span_set),
    ];
    pairs.extend(
        numbers
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| (*k, v.to_string())),
    );
    let durations = [
        ("minDuration", request.min_duration_ms),
        ("maxDuration", request.max_duration_ms),
    ];
    pairs.extend(
        durations
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| (*k, format!("{v}ms"))),
    );
    let mut params = search::search_params(&query_params(&pairs))?;
    if !request.tags.is_empty() {
        if !request.query.is_empty() {
            return Err(TempoError::bad_request(
                "invalid request: can't specify tags and q in the same query",
            ));
        }
        let tags: BTreeMap<&String, &String> = request.tags.iter().collect();
        let tags: Vec<(String, String)> = tags
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.query = legacy::legacy_query(&tags, params.min_duration_ns, params.max_duration_ns);
    }
    Ok(params)
}

/// `scope`, `start`, `end` and `limit` (`maxTagsPerScope`) of a tag names request.
fn tags_params(request: &SearchTagsRequest) -> Params {
    let mut pairs = vec![("scope", request.scope.clone())];
    pairs.extend(time_and_limit(
        request.start,
        request.end,
        request.max_tags_per_scope,
    ));
    query_params(&pairs)
}

/// The tag as the HTTP path carries it (the handlers decode `%XX` once more, so `%` is
/// escaped) and `q`, `start`, `end`, `limit` (`maxTagValues`).
fn tag_values_params(request: &SearchTagValuesRequest) -> (String, Params) {
    let tag = request.tag_name.replace('%', "%25");
    let mut pairs = vec![("q", request.query.clone())];
    pairs.extend(time_and_limit(
        request.start,
        request.end,
        request.max_tag_values,
    ));
    (tag, query_params(&pairs))
}

fn time_and_limit(start: u32, end: u32, limit: u32) -> Vec<(&'static str, String)> {
    [("start", start), ("end", end), ("limit", limit)]
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| (k, v.to_string()))
        .collect()
}

fn query_params(pairs: &[(&str, String)]) -> Params {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
        .finish();
    Params::parse(Some(&query), None)
}

/// The HTTP handler's JSON answer read back, or its error as a gRPC status.
fn reread<T: DeserializeOwned>(answer: Result<TempoJson, TempoError>) -> Result<T, Status> {
    let TempoJson(json) = answer.map_err(status_from_tempo)?;
    serde_json::from_str(&json)
        .map_err(|e| Status::internal(format!("re-reading a tags answer: {e}")))
}

#[derive(Deserialize)]
struct TagNamesV1 {
    #[serde(rename = "tagNames")]
    tag_names: Vec<String>,
}

#[derive(Deserialize)]
struct TagNamesV2 {
    scopes: Vec<ScopeJson>,
}

#[derive(Deserialize)]
struct ScopeJson {
    name: String,
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct TagValuesV1 {
    #[serde(rename = "tagValues")]
    tag_values: Vec<String>,
}

#[derive(Deserialize)]
struct TagValuesV2 {
    #[serde(rename = "tagValues")]
    tag_values: Vec<TagValueJson>,
}

#[derive(Deserialize)]
struct TagValueJson {
    #[serde(rename = "type")]
    value_type: String,
    value: String,
}

/// The final `SearchResponse`: every trace, the search complete.
pub fn search_response(outcome: TracesSearchOutcome) -> SearchResponse {
    let jobs = saturate(outcome.total_jobs);
    SearchResponse {
        traces: outcome.traces.into_iter().map(trace_metadata).collect(),
        metrics: Some(SearchMetrics {
            inspected_traces: saturate(outcome.inspected_traces),
            inspected_bytes: outcome.inspected_bytes,
            completed_jobs: jobs,
            total_jobs: jobs,
            ..Default::default()
        }),
    }
}

fn trace_metadata(m: TraceqlTraceMatch) -> TraceSearchMetadata {
    let span_sets: Vec<SpanSet> = m.span_sets.into_iter().map(span_set).collect();
    TraceSearchMetadata {
        trace_id: m.trace_id,
        root_service_name: m.root_service_name,
        root_trace_name: m.root_trace_name,
        start_time_unix_nano: m.start_time_unix_nano,
        duration_ms: saturate(m.duration_ms),
        span_set: span_sets.first().cloned(),
        span_sets,
    }
}

fn span_set(s: TraceqlSpanSet) -> SpanSet {
    SpanSet {
        spans: s.spans.into_iter().map(span).collect(),
        matched: s.matched,
        attributes: s.attributes,
    }
}

fn span(s: TraceqlSpan) -> Span {
    Span {
        span_id: s.span_id,
        name: s.name,
        start_time_unix_nano: s.start_time_unix_nano,
        duration_nanos: s.duration_nanos,
        attributes: s.attributes,
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A rejected request with the code of its HTTP status.
pub fn status_from_tempo(e: TempoError) -> Status {
    let kind = match e.status {
        400 => ErrorKind::BadRequest,
        401 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::TooManyRequests,
        503 => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    status(kind, e.message)
}

/// A data-layer failure with the code of its kind.
pub fn status_from_source(e: QuerierError) -> Status {
    status(e.kind(), e.to_string())
}

fn status(kind: ErrorKind, message: String) -> Status {
    if kind.http_status() >= 500 {
        tracing::warn!(error = %message, ?kind, "tempo streaming request failed");
    }
    Status::new(grpc_code(kind), message)
}
