//! `labels`, `label/<name>/values`, `series`, `metadata`, `status/buildinfo`, `rules`,
//! `alerts`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use serde::Serialize;

use super::params::{unescape_label_name, Params, MAX_TIME_MS, MIN_TIME_MS};
use super::{json, ApiState, PromError, Success, Tenant};

const TRUNCATED: &str = "results truncated due to limit";

/// The selection shared by the label and series endpoints.
struct Selection {
    limit: usize,
    start_ms: i64,
    end_ms: i64,
    matcher_sets: Vec<Vec<sextant_model::Matcher>>,
}

impl Selection {
    /// `limit`, `start`, `end` (default: all time) and `match[]`, checked in Prometheus's order.
    fn parse(params: &Params) -> Result<Self, PromError> {
        Ok(Selection {
            limit: params.limit()?,
            start_ms: params.time_or("start", MIN_TIME_MS)?,
            end_ms: params.time_or("end", MAX_TIME_MS)?,
            matcher_sets: params.matcher_sets()?,
        })
    }

    /// The limit to ask the source for: one more than `limit`, to detect truncation.
    fn source_limit(&self) -> usize {
        if self.limit == 0 {
            0
        } else {
            self.limit.saturating_add(1)
        }
    }

    /// Cuts `items` to `limit`, adding the truncation warning when needed.
    fn finish<T>(&self, mut items: Vec<T>) -> (Vec<T>, Vec<String>) {
        if self.limit > 0 && items.len() > self.limit {
            items.truncate(self.limit);
            return (items, vec![TRUNCATED.to_string()]);
        }
        (items, Vec::new())
    }
}

/// `GET|POST /labels`.
pub async fn label_names(
    State(state): State<ApiState>,
    Tenant(tenant): Tenant,
    params: Params,
) -> Result<Success, PromError> {
    let sel = Selection::parse(&params)?;
    let names = state
        .source
        .label_names(
            &tenant,
            sel.start_ms,
            sel.end_ms,
            &sel.matcher_sets,
            sel.source_limit(),
        )
        .await
        .map_err(PromError::from_source)?;
    strings(&sel, names)
}

/// `GET /label/<name>/values`; the name may be `U__`-escaped.
pub async fn label_values(
    State(state): State<ApiState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    params: Params,
) -> Result<Success, PromError> {
    let name = unescape_label_name(&name);
    if name.is_empty() {
        return Err(PromError::bad_data(format!("invalid label name: {name:?}")));
    }
    let sel = Selection::parse(&params)?;
    let values = state
        .source
        .label_values(
            &tenant,
            &name,
            sel.start_ms,
            sel.end_ms,
            &sel.matcher_sets,
            sel.source_limit(),
        )
        .await
        .map_err(PromError::from_source)?;
    strings(&sel, values)
}

fn strings(sel: &Selection, items: Vec<String>) -> Result<Success, PromError> {
    let (items, warnings) = sel.finish(items);
    let mut success = Success::json(&items)?;
    success.warnings = warnings;
    Ok(success)
}

/// `GET|POST /series`: `match[]` is required.
pub async fn series(
    State(state): State<ApiState>,
    Tenant(tenant): Tenant,
    params: Params,
) -> Result<Success, PromError> {
    if params.all("match[]").is_empty() {
        return Err(PromError::bad_data("no match[] parameter provided"));
    }
    let sel = Selection::parse(&params)?;
    let series = state
        .source
        .series(
            &tenant,
            sel.start_ms,
            sel.end_ms,
            &sel.matcher_sets,
            sel.source_limit(),
        )
        .await
        .map_err(PromError::from_source)?;
    let (series, warnings) = sel.finish(series);
    let mut data = String::from("[");
    for (i, labels) in series.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        json::push_labels(&mut data, labels, false);
    }
    data.push(']');
    let mut success = Success::new(data);
    success.warnings = warnings;
    Ok(success)
}

/// One entry of `/metadata`.
#[derive(Serialize)]
struct MetadataJson<'a> {
    #[serde(rename = "type")]
    metric_type: &'a str,
    help: &'a str,
    unit: &'a str,
}

/// `GET /metadata`: `metric`, `limit` (families; negative = none), `limit_per_metric`.
pub async fn metadata(
    State(state): State<ApiState>,
    Tenant(tenant): Tenant,
    params: Params,
) -> Result<Success, PromError> {
    let limit = metadata_limit(&params, "limit")?;
    let per_metric = metadata_limit(&params, "limit_per_metric")?;
    if limit == Some(0) {
        return Success::json(&BTreeMap::<String, Vec<MetadataJson<'_>>>::new());
    }
    let families = state
        .source
        .metadata(&tenant, params.get("metric"), limit.unwrap_or(0))
        .await
        .map_err(PromError::from_source)?;
    let mut out = BTreeMap::new();
    for (name, entries) in &families {
        let keep = match per_metric {
            Some(n) if n > 0 => n,
            _ => entries.len(),
        };
        let entries: Vec<MetadataJson<'_>> = entries
            .iter()
            .take(keep)
            .map(|e| MetadataJson {
                metric_type: &e.metric_type,
                help: &e.help,
                unit: &e.unit,
            })
            .collect();
        out.insert(name.as_str(), entries);
    }
    Success::json(&out)
}

/// A metadata limit: `None` when absent or negative.
fn metadata_limit(params: &Params, name: &str) -> Result<Option<usize>, PromError> {
    let value = params.get(name);
    if value.is_empty() {
        return Ok(None);
    }
    let n: i64 = value
        .parse()
        .map_err(|_| PromError::bad_data(format!("{name} must be a number")))?;
    Ok(usize::try_from(n).ok())
}

/// `GET /status/buildinfo`.
pub async fn build_info(State(state): State<ApiState>) -> Result<Success, PromError> {
    Success::json(&state.build_info)
}
