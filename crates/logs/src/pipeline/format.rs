//! Stages that reshape an entry: `line_format`, `label_format`, `drop`, `keep`, `decolorize`.

use std::borrow::Cow;

use regex::Regex;
use sextant_model::labels::is_valid_label_name;

use super::labels::{LineLabels, ERROR_DETAILS_LABEL, ERROR_LABEL};
use super::template::{Context, LabelSource, Template};
use super::PipelineError;
use crate::logql::ast::{LabelFormat, LabelSelection};

pub(crate) const TEMPLATE_ERR: &str = "TemplateFormatErr";

/// ANSI colour, cursor and OSC sequences (the expression Loki's `decolorize` uses).
const ANSI_PATTERN: &str = r"[\x1b\x{9b}][\[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[a-zA-Z\d]*)*)?\x07)|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PRZcf-ntqry=><~]))";

#[derive(Debug)]
pub(crate) enum FormatStage {
    LineFormat(Template),
    LabelFormat(Vec<LabelFormatItem>),
    Drop(LabelSelector),
    Keep(LabelSelector),
    Decolorize(Regex),
}

#[derive(Debug)]
pub(crate) enum LabelFormatItem {
    Rename { dst: String, src: String },
    Template { dst: String, template: Template },
}

/// The items of `drop` / `keep`.
#[derive(Debug)]
pub(crate) struct LabelSelector(Vec<LabelSelection>);

impl LabelSelector {
    pub(crate) fn new(items: &[LabelSelection]) -> Self {
        LabelSelector(items.to_vec())
    }

    /// Whether `keep` keeps the label.
    fn keeps(&self, name: &str, value: &str) -> bool {
        self.0.iter().any(|s| match s {
            LabelSelection::Name(n) => n == name,
            LabelSelection::Matcher(m) => m.name == name && m.matches(value),
        })
    }
}

/// Templates read the labels of the entry; `label_format` reads them as they were before the
/// stage, as Loki builds its map once per stage.
impl LabelSource for LineLabels<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.get_with_errors(name)
    }

    fn all(&self) -> Vec<(String, String)> {
        snapshot_of(self).0
    }
}

struct Snapshot(Vec<(String, String)>);

impl LabelSource for Snapshot {
    fn label(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self) -> Vec<(String, String)> {
        self.0.clone()
    }
}

impl FormatStage {
    pub(crate) fn line_format(text: &str) -> Result<FormatStage, PipelineError> {
        Template::parse("line", text)
            .map(FormatStage::LineFormat)
            .map_err(|e| PipelineError::InvalidTemplate(format!("invalid line template: {e}")))
    }

    pub(crate) fn label_format(items: &[LabelFormat]) -> Result<FormatStage, PipelineError> {
        let mut out: Vec<LabelFormatItem> = Vec::with_capacity(items.len());
        for item in items {
            let dst = match item {
                LabelFormat::Rename { dst, .. } | LabelFormat::Template { dst, .. } => dst,
            };
            if dst == ERROR_LABEL {
                return Err(PipelineError::InvalidLabelName(dst.clone()));
            }
            if !is_valid_label_name(dst.as_bytes()) {
                return Err(PipelineError::InvalidLabelName(dst.clone()));
            }
            if out.iter().any(|o| o.dst() == dst) {
                return Err(PipelineError::DuplicateFormat(dst.clone()));
            }
            out.push(match item {
                LabelFormat::Rename { dst, src } => LabelFormatItem::Rename {
                    dst: dst.clone(),
                    src: src.clone(),
                },
                LabelFormat::Template { dst, template } => LabelFormatItem::Template {
                    dst: dst.clone(),
                    template: Template::parse("label", template).map_err(|e| {
                        PipelineError::InvalidTemplate(format!(
                            "invalid template for label '{dst}': {e}"
                        ))
                    })?,
                },
            });
        }
        Ok(FormatStage::LabelFormat(out))
    }

