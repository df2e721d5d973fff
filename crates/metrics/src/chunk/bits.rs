//! Bit streams for Gorilla chunks: most significant bit first, like Prometheus' `bstream`.

/// Appends bits to a byte vector.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Unused low bits of the last byte (0 when it is full or there is no byte yet).
    free: u8,
}

impl BitWriter {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        BitWriter {
            bytes: Vec::with_capacity(capacity),
            free: 0,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `nbits` (at most 64) bits of `value`, most significant first.
    pub(crate) fn write_bits(&mut self, value: u64, nbits: u8) {
        let mut remaining = nbits.min(64);
        while remaining > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = remaining.min(self.free);
            let shift = remaining - take;
            let part = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= part << (self.free - take);
            }
            self.free -= take;
            remaining = shift;
        }
    }

    pub(crate) fn write_uvarint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.write_bits((value as u8 | 0x80).into(), 8);
            value >>= 7;
        }
        self.write_bits(value, 8);
    }

    /// Zig-zag varint, as Go's `binary.PutVarint`.
    pub(crate) fn write_varint(&mut self, value: i64) {
        self.write_uvarint(((value << 1) ^ (value >> 63)) as u64);
    }
}

/// Reads bits from a byte slice; every read returns `None` past the end.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits from the start of `bytes`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        self.read_bits(1).map(|b| b == 1)
    }

    /// Reads `nbits` (at most 64) bits, most significant first.
    pub(crate) fn read_bits(&mut self, nbits: u8) -> Option<u64> {
        let nbits = usize::from(nbits.min(64));
        if self.pos + nbits > self.bytes.len() * 8 {
            return None;
        }
        if nbits == 0 {
            return Some(0);
        }
        // fast path: one big-endian 128-bit load holds any 64 bits from any bit offset
        let first = self.pos / 8;
        if let Some(window) = self.bytes.get(first..first + 16) {
            let mut word = [0u8; 16];
            word.copy_from_slice(window);
            let value = (u128::from_be_bytes(word) << (self.pos % 8)) >> (128 - nbits);
            self.pos += nbits;
            return Some(value as u64);
        }
        let mut value = 0u64;
        let mut remaining = nbits;
        while remaining > 0 {
            let byte = self.bytes[self.pos / 8];
            let offset = self.pos % 8;
            let available = 8 - offset;
            let take = remaining.min(available);
            let part = (byte >> (available - take)) & (((1u16 << take) - 1) as u8);
            value = (value << take) | u64::from(part);
            self.pos += take;
            remaining -= take;
        }
        Some(value)
    }

    /// The next 64 bits, most significant first, zero-padded past the end; does not move.
    pub(crate) fn peek_u64(&self) -> u64 {
        let first = self.pos / 8;
        let shift = self.pos % 8;
        if let Some(window) = self.bytes.get(first..first + 9) {
            let mut word = [0u8; 16];
            word[..9].copy_from_slice(window);
            return ((u128::from_be_bytes(word) << shift) >> 64) as u64;
        }
        let mut word = [0u8; 16];
        let tail = self.bytes.get(first..).unwrap_or_default();
        word[..tail.len()].copy_from_slice(tail);
        ((u128::from_be_bytes(word) << shift) >> 64) as u64
    }

    /// Moves past `nbits` bits; `None` (without moving) when fewer are left.
    pub(crate) fn skip(&mut self, nbits: usize) -> Option<()> {
        let end = self.pos.checked_add(nbits)?;
        if end > self.bytes.len() * 8 {
            return None;
        }
        self.pos = end;
        Some(())
    }

    pub(crate) fn read_uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.read_bits(8)?;
            if shift == 63 && byte > 1 {
                return None; // overflows 64 bits
            }
            value |= (byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    pub(crate) fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(fields in proptest::collection::vec((any::<u64>(), 0u8..=64), 0..50)) {
            let mut w = BitWriter::default();
            for (v, n) in &fields {
                w.write_bits(*v, *n);
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            for (v, n) in &fields {
                let mask = if *n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                prop_assert_eq!(r.read_bits(*n), Some(v & mask));
            }
        }

        #[test]
        fn varints_round_trip(values in proptest::collection::vec(any::<i64>(), 0..20)) {
            let mut w = BitWriter::default();
            w.write_bit(true); // misalign on purpose
            for v in &values {
                w.write_varint(*v);
                w.write_uvarint(*v as u64);
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            prop_assert_eq!(r.read_bit(), Some(true));
            for v in &values {
                prop_assert_eq!(r.read_varint(), Some(*v));
                prop_assert_eq!(r.read_uvarint(), Some(*v as u64));
            }
        }
    }

    #[test]
    fn peek_and_skip() {
        let bytes = [0xa5, 0x0f, 0xff, 0, 0, 0, 0, 0, 0, 0x81];
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.peek_u64() >> 56, 0xa5);
        assert_eq!(r.skip(4), Some(()));
        assert_eq!(r.peek_u64() >> 52, 0x50f);
        assert_eq!(r.skip(72), Some(()));
        assert_eq!(r.peek_u64(), 0x1000_0000_0000_0000);
        assert_eq!(r.skip(5), None);
        assert_eq!(r.read_bits(4), Some(1));
        assert_eq!(r.peek_u64(), 0);
    }

    #[test]
    fn reading_past_the_end_is_none() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(4), Some(0xf));
        assert_eq!(r.read_bits(5), None);
        assert_eq!(r.read_bits(4), Some(0xf));
        assert_eq!(r.read_bit(), None);
        assert_eq!(BitReader::new(&[0x80; 11]).read_uvarint(), None);
    }
}
