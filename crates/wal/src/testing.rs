//! A record type for the tests: types 1 and 2.

use crate::WalRecordType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestType {
    A,
    B,
}

impl WalRecordType for TestType {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(TestType::A),
            2 => Some(TestType::B),
            _ => None,
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            TestType::A => 1,
            TestType::B => 2,
        }
    }
}

/// Frames `records` one after the other.
pub(crate) fn framed(records: &[(TestType, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (kind, payload) in records {
        crate::encode_record(&mut out, *kind, payload).unwrap();
    }
    out
}
