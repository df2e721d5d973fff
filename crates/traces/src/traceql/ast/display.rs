//! The canonical printer: operands that are operations get parentheses, so printing and
//! parsing again gives the same tree.

use std::fmt::{self, Display, Formatter};

use super::*;

impl Display for TraceqlQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if !self.hints.is_empty() {
            f.write_str(" with(")?;
            for (i, h) in self.hints.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(f, "{sep}{}={}", h.name, h.value)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl Display for RootExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            RootExpr::Pipeline(p) => write!(f, "{p}"),
            RootExpr::ScalarFilter(s) => write!(f, "{s}"),
            RootExpr::Metrics(m) => write!(f, "{m}"),
        }
    }
}

impl Display for Pipeline {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, stage) in self.stages.iter().enumerate() {
            let sep = if i == 0 { "" } else { " | " };
            write!(f, "{sep}{stage}")?;
        }
        Ok(())
    }
}

fn write_list(f: &mut Formatter<'_>, items: &[FieldExpr]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        write!(f, "{sep}{item}")?;
    }
    Ok(())
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Spanset(s) => write!(f, "{s}"),
            Stage::ScalarFilter(s) => write!(f, "{s}"),
            Stage::By(e) => write!(f, "by({e})"),
            Stage::Select(fields) => {
                f.write_str("select(")?;
                write_list(f, fields)?;
                f.write_str(")")
            }
            Stage::Coalesce => f.write_str("coalesce()"),
        }
    }
}

impl Display for SpansetExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(e) => write!(f, "{{ {e} }}"),
            SpansetExpr::Pipeline(p) => write!(f, "({p})"),
            SpansetExpr::Op { op, lhs, rhs } => {
                let prec = |op: SpansetOp| {
                    if matches!(op, SpansetOp::And | SpansetOp::Union) {
                        1
                    } else {
                        2
                    }
                };
                let child = |e: &SpansetExpr| match e {
                    SpansetExpr::Op { op, .. } => prec(*op),
                    _ => PRIMARY,
                };
                let p = prec(*op);
                write_operand(f, lhs, needs_parens(p, child(lhs), Side::Left, false))?;
                write!(f, " {} ", op.as_str())?;
                write_operand(f, rhs, needs_parens(p, child(rhs), Side::Right, false))
            }
        }
    }
}

impl Display for ScalarFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.as_str(), self.rhs)
    }
}

fn scalar_prec(e: &ScalarExpr) -> u8 {
    match e {
        ScalarExpr::Op { op, .. } => arith_prec(*op),
        _ => PRIMARY,
    }
}

impl Display for ScalarExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Static(s) => write!(f, "{s}"),
            ScalarExpr::Aggregate(a) => write!(f, "{a}"),
            ScalarExpr::Pipeline {
                pipeline,
                aggregate,
            } => write!(f, "({pipeline} | {aggregate})"),
            ScalarExpr::Op { op, lhs, rhs } => {
                let (p, right) = (arith_prec(*op), *op == ArithOp::Pow);
                write_operand(f, lhs, needs_parens(p, scalar_prec(lhs), Side::Left, right))?;
                write!(f, " {} ", op.as_str())?;
                write_operand(
                    f,
                    rhs,
                    needs_parens(p, scalar_prec(rhs), Side::Right, right),
                )
            }
        }
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(e) => write!(f, "{}({e})", self.kind.as_str()),
            None => write!(f, "{}()", self.kind.as_str()),
        }
    }
}

impl Display for MetricsExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricsExpr::Pipeline {
                pipeline,
                aggregate,
            } => write!(f, "{pipeline} | {aggregate}"),
            MetricsExpr::Constant(c) => write!(f, "{c}"),
            MetricsExpr::Op { op, lhs, rhs } => {
                let p = arith_prec(*op);
                write_operand(
                    f,
                    lhs,
                    needs_parens(p, metrics_prec(lhs), Side::Left, false),
                )?;
                write!(f, " {} ", op.as_str())?;
                write_operand(
                    f,
                    rhs,
                    needs_parens(p, metrics_prec(rhs), Side::Right, false),
                )
            }
            MetricsExpr::Filter { expr, op, value } => {
                // `x > 1 > 2` does not parse: a filter of a filter keeps its parentheses.
                let nested = matches!(**expr, MetricsExpr::Filter { .. });
                write_operand(f, expr, nested)?;
                match value {
                    ScalarExpr::Op { .. } => write!(f, " {} ({value})", op.as_str()),
                    _ => write!(f, " {} {value}", op.as_str()),
                }
            }
            // `|` is the loosest operator: the input never needs parentheses.
            MetricsExpr::SecondStage { expr, stage } => match stage {
                SecondStage::TopK(n) => write!(f, "{expr} | topk({n})"),
                SecondStage::BottomK(n) => write!(f, "{expr} | bottomk({n})"),
            },
        }
    }
}

