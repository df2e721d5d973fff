//! OTLP logs (`POST /otlp/v1/logs`, and the gRPC `LogsService/Export` message) mapped like
//! Loki 3's default OTLP config (`pkg/loghttp/push/otlp.go`): a fixed list of resource
//! attributes become stream labels (`.` → `_`), `service_name` is always set, everything else
//! becomes structured metadata under Loki's names, and the body becomes the line.

mod value;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use sextant_model::Labels;
use sextant_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sextant_proto::otlp::logs::v1::LogRecord;
use sextant_proto::otlp::resource::v1::Resource;

use super::body::{decode_content_encoding, media_type, BodyFormat, SnappyHeader};
use sextant_model::limits::DEFAULT_OTLP_RESOURCE_ATTRIBUTES_AS_LABELS;

use super::{PushError, DEFAULT_DISCOVER_SERVICE_NAME, SERVICE_NAME, UNKNOWN_SERVICE};
use crate::logql::eval::{Entry, Stream};
use crate::model::LogBatch;

const SERVICE_NAME_ATTRIBUTE: &str = "service.name";

/// How OTLP resources become streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpLogsConfig {
    /// Resource attributes that become stream labels (Loki's `index_label` action); the others
    /// become structured metadata.
    pub resource_attributes_as_labels: Vec<String>,
    /// Stream labels (after `.` → `_`) that name the service when `service.name` is absent:
    /// the first such label in attribute order is copied into `service_name`, otherwise it is
    /// `unknown_service`. Empty: no `service_name` is added (Loki's
    /// `discover_service_name`).
    pub discover_service_name: Vec<String>,
}

impl Default for OtlpLogsConfig {
    fn default() -> Self {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        OtlpLogsConfig {
            resource_attributes_as_labels: strings(DEFAULT_OTLP_RESOURCE_ATTRIBUTES_AS_LABELS),
            discover_service_name: strings(DEFAULT_DISCOVER_SERVICE_NAME),
        }
    }
}

/// Decodes an OTLP/HTTP logs body: `application/x-protobuf` (or `application/protobuf`) or
/// OTLP/JSON `application/json`, optionally `gzip`/`deflate` encoded. 415 for other types and
/// encodings, 413 past `max_decompressed` bytes (0 = no limit), 400 for malformed bodies
/// (OTLP/JSON errors name the field: `resourceLogs[0].scopeLogs[0].logRecords[1].timeUnixNano`).
pub fn decode_otlp_logs(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_decompressed: usize,
    config: &OtlpLogsConfig,
) -> Result<LogBatch, PushError> {
    let format = match media_type(content_type).as_deref() {
        Some("application/x-protobuf" | "application/protobuf") => BodyFormat::Protobuf,
        Some("application/json") => BodyFormat::Json,
        _ => {
            return Err(PushError::UnsupportedContentType(
                content_type.unwrap_or("").to_string(),
                "application/x-protobuf or application/json",
            ))
        }
    };
    let body = decode_content_encoding(
        content_encoding,
        body,
        max_decompressed,
        SnappyHeader::Rejected,
    )?;
    let request = match format {
        BodyFormat::Protobuf => ExportLogsServiceRequest::decode(body.as_ref()).map_err(|e| {
            PushError::BadRequest(format!("decoding OTLP protobuf logs request: {e}"))
        })?,
        BodyFormat::Json => decode_json(&body)?,
    };
    Ok(otlp_logs_to_batch(request, config))
}

fn decode_json(body: &[u8]) -> Result<ExportLogsServiceRequest, PushError> {
    let bad = |e: String| PushError::BadRequest(format!("decoding OTLP/JSON logs request: {e}"));
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: ExportLogsServiceRequest =
        serde_path_to_error::deserialize(&mut de).map_err(|e| bad(e.to_string()))?;
    de.end().map_err(|e| bad(e.to_string()))?;
    Ok(request)
}

/// Maps an OTLP logs request onto streams; records without any timestamp get the current time.
pub fn otlp_logs_to_batch(request: ExportLogsServiceRequest, config: &OtlpLogsConfig) -> LogBatch {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    otlp_logs_to_batch_at(request, config, now)
}

/// [`otlp_logs_to_batch`] with the time given to records that have none.
pub fn otlp_logs_to_batch_at(
    request: ExportLogsServiceRequest,
    config: &OtlpLogsConfig,
    now_ns: i64,
) -> LogBatch {
    let mut batch = Batcher::default();
    for resource_logs in request.resource_logs {
        let resource = map_resource(resource_logs.resource.as_ref(), config);
        for scope_logs in resource_logs.scope_logs {
            let scope = scope_metadata(scope_logs.scope.as_ref());
            for record in scope_logs.log_records {
                let entry = map_record(record, &resource.metadata, &scope, now_ns);
                batch.push(&resource.labels, entry);
            }
        }
    }
    LogBatch {
        streams: batch.streams,
    }
}

/// Streams in first-seen order, one per label set.
#[derive(Default)]
struct Batcher {
    streams: Vec<Stream>,
    index: HashMap<Labels, usize>,
}

impl Batcher {
    fn push(&mut self, labels: &Labels, entry: Entry) {
        let i = *self.index.entry(labels.clone()).or_insert_with(|| {
            self.streams.push(Stream {
                labels: labels.clone(),
                entries: Vec::new(),
            });
            self.streams.len() - 1
        });
        self.streams[i].entries.push(entry);
    }
}

