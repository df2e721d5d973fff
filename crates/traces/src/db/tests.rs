use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use prost::Message;
use sextant_proto::otlp::trace::v1::{Span, TracesData};

use super::*;
use crate::model::tests::{attr, resource_spans, span, trace_id};
use crate::model::{Trace, TraceId};
use crate::traceql::eval::TraceqlEvaluator;
use crate::traceql::parse;

const BASE_NS: u64 = 1_700_000_000_000_000_000;

fn tid(n: u8) -> TraceId {
    TraceId::from_bytes(&trace_id(n)).unwrap()
}

/// Span `span_id` of trace `trace`, starting `start_s` seconds after BASE, lasting `dur_ms`.
fn timed(trace: u8, span_id: u8, name: &str, start_s: u64, dur_ms: u64) -> Span {
    let start = BASE_NS + start_s * 1_000_000_000;
    Span {
        start_time_unix_nano: start,
        end_time_unix_nano: start + dur_ms * 1_000_000,
        ..span(trace, span_id, name)
    }
}

/// The encoded `TracesData` of spans under one resource of `service`.
fn fragment(service: &str, spans: Vec<Span>) -> Bytes {
    TracesData {
        resource_spans: vec![resource_spans(service, vec![("lib", spans)])],
    }
    .encode_to_vec()
    .into()
}

/// A fragment of trace `n` holding spans `span_ids` (a 1 s root-less batch at 0 s).
fn frag(n: u8, span_ids: &[u8]) -> (TraceId, Bytes) {
    let spans = span_ids
        .iter()
        .map(|&s| timed(n, s, "op", 0, 100))
        .collect();
    (tid(n), fragment("svc", spans))
}

fn config(dir: &Path) -> TracesDbConfig {
    TracesDbConfig {
        dir: dir.to_path_buf(),
        ..TracesDbConfig::default()
    }
}

fn open(config: TracesDbConfig) -> TracesTenantDb {
    TracesTenantDb::open(config).unwrap().0
}

const NO_LIMITS: TracesAppendLimits = TracesAppendLimits {
    max_live_traces: 0,
    max_bytes_per_trace: 0,
};

fn span_ids(trace: &Trace) -> Vec<u8> {
    let mut ids: Vec<u8> = trace.spans().map(|s| s.span_id[7]).collect();
    ids.sort_unstable();
    ids
}

#[test]
fn find_merges_fragments_across_places_and_dedups_spans() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(config(dir.path()));
    let report = db
        .append(&[frag(1, &[1, 2]), frag(1, &[2, 3])], NO_LIMITS, 0)
        .unwrap();
    assert_eq!(
        (
            report.traces_written,
            report.spans_written,
            report.traces_created
        ),
        (2, 4, 1)
    );
    assert_eq!(span_ids(&db.find(&tid(1)).unwrap()), vec![1, 2, 3]);
    assert_eq!(db.find(&tid(9)), None);
    // completed, then a new partial trace for the same ID
    assert_eq!(db.cut_idle(60_000), 1);
    db.append(&[frag(1, &[3, 4])], NO_LIMITS, 60_000).unwrap();
    assert_eq!((db.live_traces(), db.completed_traces()), (1, 1));
    assert_eq!(span_ids(&db.find(&tid(1)).unwrap()), vec![1, 2, 3, 4]);
    // the cut holds the completed part, which stays findable until released
    let cut = db.cut_block(60_000, Duration::ZERO, 0, true).unwrap();
    assert_eq!(cut.len(), 1);
    assert_eq!(span_ids(&cut.traces().next().unwrap()), vec![1, 2, 3]);
    // spans held, counted before deduplication (the block's meta counts them once)
    assert_eq!(cut.spans, 4);
    assert_eq!(span_ids(&db.find(&tid(1)).unwrap()), vec![1, 2, 3, 4]);
    let released = db.release(cut.seq).unwrap();
    assert_eq!((released.traces, released.spans), (1, 4));
    assert_eq!(span_ids(&db.find(&tid(1)).unwrap()), vec![3, 4]);
}

