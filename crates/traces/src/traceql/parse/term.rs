//! The query level of the grammar: pipelines, spanset operators, scalar filters and metrics.

use super::{Parser, Result};
use crate::traceql::ast::{
    ArithOp, CmpOp, MetricsExpr, Pipeline, ScalarExpr, ScalarFilter, SecondStage, SpansetExpr,
    SpansetOp, Stage, Static,
};
use crate::traceql::lex::Tok;

/// A parsed operand, typed so that operators can reject what Tempo's grammar rejects.
pub(super) enum Term {
    /// Spanset filters and operations, or a parenthesised pipeline.
    Spanset(SpansetExpr),
    /// An unparenthesised pipeline.
    Pipeline(Pipeline),
    /// `by(...)`, `select(...)` or `coalesce()` on its own.
    Stage(Stage),
    /// Aggregates, numbers and arithmetic between them.
    Scalar(ScalarExpr),
    /// `scalar op scalar`.
    ScalarFilter(ScalarFilter),
    /// An unparenthesised `pipeline | aggregate` (only valid inside parentheses).
    ScalarPipeline(Pipeline, crate::traceql::ast::Aggregate),
    /// TraceQL metrics.
    Metrics(MetricsExpr),
}

const STRUCTURAL: &[(&str, SpansetOp)] = &[
    (">", SpansetOp::Child),
    ("<", SpansetOp::Parent),
    (">>", SpansetOp::Descendant),
    ("<<", SpansetOp::Ancestor),
    ("~", SpansetOp::Sibling),
    ("!>", SpansetOp::NotChild),
    ("!<", SpansetOp::NotParent),
    ("!>>", SpansetOp::NotDescendant),
    ("!<<", SpansetOp::NotAncestor),
    ("!~", SpansetOp::NotSibling),
    ("&>", SpansetOp::UnionChild),
    ("&<", SpansetOp::UnionParent),
    ("&>>", SpansetOp::UnionDescendant),
    ("&<<", SpansetOp::UnionAncestor),
    ("&~", SpansetOp::UnionSibling),
];

pub(super) const COMPARISONS: &[(&str, CmpOp)] = &[
    ("=", CmpOp::Eq),
    ("!=", CmpOp::Neq),
    ("<", CmpOp::Lt),
    ("<=", CmpOp::Lte),
    (">", CmpOp::Gt),
    (">=", CmpOp::Gte),
];

fn lookup<T: Copy>(table: &[(&str, T)], tok: &Tok) -> Option<T> {
    match tok {
        Tok::Op(o) => table.iter().find(|(s, _)| s == o).map(|(_, v)| *v),
        _ => None,
    }
}

/// Whether a scalar filter compares wrapped scalar pipelines (`({ } | count()) > 1`).
pub(super) fn is_pipeline_comparison(f: &ScalarFilter) -> bool {
    has_pipeline(&f.lhs) || has_pipeline(&f.rhs)
}

fn has_pipeline(e: &ScalarExpr) -> bool {
    match e {
        ScalarExpr::Pipeline { .. } => true,
        ScalarExpr::Op { lhs, rhs, .. } => has_pipeline(lhs) || has_pipeline(rhs),
        _ => false,
    }
}

fn only_pipelines(e: &ScalarExpr) -> bool {
    match e {
        ScalarExpr::Pipeline { .. } => true,
        ScalarExpr::Op { lhs, rhs, .. } => only_pipelines(lhs) && only_pipelines(rhs),
        _ => false,
    }
}

fn has_aggregate(e: &ScalarExpr) -> bool {
    match e {
        ScalarExpr::Aggregate(_) | ScalarExpr::Pipeline { .. } => true,
        ScalarExpr::Op { lhs, rhs, .. } => has_aggregate(lhs) || has_aggregate(rhs),
        ScalarExpr::Static(_) => false,
    }
}

fn has_duration(e: &ScalarExpr) -> bool {
    match e {
        ScalarExpr::Static(Static::Duration(_)) => true,
        ScalarExpr::Op { lhs, rhs, .. } => has_duration(lhs) || has_duration(rhs),
        _ => false,
    }
}

