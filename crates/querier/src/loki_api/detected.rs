//! `detected_fields` and `detected_field/<name>/values`: the fields Grafana's query builder
//! offers, found as Loki finds them. The newest `line_limit` entries passing the query are
//! read; each line is parsed as JSON, or as logfmt when it is not JSON, and its structured
//! metadata counts too (with no parser). Stream labels are not fields. A field's type is
//! the first of int, float, boolean, duration, bytes its values all parse as, else string.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use serde::Serialize;
use sextant_logs::logql::ast::{Expr, LogExpr, Stage, UnwrapConversion};
use sextant_logs::logql::eval::Stream;
use sextant_logs::logql::parse::{parse_expr, parse_log_expr};
use sextant_logs::pipeline::{unwrap_value, Pipeline};
use sextant_model::Labels;

use super::params;
use super::{LokiApiState, LokiError, LokiJson, LokiTenant};
use crate::api::params::Params;

/// Lines read, and fields or values returned, when the parameters are absent.
const DEFAULT_LIMIT: usize = 1000;

/// One detected field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectedField {
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: &'static str,
    pub cardinality: usize,
    /// `null` for structured metadata.
    pub parsers: Option<Vec<&'static str>>,
}

#[derive(Serialize)]
struct FieldsAnswer {
    fields: Vec<DetectedField>,
    limit: usize,
}

#[derive(Serialize)]
struct ValuesAnswer {
    values: Vec<String>,
    limit: usize,
}

/// What was seen of one field.
#[derive(Debug, Default)]
struct Seen {
    values: BTreeSet<String>,
    parsers: BTreeSet<&'static str>,
    metadata: bool,
}

/// The JSON and logfmt parsers, run on lines alone.
struct Parsers {
    json: Pipeline,
    logfmt: Pipeline,
}

impl Parsers {
    fn new() -> Result<Self, LokiError> {
        let stages = |query: &str| -> Result<Pipeline, LokiError> {
            let expr = parse_log_expr(query).map_err(|e| LokiError::internal(e.to_string()))?;
            Pipeline::new(&expr.pipeline).map_err(|e| LokiError::internal(e.to_string()))
        };
        Ok(Parsers {
            json: stages(r#"{a="b"} | json"#)?,
            logfmt: stages(r#"{a="b"} | logfmt"#)?,
        })
    }

    /// The fields of one line and the parser that found them.
    fn parse(&self, line: &str) -> Option<(&'static str, Labels)> {
        let none = Labels::default();
        for (name, pipeline) in [("json", &self.json), ("logfmt", &self.logfmt)] {
            let processed = pipeline.process(0, line, &none, &none)?;
            if processed.labels.get("__error__").is_none() {
                return Some((name, processed.labels));
            }
        }
        None
    }
}

/// The fields of `streams`' entries (already limited and filtered).
fn detect(streams: &[Stream]) -> Result<BTreeMap<String, Seen>, LokiError> {
    let parsers = Parsers::new()?;
    let mut fields: BTreeMap<String, Seen> = BTreeMap::new();
    for stream in streams {
        for entry in &stream.entries {
            for label in &entry.metadata {
                let seen = fields.entry(label.name.clone()).or_default();
                seen.metadata = true;
                seen.values.insert(label.value.clone());
            }
            let Some((parser, parsed)) = parsers.parse(&entry.line) else {
                continue;
            };
            for label in parsed.iter().filter(|l| !l.value.is_empty()) {
                if stream.labels.get(&label.name).is_some() || label.name.starts_with("__") {
                    continue;
                }
                let seen = fields.entry(label.name.clone()).or_default();
                seen.parsers.insert(parser);
                seen.values.insert(label.value.clone());
            }
        }
    }
    Ok(fields)
}

/// Loki's `determineType` over every value seen.
fn field_type(values: &BTreeSet<String>) -> &'static str {
    let all = |f: &dyn Fn(&str) -> bool| values.iter().all(|v| f(v));
    if all(&|v| v.parse::<i64>().is_ok()) {
        "int"
    } else if all(&|v| v.parse::<f64>().is_ok()) {
        "float"
    } else if all(&|v| {
        matches!(
            v,
            "1" | "t"
                | "T"
                | "TRUE"
                | "true"
                | "True"
                | "0"
                | "f"
                | "F"
                | "FALSE"
                | "false"
                | "False"
        )
    }) {
        "boolean"
    } else if all(&|v| unwrap_value(UnwrapConversion::Duration, v).is_ok()) {
        "duration"
    } else if all(&|v| unwrap_value(UnwrapConversion::Bytes, v).is_ok()) {
        "bytes"
    } else {
        "string"
    }
}

/// The request shared by both endpoints.
struct DetectedRequest {
    log: LogExpr,
    start_ns: i64,
    end_ns: i64,
    line_limit: usize,
    limit: usize,
}

impl DetectedRequest {
    fn parse(params: &Params, now_ns: i64) -> Result<Self, LokiError> {
        let (start_ns, end_ns) = params::range_bounds(params, now_ns)?;
        let line_limit = positive(params, "line_limit")?;
        let limit = positive(params, "limit")?;
        params::step(params, start_ns, end_ns)?;
        let log = match parse_expr(params.get("query")) {
            Ok(Expr::Log(log)) => log,
            Ok(Expr::Sample(_)) => {
                return Err(LokiError::bad_request("only log queries are supported"))
            }
            Err(e) => return Err(LokiError::bad_request(e.to_string())),
        };
        Ok(DetectedRequest {
            log,
            start_ns,
            end_ns,
            line_limit,
            limit,
        })
    }

