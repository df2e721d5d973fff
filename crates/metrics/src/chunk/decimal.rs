//! Decimal chunks: values as integer mantissas of a per-chunk power of ten plus a residual in
//! units of the last place (ulps), so every bit pattern round-trips while clean decimals and
//! sums of decimals (float counters) cost a few bits per sample.
//!
//! A value `v` becomes `m = round(v * 10^e)` and `r = bits(v) - bits(m / 10^e)` (wrapping, as
//! integers): decoding computes `bits(m / 10^e) + r`, the same IEEE operations as the encoder,
//! so any value comes back bit for bit. NaN, infinities and values too large for a 53-bit
//! mantissa keep the previous mantissa and put everything into the residual (a costly but exact
//! escape). The encoder tries exponents and keeps the cheapest (see [`encode`]).
//!
//! Layout, a bit stream (most significant bit first):
//! - 16 bits sample count (at least 1), varint first timestamp `t0`, uvarint `t_last - t0`,
//!   uvarint `t1 - t0` (0 for one sample);
//! - 4 bits exponent `e`, 1 bit "signed", uvarint mantissa step `g`, varint `bias`, varint
//!   first mantissa `m0`, varint first residual `r0`;
//! - three 6-bit [Rice](super::rice) headers: timestamp delta-of-deltas, mantissa steps,
//!   residual deltas;
//! - per sample after the first, interleaved: the timestamp delta-of-delta (zig-zag, from the
//!   third sample on), the mantissa step `(m_k - m_{k-1}) / g - bias` (zig-zag when signed,
//!   else as is), the residual delta `r_k - r_{k-1}` (zig-zag). A stream whose values are all
//!   zero takes no bits (regular timestamps, clean decimals).

mod encode;

use super::bits::{BitReader, BitWriter};
use super::rice::{self, unzigzag, RiceCode};
use super::ChunkError;

pub(crate) use encode::encode;

/// The largest decimal exponent (4 bits); `10^15` and every mantissa below 2^53 are exact.
const MAX_EXP: u8 = 15;

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The bits of the value a mantissa stands for: `m / 10^e`, the encoder's exact operation.
#[inline]
fn base_bits(m: i64, e: u8) -> u64 {
    if e == 0 {
        (m as f64).to_bits()
    } else {
        (m as f64 / POW10[usize::from(e)]).to_bits()
    }
}

/// A closed decimal chunk. Only its header is checked on construction: decoding errors in the
/// samples stop the iterator with [`DecimalIterator::error`] set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalChunk {
    bytes: Box<[u8]>,
    num_samples: u16,
    min_time: i64,
    max_time: i64,
}

impl DecimalChunk {
    pub fn from_bytes(bytes: Vec<u8>) -> Result<DecimalChunk, ChunkError> {
        let header = Header::parse(&mut BitReader::new(&bytes))?;
        Ok(DecimalChunk {
            num_samples: header.num_samples,
            min_time: header.t0,
            max_time: header.t0.wrapping_add(header.span as i64),
            bytes: bytes.into_boxed_slice(),
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn num_samples(&self) -> usize {
        usize::from(self.num_samples)
    }

    pub fn min_time(&self) -> i64 {
        self.min_time
    }

    pub fn max_time(&self) -> i64 {
        self.max_time
    }

    pub fn iter(&self) -> DecimalIterator<'_> {
        DecimalIterator::new(&self.bytes)
    }
}

/// Everything before the per-sample bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    num_samples: u16,
    t0: i64,
    /// `t_last - t0`, wrapping.
    span: u64,
    dt1: u64,
    exp: u8,
    signed: bool,
    step: u64,
    bias: i64,
    m0: i64,
    r0: i64,
    dods: RiceCode,
    mantissas: RiceCode,
    residuals: RiceCode,
}

impl Header {
    fn parse(r: &mut BitReader<'_>) -> Result<Header, ChunkError> {
        let missing = ChunkError::MissingHeader(2);
        let num_samples = r.read_bits(16).ok_or(missing)? as u16;
        if num_samples == 0 {
            return Err(missing);
        }
        let truncated = ChunkError::Truncated(0);
        Ok(Header {
            num_samples,
            t0: r.read_varint().ok_or(truncated)?,
            span: r.read_uvarint().ok_or(truncated)?,
            dt1: r.read_uvarint().ok_or(truncated)?,
            exp: r.read_bits(4).ok_or(truncated)? as u8,
            signed: r.read_bit().ok_or(truncated)?,
            step: r.read_uvarint().ok_or(truncated)?,
            bias: r.read_varint().ok_or(truncated)?,
            m0: r.read_varint().ok_or(truncated)?,
            r0: r.read_varint().ok_or(truncated)?,
            dods: rice::read_header(r).ok_or(truncated)?,
            mantissas: rice::read_header(r).ok_or(truncated)?,
            residuals: rice::read_header(r).ok_or(truncated)?,
        })
    }

