//! Tag autocomplete: `/api/search/tags` (`{"tagNames":[..]}`, attribute names of every
//! scope), `/api/v2/search/tags` (`{"scopes":[..]}`, with Tempo's intrinsics as the
//! `intrinsic` scope), `/api/search/tag/<t>/values` (`{"tagValues":["a"]}`, `<t>` an
//! unscoped attribute name) and `/api/v2/search/tag/<t>/values` (typed values, `<t>` a TraceQL
//! identifier, filtered by `q` when it is a valid query and unfiltered when it is not, as
//! Grafana sends half-typed queries). `start`/`end` (Unix seconds) and `limit` optional.
//!
//! As Tempo does, the values of `status` and `kind` are their keywords and durations have
//! no values, without asking the data layer; v1 keeps Tempo's virtual `status.code` and
//! `error` tags.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use serde::Serialize;
use sextant_traces::traceql::eval::TraceqlEvaluator;
use sextant_traces::traceql::{
    parse, Attribute, FieldExpr, Intrinsic, RootExpr, SpansetExpr, Stage,
};

use super::params::{decode_tag, optional_count, time_range_ns};
use super::{legacy, TempoApiState, TempoError, TempoJson, TempoTenant};
use crate::api::params::Params;
use crate::traces_source::{TracesTagScope, TracesTagValue};

/// The attribute scopes a v2 request may name (besides `intrinsic`).
pub const ATTRIBUTE_SCOPES: [&str; 5] = ["resource", "span", "event", "link", "instrumentation"];

/// The scope of intrinsics in `/api/v2/search/tags`.
pub const INTRINSIC_SCOPE: &str = "intrinsic";

/// The intrinsics Tempo offers for autocomplete (`search.GetVirtualIntrinsicValues`).
pub const INTRINSIC_TAGS: [Intrinsic; 20] = [
    Intrinsic::Duration,
    Intrinsic::Kind,
    Intrinsic::Name,
    Intrinsic::Status,
    Intrinsic::StatusMessage,
    Intrinsic::TraceDuration,
    Intrinsic::RootServiceName,
    Intrinsic::RootName,
    Intrinsic::SpanStatus,
    Intrinsic::SpanStatusMessage,
    Intrinsic::SpanDuration,
    Intrinsic::SpanName,
    Intrinsic::SpanKind,
    Intrinsic::TraceScopedRootName,
    Intrinsic::TraceScopedRootService,
    Intrinsic::TraceScopedDuration,
    Intrinsic::EventName,
    Intrinsic::EventTimeSinceStart,
    Intrinsic::InstrumentationName,
    Intrinsic::InstrumentationVersion,
];

const STATUS_VALUES: [&str; 3] = ["ok", "error", "unset"];
const KIND_VALUES: [&str; 6] = [
    "client",
    "server",
    "producer",
    "consumer",
    "internal",
    "unspecified",
];

/// `GET /api/search/tags`.
pub async fn tag_names_v1(
    TempoTenant(tenant): TempoTenant,
    State(state): State<TempoApiState>,
    params: Params,
) -> Result<TempoJson, TempoError> {
    let (start_ns, end_ns) = time_range_ns(&params)?;
    let limit = optional_count(&params, "limit")?;
    let scopes = state
        .source
        .tag_names(&tenant, "", start_ns, end_ns, limit)
        .await
        .map_err(TempoError::from_source)?;
    let names: BTreeSet<&str> = scopes
        .iter()
        .flat_map(|s| s.tags.iter().map(String::as_str))
        .collect();
    #[derive(Serialize)]
    struct Answer<'a> {
        #[serde(rename = "tagNames")]
        tag_names: BTreeSet<&'a str>,
    }
    TempoJson::serialize(&Answer { tag_names: names })
}

