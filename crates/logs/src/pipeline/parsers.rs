//! The parser stages: `json`, `logfmt`, `regexp`, `pattern`, `unpack`, and the extraction
//! forms `json a="x.y"` / `logfmt a, b="c"`. A parser never drops a line; a failure sets
//! `__error__` (`JSONParserErr`, `LogfmtParserErr`) and `__error_details__`.

use std::borrow::Cow;

use regex::Regex;
use sextant_model::labels::is_valid_label_name;

use super::json::{self, JsonError, JsonValue, PathStep};
use super::json_path;
use super::labels::LineLabels;
use super::logfmt::Decoder;
use super::pattern::Pattern;
use super::PipelineError;
use crate::logql::ast;

pub(crate) const JSON_ERR: &str = "JSONParserErr";
pub(crate) const LOGFMT_ERR: &str = "LogfmtParserErr";
const ENTRY_KEY: &str = "_entry";

/// A compiled parser stage.
#[derive(Debug)]
pub(crate) enum ParserStage {
    Json,
    JsonFields(Vec<(String, Vec<PathStep>)>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
    },
    LogfmtFields {
        strict: bool,
        fields: Vec<(String, String)>,
    },
    Regexp {
        regex: Regex,
        names: Vec<Option<String>>,
    },
    Pattern(Pattern),
    Unpack,
}

impl ParserStage {
    pub(crate) fn new(parser: &ast::Parser) -> Result<ParserStage, PipelineError> {
        Ok(match parser {
            ast::Parser::Json { extractions } if extractions.is_empty() => ParserStage::Json,
            ast::Parser::Json { extractions } => ParserStage::JsonFields(
                extractions
                    .iter()
                    .map(|e| Ok((valid_target(&e.label)?, json_path::parse(&e.expr)?)))
                    .collect::<Result<_, PipelineError>>()?,
            ),
            ast::Parser::Logfmt {
                strict,
                keep_empty,
                extractions,
            } if extractions.is_empty() => ParserStage::Logfmt {
                strict: *strict,
                keep_empty: *keep_empty,
            },
            ast::Parser::Logfmt {
                strict,
                extractions,
                ..
            } => ParserStage::LogfmtFields {
                strict: *strict,
                fields: extractions
                    .iter()
                    .map(|e| Ok((valid_target(&e.label)?, logfmt_key(&e.expr)?)))
                    .collect::<Result<_, PipelineError>>()?,
            },
            ast::Parser::Regexp(re) => compile_regexp(re)?,
            ast::Parser::Pattern(p) => {
                let pattern = Pattern::for_parser(p)?;
                if let Some(bad) = pattern.names().iter().find(|n| !valid_name(n)) {
                    return Err(PipelineError::InvalidLabelName(bad.clone()));
                }
                ParserStage::Pattern(pattern)
            }
            ast::Parser::Unpack => ParserStage::Unpack,
        })
    }

    pub(crate) fn apply(&self, line: &mut Cow<'_, str>, labels: &mut LineLabels<'_>) {
        match self {
            ParserStage::Json => parse_json(line, labels),
            ParserStage::JsonFields(fields) => extract_json(line, fields, labels),
            ParserStage::Logfmt { strict, keep_empty } => {
                parse_logfmt(line, *strict, *keep_empty, labels)
            }
            ParserStage::LogfmtFields { strict, fields } => {
                extract_logfmt(line, *strict, fields, labels)
            }
            ParserStage::Regexp { regex, names } => {
                let Some(captures) = regex.captures(line) else {
                    return;
                };
                for (i, name) in names.iter().enumerate() {
                    if let Some(name) = name {
                        let value = captures.get(i).map_or("", |m| m.as_str());
                        labels.set_parsed_field(&sanitize(name), value);
                    }
                }
            }
            ParserStage::Pattern(pattern) => {
                for (name, value) in pattern.names().iter().zip(pattern.captures(line)) {
                    labels.set_parsed_field(name, value);
                }
            }
            ParserStage::Unpack => unpack(line, labels),
        }
    }
}

