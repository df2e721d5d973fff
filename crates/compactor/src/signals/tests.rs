use std::collections::BTreeSet;

use sextant_logs::block::LogsBlockMeta;
use sextant_metrics::block::BlockMeta;
use sextant_traces::block::TracesBlockMeta;

use super::fixtures::*;
use super::*;

fn target() -> MergeTarget {
    MergeTarget {
        block_id: "01MERGED".into(),
        source: "compactor-1".into(),
    }
}

/// The merged block's files as a source block, checking `meta.json` comes last.
fn as_block(merged: MergedBlock) -> SourceBlock {
    assert_eq!(merged.files.last().map(|f| f.0), Some(META_FILE));
    SourceBlock {
        block_id: "01MERGED".into(),
        files: merged
            .files
            .into_iter()
            .map(|(f, b)| (f.to_owned(), b))
            .collect(),
    }
}

#[test]
fn metrics_replicas_merge_into_the_distinct_samples() {
    let a: Vec<(i64, f64)> = (0..100).map(|i| (i * 15_000, i as f64)).collect();
    let b: Vec<(i64, f64)> = (50..150).map(|i| (i * 15_000, i as f64)).collect();
    let sources = [
        metrics_block("01A", &[("up", a.clone()), ("x", a.clone())]),
        metrics_block("01B", &[("up", a.clone())]),
        metrics_block("01C", &[("up", b.clone())]),
    ];
    let want: BTreeSet<_> = sources.iter().flat_map(metrics_samples).collect();
    let compaction = signal_compaction(Signal::Metrics);
    let merged = as_block(compaction.merge(&sources, &target()).unwrap().unwrap());
    assert_eq!(metrics_samples(&merged), want);
    assert_eq!(want.len(), 250);
    let meta = BlockMeta::from_json(&merged.files[META_FILE]).unwrap();
    assert_eq!((meta.compaction.level, meta.stats.series), (2, 2));
    assert_eq!(meta.compaction.sources, ["01A", "01B", "01C"]);
    assert_eq!(meta.source_ingester, "compactor-1");
    let read = read_compaction_meta(Signal::Metrics, "01MERGED", &merged.files[META_FILE]);
    assert_eq!(read.unwrap().sources, ["01A", "01B", "01C"]);
}

#[test]
fn logs_replicas_merge_into_the_distinct_entries() {
    let entries = vec![(1_000, "a"), (2_000, "b"), (3_000, "c")];
    let sources = [
        logs_block("01A", &[("api", entries.clone()), ("db", entries.clone())]),
        logs_block("01B", &[("api", entries.clone())]),
        logs_block("01C", &[("api", vec![(3_000, "c"), (4_000, "d")])]),
    ];
    let compaction = signal_compaction(Signal::Logs);
    let merged = as_block(compaction.merge(&sources, &target()).unwrap().unwrap());
    let meta = LogsBlockMeta::from_json(&merged.files[META_FILE]).unwrap();
    assert_eq!((meta.stats.streams, meta.stats.entries), (2, 7));
    assert_eq!(meta.compaction.level, 2);
    assert_eq!(logs_streams(&merged), 2);
}

#[test]
fn traces_replicas_merge_into_the_distinct_spans() {
    let sources = [
        traces_block("01A", &[(1, vec![0, 1, 2]), (2, vec![0])]),
        traces_block("01B", &[(1, vec![0, 1, 2]), (2, vec![0])]),
        traces_block("01C", &[(1, vec![2, 3]), (3, vec![0, 1])]),
    ];
    let compaction = signal_compaction(Signal::Traces);
    let merged = as_block(compaction.merge(&sources, &target()).unwrap().unwrap());
    let meta = TracesBlockMeta::from_json(&merged.files[META_FILE]).unwrap();
    assert_eq!((meta.traces, meta.spans), (3, 7));
    assert_eq!(meta.compaction.sources, ["01A", "01B", "01C"]);
    let names: Vec<&str> = merged.files.keys().map(String::as_str).collect();
    assert_eq!(names, ["bloom", "data", "index", "meta.json", "search"]);
}

