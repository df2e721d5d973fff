//! Loki's push API: `logproto.PushRequest` as snappy-compressed protobuf (Promtail, Alloy,
//! Fluent Bit, Vector) and its JSON form (`{"streams":[{"stream":{..},"values":[[ts, line,
//! {metadata}]]}]}`, Vector, Fluent Bit, python-logging-loki), both optionally gzip/deflate
//! encoded. Behaviour follows Loki's `pkg/loghttp/push` (v1 API).

use prost::Message;
use serde_json::{Map, Value};
use sextant_model::{Label, Labels};
use sextant_proto::loki::{EntryAdapter, PushRequest, StreamAdapter};

use super::body::{
    decode_content_encoding, decode_snappy_block, media_type, BodyFormat, SnappyHeader,
};
use super::selector::parse_stream_labels;
use super::{PushError, SERVICE_NAME, UNKNOWN_SERVICE};
use crate::logql::eval::{Entry, Stream};
use crate::model::LogBatch;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Decodes the body of `POST /loki/api/v1/push`.
///
/// `Content-Type` `application/x-protobuf` (or none, as Loki) is a snappy-block protobuf
/// `PushRequest`; `application/json` is Loki's JSON push. `Content-Encoding` may be `gzip`,
/// `deflate`, `snappy` (ignored: protobuf bodies are snappy anyway) or none. Errors: 415 for
/// other types and encodings, 413 past `max_decompressed` bytes (0 = no limit), 400 naming
/// the field for malformed bodies (`streams[2].values[5][0]: invalid timestamp "abc"`).
///
/// Stream labels with an empty value are dropped and streams without entries skipped; label
/// *names* are checked by [`super::validate`] (stream by stream, like Loki's partial accept).
pub fn decode_loki_push(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_decompressed: usize,
) -> Result<LogBatch, PushError> {
    let format = match media_type(content_type).as_deref() {
        None | Some(PROTOBUF) => BodyFormat::Protobuf,
        Some(JSON) => BodyFormat::Json,
        Some(_) => {
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
        SnappyHeader::Accepted,
    )?;
    match format {
        BodyFormat::Protobuf => {
            let raw = decode_snappy_block(&body, max_decompressed)?;
            let request = PushRequest::decode(raw.as_slice()).map_err(|e| {
                PushError::BadRequest(format!("decoding protobuf push request: {e}"))
            })?;
            batch_from_proto(request).map_err(PushError::BadRequest)
        }
        BodyFormat::Json => batch_from_json(&body).map_err(PushError::BadRequest),
    }
}

/// Loki 3's service name discovery on Loki pushes (`discover_service_name`, default
/// [`super::DEFAULT_DISCOVER_SERVICE_NAME`]; empty switches it off): a stream without
/// `service_name` gets the value of the first of `discover` it has, else `unknown_service`.
/// The added label does not count against `max_label_names_per_series`.
pub fn discover_service_name(batch: &mut LogBatch, discover: &[String]) {
    if discover.is_empty() {
        return;
    }
    for stream in &mut batch.streams {
        if stream.labels.get(SERVICE_NAME).is_some() {
            continue;
        }
        let service = discover
            .iter()
            .find_map(|name| stream.labels.get(name).filter(|v| !v.is_empty()))
            .unwrap_or(UNKNOWN_SERVICE)
            .to_string();
        let mut labels = stream.labels.clone().into_vec();
        labels.push(Label::new(SERVICE_NAME, service));
        stream.labels = Labels::from_pairs(labels.into_iter().map(|l| (l.name, l.value)));
    }
}

pub(super) fn batch_from_proto(request: PushRequest) -> Result<LogBatch, String> {
    let mut streams = Vec::with_capacity(request.streams.len());
    for (i, stream) in request.streams.into_iter().enumerate() {
        if let Some(stream) = stream_from_proto(stream).map_err(|e| format!("streams[{i}].{e}"))? {
            streams.push(stream);
        }
    }
    Ok(LogBatch { streams })
}

fn stream_from_proto(stream: StreamAdapter) -> Result<Option<Stream>, String> {
    if stream.entries.is_empty() {
        return Ok(None);
    }
    let labels = labels_from_text(&stream.labels).map_err(|e| format!("labels: {e}"))?;
    let entries = stream
        .entries
        .into_iter()
        .enumerate()
        .map(|(j, e)| entry_from_proto(e).map_err(|e| format!("entries[{j}].{e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Stream { labels, entries }))
}

/// Parses the label text of a protobuf stream, with Loki's error texts.
fn labels_from_text(text: &str) -> Result<Labels, String> {
    let mut labels = parse_stream_labels(text)
        .map_err(|e| format!("Error parsing labels '{text}' with error: {e}"))?;
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = labels.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(format!(
            "stream '{text}' has duplicate label name: '{}'",
            w[0].name
        ));
    }
    Ok(Labels::from_sorted(labels))
}

fn entry_from_proto(entry: EntryAdapter) -> Result<Entry, String> {
    let ts_ns = match entry.timestamp {
        None => 0,
        Some(ts) => ts
            .seconds
            .checked_mul(1_000_000_000)
            .and_then(|ns| ns.checked_add(i64::from(ts.nanos)))
            .ok_or_else(|| format!("timestamp: out of range ({}s)", ts.seconds))?,
    };
    let metadata = Labels::from_pairs(
        entry
            .structured_metadata
            .into_iter()
            .map(|l| (l.name, l.value)),
    );
    Ok(Entry {
        ts_ns,
        line: entry.line,
        metadata,
    })
}

fn batch_from_json(body: &[u8]) -> Result<LogBatch, String> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| format!("decoding JSON push request: {e}"))?;
    let Value::Object(mut root) = root else {
        return Err("expected a JSON object with \"streams\"".to_string());
    };
    let streams = match root.remove("streams") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(streams)) => streams,
        Some(_) => return Err("streams: expected an array".to_string()),
    };
    let mut batch = LogBatch::default();
    for (i, stream) in streams.into_iter().enumerate() {
        let path = format!("streams[{i}]");
        if let Some(stream) = stream_from_json(&path, stream)? {
            batch.streams.push(stream);
        }
    }
    Ok(batch)
}

