//! Varints and a bounds-checked reader shared by the chunk and block formats: every read
//! returns an error on short or malformed input instead of panicking.

/// Bytes that do not decode: what was being read, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrupt(pub(crate) String);

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// A string as uvarint length + bytes.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Reads one section of a file; `what` names it in errors.
#[derive(Debug, Clone)]
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Decoder { buf, pos: 0, what }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn corrupt(&self, reason: &str) -> Corrupt {
        Corrupt(format!("{} at byte {}: {reason}", self.what, self.pos))
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, Corrupt> {
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

    pub(crate) fn varint(&mut self) -> Result<i64, Corrupt> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Corrupt> {
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| self.corrupt("value exceeds 32 bits"))
    }

    /// A count of items that each take at least one byte: bounded by the bytes left, so a
    /// corrupt count cannot make the caller allocate much.
    pub(crate) fn count(&mut self) -> Result<usize, Corrupt> {
        let v = self.uvarint()?;
        let left = (self.buf.len() - self.pos.min(self.buf.len())) as u64;
        if v > left {
            return Err(self.corrupt("count larger than the remaining bytes"));
        }
        Ok(v as usize)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.corrupt("truncated bytes"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A string written by [`put_str`].
    pub(crate) fn str(&mut self) -> Result<&'a str, Corrupt> {
        let len = self.count()?;
        let bytes = self.bytes(len)?;
        std::str::from_utf8(bytes).map_err(|_| self.corrupt("string is not utf-8"))
    }

    pub(crate) fn be_u32(&mut self) -> Result<u32, Corrupt> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn be_u64(&mut self) -> Result<u64, Corrupt> {
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
        fn varints_and_strings_round_trip(u in any::<u64>(), i in any::<i64>(), s in ".*") {
            let mut out = Vec::new();
            put_uvarint(&mut out, u);
            put_varint(&mut out, i);
            put_str(&mut out, &s);
            let mut d = Decoder::new(&out, "test");
            prop_assert_eq!(d.uvarint().unwrap(), u);
            prop_assert_eq!(d.varint().unwrap(), i);
            prop_assert_eq!(d.str().unwrap(), s.as_str());
            prop_assert!(d.is_empty());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut d = Decoder::new(&bytes, "test");
            let _ = d.uvarint();
            let _ = d.str();
            let _ = d.be_u64();
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        let cases: [(&[u8], &str); 3] = [
            (&[0xff; 11], "varint overflows"),
            (&[0x80], "truncated varint"),
            (&[0x05, b'a'], "count larger"),
        ];
        for (bytes, want) in cases {
            let mut d = Decoder::new(bytes, "test");
            let err = d.str().unwrap_err();
            assert!(err.0.contains(want), "{bytes:?}: {err:?}");
        }
        let mut d = Decoder::new(&[0x02, 0xff, 0xfe], "test");
        assert!(d.str().unwrap_err().0.contains("utf-8"));
    }
}
