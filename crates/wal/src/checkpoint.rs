//! WAL checkpoints, Prometheus-style: after an engine truncated its head, what the head still
//! holds is written to `checkpoint.<N>/` (segment files of records, plus a `min_time` file),
//! where `N` is the last segment the checkpoint replaces. Replay reads the newest checkpoint,
//! then the segments after `N`.
//!
//! Crash safety: the checkpoint is written to `checkpoint.<N>.tmp/`, fsynced, renamed to
//! `checkpoint.<N>` (and the WAL directory fsynced); only then are segments `<= N` and older
//! checkpoints deleted. A crash at any point leaves either the old state or the new
//! checkpoint, and leftovers (`.tmp` directories, segments `<= N`) are removed on open.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::record::{encode_record, WalRecordType};
use crate::segment::{delete_segments, list_numbered, WalWriter};

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";
/// The file holding the truncation time (decimal, in the engine's unit) inside a checkpoint.
const MIN_TIME_FILE: &str = "min_time";
/// A checkpoint's records are framed once their payload reaches this size, to bound
/// replay's buffers.
pub const CHECKPOINT_RECORD_TARGET_BYTES: usize = 1 << 20;

/// The directory of checkpoint `index` in `dir`.
pub fn checkpoint_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{PREFIX}{index:08}"))
}

/// The newest complete checkpoint in `dir`: its index and directory.
pub fn latest_checkpoint(dir: &Path) -> io::Result<Option<(u32, PathBuf)>> {
    Ok(list_numbered(dir, PREFIX)?.pop())
}

/// The truncation time stored in a checkpoint, if readable.
pub fn checkpoint_min_time(checkpoint: &Path) -> Option<i64> {
    fs::read_to_string(checkpoint.join(MIN_TIME_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Deletes leftovers of interrupted checkpoints (`checkpoint.*.tmp`).
pub fn remove_incomplete_checkpoints(dir: &Path) -> io::Result<()> {
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
pub fn remove_replaced(dir: &Path, last: u32) -> io::Result<()> {
    delete_segments(dir, ..=last)?;
    for (index, path) in list_numbered(dir, PREFIX)? {
        if index < last {
            fs::remove_dir_all(path)?;
        }
    }
    Ok(())
}

/// Writes one checkpoint: the engine appends payload items through
/// [`WalCheckpointWriter::payload`], records that are referred to before the records that
/// refer to them.
#[derive(Debug)]
pub struct WalCheckpointWriter<K> {
    tmp: PathBuf,
    target: PathBuf,
    writer: WalWriter,
    payload: Vec<u8>,
    kind: Option<K>,
    framed: Vec<u8>,
    bytes: u64,
}

impl<K: WalRecordType> WalCheckpointWriter<K> {
    /// Starts checkpoint `last_segment` in the WAL directory `dir`.
    pub fn create(dir: &Path, last_segment: u32) -> io::Result<WalCheckpointWriter<K>> {
        let target = checkpoint_path(dir, last_segment);
        let mut tmp = target.clone().into_os_string();
        tmp.push(TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        let writer = WalWriter::create(&tmp, 0, u64::MAX)?;
        Ok(WalCheckpointWriter {
            tmp,
            target,
            writer,
            payload: Vec::with_capacity(CHECKPOINT_RECORD_TARGET_BYTES + 4096),
            kind: None,
            framed: Vec::new(),
            bytes: 0,
        })
    }

    /// The payload to append items of type `kind` to. The pending payload is framed first
    /// when its type differs or it reached [`CHECKPOINT_RECORD_TARGET_BYTES`].
    pub fn payload(&mut self, kind: K) -> io::Result<&mut Vec<u8>> {
        if self.kind != Some(kind) || self.payload.len() >= CHECKPOINT_RECORD_TARGET_BYTES {
            self.flush()?;
            self.kind = Some(kind);
        }
        Ok(&mut self.payload)
    }

    /// Flushes, fsyncs and renames the checkpoint into place, with `min_time` (the
    /// truncation time); returns its size in bytes.
    pub fn finish(mut self, min_time: i64) -> io::Result<u64> {
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

    fn flush(&mut self) -> io::Result<()> {
        let Some(kind) = self.kind.filter(|_| !self.payload.is_empty()) else {
            return Ok(());
        };
        self.framed.clear();
        encode_record(&mut self.framed, kind, &self.payload)?;
        self.writer.write(&self.framed)?;
        self.bytes += self.framed.len() as u64;
        self.payload.clear();
        Ok(())
    }
}
