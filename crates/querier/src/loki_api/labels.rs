//! `labels`, `label/<name>/values`, `series`, `index/stats`, `detected_labels` and
//! `patterns`.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use serde::Serialize;
use sextant_model::Labels;

use super::params::{self, bounds, optional_matchers, parse_matchers, selector_matchers};
use super::{LokiApiState, LokiError, LokiJson, LokiTenant};
use crate::api::json::push_labels;
use crate::api::params::Params;

/// The label Grafana asks values of before sharding a query; Sextant does not shard
/// streams, and an empty answer makes Grafana query normally.
const STREAM_SHARD_LABEL: &str = "__stream_shard__";

/// Labels `detected_labels` reports whatever their cardinality (Loki's static labels).
const STATIC_LABELS: [&str; 4] = ["cluster", "instance", "namespace", "pod"];
/// `detected_labels` leaves out labels with this many values or more (IDs, not facets).
const MAX_DETECTED_CARDINALITY: usize = 50;

/// `GET|POST /labels`: `start`, `end`, `since`, optional `query`.
pub async fn label_names(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let (start, end) = bounds(&params, (state.now_ns)())?;
    let matchers = optional_matchers(&params)?;
    let names = state
        .source
        .label_names(&tenant, start, end, matchers.as_deref())
        .await
        .map_err(LokiError::from_source)?;
    strings(&names)
}

/// `GET /label/<name>/values`: `start`, `end`, `since`, optional `query`.
pub async fn label_values(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    Path(name): Path<String>,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let (start, end) = bounds(&params, (state.now_ns)())?;
    let matchers = optional_matchers(&params)?;
    if name == STREAM_SHARD_LABEL {
        return strings(&[]);
    }
    let values = state
        .source
        .label_values(&tenant, &name, start, end, matchers.as_deref())
        .await
        .map_err(LokiError::from_source)?;
    strings(&values)
}

fn strings(items: &[String]) -> Result<LokiJson, LokiError> {
    let data = serde_json::to_string(items)
        .map_err(|e| LokiError::internal(format!("encoding the response: {e}")))?;
    Ok(LokiJson::success(&data))
}

/// `GET|POST /series`: `match[]` (or `match`), repeated; none = every stream.
pub async fn series(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let (start, end) = bounds(&params, (state.now_ns)())?;
    let mut sets = Vec::new();
    for selector in params.all("match").into_iter().chain(params.all("match[]")) {
        sets.push(parse_matchers(selector)?);
    }
    let series = state
        .source
        .series(&tenant, &sets, start, end)
        .await
        .map_err(LokiError::from_source)?;
    let mut data = String::from("[");
    for (i, labels) in series.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        push_labels(&mut data, labels, false);
    }
    data.push(']');
    Ok(LokiJson::success(&data))
}

/// `GET|POST /index/stats`: `query` (its stream selector), and the range query's
/// parameters. Answers `{"streams":..,"chunks":..,"entries":..,"bytes":..}` unwrapped.
pub async fn index_stats(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let (start, end) = params::range_bounds(&params, (state.now_ns)())?;
    params::limit(&params)?;
    params::direction(&params)?;
    params::step(&params, start, end)?;
    let matchers = selector_matchers(params.get("query"))?;
    let stats = state
        .source
        .stats(&tenant, &matchers, start, end)
        .await
        .map_err(LokiError::from_source)?;
    Ok(LokiJson(format!(
        "{{\"streams\":{},\"chunks\":{},\"entries\":{},\"bytes\":{}}}",
        stats.streams, stats.chunks, stats.entries, stats.bytes
    )))
}

#[derive(Debug, PartialEq, Eq, Serialize)]
struct DetectedLabel {
    label: String,
    cardinality: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetectedLabels {
    detected_labels: Vec<DetectedLabel>,
}

/// `GET /detected_labels`: `start`, `end`, optional `query`. The stream labels worth
/// filtering on with their number of values: `{"detectedLabels":[{"label":..,
/// "cardinality":..}]}`.
pub async fn detected_labels(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let (start, end) = bounds(&params, (state.now_ns)())?;
    let sets = match params.get("query") {
        "" => Vec::new(),
        query => vec![selector_matchers(query)?],
    };
    let series = state
        .source
        .series(&tenant, &sets, start, end)
        .await
        .map_err(LokiError::from_source)?;
    LokiJson::serialize(&DetectedLabels {
        detected_labels: detect_labels(&series),
    })
}

/// Labels of `series` with their cardinality, Loki's way: internal (`__`) labels left out,
/// static labels always kept, others only with 2 to 49 values.
fn detect_labels(series: &[Labels]) -> Vec<DetectedLabel> {
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for labels in series {
        for label in labels {
            values.entry(&label.name).or_default().insert(&label.value);
        }
    }
    values
        .into_iter()
        .filter(|(name, values)| {
            !name.starts_with("__")
                && (STATIC_LABELS.contains(name)
                    || (values.len() > 1 && values.len() < MAX_DETECTED_CARDINALITY))
        })
        .map(|(name, values)| DetectedLabel {
            label: name.to_string(),
            cardinality: values.len(),
        })
        .collect()
}

/// `GET /patterns`: Sextant detects no patterns, so the list is empty.
pub async fn patterns(LokiTenant(_tenant): LokiTenant) -> LokiJson {
    LokiJson::success("[]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detected_labels_filter() {
        let mut series = Vec::new();
        for i in 0..60 {
            let id = i.to_string();
            let level = if i % 2 == 0 { "info" } else { "error" };
            series.push(Labels::from_pairs([
                ("namespace", "prod"),
                ("level", level),
                ("job", "nginx"),
                ("request_id", id.as_str()),
                ("__stream_shard__", id.as_str()),
            ]));
        }
        let got = detect_labels(&series);
        let want = vec![
            DetectedLabel {
                label: "level".to_string(),
                cardinality: 2,
            },
            DetectedLabel {
                label: "namespace".to_string(),
                cardinality: 1,
            },
        ];
        assert_eq!(got, want);
    }
}
