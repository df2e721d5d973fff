//! Logs on the internal wire: the `logproto` messages the distributor sends to ingesters and
//! ingesters stream back to queriers (stream labels as `{a="b"}` text, entries with their
//! structured metadata).

use prost_types::Timestamp;
use sextant_model::Labels;
use sextant_proto::loki::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};

use super::loki::batch_from_proto;
use super::PushError;
use crate::logql::eval::{Entry, Stream};
use crate::model::LogBatch;

/// The streams of an internal push (or query answer) as a batch; bad label text or timestamps
/// are a 400 naming the stream.
pub fn batch_from_push_request(request: PushRequest) -> Result<LogBatch, PushError> {
    batch_from_proto(request).map_err(PushError::BadRequest)
}

/// The streams as a `logproto.PushRequest`.
pub fn push_request_from_streams(streams: &[Stream]) -> PushRequest {
    PushRequest {
        streams: streams.iter().map(stream_to_proto).collect(),
        format: String::new(),
    }
}

/// One stream as a `StreamAdapter`.
pub fn stream_to_proto(stream: &Stream) -> StreamAdapter {
    StreamAdapter {
        labels: labels_text(&stream.labels),
        entries: stream.entries.iter().map(entry_to_proto).collect(),
        hash: 0,
    }
}

fn entry_to_proto(entry: &Entry) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(Timestamp {
            seconds: entry.ts_ns.div_euclid(1_000_000_000),
            nanos: entry.ts_ns.rem_euclid(1_000_000_000) as i32,
        }),
        line: entry.line.clone(),
        structured_metadata: entry
            .metadata
            .iter()
            .map(|l| LabelPairAdapter {
                name: l.name.clone(),
                value: l.value.clone(),
            })
            .collect(),
        parsed: Vec::new(),
    }
}

/// `{a="b", c="d"}` with Go string escapes, as the push selector parser reads it back.
pub fn labels_text(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push_str("=\"");
        for c in l.value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn stream(pairs: &[(&str, &str)], entries: Vec<Entry>) -> Stream {
        Stream {
            labels: Labels::from_pairs(pairs.iter().copied()),
            entries,
        }
    }

    #[test]
    fn streams_round_trip_through_the_wire() {
        let entries = vec![
            Entry {
                ts_ns: 1_700_000_000_123_456_789,
                line: "GET /a 200".into(),
                metadata: Labels::from_pairs([("trace_id", "abc")]),
            },
            Entry {
                ts_ns: -1_500_000_000,
                line: String::new(),
                metadata: Labels::default(),
            },
        ];
        let streams = vec![
            stream(&[("app", "web"), ("env", "prod")], entries),
            stream(
                &[
                    ("path", "C:\\logs\\\"x\"\nnext"),
                    ("unicode", "é ✓ \u{1b}[31m"),
                ],
                vec![Entry {
                    ts_ns: 5,
                    line: "x".into(),
                    metadata: Labels::default(),
                }],
            ),
        ];
        let back = batch_from_push_request(push_request_from_streams(&streams)).unwrap();
        assert_eq!(back.streams, streams);
    }

    proptest! {
        #[test]
        fn any_label_value_round_trips(value in "\\PC*", ts in any::<i64>()) {
            prop_assume!(!value.is_empty());
            let s = stream(&[("a", &value)], vec![Entry { ts_ns: ts, line: value.clone(), metadata: Labels::default() }]);
            let back = batch_from_push_request(push_request_from_streams(std::slice::from_ref(&s))).unwrap();
            prop_assert_eq!(back.streams, vec![s]);
        }
    }
}
