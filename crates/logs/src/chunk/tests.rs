use proptest::prelude::*;
use sextant_model::Labels;

use super::*;

fn entry(ts_ns: i64, line: &str, metadata: &[(&str, &str)]) -> Entry {
    Entry {
        ts_ns,
        line: line.to_owned(),
        metadata: Labels::from_pairs(metadata.iter().copied()),
    }
}

fn chunk_of(entries: &[Entry], block_bytes: usize) -> LogsChunk {
    let mut chunk = LogsChunk::new(block_bytes);
    for e in entries {
        chunk.push(e.clone()).unwrap();
    }
    chunk
}

/// Entries 0..n at 10 ns steps, every third with metadata.
fn sample(n: i64) -> Vec<Entry> {
    (0..n)
        .map(|i| {
            let meta: &[(&str, &str)] = if i % 3 == 0 {
                &[("trace_id", "abc"), ("user", "u1")]
            } else {
                &[]
            };
            entry(i * 10, &format!("GET /api/{i} 200"), meta)
        })
        .collect()
}

#[test]
fn entries_round_trip_through_blocks_and_bytes() {
    // block sizes: everything open, a block every entry or so, a few blocks
    for block_bytes in [1 << 20, 1, 200] {
        let entries = sample(50);
        let chunk = chunk_of(&entries, block_bytes);
        assert_eq!(
            chunk.entries().unwrap(),
            entries,
            "block_bytes {block_bytes}"
        );
        let parsed = LogsChunk::from_bytes(&chunk.to_bytes().unwrap(), block_bytes).unwrap();
        assert_eq!(
            parsed.entries().unwrap(),
            entries,
            "block_bytes {block_bytes}"
        );
        assert_eq!(parsed.time_range(), Some((0, 490)));
    }
}

#[test]
fn out_of_order_pushes_come_back_sorted_with_ties_in_arrival_order() {
    let input = [
        entry(30, "c", &[]),
        entry(10, "a", &[]),
        entry(30, "d", &[]),
        entry(20, "b", &[]),
        entry(10, "a2", &[]),
    ];
    for block_bytes in [1 << 20, 1, 120] {
        let chunk = chunk_of(&input, block_bytes);
        let lines: Vec<String> = chunk
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(
            lines,
            ["a", "a2", "b", "c", "d"],
            "block_bytes {block_bytes}"
        );
    }
}

#[test]
fn entries_in_selects_half_open_ranges() {
    let chunk = chunk_of(&sample(20), 150);
    let cases = [
        (0, 10, vec![0]),
        (0, 11, vec![0, 10]),
        (15, 45, vec![20, 30, 40]),
        (190, i64::MAX, vec![190]),
        (200, 300, vec![]),
        (50, 50, vec![]),
        (i64::MIN, 1, vec![0]),
    ];
    for (start, end, want) in cases {
        let mut out = Vec::new();
        chunk.entries_in(start, end, &mut out).unwrap();
        let mut got: Vec<i64> = out.iter().map(|e| e.ts_ns).collect();
        got.sort_unstable();
        assert_eq!(got, want, "[{start}, {end})");
        let counts = chunk.counts_in(start, end).unwrap();
        assert_eq!(counts.entries, want.len() as u64, "[{start}, {end})");
        let bytes: u64 = out.iter().map(|e| e.line.len() as u64).sum();
        assert_eq!(counts.line_bytes, bytes, "[{start}, {end})");
    }
}

#[test]
fn contains_finds_exact_entries_in_open_and_closed_blocks() {
    let chunk = chunk_of(&sample(30), 200);
    assert!(chunk.blocks().count() > 2);
    let cases = [
        (0, "GET /api/0 200", true),
        (290, "GET /api/29 200", true),
        (100, "GET /api/10 200", true),
        (100, "GET /api/11 200", false),
        (105, "GET /api/10 200", false),
    ];
    let parsed = LogsChunk::from_bytes(&chunk.to_bytes().unwrap(), 200).unwrap();
    for (ts, line, want) in cases {
        assert_eq!(chunk.contains(ts, line).unwrap(), want, "{ts} {line}");
        assert_eq!(
            parsed.contains(ts, line).unwrap(),
            want,
            "parsed: {ts} {line}"
        );
    }
}

