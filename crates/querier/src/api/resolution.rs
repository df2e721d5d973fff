//! `max_source_resolution` (Thanos): the coarsest block resolution a query may read, from
//! the request parameter or the `querier.prometheus_api.max_source_resolution` default.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::params::parse_duration;

const NANOS_PER_MS: i64 = 1_000_000;

/// The coarsest block resolution a query may read: `raw` (or `0s`), a duration (`5m`,
/// `1h`), or `auto` (whatever resolution gives the same answers; the engine decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxSourceResolution {
    Raw,
    #[default]
    Auto,
    /// At most this many milliseconds (> 0).
    Millis(i64),
}

impl MaxSourceResolution {
    /// The engine's form (`EngineOptions.max_source_resolution_ms`): 0 = raw only,
    /// `i64::MAX` = auto.
    pub fn as_ms(self) -> i64 {
        match self {
            MaxSourceResolution::Raw => 0,
            MaxSourceResolution::Auto => i64::MAX,
            MaxSourceResolution::Millis(ms) => ms,
        }
    }
}

impl FromStr for MaxSourceResolution {
    type Err = String;

    /// `auto`, `raw`, or a duration as float seconds or Prometheus's `5m`, `1h`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => return Ok(MaxSourceResolution::Auto),
            "raw" => return Ok(MaxSourceResolution::Raw),
            _ => {}
        }
        let ns = parse_duration(s)
            .map_err(|_| format!("cannot parse {s:?}: want auto, raw or a duration like 5m"))?;
        match ns / NANOS_PER_MS {
            ms if ms < 0 => Err(format!("cannot parse {s:?}: the resolution is negative")),
            0 => Ok(MaxSourceResolution::Raw),
            ms => Ok(MaxSourceResolution::Millis(ms)),
        }
    }
}

impl fmt::Display for MaxSourceResolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(i64, &str); 3] = [(3_600_000, "h"), (60_000, "m"), (1000, "s")];
        match *self {
            MaxSourceResolution::Raw => f.write_str("raw"),
            MaxSourceResolution::Auto => f.write_str("auto"),
            MaxSourceResolution::Millis(ms) => match UNITS.iter().find(|(u, _)| ms % u == 0) {
                Some((u, unit)) => write!(f, "{}{unit}", ms / u),
                None => write!(f, "{ms}ms"),
            },
        }
    }
}

impl Serialize for MaxSourceResolution {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MaxSourceResolution {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        use MaxSourceResolution::*;
        let cases: [(&str, Result<MaxSourceResolution, &str>); 10] = [
            ("auto", Ok(Auto)),
            ("raw", Ok(Raw)),
            ("0s", Ok(Raw)),
            ("0", Ok(Raw)),
            ("5m", Ok(Millis(300_000))),
            ("1h", Ok(Millis(3_600_000))),
            ("300", Ok(Millis(300_000))),
            (
                "-5m",
                Err("cannot parse \"-5m\": want auto, raw or a duration like 5m"),
            ),
            (
                "-300",
                Err("cannot parse \"-300\": the resolution is negative"),
            ),
            (
                "fine",
                Err("cannot parse \"fine\": want auto, raw or a duration like 5m"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse(), want.map_err(str::to_string), "{input}");
        }
    }

    #[test]
    fn engine_form_and_round_trip() {
        use MaxSourceResolution::*;
        let cases = [
            (Raw, 0, "raw"),
            (Auto, i64::MAX, "auto"),
            (Millis(300_000), 300_000, "5m"),
            (Millis(3_600_000), 3_600_000, "1h"),
            (Millis(90_000), 90_000, "90s"),
            (Millis(1500), 1500, "1500ms"),
        ];
        for (value, ms, text) in cases {
            assert_eq!(value.as_ms(), ms, "{text}");
            assert_eq!(value.to_string(), text);
            assert_eq!(text.parse::<MaxSourceResolution>(), Ok(value), "{text}");
            let json = serde_json::to_string(&value).unwrap();
            assert_eq!(
                serde_json::from_str::<MaxSourceResolution>(&json).unwrap(),
                value
            );
        }
        assert!(serde_json::from_str::<MaxSourceResolution>("\"fine\"").is_err());
    }
}
