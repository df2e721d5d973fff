//! The sample half of the grammar: binary operators by precedence climbing (`^` right
//! associative > `* / %` > `+ -` > comparisons > `and unless` > `or`), aggregations,
//! `label_replace`, `vector(n)` and number literals.

use super::lexer::{Kw, Tok};
use super::literal::parse_go_float;
use super::{ParseError, Parser};
use crate::logql::ast::{
    BinaryExpr, BinaryOp, Expr, GroupModifier, Grouping, LabelReplace, LogExpr, RangeAggregation,
    RangeOp, SampleExpr, VectorAggregation, VectorMatching, VectorOp,
};

/// A binary operator token and its precedence (higher binds tighter).
fn binary_op(tok: &Tok) -> Option<(BinaryOp, u8)> {
    let Tok::Kw(kw) = tok else { return None };
    let op = match kw {
        Kw::Or => (BinaryOp::Or, 1),
        Kw::And => (BinaryOp::And, 2),
        Kw::Unless => (BinaryOp::Unless, 2),
        Kw::CmpEq => (BinaryOp::Eq, 3),
        Kw::Neq => (BinaryOp::Ne, 3),
        Kw::Gt => (BinaryOp::Gt, 3),
        Kw::Gte => (BinaryOp::Ge, 3),
        Kw::Lt => (BinaryOp::Lt, 3),
        Kw::Lte => (BinaryOp::Le, 3),
        Kw::Add => (BinaryOp::Add, 4),
        Kw::Sub => (BinaryOp::Sub, 4),
        Kw::Mul => (BinaryOp::Mul, 5),
        Kw::Div => (BinaryOp::Div, 5),
        Kw::Mod => (BinaryOp::Mod, 5),
        Kw::Pow => (BinaryOp::Pow, 6),
        _ => return None,
    };
    Some(op)
}

pub(super) fn range_op(kw: Kw) -> Option<RangeOp> {
    Some(match kw {
        Kw::CountOverTime => RangeOp::CountOverTime,
        Kw::Rate => RangeOp::Rate,
        Kw::RateCounter => RangeOp::RateCounter,
        Kw::BytesOverTime => RangeOp::BytesOverTime,
        Kw::BytesRate => RangeOp::BytesRate,
        Kw::AvgOverTime => RangeOp::AvgOverTime,
        Kw::SumOverTime => RangeOp::SumOverTime,
        Kw::MinOverTime => RangeOp::MinOverTime,
        Kw::MaxOverTime => RangeOp::MaxOverTime,
        Kw::StdvarOverTime => RangeOp::StdvarOverTime,
        Kw::StddevOverTime => RangeOp::StddevOverTime,
        Kw::QuantileOverTime => RangeOp::QuantileOverTime,
        Kw::FirstOverTime => RangeOp::FirstOverTime,
        Kw::LastOverTime => RangeOp::LastOverTime,
        Kw::AbsentOverTime => RangeOp::AbsentOverTime,
        _ => return None,
    })
}

fn vector_op(kw: Kw) -> Option<VectorOp> {
    Some(match kw {
        Kw::Sum => VectorOp::Sum,
        Kw::Avg => VectorOp::Avg,
        Kw::Min => VectorOp::Min,
        Kw::Max => VectorOp::Max,
        Kw::Count => VectorOp::Count,
        Kw::Stddev => VectorOp::Stddev,
        Kw::Stdvar => VectorOp::Stdvar,
        Kw::Topk => VectorOp::Topk,
        Kw::Bottomk => VectorOp::Bottomk,
        Kw::ApproxTopk => VectorOp::ApproxTopk,
        Kw::Sort => VectorOp::Sort,
        Kw::SortDesc => VectorOp::SortDesc,
        _ => return None,
    })
}

impl Parser {
    /// An expression whose binary operators bind at least as tightly as `min_prec`.
    pub(super) fn parse_binary(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        self.nested(|p| p.parse_binary_level(min_prec))
    }