fn valid_name(name: &str) -> bool {
    is_valid_label_name(name.as_bytes())
}

fn valid_target(name: &str) -> Result<String, PipelineError> {
    if valid_name(name) {
        Ok(name.to_owned())
    } else {
        Err(PipelineError::InvalidLabelName(name.to_owned()))
    }
}

/// Loki's `sanitizeLabelKey`: trimmed, a leading digit gets `_`, invalid characters become `_`.
pub(crate) fn sanitize(key: &str) -> Cow<'_, str> {
    let key = key.trim();
    let starts_with_digit = key.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if !starts_with_digit && valid_name(key) {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 1);
    if starts_with_digit {
        out.push('_');
    }
    append_sanitized(&mut out, key);
    Cow::Owned(out)
}

fn append_sanitized(out: &mut String, key: &str) {
    out.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
}

fn parse_json(line: &str, labels: &mut LineLabels<'_>) {
    let mut prefix = String::new();
    if let Err(e) = flatten_json(line, &mut prefix, labels) {
        labels.set_err(JSON_ERR, e.to_string());
    }
}

/// Adds every scalar field of the object `text`, nested names joined with `_`; arrays and
/// nulls are skipped.
fn flatten_json(
    text: &str,
    prefix: &mut String,
    labels: &mut LineLabels<'_>,
) -> Result<(), JsonError> {
    // Names come from the raw (still escaped) key text, as with Loki's jsonparser.
    json::object_each(text, |key, value| {
        let at = prefix.len();
        if prefix.is_empty() {
            prefix.push_str(&sanitize(key));
        } else {
            prefix.push('_');
            append_sanitized(prefix, key.trim());
        }
        let result = match value {
            JsonValue::Object(raw) => flatten_json(raw, prefix, labels),
            scalar => {
                if let Some(text) = json::scalar_text(scalar) {
                    if !prefix.is_empty() {
                        labels.set_parsed_field(prefix, &text);
                    }
                }
                Ok(())
            }
        };
        prefix.truncate(at);
        result
    })
}

fn extract_json(line: &str, fields: &[(String, Vec<PathStep>)], labels: &mut LineLabels<'_>) {
    if line.is_empty() {
        return;
    }
    if !matches!(line.as_bytes()[0], b'{' | b'[' | b'"') {
        labels.set_err(JSON_ERR, "");
        return;
    }
    for (name, path) in fields {
        match json::lookup(line, path) {
            Ok(Some(value)) => {
                let text = match value {
                    JsonValue::Null => Cow::Borrowed(""),
                    JsonValue::Object(raw) | JsonValue::Array(raw) => Cow::Borrowed(raw),
                    scalar => json::scalar_text(scalar).unwrap_or_default(),
                };
                let target = labels.parsed_name(name).into_owned();
                labels.set(&target, text.into_owned());
            }
            Ok(None) => {
                if labels.get(name).is_none() {
                    labels.set(name, String::new());
                }
            }
            Err(e) => labels.set_err(JSON_ERR, e.to_string()),
        }
    }
}

/// A logfmt extraction names a single key (`"status"`); Loki rejects anything more.
fn logfmt_key(expr: &str) -> Result<String, PipelineError> {
    let key = expr.trim();
    let ok = !key.is_empty() && !key.contains(|c: char| c.is_whitespace() || "=\"[]".contains(c));
    if ok {
        Ok(sanitize(key).into_owned())
    } else {
        Err(PipelineError::InvalidExpression {
            expr: expr.to_owned(),
            reason: "syntax error: unexpected KEY".into(),
        })
    }
}

