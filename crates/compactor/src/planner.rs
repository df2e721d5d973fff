//! The compaction planner: pure, no I/O. Given one tenant's blocks of one signal and the time,
//! it says which blocks to merge (jobs), which to mark for deletion because another block
//! already holds all their sources, and which to leave alone because this build cannot read
//! their format. Mimir/Thanos semantics:
//!
//! - vertical: raw blocks whose time ranges overlap (the RF replicas of one range, or a late
//!   block) are merged together, whatever their level, in groups spanning at most the
//!   largest range;
//! - horizontal: for each range `R` of `block_ranges` after the first, raw blocks fully inside
//!   one aligned window `[k·R, (k+1)·R)` are merged when the window is complete (its end is at
//!   least the smallest range in the past, or a newer block reaches past it) and it holds two
//!   blocks or more; smaller ranges first, a block joins one job per pass;
//! - level-1 blocks uploaded less than `first_level_wait_ms` ago wait for their replicas;
//! - downsampled blocks (resolution `R` > 0) of one resolution lying fully inside one aligned
//!   window `[k·W, (k+1)·W)` of `downsampled_range_ms` are merged when the window holds two
//!   blocks or more and is ready: its end is at least `downsampled_ready_after_ms[R]` in the
//!   past (no entry: never), by which time the raw blocks of its days are final and
//!   downsampled. No vertical groups, no first-level wait; resolutions never mix, nor with
//!   raw blocks; `W` = 0 turns this off;
//! - a downsampled block is stale when a live raw block overlapping its time range holds a
//!   source it does not (late data, a late replica, a backfilled day inside a merged
//!   window): it lacks that data, and a copy that has it would be hidden by it (the querier
//!   lets a merged block hide the blocks of its resolution it covers). Stale blocks are
//!   marked for deletion, so the querier reads that range from a finer resolution or raw
//!   meanwhile, and the range's raw blocks are downsampled and merged again.

use std::collections::{BTreeMap, HashSet};

use sextant_model::{Signal, TenantId};

#[cfg(test)]
mod tests;

/// A block as the planner sees it: the bucket index's fields plus its meta's sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannerBlock {
    pub block_id: String,
    /// Inclusive time range (Unix ms).
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub level: u32,
    /// 0 for raw data, else the downsampled resolution (ms).
    pub resolution_ms: i64,
    /// The level-1 blocks this block holds (its own id for a level-1 block).
    pub sources: Vec<String>,
    /// When the block was uploaded (its ULID's time), Unix ms.
    pub upload_time_ms: i64,
    /// False when the block's format version is newer than this build reads.
    pub version_supported: bool,
}

/// The parts of the config the planner applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannerSettings {
    /// Ascending aligned ranges (ms); the first is the ingesters' block range.
    pub block_ranges_ms: Vec<i64>,
    /// Level-1 blocks younger than this are not compacted yet (ms).
    pub first_level_wait_ms: i64,
    /// The aligned window downsampled blocks are merged into (ms); 0: never merged.
    pub downsampled_range_ms: i64,
    /// Per resolution (ms), how long after its end a window of downsampled blocks is merged
    /// (ms); a resolution without an entry is never merged.
    pub downsampled_ready_after_ms: BTreeMap<i64, i64>,
}

/// One merge: `sources` of one tenant and signal become one block of `target_level`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompactionJob {
    pub tenant: TenantId,
    pub signal: Signal,
    /// `"<range-start>-<range-end>-<resolution>"` (ms), what the sharding hashes.
    pub group_key: String,
    /// Ids of the blocks to merge, in id order.
    pub sources: Vec<String>,
    pub target_level: u32,
    /// The group's time range `[start, end)` (ms).
    pub range_start_ms: i64,
    pub range_end_ms: i64,
}

/// What the planner decided for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionPlan {
    /// Merges, oldest range first.
    pub jobs: Vec<CompactionJob>,
    /// Blocks whose sources another block holds entirely: mark them for deletion.
    pub redundant: Vec<String>,
    /// Downsampled blocks missing data of a raw block in their range: mark them for deletion.
    pub stale: Vec<String>,
    /// Blocks of a newer format version: never touched.
    pub unsupported: Vec<String>,
    /// Upload time of the oldest raw level-1 block still waiting to be compacted.
    pub oldest_uncompacted_upload_ms: Option<i64>,
}

