//! Compact binary encoding of ring states for gossip: a list of `(ring name, RingDesc)`.
//!
//! Layout (version 1): `0x01`, varint count, then per ring: string name, varint instance count,
//! per instance: strings id, addr, zone, state byte, zigzag varints heartbeat and registered
//! time, varint token count, tokens sorted and delta-encoded as varints. Strings are a varint
//! length and UTF-8 bytes. 128 random tokens take about 520 bytes, so a heartbeat delta fits a
//! UDP gossip packet.

use std::collections::BTreeMap;

use super::desc::{InstanceDesc, InstanceState, RingDesc};
use crate::error::RingError;

const VERSION: u8 = 1;

/// Encodes ring states.
pub fn encode_rings<'a>(rings: impl IntoIterator<Item = (&'a str, &'a RingDesc)>) -> Vec<u8> {
    let rings: Vec<_> = rings.into_iter().collect();
    let mut out = vec![VERSION];
    put_varint(&mut out, rings.len() as u64);
    for (name, desc) in rings {
        put_str(&mut out, name);
        put_varint(&mut out, desc.instances.len() as u64);
        for inst in desc.instances.values() {
            put_instance(&mut out, inst);
        }
    }
    out
}

/// Decodes what [`encode_rings`] wrote. Never panics on malformed input.
pub fn decode_rings(buf: &[u8]) -> Result<Vec<(String, RingDesc)>, RingError> {
    let mut r = Reader { buf, pos: 0 };
    let version = r.byte()?;
    if version != VERSION {
        return Err(RingError::decode(
            "gossip message",
            format!("unknown version {version}"),
        ));
    }
    let count = r.len()?;
    let mut rings = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let name = r.string()?;
        let n = r.len()?;
        let mut instances = BTreeMap::new();
        for _ in 0..n {
            let inst = r.instance()?;
            instances.insert(inst.id.clone(), inst);
        }
        rings.push((name, RingDesc { instances }));
    }
    if r.pos != buf.len() {
        return Err(RingError::decode("gossip message", "trailing bytes"));
    }
    Ok(rings)
}

fn put_instance(out: &mut Vec<u8>, inst: &InstanceDesc) {
    put_str(out, &inst.id);
    put_str(out, &inst.addr);
    put_str(out, &inst.zone);
    out.push(inst.state.to_u8());
    put_varint(out, zigzag(inst.heartbeat_ms));
    put_varint(out, zigzag(inst.registered_ms));
    let mut tokens = inst.tokens.clone();
    tokens.sort_unstable();
    tokens.dedup();
    put_varint(out, tokens.len() as u64);
    let mut prev = 0u32;
    for t in tokens {
        put_varint(out, u64::from(t - prev));
        prev = t;
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn err(&self, reason: &str) -> RingError {
        RingError::decode("gossip message", format!("{reason} at byte {}", self.pos))
    }

    fn byte(&mut self) -> Result<u8, RingError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.err("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, RingError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    /// A count or length, bounded by the bytes left so that garbage cannot allocate much.
    fn len(&mut self) -> Result<usize, RingError> {
        let v = self.varint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if v > left {
            return Err(self.err("length beyond end"));
        }
        Ok(v as usize)
    }

    fn string(&mut self) -> Result<String, RingError> {
        let n = self.len()?;
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.err("invalid utf-8"))
    }

    fn instance(&mut self) -> Result<InstanceDesc, RingError> {
        let id = self.string()?;
        let addr = self.string()?;
        let zone = self.string()?;
        let state = InstanceState::from_u8(self.byte()?).ok_or_else(|| self.err("bad state"))?;
        let heartbeat_ms = unzigzag(self.varint()?);
        let registered_ms = unzigzag(self.varint()?);
        let n = self.len()?;
        let mut tokens = Vec::with_capacity(n);
        let mut prev = 0u32;
        for _ in 0..n {
            let delta = u32::try_from(self.varint()?).map_err(|_| self.err("bad token"))?;
            prev = prev
                .checked_add(delta)
                .ok_or_else(|| self.err("bad token"))?;
            tokens.push(prev);
        }
        Ok(InstanceDesc {
            id,
            addr,
            zone,
            state,
            tokens,
            heartbeat_ms,
            registered_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_ring::desc::tests::arb_ring;
    use proptest::prelude::*;

    fn normalized(mut desc: RingDesc) -> RingDesc {
        for inst in desc.instances.values_mut() {
            inst.tokens.sort_unstable();
            inst.tokens.dedup();
        }
        desc
    }

    #[test]
    fn rejects_garbage() {
        let cases: &[&[u8]] = &[&[], &[2], &[1], &[1, 1], &[1, 1, 200], &[1, 0, 0]];
        for case in cases {
            assert!(decode_rings(case).is_err(), "{case:?}");
        }
        assert_eq!(decode_rings(&[1, 0]).unwrap(), vec![]);
    }

    #[test]
    fn heartbeat_of_128_tokens_fits_a_packet() {
        let tokens: Vec<u32> = (0..128u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let mut desc = RingDesc::default();
        let inst = InstanceDesc {
            id: "ingester-7f9c8d-abcde".into(),
            addr: "10.0.12.34:9095".into(),
            zone: "zone-a".into(),
            state: InstanceState::Active,
            tokens,
            heartbeat_ms: 1_700_000_000_000,
            registered_ms: 1_700_000_000_000,
        };
        desc.instances.insert(inst.id.clone(), inst);
        assert!(encode_rings([("ingester-metrics", &desc)]).len() < 1000);
    }

    proptest! {
        #[test]
        fn roundtrip(a in arb_ring(), b in arb_ring(), hb in any::<i64>()) {
            let mut a = a;
            if let Some(inst) = a.instances.values_mut().next() {
                inst.heartbeat_ms = hb;
            }
            let buf = encode_rings([("x", &a), ("ingester-metrics", &b)]);
            let got = decode_rings(&buf).unwrap();
            prop_assert_eq!(got, vec![("x".to_string(), normalized(a)), ("ingester-metrics".to_string(), normalized(b))]);
        }

        #[test]
        fn decode_never_panics(buf in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_rings(&buf);
        }
    }
}