fn parse_logfmt(line: &str, strict: bool, keep_empty: bool, labels: &mut LineLabels<'_>) {
    for item in Decoder::new(line) {
        match item {
            Ok((key, value)) => {
                let name = sanitize(key);
                if name.is_empty() || (!keep_empty && value.is_empty()) {
                    continue;
                }
                labels.set_parsed_field(&name, &replace_invalid(&value));
            }
            Err(e) if strict => {
                labels.set_err(LOGFMT_ERR, e.to_string());
                return;
            }
            Err(_) => {}
        }
    }
}

fn extract_logfmt(
    line: &str,
    strict: bool,
    fields: &[(String, String)],
    labels: &mut LineLabels<'_>,
) {
    for (name, _) in fields {
        if labels.parsed_name(name) == name.as_str() {
            labels.set(name, String::new());
        }
    }
    for item in Decoder::new(line) {
        match item {
            Ok((key, value)) => {
                let key = sanitize(key);
                for (name, _) in fields.iter().filter(|(_, source)| *source == key) {
                    let target = labels.parsed_name(name).into_owned();
                    labels.set(&target, replace_invalid(&value).into_owned());
                }
            }
            Err(e) if strict => {
                labels.set_err(LOGFMT_ERR, e.to_string());
                return;
            }
            Err(_) => {}
        }
    }
}

/// Loki replaces the Unicode replacement character (from invalid input) with a space.
fn replace_invalid(value: &str) -> Cow<'_, str> {
    if value.contains('\u{FFFD}') {
        Cow::Owned(value.replace('\u{FFFD}', " "))
    } else {
        Cow::Borrowed(value)
    }
}

fn compile_regexp(re: &str) -> Result<ParserStage, PipelineError> {
    let mut seen: Vec<&str> = Vec::new();
    for name in capture_names(re) {
        if !valid_name(name) {
            return Err(PipelineError::InvalidLabelName(name.to_owned()));
        }
        if seen.contains(&name) {
            return Err(PipelineError::DuplicateCapture(name.to_owned()));
        }
        seen.push(name);
    }
    let regex = Regex::new(re).map_err(|e| PipelineError::InvalidRegex {
        regex: re.to_owned(),
        reason: e.to_string(),
    })?;
    let names: Vec<Option<String>> = regex
        .capture_names()
        .map(|n| n.map(str::to_owned))
        .collect();
    if names.iter().all(Option::is_none) {
        return Err(PipelineError::MissingCapture);
    }
    Ok(ParserStage::Regexp { regex, names })
}

/// The names of `(?P<name>…)` / `(?<name>…)` groups, read from the text so a duplicate is
/// reported in Loki's words before the regex engine rejects it.
fn capture_names(re: &str) -> impl Iterator<Item = &str> {
    re.match_indices("(?")
        .filter(|(i, _)| !re[..*i].ends_with('\\'))
        .filter_map(|(i, _)| {
            let rest = &re[i + 2..];
            let rest = rest.strip_prefix('P').unwrap_or(rest).strip_prefix('<')?;
            rest.find('>').map(|end| &rest[..end])
        })
}

fn unpack(line: &mut Cow<'_, str>, labels: &mut LineLabels<'_>) {
    if line.is_empty() {
        return;
    }
    if !line.trim_start().starts_with('{') {
        labels.set_err(JSON_ERR, json::NOT_OBJECT.to_string());
        return;
    }
    let mut entry = None;
    let result = json::object_each(line, |key, value| {
        if let JsonValue::String(raw) = value {
            let key = json::unescape(key);
            if key == ENTRY_KEY {
                entry = Some(json::unescape(raw).into_owned());
            } else {
                let name = sanitize(&key);
                if !name.is_empty() {
                    labels.set_parsed_field(&name, &json::unescape(raw));
                }
            }
        }
        Ok(())
    });
    match result {
        Err(e) => labels.set_err(JSON_ERR, e.to_string()),
        Ok(()) => {
            if let Some(entry) = entry {
                *line = Cow::Owned(entry);
            }
        }
    }
}

#[cfg(test)]
#[path = "parsers_tests.rs"]
mod tests;