#[test]
fn limits_refuse_new_and_oversized_traces_naming_the_limit() {
    let one_span = frag(1, &[1]).1.len() as u64;
    // (name, limits, first call, second call, written in the second, refused reason, its count)
    type Case = (
        &'static str,
        TracesAppendLimits,
        Vec<(TraceId, Bytes)>,
        Vec<(TraceId, Bytes)>,
        u64,
        Option<(TracesRejectReason, u64)>,
    );
    let live = |n| TracesAppendLimits {
        max_live_traces: n,
        max_bytes_per_trace: 0,
    };
    let size = |n| TracesAppendLimits {
        max_live_traces: 0,
        max_bytes_per_trace: n,
    };
    let cases: Vec<Case> = vec![
        (
            "under both",
            live(3),
            vec![frag(1, &[1])],
            vec![frag(2, &[1]), frag(1, &[2])],
            2,
            None,
        ),
        (
            "new trace over max live",
            live(2),
            vec![frag(1, &[1]), frag(2, &[1])],
            vec![frag(3, &[1]), frag(1, &[2])],
            1,
            Some((TracesRejectReason::LiveTracesExceeded, 1)),
        ),
        (
            "max live counts traces created in the same call",
            live(2),
            vec![],
            vec![
                frag(1, &[1]),
                frag(2, &[1]),
                frag(3, &[1]),
                frag(4, &[1]),
                frag(2, &[2]),
            ],
            3,
            Some((TracesRejectReason::LiveTracesExceeded, 2)),
        ),
        (
            "trace growing past max bytes",
            size(one_span * 3 / 2),
            vec![frag(1, &[1])],
            vec![frag(1, &[2]), frag(2, &[1])],
            1,
            Some((TracesRejectReason::TraceTooLarge, 1)),
        ),
        (
            "max bytes counts bytes added in the same call",
            size(one_span * 2),
            vec![],
            vec![frag(1, &[1]), frag(1, &[2]), frag(1, &[3])],
            2,
            Some((TracesRejectReason::TraceTooLarge, 1)),
        ),
        (
            "undecodable bytes",
            NO_LIMITS,
            vec![],
            vec![(tid(1), Bytes::from_static(b"\xff\xff\xff")), frag(2, &[1])],
            1,
            Some((TracesRejectReason::Invalid, 1)),
        ),
        (
            "no spans, or spans of another trace",
            NO_LIMITS,
            vec![],
            vec![
                (tid(1), fragment("svc", vec![])),
                (tid(2), frag(3, &[1]).1),
                frag(3, &[1]),
            ],
            1,
            Some((TracesRejectReason::Invalid, 2)),
        ),
    ];
    for (name, limits, first, second, written, refused) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = open(config(dir.path()));
        db.append(&first, limits, 0).unwrap();
        let wal_before = db.wal_bytes_written();
        let report = db.append(&second, limits, 1).unwrap();
        assert_eq!(report.traces_written, written, "{name}");
        match refused {
            None => assert!(report.rejections.is_empty(), "{name}: {report:?}"),
            Some((reason, traces)) => {
                let r = report
                    .rejection(reason)
                    .unwrap_or_else(|| panic!("{name}: {report:?}"));
                assert_eq!(r.traces, traces, "{name}");
                assert!(r.message.contains(reason.limit()), "{name}: {}", r.message);
                assert_eq!(report.rejections.len(), 1, "{name}");
            }
        }
        // refused traces are not in the WAL
        let expected_wal: u64 = report.bytes_written + 24 * report.traces_written;
        assert_eq!(db.wal_bytes_written() - wal_before, expected_wal, "{name}");
    }
}

#[test]
fn live_traces_complete_when_idle_or_live_too_long_by_the_given_clock() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(TracesDbConfig {
        trace_idle: Duration::from_secs(10),
        max_trace_live: Duration::from_secs(30),
        ..config(dir.path())
    });
    db.append(&[frag(1, &[1])], NO_LIMITS, 0).unwrap();
    db.append(&[frag(2, &[1])], NO_LIMITS, 0).unwrap();
    // (now, append to trace 2 first, completed by this cut, live after)
    let steps: [(i64, bool, usize, usize); 6] = [
        (5_000, true, 0, 2),
        (9_999, true, 0, 2),
        (10_000, true, 1, 1), // trace 1 idle for 10 s
        (19_000, true, 0, 1), // trace 2 keeps receiving spans
        (29_999, true, 0, 1),
        (30_000, false, 1, 0), // trace 2 live for 30 s
    ];
    for (now, append, completed, live) in steps {
        if append {
            db.append(&[frag(2, &[now as u8])], NO_LIMITS, now).unwrap();
        }
        assert_eq!(db.cut_idle(now), completed, "at {now}");
        assert_eq!(db.live_traces(), live, "at {now}");
    }
    // later spans of trace 2 start a new partial trace; find merges both
    db.append(&[frag(2, &[200])], NO_LIMITS, 31_000).unwrap();
    assert_eq!((db.live_traces(), db.completed_traces()), (1, 2));
    assert_eq!(db.find(&tid(2)).unwrap().span_count(), 7);
}

