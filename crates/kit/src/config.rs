//! Config loading, Cortex/Loki style: defaults (`impl Default`) < YAML file < flags.
//!
//! The defaults are serialized to a YAML tree, the file is merged onto it, flags are set by
//! path, and the result is deserialized with `serde_path_to_error` so that every error names
//! its YAML path. Config structs use `#[serde(default, deny_unknown_fields)]`.

mod args;
mod tree;

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_yaml::Value;

use sextant_model::ErrorKind;

pub use args::{parse_args, ConfigArgs};

/// Why the configuration (or the runtime overrides file) could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `-help` or `-h` was given: print usage and exit.
    #[error("help requested")]
    Help,
    #[error("{0}")]
    BadFlag(String),
    #[error("unknown flag {flag}: no config path {path}")]
    UnknownFlag { flag: String, path: String },
    #[error("reading config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    /// A value does not fit its field; `path` is the YAML path, e.g. `ingester.wal_dir`.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("invalid log level {level:?}: {message}")]
    BadLogLevel { level: String, message: String },
}

impl ConfigError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConfigError::ReadFile { .. } => ErrorKind::Internal,
            _ => ErrorKind::BadRequest,
        }
    }
}

/// Loads `T` from its defaults, the file of `args` and the flags of `args`, in that order.
pub fn load<T: Serialize + DeserializeOwned + Default>(
    args: &ConfigArgs,
) -> Result<T, ConfigError> {
    let defaults = to_value(&T::default())?;
    let mut tree = defaults.clone();
    if let Some(path) = &args.config_file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.clone(),
            source,
        })?;
        let text = if args.expand_env {
            tree::expand_env(&text, |v| std::env::var(v).ok())
        } else {
            text
        };
        let file: Value = serde_yaml::from_str(&text).map_err(|e| ConfigError::ParseFile {
            path: path.clone(),
            message: e.to_string(),
        })?;
        tree::merge(&mut tree, file);
    }
    let mut guessed = Vec::new();
    for (path, raw) in &args.flags {
        if tree::set_flag(&mut tree, &defaults, path, raw)? {
            guessed.push((path.as_str(), raw.as_str()));
        }
    }
    // A flag for a field whose default is null was read as YAML (`7` as a number); if that
    // field wants a string, it gets the flag's text instead and deserialization runs again.
    loop {
        let result = from_value(tree.clone());
        let retry = match &result {
            Err(ConfigError::Invalid { path, .. }) => guessed.iter().position(|(p, _)| p == path),
            _ => None,
        };
        let Some(index) = retry else { return result };
        let (path, raw) = guessed.swap_remove(index);
        tree::set_string(&mut tree, path, raw);
    }
}

/// Usage text for `-help`: the special flags, then one line per config path with its default.
pub fn usage<T: Serialize + Default>() -> String {
    let mut out = String::from("  -config.file <path>\n  -config.expand-env\n  -print.config\n");
    if let Ok(defaults) = to_value(&T::default()) {
        tree::leaves(&defaults, "", &mut |path, value| {
            out.push_str(&format!(
                "  {} (default: {})\n",
                args::path_to_flag(path),
                show_flag_value(value)
            ));
        });
    }
    out
}

/// A default as one would write it in a flag: lists comma-separated, strings bare.
fn show_flag_value(value: &Value) -> String {
    match value {
        Value::Sequence(items) => items
            .iter()
            .map(show_flag_value)
            .collect::<Vec<_>>()
            .join(","),
        Value::String(s) if s.is_empty() => "\"\"".to_string(),
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

/// The YAML of `config`, as printed by `-print.config` and served on `/config`.
pub fn to_yaml<T: Serialize>(config: &T) -> String {
    serde_yaml::to_string(config).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
}

/// Serializes `value` to a YAML tree.
pub fn to_value<T: Serialize>(value: &T) -> Result<Value, ConfigError> {
    serde_yaml::to_value(value).map_err(|e| ConfigError::Invalid {
        path: ".".into(),
        message: e.to_string(),
    })
}

/// Deserializes a YAML tree; the error names the YAML path of the offending value.
pub fn from_value<T: DeserializeOwned>(tree: Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(tree).map_err(|e| ConfigError::Invalid {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

/// Merges `top` onto `base` (mappings key by key, anything else replaces).
pub fn merge_trees(base: &mut Value, top: Value) {
    tree::merge(base, top)
}

#[cfg(test)]
mod precedence_test;
