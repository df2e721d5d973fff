//! Block ids: ULIDs (26 Crockford base32 characters: 48 bits of Unix milliseconds, then 80
//! random bits), so ids sort by creation time as strings, like Prometheus and Mimir blocks.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new block id for a block created at `now`.
pub fn new_block_id(now: SystemTime) -> String {
    let ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    encode_ulid(ms, random_80())
}

/// The creation time (Unix ms) of a block id made by [`new_block_id`].
pub fn block_id_time_ms(id: &str) -> Option<u64> {
    if id.len() != 26 {
        return None;
    }
    id.bytes().take(10).try_fold(0u64, |acc, c| {
        let digit = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        Some((acc << 5) | digit as u64)
    })
}

fn encode_ulid(ms: u64, random: u128) -> String {
    let value: u128 = (u128::from(ms & ((1 << 48) - 1)) << 80) | (random & ((1 << 80) - 1));
    (0..26)
        .rev()
        .map(|i| char::from(ALPHABET[((value >> (i * 5)) & 31) as usize]))
        .collect()
}

/// 80 random bits from the standard library's per-process random hash keys and a counter:
/// unique within a process, and across processes with overwhelming probability.
fn random_80() -> u128 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let word = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(salt);
        h.write_u32(nanos);
        h.finish()
    };
    (u128::from(word(1)) << 64) | u128::from(word(2))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_unique() {
        let t = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        let ids: Vec<String> = [0, 1, 1_700_000_000_000, 1_700_000_000_001, (1 << 48) - 1]
            .iter()
            .map(|ms| new_block_id(t(*ms)))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        assert!(ids.iter().all(|id| id.len() == 26));
        assert_eq!(block_id_time_ms(&ids[2]), Some(1_700_000_000_000));
        assert_eq!(&ids[0][..10], "0000000000");
        let same_ms: std::collections::HashSet<String> =
            (0..1000).map(|_| new_block_id(t(5))).collect();
        assert_eq!(same_ms.len(), 1000);
        assert_eq!(block_id_time_ms("short"), None);
    }

    #[test]
    fn known_encoding() {
        assert_eq!(encode_ulid(0, 0), "00000000000000000000000000");
        assert_eq!(encode_ulid(1, 31), "0000000001000000000000000Z");
    }
}