    pub(crate) fn decolorize() -> FormatStage {
        FormatStage::Decolorize(Regex::new(ANSI_PATTERN).expect("the ANSI pattern is valid"))
    }

    pub(crate) fn apply(&self, ts_ns: i64, line: &mut Cow<'_, str>, labels: &mut LineLabels<'_>) {
        match self {
            FormatStage::LineFormat(template) => {
                let mut out = String::with_capacity(line.len());
                let ctx = Context {
                    labels: &*labels,
                    line,
                    ts_ns,
                };
                match template.execute(&ctx, &mut out) {
                    Ok(()) => *line = Cow::Owned(out),
                    Err(e) => labels.set_err(TEMPLATE_ERR, e),
                }
            }
            FormatStage::LabelFormat(items) => label_format(items, ts_ns, line, labels),
            FormatStage::Drop(selector) => drop_labels(selector, labels),
            FormatStage::Keep(selector) => keep_labels(selector, labels),
            FormatStage::Decolorize(re) => {
                if let Cow::Owned(clean) = re.replace_all(line, "") {
                    *line = Cow::Owned(clean);
                }
            }
        }
    }
}

impl LabelFormatItem {
    fn dst(&self) -> &str {
        match self {
            LabelFormatItem::Rename { dst, .. } | LabelFormatItem::Template { dst, .. } => dst,
        }
    }
}

fn label_format(items: &[LabelFormatItem], ts_ns: i64, line: &str, labels: &mut LineLabels<'_>) {
    let mut snapshot: Option<Snapshot> = None;
    for item in items {
        match item {
            LabelFormatItem::Rename { dst, src } => {
                if let Some(value) = labels.get(src).map(str::to_owned) {
                    labels.set(dst, value);
                    labels.delete(src);
                }
            }
            LabelFormatItem::Template { dst, template } => {
                let snapshot = snapshot.get_or_insert_with(|| snapshot_of(labels));
                let ctx = Context {
                    labels: &*snapshot,
                    line,
                    ts_ns,
                };
                let mut out = String::new();
                match template.execute(&ctx, &mut out) {
                    Ok(()) => labels.set(dst, out),
                    Err(e) => labels.set_err(TEMPLATE_ERR, e),
                }
            }
        }
    }
}

fn snapshot_of(labels: &LineLabels<'_>) -> Snapshot {
    let mut pairs: Vec<(String, String)> = labels
        .visible()
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    if labels.has_err() {
        pairs.push((ERROR_LABEL.to_owned(), labels.err().to_owned()));
    }
    if !labels.err_details().is_empty() {
        pairs.push((
            ERROR_DETAILS_LABEL.to_owned(),
            labels.err_details().to_owned(),
        ));
    }
    Snapshot(pairs)
}

fn drop_labels(selector: &LabelSelector, labels: &mut LineLabels<'_>) {
    for selection in &selector.0 {
        let (name, matcher) = match selection {
            LabelSelection::Name(name) => (name.as_str(), None),
            LabelSelection::Matcher(m) => (m.name.as_str(), Some(m)),
        };
        let current = match name {
            ERROR_LABEL => labels.err(),
            ERROR_DETAILS_LABEL => labels.err_details(),
            _ => labels.get(name).unwrap_or(""),
        };
        if matcher.is_some_and(|m| !m.matches(current)) {
            continue;
        }
        match name {
            ERROR_LABEL => labels.clear_err(),
            ERROR_DETAILS_LABEL => labels.clear_err_details(),
            _ => labels.delete(name),
        }
    }
}

fn keep_labels(selector: &LabelSelector, labels: &mut LineLabels<'_>) {
    if selector.0.is_empty() {
        return;
    }
    let doomed: Vec<String> = labels
        .visible()
        .into_iter()
        .filter(|(name, value)| !selector.keeps(name, value))
        .map(|(name, _)| name.to_owned())
        .collect();
    for name in doomed {
        labels.delete(&name);
    }
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
