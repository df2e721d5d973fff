//! Field expressions (inside `{ }` and function arguments) and function calls.

use super::term::{Term, COMPARISONS};
use super::{Parser, Result};
use crate::traceql::ast::{
    Aggregate, AggregateKind, ArithOp, BinaryOp, FieldExpr, MetricsAggregate, MetricsFunction,
    ScalarExpr, SpanKind, SpanStatus, SpansetExpr, Stage, Static, UnaryOp,
};
use crate::traceql::lex::Tok;

const METRICS_FUNCTIONS: &[&str] = &[
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
];

pub(super) fn is_metrics_function(name: &str) -> bool {
    METRICS_FUNCTIONS.contains(&name)
}

fn keyword(word: &str) -> Option<Static> {
    Some(match word {
        "true" => Static::Bool(true),
        "false" => Static::Bool(false),
        "nil" => Static::Nil,
        "ok" => Static::Status(SpanStatus::Ok),
        "error" => Static::Status(SpanStatus::Error),
        "unset" => Static::Status(SpanStatus::Unset),
        "unspecified" => Static::Kind(SpanKind::Unspecified),
        "internal" => Static::Kind(SpanKind::Internal),
        "server" => Static::Kind(SpanKind::Server),
        "client" => Static::Kind(SpanKind::Client),
        "producer" => Static::Kind(SpanKind::Producer),
        "consumer" => Static::Kind(SpanKind::Consumer),
        _ => return None,
    })
}

fn binary(op: BinaryOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
    FieldExpr::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    }
}