/// `GET /api/v2/search/tags`.
pub async fn tag_names_v2(
    TempoTenant(tenant): TempoTenant,
    State(state): State<TempoApiState>,
    params: Params,
) -> Result<TempoJson, TempoError> {
    let scope = match params.get("scope") {
        "none" => "",
        scope => scope,
    };
    if !(scope.is_empty() || scope == INTRINSIC_SCOPE || ATTRIBUTE_SCOPES.contains(&scope)) {
        return Err(TempoError::bad_request(format!("invalid scope: {scope}")));
    }
    let (start_ns, end_ns) = time_range_ns(&params)?;
    let limit = optional_count(&params, "limit")?;
    let mut scopes = Vec::new();
    if scope != INTRINSIC_SCOPE {
        scopes = state
            .source
            .tag_names(&tenant, scope, start_ns, end_ns, limit)
            .await
            .map_err(TempoError::from_source)?;
    }
    if scope.is_empty() || scope == INTRINSIC_SCOPE {
        scopes.push(TracesTagScope {
            name: INTRINSIC_SCOPE.to_owned(),
            tags: INTRINSIC_TAGS
                .iter()
                .map(|i| i.as_str().to_owned())
                .collect(),
        });
    }
    #[derive(Serialize)]
    struct Scope<'a> {
        name: &'a str,
        tags: &'a [String],
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        scopes: Vec<Scope<'a>>,
    }
    let scopes = scopes
        .iter()
        .map(|s| Scope {
            name: &s.name,
            tags: &s.tags,
        })
        .collect();
    TempoJson::serialize(&Answer { scopes })
}

/// `GET /api/search/tag/<tag>/values`: `<tag>` is an attribute name of any scope.
pub async fn tag_values_v1(
    TempoTenant(tenant): TempoTenant,
    State(state): State<TempoApiState>,
    Path(raw): Path<String>,
    params: Params,
) -> Result<TempoJson, TempoError> {
    let tag = decode_tag(&raw);
    if tag.is_empty() {
        return Err(TempoError::bad_request(
            "please provide a non-empty tagName",
        ));
    }
    let values: Vec<String> = match virtual_values_v1(&tag) {
        Some(values) => values.iter().map(|v| v.to_string()).collect(),
        None => {
            let identifier = legacy::attribute(&tag);
            let values = fetch_values(&state, &tenant, &identifier, &params).await?;
            let unique: BTreeSet<String> = values.into_iter().map(|v| v.value).collect();
            unique.into_iter().collect()
        }
    };
    #[derive(Serialize)]
    struct Answer {
        #[serde(rename = "tagValues")]
        tag_values: Vec<String>,
    }
    TempoJson::serialize(&Answer { tag_values: values })
}

/// `GET /api/v2/search/tag/<tag>/values`: `<tag>` is a TraceQL identifier.
pub async fn tag_values_v2(
    TempoTenant(tenant): TempoTenant,
    State(state): State<TempoApiState>,
    Path(raw): Path<String>,
    params: Params,
) -> Result<TempoJson, TempoError> {
    let tag = decode_tag(&raw);
    let attribute = identifier(&tag)?;
    let values = match virtual_values_v2(&attribute) {
        Some(values) => values,
        None => fetch_values(&state, &tenant, &tag, &params).await?,
    };
    #[derive(Serialize)]
    struct Value<'a> {
        #[serde(rename = "type")]
        value_type: &'a str,
        value: &'a str,
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        #[serde(rename = "tagValues")]
        tag_values: Vec<Value<'a>>,
    }
    let tag_values = values
        .iter()
        .map(|v| Value {
            value_type: &v.value_type,
            value: &v.value,
        })
        .collect();
    TempoJson::serialize(&Answer { tag_values })
}

async fn fetch_values(
    state: &TempoApiState,
    tenant: &sextant_model::TenantId,
    identifier: &str,
    params: &Params,
) -> Result<Vec<TracesTagValue>, TempoError> {
    let (start_ns, end_ns) = time_range_ns(params)?;
    let limit = optional_count(params, "limit")?;
    let query = usable_filter(params.get("q"));
    state
        .source
        .tag_values(tenant, identifier, query, start_ns, end_ns, limit)
        .await
        .map_err(TempoError::from_source)
}

/// `q` when it is a query that runs; `""` (no filter) otherwise, e.g. the half-typed
/// `{ resource.service.name = "a" && }` of an editor.
pub fn usable_filter(q: &str) -> &str {
    if q.trim().is_empty() {
        return "";
    }
    let runs = parse(q).is_ok_and(|parsed| TraceqlEvaluator::new(&parsed).is_ok());
    if !runs {
        tracing::debug!(query = q, "ignoring a tag values filter that does not run");
        return "";
    }
    q
}

