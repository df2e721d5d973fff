//! Semantic checks of a parsed query: operand types, boolean filters, aggregates that
//! reference the span, and what Sextant does not implement (see the module docs).

use super::ast::{
    Aggregate, Attribute, AttributeScope, BinaryOp, CmpOp, FieldExpr, Intrinsic, MetricsExpr,
    MetricsFunction, Pipeline, RootExpr, ScalarExpr, ScalarFilter, SecondStage, SpansetExpr, Stage,
    Static, TraceqlQuery, UnaryOp,
};
use super::TraceqlError;

type Result = std::result::Result<(), TraceqlError>;

/// The type a field expression evaluates to; `Attribute` is "known only at run time".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Attribute,
    Nil,
    Bool,
    Int,
    Float,
    Duration,
    String,
    Status,
    Kind,
}

impl Type {
    fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::Duration)
    }
}

fn invalid(message: impl Into<String>) -> Result {
    Err(TraceqlError::Invalid(message.into()))
}

fn unsupported(message: impl Into<String>) -> Result {
    Err(TraceqlError::Unsupported(message.into()))
}

impl TraceqlQuery {
    /// Checks types and support. `Err(Invalid)` for a wrong query, `Err(Unsupported)` for
    /// valid TraceQL that Sextant does not execute.
    pub fn validate(&self) -> std::result::Result<(), TraceqlError> {
        match &self.expr {
            RootExpr::Pipeline(p) => pipeline(p),
            RootExpr::ScalarFilter(f) => scalar_filter(f),
            RootExpr::Metrics(m) => metrics(m, false),
        }
    }
}

fn pipeline(p: &Pipeline) -> Result {
    p.stages.iter().try_for_each(stage)
}

fn stage(s: &Stage) -> Result {
    match s {
        Stage::Spanset(e) => spanset(e),
        Stage::ScalarFilter(f) => scalar_filter(f),
        Stage::By(e) => {
            field(e)?;
            if !references_span(e) {
                return invalid(format!(
                    "grouping field expressions must reference the span: by({e})"
                ));
            }
            Ok(())
        }
        Stage::Select(fields) => fields.iter().try_for_each(field),
        Stage::Coalesce => Ok(()),
    }
}

fn spanset(e: &SpansetExpr) -> Result {
    match e {
        SpansetExpr::Filter(f) => {
            field(f)?;
            match field_type(f) {
                Type::Bool | Type::Attribute => Ok(()),
                _ => invalid(format!(
                    "span filter expressions must evaluate to a boolean: {{ {f} }}"
                )),
            }
        }
        SpansetExpr::Op { lhs, rhs, .. } => {
            spanset(lhs)?;
            spanset(rhs)
        }
        SpansetExpr::Pipeline(p) => pipeline(p),
    }
}

fn scalar_filter(f: &ScalarFilter) -> Result {
    scalar(&f.lhs)?;
    scalar(&f.rhs)?;
    if !matches!(f.lhs, ScalarExpr::Aggregate(_)) {
        return unsupported(format!("scalar filter with left side {}", f.lhs));
    }
    if !is_constant(&f.rhs) {
        return unsupported(format!("scalar filter with right side {}", f.rhs));
    }
    Ok(())
}

fn is_constant(e: &ScalarExpr) -> bool {
    match e {
        ScalarExpr::Static(_) => true,
        ScalarExpr::Op { lhs, rhs, .. } => is_constant(lhs) && is_constant(rhs),
        _ => false,
    }
}

fn scalar(e: &ScalarExpr) -> Result {
    match e {
        ScalarExpr::Static(_) => Ok(()),
        ScalarExpr::Aggregate(a) => aggregate(a),
        ScalarExpr::Op { lhs, rhs, .. } => {
            scalar(lhs)?;
            scalar(rhs)
        }
        ScalarExpr::Pipeline {
            pipeline: p,
            aggregate: a,
        } => {
            pipeline(p)?;
            aggregate(a)
        }
    }
}

fn aggregate(a: &Aggregate) -> Result {
    let Some(e) = &a.field else {
        return Ok(());
    };
    field(e)?;
    let t = field_type(e);
    if t != Type::Attribute && !t.is_numeric() {
        return invalid(format!(
            "aggregate field expressions must resolve to a number: {a}"
        ));
    }
    if !references_span(e) {
        return invalid(format!(
            "aggregate field expressions must reference the span: {a}"
        ));
    }
    Ok(())
}

