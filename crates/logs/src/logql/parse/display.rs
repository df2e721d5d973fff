//! Canonical LogQL for every syntax tree node: the parser reads the text back into the same
//! tree (see the round-trip property test).

use std::fmt::{self, Display, Formatter};

use sextant_model::Matcher;

use super::literal::{format_duration_ms, format_float, quote};
use crate::logql::ast::{
    BinaryExpr, BinaryOp, CmpOp, Expr, Extraction, GroupModifier, Grouping, LabelFilter,
    LabelFormat, LabelReplace, LabelSelection, LineFilter, LineFilterOp, LineFilterValue, LogExpr,
    LogRange, Parser, RangeAggregation, RangeOp, SampleExpr, Stage, Unwrap, UnwrapConversion,
    VectorAggregation, VectorMatching, VectorOp,
};

/// `name="value"` with Go quoting (the model's Display uses Rust quoting).
struct LogqlMatcher<'a>(&'a Matcher);

impl Display for LogqlMatcher<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{}{}{}", m.name, m.op.as_str(), quote(&m.value))
    }
}

/// Items separated by `, `.
fn write_list<T>(
    f: &mut Formatter<'_>,
    items: &[T],
    mut write: impl FnMut(&mut Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write(f, item)?;
    }
    Ok(())
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(log) => log.fmt(f),
            Expr::Sample(sample) => sample.fmt(f),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        write_list(f, &self.matchers, |f, m| LogqlMatcher(m).fmt(f))?;
        f.write_str("}")?;
        for stage in &self.pipeline {
            write!(f, " {stage}")?;
        }
        Ok(())
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(filter) => filter.fmt(f),
            Stage::Parser(parser) => write!(f, "| {parser}"),
            Stage::LabelFilter(filter) => write!(f, "| {filter}"),
            Stage::LineFormat(template) => write!(f, "| line_format {}", quote(template)),
            Stage::LabelFormat(formats) => {
                f.write_str("| label_format ")?;
                write_list(f, formats, |f, format| format.fmt(f))
            }
            Stage::Drop(selections) => write_selections(f, "drop", selections),
            Stage::Keep(selections) => write_selections(f, "keep", selections),
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

fn write_selections(
    f: &mut Formatter<'_>,
    keyword: &str,
    selections: &[LabelSelection],
) -> fmt::Result {
    write!(f, "| {keyword} ")?;
    write_list(f, selections, |f, selection| selection.fmt(f))
}

impl Display for LabelFormat {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelFormat::Rename { dst, src } => write!(f, "{dst}={src}"),
            LabelFormat::Template { dst, template } => write!(f, "{dst}={}", quote(template)),
        }
    }
}

impl Display for LabelSelection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelSelection::Name(name) => f.write_str(name),
            LabelSelection::Matcher(m) => LogqlMatcher(m).fmt(f),
        }
    }
}

impl Display for LineFilterValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LineFilterValue::Text(text) => f.write_str(&quote(text)),
            LineFilterValue::Ip(pattern) => write!(f, "ip({})", quote(pattern)),
        }
    }
}

impl Display for Extraction {
    /// A bare name when the expression is the name itself.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.label == self.expr {
            f.write_str(&self.label)
        } else {
            write!(f, "{}={}", self.label, quote(&self.expr))
        }
    }
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.op)?;
        for (i, value) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            value.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for LineFilterOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        })
    }
}

impl Display for Parser {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let extractions = match self {
            Parser::Json { extractions } => {
                f.write_str("json")?;
                extractions
            }
            Parser::Logfmt {
                strict,
                keep_empty,
                extractions,
            } => {
                f.write_str("logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                extractions
            }
            Parser::Regexp(re) => return write!(f, "regexp {}", quote(re)),
            Parser::Pattern(pattern) => return write!(f, "pattern {}", quote(pattern)),
            Parser::Unpack => return f.write_str("unpack"),
        };
        if !extractions.is_empty() {
            f.write_str(" ")?;
        }
        write_list(f, extractions, |f, e| e.fmt(f))
    }
}

impl Display for LabelFilter {
    /// Compound operands are parenthesised, so the text parses back to the same tree.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let operand = |f: &mut Formatter<'_>, filter: &LabelFilter| match filter {
            LabelFilter::And(..) | LabelFilter::Or(..) => write!(f, "({filter})"),
            _ => filter.fmt(f),
        };
        match self {
            LabelFilter::And(l, r) | LabelFilter::Or(l, r) => {
                operand(f, l)?;
                let op = if matches!(self, LabelFilter::And(..)) {
                    "and"
                } else {
                    "or"
                };
                write!(f, " {op} ")?;
                operand(f, r)
            }
            LabelFilter::String(m) => LogqlMatcher(m).fmt(f),
            LabelFilter::Number { name, op, value } => {
                write!(f, "{name} {op} {}", format_float(*value))
            }
            LabelFilter::Duration { name, op, value_ms } => {
                write!(f, "{name} {op} {}", format_filter_duration(*value_ms))
            }
            LabelFilter::Bytes { name, op, value } => write!(f, "{name} {op} {value}B"),
            LabelFilter::Ip {
                name,
                equal,
                pattern,
            } => {
                let op = if *equal { "=" } else { "!=" };
                write!(f, "{name} {op} ip({})", quote(pattern))
            }
        }
    }
}