    /// The newest `line_limit` entries passing the query's filters, then their fields, on a
    /// blocking thread.
    async fn fields(
        &self,
        state: &LokiApiState,
        tenant: &sextant_model::TenantId,
    ) -> Result<BTreeMap<String, Seen>, LokiError> {
        let streams = state
            .source
            .select(tenant, &self.log.matchers, self.start_ns, self.end_ns)
            .await
            .map_err(LokiError::from_source)?;
        let filters: Vec<Stage> = self
            .log
            .pipeline
            .iter()
            .filter(|s| matches!(s, Stage::LineFilter(_)))
            .cloned()
            .collect();
        let line_limit = self.line_limit;
        let task = tokio::task::spawn_blocking(move || {
            let pipeline =
                Pipeline::new(&filters).map_err(|e| LokiError::bad_request(e.to_string()))?;
            detect(&newest(streams, &pipeline, line_limit))
        });
        task.await
            .map_err(|e| LokiError::internal(format!("detecting fields failed: {e}")))?
    }
}

/// The newest `limit` entries that pass `pipeline`, in their streams.
fn newest(streams: Vec<Stream>, pipeline: &Pipeline, limit: usize) -> Vec<Stream> {
    let mut passing: Vec<(usize, usize)> = Vec::new();
    for (s, stream) in streams.iter().enumerate() {
        for (e, entry) in stream.entries.iter().enumerate() {
            let kept = pipeline.process(entry.ts_ns, &entry.line, &stream.labels, &entry.metadata);
            if kept.is_some() {
                passing.push((s, e));
            }
        }
    }
    passing.sort_by_key(|(s, e)| std::cmp::Reverse(streams[*s].entries[*e].ts_ns));
    passing.truncate(limit);
    let mut out: Vec<Stream> = streams
        .iter()
        .map(|s| Stream {
            labels: s.labels.clone(),
            entries: Vec::new(),
        })
        .collect();
    for (s, e) in passing {
        out[s].entries.push(streams[s].entries[e].clone());
    }
    out.retain(|s| !s.entries.is_empty());
    out
}

fn positive(params: &Params, name: &str) -> Result<usize, LokiError> {
    match params.get(name) {
        "" => Ok(DEFAULT_LIMIT),
        value => match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(LokiError::bad_request(format!(
                "{name} must be a positive value"
            ))),
        },
    }
}

/// `GET /detected_fields`: `query`, `start`, `end`, `line_limit`, `limit`.
/// Answers `{"fields":[..],"limit":N}` unwrapped.
pub async fn detected_fields(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let request = DetectedRequest::parse(&params, (state.now_ns)())?;
    let seen = request.fields(&state, &tenant).await?;
    let fields = seen
        .into_iter()
        .take(request.limit)
        .map(|(label, seen)| DetectedField {
            field_type: field_type(&seen.values),
            cardinality: seen.values.len(),
            parsers: (!seen.metadata || !seen.parsers.is_empty())
                .then(|| seen.parsers.into_iter().collect()),
            label,
        })
        .collect();
    LokiJson::serialize(&FieldsAnswer {
        fields,
        limit: request.limit,
    })
}

/// `GET /detected_field/<name>/values`: the field's distinct values, sorted:
/// `{"values":[..],"limit":N}`.
pub async fn detected_field_values(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    Path(name): Path<String>,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let request = DetectedRequest::parse(&params, (state.now_ns)())?;
    let mut seen = request.fields(&state, &tenant).await?;
    let values = seen
        .remove(&name)
        .map(|s| s.values.into_iter().take(request.limit).collect())
        .unwrap_or_default();
    LokiJson::serialize(&ValuesAnswer {
        values,
        limit: request.limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_logs::logql::eval::Entry;

    #[test]
    fn types_like_loki() {
        let cases: &[(&[&str], &str)] = &[
            (&["1", "-2"], "int"),
            (&["1", "2.5"], "float"),
            (&["true", "False"], "boolean"),
            (&["12ms", "1h2m"], "duration"),
            (&["10KB", "3 MiB"], "bytes"),
            (&["12ms", "fast"], "string"),
        ];
        for (values, want) in cases {
            let set: BTreeSet<String> = values.iter().map(|v| v.to_string()).collect();
            assert_eq!(field_type(&set), *want, "{values:?}");
        }
    }

    #[test]
    fn fields_from_json_logfmt_and_metadata() {
        let entry = |line: &str, metadata: Labels| Entry {
            ts_ns: 0,
            line: line.to_string(),
            metadata,
        };
        let streams = vec![Stream {
            labels: Labels::from_pairs([("app", "a")]),
            entries: vec![
                entry(
                    r#"{"level":"info","latency":"12ms","app":"x"}"#,
                    Labels::default(),
                ),
                entry(
                    "level=error status=500",
                    Labels::from_pairs([("trace_id", "t1")]),
                ),
            ],
        }];
        let fields = detect(&streams).unwrap();
        let got: Vec<(&str, Vec<&str>, bool, usize)> = fields
            .iter()
            .map(|(name, seen)| {
                let parsers = seen.parsers.iter().copied().collect();
                (name.as_str(), parsers, seen.metadata, seen.values.len())
            })
            .collect();
        let want = vec![
            ("latency", vec!["json"], false, 1),
            ("level", vec!["json", "logfmt"], false, 2),
            ("status", vec!["logfmt"], false, 1),
            ("trace_id", vec![], true, 1),
        ];
        assert_eq!(got, want);
    }
}