fn metrics(e: &MetricsExpr, combined: bool) -> Result {
    match e {
        MetricsExpr::Pipeline {
            pipeline: p,
            aggregate,
        } => {
            pipeline(p)?;
            aggregate.by.iter().try_for_each(field)?;
            metrics_function(&aggregate.function, combined)
        }
        MetricsExpr::Op { lhs, rhs, .. } => {
            metrics(lhs, true)?;
            metrics(rhs, true)
        }
        MetricsExpr::Constant(_) => Ok(()),
        MetricsExpr::Filter { expr, .. } => metrics(expr, true),
        MetricsExpr::SecondStage { expr, stage } => {
            if matches!(stage, SecondStage::TopK(0) | SecondStage::BottomK(0)) {
                return invalid("topk and bottomk need a limit greater than 0");
            }
            metrics(expr, true)
        }
    }
}

fn metrics_function(f: &MetricsFunction, combined: bool) -> Result {
    match f {
        MetricsFunction::Rate | MetricsFunction::CountOverTime => Ok(()),
        MetricsFunction::MinOverTime(e)
        | MetricsFunction::MaxOverTime(e)
        | MetricsFunction::AvgOverTime(e)
        | MetricsFunction::SumOverTime(e)
        | MetricsFunction::HistogramOverTime(e) => field(e),
        MetricsFunction::QuantileOverTime(e, qs) => {
            field(e)?;
            if qs.is_empty() || qs.iter().any(|q| !(0.0..=1.0).contains(q)) {
                return invalid("quantile_over_time needs quantiles between 0 and 1");
            }
            Ok(())
        }
        MetricsFunction::Compare(filter, _) => {
            if combined {
                return invalid(
                    "compare() cannot be combined with second stage functions, filters or arithmetic",
                );
            }
            spanset(filter)
        }
    }
}

fn references_span(e: &FieldExpr) -> bool {
    match e {
        FieldExpr::Static(_) => false,
        FieldExpr::Attribute(_) => true,
        FieldExpr::Binary { lhs, rhs, .. } => references_span(lhs) || references_span(rhs),
        FieldExpr::Unary { expr, .. } => references_span(expr),
    }
}

fn intrinsic_type(i: Intrinsic) -> Type {
    use Intrinsic::*;
    match i {
        Duration | TraceDuration | SpanDuration | TraceScopedDuration | EventTimeSinceStart => {
            Type::Duration
        }
        ChildCount | SpanChildCount | NestedSetLeft | NestedSetRight | NestedSetParent => Type::Int,
        Status | SpanStatus => Type::Status,
        Kind | SpanKind => Type::Kind,
        Parent => Type::Attribute,
        _ => Type::String,
    }
}

fn static_type(s: &Static) -> Type {
    match s {
        Static::Nil => Type::Nil,
        Static::Bool(_) => Type::Bool,
        Static::Int(_) => Type::Int,
        Static::Float(_) => Type::Float,
        Static::String(_) => Type::String,
        Static::Duration(_) => Type::Duration,
        Static::Status(_) => Type::Status,
        Static::Kind(_) => Type::Kind,
    }
}

fn field_type(e: &FieldExpr) -> Type {
    match e {
        FieldExpr::Static(s) => static_type(s),
        FieldExpr::Attribute(Attribute::Intrinsic(i)) => intrinsic_type(*i),
        FieldExpr::Attribute(Attribute::Named { .. }) => Type::Attribute,
        FieldExpr::Unary {
            op: UnaryOp::Not, ..
        } => Type::Bool,
        FieldExpr::Unary { expr, .. } => field_type(expr),
        FieldExpr::Binary {
            op: BinaryOp::Arith(_),
            lhs,
            rhs,
        } => match field_type(lhs) {
            Type::Attribute => field_type(rhs),
            t => t,
        },
        FieldExpr::Binary { .. } => Type::Bool,
    }
}

/// `resource.service.name` is always present, so comparing it with `nil` is a mistake.
fn is_service_name(e: &FieldExpr) -> bool {
    matches!(e, FieldExpr::Attribute(Attribute::Named { scope: AttributeScope::Resource, parent: false, name }) if name == "service.name")
}