impl Parser<'_> {
    /// `{ }` or `{ expr }`.
    pub(super) fn spanset_filter(&mut self) -> Result<SpansetExpr> {
        self.expect_op("{")?;
        if self.eat_op("}") {
            return Ok(SpansetExpr::Filter(FieldExpr::Static(Static::Bool(true))));
        }
        let expr = self.field()?;
        self.expect_op("}")?;
        Ok(SpansetExpr::Filter(expr))
    }

    /// `name(...)` at the query level: aggregates, `by`, `select`, `coalesce`.
    pub(super) fn call(&mut self, name: &str) -> Result<Term> {
        let kind = match name {
            "count" => AggregateKind::Count,
            "avg" => AggregateKind::Avg,
            "max" => AggregateKind::Max,
            "min" => AggregateKind::Min,
            "sum" => AggregateKind::Sum,
            "by" | "select" | "coalesce" => return self.stage_call(name),
            _ => return Err(self.unexpected()),
        };
        self.i += 2;
        let field = if kind == AggregateKind::Count {
            None
        } else {
            Some(self.field()?)
        };
        self.expect_op(")")?;
        Ok(Term::Scalar(ScalarExpr::Aggregate(Aggregate {
            kind,
            field,
        })))
    }

    fn stage_call(&mut self, name: &str) -> Result<Term> {
        self.i += 2;
        let stage = match name {
            "by" => Stage::By(self.field()?),
            "select" => Stage::Select(self.attribute_list()?),
            _ => Stage::Coalesce,
        };
        self.expect_op(")")?;
        Ok(Term::Stage(stage))
    }

    /// `a, b, c`: attributes and intrinsics only.
    fn attribute_list(&mut self) -> Result<Vec<FieldExpr>> {
        let mut out = Vec::new();
        loop {
            let Tok::Attr(a) = self.peek().clone() else {
                return Err(self.unexpected());
            };
            self.advance();
            out.push(FieldExpr::Attribute(a));
            if !self.eat_op(",") {
                return Ok(out);
            }
        }
    }

    /// `rate() by (a, b)` and the other metrics functions.
    pub(super) fn metrics_aggregate(&mut self) -> Result<MetricsAggregate> {
        let Tok::Ident(name) = self.advance() else {
            return Err(self.unexpected());
        };
        self.expect_op("(")?;
        let function = match name.as_str() {
            "rate" => MetricsFunction::Rate,
            "count_over_time" => MetricsFunction::CountOverTime,
            "min_over_time" => MetricsFunction::MinOverTime(self.field()?),
            "max_over_time" => MetricsFunction::MaxOverTime(self.field()?),
            "avg_over_time" => MetricsFunction::AvgOverTime(self.field()?),
            "sum_over_time" => MetricsFunction::SumOverTime(self.field()?),
            "histogram_over_time" => MetricsFunction::HistogramOverTime(self.field()?),
            "quantile_over_time" => {
                let field = self.field()?;
                let mut quantiles = Vec::new();
                while self.eat_op(",") {
                    quantiles.push(self.number()?);
                }
                MetricsFunction::QuantileOverTime(field, quantiles)
            }
            _ => {
                let filter = self.spanset_filter()?;
                let mut args = Vec::new();
                while self.eat_op(",") {
                    let Tok::Int(i) = *self.peek() else {
                        return Err(self.unexpected());
                    };
                    self.advance();
                    args.push(i);
                }
                MetricsFunction::Compare(filter, args)
            }
        };
        self.expect_op(")")?;
        let mut by = Vec::new();
        if self.peek_ident("by") {
            self.advance();
            self.expect_op("(")?;
            by = self.attribute_list()?;
            self.expect_op(")")?;
        }
        Ok(MetricsAggregate { function, by })
    }

    fn number(&mut self) -> Result<f64> {
        let value = match *self.peek() {
            Tok::Int(i) => i as f64,
            Tok::Float(x) => x,
            _ => return Err(self.unexpected()),
        };
        self.advance();
        Ok(value)
    }

    /// A field expression: `&&` and `||` loosest, then comparisons, `+ -`, unary, `* / %`, `^`.
    pub(super) fn field(&mut self) -> Result<FieldExpr> {
        let mut lhs = self.field_cmp()?;
        loop {
            let op = match self.peek() {
                Tok::Op("&&") => BinaryOp::And,
                Tok::Op("||") => BinaryOp::Or,
                _ => return Ok(lhs),
            };
            self.count_operator(self.pos())?;
            self.advance();
            lhs = binary(op, lhs, self.field_cmp()?);
        }
    }

    fn field_cmp(&mut self) -> Result<FieldExpr> {
        let mut lhs = self.field_add()?;
        loop {
            let op = match self.peek() {
                Tok::Op("=~") => BinaryOp::Regex,
                Tok::Op("!~") => BinaryOp::NotRegex,
                tok => match COMPARISONS.iter().find(|(s, _)| tok == &Tok::Op(s)) {
                    Some((_, op)) => BinaryOp::Cmp(*op),
                    None => return Ok(lhs),
                },
            };
            self.count_operator(self.pos())?;
            self.advance();
            lhs = binary(op, lhs, self.field_add()?);
        }
    }

    fn field_add(&mut self) -> Result<FieldExpr> {
        let mut lhs = self.field_unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => ArithOp::Add,
                Tok::Op("-") => ArithOp::Sub,
                _ => return Ok(lhs),
            };
            self.count_operator(self.pos())?;
            self.advance();
            lhs = binary(BinaryOp::Arith(op), lhs, self.field_unary()?);
        }
    }

    /// `-x` and `!x` bind looser than `*` (Tempo: `!a * b` is `!(a * b)`).
    fn field_unary(&mut self) -> Result<FieldExpr> {
        let op = match self.peek() {
            Tok::Op("-") => UnaryOp::Neg,
            Tok::Op("!") => UnaryOp::Not,
            _ => return self.field_mul(),
        };
        self.enter()?;
        self.advance();
        let expr = self.field_unary();
        self.leave();
        Ok(FieldExpr::Unary {
            op,
            expr: Box::new(expr?),
        })
    }

    fn field_mul(&mut self) -> Result<FieldExpr> {
        let mut lhs = self.field_pow()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => ArithOp::Mul,
                Tok::Op("/") => ArithOp::Div,
                Tok::Op("%") => ArithOp::Mod,
                _ => return Ok(lhs),
            };
            self.count_operator(self.pos())?;
            self.advance();
            lhs = binary(BinaryOp::Arith(op), lhs, self.field_pow()?);
        }
    }

    fn field_pow(&mut self) -> Result<FieldExpr> {
        let lhs = self.field_primary()?;
        if !self.peek_op("^") {
            return Ok(lhs);
        }
        self.count_operator(self.pos())?;
        self.advance();
        self.enter()?;
        let rhs = if matches!(self.peek(), Tok::Op("-" | "!")) {
            self.field_unary()
        } else {
            self.field_pow()
        };
        self.leave();
        Ok(binary(BinaryOp::Arith(ArithOp::Pow), lhs, rhs?))
    }

    fn field_primary(&mut self) -> Result<FieldExpr> {
        let value = match self.peek().clone() {
            Tok::Op("(") => {
                self.enter()?;
                self.advance();
                let inner = self.field();
                self.leave();
                let inner = inner?;
                self.expect_op(")")?;
                return Ok(inner);
            }
            Tok::Op("-" | "!") => return self.field_unary(),
            Tok::Attr(a) => FieldExpr::Attribute(a),
            Tok::Str(s) => FieldExpr::Static(Static::String(s)),
            Tok::Int(i) => FieldExpr::Static(Static::Int(i)),
            Tok::Float(x) => FieldExpr::Static(Static::Float(x)),
            Tok::Duration(d) => FieldExpr::Static(Static::Duration(d)),
            Tok::Ident(w) => match keyword(&w) {
                Some(s) => FieldExpr::Static(s),
                None => return Err(self.unexpected()),
            },
            _ => return Err(self.unexpected()),
        };
        self.advance();
        Ok(value)
    }
}
