//! Gorilla XOR chunks, bit-compatible with Prometheus' `XORChunk`: a 2-byte big-endian sample
//! count, then the first timestamp (varint) and value (64 raw bits), the second timestamp as an
//! unsigned varint delta, then delta-of-delta timestamps in buckets of 14, 17, 20 or 64 bits and
//! XOR-compressed values. Value bits are kept exactly (NaN payloads, stale markers).
//!
//! [`XorAppender`] builds a chunk, [`XorChunk`] is a closed one and [`XorIterator`] decodes
//! either; decoding a corrupt chunk stops with [`XorIterator::error`] set instead of panicking.
//! [`HistogramChunk`] holds native histograms (a plain varint encoding, see its module).
//!
//! Blocks store float chunks as [`FloatChunk`]: XOR or [`DecimalChunk`] (integer mantissas of
//! a power of ten plus ulp residuals, Rice-coded, see the `decimal` module), whichever is
//! smaller for the chunk ([`FloatChunk::encode`]). The head keeps XOR chunks.

mod bits;
mod decimal;
mod float;
mod histogram;
mod rice;

use bits::{BitReader, BitWriter};
pub use decimal::{DecimalChunk, DecimalIterator};
pub use float::{ChunkEncoding, FloatChunk, FloatIterator};
pub use histogram::HistogramChunk;

/// Prometheus closes a head chunk after this many samples.
pub const DEFAULT_CHUNK_MAX_SAMPLES: usize = 120;

const HEADER_LEN: usize = 2;

/// Why decoding stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk shorter than its {0}-byte header")]
    MissingHeader(usize),
    #[error("chunk ends inside sample {0}")]
    Truncated(u16),
    #[error("invalid value encoding in sample {0}")]
    InvalidValue(u16),
    #[error("a {0:?} chunk is not a float chunk")]
    WrongEncoding(ChunkEncoding),
}

/// A closed chunk: its bytes and the time range it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorChunk {
    bytes: Box<[u8]>,
    min_time: i64,
    max_time: i64,
}

impl XorChunk {
    /// Decodes `bytes` completely to check them and find the time range.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<XorChunk, ChunkError> {
        let mut iter = XorIterator::new(&bytes);
        let mut range: Option<(i64, i64)> = None;
        for (t, _) in iter.by_ref() {
            range = Some(range.map_or((t, t), |(min, _)| (min, t)));
        }
        if let Some(err) = iter.error() {
            return Err(err);
        }
        let (min_time, max_time) = range.unwrap_or((0, 0));
        Ok(XorChunk {
            bytes: bytes.into_boxed_slice(),
            min_time,
            max_time,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn num_samples(&self) -> usize {
        header_count(&self.bytes)
    }

    pub fn min_time(&self) -> i64 {
        self.min_time
    }

    pub fn max_time(&self) -> i64 {
        self.max_time
    }

    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(&self.bytes)
    }
}

fn header_count(bytes: &[u8]) -> usize {
    match bytes {
        [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    }
}

/// Appends samples to an open chunk. Timestamps must increase (the head checks that).
#[derive(Debug, Clone)]
pub struct XorAppender {
    stream: BitWriter,
    num_samples: u16,
    min_time: i64,
    t: i64,
    t_delta: u64,
    v: u64,
    /// Leading zeros of the last XOR window; `u8::MAX` before the first window.
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        XorAppender::new()
    }
}

impl XorAppender {
    pub fn new() -> Self {
        let mut stream = BitWriter::with_capacity(32);
        stream.write_bits(0, 16);
        XorAppender {
            stream,
            num_samples: 0,
            min_time: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: u8::MAX,
            trailing: 0,
        }
    }

    pub fn num_samples(&self) -> usize {
        usize::from(self.num_samples)
    }

    pub fn min_time(&self) -> i64 {
        self.min_time
    }

    pub fn max_time(&self) -> i64 {
        self.t
    }

    pub fn bytes(&self) -> &[u8] {
        self.stream.bytes()
    }

    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(self.stream.bytes())
    }

    /// Appends one sample; returns false (and appends nothing) when the chunk already holds
    /// `u16::MAX` samples.
    pub fn append(&mut self, t: i64, v: f64) -> bool {
        if self.num_samples == u16::MAX {
            return false;
        }
        let bits = v.to_bits();
        match self.num_samples {
            0 => {
                self.stream.write_varint(t);
                self.stream.write_bits(bits, 64);
                self.min_time = t;
            }
            1 => {
                self.t_delta = t.wrapping_sub(self.t) as u64;
                self.stream.write_uvarint(self.t_delta);
                self.write_value(bits);
            }
            _ => {
                let delta = t.wrapping_sub(self.t) as u64;
                self.write_dod(delta.wrapping_sub(self.t_delta) as i64);
                self.t_delta = delta;
                self.write_value(bits);
            }
        }
        self.t = t;
        self.v = bits;
        self.num_samples += 1;
        self.stream.bytes_mut()[..HEADER_LEN].copy_from_slice(&self.num_samples.to_be_bytes());
        true
    }

