//! The serialized chunk (layout in the parent module's docs).

use super::codec::{CompressedBlock, MAX_BLOCK_RAW_BYTES};
use super::encoding::{put_uvarint, put_varint, Decoder};
use super::{LogsChunk, LogsChunkError};

const MAGIC: &[u8; 4] = b"SXLC";
const VERSION: u8 = 1;
const CODEC_SNAPPY: u8 = 1;

impl LogsChunk {
    /// Serializes the chunk; the open block is compressed into the output (the chunk itself
    /// keeps appending to it).
    pub fn to_bytes(&self) -> Result<Vec<u8>, LogsChunkError> {
        let open = CompressedBlock::encode(&self.open)?;
        let blocks: Vec<&CompressedBlock> = self.blocks.iter().chain(open.as_ref()).collect();
        let data_len: usize = blocks.iter().map(|b| b.data.len() + 4).sum();
        let mut out = Vec::with_capacity(16 + blocks.len() * 24 + data_len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, CODEC_SNAPPY]);
        put_uvarint(&mut out, blocks.len() as u64);
        for b in &blocks {
            put_varint(&mut out, b.min_ts);
            put_uvarint(&mut out, b.max_ts.wrapping_sub(b.min_ts) as u64);
            put_uvarint(&mut out, u64::from(b.entries));
            put_uvarint(&mut out, u64::from(b.raw_len));
            put_uvarint(&mut out, b.line_bytes);
            put_uvarint(&mut out, b.data.len() as u64);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        for b in &blocks {
            out.extend_from_slice(&b.data);
            out.extend_from_slice(&b.crc.to_be_bytes());
        }
        Ok(out)
    }

    /// Parses a serialized chunk, checking its header CRC and layout. Block CRCs are checked
    /// when a block is decompressed, so blocks a reader skips are never touched.
    pub fn from_bytes(bytes: &[u8], block_bytes: usize) -> Result<LogsChunk, LogsChunkError> {
        let mut d = Decoder::new(bytes, "chunk");
        if d.bytes(4)? != MAGIC {
            return Err(LogsChunkError::Corrupt(
                "not a log chunk (bad magic)".into(),
            ));
        }
        let header = d.bytes(2)?;
        if header != [VERSION, CODEC_SNAPPY] {
            return Err(LogsChunkError::Corrupt(format!(
                "unknown chunk version {} or codec {}",
                header[0], header[1]
            )));
        }
        let metas = parse_block_metas(&mut d)?;
        let header_len = d.position();
        if d.be_u32()? != crc32fast::hash(&bytes[..header_len]) {
            return Err(LogsChunkError::Checksum);
        }
        let mut chunk = LogsChunk::new(block_bytes);
        for (mut block, compressed) in metas {
            block.data = d.bytes(compressed)?.to_vec();
            block.crc = d.be_u32()?;
            chunk.blocks.push(block);
        }
        if !d.is_empty() {
            return Err(d.corrupt("trailing bytes after the last block").into());
        }
        Ok(chunk)
    }
}

/// The block headers, each with its compressed length (`data` is filled in by the caller).
fn parse_block_metas(d: &mut Decoder<'_>) -> Result<Vec<(CompressedBlock, usize)>, LogsChunkError> {
    let n = d.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let min_ts = d.varint()?;
        let span = d.uvarint()?;
        let max_ts = i64::try_from(span)
            .ok()
            .and_then(|span| min_ts.checked_add(span))
            .ok_or_else(|| d.corrupt("block time range overflows"))?;
        let entries = d.u32()?;
        let raw_len = d.u32()?;
        let line_bytes = d.uvarint()?;
        let compressed = d.count()?;
        if entries == 0 || raw_len as usize > MAX_BLOCK_RAW_BYTES {
            return Err(d.corrupt("implausible block header").into());
        }
        let block = CompressedBlock {
            min_ts,
            max_ts,
            entries,
            raw_len,
            line_bytes,
            data: Vec::new(),
            crc: 0,
            keys: None,
        };
        out.push((block, compressed));
    }
    Ok(out)
}
