//! The values a template computes with, and how Go prints and converts them.

use std::collections::BTreeMap;

use super::gofmt;
use super::TemplateData;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A label map (`.Labels`, `.ExternalLabels`).
    Map(&'a BTreeMap<String, String>),
    /// The template data itself (`.` at the top, `$`).
    Root(&'a TemplateData<'a>),
}

impl<'a> Value<'a> {
    /// Go's type name, as it appears in `%!d(float64=1.5)`.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Map(_) => "map[string]string",
            Value::Root(_) => "template.AlertTemplateData",
        }
    }

    /// How Go's `fmt.Sprint` prints the value (and so how `{{ . }}` renders it).
    pub(super) fn to_go_string(&self) -> String {
        match self {
            Value::Nil => "<no value>".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Float(f) => gofmt::float_v(*f),
            Value::Str(s) => s.clone(),
            Value::Map(map) => go_map(map),
            Value::Root(data) => format!(
                "{{{} {} {} {}}}",
                go_map(data.labels),
                go_map(data.external_labels),
                data.external_url,
                gofmt::float_v(data.value)
            ),
        }
    }

    /// Go's notion of truth in `if`, `with`, `and`, `or`, `not`: non-zero, non-empty.
    pub(super) fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(map) => !map.is_empty(),
            Value::Root(_) => true,
        }
    }

    /// The field `name` of this value: a label of a map (`""` when absent, as Prometheus's
    /// `missingkey=zero`), or a field of the template data.
    pub(super) fn field(&self, name: &str) -> Result<Value<'a>, String> {
        match self {
            Value::Map(map) => Ok(Value::Str(map.get(name).cloned().unwrap_or_default())),
            Value::Root(data) => match name {
                "Labels" => Ok(Value::Map(data.labels)),
                "ExternalLabels" => Ok(Value::Map(data.external_labels)),
                "ExternalURL" => Ok(Value::Str(data.external_url.to_string())),
                "Value" => Ok(Value::Float(data.value)),
                _ => Err(format!(
                    "can't evaluate field {name} in type {}",
                    self.type_name()
                )),
            },
            Value::Nil => Err(format!("nil pointer evaluating interface {{}}.{name}")),
            other => Err(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            )),
        }
    }

    /// The number Prometheus's `humanize*` functions take: a number, or a string parsed as a
    /// float (`strconv.ParseFloat`).
    pub(super) fn to_float(&self) -> Result<f64, String> {
        match self {
            Value::Int(n) => Ok(*n as f64),
            Value::Float(f) => Ok(*f),
            Value::Str(s) => parse_go_float(s)
                .ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
            other => Err(format!("can't convert {} to float", other.type_name())),
        }
    }

    /// The string a string-typed function parameter receives.
    pub(super) fn to_str(&self) -> Result<&str, String> {
        match self {
            Value::Str(s) => Ok(s),
            other => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
        }
    }
}

fn go_map(map: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", pairs.join(" "))
}

/// `strconv.ParseFloat` for the forms that matter: decimals, exponents, `Inf`/`NaN` in any
/// case with an optional sign, `_` refused as Go refuses it outside base prefixes.
fn parse_go_float(s: &str) -> Option<f64> {
    if s.contains('_') || s.trim() != s {
        return None;
    }
    s.parse::<f64>().ok()
}