type Pairs = Vec<(String, String)>;

struct ResourceMapping {
    labels: Labels,
    metadata: Pairs,
}

fn map_resource(resource: Option<&Resource>, config: &OtlpLogsConfig) -> ResourceMapping {
    let attributes = resource.map_or(&[][..], |r| &r.attributes[..]);
    let mut has_service_name = attributes.iter().any(|kv| {
        kv.key == SERVICE_NAME_ATTRIBUTE && !value::as_string(kv.value.as_ref()).is_empty()
    });
    let discover = !config.discover_service_name.is_empty();
    let mut labels = Pairs::new();
    let mut metadata = Pairs::new();
    for kv in attributes {
        let pairs = attribute_pairs(&kv.key, kv.value.as_ref(), "");
        if !config.resource_attributes_as_labels.contains(&kv.key) {
            metadata.extend(pairs);
            continue;
        }
        for (name, value) in pairs {
            if discover && !has_service_name && config.discover_service_name.contains(&name) {
                labels.push((SERVICE_NAME.to_string(), value.clone()));
                has_service_name = true;
            }
            labels.push((name, value));
        }
    }
    if discover && !has_service_name {
        labels.push((SERVICE_NAME.to_string(), UNKNOWN_SERVICE.to_string()));
    }
    let labels = Labels::from_pairs(labels);
    // An empty value is an absent label.
    let labels = Labels::from_sorted(
        labels
            .into_vec()
            .into_iter()
            .filter(|l| !l.value.is_empty())
            .collect(),
    );
    ResourceMapping { labels, metadata }
}

fn scope_metadata(scope: Option<&InstrumentationScope>) -> Pairs {
    let Some(scope) = scope else {
        return Pairs::new();
    };
    let mut pairs = attributes_pairs(&scope.attributes);
    if !scope.name.is_empty() {
        pairs.push(("scope_name".into(), scope.name.clone()));
    }
    if !scope.version.is_empty() {
        pairs.push(("scope_version".into(), scope.version.clone()));
    }
    if scope.dropped_attributes_count != 0 {
        let count = scope.dropped_attributes_count.to_string();
        pairs.push(("scope_dropped_attributes_count".into(), count));
    }
    pairs
}

/// One record: its own metadata wins over its scope's, which wins over its resource's.
fn map_record(record: LogRecord, resource: &Pairs, scope: &Pairs, now_ns: i64) -> Entry {
    let own = record_metadata(&record);
    let pairs = resource.iter().chain(scope).cloned().chain(own);
    let ts = |ns: u64| i64::try_from(ns).unwrap_or(i64::MAX);
    let ts_ns = match (record.time_unix_nano, record.observed_time_unix_nano) {
        (0, 0) => now_ns,
        (0, observed) => ts(observed),
        (time, _) => ts(time),
    };
    Entry {
        ts_ns,
        line: value::as_string(record.body.as_ref()),
        metadata: Labels::from_pairs(pairs),
    }
}

fn record_metadata(record: &LogRecord) -> Pairs {
    let mut pairs = attributes_pairs(&record.attributes);
    let mut push = |name: &str, value: String| pairs.push((name.to_string(), value));
    if record.time_unix_nano != 0 && record.observed_time_unix_nano != 0 {
        push(
            "observed_timestamp",
            record.observed_time_unix_nano.to_string(),
        );
    }
    if record.severity_number != 0 {
        push("severity_number", record.severity_number.to_string());
    }
    if !record.severity_text.is_empty() {
        push("severity_text", record.severity_text.clone());
    }
    if record.dropped_attributes_count != 0 {
        push(
            "dropped_attributes_count",
            record.dropped_attributes_count.to_string(),
        );
    }
    if record.flags != 0 {
        push("flags", record.flags.to_string());
    }
    if record.trace_id.iter().any(|b| *b != 0) {
        push("trace_id", hex(&record.trace_id));
    }
    if record.span_id.iter().any(|b| *b != 0) {
        push("span_id", hex(&record.span_id));
    }
    pairs
}

fn attributes_pairs(attributes: &[KeyValue]) -> Pairs {
    attributes
        .iter()
        .flat_map(|kv| attribute_pairs(&kv.key, kv.value.as_ref(), ""))
        .collect()
}

/// Loki's `attributeToLabels`: the normalized name and the value as text; maps flatten into
/// `parent_child` names.
fn attribute_pairs(key: &str, value: Option<&AnyValue>, prefix: &str) -> Pairs {
    let name = if prefix.is_empty() {
        normalize_label(key)
    } else {
        normalize_label(&format!("{prefix}_{key}"))
    };
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::KvlistValue(map)) => map
            .values
            .iter()
            .flat_map(|kv| attribute_pairs(&kv.key, kv.value.as_ref(), &name))
            .collect(),
        _ => vec![(name, value::as_string(value))],
    }
}

/// Prometheus' `otlptranslator.NormalizeLabel`: characters other than `[a-zA-Z0-9_]` become
/// `_`; a leading digit gets a `key_` prefix and a single leading `_` a `key` prefix.
fn normalize_label(key: &str) -> String {
    if key.is_empty() {
        return String::new();
    }
    let sanitized: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if sanitized.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{sanitized}")
    } else if sanitized.starts_with('_') && !sanitized.starts_with("__") {
        format!("key{sanitized}")
    } else {
        sanitized
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
