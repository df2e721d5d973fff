//! The log half of the grammar: selectors, pipeline stages, label filters, and the log range
//! (`{…} | … | unwrap x [5m] offset 1m`) of range aggregations.

use sextant_model::{MatchOp, Matcher};

use super::lexer::{Kw, Tok};
use super::literal::parse_go_float;
use super::{ParseError, Parser};
use crate::logql::ast::{
    CmpOp, Extraction, LabelFilter, LabelFormat, LabelSelection, LineFilter, LineFilterOp,
    LineFilterValue, LogExpr, LogRange, Parser as LogParser, Stage, Unwrap, UnwrapConversion,
};

impl Parser {
    /// `{…}` followed by its pipeline.
    pub(super) fn parse_log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let matchers = self.parse_selector()?;
        let pipeline = self.parse_pipeline()?;
        Ok(LogExpr { matchers, pipeline })
    }

    fn parse_selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect(Kw::LBrace)?;
        let mut matchers = Vec::new();
        if self.eat(Kw::RBrace) {
            return Ok(matchers);
        }
        loop {
            matchers.push(self.parse_matcher()?);
            if self.eat(Kw::RBrace) {
                return Ok(matchers);
            }
            if !self.eat(Kw::Comma) {
                return Err(self.unexpected(&[",", "}"]));
            }
        }
    }

    /// `name op "value"`.
    fn parse_matcher(&mut self) -> Result<Matcher, ParseError> {
        let name = self.expect_ident()?;
        let op = match self.peek() {
            Tok::Kw(Kw::Eq) => MatchOp::Equal,
            Tok::Kw(Kw::Neq) => MatchOp::NotEqual,
            Tok::Kw(Kw::Re) => MatchOp::RegexMatch,
            Tok::Kw(Kw::Nre) => MatchOp::RegexNoMatch,
            _ => return Err(self.unexpected(&["=", "!=", "=~", "!~"])),
        };
        self.bump();
        let value = self.expect_string()?;
        new_matcher(op, name, value)
    }

    /// Stages up to (not including) an `| unwrap`.
    fn parse_pipeline(&mut self) -> Result<Vec<Stage>, ParseError> {
        let mut stages = Vec::new();
        loop {
            if let Some(op) = line_filter_op(self.peek()) {
                self.bump();
                stages.push(Stage::LineFilter(self.parse_line_filter(op)?));
            } else if self.at(Kw::Pipe) && self.peek2() != &Tok::Kw(Kw::Unwrap) {
                self.bump();
                stages.push(self.parse_stage()?);
            } else {
                return Ok(stages);
            }
        }
    }

    fn parse_line_filter(&mut self, op: LineFilterOp) -> Result<LineFilter, ParseError> {
        let mut values = vec![self.parse_line_filter_value()?];
        while self.eat(Kw::Or) {
            values.push(self.parse_line_filter_value()?);
        }
        Ok(LineFilter { op, values })
    }

    fn parse_line_filter_value(&mut self) -> Result<LineFilterValue, ParseError> {
        match self.peek() {
            Tok::Str(_) => Ok(LineFilterValue::Text(self.expect_string()?)),
            Tok::Kw(Kw::Ip) => Ok(LineFilterValue::Ip(self.parse_ip_call()?)),
            _ => Err(self.unexpected(&["STRING", "ip"])),
        }
    }

    /// `ip("…")`: the argument.
    fn parse_ip_call(&mut self) -> Result<String, ParseError> {
        self.expect(Kw::Ip)?;
        self.expect(Kw::LParen)?;
        let pattern = self.expect_string()?;
        self.expect(Kw::RParen)?;
        Ok(pattern)
    }

    /// One stage after its `|`.
    fn parse_stage(&mut self) -> Result<Stage, ParseError> {
        let Tok::Kw(kw) = self.peek().clone() else {
            return match self.peek() {
                Tok::Ident(_) => Ok(Stage::LabelFilter(self.parse_label_filter()?)),
                _ => Err(self.unexpected(&[])),
            };
        };
        if kw == Kw::LParen {
            return Ok(Stage::LabelFilter(self.parse_label_filter()?));
        }
        let is_stage = matches!(
            kw,
            Kw::Json
                | Kw::Logfmt
                | Kw::Regexp
                | Kw::Pattern
                | Kw::Unpack
                | Kw::LineFmt
                | Kw::LabelFmt
                | Kw::Drop
                | Kw::Keep
                | Kw::Decolorize
        );
        if !is_stage {
            return Err(self.unexpected(&[]));
        }
        self.bump();
        let stage = match kw {
            Kw::Json => Stage::Parser(LogParser::Json {
                extractions: self.parse_extractions()?,
            }),
            Kw::Logfmt => self.parse_logfmt()?,
            Kw::Regexp => Stage::Parser(LogParser::Regexp(self.expect_string()?)),
            Kw::Pattern => Stage::Parser(LogParser::Pattern(self.expect_string()?)),
            Kw::Unpack => Stage::Parser(LogParser::Unpack),
            Kw::LineFmt => Stage::LineFormat(self.expect_string()?),
            Kw::LabelFmt => Stage::LabelFormat(self.parse_label_formats()?),
            Kw::Drop => Stage::Drop(self.parse_label_selections()?),
            Kw::Keep => Stage::Keep(self.parse_label_selections()?),
            _ => Stage::Decolorize,
        };
        Ok(stage)
    }

    fn parse_logfmt(&mut self) -> Result<Stage, ParseError> {
        let (mut strict, mut keep_empty) = (false, false);
        while let Tok::Flag(flag) = self.peek() {
            match flag.as_str() {
                "--strict" => strict = true,
                _ => keep_empty = true,
            }
            self.bump();
        }
        Ok(Stage::Parser(LogParser::Logfmt {
            strict,
            keep_empty,
            extractions: self.parse_extractions()?,
        }))
    }

    /// `a, b="expr"` after `json`/`logfmt`; empty when no identifier follows.
    fn parse_extractions(&mut self) -> Result<Vec<Extraction>, ParseError> {
        let mut extractions = Vec::new();
        if !matches!(self.peek(), Tok::Ident(_)) {
            return Ok(extractions);
        }
        loop {
            let label = self.expect_ident()?;
            let expr = if self.eat(Kw::Eq) {
                self.expect_string()?
            } else {
                label.clone()
            };
            extractions.push(Extraction { label, expr });
            if !self.eat(Kw::Comma) {
                return Ok(extractions);
            }
        }
    }

    fn parse_label_formats(&mut self) -> Result<Vec<LabelFormat>, ParseError> {
        let mut formats = Vec::new();
        loop {
            let dst = self.expect_ident()?;
            self.expect(Kw::Eq)?;
            let format = match self.peek() {
                Tok::Ident(src) => LabelFormat::Rename {
                    dst,
                    src: src.clone(),
                },
                Tok::Str(template) => LabelFormat::Template {
                    dst,
                    template: template.clone(),
                },
                _ => return Err(self.unexpected(&["IDENTIFIER", "STRING"])),
            };
            self.bump();
            formats.push(format);
            if !self.eat(Kw::Comma) {
                return Ok(formats);
            }
        }
    }

    fn parse_label_selections(&mut self) -> Result<Vec<LabelSelection>, ParseError> {
        let mut selections = Vec::new();
        loop {
            let is_matcher = matches!(self.peek2(), Tok::Kw(Kw::Eq | Kw::Neq | Kw::Re | Kw::Nre));
            selections.push(if is_matcher {
                LabelSelection::Matcher(self.parse_matcher()?)
            } else {
                LabelSelection::Name(self.expect_ident()?)
            });
            if !self.eat(Kw::Comma) {
                return Ok(selections);
            }
        }
    }

    /// A label filter expression. `and` binds tighter than `or`; a `,` or a bare space means
    /// `and` but, as goyacc resolves Loki's grammar, takes everything after it as its right
    /// operand (`a, b or c` is `a and (b or c)`).
    pub(super) fn parse_label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        self.nested(Self::parse_label_filter_or)
    }

    fn parse_label_filter_or(&mut self) -> Result<LabelFilter, ParseError> {
        let mut left = self.parse_label_filter_and()?;
        while self.eat(Kw::Or) {
            let right = self.parse_label_filter_and()?;
            left = LabelFilter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_label_filter_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut left = self.parse_label_filter_unit()?;
        while self.eat(Kw::And) {
            let right = self.parse_label_filter_unit()?;
            left = LabelFilter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_label_filter_unit(&mut self) -> Result<LabelFilter, ParseError> {
        let first = self.parse_label_filter_primary()?;
        let juxtaposed = matches!(self.peek(), Tok::Ident(_) | Tok::Kw(Kw::LParen));
        if self.eat(Kw::Comma) || juxtaposed {
            let rest = self.parse_label_filter()?;
            return Ok(LabelFilter::And(Box::new(first), Box::new(rest)));
        }
        Ok(first)
    }

    fn parse_label_filter_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if self.eat(Kw::LParen) {
            let inner = self.parse_label_filter()?;
            self.expect(Kw::RParen)?;
            return Ok(inner);
        }
        if !matches!(self.peek(), Tok::Ident(_)) {
            return Err(self.unexpected(&["IDENTIFIER", "("]));
        }
        let name = self.expect_ident()?;
        let Tok::Kw(op_kw) = self.peek().clone() else {
            return Err(self.unexpected(&[]));
        };
        let op = match op_kw {
            Kw::Eq | Kw::CmpEq => CmpOp::Eq,
            Kw::Neq => CmpOp::Ne,
            Kw::Gt => CmpOp::Gt,
            Kw::Gte => CmpOp::Ge,
            Kw::Lt => CmpOp::Lt,
            Kw::Lte => CmpOp::Le,
            Kw::Re | Kw::Nre => {
                self.bump();
                let match_op = if op_kw == Kw::Re {
                    MatchOp::RegexMatch
                } else {
                    MatchOp::RegexNoMatch
                };
                let value = self.expect_string()?;
                return Ok(LabelFilter::String(new_matcher(match_op, name, value)?));
            }
            _ => return Err(self.unexpected(&[])),
        };
        self.bump();
        let string_op = matches!(op_kw, Kw::Eq | Kw::Neq);
        self.parse_label_filter_value(name, op, string_op)
    }

    /// The right-hand side of a label filter comparison.
    fn parse_label_filter_value(
        &mut self,
        name: String,
        op: CmpOp,
        string_op: bool,
    ) -> Result<LabelFilter, ParseError> {
        match self.peek().clone() {
            Tok::Str(value) if string_op => {
                self.bump();
                let match_op = if op == CmpOp::Eq {
                    MatchOp::Equal
                } else {
                    MatchOp::NotEqual
                };
                Ok(LabelFilter::String(new_matcher(match_op, name, value)?))
            }
            Tok::Kw(Kw::Ip) if string_op => Ok(LabelFilter::Ip {
                name,
                equal: op == CmpOp::Eq,
                pattern: self.parse_ip_call()?,
            }),
            Tok::Duration(ns) => {
                self.bump();
                let value_ms = ns as f64 / 1e6;
                Ok(LabelFilter::Duration { name, op, value_ms })
            }
            Tok::Bytes(value) => {
                self.bump();
                Ok(LabelFilter::Bytes { name, op, value })
            }
            Tok::Number(_) | Tok::Kw(Kw::Add | Kw::Sub) => {
                let value = self.parse_signed_number()?;
                Ok(LabelFilter::Number { name, op, value })
            }
            _ => Err(self.unexpected(&[])),
        }
    }

    /// Loki's `literalExpr`: `NUMBER`, `+NUMBER` or `-NUMBER`.
    pub(super) fn parse_signed_number(&mut self) -> Result<f64, ParseError> {
        let negative = if self.eat(Kw::Sub) {
            true
        } else {
            self.eat(Kw::Add);
            false
        };
        let Tok::Number(text) = self.peek().clone() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        self.bump();
        let value = parse_go_float(&text).map_err(|e| {
            ParseError::semantic(format!("unable to parse literal as a float: {e}"))
        })?;
        Ok(if negative { -value } else { value })
    }

    /// The `[range]` argument of a range aggregation in any of Loki's spellings:
    /// `{…} | … [5m]`, `{…}[5m] | …`, `({…} | …)[5m]`, `({…} | … [5m])`, with an optional
    /// unwrap and offset.
    pub(super) fn parse_log_range(&mut self) -> Result<LogRange, ParseError> {
        self.nested(Self::parse_log_range_level)
    }

    fn parse_log_range_level(&mut self) -> Result<LogRange, ParseError> {
        if !self.eat(Kw::LParen) {
            let (log, unwrap) = self.parse_log_and_unwrap()?;
            return self.finish_log_range(log, unwrap);
        }
        if !self.at(Kw::LBrace) {
            let range = self.parse_log_range()?;
            self.expect(Kw::RParen)?;
            return Ok(range);
        }
        let (log, unwrap) = self.parse_log_and_unwrap()?;
        if self.eat(Kw::RParen) {
            let range_ms = self.expect_range()?;
            let offset_ms = self.parse_offset()?;
            return Ok(LogRange {
                log,
                range_ms,
                offset_ms,
                unwrap,
            });
        }
        let range = self.finish_log_range(log, unwrap)?;
        self.expect(Kw::RParen)?;
        Ok(range)
    }

    fn parse_log_and_unwrap(&mut self) -> Result<(LogExpr, Option<Unwrap>), ParseError> {
        if !self.at(Kw::LBrace) {
            return Err(self.unexpected(&["{", "("]));
        }
        let log = self.parse_log_expr()?;
        let unwrap = self.parse_unwrap()?;
        Ok((log, unwrap))
    }

    /// `[range] [offset d]`, then a pipeline and unwrap when none came before the range.
    fn finish_log_range(
        &mut self,
        mut log: LogExpr,
        mut unwrap: Option<Unwrap>,
    ) -> Result<LogRange, ParseError> {
        let range_ms = self.expect_range()?;
        let offset_ms = self.parse_offset()?;
        if log.pipeline.is_empty() && unwrap.is_none() {
            log.pipeline = self.parse_pipeline()?;
            unwrap = self.parse_unwrap()?;
        }
        Ok(LogRange {
            log,
            range_ms,
            offset_ms,
            unwrap,
        })
    }

    fn expect_range(&mut self) -> Result<i64, ParseError> {
        match self.peek() {
            Tok::Range(ms) => {
                let ms = *ms;
                self.bump();
                Ok(ms)
            }
            _ => Err(self.unexpected(&["RANGE"])),
        }
    }

    fn parse_offset(&mut self) -> Result<i64, ParseError> {
        if !self.eat(Kw::Offset) {
            return Ok(0);
        }
        match self.peek() {
            Tok::Duration(ns) => {
                let ms = ns / 1_000_000;
                self.bump();
                Ok(ms)
            }
            _ => Err(self.unexpected(&["DURATION"])),
        }
    }

    /// `| unwrap [conv(]label[)]` and the `| filter`s after it.
    fn parse_unwrap(&mut self) -> Result<Option<Unwrap>, ParseError> {
        if !(self.at(Kw::Pipe) && self.peek2() == &Tok::Kw(Kw::Unwrap)) {
            return Ok(None);
        }
        self.bump();
        self.bump();
        let conversion = match self.peek() {
            Tok::Kw(Kw::BytesConv) => UnwrapConversion::Bytes,
            Tok::Kw(Kw::DurationConv) => UnwrapConversion::Duration,
            Tok::Kw(Kw::DurationSecondsConv) => UnwrapConversion::DurationSeconds,
            _ => UnwrapConversion::None,
        };
        let label = if conversion == UnwrapConversion::None {
            self.expect_ident()?
        } else {
            self.bump();
            self.expect(Kw::LParen)?;
            let label = self.expect_ident()?;
            self.expect(Kw::RParen)?;
            label
        };
        let mut post_filters = Vec::new();
        while self.eat(Kw::Pipe) {
            post_filters.push(self.parse_label_filter()?);
        }
        Ok(Some(Unwrap {
            label,
            conversion,
            post_filters,
        }))
    }
}

fn line_filter_op(tok: &Tok) -> Option<LineFilterOp> {
    match tok {
        Tok::Kw(Kw::PipeExact) => Some(LineFilterOp::Contains),
        Tok::Kw(Kw::Neq) => Some(LineFilterOp::NotContains),
        Tok::Kw(Kw::PipeMatch) => Some(LineFilterOp::Regex),
        Tok::Kw(Kw::Nre) => Some(LineFilterOp::NotRegex),
        Tok::Kw(Kw::PipePattern) => Some(LineFilterOp::Pattern),
        Tok::Kw(Kw::Npa) => Some(LineFilterOp::NotPattern),
        _ => None,
    }
}

fn new_matcher(op: MatchOp, name: String, value: String) -> Result<Matcher, ParseError> {
    Matcher::new(op, name, value).map_err(|e| ParseError::semantic(e.to_string()))
}
