//! By-hand measurements (release): `cargo test -p sextant-traces --release --lib
//! block::tests::measure -- --ignored --nocapture`. `SEXTANT_BLOCK_TRACES` sets the number
//! of traces (default 200000: the run stays within ~20 s).

use std::time::{Duration, Instant};

use super::gen::generated_trace;
use super::*;

/// Trace `i` of the measurement: 10 spans, IDs ascending with `i` so traces are generated
/// as they are written.
fn trace(i: u64) -> Trace {
    let mut t = generated_trace(i, 10);
    t.id.0[..8].copy_from_slice(&i.to_be_bytes());
    t
}

#[test]
#[ignore = "measurement, run by hand in release"]
fn measure_block() {
    let n: u64 = std::env::var("SEXTANT_BLOCK_TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let (block, write, otlp_bytes) = write_block(n);
    let spans = block.meta.spans as f64;
    let stored = block.data.len() + block.index.len() + block.bloom.len() + block.search.len();
    eprintln!(
        "{n} traces, {spans} spans: OTLP {otlp_bytes} B; data {} B, index {} B, bloom {} B, search {} B",
        block.data.len(),
        block.index.len(),
        block.bloom.len(),
        block.search.len()
    );
    eprintln!(
        "bytes per span: {:.1} stored ({:.1} data, {:.1} search); OTLP {:.1}",
        stored as f64 / spans,
        block.data.len() as f64 / spans,
        block.search.len() as f64 / spans,
        otlp_bytes as f64 / spans
    );
    eprintln!(
        "write (generation excluded): {:.2} s, {:.0} spans/s, {:.1} MB/s of OTLP",
        write.as_secs_f64(),
        spans / write.as_secs_f64(),
        otlp_bytes as f64 / 1e6 / write.as_secs_f64()
    );
    measure_trace_by_id(&block, n);
    measure_search(&block);
}

fn write_block(n: u64) -> (EncodedTracesBlock, Duration, usize) {
    let mut otlp_bytes = 0;
    let mut generating = Duration::ZERO;
    let started = Instant::now();
    let mut w = TracesBlockWriter::new(TracesBlockOptions::default());
    for i in 0..n {
        let generated = Instant::now();
        let t = trace(i);
        generating += generated.elapsed();
        otlp_bytes += t.encoded_len();
        w.add_trace(&t).unwrap();
    }
    let block = w.finish("bench".into(), "ingester".into()).unwrap();
    (block, started.elapsed() - generating, otlp_bytes)
}

fn measure_trace_by_id(block: &EncodedTracesBlock, n: u64) {
    let started = Instant::now();
    let index = TracesBlockIndex::parse(&block.index).unwrap();
    let bloom = TracesBloom::parse(&block.bloom).unwrap();
    eprintln!(
        "open index + bloom: {:?} ({} pages)",
        started.elapsed(),
        index.pages().len()
    );
    let lookups = 1_000;
    let wanted: Vec<Trace> = (0..n)
        .step_by((n as usize / lookups).max(1))
        .take(lookups)
        .map(trace)
        .collect();
    let started = Instant::now();
    for t in &wanted {
        assert!(bloom.may_contain(&t.id));
        let r = index.page_for(&t.id).unwrap().range();
        let page = read_page(&block.data[r.start as usize..r.end as usize]).unwrap();
        assert_eq!(page.find(&t.id).unwrap().as_ref(), Some(t));
    }
    eprintln!(
        "trace by ID (bloom, index, page decode, find): {:?} each",
        started.elapsed() / wanted.len() as u32
    );
}

fn measure_search(block: &EncodedTracesBlock) {
    let started = Instant::now();
    let body = codec::open(&block.search, crate::block::search::SEARCH_MAGIC, "search").unwrap();
    let body = codec::decompress(body, "search").unwrap();
    eprintln!(
        "search body: {} B uncompressed, decompressed in {:?}",
        body.len(),
        started.elapsed()
    );
    let started = Instant::now();
    let columns = TracesSearchColumns::parse(&block.search).unwrap();
    eprintln!("parse search columns: {:?}", started.elapsed());
    for query in [
        r#"{ span.user.id = "user-7" }"#,
        r#"{ resource.service.name = "checkout" && span.http.status_code = 404 }"#,
        r#"{ duration > 50ms }"#,
    ] {
        let prefilter = TracesPrefilter::from_query(&crate::traceql::parse(query).unwrap());
        let filter = TracesBlockFilter {
            prefilter,
            ..TracesBlockFilter::default()
        };
        let started = Instant::now();
        let found = columns.candidates(&filter).len();
        eprintln!("candidates for {query}: {found} in {:?}", started.elapsed());
    }
}
