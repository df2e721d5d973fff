//! Segment files: `00000001`, `00000002`, ... (eight decimal digits) in one directory, each
//! holding whole records; [`WalWriter`] appends to the newest and rolls to the next at a
//! configured size.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};

/// The path of segment `index` in `dir`.
pub fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// The segments in `dir`, sorted by index; other files are ignored.
pub fn list_segments(dir: &Path) -> io::Result<Vec<(u32, PathBuf)>> {
    list_numbered(dir, "")
}

/// The entries of `dir` named `prefix` then eight decimal digits, sorted by that number.
pub(crate) fn list_numbered(dir: &Path, prefix: &str) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(index) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
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

/// Deletes the segments of `dir` whose index is in `indexes`; returns how many.
pub fn delete_segments(dir: &Path, indexes: impl RangeBounds<u32>) -> io::Result<usize> {
    let mut deleted = 0;
    for (index, path) in list_segments(dir)? {
        if indexes.contains(&index) {
            fs::remove_file(path)?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Appends framed records to the newest segment.
#[derive(Debug)]
pub struct WalWriter {
    dir: PathBuf,
    segment_size: u64,
    file: File,
    segment: u32,
    segment_bytes: u64,
}

impl WalWriter {
    /// Opens segment `index` in `dir` (which must exist) for appending, creating it when
    /// missing.
    pub fn open(dir: &Path, index: u32, segment_size: u64) -> io::Result<WalWriter> {
        let file = open_segment(dir, index)?;
        let segment_bytes = file.metadata()?.len();
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            segment_size,
            file,
            segment: index,
            segment_bytes,
        })
    }

    /// Starts writing at segment `first_segment`, a new or empty one: [`WalWriter::open`].
    pub fn create(dir: &Path, first_segment: u32, segment_size: u64) -> io::Result<WalWriter> {
        WalWriter::open(dir, first_segment, segment_size)
    }

    /// The segment new records go to.
    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// Bytes in the current segment.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Writes whole records with one `write(2)` (barring short writes), starting a new
    /// segment first when they would not fit in the current one. Returns the segment
    /// written to.
    pub fn write(&mut self, records: &[u8]) -> io::Result<u32> {
        if records.is_empty() {
            return Ok(self.segment);
        }
        if self.segment_bytes > 0 && self.segment_bytes + records.len() as u64 > self.segment_size {
            self.roll()?;
        }
        if let Err(err) = self.file.write_all(records) {
            // drop a partial record so later writes do not land behind garbage
            let _ = self.file.set_len(self.segment_bytes);
            return Err(err);
        }
        self.segment_bytes += records.len() as u64;
        Ok(self.segment)
    }

    /// Flushes written records to stable storage.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Closes the current segment (fsynced) and starts the next one.
    pub fn roll(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        let next = self
            .segment
            .checked_add(1)
            .ok_or_else(|| io::Error::other("wal segment numbers exhausted"))?;
        self.file = open_segment(&self.dir, next)?;
        self.segment = next;
        self.segment_bytes = 0;
        Ok(())
    }
}

fn open_segment(dir: &Path, index: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, index))?;
    // make the new directory entry durable
    File::open(dir)?.sync_all()?;
    Ok(file)
}

#[cfg(test)]
mod tests;
