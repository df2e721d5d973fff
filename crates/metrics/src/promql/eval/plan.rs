//! The evaluator's own form of the AST: parentheses gone, `@ start()`/`@ end()` resolved to
//! timestamps, offsets and ranges in milliseconds, step-invariant subtrees marked (as
//! Prometheus's `PreprocessExpr` does), and every selector numbered so that its series are
//! fetched once for the whole query.

use std::time::{Duration, SystemTime};

use promql_parser::label::{MatchOp as ParserMatchOp, Matcher as ParserMatcher};
use promql_parser::parser::token::TokenType;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, BinModifier, Expr, LabelModifier, Offset, VectorSelector};
use sextant_model::{MatchOp, Matcher, METRIC_NAME};

use super::downsample::downsample_hint;
use crate::downsample::DownsampleHint;
use crate::promql::parse::{self, SelectorModifier};
use crate::promql::value::{EvalError, Series};

/// Functions whose result depends on the evaluation time even when their arguments do not
/// (Prometheus's `AtModifierUnsafeFunctions`).
const AT_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// One expression node.
#[derive(Debug)]
pub(crate) enum Node {
    Number(f64),
    Str(String),
    Neg(Box<Node>),
    /// An instant vector selector; the index into [`Plan::selectors`].
    Vector(usize),
    /// A range vector selector.
    Matrix {
        sel: usize,
        range_ms: i64,
    },
    Subquery(Box<Subquery>),
    Call(Call),
    Binary(Box<Binary>),
    Aggregate(Box<Aggregate>),
    /// Evaluated once at the start of the range and repeated for every step.
    StepInvariant(Box<Node>),
}

#[derive(Debug)]
pub(crate) struct Subquery {
    pub expr: Node,
    pub range_ms: i64,
    pub step_ms: i64,
    pub offset_ms: i64,
    pub at: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub name: &'static str,
    pub args: Vec<Node>,
    pub return_type: ValueType,
}

#[derive(Debug)]
pub(crate) struct Binary {
    pub op: TokenType,
    pub lhs: Node,
    pub rhs: Node,
    pub modifier: Option<BinModifier>,
}

#[derive(Debug)]
pub(crate) struct Aggregate {
    pub op: TokenType,
    pub expr: Node,
    pub param: Option<Node>,
    pub modifier: Option<LabelModifier>,
}

/// A selector and, once fetched, its series.
#[derive(Debug)]
pub(crate) struct Selector {
    /// Alternatives (`{a="1" or b="2"}`); a series matching any group is selected.
    pub matcher_groups: Vec<Vec<Matcher>>,
    pub offset_ms: i64,
    pub at: Option<i64>,
    pub modifier: SelectorModifier,
    /// The time range to fetch, inclusive.
    pub hull: (i64, i64),
    /// False for selectors that only carry matchers (the second argument of `info`).
    pub fetch: bool,
    /// The downsampled aggregate to read instead of raw samples (see `super::downsample`).
    pub downsample: Option<DownsampleHint>,
    pub series: Vec<Series>,
    /// With a counter hint: the same series' `count` aggregate (the sample counts `rate`
    /// extrapolates with), sorted by labels like `series`.
    pub counts: Vec<Series>,
}