/// The precedence of a metrics operand; pipelines, filters and second stages always get
/// parentheses inside arithmetic.
fn metrics_prec(e: &MetricsExpr) -> u8 {
    match e {
        MetricsExpr::Op { op, .. } => arith_prec(*op),
        MetricsExpr::Constant(c) => scalar_prec(c),
        _ => 0,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// Precedence of operands that are not operations.
const PRIMARY: u8 = 9;

fn arith_prec(op: ArithOp) -> u8 {
    match op {
        ArithOp::Add | ArithOp::Sub => 3,
        ArithOp::Mul | ArithOp::Div | ArithOp::Mod => 4,
        ArithOp::Pow => 5,
    }
}

/// Whether an operand of precedence `child` under an operator of precedence `parent` needs
/// parentheses to parse back to the same tree.
fn needs_parens(parent: u8, child: u8, side: Side, right_assoc: bool) -> bool {
    child < parent || (child == parent && (side == Side::Left) == right_assoc)
}

fn write_operand(f: &mut Formatter<'_>, e: &impl Display, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl Display for MetricsAggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.function)?;
        if !self.by.is_empty() {
            f.write_str(" by (")?;
            write_list(f, &self.by)?;
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl Display for MetricsFunction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricsFunction::Rate => f.write_str("rate()"),
            MetricsFunction::CountOverTime => f.write_str("count_over_time()"),
            MetricsFunction::MinOverTime(e) => write!(f, "min_over_time({e})"),
            MetricsFunction::MaxOverTime(e) => write!(f, "max_over_time({e})"),
            MetricsFunction::AvgOverTime(e) => write!(f, "avg_over_time({e})"),
            MetricsFunction::SumOverTime(e) => write!(f, "sum_over_time({e})"),
            MetricsFunction::HistogramOverTime(e) => write!(f, "histogram_over_time({e})"),
            MetricsFunction::QuantileOverTime(e, qs) => {
                write!(f, "quantile_over_time({e}")?;
                for q in qs {
                    write!(f, ", {q:?}")?;
                }
                f.write_str(")")
            }
            MetricsFunction::Compare(filter, args) => {
                write!(f, "compare({filter}")?;
                for a in args {
                    write!(f, ", {a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

fn binary_prec(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::And | BinaryOp::Or => 1,
        BinaryOp::Cmp(_) | BinaryOp::Regex | BinaryOp::NotRegex => 2,
        BinaryOp::Arith(op) => arith_prec(op),
    }
}

/// Unary operators bind looser than `*` and tighter than `+`; the parser reads their
/// operand at the `*` level.
const UNARY: u8 = 4;

impl Display for FieldExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FieldExpr::Static(s) => write!(f, "{s}"),
            FieldExpr::Attribute(a) => write!(f, "{a}"),
            FieldExpr::Unary { op, expr } => {
                f.write_str(if *op == UnaryOp::Neg { "-" } else { "!" })?;
                let parens =
                    matches!(**expr, FieldExpr::Binary { op, .. } if binary_prec(op) < UNARY);
                write_operand(f, expr, parens)
            }
            FieldExpr::Binary { op, lhs, rhs } => {
                let (p, right) = (binary_prec(*op), *op == BinaryOp::Arith(ArithOp::Pow));
                let parens = |e: &FieldExpr, side| match e {
                    // `-a * b` reads as `-(a * b)`: a unary operand of `*` or `^` is wrapped.
                    FieldExpr::Unary { .. } => p >= UNARY,
                    FieldExpr::Binary { op, .. } => needs_parens(p, binary_prec(*op), side, right),
                    _ => false,
                };
                write_operand(f, lhs, parens(lhs, Side::Left))?;
                write!(f, " {} ", op.as_str())?;
                write_operand(f, rhs, parens(rhs, Side::Right))
            }
        }
    }
}

impl Display for Static {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Static::Nil => f.write_str("nil"),
            Static::Bool(b) => write!(f, "{b}"),
            Static::Int(i) => write!(f, "{i}"),
            Static::Float(x) => write!(f, "{x:?}"),
            Static::String(s) => write_quoted(f, s),
            Static::Duration(ns) => write_duration(f, *ns),
            Static::Status(s) => f.write_str(match s {
                SpanStatus::Error => "error",
                SpanStatus::Ok => "ok",
                SpanStatus::Unset => "unset",
            }),
            Static::Kind(k) => f.write_str(match k {
                SpanKind::Unspecified => "unspecified",
                SpanKind::Internal => "internal",
                SpanKind::Server => "server",
                SpanKind::Client => "client",
                SpanKind::Producer => "producer",
                SpanKind::Consumer => "consumer",
            }),
        }
    }
}

/// Durations print in the largest unit that divides them (`90s` prints as `90s`, `1h` as `1h`).
fn write_duration(f: &mut Formatter<'_>, ns: i64) -> fmt::Result {
    const UNITS: [(&str, i64); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    let (unit, size) = UNITS
        .iter()
        .find(|(_, size)| ns % size == 0)
        .copied()
        .unwrap_or(("ns", 1));
    write!(f, "{}{unit}", ns / size)
}

fn write_quoted(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Intrinsic(i) => f.write_str(i.as_str()),
            Attribute::Named {
                scope,
                parent,
                name,
            } => {
                let prefix = match scope {
                    AttributeScope::None => "",
                    AttributeScope::Span => "span",
                    AttributeScope::Resource => "resource",
                    AttributeScope::Event => "event",
                    AttributeScope::Link => "link",
                    AttributeScope::Instrumentation => "instrumentation",
                };
                if *parent {
                    f.write_str("parent.")?;
                }
                if !*parent || !prefix.is_empty() {
                    write!(f, "{prefix}.")?;
                }
                if name.is_empty() || name.starts_with('"') || !name.chars().all(is_attribute_char)
                {
                    write_quoted(f, name)
                } else {
                    f.write_str(name)
                }
            }
        }
    }
}