fn stream_from_json(path: &str, stream: Value) -> Result<Option<Stream>, String> {
    let Value::Object(mut stream) = stream else {
        return Err(format!(
            "{path}: expected an object with \"stream\" and \"values\""
        ));
    };
    let labels = match stream.remove("stream") {
        None | Some(Value::Null) => Labels::default(),
        Some(Value::Object(map)) => labels_from_json(&format!("{path}.stream"), map)?,
        Some(_) => return Err(format!("{path}.stream: expected an object of label pairs")),
    };
    let values = match stream.remove("values") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(values)) => values,
        Some(_) => return Err(format!("{path}.values: expected an array")),
    };
    if values.is_empty() {
        return Ok(None);
    }
    let entries = values
        .into_iter()
        .enumerate()
        .map(|(j, v)| entry_from_json(&format!("{path}.values[{j}]"), v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Stream { labels, entries }))
}

/// String pairs of a JSON object; `skip_empty` drops empty values (stream labels, as Loki).
fn string_pairs(
    path: &str,
    map: Map<String, Value>,
    skip_empty: bool,
) -> Result<Vec<Label>, String> {
    let mut pairs = Vec::with_capacity(map.len());
    for (name, value) in map {
        let Value::String(value) = value else {
            return Err(format!(
                "{path}.{name}: expected a string value, got {}",
                json_kind(&value)
            ));
        };
        if !(skip_empty && value.is_empty()) {
            pairs.push(Label { name, value });
        }
    }
    Ok(pairs)
}

fn labels_from_json(path: &str, map: Map<String, Value>) -> Result<Labels, String> {
    let pairs = string_pairs(path, map, true)?;
    Ok(Labels::from_pairs(
        pairs.into_iter().map(|l| (l.name, l.value)),
    ))
}

fn entry_from_json(path: &str, value: Value) -> Result<Entry, String> {
    let Value::Array(items) = value else {
        return Err(format!(
            "{path}: expected [\"<unix epoch in nanoseconds>\", \"<log line>\"]"
        ));
    };
    if !(2..=3).contains(&items.len()) {
        return Err(format!(
            "{path}: expected 2 or 3 elements (timestamp, line, structured metadata), got {}",
            items.len()
        ));
    }
    let mut items = items.into_iter();
    let ts_ns = match items.next() {
        Some(Value::String(s)) => s
            .parse::<i64>()
            .map_err(|_| format!("{path}[0]: invalid timestamp {s:?}"))?,
        Some(Value::Number(n)) => {
            return Err(format!(
                "{path}[0]: invalid timestamp {n}, expected a string of nanoseconds"
            ))
        }
        other => {
            return Err(format!(
                "{path}[0]: expected a string timestamp in nanoseconds, got {}",
                json_kind(&other.unwrap_or(Value::Null))
            ))
        }
    };
    let line = match items.next() {
        Some(Value::String(line)) => line,
        other => {
            return Err(format!(
                "{path}[1]: expected a string log line, got {}",
                json_kind(&other.unwrap_or(Value::Null))
            ))
        }
    };
    let metadata = match items.next() {
        None | Some(Value::Null) => Labels::default(),
        Some(Value::Object(map)) => {
            let pairs = string_pairs(&format!("{path}[2]"), map, false)?;
            Labels::from_pairs(pairs.into_iter().map(|l| (l.name, l.value)))
        }
        Some(other) => {
            return Err(format!(
                "{path}[2]: expected an object of structured metadata, got {}",
                json_kind(&other)
            ))
        }
    };
    Ok(Entry {
        ts_ns,
        line,
        metadata,
    })
}

/// What a JSON value is, for error messages (the value itself may be large).
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "loki_tests.rs"]
mod tests;
