//! Block round trips, page splitting, corrupt files, and (in `search`) candidates, the
//! prefilter against the evaluator, and tag names and values.

mod gen;
mod measure;
mod search;

use proptest::prelude::*;

use super::*;
use crate::model::{Trace, TraceId};
use gen::{generated_traces, trace_id};

fn build(traces: &[Trace], page_bytes: usize) -> EncodedTracesBlock {
    let mut w = TracesBlockWriter::new(TracesBlockOptions { page_bytes });
    for t in traces {
        w.add_trace(t).unwrap();
    }
    w.finish("01BLOCK".into(), "ingester-1".into()).unwrap()
}

/// The trace `id` read as the querier does: bloom, index, one page.
fn lookup(block: &EncodedTracesBlock, id: &TraceId) -> Option<Trace> {
    let bloom = TracesBloom::parse(&block.bloom).unwrap();
    if !bloom.may_contain(id) {
        return None;
    }
    let page = TracesBlockIndex::parse(&block.index)
        .unwrap()
        .page_for(id)?;
    let range = page.range();
    let bytes = &block.data[range.start as usize..range.end as usize];
    read_page(bytes).unwrap().find(id).unwrap()
}

#[test]
fn every_trace_is_found_and_absent_ones_are_not() {
    let traces = generated_traces(300, 10);
    let block = build(&traces, 16 << 10);
    for t in &traces {
        assert_eq!(lookup(&block, &t.id).as_ref(), Some(t), "{}", t.id);
    }
    let bloom = TracesBloom::parse(&block.bloom).unwrap();
    let absent: Vec<TraceId> = (10_000..20_000).map(trace_id).collect();
    let positives = absent.iter().filter(|id| bloom.may_contain(id)).count();
    assert!(positives < 300, "{positives} false positives in 10000");
    for id in &absent {
        assert_eq!(lookup(&block, id), None);
    }
}

#[test]
fn pages_split_as_configured() {
    let traces = generated_traces(200, 10);
    let one_trace = traces[0].encoded_len();
    let cases = [
        (usize::MAX, 1..=1),
        (1, 200..=200), // every trace alone
        (16 << 10, 2..=200),
    ];
    for (page_bytes, pages) in cases {
        let block = build(&traces, page_bytes);
        let index = TracesBlockIndex::parse(&block.index).unwrap();
        assert!(
            pages.contains(&index.pages().len()),
            "{page_bytes}: {}",
            index.pages().len()
        );
        assert_eq!(block.meta.pages, index.pages().len() as u64);
        let mut ids = Vec::new();
        let mut end = 5; // the data header
        for p in index.pages() {
            assert_eq!(p.offset, end, "pages are consecutive");
            end = p.range().end;
            let page = read_page(&block.data[p.offset as usize..end as usize]).unwrap();
            assert_eq!(page.len(), p.traces as usize);
            let decoded: Vec<Trace> = page.traces().map(Result::unwrap).collect();
            let bytes: usize = decoded.iter().map(|t| t.encoded_len() + 16 + 2).sum();
            assert!(
                page.len() == 1 || bytes <= page_bytes,
                "{bytes} > {page_bytes}"
            );
            ids.extend(page.ids());
        }
        assert_eq!(end, block.data.len() as u64);
        let want: Vec<TraceId> = traces.iter().map(|t| t.id).collect();
        assert_eq!(ids, want);
        assert!(one_trace > 1);
    }
}

#[test]
fn meta_describes_the_block() {
    let traces = generated_traces(50, 4);
    let block = build(&traces, 4 << 10);
    let m = &block.meta;
    let spans: Vec<_> = traces.iter().flat_map(|t| t.spans()).collect();
    let min = spans.iter().map(|s| s.start_time_unix_nano).min().unwrap();
    let max = spans.iter().map(|s| s.end_time_unix_nano).max().unwrap();
    assert_eq!((m.min_time_ns, m.max_time_ns), (min as i64, max as i64));
    assert_eq!((m.traces, m.spans), (50, 200));
    assert_eq!(m.compaction.level, 1);
    assert_eq!(m.compaction.sources, vec!["01BLOCK".to_owned()]);
    let files = block.files();
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["data", "index", "bloom", "search", "meta.json"]);
    let sizes: Vec<u64> = files[..4].iter().map(|(_, b)| b.len() as u64).collect();
    assert_eq!(
        sizes,
        [m.data_bytes, m.index_bytes, m.bloom_bytes, m.search_bytes]
    );
    assert_eq!(TracesBlockMeta::from_json(&files[4].1).unwrap(), *m);
}

