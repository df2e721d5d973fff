//! Search results and traces on the internal gRPC wire.

use prost::Message;
use sextant_proto::ingester::{TraceSearchMetadata, TraceSearchSpan, TraceSearchSpanSet};
use sextant_proto::otlp::common::v1::{KeyValue, KeyValueList};
use sextant_proto::otlp::trace::v1::TracesData;

use super::TracesSearchError;
use crate::model::{Trace, TraceId};
use crate::traceql::eval::{TraceqlSpan, TraceqlSpanSet, TraceqlTraceMatch};

/// A search result as an ingester sends it.
pub fn trace_match_to_proto(
    m: &TraceqlTraceMatch,
) -> Result<TraceSearchMetadata, TracesSearchError> {
    let id: TraceId = m
        .trace_id
        .parse()
        .map_err(|_| TracesSearchError::TraceId(m.trace_id.clone()))?;
    Ok(TraceSearchMetadata {
        trace_id: id.as_bytes().to_vec(),
        root_service_name: m.root_service_name.clone(),
        root_trace_name: m.root_trace_name.clone(),
        start_time_unix_nano: m.start_time_unix_nano,
        duration_ms: m.duration_ms,
        span_sets: m
            .span_sets
            .iter()
            .map(span_set_to_proto)
            .collect::<Result<_, _>>()?,
    })
}

/// A search result as the querier reads it from an ingester.
pub fn trace_match_from_proto(
    m: TraceSearchMetadata,
) -> Result<TraceqlTraceMatch, TracesSearchError> {
    let id = TraceId::from_bytes(&m.trace_id)
        .ok_or_else(|| TracesSearchError::TraceId(hex(&m.trace_id)))?;
    Ok(TraceqlTraceMatch {
        trace_id: trace_id_text(&id),
        root_service_name: m.root_service_name,
        root_trace_name: m.root_trace_name,
        start_time_unix_nano: m.start_time_unix_nano,
        duration_ms: m.duration_ms,
        span_sets: m
            .span_sets
            .into_iter()
            .map(span_set_from_proto)
            .collect::<Result<_, _>>()?,
    })
}

/// A trace as `TraceByIdResponse.trace` carries it: an encoded OTLP `TracesData`.
pub fn encode_trace(trace: &Trace) -> Vec<u8> {
    TracesData {
        resource_spans: trace.resource_spans.clone(),
    }
    .encode_to_vec()
}

/// The trace `id` from an encoded OTLP `TracesData`.
pub fn decode_trace(id: TraceId, bytes: &[u8]) -> Result<Trace, TracesSearchError> {
    let data = TracesData::decode(bytes).map_err(|e| TracesSearchError::Decode {
        what: "TracesData",
        message: e.to_string(),
    })?;
    Ok(Trace {
        id,
        resource_spans: data.resource_spans,
    })
}

/// Tempo's trace ID text: hex without leading zeros.
pub(super) fn trace_id_text(id: &TraceId) -> String {
    let text = id.to_string();
    let trimmed = text.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }.to_owned()
}

fn span_set_to_proto(s: &TraceqlSpanSet) -> Result<TraceSearchSpanSet, TracesSearchError> {
    Ok(TraceSearchSpanSet {
        spans: s
            .spans
            .iter()
            .map(span_to_proto)
            .collect::<Result<_, _>>()?,
        matched: s.matched,
        attributes: encode_attributes(&s.attributes),
    })
}

fn span_set_from_proto(s: TraceSearchSpanSet) -> Result<TraceqlSpanSet, TracesSearchError> {
    Ok(TraceqlSpanSet {
        spans: s
            .spans
            .into_iter()
            .map(span_from_proto)
            .collect::<Result<_, _>>()?,
        matched: s.matched,
        attributes: decode_attributes(&s.attributes)?,
    })
}

fn span_to_proto(s: &TraceqlSpan) -> Result<TraceSearchSpan, TracesSearchError> {
    Ok(TraceSearchSpan {
        span_id: unhex(&s.span_id).ok_or_else(|| TracesSearchError::SpanId(s.span_id.clone()))?,
        name: s.name.clone(),
        start_time_unix_nano: s.start_time_unix_nano,
        duration_nanos: s.duration_nanos,
        attributes: encode_attributes(&s.attributes),
    })
}

