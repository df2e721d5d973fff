//! Which blocks answer a select. A raw read uses raw blocks only (downsampled blocks hold the
//! same samples again, as aggregates). A downsampled read at resolution `R` uses, for each
//! time span, the coarsest blocks of resolution at most `R` that hold it, and finer blocks
//! (down to raw ones) only for the spans no coarser block covers (Thanos' `getFor`). Every
//! chosen block supplies the samples of its own spans only, so no span is counted twice.
//!
//! Within one downsampled resolution, a block covering another's whole time range hides it
//! when it wins the tie-break (higher compaction level, then smaller block id): the compactor
//! merges such blocks (e.g. day blocks into a 14-day block) and re-aggregates windows split at
//! their borders, so reading both the merged block and its parts before the parts are marked
//! for deletion would count those samples twice. Raw blocks never hide each other.

use std::cmp::Reverse;

use sextant_storage::BucketBlock;

use super::read::overlaps;

/// Sorted, disjoint, inclusive time spans in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Spans(Vec<(i64, i64)>);

impl Spans {
    /// The spans `[from, to]` (inclusive), merged where they overlap or touch.
    #[cfg(test)]
    pub(crate) fn from_ranges(ranges: impl IntoIterator<Item = (i64, i64)>) -> Self {
        let mut spans = Spans::default();
        for (from, to) in ranges {
            spans.add(from, to);
        }
        spans
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many disjoint spans there are.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `t` lies in a span.
    pub(crate) fn contains(&self, t: i64) -> bool {
        let i = self.0.partition_point(|&(from, _)| from <= t);
        i > 0 && t <= self.0[i - 1].1
    }

    /// The first and last millisecond of the spans.
    pub(crate) fn bounds(&self) -> Option<(i64, i64)> {
        Some((self.0.first()?.0, self.0.last()?.1))
    }

    /// Adds `[from, to]`, merging it with the spans it overlaps or touches.
    fn add(&mut self, from: i64, to: i64) {
        if from > to {
            return;
        }
        let (mut from, mut to) = (from, to);
        let mut kept = Vec::with_capacity(self.0.len() + 1);
        for &(a, b) in &self.0 {
            if b < from.saturating_sub(1) || a > to.saturating_add(1) {
                kept.push((a, b));
            } else {
                from = from.min(a);
                to = to.max(b);
            }
        }
        kept.push((from, to));
        kept.sort_unstable();
        self.0 = kept;
    }

    /// The parts of `[from, to]` that no span covers.
    fn uncovered(&self, from: i64, to: i64) -> Spans {
        let mut out = Vec::new();
        let mut next = from;
        for &(a, b) in &self.0 {
            if b < next || next > to {
                continue;
            }
            if a > to {
                break;
            }
            if a > next {
                out.push((next, a - 1));
            }
            next = b.saturating_add(1);
            if b == i64::MAX {
                return Spans(out);
            }
        }
        if next <= to {
            out.push((next, to));
        }
        Spans(out)
    }
}

/// A block a read opens and the spans (within the query) whose samples it supplies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChosenBlock {
    pub(crate) block: BucketBlock,
    pub(crate) spans: Spans,
}

/// The blocks a read opens, and the spans that downsampled blocks answer (raw samples from
/// elsewhere, e.g. ingesters, are dropped there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BlockChoice {
    pub(crate) blocks: Vec<ChosenBlock>,
    pub(crate) downsampled: Spans,
}