#[test]
fn closed_blocks_rule_out_absent_entries_without_decompressing() {
    let chunk = chunk_of(&sample(30), 200);
    let parsed = LogsChunk::from_bytes(&chunk.to_bytes().unwrap(), 200).unwrap();
    let block = &chunk.blocks[0];
    let (ts, line) = (block.min_ts, "GET /api/0 200");
    assert!(block.may_contain(ts, line));
    assert!(!block.may_contain(ts, "GET /api/0 500"));
    assert!(!block.may_contain(ts + 1, line));
    assert!(!block.may_contain(block.max_ts + 1, line));
    // blocks read from bytes carry no hashes: only their time range rules out
    assert!(parsed.blocks[0].keys.is_none());
    assert!(parsed.blocks[0].may_contain(ts, "GET /api/0 500"));
    // a corrupt block is not touched when the hashes rule the entry out
    let mut corrupt = chunk.clone();
    corrupt.blocks[0].data[0] ^= 0xff;
    assert!(!corrupt.contains(ts, "GET /api/0 500").unwrap());
    assert_eq!(corrupt.contains(ts, line), Err(LogsChunkError::Checksum));
}

#[test]
fn blocks_outside_the_range_are_not_decompressed() {
    let chunk = chunk_of(&sample(40), 200);
    let blocks: Vec<LogsChunkBlockMeta> = chunk.blocks().collect();
    assert!(blocks.len() >= 3, "{blocks:?}");
    let mut bytes = chunk.to_bytes().unwrap();
    // flip the last byte of the first block's data: the block comes right after the header
    let header_len = bytes.len() - chunk.to_bytes_data_len();
    bytes[header_len + blocks[0].compressed_bytes - 1] ^= 0xff;
    let parsed = LogsChunk::from_bytes(&bytes, 200).unwrap();
    let mut out = Vec::new();
    let after_first = blocks[0].max_ts_ns + 1;
    parsed.entries_in(after_first, i64::MAX, &mut out).unwrap();
    assert_eq!(out.len(), 40 - blocks[0].entries as usize);
    let err = parsed.entries_in(0, after_first, &mut out).unwrap_err();
    assert_eq!(err, LogsChunkError::Checksum);
}

#[test]
fn corrupt_headers_are_errors() {
    let good = chunk_of(&sample(10), 100).to_bytes().unwrap();
    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    let mut bad_crc = good.clone();
    bad_crc[8] ^= 1;
    let mut trailing = good.clone();
    trailing.push(0);
    let truncated = &good[..good.len() - 1];
    for (name, bytes) in [
        ("magic", &bad_magic[..]),
        ("crc", &bad_crc[..]),
        ("trailing", &trailing[..]),
        ("truncated", truncated),
        ("empty", &[][..]),
    ] {
        assert!(LogsChunk::from_bytes(bytes, 100).is_err(), "{name}");
    }
}

impl LogsChunk {
    /// Bytes of the serialized chunk after its header.
    fn to_bytes_data_len(&self) -> usize {
        self.blocks.iter().map(|b| b.data.len() + 4).sum()
    }
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    let meta = proptest::collection::vec(("[a-z_]{1,6}", ".{0,8}"), 0..3);
    (-1000i64..1000, ".{0,40}", meta).prop_map(|(ts, line, meta)| Entry {
        ts_ns: ts,
        line,
        metadata: Labels::from_pairs(meta),
    })
}

fn line_filter(query: &str) -> LogsLineFilter {
    let expr = crate::logql::parse::parse_log_expr(query).unwrap();
    LogsLineFilter::new(&expr.pipeline).unwrap()
}

/// What `entries_matching` must return: `entries_in`, then the filter on each line.
fn entries_in_then_filter(
    chunk: &LogsChunk,
    start: i64,
    end: i64,
    f: &LogsLineFilter,
) -> Vec<Entry> {
    let mut all = Vec::new();
    chunk.entries_in(start, end, &mut all).unwrap();
    all.retain(|e| f.matches(&e.line));
    all
}

