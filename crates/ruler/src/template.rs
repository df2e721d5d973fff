//! Go text/template, the subset Prometheus alerting rules use in labels and annotations:
//! `{{ $labels.job }}`, `{{ $value | humanize }}`, `{{ .Labels.job }}`, `{{ $externalLabels.x }}`,
//! `{{ $externalURL }}`, pipelines, `printf`, `humanize*`, `toUpper`/`toLower`/`title`,
//! `match`/`reReplaceAll`, `{{ if }}`/`{{ else if }}`/`{{ else }}`/`{{ end }}` with `eq ne lt
//! le gt ge and or not`, `{{ with }}`, `{{ range $k, $v := $labels }}`, variables (`$x := ...`),
//! `{{- -}}` trimming and `{{/* comments */}}`. Output matches Prometheus's (missing labels
//! render as `""`, floats print as Go prints them).
//!
//! Parse once with [`Template::parse`] (errors name the line and column), render per alert
//! with [`Template::render`].
//!
//! - `template/lex.rs`: text/action split, trim markers, comments, tokens.
//! - `template/parse.rs`: the node tree; undefined variables and functions fail here.
//! - `template/exec.rs`: rendering. `template/value.rs`: values, truth, Go printing.
//! - `template/funcs.rs`: the functions. `template/gofmt.rs`: Go's float, printf, time output.

use std::collections::BTreeMap;
use std::fmt;

mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
mod value;

/// What a template sees: Prometheus's alert template data. `$labels` is `.Labels`,
/// `$externalLabels` is `.ExternalLabels`, `$externalURL` is `.ExternalURL`, `$value` is
/// `.Value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemplateData<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub value: f64,
}

/// A template that failed to parse or render, with the 1-based line and column (in
/// characters) of the action at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {line}:{col}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl TemplateError {
    /// An error at byte offset `pos` of `src`.
    fn at(src: &str, pos: usize, message: impl Into<String>) -> Self {
        let mut pos = pos.min(src.len());
        while !src.is_char_boundary(pos) {
            pos -= 1;
        }
        let before = &src[..pos];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        TemplateError {
            line,
            col: before[line_start..].chars().count() + 1,
            message: message.into(),
        }
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `src`; unknown functions, undefined variables and unbalanced blocks fail here.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let pieces = lex::split(src)?;
        let nodes = parse::parse(src, pieces)?;
        Ok(Template {
            src: src.to_string(),
            nodes,
        })
    }

    /// Renders the template for one alert.
    pub fn render(&self, data: &TemplateData<'_>) -> Result<String, TemplateError> {
        exec::Exec::new(&self.src, data).run(&self.nodes)
    }

    /// Renders as Prometheus expands alert labels and annotations: a failure gives
    /// `<error expanding template: ...>` in place of the text.
    pub fn expand(&self, data: &TemplateData<'_>) -> String {
        self.render(data)
            .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.src
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.src)
    }
}

/// Parses and renders `src` as Prometheus expands alert labels and annotations: a template
/// that fails gives `<error expanding template: ...>` in place of the text.
pub fn expand(src: &str, data: &TemplateData<'_>) -> String {
    match Template::parse(src) {
        Ok(template) => template.expand(data),
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

#[cfg(test)]
mod tests;
