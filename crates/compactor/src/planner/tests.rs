use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;
const D: i64 = 24 * H;

/// The defaults: 5m copies after 40h, 1h copies after 10d, merged into 14d windows a day
/// (the largest range) after that.
fn settings() -> PlannerSettings {
    PlannerSettings {
        block_ranges_ms: vec![2 * H, 12 * H, 24 * H],
        first_level_wait_ms: 25 * M,
        downsampled_range_ms: 14 * D,
        downsampled_ready_after_ms: BTreeMap::from([(5 * M, 40 * H + D), (H, 10 * D + D)]),
    }
}

/// A raw level-1 block over hours `[from, to)`, uploaded at hour `to`.
fn l1(id: &str, from: i64, to: i64) -> PlannerBlock {
    PlannerBlock {
        block_id: id.into(),
        min_time_ms: from * H,
        max_time_ms: to * H - 1,
        level: 1,
        resolution_ms: 0,
        sources: vec![id.into()],
        upload_time_ms: to * H,
        version_supported: true,
    }
}

/// A compacted block over hours `[from, to)` holding `sources`.
fn compacted(id: &str, from: i64, to: i64, level: u32, sources: &[&str]) -> PlannerBlock {
    PlannerBlock {
        level,
        sources: sources.iter().map(|s| s.to_string()).collect(),
        ..l1(id, from, to)
    }
}

fn plan(blocks: &[PlannerBlock], now_ms: i64) -> CompactionPlan {
    let tenant = TenantId::parse("t").unwrap();
    plan_compaction(&tenant, Signal::Metrics, blocks, &settings(), now_ms)
}

/// (group key, sources, target level) of each job.
fn jobs(plan: &CompactionPlan) -> Vec<(String, Vec<String>, u32)> {
    plan.jobs
        .iter()
        .map(|j| (j.group_key.clone(), j.sources.clone(), j.target_level))
        .collect()
}

fn job(key: &str, sources: &[&str], level: u32) -> (String, Vec<String>, u32) {
    let sources = sources.iter().map(|s| s.to_string()).collect();
    (key.to_owned(), sources, level)
}

