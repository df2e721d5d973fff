use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use proptest::prelude::*;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::block::{TracesBloom, TracesSearchColumns, TRACES_BLOCK_FORMAT_VERSION};

const BASE_NS: u64 = 1_700_000_000_000_000_000;

/// (name, inputs, expected) of a table case.
type MergeCase = (&'static str, Vec<Vec<Trace>>, Vec<Trace>);
/// (name, a bad source, the check of the error) of a table case.
type RefusalCase<'a> = (
    &'static str,
    TracesBlockFiles<'a>,
    fn(&TracesBlockError) -> bool,
);

fn trace_id(n: u64) -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    TraceId(id)
}

fn string(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// Trace `n` holding spans `spans` (span `j` has span ID `j` and starts `j` µs in).
fn trace(n: u64, spans: impl IntoIterator<Item = u64>) -> Trace {
    let id = trace_id(n);
    let spans = spans
        .into_iter()
        .map(|j| Span {
            trace_id: id.as_bytes().to_vec(),
            span_id: (j + 1).to_be_bytes().to_vec(),
            name: format!("op-{}", j % 5),
            start_time_unix_nano: BASE_NS + n * 1_000_000 + j * 1_000,
            end_time_unix_nano: BASE_NS + n * 1_000_000 + j * 1_000 + 500,
            attributes: vec![string("http.route", &format!("/api/{}", j % 7))],
            ..Default::default()
        })
        .collect();
    Trace {
        id,
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", &format!("svc-{}", n % 3))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A level-`level` block `id` of `traces` (any order, one entry per trace ID).
fn block(id: &str, level: u32, traces: &[Trace], page_bytes: usize) -> EncodedTracesBlock {
    let mut traces = traces.to_vec();
    traces.sort_by_key(|t| t.id);
    let mut w = TracesBlockWriter::new(TracesBlockOptions { page_bytes });
    for t in &traces {
        w.add_trace(t).unwrap();
    }
    let mut b = w.finish(id.into(), format!("ingester-{id}")).unwrap();
    b.meta.compaction.level = level;
    b
}

fn target(page_bytes: usize) -> TracesMergeTarget {
    TracesMergeTarget {
        block_id: "merged".into(),
        source_ingester: "compactor-1".into(),
        options: TracesBlockOptions { page_bytes },
    }
}

fn merge(blocks: &[EncodedTracesBlock]) -> Result<EncodedTracesBlock, TracesBlockError> {
    let metas: Vec<Vec<u8>> = blocks.iter().map(|b| b.meta.to_json()).collect();
    let files: Vec<_> = blocks
        .iter()
        .zip(&metas)
        .map(|(b, meta)| TracesBlockFiles {
            meta,
            index: &b.index,
            data: &b.data,
        })
        .collect();
    merge_traces_blocks(&files, target(2_000))
}

/// Every trace of a block, through the index and pages, after checking bloom and search.
fn read_back(b: &EncodedTracesBlock) -> Vec<Trace> {
    let index = TracesBlockIndex::parse(&b.index).unwrap();
    let traces: Vec<Trace> = index
        .pages()
        .iter()
        .flat_map(|p| {
            let range = p.range();
            let page = read_page(&b.data[range.start as usize..range.end as usize]).unwrap();
            page.traces().map(Result::unwrap).collect::<Vec<_>>()
        })
        .collect();
    let bloom = TracesBloom::parse(&b.bloom).unwrap();
    assert!(traces.iter().all(|t| bloom.may_contain(&t.id)));
    assert_eq!(
        TracesSearchColumns::parse(&b.search).unwrap().len(),
        traces.len()
    );
    assert_eq!(b.meta.traces, traces.len() as u64);
    traces
}

/// Trace ID -> span ID -> span name: the content compared, whatever the span order.
fn content(traces: &[Trace]) -> BTreeMap<TraceId, BTreeMap<Vec<u8>, String>> {
    traces
        .iter()
        .map(|t| {
            let spans = t
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|s| (s.span_id.clone(), s.name.clone()))
                .collect();
            (t.id, spans)
        })
        .collect()
}

#[test]
fn replicas_merge_into_one_copy() {
    let traces: Vec<Trace> = (0..200).map(|n| trace(n, 0..8)).collect();
    let copies: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| block(id, 1, &traces, 3_000))
        .collect();
    let merged = merge(&copies).unwrap();
    assert_eq!(read_back(&merged), read_back(&copies[0]));
    let meta = &merged.meta;
    assert_eq!((meta.traces, meta.spans), (200, 1600));
    assert!(meta.pages > 1, "{}", meta.pages);
    assert_eq!(
        (meta.min_time_ns, meta.max_time_ns),
        (copies[0].meta.min_time_ns, copies[0].meta.max_time_ns)
    );
    assert_eq!(meta.compaction.level, 2);
    assert_eq!(meta.compaction.sources, ["a", "b", "c"]);
    assert_eq!(
        (meta.block_id.as_str(), meta.source_ingester.as_str()),
        ("merged", "compactor-1")
    );
}

#[test]
fn overlapping_blocks_and_partial_traces() {
    let cases: Vec<MergeCase> = vec![
        (
            "spans of one trace split across blocks",
            vec![vec![trace(1, 0..6)], vec![trace(1, 3..10)]],
            vec![trace(1, 0..10)],
        ),
        (
            "partially overlapping trace sets",
            vec![
                (0..30).map(|n| trace(n, 0..3)).collect(),
                (20..50).map(|n| trace(n, 0..3)).collect(),
            ],
            (0..50).map(|n| trace(n, 0..3)).collect(),
        ),
        (
            "adjacent",
            vec![
                (0..10).map(|n| trace(n, 0..2)).collect(),
                (10..20).map(|n| trace(n, 0..2)).collect(),
            ],
            (0..20).map(|n| trace(n, 0..2)).collect(),
        ),
        (
            "one source empty of overlap",
            vec![
                vec![trace(7, 0..4)],
                vec![trace(7, 0..4)],
                vec![trace(8, 1..2)],
            ],
            vec![trace(7, 0..4), trace(8, 1..2)],
        ),
    ];
    for (name, inputs, want) in cases {
        let blocks: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| block(&i.to_string(), 1, t, 1_000))
            .collect();
        let merged = merge(&blocks).unwrap();
        assert_eq!(content(&read_back(&merged)), content(&want), "{name}");
    }
}

