//! The candidate rules as a table; end to end through `run_once` in `passes/tests.rs`.

use super::*;
use crate::config::DownsamplingConfig;

const HOUR_MS: i64 = 3_600_000;
const NOW: i64 = 100 * 24 * HOUR_MS;

fn block(id: &str, max_time_ms: i64, resolution_ms: i64, sources: &[&str]) -> PlannerBlock {
    PlannerBlock {
        block_id: id.into(),
        min_time_ms: max_time_ms - 2 * HOUR_MS,
        max_time_ms,
        level: 1,
        resolution_ms,
        sources: sources.iter().map(|s| (*s).to_owned()).collect(),
        upload_time_ms: 0,
        version_supported: true,
    }
}

#[test]
fn levels_follow_the_config() {
    let levels = downsample_levels(&DownsamplingConfig::default());
    let five_min = 300_000;
    assert_eq!(
        levels,
        [
            DownsampleLevel {
                source_ms: 0,
                resolution_ms: five_min,
                after_ms: 40 * HOUR_MS,
            },
            DownsampleLevel {
                source_ms: five_min,
                resolution_ms: HOUR_MS,
                after_ms: 240 * HOUR_MS,
            },
        ]
    );
    let label = resolution_label(&levels[1]);
    assert_eq!(
        (resolution_label(&levels[0]).as_str(), label.as_str()),
        ("5m", "1h")
    );
}

/// (case, blocks, busy, expected candidates)
type Case = (
    &'static str,
    Vec<PlannerBlock>,
    Vec<&'static str>,
    Vec<&'static str>,
);

#[test]
fn candidates_table() {
    let level = DownsampleLevel {
        source_ms: 0,
        resolution_ms: 300_000,
        after_ms: 40 * HOUR_MS,
    };
    let old = NOW - 41 * HOUR_MS;
    let mut unsupported = block("newer-format", old, 0, &["newer-format"]);
    unsupported.version_supported = false;
    let cases: Vec<Case> = vec![
        (
            "old raw block",
            vec![block("a", old, 0, &["a"])],
            vec![],
            vec!["a"],
        ),
        (
            "fresh raw block",
            vec![block("a", NOW - 39 * HOUR_MS, 0, &["a"])],
            vec![],
            vec![],
        ),
        (
            "about to be merged",
            vec![block("a", old, 0, &["a"])],
            vec!["a"],
            vec![],
        ),
        (
            "already downsampled",
            vec![block("a", old, 0, &["a"]), block("d", old, 300_000, &["a"])],
            vec![],
            vec![],
        ),
        (
            "sources held by a bigger downsampled block",
            vec![
                block("a", old, 0, &["a"]),
                block("d", old, 300_000, &["a", "b"]),
            ],
            vec![],
            vec![],
        ),
        (
            "merged block: its downsampled parts do not count",
            vec![
                block("c", old, 0, &["a", "b"]),
                block("da", old, 300_000, &["a"]),
            ],
            vec![],
            vec!["c"],
        ),
        (
            "a block another raw block holds entirely",
            vec![block("a", old, 0, &["a"]), block("c", old, 0, &["a", "b"])],
            vec![],
            vec!["c"],
        ),
        (
            "replicas of a range waiting for their vertical merge",
            vec![block("r1", old, 0, &["r1"]), block("r2", old, 0, &["r2"])],
            vec![],
            vec![],
        ),
        (
            "a late block overlapping a merged one",
            vec![
                block("c", old, 0, &["a", "b"]),
                block("late", old - HOUR_MS, 0, &["late"]),
            ],
            vec![],
            vec![],
        ),
        (
            "adjacent raw blocks do not overlap",
            vec![
                block("a", old - 2 * HOUR_MS - 1, 0, &["a"]),
                block("b", old, 0, &["b"]),
            ],
            vec![],
            vec!["a", "b"],
        ),
        ("newer format", vec![unsupported], vec![], vec![]),
        (
            "other resolutions are not this level's sources",
            vec![block("d", old, 300_000, &["a"])],
            vec![],
            vec![],
        ),
    ];
    for (case, blocks, busy, expected) in cases {
        let busy: HashSet<String> = busy.into_iter().map(str::to_owned).collect();
        let got: Vec<&str> = downsample_candidates(&blocks, &level, &busy, NOW)
            .iter()
            .map(|b| b.block_id.as_str())
            .collect();
        assert_eq!(got, expected, "{case}");
    }
}

#[test]
fn coarser_levels_read_the_finer_level() {
    let level = DownsampleLevel {
        source_ms: 300_000,
        resolution_ms: HOUR_MS,
        after_ms: 240 * HOUR_MS,
    };
    let old = NOW - 241 * HOUR_MS;
    let blocks = vec![
        block("raw", old, 0, &["raw"]),
        block("d5", old, 300_000, &["raw"]),
        block("young5", NOW - 200 * HOUR_MS, 300_000, &["young"]),
    ];
    let got = downsample_candidates(&blocks, &level, &HashSet::new(), NOW);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].block_id, "d5");
}

/// After the planner merged the daily copies of a window: a merged copy is downsampled
/// further only while no coarser copy holds all its sources, and raw blocks whose sources a
/// merged copy holds are not downsampled again.
#[test]
fn merged_windows_are_not_downsampled_again() {
    let to_5m = DownsampleLevel {
        source_ms: 0,
        resolution_ms: 300_000,
        after_ms: 40 * HOUR_MS,
    };
    let to_1h = DownsampleLevel {
        source_ms: 300_000,
        resolution_ms: HOUR_MS,
        after_ms: 240 * HOUR_MS,
    };
    let old = NOW - 241 * HOUR_MS;
    let days = ["d0", "d1", "d2"];
    let merged_5m = block("w5", old, 300_000, &days);
    let merged_1h = block("w1", old, HOUR_MS, &days);
    let daily_1h = block("h0", old, HOUR_MS, &["d0"]);
    let raw_day = block("d1", old, 0, &["d1"]);
    let late_day = block("d1+late", old, 0, &["d1", "late"]);
    let late_day_5m = block("c5", old, 300_000, &["d1", "late"]);
    // (case, level, blocks, expected candidates)
    let cases = [
        (
            "a merged 5m copy held by a merged 1h copy",
            to_1h,
            vec![merged_5m.clone(), merged_1h.clone()],
            vec![],
        ),
        (
            "a merged 5m copy only partly held by daily 1h copies",
            to_1h,
            vec![merged_5m.clone(), daily_1h],
            vec!["w5"],
        ),
        (
            "a raw day the merged 5m copy holds",
            to_5m,
            vec![raw_day, merged_5m.clone()],
            vec![],
        ),
        (
            "a raw day merged with a late block: the merged copies are stale",
            to_5m,
            vec![late_day.clone(), merged_5m, merged_1h.clone()],
            vec!["d1+late"],
        ),
        (
            "so its new 5m copy gets a 1h copy",
            to_1h,
            vec![late_day, late_day_5m, merged_1h],
            vec!["c5"],
        ),
    ];
    for (case, level, blocks, expected) in cases {
        let got: Vec<&str> = downsample_candidates(&blocks, &level, &HashSet::new(), NOW)
            .iter()
            .map(|b| b.block_id.as_str())
            .collect();
        assert_eq!(got, expected, "{case}");
    }
}