/// Chooses among the listed `blocks` for a read of `[start, end]`: raw blocks only when
/// `max_resolution_ms` is `None`, else per span the coarsest resolution at most
/// `max_resolution_ms`. Raw blocks never hide each other (replicas and overlapping raw
/// blocks are merged sample by sample later). Downsampled blocks of one resolution do (see
/// [`unhidden`]): their points are aggregates of windows, and a compacted block re-aggregates
/// the windows its parts split, so merging it with its parts sample by sample double counts.
pub(crate) fn choose_blocks(
    blocks: &[BucketBlock],
    start: i64,
    end: i64,
    max_resolution_ms: Option<i64>,
) -> BlockChoice {
    let max = max_resolution_ms.unwrap_or(0);
    let mut levels: Vec<i64> = blocks
        .iter()
        .map(|b| b.resolution_ms)
        .filter(|&r| (0..=max).contains(&r))
        .collect();
    levels.sort_unstable_by(|a, b| b.cmp(a));
    levels.dedup();
    let mut choice = BlockChoice::default();
    for level in levels {
        let at_level = unhidden(blocks, level)
            .into_iter()
            .filter(|b| overlaps(b.min_time_ms, b.max_time_ms, start, end));
        let mut chosen: Vec<ChosenBlock> = Vec::new();
        for block in at_level {
            let spans = choice
                .downsampled
                .uncovered(block.min_time_ms.max(start), block.max_time_ms.min(end));
            if !spans.is_empty() {
                chosen.push(ChosenBlock {
                    block: block.clone(),
                    spans,
                });
            }
        }
        if level > 0 {
            for c in &chosen {
                choice
                    .downsampled
                    .add(c.block.min_time_ms, c.block.max_time_ms);
            }
        }
        choice.blocks.extend(chosen);
    }
    choice
}

/// The listed blocks of resolution `level` that no other listed block of it hides: all of
/// them for raw blocks, else those no block [`hides`]. Hiding is a strict order (it is
/// transitive and never mutual), so every hidden block is hidden by an unhidden one and the
/// unhidden blocks cover the same time as all of them.
fn unhidden(blocks: &[BucketBlock], level: i64) -> Vec<&BucketBlock> {
    let same: Vec<&BucketBlock> = blocks.iter().filter(|b| b.resolution_ms == level).collect();
    if level == 0 {
        return same;
    }
    same.iter()
        .copied()
        .filter(|b| !same.iter().any(|a| hides(a, b)))
        .collect()
}

