//! Test blocks written with the engines' own writers, and readers of what a block holds.

use std::collections::BTreeSet;

use bytes::Bytes;
use sextant_logs::block::{
    LogsBlockCompaction, LogsBlockIndex, LogsBlockSource, LogsBlockWriter, LogsStreamRef,
};
use sextant_logs::logql::eval::Entry;
use sextant_metrics::block::{
    read_chunk, BlockCompaction, BlockIndex, BlockSource, BlockWriter, SeriesRef,
};
use sextant_metrics::chunk::XorAppender;
use sextant_model::Labels;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sextant_traces::block::{TracesBlockOptions, TracesBlockWriter};
use sextant_traces::model::{Trace, TraceId};

use super::{SourceBlock, META_FILE};

pub(crate) const TENANT: &str = "team-a";

fn block(id: &str, files: Vec<(&str, Bytes)>) -> SourceBlock {
    SourceBlock {
        block_id: id.to_owned(),
        files: files.into_iter().map(|(f, b)| (f.to_owned(), b)).collect(),
    }
}

/// A level-1 metrics block holding series `name{}` with `samples`.
pub(crate) fn metrics_block(id: &str, series: &[(&str, Vec<(i64, f64)>)]) -> SourceBlock {
    let mut sorted: Vec<(Labels, &Vec<(i64, f64)>)> = series
        .iter()
        .map(|(name, samples)| (Labels::from_pairs([("__name__", *name)]), samples))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut writer = BlockWriter::new();
    for (labels, samples) in sorted {
        let mut appender = XorAppender::new();
        for &(t, v) in samples {
            appender.append(t, v);
        }
        writer.add_series(&labels, &[appender.finish()]).unwrap();
    }
    let encoded = writer.finish(BlockSource {
        block_id: id.to_owned(),
        tenant: TENANT.to_owned(),
        source_ingester: "ingester-1".to_owned(),
        compaction: BlockCompaction {
            level: 1,
            sources: vec![id.to_owned()],
        },
    });
    block(
        id,
        vec![
            ("index", Bytes::from(encoded.index)),
            ("chunks", Bytes::from(encoded.chunks)),
            (META_FILE, Bytes::from(encoded.meta.to_json())),
        ],
    )
}

/// Every (series name, timestamp, value bits) a metrics block holds.
pub(crate) fn metrics_samples(block: &SourceBlock) -> BTreeSet<(String, i64, u64)> {
    let index = BlockIndex::parse(&block.files["index"]).unwrap();
    let mut samples = BTreeSet::new();
    for r in 0.. {
        let Some((labels, chunks)) = index.series(SeriesRef(r)) else {
            break;
        };
        let name = labels.metric_name().unwrap_or_default().to_owned();
        for meta in &chunks {
            let chunk = read_chunk(&block.files["chunks"], meta).unwrap();
            samples.extend(chunk.iter().map(|(t, v)| (name.clone(), t, v.to_bits())));
        }
    }
    samples
}

/// A level-1 logs block holding stream `{app="<name>"}` with (ns, line) entries.
pub(crate) fn logs_block(id: &str, streams: &[(&str, Vec<(i64, &str)>)]) -> SourceBlock {
    let mut sorted: Vec<(Labels, Vec<Entry>)> = streams
        .iter()
        .map(|(app, entries)| {
            let entries = entries
                .iter()
                .map(|&(ts_ns, line)| Entry {
                    ts_ns,
                    line: line.to_owned(),
                    metadata: Labels::default(),
                })
                .collect();
            (Labels::from_pairs([("app", *app)]), entries)
        })
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut writer = LogsBlockWriter::new(1 << 20, 1 << 16);
    for (labels, entries) in &sorted {
        writer.add_stream(labels, entries).unwrap();
    }
    let encoded = writer.finish(LogsBlockSource {
        block_id: id.to_owned(),
        tenant: TENANT.to_owned(),
        source_ingester: "ingester-1".to_owned(),
        compaction: LogsBlockCompaction {
            level: 1,
            sources: vec![id.to_owned()],
        },
    });
    let meta = encoded.meta_json();
    block(
        id,
        vec![
            ("index", Bytes::from(encoded.index)),
            ("chunks", Bytes::from(encoded.chunks)),
            (META_FILE, Bytes::from(meta)),
        ],
    )
}

/// The streams of a logs block.
pub(crate) fn logs_streams(block: &SourceBlock) -> usize {
    let index = LogsBlockIndex::parse(&block.files["index"]).unwrap();
    (0..)
        .take_while(|r| index.stream(LogsStreamRef(*r)).is_some())
        .count()
}

/// A level-1 traces block holding, per trace number, spans with the given span numbers.
pub(crate) fn traces_block(id: &str, traces: &[(u64, Vec<u64>)]) -> SourceBlock {
    let mut sorted: Vec<Trace> = traces.iter().map(|(n, spans)| trace(*n, spans)).collect();
    sorted.sort_by_key(|t| t.id);
    let mut writer = TracesBlockWriter::new(TracesBlockOptions::default());
    for t in &sorted {
        writer.add_trace(t).unwrap();
    }
    let encoded = writer
        .finish(id.to_owned(), "ingester-1".to_owned())
        .unwrap();
    block(id, encoded.files().to_vec())
}

fn trace(n: u64, spans: &[u64]) -> Trace {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    let base = 1_700_000_000_000_000_000u64 + n * 1_000_000;
    let spans = spans
        .iter()
        .map(|&j| Span {
            trace_id: id.to_vec(),
            span_id: (j + 1).to_be_bytes().to_vec(),
            name: format!("op-{j}"),
            start_time_unix_nano: base + j * 1_000,
            end_time_unix_nano: base + j * 1_000 + 500,
            ..Default::default()
        })
        .collect();
    Trace {
        id: TraceId(id),
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
