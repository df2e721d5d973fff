//! One stream's entries: a list of chunks, the last one open for appends.

use crate::chunk::{LogsChunk, LogsChunkCounts, LogsChunkError};
use crate::logql::eval::Entry;
use crate::pipeline::LogsLineFilter;

/// How a stream's chunks are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkConfig {
    /// A chunk is closed once its compressed size reaches this.
    pub(crate) target_bytes: usize,
    /// Uncompressed size of one block inside a chunk.
    pub(crate) block_bytes: usize,
    /// A chunk is closed once it spans this long.
    pub(crate) max_age_ns: i64,
}

#[derive(Debug, Default)]
pub(crate) struct StreamState {
    chunks: Vec<LogsChunk>,
    /// The newest entry time ever accepted (kept across truncations: the out-of-order window
    /// hangs off it).
    newest_ts: Option<i64>,
}

impl StreamState {
    pub(crate) fn newest_ts(&self) -> Option<i64> {
        self.newest_ts
    }

    /// Whether an entry with this time and line is stored already.
    pub(crate) fn contains(&self, ts_ns: i64, line: &str) -> Result<bool, LogsChunkError> {
        if self.newest_ts.is_none_or(|newest| ts_ns > newest) {
            return Ok(false);
        }
        for chunk in &self.chunks {
            let covers = chunk
                .time_range()
                .is_some_and(|(min, max)| min <= ts_ns && ts_ns <= max);
            if covers && chunk.contains(ts_ns, line)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Appends to the open chunk, first closing it when it is full or spans too long.
    pub(crate) fn push(&mut self, entry: Entry, cfg: &ChunkConfig) -> Result<(), LogsChunkError> {
        let full = self.chunks.last().is_none_or(|c| {
            let span = c
                .time_range()
                .map_or(0, |(min, _)| entry.ts_ns.saturating_sub(min));
            c.size_estimate() >= cfg.target_bytes || span >= cfg.max_age_ns
        });
        if full {
            if let Some(last) = self.chunks.last_mut() {
                last.close_block()?;
            }
            self.chunks.push(LogsChunk::new(cfg.block_bytes));
        }
        self.newest_ts = Some(self.newest_ts.map_or(entry.ts_ns, |n| n.max(entry.ts_ns)));
        match self.chunks.last_mut() {
            Some(chunk) => chunk.push(entry),
            None => Ok(()),
        }
    }

    /// The entries in `[start_ns, end_ns)`, sorted by time (ties in arrival order).
    pub(crate) fn entries_in(
        &self,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Entry>, LogsChunkError> {
        let mut out = Vec::new();
        for chunk in &self.chunks {
            chunk.entries_in(start_ns, end_ns, &mut out)?;
        }
        out.sort_by_key(|e| e.ts_ns);
        Ok(out)
    }

    /// [`entries_in`](Self::entries_in) keeping only the lines that pass `filter`.
    pub(crate) fn entries_matching(
        &self,
        start_ns: i64,
        end_ns: i64,
        filter: &LogsLineFilter,
    ) -> Result<Vec<Entry>, LogsChunkError> {
        if filter.is_empty() {
            return self.entries_in(start_ns, end_ns);
        }
        let mut out = Vec::new();
        for chunk in &self.chunks {
            chunk.entries_matching(start_ns, end_ns, filter, &mut out)?;
        }
        out.sort_by_key(|e| e.ts_ns);
        Ok(out)
    }

    /// Whether the stream has data in `[start_ns, end_ns)`, to block granularity.
    pub(crate) fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.chunks.iter().any(|c| c.overlaps(start_ns, end_ns))
    }

    /// Chunks with entries in `[start_ns, end_ns)`, and those entries' counts.
    pub(crate) fn counts_in(
        &self,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<(u64, LogsChunkCounts), LogsChunkError> {
        let mut chunks = 0;
        let mut total = LogsChunkCounts::default();
        for chunk in &self.chunks {
            let counts = chunk.counts_in(start_ns, end_ns)?;
            if counts.entries > 0 {
                chunks += 1;
                total.entries += counts.entries;
                total.line_bytes += counts.line_bytes;
            }
        }
        Ok((chunks, total))
    }

    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        self.chunks
            .iter()
            .filter_map(LogsChunk::time_range)
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }

    /// Drops entries older than `boundary` (re-encoding chunks that straddle it); returns
    /// whether the stream is left empty.
    pub(crate) fn truncate_before(
        &mut self,
        boundary: i64,
        cfg: &ChunkConfig,
    ) -> Result<bool, LogsChunkError> {
        let mut kept = Vec::with_capacity(self.chunks.len());
        for chunk in self.chunks.drain(..) {
            match chunk.time_range() {
                Some((_, max)) if max < boundary => {}
                Some((min, _)) if min >= boundary => kept.push(chunk),
                Some(_) => {
                    let mut rest = LogsChunk::new(cfg.block_bytes);
                    let mut entries = Vec::new();
                    chunk.entries_in(boundary, i64::MAX, &mut entries)?;
                    for e in entries {
                        rest.push(e)?;
                    }
                    kept.push(rest);
                }
                None => {}
            }
        }
        self.chunks = kept;
        Ok(self.chunks.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use sextant_model::Labels;

    use super::*;

    const CFG: ChunkConfig = ChunkConfig {
        target_bytes: 300,
        block_bytes: 100,
        max_age_ns: 1000,
    };

    fn entry(ts_ns: i64) -> Entry {
        Entry {
            ts_ns,
            line: format!("line {ts_ns}"),
            metadata: Labels::default(),
        }
    }

    fn state(times: impl IntoIterator<Item = i64>) -> StreamState {
        let mut s = StreamState::default();
        for ts in times {
            s.push(entry(ts), &CFG).unwrap();
        }
        s
    }

    fn times(entries: &[Entry]) -> Vec<i64> {
        entries.iter().map(|e| e.ts_ns).collect()
    }

    #[test]
    fn chunks_roll_over_by_size_and_age() {
        let by_size = state((0..100).map(|i| i * 5));
        assert!(by_size.chunks.len() > 2, "{}", by_size.chunks.len());
        let by_age = state([0, 500, 999, 1000, 1500, 2500]);
        assert_eq!(by_age.chunks.len(), 3);
        for s in [&by_size, &by_age] {
            let all = s.entries_in(i64::MIN, i64::MAX).unwrap();
            assert!(all.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        }
    }

    #[test]
    fn truncate_keeps_entries_at_or_after_the_boundary() {
        let cases: [(i64, Vec<i64>); 4] = [
            (0, vec![0, 400, 800, 1200, 1600]),
            (500, vec![800, 1200, 1600]),
            (1200, vec![1200, 1600]),
            (2000, vec![]),
        ];
        for (boundary, want) in cases {
            let mut s = state([0, 400, 800, 1200, 1600]);
            let empty = s.truncate_before(boundary, &CFG).unwrap();
            let got = times(&s.entries_in(i64::MIN, i64::MAX).unwrap());
            assert_eq!(got, want, "boundary {boundary}");
            assert_eq!(empty, want.is_empty());
            assert_eq!(s.newest_ts(), Some(1600));
        }
    }

    #[test]
    fn contains_and_counts() {
        let s = state((0..40).map(|i| i * 10));
        assert!(s.contains(100, "line 100").unwrap());
        assert!(!s.contains(100, "line 101").unwrap());
        assert!(!s.contains(1000, "line 1000").unwrap());
        let (chunks, counts) = s.counts_in(0, 200).unwrap();
        assert_eq!(counts.entries, 20);
        assert!(chunks >= 1);
        assert!(s.overlaps(0, 1) && !s.overlaps(400, 500));
        assert_eq!(s.time_range(), Some((0, 390)));
    }
}
