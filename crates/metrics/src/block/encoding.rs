//! Varints and a bounds-checked reader for the index: every read returns an error on short or
//! malformed input instead of panicking.

use super::BlockError;

pub(super) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads a section of the index; `what` names the section in errors.
#[derive(Debug, Clone)]
pub(super) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Decoder { buf, pos: 0, what }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(super) fn corrupt(&self, reason: &str) -> BlockError {
        BlockError::Corrupt(format!("{} at byte {}: {reason}", self.what, self.pos))
    }

    pub(super) fn uvarint(&mut self) -> Result<u64, BlockError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.corrupt("truncated varint"));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(self.corrupt("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.corrupt("varint overflows 64 bits"))
    }

    pub(super) fn varint(&mut self) -> Result<i64, BlockError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub(super) fn u32(&mut self) -> Result<u32, BlockError> {
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| self.corrupt("value exceeds 32 bits"))
    }

    /// A count of items that each take at least one byte: bounded by the bytes left, so a
    /// corrupt count cannot make the caller allocate much.
    pub(super) fn count(&mut self) -> Result<usize, BlockError> {
        let v = self.uvarint()?;
        let left = (self.buf.len() - self.pos.min(self.buf.len())) as u64;
        if v > left {
            return Err(self.corrupt("count larger than the remaining bytes"));
        }
        Ok(v as usize)
    }

    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8], BlockError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.corrupt("truncated bytes"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(super) fn be_u64(&mut self) -> Result<u64, BlockError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u in any::<u64>(), i in any::<i64>()) {
            let mut out = Vec::new();
            put_uvarint(&mut out, u);
            put_varint(&mut out, i);
            let mut d = Decoder::new(&out, "test");
            prop_assert_eq!(d.uvarint().unwrap(), u);
            prop_assert_eq!(d.varint().unwrap(), i);
            prop_assert!(d.is_empty());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut d = Decoder::new(&bytes, "test");
            let _ = d.uvarint();
            let _ = d.count();
            let _ = d.be_u64();
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let bytes = [0xffu8; 11];
        assert!(Decoder::new(&bytes, "test").uvarint().is_err());
        assert!(Decoder::new(&[0x80], "test").uvarint().is_err());
    }
}