/// Whether block `a` would hide block `b` (if downsampled): both have the same resolution,
/// `a` covers `b`'s time range and wins the tie-break (higher compaction level, then smaller
/// block id: the copy the compactor keeps, see its `redundant_blocks`), so of several copies
/// of one range exactly one survives.
fn hides(a: &BucketBlock, b: &BucketBlock) -> bool {
    a.resolution_ms == b.resolution_ms
        && a.min_time_ms <= b.min_time_ms
        && a.max_time_ms >= b.max_time_ms
        && (a.compaction_level, Reverse(a.block_id.as_str()))
            > (b.compaction_level, Reverse(b.block_id.as_str()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const M5: i64 = 300_000;
    const H: i64 = 3_600_000;

    const D: i64 = 24 * H;

    fn block(id: &str, min: i64, max: i64, resolution_ms: i64) -> BucketBlock {
        leveled(id, min, max, resolution_ms, 1)
    }

    fn leveled(id: &str, min: i64, max: i64, resolution_ms: i64, level: u32) -> BucketBlock {
        BucketBlock {
            block_id: id.to_string(),
            min_time_ms: min,
            max_time_ms: max,
            compaction_level: level,
            source: String::new(),
            resolution_ms,
        }
    }

    /// Inclusive spans.
    type Pairs = &'static [(i64, i64)];
    /// The chosen blocks: their ids and spans.
    type Want = &'static [(&'static str, Pairs)];
    /// Name, listed blocks, query start and end, hinted resolution, chosen blocks, spans
    /// answered by downsampled blocks.
    type Case<'a> = (
        &'a str,
        &'a [BucketBlock],
        i64,
        i64,
        Option<i64>,
        Want,
        Pairs,
    );

    fn got(choice: &BlockChoice) -> Vec<(String, Vec<(i64, i64)>)> {
        choice
            .blocks
            .iter()
            .map(|c| (c.block.block_id.clone(), c.spans.0.clone()))
            .collect()
    }

    #[test]
    fn selection_table() {
        // raw blocks r1 [0,2h), r2 [2h,4h), r3 [4h,6h); 1h block of r1 (h1), 5m blocks of
        // r1 and r2 (f1, f2)
        let r1 = block("r1", 0, 2 * H - 1, 0);
        let r2 = block("r2", 2 * H, 4 * H - 1, 0);
        let r3 = block("r3", 4 * H, 6 * H - 1, 0);
        let r3_replica = block("r3b", 4 * H, 6 * H - 1, 0);
        let f1 = block("f1", 0, 2 * H - 1, M5);
        let f2 = block("f2", 2 * H, 4 * H - 1, M5);
        let h1 = block("h1", 0, 2 * H - 1, H);
        let all = [
            r1.clone(),
            r2.clone(),
            r3.clone(),
            r3_replica.clone(),
            f1.clone(),
            f2.clone(),
            h1.clone(),
        ];
        let raw_only = [r1.clone(), r2.clone(), r3.clone(), r3_replica.clone()];
        let five_part = [r1.clone(), r2.clone(), r3.clone(), f2.clone()];
        let cases: [Case<'_>; 8] = [
            (
                "raw read ignores downsampled blocks",
                &all,
                0,
                6 * H,
                None,
                &[
                    ("r1", &[(0, 2 * H - 1)]),
                    ("r2", &[(2 * H, 4 * H - 1)]),
                    ("r3", &[(4 * H, 6 * H - 1)]),
                    ("r3b", &[(4 * H, 6 * H - 1)]),
                ],
                &[],
            ),
            (
                "raw blocks only, hinted: raw blocks answer",
                &raw_only,
                H,
                5 * H,
                Some(H),
                &[
                    ("r1", &[(H, 2 * H - 1)]),
                    ("r2", &[(2 * H, 4 * H - 1)]),
                    ("r3", &[(4 * H, 5 * H)]),
                    ("r3b", &[(4 * H, 5 * H)]),
                ],
                &[],
            ),
            (
                "5m covering part: 5m there, raw elsewhere",
                &five_part,
                0,
                6 * H,
                Some(H),
                &[
                    ("f2", &[(2 * H, 4 * H - 1)]),
                    ("r1", &[(0, 2 * H - 1)]),
                    ("r3", &[(4 * H, 6 * H - 1)]),
                ],
                &[(2 * H, 4 * H - 1)],
            ),
            (
                "1h + 5m + raw mixed at 1h",
                &all,
                0,
                6 * H,
                Some(H),
                &[
                    ("h1", &[(0, 2 * H - 1)]),
                    ("f2", &[(2 * H, 4 * H - 1)]),
                    ("r3", &[(4 * H, 6 * H - 1)]),
                    ("r3b", &[(4 * H, 6 * H - 1)]),
                ],
                &[(0, 4 * H - 1)],
            ),
            (
                "mixed at 5m: the 1h block is too coarse",
                &all,
                0,
                6 * H,
                Some(M5),
                &[
                    ("f1", &[(0, 2 * H - 1)]),
                    ("f2", &[(2 * H, 4 * H - 1)]),
                    ("r3", &[(4 * H, 6 * H - 1)]),
                    ("r3b", &[(4 * H, 6 * H - 1)]),
                ],
                &[(0, 4 * H - 1)],
            ),
            (
                "auto resolution takes the coarsest",
                &all,
                H,
                3 * H,
                Some(i64::MAX),
                &[("h1", &[(H, 2 * H - 1)]), ("f2", &[(2 * H, 3 * H)])],
                &[(0, 4 * H - 1)],
            ),
            (
                "query outside the downsampled blocks",
                &all,
                5 * H,
                6 * H,
                Some(H),
                &[
                    ("r3", &[(5 * H, 6 * H - 1)]),
                    ("r3b", &[(5 * H, 6 * H - 1)]),
                ],
                &[],
            ),
            (
                "a finer block partly covered keeps its gap",
                &[block("h", 0, H - 1, H), block("f", 0, 2 * H - 1, M5)],
                0,
                2 * H,
                Some(H),
                &[("h", &[(0, H - 1)]), ("f", &[(H, 2 * H - 1)])],
                &[(0, 2 * H - 1)],
            ),
        ];
        check(&cases);
    }

    fn check(cases: &[Case<'_>]) {
        for &(name, blocks, start, end, max, want, downsampled) in cases {
            let choice = choose_blocks(blocks, start, end, max);
            let want: Vec<(String, Vec<(i64, i64)>)> = want
                .iter()
                .map(|(id, spans)| (id.to_string(), spans.to_vec()))
                .collect();
            assert_eq!(got(&choice), want, "{name}");
            assert_eq!(choice.downsampled.0, downsampled.to_vec(), "{name}");
        }
    }

    #[test]
    fn hiding_table() {
        // 1h day blocks d1, d2, d3 of level 1; m12 merges d1 and d2 at level 2; raw blocks
        // of the same days
        let d1 = leveled("01D1", 0, D - 1, H, 1);
        let d2 = leveled("01D2", D, 2 * D - 1, H, 1);
        let d3 = leveled("01D3", 2 * D, 3 * D - 1, H, 1);
        let m12 = leveled("01M", 0, 2 * D - 1, H, 2);
        let r1 = leveled("01R1", 0, D - 1, 0, 1);
        let r12 = leveled("01R12", 0, 2 * D - 1, 0, 2);
        let merged = [d1.clone(), d2.clone(), m12.clone(), r1.clone(), r12.clone()];
        let with_d3 = [d1.clone(), m12.clone(), d2.clone(), d3.clone()];
        let cases: [Case<'_>; 10] = [
            (
                "a merged block hides its day blocks",
                &merged,
                0,
                2 * D - 1,
                Some(H),
                &[("01M", &[(0, 2 * D - 1)])],
                &[(0, 2 * D - 1)],
            ),
            (
                "the merged block answers a query across the day border",
                &merged,
                D - H,
                D + H,
                Some(i64::MAX),
                &[("01M", &[(D - H, D + H)])],
                &[(0, 2 * D - 1)],
            ),
            (
                "a day block the merged block does not cover stays",
                &with_d3,
                D,
                3 * D - 1,
                Some(H),
                &[("01M", &[(D, 2 * D - 1)]), ("01D3", &[(2 * D, 3 * D - 1)])],
                &[(0, 3 * D - 1)],
            ),
            (
                "equal ranges: the higher level wins over a smaller id",
                &[leveled("a", 0, D - 1, H, 1), leveled("z", 0, D - 1, H, 2)],
                0,
                D - 1,
                Some(H),
                &[("z", &[(0, D - 1)])],
                &[(0, D - 1)],
            ),
            (
                "equal ranges and levels: the smaller id wins, as the compactor keeps it",
                &[leveled("y", 0, D - 1, H, 1), leveled("x", 0, D - 1, H, 1)],
                0,
                D - 1,
                Some(H),
                &[("x", &[(0, D - 1)])],
                &[(0, D - 1)],
            ),
            (
                "a covering block losing the tie-break hides nothing",
                &[
                    leveled("a", 0, 2 * D - 1, H, 1),
                    leveled("b", 0, D - 1, H, 2),
                ],
                0,
                2 * D - 1,
                Some(H),
                &[("a", &[(0, 2 * D - 1)]), ("b", &[(0, D - 1)])],
                &[(0, 2 * D - 1)],
            ),
            (
                "partial overlap: both kept",
                &[
                    leveled("a", 0, 2 * H - 1, H, 2),
                    leveled("b", H, 3 * H - 1, H, 1),
                ],
                0,
                3 * H,
                Some(H),
                &[("a", &[(0, 2 * H - 1)]), ("b", &[(H, 3 * H - 1)])],
                &[(0, 3 * H - 1)],
            ),
            (
                "a covering block of another resolution hides nothing",
                &[
                    leveled("f", 0, 2 * H - 1, M5, 3),
                    leveled("h", 0, H - 1, H, 1),
                ],
                0,
                2 * H - 1,
                Some(H),
                &[("h", &[(0, H - 1)]), ("f", &[(H, 2 * H - 1)])],
                &[(0, 2 * H - 1)],
            ),
            (
                "raw blocks never hide each other, raw read",
                &merged,
                0,
                2 * D - 1,
                None,
                &[("01R1", &[(0, D - 1)]), ("01R12", &[(0, 2 * D - 1)])],
                &[],
            ),
            (
                "raw blocks never hide each other, hinted read",
                &[r1.clone(), r12.clone()],
                0,
                2 * D - 1,
                Some(H),
                &[("01R1", &[(0, D - 1)]), ("01R12", &[(0, 2 * D - 1)])],
                &[],
            ),
        ];
        check(&cases);
    }

    #[test]
    fn spans_table() {
        let spans = Spans::from_ranges([(10, 20), (30, 40), (21, 25), (50, 50)]);
        assert_eq!(spans.0, vec![(10, 25), (30, 40), (50, 50)]);
        assert_eq!(spans.bounds(), Some((10, 50)));
        let cases: [(i64, i64, Pairs); 5] = [
            (0, 5, &[(0, 5)]),
            (0, 60, &[(0, 9), (26, 29), (41, 49), (51, 60)]),
            (12, 24, &[]),
            (20, 35, &[(26, 29)]),
            (45, 50, &[(45, 49)]),
        ];
        for (from, to, want) in cases {
            assert_eq!(spans.uncovered(from, to).0, want.to_vec(), "{from}..{to}");
        }
        for (t, want) in [(9, false), (10, true), (25, true), (26, false), (50, true)] {
            assert_eq!(spans.contains(t), want, "{t}");
        }
    }

    const RESOLUTIONS: [i64; 3] = [0, 5, 60];

    /// Blocks from `(min, len, resolution index, level, id)`, plus for each `(i, j)` a block
    /// of block `i`'s resolution covering blocks `i` and `j` (a merge), one level higher.
    fn generated_blocks(
        listed: &[(i64, i64, usize, u32, u8)],
        merges: &[(usize, usize)],
    ) -> Vec<BucketBlock> {
        let mut blocks: Vec<BucketBlock> = listed
            .iter()
            .map(|&(min, len, r, level, id)| {
                leveled(&format!("b{id}"), min, min + len, RESOLUTIONS[r], level)
            })
            .collect();
        for (n, &(i, j)) in merges.iter().enumerate() {
            let (Some(a), Some(b)) = (blocks.get(i), blocks.get(j)) else {
                continue;
            };
            let merged = leveled(
                &format!("m{n}"),
                a.min_time_ms.min(b.min_time_ms),
                a.max_time_ms.max(b.max_time_ms),
                a.resolution_ms,
                a.compaction_level.max(b.compaction_level) + 1,
            );
            blocks.push(merged);
        }
        blocks
    }

    proptest! {
        #[test]
        fn uncovered_is_the_complement(
            ranges in proptest::collection::vec((0i64..200, 0i64..20), 0..6),
            from in 0i64..220,
            len in 0i64..100,
        ) {
            let spans = Spans::from_ranges(ranges.iter().map(|&(a, l)| (a, a + l)));
            let to = from + len;
            let rest = spans.uncovered(from, to);
            for t in from..=to {
                prop_assert_eq!(rest.contains(t), !spans.contains(t), "t={}", t);
            }
            prop_assert!(rest.0.windows(2).all(|w| w[0].1 + 1 < w[1].0));
        }

        #[test]
        fn choice_covers_the_query_without_hidden_blocks(
            listed in proptest::collection::vec(
                (0i64..200, 0i64..60, 0usize..3, 1u32..4, 0u8..6),
                0..8,
            ),
            merges in proptest::collection::vec((0usize..8, 0usize..8), 0..3),
            start in 0i64..220,
            len in 0i64..100,
            max in 0usize..3,
        ) {
            let blocks = generated_blocks(&listed, &merges);
            let (end, max) = (start + len, RESOLUTIONS[max]);
            let choice = choose_blocks(&blocks, start, end, Some(max));
            for c in choice.blocks.iter().filter(|c| c.block.resolution_ms > 0) {
                prop_assert!(
                    !blocks.iter().any(|b| hides(b, &c.block)),
                    "{} is hidden", c.block.block_id
                );
            }
            for t in start..=end {
                let listed = blocks.iter().any(|b| {
                    b.resolution_ms <= max && b.min_time_ms <= t && t <= b.max_time_ms
                });
                let supplied: Vec<&ChosenBlock> =
                    choice.blocks.iter().filter(|c| c.spans.contains(t)).collect();
                prop_assert_eq!(!supplied.is_empty(), listed, "t={}", t);
                let resolution = supplied.first().map_or(0, |c| c.block.resolution_ms);
                prop_assert!(
                    supplied.iter().all(|c| c.block.resolution_ms == resolution),
                    "t={} is supplied by several resolutions", t
                );
                prop_assert_eq!(choice.downsampled.contains(t), resolution > 0, "t={}", t);
            }
        }
    }
}
