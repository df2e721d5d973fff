//! Process-wide logging with `tracing-subscriber`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::config::ConfigError;

/// How log lines are written (`server.log_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `time level target: message key=value ...`
    #[default]
    Logfmt,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "logfmt" => Ok(LogFormat::Logfmt),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError::Invalid {
                path: "server.log_format".into(),
                message: format!("unknown log format {other:?}: use logfmt or json"),
            }),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Logfmt => "logfmt",
            LogFormat::Json => "json",
        })
    }
}

/// Installs the global subscriber at `level` (e.g. `info`, or a directive such as
/// `info,sextant_ring=debug`); `RUST_LOG`, when set, wins. A second call does nothing.
pub fn init(level: &str, format: LogFormat) -> Result<(), ConfigError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.trim().is_empty() => filter(&env)?,
        _ => filter(level)?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Logfmt => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if installed.is_err() {
        tracing::debug!("logging already initialised");
    }
    Ok(())
}

fn filter(directives: &str) -> Result<EnvFilter, ConfigError> {
    EnvFilter::try_new(directives).map_err(|e| ConfigError::BadLogLevel {
        level: directives.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats_and_levels() {
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!("logfmt".parse::<LogFormat>().unwrap(), LogFormat::Logfmt);
        assert!("text".parse::<LogFormat>().is_err());
        assert!(filter("debug").is_ok());
        assert!(filter("info,sextant_ring=debug").is_ok());
        assert!(filter("sextant=notalevel").is_err());
    }

    #[test]
    fn init_twice_is_harmless() {
        init("warn", LogFormat::Logfmt).unwrap();
        init("debug", LogFormat::Json).unwrap();
    }
}