impl Parser<'_> {
    /// `term (| stage)*`.
    pub(super) fn pipe(&mut self) -> Result<Term> {
        let mut lhs = self.or()?;
        while self.eat_op("|") {
            lhs = match lhs {
                Term::Metrics(m) => Term::Metrics(self.second_stage(m)?),
                other => self.pipe_stage(other)?,
            };
        }
        Ok(lhs)
    }

    fn pipe_stage(&mut self, lhs: Term) -> Result<Term> {
        let mut pipeline = self.pipeline_from(lhs)?;
        if let Tok::Ident(name) = self.peek() {
            if super::field::is_metrics_function(name) {
                let aggregate = self.metrics_aggregate()?;
                let m = MetricsExpr::Pipeline {
                    pipeline,
                    aggregate,
                };
                return Ok(Term::Metrics(self.metrics_filter(m)?));
            }
        }
        let pos = self.pos();
        let stage = match self.or()? {
            Term::Spanset(s) => Stage::Spanset(s),
            Term::Stage(s) => s,
            Term::ScalarFilter(f) if !is_pipeline_comparison(&f) => Stage::ScalarFilter(f),
            Term::Scalar(ScalarExpr::Aggregate(a)) => return Ok(Term::ScalarPipeline(pipeline, a)),
            _ => return Err(self.error(pos, "syntax error: unexpected pipeline stage")),
        };
        pipeline.stages.push(stage);
        Ok(Term::Pipeline(pipeline))
    }

    /// `| topk(n)` or `| bottomk(n)`, with an optional comparison.
    fn second_stage(&mut self, expr: MetricsExpr) -> Result<MetricsExpr> {
        let topk = match self.peek() {
            Tok::Ident(w) if w == "topk" => true,
            Tok::Ident(w) if w == "bottomk" => false,
            _ => return Err(self.unexpected()),
        };
        self.advance();
        self.expect_op("(")?;
        let Tok::Int(n) = *self.peek() else {
            return Err(self.unexpected());
        };
        let n = u32::try_from(n)
            .map_err(|_| self.error(self.pos(), "topk/bottomk limit out of range"))?;
        self.advance();
        self.expect_op(")")?;
        let stage = if topk {
            SecondStage::TopK(n)
        } else {
            SecondStage::BottomK(n)
        };
        let expr = MetricsExpr::SecondStage {
            expr: Box::new(expr),
            stage,
        };
        self.metrics_filter(expr)
    }

    /// An optional `op value` after a metrics expression.
    fn metrics_filter(&mut self, expr: MetricsExpr) -> Result<MetricsExpr> {
        let Some(op) = lookup(COMPARISONS, self.peek()) else {
            return Ok(expr);
        };
        self.advance();
        let value = self.metrics_value()?;
        Ok(MetricsExpr::Filter {
            expr: Box::new(expr),
            op,
            value,
        })
    }

    /// The right side of a metrics comparison: a number expression or one duration.
    fn metrics_value(&mut self) -> Result<ScalarExpr> {
        let pos = self.pos();
        match self.add()? {
            Term::Scalar(s @ ScalarExpr::Static(_)) => Ok(s),
            Term::Scalar(s) if !has_aggregate(&s) && !has_duration(&s) => Ok(s),
            _ => Err(self.error(pos, "syntax error: expected a number")),
        }
    }

    /// `&&` and `||` between spansets (same precedence, left to right).
    fn or(&mut self) -> Result<Term> {
        let mut lhs = self.cmp()?;
        loop {
            let op = match self.peek() {
                Tok::Op("&&") => SpansetOp::And,
                Tok::Op("||") => SpansetOp::Union,
                _ => return Ok(lhs),
            };
            let pos = self.pos();
            self.count_operator(pos)?;
            self.advance();
            let rhs = self.cmp()?;
            lhs = self.spanset_op(op, lhs, rhs, pos)?;
        }
    }

    fn spanset_op(&self, op: SpansetOp, lhs: Term, rhs: Term, pos: usize) -> Result<Term> {
        match (lhs, rhs) {
            (Term::Spanset(l), Term::Spanset(r)) => Ok(Term::Spanset(SpansetExpr::Op {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            })),
            _ => Err(self.error(pos, format!("syntax error: unexpected {}", op.as_str()))),
        }
    }

    /// Comparisons and structural operators; the left operand's type picks the meaning.
    fn cmp(&mut self) -> Result<Term> {
        let mut lhs = self.add()?;
        loop {
            let pos = self.pos();
            let tok = self.peek().clone();
            lhs = match lhs {
                Term::Spanset(l) => match lookup(STRUCTURAL, &tok) {
                    Some(op) => {
                        self.count_operator(pos)?;
                        self.advance();
                        let rhs = self.add()?;
                        self.spanset_op(op, Term::Spanset(l), rhs, pos)?
                    }
                    None => return Ok(Term::Spanset(l)),
                },
                Term::Scalar(l) => match lookup(COMPARISONS, &tok) {
                    Some(op) => {
                        self.advance();
                        let rhs = self.add()?;
                        self.scalar_filter(op, l, rhs, pos)?
                    }
                    None => return Ok(Term::Scalar(l)),
                },
                Term::Metrics(l) if lookup(COMPARISONS, &tok).is_some() => {
                    Term::Metrics(self.metrics_filter(l)?)
                }
                other => return Ok(other),
            };
        }
    }

    fn scalar_filter(&self, op: CmpOp, lhs: ScalarExpr, rhs: Term, pos: usize) -> Result<Term> {
        let Term::Scalar(rhs) = rhs else {
            return Err(self.error(pos, format!("syntax error: unexpected {}", op.as_str())));
        };
        let shape_ok = if has_pipeline(&lhs) || has_pipeline(&rhs) {
            only_pipelines(&lhs) && (only_pipelines(&rhs) || matches!(rhs, ScalarExpr::Static(_)))
        } else {
            has_aggregate(&lhs) || has_aggregate(&rhs)
        };
        if !shape_ok {
            return Err(self.error(
                pos,
                "syntax error: a scalar filter compares an aggregate with a number",
            ));
        }
        Ok(Term::ScalarFilter(ScalarFilter { op, lhs, rhs }))
    }

    fn add(&mut self) -> Result<Term> {
        let mut lhs = self.mul()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => ArithOp::Add,
                Tok::Op("-") => ArithOp::Sub,
                _ => return Ok(lhs),
            };
            let pos = self.pos();
            self.advance();
            let rhs = self.mul()?;
            lhs = self.arith(op, lhs, rhs, pos)?;
        }
    }

    fn mul(&mut self) -> Result<Term> {
        let mut lhs = self.pow()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => ArithOp::Mul,
                Tok::Op("/") => ArithOp::Div,
                Tok::Op("%") => ArithOp::Mod,
                _ => return Ok(lhs),
            };
            let pos = self.pos();
            self.advance();
            let rhs = self.pow()?;
            lhs = self.arith(op, lhs, rhs, pos)?;
        }
    }

    fn pow(&mut self) -> Result<Term> {
        let lhs = self.unary()?;
        if !self.peek_op("^") {
            return Ok(lhs);
        }
        let pos = self.pos();
        self.advance();
        self.enter()?;
        let rhs = self.pow();
        self.leave();
        self.arith(ArithOp::Pow, lhs, rhs?, pos)
    }

    /// Arithmetic between scalars, or between series and constants.
    fn arith(&mut self, op: ArithOp, lhs: Term, rhs: Term, pos: usize) -> Result<Term> {
        self.count_operator(pos)?;
        let bad = || self.error(pos, format!("syntax error: unexpected {}", op.as_str()));
        let metrics_op = matches!(
            op,
            ArithOp::Add | ArithOp::Sub | ArithOp::Mul | ArithOp::Div
        );
        let operand = |t: Term| match t {
            Term::Metrics(m) => Some(m),
            Term::Scalar(s) if !has_aggregate(&s) && !has_duration(&s) => {
                Some(MetricsExpr::Constant(s))
            }
            _ => None,
        };
        match (lhs, rhs) {
            (Term::Scalar(l), Term::Scalar(r)) => Ok(Term::Scalar(ScalarExpr::Op {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            })),
            (l, r)
                if metrics_op
                    && (matches!(l, Term::Metrics(_)) || matches!(r, Term::Metrics(_))) =>
            {
                match (operand(l), operand(r)) {
                    (Some(l), Some(r)) => Ok(Term::Metrics(MetricsExpr::Op {
                        op,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                    })),
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }

    /// A negative number literal, or a primary.
    fn unary(&mut self) -> Result<Term> {
        if self.peek_op("-") {
            let value = match self.peek_at(1) {
                Tok::Int(i) => Static::Int(-i),
                Tok::Float(x) => Static::Float(-x),
                Tok::Duration(d) => Static::Duration(-d),
                _ => return Err(self.unexpected()),
            };
            self.i += 2;
            return Ok(Term::Scalar(ScalarExpr::Static(value)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Term> {
        let tok = self.peek().clone();
        let static_value = match tok {
            Tok::Op("{") => return Ok(Term::Spanset(self.spanset_filter()?)),
            Tok::Op("(") => return self.parenthesised(),
            Tok::Ident(name) if matches!(self.peek_at(1), Tok::Op("(")) => return self.call(&name),
            Tok::Int(i) => Static::Int(i),
            Tok::Float(x) => Static::Float(x),
            Tok::Duration(d) => Static::Duration(d),
            _ => return Err(self.unexpected()),
        };
        self.advance();
        Ok(Term::Scalar(ScalarExpr::Static(static_value)))
    }

    fn parenthesised(&mut self) -> Result<Term> {
        self.enter()?;
        self.advance();
        let inner = self.pipe();
        self.leave();
        let inner = inner?;
        self.expect_op(")")?;
        let wrapped = |p: Pipeline| Term::Spanset(SpansetExpr::Pipeline(p));
        Ok(match inner {
            Term::Pipeline(p) => wrapped(p),
            Term::ScalarPipeline(pipeline, aggregate) => Term::Scalar(ScalarExpr::Pipeline {
                pipeline,
                aggregate,
            }),
            Term::Stage(_) => wrapped(self.pipeline_from(inner)?),
            Term::ScalarFilter(f) if !is_pipeline_comparison(&f) => {
                wrapped(self.pipeline_from(Term::ScalarFilter(f))?)
            }
            Term::ScalarFilter(_) => return Err(self.unexpected()),
            other => other,
        })
    }
}