fn field(e: &FieldExpr) -> Result {
    match e {
        FieldExpr::Static(_) => Ok(()),
        FieldExpr::Attribute(Attribute::Intrinsic(Intrinsic::Parent)) => {
            unsupported("the parent intrinsic")
        }
        FieldExpr::Attribute(Attribute::Named { parent: true, .. }) => {
            unsupported(format!("parent attributes: {e}"))
        }
        FieldExpr::Attribute(_) => Ok(()),
        FieldExpr::Unary { op, expr } => {
            field(expr)?;
            let t = field_type(expr);
            let ok = match op {
                UnaryOp::Neg => t.is_numeric() || t == Type::Attribute,
                UnaryOp::Not => t == Type::Bool || t == Type::Attribute,
            };
            if !ok {
                return invalid(format!("illegal operation for the given type: {e}"));
            }
            Ok(())
        }
        FieldExpr::Binary { op, lhs, rhs } => binary(*op, lhs, rhs, e),
    }
}

fn binary(op: BinaryOp, lhs: &FieldExpr, rhs: &FieldExpr, whole: &FieldExpr) -> Result {
    field(lhs)?;
    field(rhs)?;
    let (lt, rt) = (field_type(lhs), field_type(rhs));
    let nil_partner = |t: Type| matches!(t, Type::Nil | Type::String | Type::Attribute);
    let matching = lt == rt
        || (lt.is_numeric() && rt.is_numeric())
        || (lt == Type::Nil && nil_partner(rt))
        || (rt == Type::Nil && nil_partner(lt))
        || (lt == Type::Attribute && rt != Type::Nil)
        || (rt == Type::Attribute && lt != Type::Nil);
    if !matching {
        return invalid(format!(
            "binary operations must operate on the same type: {whole}"
        ));
    }
    if (lt == Type::Nil && is_service_name(rhs)) || (rt == Type::Nil && is_service_name(lhs)) {
        return invalid(format!("resource.service.name cannot be nil: {whole}"));
    }
    let t = if lt == Type::Attribute { rt } else { lt };
    let legal = t == Type::Attribute
        || match op {
            BinaryOp::Arith(_) => t.is_numeric(),
            BinaryOp::Cmp(CmpOp::Eq | CmpOp::Neq) => true,
            BinaryOp::Cmp(_) => t.is_numeric() || t == Type::String,
            BinaryOp::Regex | BinaryOp::NotRegex => t == Type::String,
            BinaryOp::And | BinaryOp::Or => t == Type::Bool,
        };
    if !legal {
        return invalid(format!("illegal operation for the given types: {whole}"));
    }
    if matches!(op, BinaryOp::Regex | BinaryOp::NotRegex) {
        if let FieldExpr::Static(Static::String(pattern)) = rhs {
            if let Err(e) = regex::Regex::new(pattern) {
                return invalid(format!("invalid regex {pattern:?}: {e}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::traceql::{parse, TraceqlError};

    #[derive(Debug, PartialEq)]
    enum Want {
        Ok,
        Invalid,
        Unsupported,
    }

    #[test]
    fn validate_table() {
        let cases = [
            ("{ .a = 1 }", Want::Ok),
            ("{ .a }", Want::Ok),
            ("{ 1 < 1h }", Want::Ok),
            ("{ name != nil }", Want::Ok),
            ("{ .a + 1 }", Want::Invalid),
            ("{ status = nil }", Want::Invalid),
            ("{ resource.service.name != nil }", Want::Invalid),
            ("{ .a =~ \"[\" }", Want::Invalid),
            ("{ !\"x\" = \"x\" }", Want::Invalid),
            ("sum(3) = 1", Want::Invalid),
            ("{ } | by(1)", Want::Invalid),
            ("{ } | rate() | topk(0)", Want::Invalid),
            ("{ } | compare({ }) > 1", Want::Invalid),
            ("{ parent }", Want::Unsupported),
            ("{ parent.a = 1 }", Want::Unsupported),
            ("min(.a) < max(.a)", Want::Unsupported),
            ("({ } | count()) = 1", Want::Unsupported),
        ];
        for (query, want) in cases {
            let parsed = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            let got = match parsed.validate() {
                Ok(()) => Want::Ok,
                Err(TraceqlError::Unsupported(_)) => Want::Unsupported,
                Err(_) => Want::Invalid,
            };
            assert_eq!(got, want, "{query}");
        }
    }
}