#[test]
fn entries_matching_filters_lines_in_range() {
    let entries = sample(50);
    let cases = [
        (r#"{a="b"} |= "/api/1""#, 0, 500, 11),
        (r#"{a="b"} |= "/api/1""#, 100, 200, 10),
        (r#"{a="b"} |= "/api/7" or "/api/42""#, 0, 500, 2),
        (r#"{a="b"} != "/api/1""#, 0, 500, 39),
        (r#"{a="b"} |~ "api/[0-2] ""#, 0, 500, 3),
        (r#"{a="b"} |= "api" |= "nope""#, 0, 500, 0),
        (r#"{a="b"} |= "trace_id""#, 0, 500, 0), // metadata is not the line
        (r#"{a="b"} | logfmt |= "nope""#, 0, 500, 50), // only leading filters
        (r#"{a="b"}"#, 0, 500, 50),
        (r#"{a="b"} |= "/api/1""#, 500, 0, 0),
    ];
    for block_bytes in [1 << 20, 1, 200] {
        let chunk = chunk_of(&entries, block_bytes);
        for (query, start, end, want) in cases {
            let f = line_filter(query);
            let mut got = Vec::new();
            chunk.entries_matching(start, end, &f, &mut got).unwrap();
            assert_eq!(
                got.len(),
                want,
                "{query} [{start}, {end}) block_bytes {block_bytes}"
            );
            assert_eq!(
                got,
                entries_in_then_filter(&chunk, start, end, &f),
                "{query}"
            );
        }
    }
}

#[test]
fn entries_matching_checks_block_checksums() {
    let chunk = chunk_of(&sample(20), 100);
    let mut bytes = chunk.to_bytes().unwrap();
    let last = bytes.len() - 6;
    bytes[last] ^= 0x55;
    let parsed = LogsChunk::from_bytes(&bytes, 100).unwrap();
    let mut out = Vec::new();
    let err = parsed
        .entries_matching(
            0,
            1000,
            &line_filter(r#"{a="b"} |= "nothing like it""#),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(err, LogsChunkError::Checksum);
}

proptest! {
    #[test]
    fn entries_matching_is_entries_in_then_the_filter(
        entries in proptest::collection::vec(
            (-50i64..50, "[ab=x]{0,12}").prop_map(|(ts, line)| entry(ts, &line, &[])), 0..60),
        block_bytes in 1usize..400,
        needle in "[ab=]{1,3}",
        negate in any::<bool>(),
        start in -60i64..60, len in 0i64..120,
        serialize in any::<bool>(),
    ) {
        let mut chunk = chunk_of(&entries, block_bytes);
        if serialize {
            chunk = LogsChunk::from_bytes(&chunk.to_bytes().unwrap(), block_bytes).unwrap();
        }
        let op = if negate { "!=" } else { "|=" };
        let f = line_filter(&format!("{{a=\"b\"}} {op} \"{needle}\""));
        let mut got = Vec::new();
        chunk.entries_matching(start, start + len, &f, &mut got).unwrap();
        prop_assert_eq!(got, entries_in_then_filter(&chunk, start, start + len, &f));
    }

    #[test]
    fn contains_is_membership(
        entries in proptest::collection::vec(
            (0i64..40, "[ab]{0,3}").prop_map(|(ts, line)| entry(ts, &line, &[])), 0..60),
        block_bytes in 1usize..300,
        probes in proptest::collection::vec((0i64..42, "[ab]{0,3}"), 1..20),
    ) {
        let chunk = chunk_of(&entries, block_bytes);
        let parsed = LogsChunk::from_bytes(&chunk.to_bytes().unwrap(), block_bytes).unwrap();
        for (ts, line) in &probes {
            let want = entries.iter().any(|e| e.ts_ns == *ts && &e.line == line);
            prop_assert_eq!(chunk.contains(*ts, line).unwrap(), want);
            prop_assert_eq!(parsed.contains(*ts, line).unwrap(), want);
        }
        for e in &entries {
            prop_assert!(chunk.contains(e.ts_ns, &e.line).unwrap());
        }
    }

    #[test]
    fn codec_round_trips(entries in proptest::collection::vec(arb_entry(), 0..60),
                         block_bytes in 1usize..2000) {
        let chunk = chunk_of(&entries, block_bytes);
        let mut want = entries.clone();
        want.sort_by_key(|e| e.ts_ns);
        prop_assert_eq!(chunk.entries().unwrap(), want.clone());
        let parsed = LogsChunk::from_bytes(&chunk.to_bytes().unwrap(), block_bytes).unwrap();
        prop_assert_eq!(parsed.entries().unwrap(), want);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(chunk) = LogsChunk::from_bytes(&bytes, 100) {
            let _ = chunk.entries();
            let _ = chunk.counts_in(0, 10);
        }
    }

    #[test]
    fn flipped_bytes_never_panic(entries in proptest::collection::vec(arb_entry(), 1..20),
                                 at in any::<usize>(), bit in 0u8..8) {
        let mut bytes = chunk_of(&entries, 64).to_bytes().unwrap();
        let at = at % bytes.len();
        bytes[at] ^= 1 << bit;
        if let Ok(chunk) = LogsChunk::from_bytes(&bytes, 64) {
            let _ = chunk.entries();
        }
    }
}
