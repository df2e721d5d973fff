//! Durations written as Prometheus/Go write them: `500ms`, `30s`, `10m`, `2h`, `14d`, `1w`,
//! `1h30m`. Used with `#[serde(with = "sextant_model::duration")]`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// The text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: expected e.g. 500ms, 30s, 10m, 2h, 14d")]
pub struct DurationError(pub String);

/// Parses `1h30m`-style text. A bare `0` is zero.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms_per_unit: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total = total
            .checked_add(n.checked_mul(ms_per_unit).ok_or_else(err)?)
            .ok_or_else(err)?;
    }
    u64::try_from(total)
        .map(Duration::from_millis)
        .map_err(|_| err())
}

/// Formats the largest exact units, e.g. `1h30m`, `500ms`, `0s`.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("500ms", Some(500)),
            ("30s", Some(30_000)),
            ("1h30m", Some(5_400_000)),
            ("14d", Some(14 * 86_400_000)),
            ("", None),
            ("10", None),
            ("1x", None),
            ("h", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse(text).ok().map(|d| d.as_millis() as u64),
                *want,
                "{text:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn format_parse_roundtrip(ms in 0u64..10_000_000_000_000) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse(&format(d)).unwrap(), d);
        }

        #[test]
        fn never_panics(s in ".{0,20}") {
            let _ = parse(&s);
        }
    }
}
