//! WAL checkpoints, Prometheus-style (as for metrics): after the head was truncated, what it
//! still holds (every stream's labels, and its entries at or after the truncation time) is
//! written to `checkpoint.<N>/`, where `N` is the last segment the checkpoint replaces. Replay
//! reads the newest checkpoint, then the segments after `N`.
//!
//! Crash safety: the checkpoint is written to `checkpoint.<N>.tmp/`, fsynced, renamed to
//! `checkpoint.<N>` (and the WAL directory fsynced); only then are segments `<= N` and older
//! checkpoints deleted. A crash at any point leaves either the old state or the new
//! checkpoint, and leftovers (`.tmp` directories, segments `<= N`) are removed on open.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sextant_model::Labels;

use super::codec::{self, RecordType};
use super::{encode_record, WalWriter};
use crate::logql::eval::Entry;

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";
/// The file holding the truncation time (decimal ns) inside a checkpoint.
const MIN_TIME_FILE: &str = "min_time";
/// Records are flushed once a payload reaches this size, to bound replay's buffers.
const RECORD_TARGET_BYTES: usize = 1 << 20;

/// The directory of checkpoint `index` in `dir`.
pub(crate) fn checkpoint_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{PREFIX}{index:08}"))
}

/// The newest complete checkpoint in `dir`: its index and directory.
pub(crate) fn latest_checkpoint(dir: &Path) -> io::Result<Option<(u32, PathBuf)>> {
    Ok(list_checkpoints(dir)?.pop())
}

/// Complete checkpoints, oldest first.
fn list_checkpoints(dir: &Path) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(index) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if index.len() == 8 && index.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(index) = index.parse::<u32>() {
                out.push((index, entry.path()));
            }
        }
    }
    out.sort_unstable_by_key(|(i, _)| *i);
    Ok(out)
}

/// The truncation time stored in a checkpoint, if readable.
pub(crate) fn checkpoint_min_time(checkpoint: &Path) -> Option<i64> {
    fs::read_to_string(checkpoint.join(MIN_TIME_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Deletes leftovers of interrupted checkpoints (`checkpoint.*.tmp`).
pub(crate) fn remove_incomplete_checkpoints(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
            fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// Deletes the segments up to `last` and the checkpoints older than checkpoint `last`.
pub(crate) fn remove_replaced(dir: &Path, last: u32) -> io::Result<()> {
    for (index, path) in super::list_segments(dir)? {
        if index <= last {
            fs::remove_file(path)?;
        }
    }
    for (index, path) in list_checkpoints(dir)? {
        if index < last {
            fs::remove_dir_all(path)?;
        }
    }
    Ok(())
}

/// Writes one checkpoint. Add every stream before the entries that refer to it.
#[derive(Debug)]
pub(crate) struct CheckpointWriter {
    tmp: PathBuf,
    target: PathBuf,
    writer: WalWriter,
    payload: Vec<u8>,
    kind: RecordType,
    framed: Vec<u8>,
    bytes: u64,
}

impl CheckpointWriter {
    /// Starts checkpoint `last_segment` in the WAL directory `dir`.
    pub(crate) fn create(dir: &Path, last_segment: u32) -> io::Result<CheckpointWriter> {
        let target = checkpoint_path(dir, last_segment);
        let mut tmp = target.clone().into_os_string();
        tmp.push(TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        let writer = WalWriter::create(&tmp, 0, u64::MAX)?;
        Ok(CheckpointWriter {
            tmp,
            target,
            writer,
            payload: Vec::with_capacity(RECORD_TARGET_BYTES + 4096),
            kind: RecordType::Streams,
            framed: Vec::new(),
            bytes: 0,
        })
    }

    pub(crate) fn add_stream(&mut self, id: u64, labels: &Labels) -> io::Result<()> {
        self.switch(RecordType::Streams)?;
        codec::put_stream(&mut self.payload, id, labels);
        Ok(())
    }

    /// Adds entries of a stream, split over records of about [`RECORD_TARGET_BYTES`].
    pub(crate) fn add_entries(&mut self, id: u64, entries: &[Entry]) -> io::Result<()> {
        let mut start = 0;
        let mut bytes = 0;
        for (i, e) in entries.iter().enumerate() {
            bytes += e.line.len() + 64;
            if bytes >= RECORD_TARGET_BYTES || i + 1 == entries.len() {
                self.switch(RecordType::Entries)?;
                codec::put_entries(&mut self.payload, id, entries[start..=i].iter());
                (start, bytes) = (i + 1, 0);
            }
        }
        Ok(())
    }

    /// Flushes, fsyncs and renames the checkpoint into place; returns its size in bytes.
    pub(crate) fn finish(mut self, min_time: i64) -> io::Result<u64> {
        self.flush()?;
        self.writer.sync()?;
        let mut file = File::create(self.tmp.join(MIN_TIME_FILE))?;
        file.write_all(min_time.to_string().as_bytes())?;
        file.sync_all()?;
        File::open(&self.tmp)?.sync_all()?;
        fs::rename(&self.tmp, &self.target)?;
        if let Some(parent) = self.target.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok(self.bytes)
    }

    /// Frames the pending payload when the record type changes or it is large enough.
    fn switch(&mut self, kind: RecordType) -> io::Result<()> {
        if kind != self.kind || self.payload.len() >= RECORD_TARGET_BYTES {
            self.flush()?;
            self.kind = kind;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.payload.is_empty() {
            return Ok(());
        }
        self.framed.clear();
        encode_record(&mut self.framed, self.kind, &self.payload)?;
        self.writer.write(&self.framed)?;
        self.bytes += self.framed.len() as u64;
        self.payload.clear();
        Ok(())
    }
}