impl Selector {
    /// The equality matchers that `absent()` turns into labels.
    pub fn matchers(&self) -> &[Matcher] {
        self.matcher_groups
            .first()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// A query ready to evaluate.
#[derive(Debug)]
pub(crate) struct Plan {
    pub root: Node,
    pub selectors: Vec<Selector>,
}

impl Node {
    pub fn value_type(&self) -> ValueType {
        match self {
            Node::Number(_) => ValueType::Scalar,
            Node::Str(_) => ValueType::String,
            Node::Neg(e) | Node::StepInvariant(e) => e.value_type(),
            Node::Vector(_) | Node::Aggregate(_) => ValueType::Vector,
            Node::Matrix { .. } | Node::Subquery(_) => ValueType::Matrix,
            Node::Call(c) => c.return_type,
            Node::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
        }
    }

    /// The node without step-invariance wrappers.
    pub fn unwrapped(&self) -> &Node {
        match self {
            Node::StepInvariant(e) => e.unwrapped(),
            other => other,
        }
    }
}

/// The times of the enclosing query, used to resolve `@ start()`/`@ end()` and selector hulls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryTimes {
    pub start: i64,
    pub end: i64,
    /// The query's step; 0 for an instant query.
    pub step: i64,
    /// The coarsest downsampled resolution selectors may read (0: raw only).
    pub max_source_resolution: i64,
    pub lookback: i64,
    pub default_subquery_step: i64,
}

/// Subqueries between the root and the node being converted (Prometheus's `subqueryTimes`).
#[derive(Debug, Clone, Copy, Default)]
struct SubqueryPath {
    offset: i64,
    range: i64,
    at: Option<i64>,
    /// Inside a subquery, whose steps are its own.
    in_subquery: bool,
}

/// Converts a parsed expression into a [`Plan`] for the given query times.
pub(crate) fn plan(expr: Expr, times: QueryTimes) -> Result<Plan, EvalError> {
    let mut builder = Builder {
        times,
        selectors: Vec::new(),
    };
    let root = builder.convert(expr, SubqueryPath::default())?;
    let root = wrap_step_invariant(root, &builder.selectors);
    Ok(Plan {
        root,
        selectors: builder.selectors,
    })
}

struct Builder {
    times: QueryTimes,
    selectors: Vec<Selector>,
}

impl Builder {
    fn convert(&mut self, expr: Expr, path: SubqueryPath) -> Result<Node, EvalError> {
        Ok(match expr {
            Expr::NumberLiteral(n) => Node::Number(n.val),
            Expr::StringLiteral(s) => Node::Str(s.val),
            Expr::Paren(p) => self.convert(*p.expr, path)?,
            Expr::Unary(u) => Node::Neg(Box::new(self.convert(*u.expr, path)?)),
            Expr::VectorSelector(vs) => Node::Vector(self.selector(vs, path, 0)?),
            Expr::MatrixSelector(ms) => {
                let range = duration_ms(ms.range);
                Node::Matrix {
                    sel: self.selector(ms.vs, path, range)?,
                    range_ms: range,
                }
            }
            Expr::Subquery(sq) => self.subquery(sq, path)?,
            Expr::Call(call) => {
                let mut args = Vec::with_capacity(call.args.args.len());
                for arg in call.args.args {
                    args.push(self.convert(*arg, path)?);
                }
                if call.func.name == "info" {
                    if let Some(Node::Vector(i)) = args.get(1) {
                        self.selectors[*i].fetch = false;
                    }
                }
                self.plan_downsample(call.func.name, &args, path);
                Node::Call(Call {
                    name: call.func.name,
                    args,
                    return_type: call.func.return_type,
                })
            }
            Expr::Binary(b) => Node::Binary(Box::new(Binary {
                op: b.op,
                lhs: self.convert(*b.lhs, path)?,
                rhs: self.convert(*b.rhs, path)?,
                modifier: b.modifier,
            })),
            Expr::Aggregate(a) => Node::Aggregate(Box::new(Aggregate {
                op: a.op,
                expr: self.convert(*a.expr, path)?,
                param: match a.param {
                    Some(p) => Some(self.convert(*p, path)?),
                    None => None,
                },
                modifier: a.modifier,
            })),
            Expr::Extension(_) => {
                return Err(EvalError::Execution(
                    "unsupported expression extension".into(),
                ));
            }
        })
    }

    /// Gives the range selector a call reads directly the downsampled aggregate that answers
    /// like its raw samples, if any (never inside a subquery, whose steps are its own).
    fn plan_downsample(&mut self, function: &str, args: &[Node], path: SubqueryPath) {
        let Some(Node::Matrix { sel, range_ms }) = args.first() else {
            return;
        };
        if !path.in_subquery {
            let sel = &mut self.selectors[*sel];
            sel.downsample = downsample_hint(function, sel, *range_ms, &self.times);
        }
    }

    fn subquery(
        &mut self,
        sq: promql_parser::parser::SubqueryExpr,
        path: SubqueryPath,
    ) -> Result<Node, EvalError> {
        let range_ms = duration_ms(sq.range);
        let offset_ms = offset_ms(&sq.offset);
        let at = self.resolve_at(&sq.at)?;
        let step_ms = match sq.step {
            Some(step) if !step.is_zero() => duration_ms(step),
            _ => self.times.default_subquery_step,
        };
        if step_ms <= 0 {
            return Err(EvalError::Execution(
                "subquery step must be positive".into(),
            ));
        }
        let inner_path = match at {
            Some(ts) => SubqueryPath {
                offset: offset_ms,
                range: range_ms,
                at: Some(ts),
                in_subquery: true,
            },
            None => SubqueryPath {
                offset: path.offset + offset_ms,
                range: path.range + range_ms,
                at: path.at,
                in_subquery: true,
            },
        };
        let expr = self.convert(*sq.expr, inner_path)?;
        Ok(Node::Subquery(Box::new(Subquery {
            expr,
            range_ms,
            step_ms,
            offset_ms,
            at,
        })))
    }

    fn selector(
        &mut self,
        mut vs: VectorSelector,
        path: SubqueryPath,
        range_ms: i64,
    ) -> Result<usize, EvalError> {
        let modifier = parse::take_modifier(&mut vs.matchers);
        let offset = offset_ms(&vs.offset);
        let at = self.resolve_at(&vs.at)?;
        let mut groups = Vec::new();
        let mut base = Vec::new();
        if let Some(name) = &vs.name {
            base.push(model_matcher(&ParserMatcher::new(
                ParserMatchOp::Equal,
                METRIC_NAME,
                name,
            ))?);
        }
        if vs.matchers.or_matchers.is_empty() {
            let mut group = base.clone();
            for m in &vs.matchers.matchers {
                group.push(model_matcher(m)?);
            }
            groups.push(group);
        } else {
            for alternative in &vs.matchers.or_matchers {
                let mut group = base.clone();
                for m in alternative {
                    group.push(model_matcher(m)?);
                }
                groups.push(group);
            }
        }
        let hull = self.hull(path, at, offset, range_ms, modifier);
        self.selectors.push(Selector {
            matcher_groups: groups,
            offset_ms: offset,
            at,
            modifier,
            hull,
            fetch: true,
            downsample: None,
            series: Vec::new(),
            counts: Vec::new(),
        });
        Ok(self.selectors.len() - 1)
    }