#[test]
fn cut_block_is_due_by_age_size_or_force() {
    let one = frag(1, &[1]).1.len() as u64;
    let age = Duration::from_secs(60);
    // (now, max bytes, force, due)
    let cases = [
        (1_000, 0, false, false),
        (60_999, 0, false, false),
        (61_000, 0, false, true),
        (1_000, one, false, true),
        (1_000, one + 1, false, false),
        (1_000, 0, true, true),
    ];
    for (now, max_bytes, force, due) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = open(config(dir.path()));
        assert!(
            db.cut_block(now, age, max_bytes, true).is_none(),
            "nothing completed"
        );
        db.append(&[frag(1, &[1])], NO_LIMITS, -20_000).unwrap();
        assert_eq!(db.cut_idle(1_000), 1, "completed at 1 s");
        let cut = db.cut_block(now, age, max_bytes, force);
        assert_eq!(
            cut.is_some(),
            due,
            "now {now}, max bytes {max_bytes}, force {force}"
        );
        if let Some(cut) = cut {
            assert_eq!((cut.len(), db.completed_traces()), (1, 0));
            assert_eq!(cut.min_start_ns, BASE_NS as i64);
            assert_eq!(cut.max_end_ns, BASE_NS as i64 + 100_000_000);
            assert!(
                db.cut_block(now, age, max_bytes, true).is_none(),
                "cut twice"
            );
        }
    }
}

fn segments(dir: &Path) -> Vec<u32> {
    crate::wal::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn release_deletes_only_segments_nothing_needs() {
    let dir = tempfile::tempdir().unwrap();
    // every append gets its own segment
    let tiny = TracesDbConfig {
        wal_segment_size: 1,
        ..config(dir.path())
    };
    let db = open(tiny.clone());
    db.append(&[frag(3, &[1])], NO_LIMITS, 0).unwrap(); // C: segment 1
    db.append(&[frag(1, &[1])], NO_LIMITS, 0).unwrap(); // A: segment 2
    db.append(&[frag(2, &[1])], NO_LIMITS, 20_000).unwrap(); // B: segment 3
    db.append(&[frag(3, &[2])], NO_LIMITS, 20_000).unwrap(); // C again: segment 4
    assert_eq!(segments(dir.path()), vec![1, 2, 3, 4]);
    assert_eq!(db.cut_idle(25_000), 1, "A only");
    let cut = db.cut_block(25_000, Duration::ZERO, 0, true).unwrap();
    assert_eq!(cut.traces().next().unwrap().id, tid(1));
    let stats = db.release(cut.seq).unwrap();
    assert_eq!(
        (stats.traces, stats.segments_deleted),
        (1, 0),
        "C still needs segment 1"
    );
    assert_eq!(segments(dir.path()), vec![1, 2, 3, 4]);
    // once B and C are released nothing is needed: the current segment rolls and all go
    assert_eq!(db.cut_idle(40_000), 2);
    let cut = db.cut_block(40_000, Duration::ZERO, 0, true).unwrap();
    assert_eq!(
        cut.traces().map(|t| t.id).collect::<Vec<_>>(),
        vec![tid(2), tid(3)]
    );
    let stats = db.release(cut.seq).unwrap();
    assert_eq!((stats.traces, stats.segments_deleted), (2, 4));
    assert_eq!(segments(dir.path()), vec![5]);
    drop(db);
    let (_, replayed) = TracesTenantDb::open(tiny).unwrap();
    assert_eq!(replayed.traces, 0);
}

#[test]
fn released_trace_is_gone_after_reopen_and_unreleased_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = TracesDbConfig {
        wal_segment_size: 1,
        ..config(dir.path())
    };
    let db = open(tiny.clone());
    db.append(&[frag(1, &[1])], NO_LIMITS, 0).unwrap(); // A: segment 1
    db.append(&[frag(2, &[1, 2])], NO_LIMITS, 20_000).unwrap(); // B: segment 2
    assert_eq!(db.cut_idle(25_000), 1);
    let cut = db.cut_block(25_000, Duration::ZERO, 0, true).unwrap();
    let stats = db.release(cut.seq).unwrap();
    assert_eq!((stats.traces, stats.segments_deleted), (1, 1));
    assert_eq!(segments(dir.path()), vec![2]);
    drop(db);
    let (db, replayed) = TracesTenantDb::open(tiny.clone()).unwrap();
    assert_eq!((replayed.traces, replayed.spans), (1, 2));
    assert!(db.find(&tid(1)).is_none());
    assert_eq!(span_ids(&db.find(&tid(2)).unwrap()), vec![1, 2]);
    // releasing the last trace rolls the segment so that it can be deleted too
    assert_eq!(db.cut_idle(i64::MAX), 1);
    let cut = db.cut_block(0, Duration::ZERO, 0, true).unwrap();
    assert_eq!(db.release(cut.seq).unwrap().segments_deleted, 1);
    assert_eq!(db.bytes_in_memory(), 0);
    drop(db);
    let (db, replayed) = TracesTenantDb::open(tiny).unwrap();
    assert_eq!(replayed.traces, 0);
    assert!(db.find(&tid(2)).is_none());
}

