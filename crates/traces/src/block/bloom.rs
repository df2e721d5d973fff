//! The `bloom` file: a bloom filter over the block's trace IDs, sized for 1 % false
//! positives, probing `k` bits `h1 + i * h2` (Kirsch–Mitzenmacher) from two seeded xxh3
//! hashes of the ID.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::model::TraceId;

use super::codec::{header, open, put_varint, seal, Reader};
use super::TracesBlockError;

const BLOOM_MAGIC: &[u8; 4] = b"SXTB";
const FILE: &str = "bloom";
/// Bits per ID and probes for a 1 % false-positive rate: m/n = -ln(p)/ln(2)^2, k = m/n ln 2.
const BITS_PER_ID: f64 = 9.585;
const HASHES: u32 = 7;
const MAX_HASHES: u32 = 32;

/// A bloom filter over trace IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracesBloom {
    hashes: u32,
    /// At least one word; the bit count is `words.len() * 64`.
    words: Vec<u64>,
}

impl TracesBloom {
    /// An empty filter sized for `ids` IDs.
    pub(super) fn with_capacity(ids: usize) -> TracesBloom {
        let bits = (ids as f64 * BITS_PER_ID).ceil() as usize;
        TracesBloom {
            hashes: HASHES,
            words: vec![0; bits.div_ceil(64).max(1)],
        }
    }

    pub(super) fn insert(&mut self, id: &TraceId) {
        for bit in self.probes(id) {
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// `false`: the block certainly does not hold `id`; `true`: it may.
    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.probes(id)
            .all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0)
    }

    fn probes(&self, id: &TraceId) -> impl Iterator<Item = usize> {
        let h1 = xxh3_64_with_seed(id.as_bytes(), 0);
        let h2 = xxh3_64_with_seed(id.as_bytes(), 1) | 1;
        let bits = (self.words.len() * 64) as u64;
        (0..u64::from(self.hashes))
            .map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut buf = header(BLOOM_MAGIC);
        put_varint(&mut buf, u64::from(self.hashes));
        put_varint(&mut buf, (self.words.len() * 64) as u64);
        for w in &self.words {
            buf.extend_from_slice(&w.to_le_bytes());
        }
        seal(buf)
    }

    /// Checks magic, version and CRC and the filter's shape.
    pub fn parse(bytes: &[u8]) -> Result<TracesBloom, TracesBlockError> {
        let mut r = Reader::new(open(bytes, BLOOM_MAGIC, FILE)?, FILE);
        let hashes = r.u32()?;
        let bits = r.varint()?;
        if !(1..=MAX_HASHES).contains(&hashes) || bits == 0 || bits % 64 != 0 {
            return Err(r.corrupt(format!("{hashes} hashes over {bits} bits")));
        }
        let words = (bits / 64) as usize;
        if r.remaining() != words.saturating_mul(8) {
            return Err(r.corrupt("length does not match the bit count"));
        }
        let words = (0..words).map(|_| r.u64_le()).collect::<Result<_, _>>()?;
        Ok(TracesBloom { hashes, words })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> TraceId {
        let mut id = [0u8; 16];
        id[8..].copy_from_slice(&n.to_be_bytes());
        TraceId(id)
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        for size in [0u64, 1, 100, 10_000] {
            let mut bloom = TracesBloom::with_capacity(size as usize);
            (0..size).for_each(|n| bloom.insert(&id(n)));
            let bloom = TracesBloom::parse(&bloom.encode()).unwrap();
            assert!((0..size).all(|n| bloom.may_contain(&id(n))), "{size}");
            let positives = (1 << 40..(1 << 40) + 10_000)
                .filter(|&n| bloom.may_contain(&id(n)))
                .count();
            assert!(
                positives < 200,
                "{size}: {positives} false positives in 10000"
            );
        }
    }

    #[test]
    fn malformed_shapes_are_corrupt() {
        let file = |hashes: u64, bits: u64, words: usize| {
            let mut buf = header(BLOOM_MAGIC);
            put_varint(&mut buf, hashes);
            put_varint(&mut buf, bits);
            buf.extend(std::iter::repeat_n(0u8, words * 8));
            seal(buf)
        };
        assert!(TracesBloom::parse(&file(7, 128, 2)).is_ok());
        for (hashes, bits, words) in [
            (0, 128, 2),
            (33, 128, 2),
            (7, 0, 0),
            (7, 100, 2),
            (7, 128, 1),
            (7, 128, 3),
        ] {
            assert!(
                TracesBloom::parse(&file(hashes, bits, words)).is_err(),
                "{hashes} {bits} {words}"
            );
        }
    }
}
