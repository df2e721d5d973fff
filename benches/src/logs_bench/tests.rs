//! The measurements on small inputs: every path gives the right answer and the report adds up.

use super::haystack::{self, HaystackSpec, QueryPath};
use super::ingest::{encode_pushes, run_ingest, IngestSpec};
use super::quantile;
use super::report::LogsBenchReport;
use crate::logs_gen::LogsWorkload;
use crate::procfs;

#[test]
fn quantiles_by_nearest_rank() {
    let cases: [(&[f64], f64, Option<f64>); 5] = [
        (&[], 0.5, None),
        (&[3.0], 0.99, Some(3.0)),
        (&[4.0, 1.0, 3.0, 2.0], 0.5, Some(2.0)),
        (&[4.0, 1.0, 3.0, 2.0], 0.99, Some(4.0)),
        (&[4.0, 1.0, 3.0, 2.0], 0.0, Some(1.0)),
    ];
    for (samples, q, want) in cases {
        assert_eq!(quantile(samples, q), want, "{samples:?} {q}");
    }
}

#[test]
fn ingest_stores_every_line_of_every_workload() {
    let ticks = procfs::clock_ticks();
    for workload in LogsWorkload::ALL {
        let spec = IngestSpec {
            workload,
            raw_bytes: 300 << 10,
            push_bytes: 64 << 10,
            seed: 1,
        };
        let (pushes, streams) = encode_pushes(&spec).unwrap();
        assert!(pushes.len() >= 5, "{workload:?}: {} pushes", pushes.len());
        let dir = tempfile::tempdir().unwrap();
        let r = run_ingest(&spec, &pushes, streams, dir.path(), ticks).unwrap();
        assert_eq!(r.lines, pushes.iter().map(|p| p.lines).sum::<usize>());
        assert!(r.raw_bytes >= spec.raw_bytes, "{r:?}");
        assert!(
            (0.05..1.0).contains(&r.stored_bytes_per_raw_byte),
            "{workload:?}: {}",
            r.stored_bytes_per_raw_byte
        );
        assert!(r.wal_bytes_per_raw_byte > 1.0, "the WAL holds every line");
    }
}

#[test]
fn every_query_path_finds_exactly_the_needles() {
    let ticks = procfs::clock_ticks();
    for needles in [1, 3] {
        let spec = HaystackSpec {
            raw_bytes: 3 << 20,
            block_bytes: 1 << 20,
            push_bytes: 128 << 10,
            needles,
            seed: 9,
        };
        let dir = tempfile::tempdir().unwrap();
        let h = haystack::build(&spec, dir.path(), ticks).unwrap();
        assert_eq!(h.blocks.len(), 3);
        assert_eq!(h.planted.len(), needles);
        let summary = haystack::describe(&h);
        assert_eq!(summary.lines, h.lines);
        for path in QueryPath::ALL {
            // time_query fails unless the planted lines, and only they, come back
            let q = haystack::time_query(&h, path, 2, ticks).unwrap();
            assert_eq!((q.runs, q.lines_found), (2, needles), "{}", q.path);
        }
    }
}

#[test]
fn the_report_prints_every_row() {
    let ticks = procfs::clock_ticks();
    let spec = IngestSpec {
        workload: LogsWorkload::Nginx,
        raw_bytes: 64 << 10,
        push_bytes: 16 << 10,
        seed: 2,
    };
    let (pushes, streams) = encode_pushes(&spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = LogsBenchReport {
        host_cores: 2,
        load_avg_1m: Some(0.5),
        ingest: vec![run_ingest(&spec, &pushes, streams, dir.path(), ticks).unwrap()],
        haystack: None,
        needle_queries: Vec::new(),
        http: None,
    };
    let text = report.to_markdown();
    assert!(text.contains("| nginx | 36 |"), "{text}");
    assert_eq!(text.matches("| nginx |").count(), 2, "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["ingest"][0]["workload"], "nginx");
}
