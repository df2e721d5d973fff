//! Applying WAL records to a fresh head. Entries are applied without the out-of-order window
//! (they were accepted once) but with duplicate detection, so that records replayed twice
//! (a checkpoint and the segments written while it was taken) are idempotent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{LogsDbError, LogsReplayStats};
use crate::head::{ChunkConfig, Head, MemStream};
use crate::logql::eval::Entry;
use crate::wal::Record;

pub(super) struct Replayer<'a> {
    head: &'a Head,
    chunks: ChunkConfig,
    refs: HashMap<u64, Arc<MemStream>>,
    orphaned: u64,
    /// The first error applying an entry (a chunk that failed to encode); replay goes on.
    error: Option<LogsDbError>,
    stats: LogsReplayStats,
}

impl<'a> Replayer<'a> {
    pub(super) fn new(head: &'a Head, chunks: ChunkConfig) -> Self {
        Replayer {
            head,
            chunks,
            refs: HashMap::new(),
            orphaned: 0,
            error: None,
            stats: LogsReplayStats::default(),
        }
    }

    pub(super) fn apply(&mut self, record: Record) {
        match record {
            Record::Streams(streams) => {
                for (id, labels) in streams {
                    let stream = self.head.insert(id, labels);
                    self.stats.streams += 1;
                    self.refs.insert(id, stream);
                }
            }
            Record::Entries(groups) => {
                for (id, entries) in groups {
                    match self.refs.get(&id).cloned() {
                        Some(stream) => self.apply_entries(&stream, entries),
                        None => self.orphaned += entries.len() as u64,
                    }
                }
            }
        }
    }

    fn apply_entries(&mut self, stream: &MemStream, entries: Vec<Entry>) {
        let mut state = stream.state.lock();
        for e in entries {
            let added = state.contains(e.ts_ns, &e.line).and_then(|dup| {
                if dup {
                    Ok(false)
                } else {
                    state.push(e, &self.chunks).map(|()| true)
                }
            });
            match added {
                Ok(true) => self.stats.entries += 1,
                Ok(false) => {}
                Err(err) => {
                    self.error.get_or_insert(err.into());
                }
            }
        }
    }

    pub(super) fn finish(
        self,
        corrupt_records: u64,
        duration: Duration,
    ) -> Result<LogsReplayStats, LogsDbError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        if self.orphaned > 0 {
            tracing::warn!(
                entries = self.orphaned,
                "logs wal entries reference streams that were never logged; dropped"
            );
        }
        Ok(LogsReplayStats {
            corrupt_records,
            orphaned_entries: self.orphaned,
            duration,
            ..self.stats
        })
    }
}