    fn parse_binary_level(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.parse_operand()?;
        while let Some((op, prec)) = binary_op(self.peek()) {
            if prec < min_prec {
                break;
            }
            self.bump();
            let return_bool = self.eat(Kw::Bool);
            let matching = self.parse_vector_matching()?;
            let next_min = if op == BinaryOp::Pow { prec } else { prec + 1 };
            let rhs = self.parse_binary(next_min)?;
            lhs = Expr::Sample(SampleExpr::Binary(Box::new(BinaryExpr {
                op,
                lhs: sample_leg(lhs, op, "left")?,
                rhs: sample_leg(rhs, op, "right")?,
                return_bool,
                matching,
            })));
        }
        Ok(lhs)
    }

    fn parse_operand(&mut self) -> Result<Expr, ParseError> {
        let kw = match self.peek() {
            Tok::Kw(kw) => *kw,
            Tok::Number(_) => {
                return Ok(Expr::Sample(SampleExpr::Literal(
                    self.parse_signed_number()?,
                )))
            }
            _ => return Err(self.unexpected(&[])),
        };
        if let Some(op) = range_op(kw) {
            return Ok(Expr::Sample(self.parse_range_aggregation(op)?));
        }
        if let Some(op) = vector_op(kw) {
            return Ok(Expr::Sample(self.parse_vector_aggregation(op)?));
        }
        match kw {
            Kw::LBrace => Ok(Expr::Log(self.parse_log_expr()?)),
            Kw::LParen => {
                self.bump();
                let inner = self.parse_binary(0)?;
                self.expect(Kw::RParen)?;
                Ok(inner)
            }
            Kw::Add | Kw::Sub if matches!(self.peek2(), Tok::Number(_)) => Ok(Expr::Sample(
                SampleExpr::Literal(self.parse_signed_number()?),
            )),
            Kw::LabelReplace => self.parse_label_replace(),
            Kw::Vector => self.parse_vector_literal(),
            _ => Err(self.unexpected(&[])),
        }
    }

    /// A sample expression where the grammar allows only those (aggregation arguments).
    fn parse_sample_argument(&mut self) -> Result<SampleExpr, ParseError> {
        match self.parse_binary(0)? {
            Expr::Sample(sample) => Ok(sample),
            Expr::Log(_) => Err(self.unexpected(&[])),
        }
    }

    fn parse_range_aggregation(&mut self, op: RangeOp) -> Result<SampleExpr, ParseError> {
        self.bump();
        self.expect(Kw::LParen)?;
        let param = match (self.peek().clone(), self.peek2()) {
            (Tok::Number(text), Tok::Kw(Kw::Comma)) => {
                self.bump();
                self.bump();
                Some(parse_go_float(&text).map_err(|e| {
                    ParseError::semantic(format!("invalid parameter for operation {op}: {e}"))
                })?)
            }
            _ => None,
        };
        let range = self.parse_log_range()?;
        self.expect(Kw::RParen)?;
        let grouping = self.parse_grouping()?;
        Ok(SampleExpr::Range(RangeAggregation {
            op,
            range,
            param,
            grouping,
        }))
    }

    fn parse_vector_aggregation(&mut self, op: VectorOp) -> Result<SampleExpr, ParseError> {
        self.bump();
        let leading = self.parse_grouping()?;
        self.expect(Kw::LParen)?;
        let param =
            match (self.peek().clone(), self.peek2()) {
                (Tok::Number(text), Tok::Kw(Kw::Comma)) => {
                    self.bump();
                    self.bump();
                    Some(parse_go_float(&text).map_err(|_| {
                        ParseError::semantic(format!("invalid parameter {op}({text},"))
                    })?)
                }
                _ => None,
            };
        let expr = self.parse_sample_argument()?;
        self.expect(Kw::RParen)?;
        let grouping = match leading {
            Some(grouping) => Some(grouping),
            None => self.parse_grouping()?,
        };
        Ok(SampleExpr::Vector(VectorAggregation {
            op,
            expr: Box::new(expr),
            grouping,
            param,
        }))
    }

