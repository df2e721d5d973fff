//! A minimal protobuf wire-format reader over a borrowed buffer. Every read is bounds-checked
//! and reports a [`Problem`]; callers add the field path on the way up ([`DecodeError`]).

use std::fmt;

/// Protobuf wire types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    StartGroup,
    EndGroup,
    Fixed32,
}

impl WireType {
    fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            3 => WireType::StartGroup,
            4 => WireType::EndGroup,
            5 => WireType::Fixed32,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "64-bit",
            WireType::Len => "length-delimited",
            WireType::StartGroup => "start-group",
            WireType::EndGroup => "end-group",
            WireType::Fixed32 => "32-bit",
        }
    }
}

/// What is wrong at some place of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    TruncatedVarint,
    VarintOverflow,
    Truncated { needed: usize, left: usize },
    LengthPastEnd { length: u64, left: usize },
    InvalidWireType(u64),
    FieldNumberZero,
    WrongWireType { got: WireType, want: WireType },
    UnbalancedGroup,
    InvalidUtf8,
    Custom(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::TruncatedVarint => f.write_str("is truncated (a varint runs past the end)"),
            Problem::VarintOverflow => f.write_str("has a varint longer than 64 bits"),
            Problem::Truncated { needed, left } => {
                write!(f, "is truncated (needs {needed} bytes, {left} left)")
            }
            Problem::LengthPastEnd { length, left } => {
                write!(
                    f,
                    "has a length of {length} bytes past the end ({left} left)"
                )
            }
            Problem::InvalidWireType(t) => write!(f, "has an invalid wire type {t}"),
            Problem::FieldNumberZero => f.write_str("has a field number of 0"),
            Problem::WrongWireType { got, want } => {
                write!(f, "has wire type {}, expected {}", got.name(), want.name())
            }
            Problem::UnbalancedGroup => f.write_str("has an unbalanced group"),
            Problem::InvalidUtf8 => f.write_str("is not valid UTF-8"),
            Problem::Custom(text) => f.write_str(text),
        }
    }
}

/// A problem and the path of the field it was found in (`timeseries[2].labels[0].name`),
/// built outward as the error travels up, so the success path never formats anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub path: String,
    pub problem: Problem,
}

impl DecodeError {
    /// Prefixes the path with `field` (`field.rest`).
    pub fn within(mut self, field: &str) -> Self {
        self.path = if self.path.is_empty() {
            field.to_string()
        } else if self.path.starts_with('[') {
            format!("{field}{}", self.path)
        } else {
            format!("{field}.{}", self.path)
        };
        self
    }

    /// Prefixes the path with `field[index]`.
    pub fn within_item(self, field: &str, index: usize) -> Self {
        self.within(&format!("{field}[{index}]"))
    }
}

impl From<Problem> for DecodeError {
    fn from(problem: Problem) -> Self {
        DecodeError {
            path: String::new(),
            problem,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "the message {}", self.problem)
        } else {
            write!(f, "{} {}", self.path, self.problem)
        }
    }
}

/// Nesting limit for skipped groups (prost uses 100 as well).
const MAX_GROUP_DEPTH: u32 = 100;

