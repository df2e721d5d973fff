//! Reading one chunk back from the chunks file.

use std::ops::Range;

use super::encoding::Decoder;
use super::writer::{CHUNKS_HEADER_LEN, CHUNKS_MAGIC, CHUNKS_VERSION};
use super::{BlockError, ChunkMeta};
use crate::chunk::{ChunkEncoding, FloatChunk, HistogramChunk};

/// Chunks files before decimal chunks: every float chunk is XOR.
const CHUNKS_VERSION_V1: u8 = 1;

/// The bytes of the chunks file holding the chunk's entry: fetch just these.
pub fn chunk_byte_range(meta: &ChunkMeta) -> Range<u64> {
    meta.offset..meta.offset.saturating_add(meta.len)
}

/// Decodes a float chunk, in the encoding its meta names, from either the whole chunks file or
/// exactly the bytes of [`chunk_byte_range`] (a slice of the entry's length), checking its CRC,
/// sample count and time range.
pub fn read_chunk(chunks_file_slice: &[u8], meta: &ChunkMeta) -> Result<FloatChunk, BlockError> {
    let bytes = chunk_bytes(chunks_file_slice, meta)?;
    let chunk = FloatChunk::from_bytes(meta.encoding, bytes.to_vec())?;
    check_count(chunk.num_samples(), meta)?;
    if (chunk.min_time(), chunk.max_time()) != (meta.min_time, meta.max_time) {
        return Err(BlockError::Corrupt(format!(
            "chunk at {} covers {}..={}, the index says {}..={}",
            meta.offset,
            chunk.min_time(),
            chunk.max_time(),
            meta.min_time,
            meta.max_time
        )));
    }
    Ok(chunk)
}

/// [`read_chunk`] for the native histogram chunks of
/// [`BlockIndex::histogram_chunks`](super::BlockIndex::histogram_chunks).
pub fn read_histogram_chunk(
    chunks_file_slice: &[u8],
    meta: &ChunkMeta,
) -> Result<HistogramChunk, BlockError> {
    if meta.encoding != ChunkEncoding::Histogram {
        return Err(BlockError::Corrupt(format!(
            "chunk at {} is {:?}, not a histogram chunk",
            meta.offset, meta.encoding
        )));
    }
    let bytes = chunk_bytes(chunks_file_slice, meta)?;
    let chunk = HistogramChunk::from_bytes(bytes.to_vec())?;
    check_count(chunk.num_samples(), meta)?;
    Ok(chunk)
}

/// The chunk bytes of an entry, CRC checked.
fn chunk_bytes<'a>(chunks_file_slice: &'a [u8], meta: &ChunkMeta) -> Result<&'a [u8], BlockError> {
    let entry = if chunks_file_slice.len() as u64 == meta.len {
        chunks_file_slice
    } else {
        check_header(chunks_file_slice)?;
        let range = chunk_byte_range(meta);
        usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| chunks_file_slice.get(start..end))
            .ok_or_else(|| BlockError::Corrupt(format!("chunk {range:?} beyond the chunks file")))?
    };
    let mut d = Decoder::new(entry, "chunk");
    let len = d.count()?;
    let bytes = d.bytes(len)?;
    let crc = d.bytes(4)?;
    if !d.is_empty() {
        return Err(d.corrupt("chunk length does not match the index"));
    }
    if crc32fast::hash(bytes).to_be_bytes() != crc {
        return Err(BlockError::Checksum { file: "chunks" });
    }
    Ok(bytes)
}

fn check_count(num_samples: usize, meta: &ChunkMeta) -> Result<(), BlockError> {
    if num_samples as u64 != u64::from(meta.num_samples) {
        return Err(BlockError::Corrupt(format!(
            "chunk at {} holds {num_samples} samples, the index says {}",
            meta.offset, meta.num_samples
        )));
    }
    Ok(())
}

fn check_header(file: &[u8]) -> Result<(), BlockError> {
    if file.len() < CHUNKS_HEADER_LEN as usize || &file[..4] != CHUNKS_MAGIC {
        return Err(BlockError::Corrupt("not a chunks file (bad magic)".into()));
    }
    if file[4] != CHUNKS_VERSION && file[4] != CHUNKS_VERSION_V1 {
        return Err(BlockError::UnknownFormatVersion {
            file: "chunks",
            version: file[4],
        });
    }
    Ok(())
}