#[test]
fn writer_refuses_unsorted_duplicate_and_empty() {
    let traces = generated_traces(2, 1);
    let mut w = TracesBlockWriter::new(TracesBlockOptions::default());
    w.add_trace(&traces[1]).unwrap();
    for t in [&traces[0], &traces[1]] {
        let err = w.add_trace(t).unwrap_err();
        assert!(
            matches!(err, TracesBlockError::UnsortedTraces { .. }),
            "{err}"
        );
        assert_eq!(err.kind(), sextant_model::ErrorKind::Internal);
    }
    let empty = TracesBlockWriter::new(TracesBlockOptions::default());
    assert!(matches!(
        empty.finish("b".into(), "i".into()),
        Err(TracesBlockError::EmptyBlock)
    ));
}

#[test]
fn trace_without_spans_is_stored() {
    let mut traces = generated_traces(3, 2);
    traces[1].resource_spans.clear();
    let block = build(&traces, 1 << 20);
    assert_eq!(lookup(&block, &traces[1].id), Some(traces[1].clone()));
    assert_eq!(block.meta.spans, 4);
    let columns = TracesSearchColumns::parse(&block.search).unwrap();
    let all = columns.candidates(&TracesBlockFilter::default());
    assert_eq!(all.len(), 3);
}

#[test]
fn highly_compressible_traces_round_trip() {
    let mut traces = generated_traces(2, 1);
    let huge = "a".repeat(4 << 20);
    let span = &mut traces[0].resource_spans[0].scope_spans[0].spans[0];
    span.attributes.push(gen::kv("blob", gen::s(&huge)));
    let block = build(&traces, 1 << 20);
    assert!(
        block.data.len() < (1 << 20),
        "compressed to {}",
        block.data.len()
    );
    for t in &traces {
        assert_eq!(lookup(&block, &t.id).as_ref(), Some(t));
    }
    let columns = TracesSearchColumns::parse(&block.search).unwrap();
    assert_eq!(columns.len(), 2);
}

/// Every parser on a file with one byte changed: always an error, never a panic.
fn parse_file(name: &str, bytes: &[u8]) -> Result<(), TracesBlockError> {
    match name {
        "index" => TracesBlockIndex::parse(bytes).map(drop),
        "bloom" => TracesBloom::parse(bytes).map(drop),
        "search" => TracesSearchColumns::parse(bytes).map(drop),
        _ => read_page(bytes).map(drop),
    }
}

fn small_block_files() -> Vec<(&'static str, Vec<u8>)> {
    let block = build(&generated_traces(20, 3), 1 << 20);
    let index = TracesBlockIndex::parse(&block.index).unwrap();
    let page = index.pages()[0].range();
    vec![
        ("index", block.index.to_vec()),
        ("bloom", block.bloom.to_vec()),
        ("search", block.search.to_vec()),
        (
            "page",
            block.data[page.start as usize..page.end as usize].to_vec(),
        ),
    ]
}

#[test]
fn valid_files_parse_and_truncated_ones_do_not() {
    for (name, bytes) in small_block_files() {
        parse_file(name, &bytes).unwrap();
        for len in [0, 1, 4, 5, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                parse_file(name, &bytes[..len]).is_err(),
                "{name} cut at {len}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn changed_bytes_are_rejected(file in 0usize..4, at in any::<usize>(), xor in 1u8..=255) {
        let files = small_block_files();
        let (name, mut bytes) = files[file].clone();
        let at = at % bytes.len();
        bytes[at] ^= xor;
        prop_assert!(parse_file(name, &bytes).is_err(), "{} byte {} ^ {}", name, at, xor);
    }

    #[test]
    fn random_bytes_never_panic(file in 0usize..4, bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let name = ["index", "bloom", "search", "page"][file];
        let _ = parse_file(name, &bytes);
        // with a valid checksum, the body itself is checked too
        let mut sealed = b"SXTI\x01".to_vec();
        sealed.extend_from_slice(&bytes);
        let _ = TracesBlockIndex::parse(&codec::seal(sealed.clone()));
        sealed[..4].copy_from_slice(b"SXTS");
        let _ = TracesSearchColumns::parse(&codec::seal(sealed.clone()));
        sealed[..4].copy_from_slice(b"SXTB");
        let _ = TracesBloom::parse(&codec::seal(sealed));
        let _ = read_page(&codec::seal(bytes));
    }
}

#[test]
fn sealed_bodies_that_are_not_snappy_or_entries_are_errors() {
    let entries = codec::seal(codec::compress(b"\x01\x02", "t").unwrap());
    let not_snappy = codec::seal(vec![0xff; 8]);
    for bytes in [entries, not_snappy] {
        assert!(read_page(&bytes).is_err());
    }
}
