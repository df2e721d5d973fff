//! Operations on YAML trees: `${VAR}` expansion, deep merge, setting a flag by path.

use serde_yaml::{Mapping, Value};

use super::args::path_to_flag;
use super::ConfigError;

/// Replaces `${VAR}` and `${VAR:default}` with the variable's value (or the default, or "").
/// A `$` not followed by `{`, or a `${` without a closing `}`, is kept as written.
pub(crate) fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let (name, default) = match after[..end].split_once(':') {
            Some((name, default)) => (name, default),
            None => (&after[..end], ""),
        };
        out.push_str(&lookup(name).unwrap_or_else(|| default.to_string()));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Merges `top` onto `base`: mappings merge key by key, anything else in `top` replaces.
pub(crate) fn merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Mapping(base), Value::Mapping(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (_, Value::Null) => {}
        (base, top) => *base = top,
    }
}

/// Sets the value at the dotted `path` of `tree`. `defaults` says which paths exist and which
/// type each holds: strings stay strings, sequences split on commas, other scalars parse as YAML.
/// Returns whether the type was a guess (the default is null, as for `Option` fields).
pub(crate) fn set_flag(
    tree: &mut Value,
    defaults: &Value,
    path: &str,
    raw: &str,
) -> Result<bool, ConfigError> {
    let unknown = || ConfigError::UnknownFlag {
        flag: path_to_flag(path),
        path: path.to_string(),
    };
    let mut default = defaults;
    let mut slot = tree;
    for key in path.split('.') {
        let key = Value::String(key.to_string());
        default = default
            .as_mapping()
            .and_then(|m| m.get(&key))
            .ok_or_else(unknown)?;
        let map = ensure_mapping(slot);
        slot = map.entry(key).or_insert(Value::Null);
    }
    *slot = match default {
        Value::Mapping(_) => {
            return Err(ConfigError::BadFlag(format!(
                "flag {} names a block: set one of its keys instead",
                path_to_flag(path)
            )))
        }
        Value::Sequence(items) => Value::Sequence(split_list(raw, items.first())),
        other => coerce(raw, other),
    };
    Ok(default.is_null())
}

/// Replaces the value at the dotted `path` of `tree` (which exists) with the string `raw`.
pub(crate) fn set_string(tree: &mut Value, path: &str, raw: &str) {
    let mut slot = tree;
    for key in path.split('.') {
        slot = &mut slot[key];
    }
    *slot = Value::String(raw.to_string());
}

/// Calls `f` with the dotted path and value of every non-mapping node under `tree`.
pub(crate) fn leaves(tree: &Value, prefix: &str, f: &mut dyn FnMut(&str, &Value)) {
    match tree {
        Value::Mapping(map) => {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(value, &path, f);
            }
        }
        leaf => f(prefix, leaf),
    }
}

fn ensure_mapping(slot: &mut Value) -> &mut Mapping {
    if !slot.is_mapping() {
        *slot = Value::Mapping(Mapping::new());
    }
    match slot {
        Value::Mapping(map) => map,
        _ => unreachable!("replaced by a mapping above"),
    }
}

fn split_list(raw: &str, example: Option<&Value>) -> Vec<Value> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| coerce(item, example.unwrap_or(&Value::Null)))
        .collect()
}

/// Turns a raw flag value into a YAML value shaped like `like`.
fn coerce(raw: &str, like: &Value) -> Value {
    if like.is_string() {
        return Value::String(raw.to_string());
    }
    match serde_yaml::from_str::<Value>(raw) {
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_))) => v,
        Ok(Value::Null) if !raw.trim().is_empty() => Value::Null,
        _ => Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn expands_env() {
        let env = |name: &str| (name == "SET").then(|| "v".to_string());
        let cases = [
            ("a: ${SET}", "a: v"),
            ("a: ${UNSET}", "a: "),
            ("a: ${UNSET:dflt}", "a: dflt"),
            ("a: ${SET:dflt}", "a: v"),
            ("a: $SET", "a: $SET"),
            ("a: ${SET", "a: ${SET"),
            ("${SET}-${SET}", "v-v"),
        ];
        for (input, want) in cases {
            assert_eq!(expand_env(input, env), want, "{input}");
        }
    }

    #[test]
    fn merges_deeply() {
        let mut base = yaml("a: {b: 1, c: 2}\nd: [1]\ne: x");
        merge(&mut base, yaml("a: {c: 3}\nd: [2, 3]\nf: new"));
        assert_eq!(base, yaml("a: {b: 1, c: 3}\nd: [2, 3]\ne: x\nf: new"));
    }

    #[test]
    fn sets_flags_by_type() {
        let defaults = yaml("s: text\nn: 3\nb: false\nl: [metrics]\no: null\nm: {k: 1}");
        let cases: &[(&str, &str, Value)] = &[
            ("s", "123", Value::String("123".into())),
            ("s", "", Value::String("".into())),
            ("n", "5", yaml("5")),
            ("n", "x", Value::String("x".into())),
            ("b", "true", Value::Bool(true)),
            ("l", "logs, traces", yaml("[logs, traces]")),
            ("l", "", yaml("[]")),
            ("o", "7", yaml("7")),
            ("o", "a: b", Value::String("a: b".into())),
            ("m.k", "2", yaml("2")),
        ];
        for (path, raw, want) in cases {
            let mut tree = defaults.clone();
            let guessed = set_flag(&mut tree, &defaults, path, raw).unwrap();
            assert_eq!(guessed, *path == "o", "{path}");
            let mut got = &tree;
            for key in path.split('.') {
                got = &got[key];
            }
            assert_eq!(got, want, "{path}={raw}");
        }
    }

    #[test]
    fn rejects_unknown_paths_and_blocks() {
        let defaults = yaml("m: {k: 1}");
        let mut tree = defaults.clone();
        let err = set_flag(&mut tree, &defaults, "m.x_y", "1").unwrap_err();
        assert_eq!(err.to_string(), "unknown flag -m.x-y: no config path m.x_y");
        assert!(matches!(
            set_flag(&mut tree, &defaults, "m", "1"),
            Err(ConfigError::BadFlag(_))
        ));
    }
}
