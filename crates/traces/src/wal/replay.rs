//! Reading the WAL back. Each segment is read whole and its records handed over in order; at
//! the first bad record (short, wrong checksum, malformed) the segment is truncated there: in
//! the newest segment that is a torn tail, in an older one corruption (logged as an error).
//! Records stand alone, so replay goes on with the next segment either way.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use bytes::Bytes;

use super::{decode_record, list_segments, RecordRead};
use crate::model::TraceId;

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReplayOutcome {
    /// Valid records passed to the callback.
    pub(crate) records: u64,
    /// Segments truncated at a bad record (one bad record counted per segment).
    pub(crate) corrupt_records: u64,
    /// The newest segment in the directory and its length after replay: new writes go to
    /// it when empty, else to the next.
    pub(crate) last_segment: Option<(u32, u64)>,
}

/// Calls `apply(segment, id, data)` for every valid record of `dir`, segments in order; the
/// data is copied out of the segment (so it does not pin the whole file in memory).
pub(crate) fn replay(
    dir: &Path,
    mut apply: impl FnMut(u32, TraceId, Bytes),
) -> io::Result<ReplayOutcome> {
    let mut outcome = ReplayOutcome::default();
    let segments = list_segments(dir)?;
    for (pos, (index, path)) in segments.iter().enumerate() {
        let buf = Bytes::from(std::fs::read(path)?);
        let mut offset = 0usize;
        let bad = loop {
            if offset == buf.len() {
                break None;
            }
            match decode_record(&buf.slice(offset..)) {
                RecordRead::Record { id, data, len } => {
                    apply(*index, id, Bytes::copy_from_slice(&data));
                    outcome.records += 1;
                    offset += len;
                }
                RecordRead::Incomplete => break Some("partial record"),
                RecordRead::Bad(reason) => break Some(reason),
            }
        };
        let mut len = buf.len() as u64;
        if let Some(reason) = bad {
            outcome.corrupt_records += 1;
            if pos + 1 == segments.len() {
                tracing::warn!(segment = %path.display(), offset, reason, "truncating torn traces wal tail");
            } else {
                tracing::error!(
                    segment = %path.display(), offset, reason,
                    "corrupt traces wal segment, truncating it; later segments still replay"
                );
            }
            OpenOptions::new()
                .write(true)
                .open(path)?
                .set_len(offset as u64)?;
            len = offset as u64;
        }
        outcome.last_segment = Some((*index, len));
    }
    Ok(outcome)
}
