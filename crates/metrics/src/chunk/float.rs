//! [`FloatChunk`]: a float chunk in whichever encoding a block stores it, and the choice of
//! encoding when writing one.

use super::decimal::{self, DecimalChunk, DecimalIterator};
use super::{ChunkError, XorAppender, XorChunk, XorIterator};

/// How a chunk's bytes are encoded; stored as one byte per chunk in block indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkEncoding {
    /// Gorilla XOR floats ([`XorChunk`]), Prometheus-compatible.
    Xor,
    /// Decimal mantissas with ulp residuals ([`DecimalChunk`]).
    Decimal,
    /// Native histograms ([`super::HistogramChunk`]).
    Histogram,
}

impl ChunkEncoding {
    pub fn as_byte(self) -> u8 {
        match self {
            ChunkEncoding::Xor => 0,
            ChunkEncoding::Decimal => 1,
            ChunkEncoding::Histogram => 2,
        }
    }

    pub fn from_byte(byte: u8) -> Option<ChunkEncoding> {
        match byte {
            0 => Some(ChunkEncoding::Xor),
            1 => Some(ChunkEncoding::Decimal),
            2 => Some(ChunkEncoding::Histogram),
            _ => None,
        }
    }
}

/// A closed float chunk of either encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FloatChunk {
    Xor(XorChunk),
    Decimal(DecimalChunk),
}

impl FloatChunk {
    /// Encodes up to `u16::MAX` samples (`None` beyond) in the smaller of the two encodings,
    /// XOR on a tie. Every value comes back bit for bit either way.
    pub fn encode(samples: &[(i64, f64)]) -> Option<FloatChunk> {
        if samples.len() > usize::from(u16::MAX) {
            return None;
        }
        let decimal = decimal::encode(samples);
        let limit = decimal.as_ref().map_or(usize::MAX, |d| d.bytes().len());
        let mut app = XorAppender::new();
        for &(t, v) in samples {
            // a XOR chunk only grows: stop as soon as it is larger
            if app.bytes().len() > limit || !app.append(t, v) {
                break;
            }
        }
        match decimal {
            Some(d) if app.num_samples() < samples.len() || app.bytes().len() > limit => {
                Some(FloatChunk::Decimal(d))
            }
            _ => Some(FloatChunk::Xor(app.finish())),
        }
    }

    /// Reads a chunk of a float encoding (a histogram encoding is an error). XOR chunks are
    /// decoded completely to check them; decimal chunks only their header.
    pub fn from_bytes(encoding: ChunkEncoding, bytes: Vec<u8>) -> Result<FloatChunk, ChunkError> {
        match encoding {
            ChunkEncoding::Xor => Ok(FloatChunk::Xor(XorChunk::from_bytes(bytes)?)),
            ChunkEncoding::Decimal => Ok(FloatChunk::Decimal(DecimalChunk::from_bytes(bytes)?)),
            ChunkEncoding::Histogram => Err(ChunkError::WrongEncoding(encoding)),
        }
    }

    pub fn encoding(&self) -> ChunkEncoding {
        match self {
            FloatChunk::Xor(_) => ChunkEncoding::Xor,
            FloatChunk::Decimal(_) => ChunkEncoding::Decimal,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            FloatChunk::Xor(c) => c.bytes(),
            FloatChunk::Decimal(c) => c.bytes(),
        }
    }

    pub fn num_samples(&self) -> usize {
        match self {
            FloatChunk::Xor(c) => c.num_samples(),
            FloatChunk::Decimal(c) => c.num_samples(),
        }
    }

    pub fn min_time(&self) -> i64 {
        match self {
            FloatChunk::Xor(c) => c.min_time(),
            FloatChunk::Decimal(c) => c.min_time(),
        }
    }

    pub fn max_time(&self) -> i64 {
        match self {
            FloatChunk::Xor(c) => c.max_time(),
            FloatChunk::Decimal(c) => c.max_time(),
        }
    }

    pub fn iter(&self) -> FloatIterator<'_> {
        match self {
            FloatChunk::Xor(c) => FloatIterator::Xor(c.iter()),
            FloatChunk::Decimal(c) => FloatIterator::Decimal(c.iter()),
        }
    }
}

impl From<XorChunk> for FloatChunk {
    fn from(chunk: XorChunk) -> Self {
        FloatChunk::Xor(chunk)
    }
}

/// Decodes the samples of a [`FloatChunk`] in order.
#[derive(Debug, Clone)]
pub enum FloatIterator<'a> {
    Xor(XorIterator<'a>),
    Decimal(DecimalIterator<'a>),
}

impl FloatIterator<'_> {
    /// Why iteration stopped before the chunk's sample count, if it did.
    pub fn error(&self) -> Option<ChunkError> {
        match self {
            FloatIterator::Xor(i) => i.error(),
            FloatIterator::Decimal(i) => i.error(),
        }
    }
}

impl Iterator for FloatIterator<'_> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<(i64, f64)> {
        match self {
            FloatIterator::Xor(i) => i.next(),
            FloatIterator::Decimal(i) => i.next(),
        }
    }
}
