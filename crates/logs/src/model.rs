//! The decoded form of a push, shared by the push decoders, validation and the stream head.

use crate::logql::eval::Stream;

/// One push request, decoded: streams (labels sorted, `{}`-parsed) and their entries in the
/// order the client sent them. Entries carry their structured metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogBatch {
    pub streams: Vec<Stream>,
}

impl LogBatch {
    /// Entries over all streams.
    pub fn entries(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }

    /// Bytes of log lines over all streams (what Loki's rate limits count).
    pub fn line_bytes(&self) -> usize {
        self.streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len())
            .sum()
    }
}