/// Plans the compaction of one tenant's `blocks` at `now_ms`.
pub fn plan_compaction(
    tenant: &TenantId,
    signal: Signal,
    blocks: &[PlannerBlock],
    settings: &PlannerSettings,
    now_ms: i64,
) -> CompactionPlan {
    let (supported, unsupported): (Vec<&PlannerBlock>, Vec<&PlannerBlock>) =
        blocks.iter().partition(|b| b.version_supported);
    let redundant = redundant_blocks(&supported);
    let stale = stale_downsampled(&supported, &redundant);
    let live: Vec<&PlannerBlock> = supported
        .into_iter()
        .filter(|b| !redundant.contains(b.block_id.as_str()))
        .filter(|b| !stale.contains(b.block_id.as_str()))
        .collect();
    let waiting = live.iter().filter(|b| b.level <= 1 && b.resolution_ms == 0);
    let oldest_uncompacted_upload_ms = waiting.map(|b| b.upload_time_ms).min();
    let wait_until = now_ms.saturating_sub(settings.first_level_wait_ms);
    let eligible: Vec<&PlannerBlock> = live
        .iter()
        .copied()
        .filter(|b| b.resolution_ms == 0 && (b.level > 1 || b.upload_time_ms <= wait_until))
        .collect();
    let horizon = Horizon {
        now_ms,
        smallest_range_ms: settings.block_ranges_ms.first().copied().unwrap_or(0),
        newest_max_ms: blocks.iter().map(|b| b.max_time_ms).max(),
    };
    let mut groups = merge_groups(&eligible, &settings.block_ranges_ms, &horizon);
    groups.extend(downsampled_groups(&live, settings, now_ms));
    groups.sort_by_key(|g| (g.start_ms, g.end_ms, g.resolution_ms));
    let sorted = |set: HashSet<&str>| {
        let mut ids: Vec<String> = set.into_iter().map(str::to_owned).collect();
        ids.sort();
        ids
    };
    CompactionPlan {
        jobs: groups.iter().map(|g| g.job(tenant, signal)).collect(),
        redundant: sorted(redundant),
        stale: sorted(stale),
        unsupported: unsupported.iter().map(|b| b.block_id.clone()).collect(),
        oldest_uncompacted_upload_ms,
    }
}

/// The raw blocks' vertical groups first, then horizontal ones of the blocks left.
fn merge_groups<'a>(
    eligible: &[&'a PlannerBlock],
    ranges_ms: &[i64],
    horizon: &Horizon,
) -> Vec<Group<'a>> {
    let max_span_ms = ranges_ms.iter().copied().max().unwrap_or(i64::MAX);
    let mut groups = vertical_groups(eligible, max_span_ms);
    let used: HashSet<&str> = groups
        .iter()
        .flat_map(|g| g.blocks.iter().map(|b| b.block_id.as_str()))
        .collect();
    let rest: Vec<&PlannerBlock> = eligible
        .iter()
        .copied()
        .filter(|b| !used.contains(b.block_id.as_str()))
        .collect();
    groups.extend(horizontal_groups(&rest, &groups, ranges_ms, horizon));
    groups
}

/// Blocks of `resolution_ms` to merge over `[start_ms, end_ms)`.
struct Group<'a> {
    start_ms: i64,
    end_ms: i64,
    resolution_ms: i64,
    blocks: Vec<&'a PlannerBlock>,
}

impl Group<'_> {
    fn job(&self, tenant: &TenantId, signal: Signal) -> CompactionJob {
        let mut sources: Vec<String> = self.blocks.iter().map(|b| b.block_id.clone()).collect();
        sources.sort();
        let level = self.blocks.iter().map(|b| b.level).max().unwrap_or(0);
        CompactionJob {
            tenant: tenant.clone(),
            signal,
            group_key: format!("{}-{}-{}", self.start_ms, self.end_ms, self.resolution_ms),
            sources,
            target_level: level.saturating_add(1),
            range_start_ms: self.start_ms,
            range_end_ms: self.end_ms,
        }
    }
}

/// Blocks whose sources are all held by another supported block of the same resolution: a
/// proper superset, or the same set in a block of a higher level or, at the same level, a
/// smaller id (so exactly one of several equal blocks survives).
pub(crate) fn redundant_blocks<'a>(blocks: &[&'a PlannerBlock]) -> HashSet<&'a str> {
    let sets: Vec<HashSet<&str>> = blocks
        .iter()
        .map(|b| b.sources.iter().map(String::as_str).collect())
        .collect();
    let covers = |a: usize, b: usize| {
        let (ba, bb) = (blocks[a], blocks[b]);
        if a == b || ba.resolution_ms != bb.resolution_ms || sets[b].is_empty() {
            return false;
        }
        if !sets[b].is_subset(&sets[a]) {
            return false;
        }
        sets[a].len() > sets[b].len()
            || (ba.level, std::cmp::Reverse(&ba.block_id))
                > (bb.level, std::cmp::Reverse(&bb.block_id))
    };
    (0..blocks.len())
        .filter(|&b| (0..blocks.len()).any(|a| covers(a, b)))
        .map(|b| blocks[b].block_id.as_str())
        .collect()
}

/// The downsampled blocks of `blocks` (not in `redundant`) that lack data: a raw block of
/// `blocks` not in `redundant` overlaps their time range and holds a source they do not.
pub(crate) fn stale_downsampled<'a>(
    blocks: &[&'a PlannerBlock],
    redundant: &HashSet<&str>,
) -> HashSet<&'a str> {
    let live = |b: &&&PlannerBlock| !redundant.contains(b.block_id.as_str());
    let raw: Vec<&PlannerBlock> = blocks
        .iter()
        .filter(live)
        .filter(|b| b.resolution_ms == 0)
        .copied()
        .collect();
    blocks
        .iter()
        .filter(live)
        .filter(|b| b.resolution_ms > 0)
        .filter(|b| {
            let held: HashSet<&str> = b.sources.iter().map(String::as_str).collect();
            raw.iter().any(|r| {
                r.min_time_ms <= b.max_time_ms
                    && b.min_time_ms <= r.max_time_ms
                    && r.sources.iter().any(|s| !held.contains(s.as_str()))
            })
        })
        .map(|b| b.block_id.as_str())
        .collect()
}