#[test]
fn each_signal_lists_its_files_and_versions() {
    // (signal, data files, a version it refuses)
    let cases = [
        (Signal::Metrics, vec!["index", "chunks"], 4),
        (Signal::Logs, vec!["index", "chunks"], 2),
        (Signal::Traces, vec!["data", "index", "bloom", "search"], 2),
    ];
    for (signal, files, newer) in cases {
        let c = signal_compaction(signal);
        assert_eq!(c.signal(), signal);
        assert_eq!(c.data_files(), files.as_slice(), "{signal:?}");
        assert!(!c.supported_versions().contains(&newer), "{signal:?}");
        assert!(c.supported_versions().contains(&1), "{signal:?}");
    }
}

#[test]
fn a_missing_file_or_a_bad_meta_is_an_error() {
    let mut block = metrics_block("01A", &[("up", vec![(1, 1.0)])]);
    block.files.remove("chunks");
    let err = MetricsCompaction.merge(&[block], &target()).unwrap_err();
    assert!(err.to_string().contains("chunks"), "{err}");
    assert!(read_compaction_meta(Signal::Logs, "b", b"{}").is_err());
    let meta = read_compaction_meta(Signal::Logs, "b", br#"{"version":1}"#).unwrap();
    assert_eq!((meta.level, meta.sources), (1, vec!["b".to_owned()]));
    assert_eq!(meta.time_range_ms, None);
}

#[test]
fn ns_times_round_down_so_aligned_blocks_do_not_touch() {
    // (min ns, max ns, range in ms)
    let cases: [(i64, i64, (i64, i64)); 3] = [
        (0, 7_199_999_999_999, (0, 7_199_999)),
        (7_200_000_000_000, 7_200_000_500_000, (7_200_000, 7_200_000)),
        (-1, 1, (-1, 0)),
    ];
    for (min, max, want) in cases {
        let json = format!(r#"{{"version":1,"min_time_ns":{min},"max_time_ns":{max}}}"#);
        let meta = read_compaction_meta(Signal::Traces, "b", json.as_bytes()).unwrap();
        assert_eq!(meta.time_range_ms, Some(want), "{min}..{max}");
    }
}

/// Peak resident memory of the process (Linux), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

/// Throughput of a metrics merge of three replicas of `SERIES` series of 2h at 15s
/// (`cargo test -p sextant-compactor --release -- --ignored merge_throughput --nocapture`).
#[test]
#[ignore = "benchmark: run in release"]
fn merge_throughput() {
    const SERIES: usize = 30_000;
    let names: Vec<String> = (0..SERIES).map(|i| format!("metric_{i:06}")).collect();
    let series: Vec<(&str, Vec<(i64, f64)>)> = names
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let samples = (0..480).map(|i| (i * 15_000, ((i * 31 + n as i64) % 977) as f64));
            (name.as_str(), samples.collect())
        })
        .collect();
    let sources: Vec<SourceBlock> = ["01A", "01B", "01C"]
        .iter()
        .map(|id| metrics_block(id, &series))
        .collect();
    drop(series);
    let input_bytes: u64 = sources.iter().map(SourceBlock::size_bytes).sum();
    // reset the high-water mark (Linux >= 4.0) so that it measures the merge alone
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss_mib();
    let started = std::time::Instant::now();
    let merged = MetricsCompaction
        .merge(&sources, &target())
        .unwrap()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let samples = (3 * SERIES * 480) as f64;
    eprintln!(
        "merged 3 x {SERIES} series x 480 samples in {seconds:.2}s: {:.1} M samples/s, {:.1} MB/s in, input {:.1} MB, output {:.1} MB, peak RSS {before:.0} -> {:.0} MiB",
        samples / seconds / 1e6,
        input_bytes as f64 / seconds / 1e6,
        input_bytes as f64 / 1e6,
        merged.size_bytes() as f64 / 1e6,
        peak_rss_mib()
    );
}