#[test]
fn replay_restores_every_acknowledged_trace_and_truncates_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(config(dir.path()));
    for n in 1..=5u8 {
        db.append(&[frag(n, &[1, 2]), frag(n, &[2, 3])], NO_LIMITS, 0)
            .unwrap();
    }
    db.sync().unwrap();
    drop(db);
    // a torn record at the end of the newest segment
    let last = crate::wal::list_segments(dir.path())
        .unwrap()
        .pop()
        .unwrap()
        .1;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5]).unwrap();
    drop(file);
    let (db, stats) = TracesTenantDb::open(config(dir.path())).unwrap();
    assert_eq!(
        (
            stats.traces,
            stats.spans,
            stats.records,
            stats.corrupt_records
        ),
        (5, 20, 10, 1)
    );
    for n in 1..=5u8 {
        assert_eq!(
            span_ids(&db.find(&tid(n)).unwrap()),
            vec![1, 2, 3],
            "trace {n}"
        );
    }
    assert_eq!(db.live_traces(), 5);
    db.append(&[frag(6, &[1])], NO_LIMITS, 0).unwrap();
    drop(db);
    let (db, stats) = TracesTenantDb::open(config(dir.path())).unwrap();
    assert_eq!((stats.traces, stats.corrupt_records), (6, 0));
    assert!(db.find(&tid(6)).is_some());
}

/// Trace `n` of `service`: a root span and a child, starting at `start_s`, `dur_ms` long.
fn service_trace(n: u8, service: &str, start_s: u64, dur_ms: u64) -> (TraceId, Bytes) {
    let root = timed(n, 1, "GET /", start_s, dur_ms);
    let child = Span {
        parent_span_id: root.span_id.clone(),
        attributes: vec![attr("db.system", "postgres")],
        status: Some(sextant_proto::otlp::trace::v1::Status {
            code: 2,
            message: "boom".into(),
        }),
        ..timed(n, 2, "query", start_s, dur_ms / 2)
    };
    (tid(n), fragment(service, vec![root, child]))
}

/// (query, start, end, min duration, max duration, limit, expected trace IDs)
type SearchCase = (&'static str, i64, i64, u64, u64, usize, Vec<&'static str>);

#[test]
fn search_honours_query_time_range_duration_bounds_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(config(dir.path()));
    let traces = [
        service_trace(1, "a", 10, 100),
        service_trace(2, "a", 20, 2_000),
        service_trace(3, "b", 30, 100),
        service_trace(4, "a", 40, 500),
        service_trace(5, "a", 50, 100),
    ];
    db.append(&traces, NO_LIMITS, 0).unwrap();
    db.cut_idle(i64::MAX); // some completed, one live: search sees both
    db.append(&[service_trace(6, "a", 60, 100)], NO_LIMITS, 0)
        .unwrap();
    let s = |secs: u64| (BASE_NS + secs * 1_000_000_000) as i64;
    let ms = |n: u64| n * 1_000_000;
    // (query, start, end, min, max, limit, expected trace IDs)
    let cases: Vec<SearchCase> = vec![
        (
            r#"{ resource.service.name = "a" }"#,
            0,
            0,
            0,
            0,
            0,
            vec!["6", "5", "4", "2", "1"],
        ),
        (
            r#"{ resource.service.name = "a" }"#,
            0,
            0,
            0,
            0,
            2,
            vec!["6", "5"],
        ),
        (
            r#"{ resource.service.name = "a" }"#,
            s(15),
            s(45),
            0,
            0,
            0,
            vec!["4", "2"],
        ),
        (
            r#"{ resource.service.name = "a" }"#,
            0,
            0,
            ms(500),
            0,
            0,
            vec!["4", "2"],
        ),
        (
            r#"{ resource.service.name = "a" }"#,
            0,
            0,
            0,
            ms(500),
            0,
            vec!["6", "5", "4", "1"],
        ),
        (
            r#"{ status = error && span.db.system = "postgres" }"#,
            s(25),
            0,
            0,
            0,
            0,
            vec!["6", "5", "4", "3"],
        ),
        (r#"{ name = "nope" }"#, 0, 0, 0, 0, 0, vec![]),
    ];
    for (q, start_ns, end_ns, min_duration_ns, max_duration_ns, limit, want) in cases {
        let query = parse(q).unwrap();
        let eval = TraceqlEvaluator::new(&query).unwrap();
        let params = TracesDbSearch {
            start_ns,
            end_ns,
            min_duration_ns,
            max_duration_ns,
            limit,
            spans_per_span_set: 3,
            required_strings: TracesDbSearch::required_strings_of(&query),
        };
        let result = db.search(&eval, &params);
        let got: Vec<&str> = result.traces.iter().map(|m| m.trace_id.as_str()).collect();
        assert_eq!(got, want, "{q} {params:?}");
        assert!(result.inspected_traces >= want.len() as u64, "{q}");
    }
    let query = parse("{ }").unwrap();
    let eval = TraceqlEvaluator::new(&query).unwrap();
    let all = db.search(&eval, &TracesDbSearch::default());
    assert_eq!((all.traces.len(), all.inspected_traces), (6, 6));
    assert_eq!(all.traces[0].root_service_name, "a");
    assert_eq!(all.traces[0].root_trace_name, "GET /");
}