    /// Closes the chunk, releasing unused capacity.
    pub fn finish(self) -> XorChunk {
        let max_time = self.t;
        XorChunk {
            bytes: self.stream.into_bytes().into_boxed_slice(),
            min_time: self.min_time,
            max_time,
        }
    }

    fn write_dod(&mut self, dod: i64) {
        let fits = |nbits: u32| -((1i64 << (nbits - 1)) - 1) <= dod && dod <= 1i64 << (nbits - 1);
        let s = &mut self.stream;
        if dod == 0 {
            s.write_bit(false);
        } else if fits(14) {
            s.write_bits(0b10, 2);
            s.write_bits(dod as u64, 14);
        } else if fits(17) {
            s.write_bits(0b110, 3);
            s.write_bits(dod as u64, 17);
        } else if fits(20) {
            s.write_bits(0b1110, 4);
            s.write_bits(dod as u64, 20);
        } else {
            s.write_bits(0b1111, 4);
            s.write_bits(dod as u64, 64);
        }
    }

    fn write_value(&mut self, bits: u64) {
        let delta = bits ^ self.v;
        if delta == 0 {
            self.stream.write_bit(false);
            return;
        }
        self.stream.write_bit(true);
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != u8::MAX && leading >= self.leading && trailing >= self.trailing {
            self.stream.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.stream.write_bits(delta >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let sig = 64 - leading - trailing;
        self.stream.write_bit(true);
        self.stream.write_bits(u64::from(leading), 5);
        // 64 significant bits are written as 0: it cannot occur otherwise
        self.stream.write_bits(u64::from(sig & 63), 6);
        self.stream.write_bits(delta >> trailing, sig);
    }
}

/// Decodes the samples of a chunk in order.
#[derive(Debug, Clone)]
pub struct XorIterator<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    t_delta: u64,
    v: u64,
    leading: u8,
    trailing: u8,
    error: Option<ChunkError>,
}

impl<'a> XorIterator<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let (total, error) = match bytes {
            [a, b, ..] => (u16::from_be_bytes([*a, *b]), None),
            _ => (0, Some(ChunkError::MissingHeader(HEADER_LEN))),
        };
        XorIterator {
            reader: BitReader::new(bytes.get(HEADER_LEN..).unwrap_or_default()),
            total,
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: u8::MAX,
            trailing: 0,
            error,
        }
    }

    /// Why iteration stopped before the count in the header, if it did.
    pub fn error(&self) -> Option<ChunkError> {
        self.error
    }

    fn decode_next(&mut self) -> Result<(i64, u64), ChunkError> {
        let truncated = ChunkError::Truncated(self.read);
        match self.read {
            0 => {
                self.t = self.reader.read_varint().ok_or(truncated)?;
                self.v = self.reader.read_bits(64).ok_or(truncated)?;
            }
            1 => {
                self.t_delta = self.reader.read_uvarint().ok_or(truncated)?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod().ok_or(truncated)?;
                self.t_delta = self.t_delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
        }
        Ok((self.t, self.v))
    }

    fn read_dod(&mut self) -> Option<i64> {
        let mut ones = 0;
        while ones < 4 && self.reader.read_bit()? {
            ones += 1;
        }
        let size: u8 = match ones {
            0 => return Some(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => 64,
        };
        let bits = self.reader.read_bits(size)?;
        if size != 64 && bits > 1 << (size - 1) {
            return Some(bits as i64 - (1i64 << size));
        }
        Some(bits as i64)
    }

    fn read_value(&mut self) -> Result<(), ChunkError> {
        let truncated = ChunkError::Truncated(self.read);
        if !self.reader.read_bit().ok_or(truncated)? {
            return Ok(());
        }
        if self.reader.read_bit().ok_or(truncated)? {
            let leading = self.reader.read_bits(5).ok_or(truncated)? as u8;
            let sig = match self.reader.read_bits(6).ok_or(truncated)? as u8 {
                0 => 64,
                n => n,
            };
            if leading + sig > 64 {
                return Err(ChunkError::InvalidValue(self.read));
            }
            self.leading = leading;
            self.trailing = 64 - leading - sig;
        } else if self.leading == u8::MAX {
            return Err(ChunkError::InvalidValue(self.read));
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.reader.read_bits(sig).ok_or(truncated)?;
        self.v ^= bits << self.trailing;
        Ok(())
    }
}

impl Iterator for XorIterator<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.error.is_some() || self.read >= self.total {
            return None;
        }
        match self.decode_next() {
            Ok((t, v)) => {
                self.read += 1;
                Some((t, f64::from_bits(v)))
            }
            Err(err) => {
                self.error = Some(err);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