#[test]
fn plans_follow_the_thanos_rules() {
    let mut unsupported = l1("c", 0, 2);
    unsupported.version_supported = false;
    let mut downsampled = compacted("d5m", 0, 12, 3, &["a", "b"]);
    downsampled.resolution_ms = 5 * M;
    let mut downsampled2 = compacted("e5m", 12, 24, 3, &["c"]);
    downsampled2.resolution_ms = 5 * M;
    let six: Vec<PlannerBlock> = (0..6)
        .map(|i| l1(&format!("b{i}"), 2 * i, 2 * i + 2))
        .collect();
    // (name, blocks, now in hours, jobs, redundant, unsupported)
    type Case = (
        &'static str,
        Vec<PlannerBlock>,
        i64,
        Vec<(String, Vec<String>, u32)>,
        Vec<&'static str>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "rf3 replicas become one block",
            vec![l1("a", 0, 2), l1("b", 0, 2), l1("c", 0, 2)],
            3,
            vec![job("0-7200000-0", &["a", "b", "c"], 2)],
            vec![],
            vec![],
        ),
        (
            "a late block overlapping a compacted one is merged into it",
            vec![compacted("x", 0, 12, 2, &["a", "b"]), l1("late", 4, 6)],
            20,
            vec![job("0-43200000-0", &["late", "x"], 3)],
            vec![],
            vec![],
        ),
        (
            "an endless chain of overlapping blocks is cut at the largest range",
            (0..30).map(|i| l1(&format!("t{i:02}"), i, i + 2)).collect(),
            100,
            vec![
                job(
                    "0-86400000-0",
                    &(0..23)
                        .map(|i| format!("t{i:02}"))
                        .collect::<Vec<_>>()
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                    2,
                ),
                job(
                    "82800000-111600000-0",
                    &["t23", "t24", "t25", "t26", "t27", "t28", "t29"],
                    2,
                ),
            ],
            vec![],
            vec![],
        ),
        (
            "six 2h blocks become a 12h block once the window is complete",
            six.clone(),
            14,
            vec![job(
                "0-43200000-0",
                &["b0", "b1", "b2", "b3", "b4", "b5"],
                2,
            )],
            vec![],
            vec![],
        ),
        (
            "an incomplete window waits",
            six[..2].to_vec(),
            5,
            vec![],
            vec![],
            vec![],
        ),
        (
            "a newer block completes the window",
            vec![l1("a", 0, 2), l1("b", 2, 4), l1("n", 12, 14)],
            13,
            vec![job("0-43200000-0", &["a", "b"], 2)],
            vec![],
            vec![],
        ),
        (
            "two 12h blocks become a 24h block",
            vec![
                compacted("x", 0, 12, 2, &["a"]),
                compacted("y", 12, 24, 2, &["b"]),
            ],
            30,
            vec![job("0-86400000-0", &["x", "y"], 3)],
            vec![],
            vec![],
        ),
        (
            "a lone block in its window is left alone",
            vec![compacted("x", 0, 12, 2, &["a"]), l1("n", 24, 26)],
            30,
            vec![],
            vec![],
            vec![],
        ),
        (
            "sources held by a complete block are marked, not merged",
            vec![
                compacted("x", 0, 2, 2, &["a", "b", "c"]),
                l1("a", 0, 2),
                l1("c", 0, 2),
            ],
            3,
            vec![],
            vec!["a", "c"],
            vec![],
        ),
        (
            "of two blocks with equal sources the smaller id survives",
            vec![
                compacted("x1", 0, 2, 2, &["a", "b"]),
                compacted("x2", 0, 2, 2, &["a", "b"]),
            ],
            3,
            vec![],
            vec!["x2"],
            vec![],
        ),
        (
            "a newer format version is skipped, never rewritten",
            vec![l1("a", 0, 2), l1("b", 0, 2), unsupported],
            3,
            vec![job("0-7200000-0", &["a", "b"], 2)],
            vec![],
            vec!["c"],
        ),
        (
            "downsampled blocks never mix with raw ones nor cover them",
            vec![
                compacted("x", 0, 12, 2, &["a"]),
                compacted("y", 12, 24, 2, &["c"]),
                downsampled,
                downsampled2,
            ],
            30,
            vec![job("0-86400000-0", &["x", "y"], 3)],
            vec![],
            vec![],
        ),
    ];
    for (name, blocks, now_h, want_jobs, want_redundant, want_unsupported) in cases {
        let got = plan(&blocks, now_h * H);
        assert_eq!(jobs(&got), want_jobs, "{name}");
        assert_eq!(got.redundant, want_redundant, "{name}");
        assert_eq!(got.unsupported, want_unsupported, "{name}");
    }
}