/// The attribute a TraceQL identifier (`resource.service.name`, `.foo`, `name`,
/// `span:status`) names; 400 for anything else.
pub fn identifier(tag: &str) -> Result<Attribute, TempoError> {
    let invalid = |reason: &str| {
        TempoError::bad_request(format!("please provide a valid tagName: {tag:?} {reason}"))
    };
    if tag.is_empty() {
        return Err(invalid("is empty"));
    }
    let parsed = parse(&format!("{{ {tag} }}")).map_err(|e| invalid(&e.to_string()))?;
    let RootExpr::Pipeline(pipeline) = &parsed.expr else {
        return Err(invalid("is not an attribute"));
    };
    match (&pipeline.stages[..], parsed.hints.is_empty()) {
        ([Stage::Spanset(SpansetExpr::Filter(FieldExpr::Attribute(a)))], true) => Ok(a.clone()),
        _ => Err(invalid("is not an attribute")),
    }
}

/// Tempo's fixed values of intrinsics (`search.GetVirtualTagValuesV2`).
fn virtual_values_v2(attribute: &Attribute) -> Option<Vec<TracesTagValue>> {
    let Attribute::Intrinsic(intrinsic) = attribute else {
        return None;
    };
    let keywords: &[&str] = match intrinsic {
        Intrinsic::Status | Intrinsic::SpanStatus => &STATUS_VALUES,
        Intrinsic::Kind | Intrinsic::SpanKind => &KIND_VALUES,
        Intrinsic::Duration
        | Intrinsic::SpanDuration
        | Intrinsic::TraceDuration
        | Intrinsic::TraceScopedDuration => &[],
        _ => return None,
    };
    let values = keywords
        .iter()
        .map(|k| TracesTagValue {
            value_type: "keyword".to_owned(),
            value: (*k).to_owned(),
        })
        .collect();
    Some(values)
}

/// Tempo's virtual v1 tags (`search.GetVirtualTagValues`).
fn virtual_values_v1(tag: &str) -> Option<&'static [&'static str]> {
    match tag {
        "status.code" => Some(&["unset", "ok", "error"]),
        "error" => Some(&["true"]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use sextant_traces::traceql::AttributeScope;

    use super::*;

    #[test]
    fn identifiers() {
        let named = |scope, name: &str| Attribute::Named {
            scope,
            parent: false,
            name: name.to_owned(),
        };
        let cases = [
            (
                "resource.service.name",
                Some(named(AttributeScope::Resource, "service.name")),
            ),
            (".foo", Some(named(AttributeScope::None, "foo"))),
            ("span.\"a b\"", Some(named(AttributeScope::Span, "a b"))),
            ("name", Some(Attribute::Intrinsic(Intrinsic::Name))),
            (
                "span:status",
                Some(Attribute::Intrinsic(Intrinsic::SpanStatus)),
            ),
            ("", None),
            ("foo", None),
            (".a = 1", None),
            (".a } || { .b", None),
            ("1", None),
        ];
        for (tag, want) in cases {
            match (identifier(tag), want) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{tag}"),
                (Err(e), None) => {
                    assert_eq!(e.status, 400);
                    assert!(e.message.starts_with("please provide a valid tagName"));
                }
                (got, want) => panic!("{tag}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn filters() {
        let cases = [
            ("", ""),
            ("  ", ""),
            ("{}", "{}"),
            (
                r#"{ resource.service.name = "a" }"#,
                r#"{ resource.service.name = "a" }"#,
            ),
            (r#"{ resource.service.name = "a" && }"#, ""),
            ("{ .a = ", ""),
            ("{ } | rate()", ""),
        ];
        for (q, want) in cases {
            assert_eq!(usable_filter(q), want, "{q}");
        }
    }

    #[test]
    fn virtual_values() {
        let status = virtual_values_v2(&Attribute::Intrinsic(Intrinsic::Status)).unwrap();
        let texts: Vec<(&str, &str)> = status
            .iter()
            .map(|v| (v.value_type.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("keyword", "ok"),
                ("keyword", "error"),
                ("keyword", "unset")
            ]
        );
        let kinds = virtual_values_v2(&Attribute::Intrinsic(Intrinsic::SpanKind)).unwrap();
        assert_eq!(kinds.len(), 6);
        let duration = virtual_values_v2(&Attribute::Intrinsic(Intrinsic::TraceDuration));
        assert_eq!(duration, Some(vec![]));
        assert_eq!(
            virtual_values_v2(&Attribute::Intrinsic(Intrinsic::Name)),
            None
        );
        assert_eq!(virtual_values_v1("error"), Some(&["true"][..]));
        assert_eq!(virtual_values_v1("service.name"), None);
    }
}