    fn write(&self, w: &mut BitWriter) {
        w.write_bits(u64::from(self.num_samples), 16);
        w.write_varint(self.t0);
        w.write_uvarint(self.span);
        w.write_uvarint(self.dt1);
        w.write_bits(u64::from(self.exp), 4);
        w.write_bit(self.signed);
        w.write_uvarint(self.step);
        w.write_varint(self.bias);
        w.write_varint(self.m0);
        w.write_varint(self.r0);
        for code in [self.dods, self.mantissas, self.residuals] {
            rice::write_header(w, code);
        }
    }
}

/// The Rice parameter of a stream, `None` when it is all zeros.
fn k_of(code: RiceCode) -> Option<u8> {
    match code {
        RiceCode::AllZero => None,
        RiceCode::K(k) => Some(k),
    }
}

/// Decodes the samples of a decimal chunk in order.
#[derive(Debug, Clone)]
pub struct DecimalIterator<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    dt: u64,
    m: i64,
    res: u64,
    exp: u8,
    signed: bool,
    step: i64,
    bias: i64,
    dods: Option<u8>,
    mantissas: Option<u8>,
    residuals: Option<u8>,
    error: Option<ChunkError>,
}

impl<'a> DecimalIterator<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let mut reader = BitReader::new(bytes);
        let header = Header::parse(&mut reader);
        let h = header.unwrap_or(Header {
            num_samples: 0,
            t0: 0,
            span: 0,
            dt1: 0,
            exp: 0,
            signed: false,
            step: 0,
            bias: 0,
            m0: 0,
            r0: 0,
            dods: RiceCode::AllZero,
            mantissas: RiceCode::AllZero,
            residuals: RiceCode::AllZero,
        });
        DecimalIterator {
            reader,
            total: h.num_samples,
            read: 0,
            t: h.t0,
            dt: h.dt1,
            m: h.m0,
            res: h.r0 as u64,
            exp: h.exp,
            signed: h.signed,
            step: h.step as i64,
            bias: h.bias,
            dods: k_of(h.dods),
            mantissas: k_of(h.mantissas),
            residuals: k_of(h.residuals),
            error: header.err(),
        }
    }

    /// Why iteration stopped before the count in the header, if it did.
    pub fn error(&self) -> Option<ChunkError> {
        self.error
    }

    /// Reads the next sample's deltas; the first sample is the header's.
    #[inline]
    fn advance(&mut self) -> Option<()> {
        if self.read >= 2 {
            if let Some(k) = self.dods {
                let dod = unzigzag(rice::read_value(&mut self.reader, k)?);
                self.dt = self.dt.wrapping_add(dod as u64);
            }
        }
        self.t = self.t.wrapping_add(self.dt as i64);
        if let Some(k) = self.mantissas {
            let u = rice::read_value(&mut self.reader, k)?;
            let q = if self.signed { unzigzag(u) } else { u as i64 };
            self.m = self
                .m
                .wrapping_add(q.wrapping_add(self.bias).wrapping_mul(self.step));
        } else {
            self.m = self.m.wrapping_add(self.bias.wrapping_mul(self.step));
        }
        if let Some(k) = self.residuals {
            let u = rice::read_value(&mut self.reader, k)?;
            self.res = self.res.wrapping_add(unzigzag(u) as u64);
        }
        Some(())
    }
}

impl Iterator for DecimalIterator<'_> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<(i64, f64)> {
        if self.error.is_some() || self.read >= self.total {
            return None;
        }
        if self.read > 0 && self.advance().is_none() {
            self.error = Some(ChunkError::Truncated(self.read));
            return None;
        }
        self.read += 1;
        let bits = base_bits(self.m, self.exp).wrapping_add(self.res);
        Some((self.t, f64::from_bits(bits)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::from(self.total.saturating_sub(self.read));
        (0, Some(left))
    }
}

#[cfg(test)]
mod tests;
