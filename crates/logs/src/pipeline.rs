//! Executable log pipeline stages, with Loki 3's semantics.
//!
//! [`Pipeline::new`] compiles the stages of a query once (regexes, templates, patterns);
//! [`Pipeline::process`] runs one entry through them. Map of the module:
//! - `labels`: the per-entry label set and the clash rules (`_extracted`, `__error__`);
//! - `line_filter`, `label_filter`: the filters; `ip`, `pattern`: their matchers;
//! - `parsers` (+ `json`, `json_path`, `logfmt`): the parser stages;
//! - `format`: `line_format`, `label_format`, `drop`, `keep`, `decolorize`;
//! - `template`: the Go text/template subset behind the formats;
//! - `convert`: Go's number, duration and byte-size parsers.
//!
//! Tests sit beside each stage (tables after Loki's own Go tests) and in
//! `pipeline/pipeline_tests.rs` (whole pipelines, property tests that no input panics);
//! `tests/logql/pipeline.logqltest` runs the stages through metric queries.

mod convert;
mod format;
mod ip;
mod json;
mod json_path;
mod label_filter;
mod labels;
mod line_filter;
mod logfmt;
mod parsers;
mod pattern;
mod template;

use std::borrow::Cow;

use sextant_model::{ErrorKind, Labels};

use crate::logql::ast;
use format::{FormatStage, LabelSelector};
use label_filter::LabelFilterStage;
use labels::LineLabels;
use line_filter::LineFilterStage;
pub use line_filter::LogsLineFilter;
use parsers::ParserStage;

/// A compiled log pipeline.
#[derive(Debug)]
pub struct Pipeline {
    stages: Vec<CompiledStage>,
}

#[derive(Debug)]
enum CompiledStage {
    LineFilter(LineFilterStage),
    Parser(ParserStage),
    LabelFilter(LabelFilterStage),
    Format(FormatStage),
}

/// An entry that passed the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// The line, reformatted by `line_format` / `unpack` / `decolorize` if any.
    pub line: String,
    /// Stream labels, structured metadata and parsed labels merged by Loki's precedence, plus
    /// `__error__` / `__error_details__` when a stage failed. Sorted.
    pub labels: Labels,
}

/// Why a pipeline does not compile, or an unwrapped value does not convert.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelineError {
    #[error("error parsing regexp: {reason} (in {regex:?})")]
    InvalidRegex { regex: String, reason: String },
    #[error("at least one named capture must be supplied")]
    MissingCapture,
    #[error("duplicate extracted label name '{0}'")]
    DuplicateCapture(String),
    #[error("invalid extracted label name '{0}'")]
    InvalidLabelName(String),
    #[error("invalid pattern {pattern:?}: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("cannot parse expression [{expr}]: {reason}")]
    InvalidExpression { expr: String, reason: String },
    #[error("ip: invalid pattern {pattern:?}: {reason}")]
    InvalidIp { pattern: String, reason: String },
    #[error("ip: invalid operation: ip() works only with |= and !=")]
    IpOperation,
    #[error("{0}")]
    InvalidTemplate(String),
    #[error("multiple label name '{0}' not allowed in a single format operation")]
    DuplicateFormat(String),
    #[error("{0}")]
    Conversion(String),
}

impl PipelineError {
    /// The error kind: every pipeline error is a problem with the query or its data.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

impl Pipeline {
    /// Compiles the stages (regexes, templates, patterns); errors name the bad stage.
    pub fn new(stages: &[ast::Stage]) -> Result<Pipeline, PipelineError> {
        let stages = stages
            .iter()
            .map(compile_stage)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pipeline { stages })
    }

    /// Whether the pipeline has no stage (the entry passes unchanged).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs one entry through every stage. `None` when a filter drops it; otherwise the
    /// (possibly reformatted) line and its labels: stream labels, structured metadata and
    /// parsed labels merged by Loki's precedence (`_extracted` on clashes), plus `__error__`
    /// / `__error_details__` when a parser or filter failed.
    pub fn process(
        &self,
        ts_ns: i64,
        line: &str,
        stream: &Labels,
        metadata: &Labels,
    ) -> Option<Processed> {
        let mut line = Cow::Borrowed(line);
        let mut labels = LineLabels::new(stream, metadata);
        for stage in &self.stages {
            let keep = match stage {
                CompiledStage::LineFilter(f) => f.matches(&line),
                CompiledStage::Parser(p) => {
                    p.apply(&mut line, &mut labels);
                    true
                }
                CompiledStage::LabelFilter(f) => f.apply(&mut labels),
                CompiledStage::Format(f) => {
                    f.apply(ts_ns, &mut line, &mut labels);
                    true
                }
            };
            if !keep {
                return None;
            }
        }
        Some(Processed {
            line: line.into_owned(),
            labels: labels.finish(),
        })
    }
}

fn compile_stage(stage: &ast::Stage) -> Result<CompiledStage, PipelineError> {
    Ok(match stage {
        ast::Stage::LineFilter(f) => CompiledStage::LineFilter(LineFilterStage::new(f)?),
        ast::Stage::Parser(p) => CompiledStage::Parser(ParserStage::new(p)?),
        ast::Stage::LabelFilter(f) => CompiledStage::LabelFilter(LabelFilterStage::new(f)?),
        ast::Stage::LineFormat(t) => CompiledStage::Format(FormatStage::line_format(t)?),
        ast::Stage::LabelFormat(items) => CompiledStage::Format(FormatStage::label_format(items)?),
        ast::Stage::Drop(items) => {
            CompiledStage::Format(FormatStage::Drop(LabelSelector::new(items)))
        }
        ast::Stage::Keep(items) => {
            CompiledStage::Format(FormatStage::Keep(LabelSelector::new(items)))
        }
        ast::Stage::Decolorize => CompiledStage::Format(FormatStage::decolorize()),
    })
}

/// Converts an unwrapped label value (`unwrap`, `unwrap bytes(..)`, `unwrap duration(..)`):
/// a number like Go's `strconv.ParseFloat`, a byte size like humanize (`10KB` = 10000,
/// `10KiB` = 10240), a duration like Go's `time.ParseDuration`, in seconds.
pub fn unwrap_value(conversion: ast::UnwrapConversion, value: &str) -> Result<f64, PipelineError> {
    let result = match conversion {
        ast::UnwrapConversion::None => convert::parse_float(value),
        ast::UnwrapConversion::Bytes => convert::parse_bytes(value).map(|b| b as f64),
        ast::UnwrapConversion::Duration | ast::UnwrapConversion::DurationSeconds => {
            convert::parse_duration_ns(value).map(|ns| ns / 1e9)
        }
    };
    result.map_err(PipelineError::Conversion)
}

#[cfg(test)]
#[path = "pipeline/pipeline_tests.rs"]
mod tests;