#[test]
fn tag_names_and_values_over_held_traces() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(config(dir.path()));
    db.append(
        &[
            service_trace(1, "a", 10, 100),
            service_trace(2, "b", 20, 100),
        ],
        NO_LIMITS,
        0,
    )
    .unwrap();
    let names = db.tag_names("", 0, 0, 0).unwrap();
    let scopes: Vec<(&str, Vec<String>)> = names
        .scopes()
        .into_iter()
        .map(|(s, n)| (s.as_str(), n))
        .collect();
    assert_eq!(scopes[0], ("resource", vec!["service.name".to_owned()]));
    assert_eq!(
        scopes[1],
        (
            "span",
            vec!["db.system".to_owned(), "http.method".to_owned()]
        )
    );
    assert_eq!(db.tag_names("span", 0, 0, 1).unwrap().len(), 1);
    assert!(db.tag_names("bogus", 0, 0, 0).is_err());
    let values = |tag: &str, q: Option<&str>, start: i64| {
        let query = q.map(|q| parse(q).unwrap());
        let eval = query.as_ref().map(|q| TraceqlEvaluator::new(q).unwrap());
        db.tag_values(tag, eval.as_ref(), start, 0, 0)
            .unwrap()
            .into_iter()
            .map(|v| format!("{}:{}", v.value_type, v.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        values("resource.service.name", None, 0),
        vec!["string:a", "string:b"]
    );
    let late = (BASE_NS + 15 * 1_000_000_000) as i64;
    assert_eq!(
        values("resource.service.name", None, late),
        vec!["string:b"]
    );
    assert_eq!(
        values("name", Some("{ status = error }"), 0),
        vec!["string:query"]
    );
    assert_eq!(
        values("name", Some(r#"{ resource.service.name = "a" }"#), 0),
        vec!["string:GET /", "string:query"]
    );
    assert_eq!(
        values("status", None, 0),
        vec!["status:error", "status:unset"]
    );
    assert!(db.tag_values("{ bad", None, 0, 0, 0).is_err());
}

#[test]
fn concurrent_appends_cuts_and_reads_keep_every_acknowledged_trace() {
    let dir = tempfile::tempdir().unwrap();
    let small = TracesDbConfig {
        wal_segment_size: 4 << 10,
        ..config(dir.path())
    };
    let db = open(small.clone());
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let db = &db;
            s.spawn(move || {
                for i in 0..50u8 {
                    let n = t * 50 + i;
                    db.append(&[frag(n, &[1]), frag(n, &[2])], NO_LIMITS, 0)
                        .unwrap();
                    assert!(db.find(&tid(n)).is_some());
                }
            });
        }
        // completes and cuts without releasing, while appends roll and write segments
        let db = &db;
        s.spawn(move || {
            for _ in 0..20 {
                db.cut_idle(i64::MAX);
                if let Some(cut) = db.cut_block(0, Duration::ZERO, 0, true) {
                    assert!(cut.traces().all(|t| t.span_count() <= 2));
                }
                db.release(u64::MAX).unwrap(); // unknown cut: frees nothing needed
            }
        });
    });
    for n in 0..200u8 {
        assert_eq!(
            span_ids(&db.find(&tid(n)).unwrap()),
            vec![1, 2],
            "trace {n}"
        );
    }
    drop(db);
    let (db, stats) = TracesTenantDb::open(small).unwrap();
    assert_eq!((stats.traces, stats.spans), (200, 400));
    assert_eq!(span_ids(&db.find(&tid(199)).unwrap()), vec![1, 2]);
}
