//! Query answers compared across a change underneath the querier (compaction): the data part
//! of Prometheus and Loki API answers and of Tempo searches, order-normalized, so answers that
//! mean the same are equal as JSON and anything else (a missing sample, a doubled count) is not.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use crate::remote_write::TENANT_HEADER;

/// Which API answers a query, and so which part of its answer is data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerApi {
    /// `/prometheus/api/v1/...`: `data.resultType` and `data.result`.
    Prometheus,
    /// `/loki/api/v1/...`: `data.resultType` and `data.result` (`data.stats` varies).
    Loki,
    /// `/api/search`: `traces` (`metrics` counts what was read, which compaction changes).
    TempoSearch,
}

/// One query of a comparison: a name for reports, the API path and its parameters.
#[derive(Debug, Clone)]
pub struct AnswerQuery {
    pub name: String,
    pub api: AnswerApi,
    pub path: &'static str,
    pub params: Vec<(&'static str, String)>,
}

impl AnswerQuery {
    pub fn new(
        name: impl Into<String>,
        api: AnswerApi,
        path: &'static str,
        params: &[(&'static str, String)],
    ) -> Self {
        AnswerQuery {
            name: name.into(),
            api,
            path,
            params: params.to_vec(),
        }
    }
}

/// A client of one querier's HTTP APIs as one tenant.
#[derive(Debug, Clone)]
pub struct AnswerClient {
    base: String,
    tenant: String,
    http: reqwest::Client,
}

impl AnswerClient {
    /// `base` is `http://host:port`.
    pub fn new(base: impl Into<String>, tenant: &str) -> Result<Self> {
        Ok(AnswerClient {
            base: base.into(),
            tenant: tenant.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        })
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The whole JSON body of a GET; a status other than 200 is an error.
    pub async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .header(TENANT_HEADER, &self.tenant)
            .query(params)
            .send()
            .await
            .with_context(|| format!("GET {path} {params:?}"))?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status == 200, "GET {path} {params:?}: {status} {body}");
        serde_json::from_str(&body).with_context(|| format!("GET {path}: not JSON: {body}"))
    }

    /// The normalized data part of `query`'s answer.
    pub async fn answer(&self, query: &AnswerQuery) -> Result<Value> {
        let body = self.get(query.path, &query.params).await?;
        match query.api {
            AnswerApi::Prometheus | AnswerApi::Loki => {
                ensure!(body["status"] == "success", "{}: {body}", query.name);
                Ok(normalize_result(&body["data"]))
            }
            AnswerApi::TempoSearch => Ok(normalize_search(&body)),
        }
    }

    /// Every query's normalized answer, by name.
    pub async fn answers(&self, queries: &[AnswerQuery]) -> Result<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        for query in queries {
            let answer = self
                .answer(query)
                .await
                .with_context(|| format!("{} as {}", query.name, self.tenant))?;
            out.insert(query.name.clone(), answer);
        }
        Ok(out)
    }
}

/// `resultType` and `result` of a Prometheus or Loki `data`, the result's items sorted (by
/// their labels, which come first in each item's JSON).
pub fn normalize_result(data: &Value) -> Value {
    let mut result = data["result"].clone();
    if let Some(items) = result.as_array_mut() {
        items.sort_by_key(|item| item.to_string());
    }
    json!({"resultType": data["resultType"], "result": result})
}

/// The `traces` of a Tempo search, sorted by trace ID, with every array inside a trace
/// sorted too (span sets and their spans and attributes are sets).
pub fn normalize_search(body: &Value) -> Value {
    let mut traces = body["traces"].clone();
    if let Some(items) = traces.as_array_mut() {
        items.iter_mut().for_each(sort_arrays_deep);
        items.sort_by_key(|t| (t["traceID"].to_string(), t.to_string()));
    }
    json!({ "traces": traces })
}

fn sort_arrays_deep(value: &mut Value) {
    match value {
        Value::Array(items) => {
            items.iter_mut().for_each(sort_arrays_deep);
            items.sort_by_key(|item| item.to_string());
        }
        Value::Object(fields) => fields.values_mut().for_each(sort_arrays_deep),
        _ => {}
    }
}

/// The names of the answers that differ, each with both sides (shortened).
pub fn differences(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
) -> Vec<String> {
    let shorten = |v: Option<&Value>| {
        let text = v.map_or_else(|| "(none)".to_string(), Value::to_string);
        match text.char_indices().nth(600) {
            Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
            None => text,
        }
    };
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .map(|name| {
            format!(
                "{name}:\n  before: {}\n  after:  {}",
                shorten(before.get(name)),
                shorten(after.get(name))
            )
        })
        .collect()
}

/// The number of points (`values` of a matrix, `value` of a vector, `values` of streams) in a
/// normalized answer.
pub fn points(answer: &Value) -> usize {
    let Some(items) = answer["result"].as_array() else {
        return 0;
    };
    items
        .iter()
        .map(|item| match item["values"].as_array() {
            Some(values) => values.len(),
            None => usize::from(!item["value"].is_null()),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_compare_equal_whatever_their_order_and_stats() {
        let a = json!({"resultType": "matrix", "result": [
            {"metric": {"i": "1"}, "values": [[1, "1"], [2, "2"]]},
            {"metric": {"i": "2"}, "values": [[1, "5"]]}], "stats": {"bytes": 1}});
        let b = json!({"resultType": "matrix", "result": [
            {"metric": {"i": "2"}, "values": [[1, "5"]]},
            {"metric": {"i": "1"}, "values": [[1, "1"], [2, "2"]]}], "stats": {"bytes": 9}});
        assert_eq!(normalize_result(&a), normalize_result(&b));
        assert_eq!(points(&normalize_result(&a)), 3);
    }

    #[test]
    fn a_changed_value_a_lost_point_or_a_doubled_series_differ() {
        let base = json!({"resultType": "matrix", "result": [
            {"metric": {"i": "1"}, "values": [[1, "1"], [2, "2"]]}]});
        let cases = [
            json!({"resultType": "matrix", "result": [
                {"metric": {"i": "1"}, "values": [[1, "1"], [2, "4"]]}]}),
            json!({"resultType": "matrix", "result": [
                {"metric": {"i": "1"}, "values": [[1, "1"]]}]}),
            json!({"resultType": "matrix", "result": [
                {"metric": {"i": "1"}, "values": [[1, "1"], [2, "2"]]},
                {"metric": {"i": "1"}, "values": [[1, "1"], [2, "2"]]}]}),
        ];
        for case in cases {
            assert_ne!(normalize_result(&base), normalize_result(&case), "{case}");
        }
    }

    #[test]
    fn searches_compare_as_sets_of_traces() {
        let a = json!({"traces": [
            {"traceID": "b", "spanSets": [{"spans": [{"spanID": "2"}, {"spanID": "1"}]}]},
            {"traceID": "a"}], "metrics": {"inspectedBytes": "10"}});
        let b = json!({"traces": [
            {"traceID": "a"},
            {"traceID": "b", "spanSets": [{"spans": [{"spanID": "1"}, {"spanID": "2"}]}]}],
            "metrics": {"inspectedBytes": "30"}});
        assert_eq!(normalize_search(&a), normalize_search(&b));
        let c = json!({"traces": [{"traceID": "a"}]});
        assert_ne!(normalize_search(&a), normalize_search(&c));
    }

    #[test]
    fn differences_name_the_changed_answers() {
        let before: BTreeMap<String, Value> =
            [("q1".to_string(), json!(1)), ("q2".to_string(), json!(2))].into();
        let after: BTreeMap<String, Value> =
            [("q1".to_string(), json!(1)), ("q2".to_string(), json!(3))].into();
        let diff = differences(&before, &after);
        assert_eq!(diff.len(), 1);
        assert!(diff[0].starts_with("q2:"), "{diff:?}");
        assert!(differences(&before, &before).is_empty());
    }
}