#[test]
fn downsampled_blocks_lacking_a_raw_block_of_their_range_are_stale() {
    let with = |mut b: PlannerBlock, resolution_ms: i64| {
        b.resolution_ms = resolution_ms;
        b
    };
    let days: Vec<PlannerBlock> = (0..14)
        .map(|d| {
            compacted(
                &format!("raw{d:02}"),
                24 * d,
                24 * d + 24,
                3,
                &[&format!("s{d:02}")],
            )
        })
        .collect();
    let all_sources: Vec<String> = (0..14).map(|d| format!("s{d:02}")).collect();
    let all: Vec<&str> = all_sources.iter().map(String::as_str).collect();
    let window = with(compacted("w1h", 0, 14 * 24, 4, &all), H);
    let now = 40 * 24;
    // (name, blocks, stale)
    let cases: Vec<(&str, Vec<PlannerBlock>, Vec<&str>)> = vec![
        (
            "a merged window holding every day is not stale",
            [days.clone(), vec![window.clone()]].concat(),
            vec![],
        ),
        (
            "a late block in a merged window makes it stale",
            [days.clone(), vec![window.clone(), l1("late", 30, 32)]].concat(),
            vec!["w1h"],
        ),
        (
            "so does the day block it was merged into",
            [
                days[..1].to_vec(),
                vec![compacted("raw01b", 24, 48, 3, &["s01", "late"])],
                days[2..].to_vec(),
                vec![window.clone()],
            ]
            .concat(),
            vec!["w1h"],
        ),
        (
            "a backfilled day inside a merged window makes it stale",
            [
                days[..3].to_vec(),
                days[4..].to_vec(),
                vec![with(
                    compacted(
                        "w1h",
                        0,
                        14 * 24,
                        4,
                        &all.iter()
                            .filter(|s| **s != "s03")
                            .copied()
                            .collect::<Vec<_>>(),
                    ),
                    H,
                )],
                vec![days[3].clone()],
            ]
            .concat(),
            vec!["w1h"],
        ),
        (
            "a day copy lacking a late replica is stale, the next day's copy is not",
            vec![
                compacted("a", 0, 2, 2, &["a1", "a2"]),
                l1("a3", 0, 2),
                with(compacted("a5m", 0, 2, 2, &["a1", "a2"]), 5 * M),
                l1("b", 2, 4),
                with(compacted("b5m", 2, 4, 1, &["b"]), 5 * M),
            ],
            vec!["a5m"],
        ),
        (
            "a copy whose raw block was merged with its neighbours is stale until that merge is copied",
            vec![
                compacted("x", 0, 12, 2, &["a", "b"]),
                with(compacted("a5m", 0, 2, 1, &["a"]), 5 * M),
            ],
            vec!["a5m"],
        ),
        (
            "a copy of a block with a newer format version is left alone",
            vec![
                {
                    let mut b = l1("late", 0, 2);
                    b.version_supported = false;
                    b
                },
                with(compacted("a5m", 0, 2, 1, &["a"]), 5 * M),
            ],
            vec![],
        ),
    ];
    for (name, blocks, want) in cases {
        let got = plan(&blocks, now * H);
        assert_eq!(got.stale, want, "{name}");
        for id in &got.stale {
            assert!(
                !got.jobs.iter().any(|j| j.sources.contains(id)),
                "{name}: a stale block is never merged"
            );
        }
    }
}

#[test]
fn fresh_level_1_blocks_wait_for_their_replicas() {
    let blocks = vec![l1("a", 0, 2), l1("b", 0, 2), l1("c", 0, 2)];
    let uploaded = 2 * H;
    // (minutes after the upload, jobs planned)
    for (after_min, want) in [(10, 0), (24, 0), (25, 1), (60, 1)] {
        let got = plan(&blocks, uploaded + after_min * M);
        assert_eq!(got.jobs.len(), want, "{after_min} minutes");
        assert_eq!(got.oldest_uncompacted_upload_ms, Some(uploaded));
    }
    assert_eq!(plan(&[], H).oldest_uncompacted_upload_ms, None);
}

#[test]
fn jobs_carry_tenant_signal_and_range() {
    let got = plan(&[l1("a", 2, 4), l1("b", 2, 4)], 10 * H);
    let j = &got.jobs[0];
    assert_eq!((j.tenant.as_str(), j.signal), ("t", Signal::Metrics));
    assert_eq!((j.range_start_ms, j.range_end_ms), (2 * H, 4 * H));
}

/// Applies a plan: each job's sources become one block, redundant blocks disappear.
fn apply(blocks: &mut Vec<PlannerBlock>, plan: &CompactionPlan, next_id: &mut usize) {
    blocks.retain(|b| !plan.redundant.contains(&b.block_id));
    for job in &plan.jobs {
        let (merged, rest): (Vec<_>, Vec<_>) = blocks
            .drain(..)
            .partition(|b| job.sources.contains(&b.block_id));
        *blocks = rest;
        let mut sources: Vec<String> = merged.iter().flat_map(|b| b.sources.clone()).collect();
        sources.sort();
        sources.dedup();
        *next_id += 1;
        blocks.push(PlannerBlock {
            block_id: format!("z{next_id:05}"),
            min_time_ms: merged.iter().map(|b| b.min_time_ms).min().unwrap(),
            max_time_ms: merged.iter().map(|b| b.max_time_ms).max().unwrap(),
            level: job.target_level,
            resolution_ms: 0,
            sources,
            upload_time_ms: 0,
            version_supported: true,
        });
    }
}

