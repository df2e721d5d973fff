//! The traces block reader over blocks in an in-memory bucket: which blocks a range opens,
//! and that a trace by ID reads the index, the bloom and one page of `data`, nothing more.

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::ObjectStore;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use sextant_model::TenantId;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sextant_storage::BucketBlock;
use sextant_traces::block::{TracesBlockOptions, TracesBlockWriter};
use sextant_traces::model::{Trace, TraceId};

use super::testing::put_traces_block;
use super::{block_may_overlap, TracesBlockReader};
use crate::config::QuerierConfig;

const T0_MS: i64 = 1_700_000_000_000;
const MS: i64 = 1_000_000;

#[test]
fn blocks_overlap_ranges_with_unbounded_zeros() {
    let block = BucketBlock {
        block_id: "b".into(),
        min_time_ms: T0_MS,
        max_time_ms: T0_MS + 1000,
        compaction_level: 1,
        source: "a".into(),
        resolution_ms: 0,
    };
    let t = |ms: i64| (T0_MS + ms) * MS;
    let cases = [
        ("unbounded", 0, 0, true),
        ("inside", t(100), t(200), true),
        ("ends at the block's start", t(-100), t(0), false),
        ("ends just after its start", t(-100), t(0) + 1, true),
        ("starts at its end", t(1000), t(2000), true),
        ("starts after its end", t(1001), t(2000), false),
        ("only a start, before", t(500), 0, true),
        ("only a start, after", t(1001), 0, false),
        ("only an end, after", 0, t(1), true),
        ("only an end, before", 0, t(-1), false),
    ];
    for (name, start, end, want) in cases {
        assert_eq!(block_may_overlap(&block, start, end), want, "{name}");
    }
}

fn trace(n: u8) -> Trace {
    let mut id = [0; 16];
    id[15] = n;
    let start = (T0_MS * MS) as u64 + u64::from(n) * 1_000_000;
    Trace {
        id: TraceId(id),
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: id.to_vec(),
                    span_id: vec![n; 8],
                    name: format!("span {n}"),
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 1_000_000,
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// The value of a counter in the registry's text exposition.
fn counter(registry: &Registry, name: &str) -> u64 {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn trace_by_id_fetches_one_page() {
    let tenant = TenantId::parse("team-a").unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    // even IDs only, 512-byte pages: odd IDs fall inside pages' ID ranges, the bloom rules
    // them out
    let mut writer = TracesBlockWriter::new(TracesBlockOptions { page_bytes: 512 });
    for n in (2..=100).step_by(2) {
        writer.add_trace(&trace(n)).unwrap();
    }
    let block = writer.finish("01BLOCK".into(), "a".into()).unwrap();
    let page_len = |n: u8| -> u64 {
        let index = sextant_traces::block::TracesBlockIndex::parse(&block.index).unwrap();
        index.page_for(&trace(n).id).unwrap().len
    };
    let (index_len, bloom_len) = (block.index.len() as u64, block.bloom.len() as u64);
    let first_page = page_len(42);
    assert!(block.meta.pages > 2, "{} pages", block.meta.pages);
    assert_ne!(page_len(43), 0, "43 falls in a page's range");
    put_traces_block(&*store, &tenant, "01BLOCK", &block).await;
    let mut registry = Registry::default();
    let reader = TracesBlockReader::new(&QuerierConfig::default(), store, &mut registry);
    let fetched = "sextant_querier_traces_block_fetched_bytes_total";

    let found = reader.find(&tenant, trace(42).id, 0, 0).await.unwrap();
    assert_eq!(found, vec![trace(42)]);
    assert_eq!(
        counter(&registry, fetched),
        index_len + bloom_len + first_page
    );

    // cached index and bloom: only the page
    let found = reader.find(&tenant, trace(44).id, 0, 0).await.unwrap();
    assert_eq!(found, vec![trace(44)]);
    let after_two = index_len + bloom_len + first_page + page_len(44);
    assert_eq!(counter(&registry, fetched), after_two);

    // in a page's range but not in the bloom, or beyond the last page: nothing fetched
    for absent in [43, 101] {
        assert!(reader
            .find(&tenant, trace(absent).id, 0, 0)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(counter(&registry, fetched), after_two, "{absent}");
    }

    // a range that misses the block: not even opened
    let late = (T0_MS + 10_000) * MS;
    assert!(reader
        .find(&tenant, trace(42).id, late, 0)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        counter(&registry, "sextant_querier_traces_blocks_opened_total"),
        4
    );
}
