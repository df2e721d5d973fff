//! Reading candidate traces out of a block's `data`: the search columns name the candidates
//! and their pages; pages are fetched a few at a time (one range each, newest candidates
//! first) and handed, with the candidate IDs, to CPU work on the blocking pool, until the
//! caller has enough.

use std::cmp::Reverse;
use std::ops::Range;

use bytes::Bytes;
use sextant_model::TenantId;
use sextant_storage::BucketBlock;
use sextant_traces::block::{
    read_page, TracesBlockFilter, TracesBlockIndex, TracesCandidate, DATA_FILE,
};
use sextant_traces::model::{Trace, TraceId};

use super::{blocking, TracesBlockReader};
use crate::source::QuerierError;

/// Pages fetched (one range each) and visited per round, before asking whether the caller
/// has enough.
const PAGES_PER_ROUND: usize = 4;

/// The candidates of one page (its number), newest first.
pub(super) type PageCandidates = (u32, Vec<TraceId>);

/// Shared by the blocks of one request: how much is still wanted.
pub(super) trait Enough: Sync {
    /// How many more results are wanted; `None`: no limit.
    fn remaining(&self) -> Option<usize>;

    /// Whether nothing more is wanted: reading stops.
    fn enough(&self) -> bool {
        self.remaining() == Some(0)
    }
}

impl TracesBlockReader {
    /// Fetches the pages of the block's candidates for `filter`, [`PAGES_PER_ROUND`] at a
    /// time (newest candidates first), runs `visit` on each round's pages on the blocking
    /// pool (with how many results are still wanted, to stop early) and `record` on its
    /// result, until `enough` says to stop.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn each_candidate_round<T, V, R>(
        &self,
        tenant: &TenantId,
        block: &BucketBlock,
        index: &TracesBlockIndex,
        filter: TracesBlockFilter,
        enough: &dyn Enough,
        visit: V,
        record: R,
    ) -> Result<Vec<T>, QuerierError>
    where
        T: Send + 'static,
        V: Fn(&[PageCandidates], &[Bytes], Option<usize>) -> Result<T, String>
            + Clone
            + Send
            + 'static,
        R: Fn(&T),
    {
        let columns = self.columns(tenant, &block.block_id).await?;
        let pages = blocking(move || pages_newest_first(columns.candidates(&filter))).await?;
        let mut out = Vec::new();
        for round in pages.chunks(PAGES_PER_ROUND) {
            let wanted = enough.remaining();
            if wanted == Some(0) {
                break;
            }
            let ranges = page_ranges(index, round)
                .map_err(|e| self.blocks.block_error(&block.block_id, e))?;
            let fetched = self
                .blocks
                .fetch_ranges(tenant, &block.block_id, DATA_FILE, &ranges)
                .await?;
            let (round, visit) = (round.to_vec(), visit.clone());
            let result = blocking(move || visit(&round, &fetched, wanted))
                .await?
                .map_err(|e| self.blocks.block_error(&block.block_id, e))?;
            record(&result);
            out.push(result);
        }
        Ok(out)
    }
}

/// The candidates grouped by page, pages ordered by their newest candidate (newest first).
fn pages_newest_first(mut candidates: Vec<TracesCandidate>) -> Vec<PageCandidates> {
    candidates.sort_by_key(|c| Reverse((c.start_ns, c.id)));
    let mut pages: Vec<PageCandidates> = Vec::new();
    for c in candidates {
        match pages.iter_mut().find(|(page, _)| *page == c.page) {
            Some((_, ids)) => ids.push(c.id),
            None => pages.push((c.page, vec![c.id])),
        }
    }
    pages
}

/// The byte ranges in `data` of the pages of a round.
fn page_ranges(
    index: &TracesBlockIndex,
    pages: &[PageCandidates],
) -> Result<Vec<Range<u64>>, String> {
    pages
        .iter()
        .map(|(number, _)| {
            index
                .page(*number)
                .map(|p| p.range())
                .ok_or_else(|| format!("search columns name page {number}, the index has none"))
        })
        .collect()
}

/// Decodes the candidate traces of the fetched pages (`fetched[i]` holds `pages[i]`).
pub(super) fn candidate_traces<'p>(
    pages: &'p [PageCandidates],
    fetched: &'p [Bytes],
) -> impl Iterator<Item = Result<Trace, String>> + 'p {
    pages.iter().zip(fetched).flat_map(|((_, ids), bytes)| {
        let page = read_page(bytes).map_err(|e| e.to_string());
        ids.iter().filter_map(move |id| match &page {
            Ok(page) => page.find(id).map_err(|e| e.to_string()).transpose(),
            Err(e) => Some(Err(e.clone())),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(n: u8, page: u32, start_ns: u64) -> TracesCandidate {
        TracesCandidate {
            id: TraceId([n; 16]),
            page,
            start_ns,
            end_ns: start_ns + 1,
        }
    }

    #[test]
    fn groups_candidates_by_page_newest_first() {
        type Want = Vec<(u32, Vec<u8>)>;
        let cases: Vec<(&str, Vec<TracesCandidate>, Want)> = vec![
            ("none", vec![], vec![]),
            (
                "one page, newest first",
                vec![
                    candidate(1, 0, 10),
                    candidate(2, 0, 30),
                    candidate(3, 0, 20),
                ],
                vec![(0, vec![2, 3, 1])],
            ),
            (
                "pages by their newest candidate",
                vec![
                    candidate(1, 0, 10),
                    candidate(5, 2, 50),
                    candidate(2, 0, 40),
                ],
                vec![(2, vec![5]), (0, vec![2, 1])],
            ),
        ];
        for (name, candidates, want) in cases {
            let got: Want = pages_newest_first(candidates)
                .into_iter()
                .map(|(p, ids)| (p, ids.iter().map(|i| i.0[0]).collect()))
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