fn span_from_proto(s: TraceSearchSpan) -> Result<TraceqlSpan, TracesSearchError> {
    Ok(TraceqlSpan {
        span_id: hex(&s.span_id),
        name: s.name,
        start_time_unix_nano: s.start_time_unix_nano,
        duration_nanos: s.duration_nanos,
        attributes: decode_attributes(&s.attributes)?,
    })
}

fn encode_attributes(values: &[KeyValue]) -> Vec<u8> {
    if values.is_empty() {
        return Vec::new();
    }
    KeyValueList {
        values: values.to_vec(),
    }
    .encode_to_vec()
}

fn decode_attributes(bytes: &[u8]) -> Result<Vec<KeyValue>, TracesSearchError> {
    KeyValueList::decode(bytes)
        .map(|l| l.values)
        .map_err(|e| TracesSearchError::Decode {
            what: "KeyValueList",
            message: e.to_string(),
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of an even-length hex text.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use sextant_proto::otlp::common::v1::{any_value, AnyValue};

    use super::*;

    fn kv(key: &str, value: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(value)),
            }),
            ..Default::default()
        }
    }

    fn sample(trace_id: &str, span_id: &str, attrs: Vec<KeyValue>) -> TraceqlTraceMatch {
        TraceqlTraceMatch {
            trace_id: trace_id.into(),
            root_service_name: "svc".into(),
            root_trace_name: "GET /".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            duration_ms: 12,
            span_sets: vec![TraceqlSpanSet {
                spans: vec![TraceqlSpan {
                    span_id: span_id.into(),
                    name: "op".into(),
                    start_time_unix_nano: 1_700_000_000_000_000_001,
                    duration_nanos: 5,
                    attributes: attrs.clone(),
                }],
                matched: 7,
                attributes: attrs,
            }],
        }
    }

    #[test]
    fn round_trips_search_results() {
        for m in [
            sample("1", "0000000000000001", vec![]),
            sample(
                "abcdef0123456789abcdef0123456789",
                "ff",
                vec![kv("count()", 3)],
            ),
            sample("0", "", vec![kv("a", 1), kv("b", 2)]),
        ] {
            let wire = trace_match_to_proto(&m).unwrap();
            assert_eq!(wire.trace_id.len(), 16);
            assert_eq!(trace_match_from_proto(wire).unwrap(), m);
        }
    }

    #[test]
    fn refuses_bad_ids() {
        let cases: [(TraceqlTraceMatch, TracesSearchError); 3] = [
            (
                sample("xyz", "01", vec![]),
                TracesSearchError::TraceId("xyz".into()),
            ),
            (
                sample("1", "abc", vec![]),
                TracesSearchError::SpanId("abc".into()),
            ),
            (
                sample("1", "+1", vec![]),
                TracesSearchError::SpanId("+1".into()),
            ),
        ];
        for (m, want) in cases {
            assert_eq!(trace_match_to_proto(&m).unwrap_err(), want);
        }
        let short = TraceSearchMetadata {
            trace_id: vec![1, 2, 3],
            ..Default::default()
        };
        assert_eq!(
            trace_match_from_proto(short).unwrap_err(),
            TracesSearchError::TraceId("010203".into())
        );
    }

    #[test]
    fn trace_round_trips() {
        let id = TraceId([7; 16]);
        let trace = Trace {
            id,
            resource_spans: vec![Default::default()],
        };
        assert_eq!(decode_trace(id, &encode_trace(&trace)).unwrap(), trace);
        assert!(decode_trace(id, &[0xff, 0xff, 0xff]).is_err());
    }

    proptest! {
        #[test]
        fn garbage_attributes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let wire = TraceSearchMetadata {
                trace_id: vec![1; 16],
                span_sets: vec![TraceSearchSpanSet { attributes: bytes, ..Default::default() }],
                ..Default::default()
            };
            let _ = trace_match_from_proto(wire);
        }

        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            prop_assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        }
    }
}