    /// Prometheus's `getTimeRangesForSelector`.
    fn hull(
        &self,
        path: SubqueryPath,
        at: Option<i64>,
        offset: i64,
        range_ms: i64,
        modifier: SelectorModifier,
    ) -> (i64, i64) {
        let (mut start, mut end) = match path.at {
            Some(ts) => (ts, ts),
            None => (self.times.start, self.times.end),
        };
        match at {
            Some(ts) => (start, end) = (ts, ts),
            None => {
                start -= path.offset + path.range;
                end -= path.offset;
            }
        }
        let lookback = self.times.lookback;
        if range_ms == 0 {
            start -= lookback - 1;
            if modifier == SelectorModifier::Smoothed {
                end += lookback;
            }
        } else {
            match modifier {
                SelectorModifier::Anchored => start -= lookback + range_ms - 1,
                SelectorModifier::Smoothed => {
                    start -= lookback + range_ms - 1;
                    end += lookback;
                }
                SelectorModifier::None => start -= range_ms - 1,
            }
        }
        (start - offset, end - offset)
    }

    fn resolve_at(&self, at: &Option<AtModifier>) -> Result<Option<i64>, EvalError> {
        Ok(match at {
            None => None,
            Some(AtModifier::Start) => Some(self.times.start),
            Some(AtModifier::End) => Some(self.times.end),
            Some(AtModifier::At(t)) => Some(system_time_ms(*t)),
        })
    }
}

fn model_matcher(m: &ParserMatcher) -> Result<Matcher, EvalError> {
    let op = match m.op {
        ParserMatchOp::Equal => MatchOp::Equal,
        ParserMatchOp::NotEqual => MatchOp::NotEqual,
        ParserMatchOp::Re(_) => MatchOp::RegexMatch,
        ParserMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
    };
    Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| EvalError::Parse(e.to_string()))
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => duration_ms(d),
        Err(e) => -duration_ms(e.duration()),
    }
}

/// Wraps the highest step-invariant subtrees (Prometheus's `preprocessExprHelper`).
fn wrap_step_invariant(node: Node, sels: &[Selector]) -> Node {
    let (invariant, wrap) = step_invariance(&node, sels);
    if invariant && wrap {
        return Node::StepInvariant(Box::new(wrap_children(node, sels)));
    }
    wrap_children(node, sels)
}

/// Wraps the step-invariant children of a node that is not itself wrapped.
fn wrap_children(node: Node, sels: &[Selector]) -> Node {
    match node {
        Node::Neg(e) => Node::Neg(Box::new(wrap_children(*e, sels))),
        Node::Binary(mut b) => {
            b.lhs = wrap_child(b.lhs, sels);
            b.rhs = wrap_child(b.rhs, sels);
            Node::Binary(b)
        }
        Node::Call(mut c) => {
            c.args = c.args.into_iter().map(|a| wrap_child(a, sels)).collect();
            Node::Call(c)
        }
        Node::Aggregate(mut a) => {
            a.expr = wrap_children(a.expr, sels);
            Node::Aggregate(a)
        }
        Node::Subquery(mut s) => {
            s.expr = wrap_step_invariant(s.expr, sels);
            Node::Subquery(s)
        }
        other => other,
    }
}

fn wrap_child(node: Node, sels: &[Selector]) -> Node {
    match node {
        // Range functions evaluate their windows with `@` themselves.
        Node::Matrix { .. } | Node::Subquery(_) => wrap_children(node, sels),
        other => wrap_step_invariant(other, sels),
    }
}

/// (whether the subtree is step invariant, whether wrapping it is worthwhile)
fn step_invariance(node: &Node, sels: &[Selector]) -> (bool, bool) {
    match node {
        Node::Number(_) | Node::Str(_) | Node::StepInvariant(_) => (true, false),
        Node::Vector(i) => {
            let at = sels[*i].at.is_some();
            (at, at)
        }
        Node::Matrix { sel, .. } => (sels[*sel].at.is_some(), false),
        Node::Neg(e) => step_invariance(e, sels),
        Node::Subquery(s) => (s.at.is_some(), s.at.is_some()),
        Node::Aggregate(a) => step_invariance(&a.expr, sels),
        Node::Binary(b) => {
            let (l, _) = step_invariance(&b.lhs, sels);
            let (r, _) = step_invariance(&b.rhs, sels);
            (l && r, l && r)
        }
        Node::Call(c) => {
            let mut invariant = !AT_UNSAFE_FUNCTIONS.contains(&c.name);
            for arg in &c.args {
                invariant &= step_invariance(arg, sels).0;
            }
            (invariant, invariant)
        }
    }
}