proptest! {
    /// Any mix of replicated 2h blocks converges, once time has passed, to non-overlapping
    /// blocks that hold every source exactly once, each job using a block at most once.
    #[test]
    fn planning_converges_to_disjoint_blocks(
        windows in prop::collection::btree_set(0i64..48, 1..20),
        replicas in 1usize..4,
    ) {
        let mut blocks = Vec::new();
        for w in &windows {
            for r in 0..replicas {
                blocks.push(l1(&format!("a{w:03}{r}"), 2 * w, 2 * w + 2));
            }
        }
        let all: BTreeSet<String> = blocks.iter().map(|b| b.block_id.clone()).collect();
        let now = 200 * H;
        let mut next_id = 0;
        for _ in 0..8 {
            let plan = plan(&blocks, now);
            let mut seen = BTreeSet::new();
            for job in &plan.jobs {
                prop_assert!(job.sources.len() >= 2);
                for s in &job.sources {
                    prop_assert!(seen.insert(s.clone()), "{s} in two jobs");
                    prop_assert!(!plan.redundant.contains(s));
                }
            }
            if plan.jobs.is_empty() && plan.redundant.is_empty() {
                break;
            }
            apply(&mut blocks, &plan, &mut next_id);
        }
        prop_assert!(plan(&blocks, now).jobs.is_empty());
        let mut sorted = blocks.clone();
        sorted.sort_by_key(|b| b.min_time_ms);
        for pair in sorted.windows(2) {
            prop_assert!(pair[0].max_time_ms < pair[1].min_time_ms, "overlap");
        }
        let held: Vec<String> = blocks.iter().flat_map(|b| b.sources.clone()).collect();
        prop_assert_eq!(held.len(), all.len());
        prop_assert_eq!(held.into_iter().collect::<BTreeSet<_>>(), all);
        for b in &blocks {
            let day = b.min_time_ms.div_euclid(24 * H);
            prop_assert!(b.max_time_ms < (day + 1) * 24 * H, "block crosses a day");
        }
    }
}

/// A downsampled copy at `resolution_ms` of a level-2 block over days `[from, to)` holding
/// `sources`.
fn copy(id: &str, resolution_ms: i64, from: i64, to: i64, sources: &[&str]) -> PlannerBlock {
    PlannerBlock {
        resolution_ms,
        ..compacted(id, from * 24, to * 24, 2, sources)
    }
}

/// Daily copies at `resolution_ms` of days `[from, to)`, named `<prefix><day>`.
fn daily(prefix: &str, resolution_ms: i64, from: i64, to: i64) -> Vec<PlannerBlock> {
    (from..to)
        .map(|d| {
            let id = format!("{prefix}{d:02}");
            copy(&id, resolution_ms, d, d + 1, &[&format!("raw{d:02}")])
        })
        .collect()
}

fn ids(blocks: &[PlannerBlock]) -> Vec<String> {
    blocks.iter().map(|b| b.block_id.clone()).collect()
}

