//! Reading a WAL directory back: the newest checkpoint, then the later segments. A bad record
//! (short header or payload, unknown type, CRC mismatch, undecodable payload) in the last
//! segment is a torn tail: the segment is truncated before it and replay ends normally. In an
//! earlier segment it is corruption: replay stops there, the damaged segment is copied aside
//! (`<name>.corrupt`) and truncated, later segments are renamed aside, so that new records are
//! never written behind a hole.

use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use crate::checkpoint::{
    checkpoint_min_time, latest_checkpoint, remove_incomplete_checkpoints, remove_replaced,
};
use crate::record::{read_records, RecordsEnd, WalRecordType};
use crate::segment::list_segments;

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalReplayOutcome {
    /// Valid records passed to the callback.
    pub records: u64,
    /// Bad records (torn tail or corruption; replay stops at the first).
    pub corrupt_records: u64,
    /// The newest segment left in the directory; new writes go to the next one.
    pub last_segment: Option<u32>,
    /// The checkpoint replayed first: the last segment it replaced.
    pub checkpoint: Option<u32>,
    /// The truncation time of that checkpoint: nothing older is in the head.
    pub checkpoint_min_time: Option<i64>,
}

/// Replays the newest checkpoint, then every record of the later segments in `dir`, in order:
/// `apply(type, payload)` decodes and applies one record; its error makes the record bad.
pub fn replay<K: WalRecordType, E: Display>(
    dir: &Path,
    mut apply: impl FnMut(K, &[u8]) -> Result<(), E>,
) -> io::Result<WalReplayOutcome> {
    let mut outcome = WalReplayOutcome::default();
    replay_checkpoint(dir, &mut outcome, &mut apply)?;
    let segments = list_segments(dir)?;
    outcome.last_segment = segments.last().map(|(i, _)| *i);
    for (pos, (index, path)) in segments.iter().enumerate() {
        let RecordsEnd::Bad { offset, reason } =
            read_segment(path, &mut outcome.records, &mut apply)?
        else {
            continue;
        };
        outcome.corrupt_records += 1;
        if pos + 1 == segments.len() {
            tracing::warn!(segment = %path.display(), offset, %reason, "truncating torn wal tail");
            OpenOptions::new().write(true).open(path)?.set_len(offset)?;
        } else {
            tracing::error!(
                segment = %path.display(), offset, %reason,
                later_segments = segments.len() - pos - 1,
                "corrupt wal segment, replay stops here; moving the rest aside"
            );
            set_aside(path, offset, &segments[pos + 1..])?;
            outcome.last_segment = Some(*index);
        }
        break;
    }
    Ok(outcome)
}

/// Replays the newest checkpoint and removes what it replaced (left by a crash after its
/// rename). A bad record in it is logged and counted; the segments after it still replay.
fn replay_checkpoint<K: WalRecordType, E: Display>(
    dir: &Path,
    outcome: &mut WalReplayOutcome,
    apply: &mut impl FnMut(K, &[u8]) -> Result<(), E>,
) -> io::Result<()> {
    remove_incomplete_checkpoints(dir)?;
    let Some((index, path)) = latest_checkpoint(dir)? else {
        return Ok(());
    };
    remove_replaced(dir, index)?;
    for (_, segment) in list_segments(&path)? {
        if let RecordsEnd::Bad { offset, reason } =
            read_segment(&segment, &mut outcome.records, apply)?
        {
            outcome.corrupt_records += 1;
            tracing::error!(checkpoint = %path.display(), offset, %reason, "corrupt wal checkpoint, the rest of it is skipped");
            break;
        }
    }
    outcome.checkpoint = Some(index);
    outcome.checkpoint_min_time = checkpoint_min_time(&path);
    Ok(())
}

/// Reads the records of a segment file.
fn read_segment<K: WalRecordType, E: Display>(
    path: &Path,
    records: &mut u64,
    apply: &mut impl FnMut(K, &[u8]) -> Result<(), E>,
) -> io::Result<RecordsEnd> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    read_records(BufReader::with_capacity(1 << 20, file), len, records, apply)
}

fn set_aside(path: &Path, valid_len: u64, later: &[(u32, PathBuf)]) -> io::Result<()> {
    fs::copy(path, aside(path))?;
    OpenOptions::new()
        .write(true)
        .open(path)?
        .set_len(valid_len)?;
    for (_, later) in later {
        fs::rename(later, aside(later))?;
    }
    Ok(())
}

fn aside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".corrupt");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests;