#[test]
fn split_trace_keeps_spans_in_first_seen_order() {
    let blocks = [
        block("a", 1, &[trace(1, 0..6)], 1_000),
        block("b", 2, &[trace(1, 3..10)], 1_000),
    ];
    let merged = merge(&blocks).unwrap();
    assert_eq!(read_back(&merged), vec![trace(1, 0..10)]);
    assert_eq!(merged.meta.compaction.level, 3);
}

#[test]
fn refuses_newer_versions_and_corrupt_sources() {
    let good = block("a", 1, &[trace(1, 0..3)], 1_000);
    let good_meta = good.meta.to_json();
    let mut newer = good.meta.clone();
    newer.version = TRACES_BLOCK_FORMAT_VERSION + 1;
    let newer_meta = newer.to_json();
    let mut newer_data = good.data.to_vec();
    newer_data[4] = 9;
    let truncated = &good.data[..good.data.len() - 3];
    let files = |meta, data| TracesBlockFiles {
        meta,
        index: &good.index,
        data,
    };
    let cases: Vec<RefusalCase<'_>> = vec![
        ("newer meta", files(&newer_meta, &good.data), |e| {
            matches!(e, TracesBlockError::UnknownMetaVersion(2))
        }),
        ("newer data", files(&good_meta, &newer_data), |e| {
            matches!(
                e,
                TracesBlockError::UnknownFormatVersion {
                    file: "data",
                    version: 9
                }
            )
        }),
        ("truncated data", files(&good_meta, truncated), |e| {
            matches!(e, TracesBlockError::Corrupt { .. })
        }),
    ];
    for (name, bad, check) in cases {
        let sources = [files(&good_meta, &good.data), bad];
        let err = merge_traces_blocks(&sources, target(1_000)).unwrap_err();
        assert!(check(&err), "{name}: {err}");
    }
    let err = merge_traces_blocks(&[], target(1_000)).unwrap_err();
    assert!(matches!(err, TracesBlockError::EmptyBlock), "{err}");
}

proptest! {
    #[test]
    fn merge_reads_back_as_deduplicated_union(
        inputs in prop::collection::vec(
            prop::collection::btree_map(0u64..30, prop::collection::btree_set(0u64..12, 1..6), 1..12),
            1..4,
        ),
        page_bytes in 200usize..4_000,
    ) {
        let blocks: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, traces)| {
                let traces: Vec<Trace> = traces.iter().map(|(n, spans)| trace(*n, spans.iter().copied())).collect();
                block(&i.to_string(), 1, &traces, page_bytes)
            })
            .collect();
        let mut want: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for (n, spans) in inputs.iter().flatten() {
            want.entry(*n).or_default().extend(spans);
        }
        let want: Vec<Trace> = want.into_iter().map(|(n, spans)| trace(n, spans)).collect();
        let got = read_back(&merge(&blocks).unwrap());
        prop_assert!(got.windows(2).all(|w| w[0].id < w[1].id));
        prop_assert_eq!(content(&got), content(&want));
    }
}

/// By hand, in release:
/// `cargo test -p sextant-traces --release --lib block::merge::tests::measure -- --ignored --nocapture`
#[test]
#[ignore]
fn measure() {
    // generated trace by trace, so the memory high-water mark before the merge is about the
    // three copies' files
    let page_bytes = TracesBlockOptions::default().page_bytes;
    let copies: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            let mut ids: Vec<u64> = (0..30_000).collect();
            ids.sort_by_key(|n| trace_id(*n));
            let mut w = TracesBlockWriter::new(TracesBlockOptions { page_bytes });
            for n in ids {
                w.add_trace(&trace(n, 0..10)).unwrap();
            }
            w.finish((*id).into(), "ingester".into()).unwrap()
        })
        .collect();
    let metas: Vec<Vec<u8>> = copies.iter().map(|b| b.meta.to_json()).collect();
    let files: Vec<_> = copies
        .iter()
        .zip(&metas)
        .map(|(b, meta)| TracesBlockFiles {
            meta,
            index: &b.index,
            data: &b.data,
        })
        .collect();
    let input_bytes: usize = copies.iter().map(|b| b.data.len() + b.index.len()).sum();
    let spans: u64 = copies.iter().map(|b| b.meta.spans).sum();
    let hwm_before = vm_hwm_kib();
    let started = Instant::now();
    let merged = merge_traces_blocks(
        &files,
        TracesMergeTarget {
            options: TracesBlockOptions::default(),
            ..target(0)
        },
    )
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(merged.meta.spans * 3, spans);
    eprintln!(
        "traces merge: 3 x {} traces, {} input spans ({:.1} MB data in) in {:.3} s: \
         {:.0} input spans/s, {:.1} MB/s; out {:.1} MB data, {:.1} MB search; \
         VmHWM {} KiB before, {} KiB after",
        merged.meta.traces,
        spans,
        input_bytes as f64 / 1e6,
        secs,
        spans as f64 / secs,
        input_bytes as f64 / 1e6 / secs,
        merged.data.len() as f64 / 1e6,
        merged.search.len() as f64 / 1e6,
        hwm_before,
        vm_hwm_kib()
    );
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