/// Runs of overlapping blocks (inclusive ranges), two blocks or more, each spanning at most
/// `max_span_ms` (the largest range): blocks that are not cut on aligned ranges (traces) may
/// overlap in an endless chain, which must not become one ever-growing block.
fn vertical_groups<'a>(blocks: &[&'a PlannerBlock], max_span_ms: i64) -> Vec<Group<'a>> {
    let mut sorted = blocks.to_vec();
    sorted.sort_by(|a, b| (a.min_time_ms, &a.block_id).cmp(&(b.min_time_ms, &b.block_id)));
    let mut groups = Vec::new();
    let mut current: Option<Group<'a>> = None;
    for block in sorted {
        let end = block.max_time_ms.saturating_add(1);
        match &mut current {
            Some(g)
                if block.min_time_ms < g.end_ms
                    && g.end_ms.max(end).saturating_sub(g.start_ms) <= max_span_ms =>
            {
                g.end_ms = g.end_ms.max(end);
                g.blocks.push(block);
            }
            _ => {
                groups.extend(current.take().filter(|g| g.blocks.len() > 1));
                current = Some(Group {
                    start_ms: block.min_time_ms,
                    end_ms: end,
                    resolution_ms: 0,
                    blocks: vec![block],
                });
            }
        }
    }
    groups.extend(current.filter(|g| g.blocks.len() > 1));
    groups
}

/// What tells whether a window is complete.
struct Horizon {
    now_ms: i64,
    smallest_range_ms: i64,
    /// The latest max time of any block of the tenant.
    newest_max_ms: Option<i64>,
}

impl Horizon {
    fn complete(&self, window_end_ms: i64) -> bool {
        window_end_ms <= self.now_ms.saturating_sub(self.smallest_range_ms)
            || self.newest_max_ms.is_some_and(|m| m >= window_end_ms)
    }
}

/// Per range after the first, smallest first: complete aligned windows holding two blocks or
/// more that fit in them. Windows with a block already taken this pass wait for the next one.
fn horizontal_groups<'a>(
    blocks: &[&'a PlannerBlock],
    taken: &[Group<'a>],
    ranges_ms: &[i64],
    horizon: &Horizon,
) -> Vec<Group<'a>> {
    let mut busy: Vec<(i64, i64)> = taken.iter().map(|g| (g.start_ms, g.end_ms)).collect();
    let mut left: Vec<&'a PlannerBlock> = blocks.to_vec();
    let mut groups = Vec::new();
    for &range in ranges_ms.iter().skip(1).filter(|r| **r > 0) {
        let mut windows: BTreeMap<i64, Vec<&'a PlannerBlock>> = BTreeMap::new();
        for block in &left {
            let start = block.min_time_ms.div_euclid(range) * range;
            if block.max_time_ms < start.saturating_add(range) {
                windows.entry(start).or_default().push(block);
            }
        }
        for (start, members) in windows {
            let end = start.saturating_add(range);
            let overlaps_busy = busy.iter().any(|&(s, e)| s < end && start < e);
            if members.len() < 2 || !horizon.complete(end) || overlaps_busy {
                continue;
            }
            left.retain(|b| !members.iter().any(|m| m.block_id == b.block_id));
            busy.push((start, end));
            groups.push(Group {
                start_ms: start,
                end_ms: end,
                resolution_ms: 0,
                blocks: members,
            });
        }
    }
    groups
}

/// Per resolution, the ready aligned windows of `downsampled_range_ms` holding two
/// downsampled blocks or more that fit in them.
fn downsampled_groups<'a>(
    live: &[&'a PlannerBlock],
    settings: &PlannerSettings,
    now_ms: i64,
) -> Vec<Group<'a>> {
    let range = settings.downsampled_range_ms;
    if range <= 0 {
        return Vec::new();
    }
    let mut windows: BTreeMap<(i64, i64), Vec<&'a PlannerBlock>> = BTreeMap::new();
    for &block in live.iter().filter(|b| b.resolution_ms > 0) {
        let start = block.min_time_ms.div_euclid(range).saturating_mul(range);
        if block.max_time_ms < start.saturating_add(range) {
            windows
                .entry((block.resolution_ms, start))
                .or_default()
                .push(block);
        }
    }
    let ready = |resolution_ms: i64, end_ms: i64| {
        let after = settings.downsampled_ready_after_ms.get(&resolution_ms);
        after.is_some_and(|after| end_ms.saturating_add(*after) <= now_ms)
    };
    windows
        .into_iter()
        .map(|((resolution_ms, start_ms), blocks)| Group {
            start_ms,
            end_ms: start_ms.saturating_add(range),
            resolution_ms,
            blocks,
        })
        .filter(|g| g.blocks.len() >= 2 && ready(g.resolution_ms, g.end_ms))
        .collect()
}
