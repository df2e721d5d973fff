//! Reading the WAL back. A bad record (short header or payload, unknown type, CRC mismatch,
//! undecodable payload) in the last segment is a torn tail: the segment is truncated before it
//! and replay ends normally. In an earlier segment it is corruption: replay stops there, the
//! damaged segment is copied aside (`<name>.corrupt`) and truncated, later segments are renamed
//! aside, so that new records are never written behind a hole.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::checkpoint::{
    checkpoint_min_time, latest_checkpoint, remove_incomplete_checkpoints, remove_replaced,
};
use super::codec::{decode, Record, RecordType};
use super::{list_segments, RECORD_HEADER_LEN};

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReplayOutcome {
    /// Valid records passed to the callback.
    pub(crate) records: u64,
    /// Bad records (torn tail or corruption; replay stops at the first).
    pub(crate) corrupt_records: u64,
    /// The newest segment left in the directory; new writes go to the next one.
    pub(crate) last_segment: Option<u32>,
    /// The checkpoint replayed first: the last segment it replaced.
    pub(crate) checkpoint: Option<u32>,
    /// The truncation time of that checkpoint: nothing older is in the head.
    pub(crate) checkpoint_min_time: Option<i64>,
}

/// Where reading a segment stopped.
enum SegmentEnd {
    Clean,
    Bad { offset: u64, reason: String },
}

/// Replays the newest checkpoint, then every record of the later segments in `dir`, in order.
pub(crate) fn replay(dir: &Path, mut apply: impl FnMut(Record)) -> io::Result<ReplayOutcome> {
    let mut outcome = ReplayOutcome::default();
    replay_checkpoint(dir, &mut outcome, &mut apply)?;
    let segments = list_segments(dir)?;
    outcome.last_segment = segments.last().map(|(i, _)| *i);
    for (pos, (index, path)) in segments.iter().enumerate() {
        let SegmentEnd::Bad { offset, reason } =
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
fn replay_checkpoint(
    dir: &Path,
    outcome: &mut ReplayOutcome,
    apply: &mut impl FnMut(Record),
) -> io::Result<()> {
    remove_incomplete_checkpoints(dir)?;
    let Some((index, path)) = latest_checkpoint(dir)? else {
        return Ok(());
    };
    remove_replaced(dir, index)?;
    for (_, segment) in list_segments(&path)? {
        if let SegmentEnd::Bad { offset, reason } =
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

fn read_segment(
    path: &Path,
    records: &mut u64,
    apply: &mut impl FnMut(Record),
) -> io::Result<SegmentEnd> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut offset = 0u64;
    let mut payload = Vec::new();
    let bad = |offset, reason: &str| {
        Ok(SegmentEnd::Bad {
            offset,
            reason: reason.to_owned(),
        })
    };
    while offset < file_len {
        let mut header = [0u8; RECORD_HEADER_LEN];
        if file_len - offset < RECORD_HEADER_LEN as u64 {
            return bad(offset, "partial record header");
        }
        reader.read_exact(&mut header)?;
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
        let crc = u32::from_le_bytes([header[5], header[6], header[7], header[8]]);
        let Some(kind) = RecordType::from_byte(header[0]) else {
            return bad(offset, "unknown record type");
        };
        if file_len - offset - (RECORD_HEADER_LEN as u64) < u64::from(len) {
            return bad(offset, "partial record payload");
        }
        payload.resize(len as usize, 0);
        reader.read_exact(&mut payload)?;
        if crc32fast::hash(&payload) != crc {
            return bad(offset, "checksum mismatch");
        }
        match decode(kind, &payload) {
            Ok(record) => apply(record),
            Err(err) => return bad(offset, &err.to_string()),
        }
        *records += 1;
        offset += RECORD_HEADER_LEN as u64 + u64::from(len);
    }
    Ok(SegmentEnd::Clean)
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