#[test]
fn downsampled_blocks_merge_into_ready_aligned_windows() {
    let window = "1209600000-2419200000";
    let hours = daily("h", H, 14, 28);
    let hour_ids = ids(&hours);
    let hour_ids: Vec<&str> = hour_ids.iter().map(String::as_str).collect();
    // the window [14d, 28d) of 1h copies is ready 11 days after its end
    let ready_1h = 28 * D + 11 * D;
    let mut mixed = daily("f", 5 * M, 0, 3);
    mixed.extend(daily("h", H, 0, 2));
    let mut with_raw = daily("h", H, 14, 16);
    with_raw.extend((0..6).map(|i| l1(&format!("b{i}"), 2 * i, 2 * i + 2)));
    let mut merged_and_parts = daily("h", H, 14, 16);
    merged_and_parts.push(copy("w", H, 14, 28, &["raw14", "raw15", "raw16"]));
    let unconfigured = daily("t", 10 * M, 0, 2);
    // (name, blocks, downsampled range, now, jobs, redundant)
    type Case = (
        &'static str,
        Vec<PlannerBlock>,
        i64,
        i64,
        Vec<(String, Vec<String>, u32)>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "daily 1h copies of a ready window become one block",
            hours.clone(),
            14 * D,
            ready_1h,
            vec![job(&format!("{window}-3600000"), &hour_ids, 3)],
            vec![],
        ),
        (
            "a window not ready yet waits",
            hours.clone(),
            14 * D,
            ready_1h - 1,
            vec![],
            vec![],
        ),
        (
            "a single block is left alone",
            hours[..1].to_vec(),
            14 * D,
            ready_1h,
            vec![],
            vec![],
        ),
        (
            "resolutions are merged apart",
            mixed,
            14 * D,
            100 * D,
            vec![
                job("0-1209600000-300000", &["f00", "f01", "f02"], 3),
                job("0-1209600000-3600000", &["h00", "h01"], 3),
            ],
            vec![],
        ),
        (
            "a block straddling two windows is not grouped",
            vec![
                copy("a", H, 2, 3, &["ra"]),
                copy("b", H, 3, 4, &["rb"]),
                copy("s", H, 13, 15, &["rs"]),
                copy("c", H, 15, 16, &["rc"]),
            ],
            14 * D,
            100 * D,
            vec![job("0-1209600000-3600000", &["a", "b"], 3)],
            vec![],
        ),
        (
            "range 0 turns merging off",
            hours.clone(),
            0,
            ready_1h,
            vec![],
            vec![],
        ),
        (
            "a resolution without a delay is never merged",
            unconfigured,
            14 * D,
            100 * D,
            vec![],
            vec![],
        ),
        (
            "copies a merged window holds are marked, not merged",
            merged_and_parts,
            14 * D,
            ready_1h,
            vec![],
            vec!["h14", "h15"],
        ),
        (
            "raw planning is unaffected, jobs oldest first",
            with_raw,
            14 * D,
            ready_1h,
            vec![
                job("0-43200000-0", &["b0", "b1", "b2", "b3", "b4", "b5"], 2),
                job(&format!("{window}-3600000"), &["h14", "h15"], 3),
            ],
            vec![],
        ),
    ];
    let tenant = TenantId::parse("t").unwrap();
    for (name, blocks, range_ms, now_ms, want_jobs, want_redundant) in cases {
        let settings = PlannerSettings {
            downsampled_range_ms: range_ms,
            ..settings()
        };
        let got = plan_compaction(&tenant, Signal::Metrics, &blocks, &settings, now_ms);
        assert_eq!(jobs(&got), want_jobs, "{name}");
        assert_eq!(got.redundant, want_redundant, "{name}");
    }
}

#[test]
fn downsampled_jobs_cover_their_window_and_leave_the_raw_backlog_alone() {
    let mut blocks = daily("f", 5 * M, 14, 16);
    let got = plan(&blocks, 100 * D);
    let j = &got.jobs[0];
    assert_eq!((j.range_start_ms, j.range_end_ms), (14 * D, 28 * D));
    assert_eq!(got.oldest_uncompacted_upload_ms, None);
    // the same copies at level 1 (of uncompacted raw blocks) are no raw backlog either
    blocks.iter_mut().for_each(|b| b.level = 1);
    let got = plan(&blocks, 100 * D);
    assert_eq!(
        (got.jobs.len(), got.oldest_uncompacted_upload_ms),
        (1, None)
    );
    assert_eq!(got.jobs[0].target_level, 2);
}
