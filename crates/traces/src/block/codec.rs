//! Byte-level helpers shared by the block's files: varints, the magic + version header, CRC
//! sealing, bounded snappy, and a reader that never panics on short or corrupt input.

use crate::model::TraceId;

use super::TracesBlockError;

/// The version byte of every binary file of format version 1.
pub(super) const FILE_VERSION: u8 = 1;
const HEADER_LEN: usize = 5;
const CRC_LEN: usize = 4;
/// Snappy expands at most ~22x (a 3-byte copy of 64 bytes); larger claims are corrupt.
const SNAPPY_MAX_RATIO: usize = 32;

pub(super) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(super) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(super) fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A new file: its magic and the version byte.
pub(super) fn header(magic: &[u8; 4]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(magic);
    buf.push(FILE_VERSION);
    buf
}

/// Appends the CRC of everything in `buf`.
pub(super) fn seal(mut buf: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_be_bytes());
    buf
}

/// Checks the trailing CRC, the magic and the version of a sealed file; returns the body
/// between the header and the CRC.
pub(super) fn open<'a>(
    bytes: &'a [u8],
    magic: &[u8; 4],
    file: &'static str,
) -> Result<&'a [u8], TracesBlockError> {
    let body = check_crc(bytes, file)?;
    if body.len() < HEADER_LEN || &body[..4] != magic {
        return Err(TracesBlockError::corrupt(file, "bad magic"));
    }
    if body[4] != FILE_VERSION {
        return Err(TracesBlockError::UnknownFormatVersion {
            file,
            version: body[4],
        });
    }
    Ok(&body[HEADER_LEN..])
}

/// Checks the trailing CRC of `bytes`; returns what it covers.
pub(super) fn check_crc<'a>(
    bytes: &'a [u8],
    file: &'static str,
) -> Result<&'a [u8], TracesBlockError> {
    let split = bytes
        .len()
        .checked_sub(CRC_LEN)
        .ok_or_else(|| TracesBlockError::corrupt(file, "shorter than its checksum"))?;
    let (body, crc) = bytes.split_at(split);
    let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(body) != stored {
        return Err(TracesBlockError::Checksum { file });
    }
    Ok(body)
}

pub(super) fn compress(bytes: &[u8], file: &'static str) -> Result<Vec<u8>, TracesBlockError> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .map_err(|_| TracesBlockError::TooLarge {
            file,
            bytes: bytes.len(),
        })
}

/// Decompresses, refusing lengths no snappy stream of this size can produce.
pub(super) fn decompress(bytes: &[u8], file: &'static str) -> Result<Vec<u8>, TracesBlockError> {
    let corrupt = |e: snap::Error| TracesBlockError::corrupt(file, format!("snappy: {e}"));
    let len = snap::raw::decompress_len(bytes).map_err(corrupt)?;
    if len > bytes.len().saturating_mul(SNAPPY_MAX_RATIO) + 64 {
        return Err(TracesBlockError::corrupt(file, "implausible snappy length"));
    }
    snap::raw::Decoder::new()
        .decompress_vec(bytes)
        .map_err(corrupt)
}

/// Reads values from a byte slice; every read checks bounds.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    file: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], file: &'static str) -> Reader<'a> {
        Reader { buf, pos: 0, file }
    }

    pub fn corrupt(&self, reason: impl Into<String>) -> TracesBlockError {
        TracesBlockError::corrupt(self.file, reason)
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn varint(&mut self) -> Result<u64, TracesBlockError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err(self.corrupt("varint too long"))
    }

    /// A varint that must fit in u32.
    pub fn u32(&mut self) -> Result<u32, TracesBlockError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| self.corrupt(format!("value {v} out of range")))
    }

    /// A count of items that each take at least one byte: bounded by what is left.
    pub fn count(&mut self) -> Result<usize, TracesBlockError> {
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(self.corrupt(format!("count {n} exceeds the remaining bytes")));
        }
        Ok(n as usize)
    }

    pub fn u8(&mut self) -> Result<u8, TracesBlockError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.corrupt("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], TracesBlockError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.corrupt("unexpected end"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub fn trace_id(&mut self) -> Result<TraceId, TracesBlockError> {
        let bytes = self.bytes(16)?;
        TraceId::from_bytes(bytes).ok_or_else(|| self.corrupt("short trace ID"))
    }

    pub fn string(&mut self) -> Result<String, TracesBlockError> {
        let n = self.count()?;
        let bytes = self.bytes(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.corrupt("string is not UTF-8"))
    }

    pub fn f64(&mut self) -> Result<f64, TracesBlockError> {
        let bytes = self.bytes(8)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(bytes);
        Ok(f64::from_le_bytes(raw))
    }

    pub fn u64_le(&mut self) -> Result<u64, TracesBlockError> {
        let bytes = self.bytes(8)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(raw))
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), TracesBlockError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt(format!("{} trailing bytes", self.remaining())))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn varints_round_trip(values in proptest::collection::vec(any::<u64>(), 0..20)) {
            let mut buf = Vec::new();
            for &v in &values {
                put_varint(&mut buf, v);
                put_varint(&mut buf, zigzag(v as i64));
            }
            let mut r = Reader::new(&buf, "test");
            for &v in &values {
                prop_assert_eq!(r.varint().unwrap(), v);
                prop_assert_eq!(unzigzag(r.varint().unwrap()), v as i64);
            }
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes, "test");
            let _ = r.varint().and_then(|_| r.string()).and_then(|_| r.trace_id());
            let _ = decompress(&bytes, "test");
            let _ = open(&bytes, b"SXTS", "test");
        }
    }

    #[test]
    fn sealed_file_opens_and_rejects_changes() {
        let mut file = header(b"SXTI");
        file.extend_from_slice(b"body");
        let file = seal(file);
        assert_eq!(open(&file, b"SXTI", "index").unwrap(), b"body");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (file[..3].to_vec(), "short"),
            (file[..file.len() - 1].to_vec(), "truncated"),
            (seal(b"SXTB\x01body".to_vec()), "other magic"),
            (seal(b"SXTI\x02body".to_vec()), "other version"),
        ];
        for (bytes, name) in cases {
            assert!(open(&bytes, b"SXTI", "index").is_err(), "{name}");
        }
        assert!(matches!(
            open(&seal(b"SXTI\x02".to_vec()), b"SXTI", "index"),
            Err(TracesBlockError::UnknownFormatVersion { version: 2, .. })
        ));
    }
}