    fn parse_label_replace(&mut self) -> Result<Expr, ParseError> {
        self.bump();
        self.expect(Kw::LParen)?;
        let expr = self.parse_sample_argument()?;
        let mut args = Vec::with_capacity(4);
        for _ in 0..4 {
            self.expect(Kw::Comma)?;
            args.push(self.expect_string()?);
        }
        self.expect(Kw::RParen)?;
        let [dst, replacement, src, regex] = <[String; 4]>::try_from(args)
            .map_err(|_| ParseError::semantic("label_replace needs four strings"))?;
        Ok(Expr::Sample(SampleExpr::LabelReplace(Box::new(
            LabelReplace {
                expr,
                dst,
                replacement,
                src,
                regex,
            },
        ))))
    }

    /// `vector(n)`: the argument must be a plain number.
    fn parse_vector_literal(&mut self) -> Result<Expr, ParseError> {
        self.bump();
        self.expect(Kw::LParen)?;
        let Tok::Number(text) = self.peek().clone() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        self.bump();
        self.expect(Kw::RParen)?;
        let value = parse_go_float(&text).map_err(|e| {
            ParseError::semantic(format!("unable to parse vectorExpr as a float: {e}"))
        })?;
        Ok(Expr::Sample(SampleExpr::VectorLiteral(value)))
    }

    /// `by (a, b)` / `without (a)`, or nothing.
    fn parse_grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let without = match self.peek() {
            Tok::Kw(Kw::By) => false,
            Tok::Kw(Kw::Without) => true,
            _ => return Ok(None),
        };
        self.bump();
        let labels = self.parse_label_list()?;
        Ok(Some(Grouping { without, labels }))
    }

    /// `(a, b)`, possibly empty.
    fn parse_label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Kw::LParen)?;
        let mut labels = Vec::new();
        if self.eat(Kw::RParen) {
            return Ok(labels);
        }
        loop {
            labels.push(self.expect_ident()?);
            if self.eat(Kw::RParen) {
                return Ok(labels);
            }
            if !self.eat(Kw::Comma) {
                return Err(self.unexpected(&[",", ")"]));
            }
        }
    }

    /// `on (…)` / `ignoring (…)` with an optional `group_left (…)` / `group_right (…)`.
    fn parse_vector_matching(&mut self) -> Result<Option<VectorMatching>, ParseError> {
        let on = match self.peek() {
            Tok::Kw(Kw::On) => true,
            Tok::Kw(Kw::Ignoring) => false,
            _ => return Ok(None),
        };
        self.bump();
        let labels = self.parse_label_list()?;
        let left = match self.peek() {
            Tok::Kw(Kw::GroupLeft) => true,
            Tok::Kw(Kw::GroupRight) => false,
            _ => {
                return Ok(Some(VectorMatching {
                    on,
                    labels,
                    group: None,
                }))
            }
        };
        self.bump();
        let include = if self.at(Kw::LParen) {
            self.parse_label_list()?
        } else {
            Vec::new()
        };
        Ok(Some(VectorMatching {
            on,
            labels,
            group: Some(GroupModifier { left, include }),
        }))
    }
}

/// A binary operand must be a sample expression; Loki names the log expression's Go type.
fn sample_leg(expr: Expr, op: BinaryOp, side: &str) -> Result<SampleExpr, ParseError> {
    match expr {
        Expr::Sample(sample) => Ok(sample),
        Expr::Log(LogExpr { pipeline, .. }) => {
            let go_type = if pipeline.is_empty() {
                "*syntax.MatchersExpr"
            } else {
                "*syntax.PipelineExpr"
            };
            Err(ParseError::semantic(format!(
                "unexpected type for {side} leg of binary operation ({op}): {go_type}"
            )))
        }
    }
}
