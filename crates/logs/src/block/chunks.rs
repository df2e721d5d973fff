//! Reading one chunk back from the chunks file.

use std::ops::Range;

use super::writer::{CHUNKS_HEADER_LEN, CHUNKS_MAGIC, CHUNKS_VERSION};
use super::{LogsBlockError, LogsChunkMeta};
use crate::chunk::{LogsChunk, DEFAULT_CHUNK_BLOCK_BYTES};

/// The bytes of the chunks file holding the chunk: fetch just these.
pub fn chunk_byte_range(meta: &LogsChunkMeta) -> Range<u64> {
    meta.offset..meta.offset.saturating_add(meta.len)
}

/// Decodes a chunk from either the whole chunks file or exactly the bytes of
/// [`chunk_byte_range`] (a slice of the chunk's length), checking it against its meta. Its
/// blocks are decompressed (and their CRCs checked) only when read.
pub fn read_logs_chunk(
    chunks_file_slice: &[u8],
    meta: &LogsChunkMeta,
) -> Result<LogsChunk, LogsBlockError> {
    let bytes = if chunks_file_slice.len() as u64 == meta.len {
        chunks_file_slice
    } else {
        check_header(chunks_file_slice)?;
        let range = chunk_byte_range(meta);
        usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| chunks_file_slice.get(start..end))
            .ok_or_else(|| {
                LogsBlockError::Corrupt(format!("chunk {range:?} beyond the chunks file"))
            })?
    };
    let chunk = LogsChunk::from_bytes(bytes, DEFAULT_CHUNK_BLOCK_BYTES)?;
    let counts = chunk.counts();
    let matches = chunk.time_range() == Some((meta.min_time_ns, meta.max_time_ns))
        && counts.entries == u64::from(meta.entries)
        && counts.line_bytes == meta.bytes;
    if !matches {
        return Err(LogsBlockError::Corrupt(format!(
            "chunk at {} holds {} entries in {:?}, the index says {} in {}..={}",
            meta.offset,
            counts.entries,
            chunk.time_range(),
            meta.entries,
            meta.min_time_ns,
            meta.max_time_ns
        )));
    }
    Ok(chunk)
}

fn check_header(file: &[u8]) -> Result<(), LogsBlockError> {
    if file.len() < CHUNKS_HEADER_LEN as usize || &file[..4] != CHUNKS_MAGIC {
        return Err(LogsBlockError::Corrupt(
            "not a logs chunks file (bad magic)".into(),
        ));
    }
    if file[4] != CHUNKS_VERSION {
        return Err(LogsBlockError::UnknownFormatVersion {
            file: "chunks",
            version: file[4],
        });
    }
    Ok(())
}
