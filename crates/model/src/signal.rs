//! The three signals Sextant stores.

use std::fmt;
use std::str::FromStr;

/// A kind of telemetry. Each signal has its own rings, heads and blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Metrics,
    Logs,
    Traces,
}

impl Signal {
    /// Every signal, in a stable order.
    pub const ALL: [Signal; 3] = [Signal::Metrics, Signal::Logs, Signal::Traces];

    /// The lowercase name used in flags, ring names, object keys and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Traces => "traces",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `metrics`, `logs`, `traces`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal {0:?}: expected metrics, logs or traces")]
pub struct UnknownSignal(pub String);

impl FromStr for Signal {
    type Err = UnknownSignal;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "metrics" => Ok(Signal::Metrics),
            "logs" => Ok(Signal::Logs),
            "traces" => Ok(Signal::Traces),
            other => Err(UnknownSignal(other.to_string())),
        }
    }
}

/// Parses a comma-separated list such as `metrics,logs`; duplicates are removed, order kept.
pub fn parse_signals(list: &str) -> Result<Vec<Signal>, UnknownSignal> {
    let mut out = Vec::new();
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let signal: Signal = part.parse()?;
        if !out.contains(&signal) {
            out.push(signal);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(
            parse_signals("metrics,logs").unwrap(),
            vec![Signal::Metrics, Signal::Logs]
        );
        assert_eq!(
            parse_signals("traces, traces").unwrap(),
            vec![Signal::Traces]
        );
        assert!(parse_signals("metric").is_err());
    }
}