/// Whole milliseconds in Prometheus units, anything finer in Go nanoseconds.
fn format_filter_duration(value_ms: f64) -> String {
    if value_ms.fract() == 0.0 && value_ms.abs() < 9e15 {
        format_duration_ms(value_ms as i64)
    } else {
        format!("{}ns", (value_ms * 1e6).round() as i64)
    }
}

impl Display for CmpOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        })
    }
}

impl Display for SampleExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SampleExpr::Range(range) => range.fmt(f),
            SampleExpr::Vector(vector) => vector.fmt(f),
            SampleExpr::Binary(binary) => binary.fmt(f),
            SampleExpr::Literal(value) => f.write_str(&format_float(*value)),
            SampleExpr::VectorLiteral(value) => write!(f, "vector({})", format_float(*value)),
            SampleExpr::LabelReplace(replace) => replace.fmt(f),
        }
    }
}

impl Display for RangeAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.op)?;
        if let Some(param) = self.param {
            write!(f, "{}, ", format_float(param))?;
        }
        write!(f, "{})", self.range)?;
        if let Some(grouping) = &self.grouping {
            write!(f, " {grouping}")?;
        }
        Ok(())
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.log.fmt(f)?;
        if let Some(unwrap) = &self.unwrap {
            write!(f, " {unwrap}")?;
        }
        write!(f, " [{}]", format_duration_ms(self.range_ms))?;
        if self.offset_ms != 0 {
            write!(f, " offset {}", format_duration_ms(self.offset_ms))?;
        }
        Ok(())
    }
}

impl Display for Unwrap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conversion {
            UnwrapConversion::None => write!(f, "| unwrap {}", self.label)?,
            conversion => write!(f, "| unwrap {conversion}({})", self.label)?,
        }
        for filter in &self.post_filters {
            write!(f, " | {filter}")?;
        }
        Ok(())
    }
}

impl Display for UnwrapConversion {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnwrapConversion::None => "",
            UnwrapConversion::Bytes => "bytes",
            UnwrapConversion::Duration => "duration",
            UnwrapConversion::DurationSeconds => "duration_seconds",
        })
    }
}

impl Display for RangeOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
        })
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let keyword = if self.without { "without" } else { "by" };
        write!(f, "{keyword} ({})", self.labels.join(", "))
    }
}

impl Display for VectorAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        if let Some(grouping) = &self.grouping {
            write!(f, " {grouping} ")?;
        }
        f.write_str("(")?;
        if let Some(param) = self.param {
            write!(f, "{}, ", format_float(param))?;
        }
        write!(f, "{})", self.expr)
    }
}

impl Display for VectorOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Count => "count",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::ApproxTopk => "approx_topk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
        })
    }
}

impl Display for BinaryExpr {
    /// Binary operands are parenthesised, so precedence never needs reconstructing.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let operand = |f: &mut Formatter<'_>, expr: &SampleExpr| match expr {
            SampleExpr::Binary(_) => write!(f, "({expr})"),
            _ => expr.fmt(f),
        };
        operand(f, &self.lhs)?;
        write!(f, " {}", self.op)?;
        if self.return_bool {
            f.write_str(" bool")?;
        }
        if let Some(matching) = &self.matching {
            write!(f, " {matching}")?;
        }
        f.write_str(" ")?;
        operand(f, &self.rhs)
    }
}

impl Display for VectorMatching {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let keyword = if self.on { "on" } else { "ignoring" };
        write!(f, "{keyword} ({})", self.labels.join(", "))?;
        if let Some(group) = &self.group {
            write!(f, " {group}")?;
        }
        Ok(())
    }
}

impl Display for GroupModifier {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let keyword = if self.left {
            "group_left"
        } else {
            "group_right"
        };
        write!(f, "{keyword} ({})", self.include.join(", "))
    }
}

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Unless => "unless",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
        })
    }
}

impl Display for LabelReplace {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "label_replace({}, {}, {}, {}, {})",
            self.expr,
            quote(&self.dst),
            quote(&self.replacement),
            quote(&self.src),
            quote(&self.regex)
        )
    }
}