/// A cursor over one message's bytes.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, Problem> {
        // fast path: one byte (tags, and the lengths of label strings)
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, Problem> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos + i) else {
                return Err(Problem::TruncatedVarint);
            };
            if i == 9 && b > 1 {
                return Err(Problem::VarintOverflow);
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(Problem::VarintOverflow)
    }

    /// Reads a field key: field number and wire type.
    #[inline]
    pub fn key(&mut self) -> Result<(u32, WireType), Problem> {
        let key = self.varint()?;
        let wire_type = WireType::from_u64(key & 7).ok_or(Problem::InvalidWireType(key & 7))?;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(Problem::FieldNumberZero);
        }
        Ok((field as u32, wire_type))
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Problem> {
        if n > self.left() {
            return Err(Problem::Truncated {
                needed: n,
                left: self.left(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a length-delimited payload.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8], Problem> {
        let length = self.varint()?;
        if length > self.left() as u64 {
            return Err(Problem::LengthPastEnd {
                length,
                left: self.left(),
            });
        }
        self.take(length as usize)
    }

    pub fn str(&mut self) -> Result<&'a str, Problem> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Problem::InvalidUtf8)
    }

    pub fn fixed64(&mut self) -> Result<u64, Problem> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn double(&mut self) -> Result<f64, Problem> {
        self.fixed64().map(f64::from_bits)
    }

    /// Skips a field's value according to its wire type (groups included, nested).
    pub fn skip(&mut self, wire_type: WireType) -> Result<(), Problem> {
        match wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.take(8).map(drop),
            WireType::Fixed32 => self.take(4).map(drop),
            WireType::Len => self.bytes().map(drop),
            WireType::StartGroup => self.skip_group(),
            WireType::EndGroup => Err(Problem::UnbalancedGroup),
        }
    }

    fn skip_group(&mut self) -> Result<(), Problem> {
        let mut depth = 1u32;
        while depth > 0 {
            match self.key()?.1 {
                WireType::StartGroup => {
                    depth += 1;
                    if depth > MAX_GROUP_DEPTH {
                        return Err(Problem::UnbalancedGroup);
                    }
                }
                WireType::EndGroup => depth -= 1,
                other => self.skip(other)?,
            }
        }
        Ok(())
    }
}

/// Checks that a known field arrived with the wire type it is declared with.
#[inline]
pub(crate) fn expect(got: WireType, want: WireType) -> Result<(), Problem> {
    if got == want {
        Ok(())
    } else {
        Err(Problem::WrongWireType { got, want })
    }
}

pub(crate) fn zigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

pub(crate) fn zigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads a repeated scalar field, packed (`Len`) or not (the element's own wire type), calling
/// `push` for each element.
pub(crate) fn repeated<'a, T>(
    r: &mut Reader<'a>,
    wire_type: WireType,
    element: WireType,
    read: impl Fn(&mut Reader<'a>) -> Result<T, Problem>,
    mut push: impl FnMut(T) -> Result<(), Problem>,
) -> Result<(), Problem> {
    if wire_type == WireType::Len {
        let mut packed = Reader::new(r.bytes()?);
        while !packed.is_empty() {
            push(read(&mut packed)?)?;
        }
        Ok(())
    } else {
        expect(wire_type, element)?;
        push(read(r)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let cases: &[(&[u8], Result<u64, Problem>)] = &[
            (&[0x00], Ok(0)),
            (&[0x7f], Ok(127)),
            (&[0x80, 0x01], Ok(128)),
            (&[0xff, 0xff, 0xff, 0xff, 0x0f], Ok(u64::from(u32::MAX))),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                Ok(u64::MAX),
            ),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                Err(Problem::VarintOverflow),
            ),
            (&[0x80], Err(Problem::TruncatedVarint)),
            (&[], Err(Problem::TruncatedVarint)),
        ];
        for (bytes, want) in cases {
            assert_eq!(&Reader::new(bytes).varint(), want, "{bytes:?}");
        }
    }

    #[test]
    fn zigzag() {
        for (raw, want) in [(0u64, 0i64), (1, -1), (2, 1), (3, -2), (u64::MAX, i64::MIN)] {
            assert_eq!(zigzag64(raw), want);
        }
        for (raw, want) in [
            (0u64, 0i32),
            (1, -1),
            (4, 2),
            (u64::from(u32::MAX), i32::MIN),
        ] {
            assert_eq!(zigzag32(raw), want);
        }
    }

    #[test]
    fn skips_nested_groups_and_rejects_unbalanced_ones() {
        // field 1 start group, field 2 varint 5, field 3 start, field 3 end, field 1 end, then
        // a varint field that must still be readable.
        let buf = [0x0b, 0x10, 0x05, 0x1b, 0x1c, 0x0c, 0x20, 0x07];
        let mut r = Reader::new(&buf);
        let (field, wt) = r.key().unwrap();
        assert_eq!((field, wt), (1, WireType::StartGroup));
        r.skip(wt).unwrap();
        assert_eq!(r.key().unwrap(), (4, WireType::Varint));
        assert_eq!(r.varint().unwrap(), 7);
        assert!(Reader::new(&[0x0b, 0x10])
            .skip(WireType::StartGroup)
            .is_err());
        assert_eq!(
            Reader::new(&[]).skip(WireType::EndGroup),
            Err(Problem::UnbalancedGroup)
        );
    }

    #[test]
    fn error_paths_compose_outward() {
        let e = DecodeError::from(Problem::InvalidUtf8)
            .within("name")
            .within_item("labels", 0)
            .within_item("timeseries", 2);
        assert_eq!(
            e.to_string(),
            "timeseries[2].labels[0].name is not valid UTF-8"
        );
    }
}
