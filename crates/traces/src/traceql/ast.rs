//! The TraceQL syntax tree and its canonical printer.
//!
//! Parentheses are not nodes: the printer adds them wherever an operand is itself an
//! operation, so `parse(q.to_string()) == q` for every tree the parser builds.

mod display;

/// A parsed query: the expression and its `with(...)` hints.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceqlQuery {
    /// The expression.
    pub expr: RootExpr,
    /// Query hints from a trailing `with(name=value, ...)`.
    pub hints: Vec<Hint>,
}

/// One `with(...)` hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    /// The hint's name, e.g. `sample`.
    pub name: String,
    /// Its value.
    pub value: Static,
}

/// The three shapes a query can have.
#[derive(Debug, Clone, PartialEq)]
pub enum RootExpr {
    /// Spanset filters and their pipeline stages: `{ .a = 1 } | count() > 2`.
    Pipeline(Pipeline),
    /// A comparison of wrapped scalar pipelines: `({ } | count()) > ({ } | count())`.
    ScalarFilter(ScalarFilter),
    /// TraceQL metrics: `{ } | rate() by (name)`.
    Metrics(MetricsExpr),
}

/// Stages separated by `|`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// At least one stage.
    pub stages: Vec<Stage>,
}

/// One stage of a spanset pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Spanset filters combined with spanset operators.
    Spanset(SpansetExpr),
    /// `count() > 2`.
    ScalarFilter(ScalarFilter),
    /// `by(expr)`.
    By(FieldExpr),
    /// `select(a, b)`.
    Select(Vec<FieldExpr>),
    /// `coalesce()`.
    Coalesce,
}

/// Spanset filters and operations between spansets.
#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    /// `{ expr }` (`{ }` is `{ true }`).
    Filter(FieldExpr),
    /// `lhs op rhs`.
    Op {
        /// The operator.
        op: SpansetOp,
        /// Left operand.
        lhs: Box<SpansetExpr>,
        /// Right operand.
        rhs: Box<SpansetExpr>,
    },
    /// A parenthesised pipeline used as an operand: `({ } | count() > 1) >> { }`.
    Pipeline(Pipeline),
}

/// Operators between spansets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SpansetOp {
    And,
    Union,
    Child,
    Parent,
    Descendant,
    Ancestor,
    Sibling,
    NotChild,
    NotParent,
    NotDescendant,
    NotAncestor,
    NotSibling,
    UnionChild,
    UnionParent,
    UnionDescendant,
    UnionAncestor,
    UnionSibling,
}

impl SpansetOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        use SpansetOp::*;
        match self {
            And => "&&",
            Union => "||",
            Child => ">",
            Parent => "<",
            Descendant => ">>",
            Ancestor => "<<",
            Sibling => "~",
            NotChild => "!>",
            NotParent => "!<",
            NotDescendant => "!>>",
            NotAncestor => "!<<",
            NotSibling => "!~",
            UnionChild => "&>",
            UnionParent => "&<",
            UnionDescendant => "&>>",
            UnionAncestor => "&<<",
            UnionSibling => "&~",
        }
    }
}

/// Comparison operators of scalar filters and metrics filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum CmpOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Neq => "!=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
        }
    }
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl ArithOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
            ArithOp::Pow => "^",
        }
    }
}

/// `lhs op rhs` between aggregates and numbers, e.g. `count() > 2`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarFilter {
    /// The comparison.
    pub op: CmpOp,
    /// Left side.
    pub lhs: ScalarExpr,
    /// Right side.
    pub rhs: ScalarExpr,
}

/// A number-valued expression over a spanset.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarExpr {
    /// An int, float or duration (possibly negative).
    Static(Static),
    /// `count()`, `max(duration)`, ...
    Aggregate(Aggregate),
    /// `lhs op rhs`.
    Op {
        /// The operator.
        op: ArithOp,
        /// Left operand.
        lhs: Box<ScalarExpr>,
        /// Right operand.
        rhs: Box<ScalarExpr>,
    },
    /// A wrapped scalar pipeline: `({ } | count())`.
    Pipeline {
        /// The spanset pipeline.
        pipeline: Pipeline,
        /// Its final aggregate.
        aggregate: Aggregate,
    },
}

/// An aggregate over a spanset.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Which one.
    pub kind: AggregateKind,
    /// The aggregated expression (`None` for `count()`).
    pub field: Option<FieldExpr>,
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AggregateKind {
    Count,
    Avg,
    Max,
    Min,
    Sum,
}

impl AggregateKind {
    /// The function name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateKind::Count => "count",
            AggregateKind::Avg => "avg",
            AggregateKind::Max => "max",
            AggregateKind::Min => "min",
            AggregateKind::Sum => "sum",
        }
    }
}

/// A TraceQL metrics expression.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsExpr {
    /// `pipeline | rate() by (...)`.
    Pipeline {
        /// The spanset pipeline feeding the aggregation.
        pipeline: Pipeline,
        /// The metrics aggregation.
        aggregate: MetricsAggregate,
    },
    /// Arithmetic between series (or a series and a constant).
    Op {
        /// `+`, `-`, `*` or `/`.
        op: ArithOp,
        /// Left operand.
        lhs: Box<MetricsExpr>,
        /// Right operand.
        rhs: Box<MetricsExpr>,
    },
    /// A constant operand of arithmetic (statics and arithmetic, no durations).
    Constant(ScalarExpr),
    /// `expr > value`: keeps the samples satisfying the comparison.
    Filter {
        /// The filtered series.
        expr: Box<MetricsExpr>,
        /// The comparison.
        op: CmpOp,
        /// A constant (a number expression or one duration).
        value: ScalarExpr,
    },
    /// `expr | topk(n)`.
    SecondStage {
        /// The input series.
        expr: Box<MetricsExpr>,
        /// The function.
        stage: SecondStage,
    },
}

/// Second-stage metrics functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondStage {
    /// The `n` series with the largest values.
    TopK(u32),
    /// The `n` series with the smallest values.
    BottomK(u32),
}

/// A metrics aggregation and its grouping.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsAggregate {
    /// The function and its arguments.
    pub function: MetricsFunction,
    /// `by (a, b)`.
    pub by: Vec<FieldExpr>,
}

/// Metrics functions.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum MetricsFunction {
    Rate,
    CountOverTime,
    MinOverTime(FieldExpr),
    MaxOverTime(FieldExpr),
    AvgOverTime(FieldExpr),
    SumOverTime(FieldExpr),
    QuantileOverTime(FieldExpr, Vec<f64>),
    HistogramOverTime(FieldExpr),
    /// `compare({ filter }, topN?, start?, end?)`.
    Compare(SpansetExpr, Vec<i64>),
}

/// Expressions inside a spanset filter.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    /// A literal.
    Static(Static),
    /// An attribute or intrinsic.
    Attribute(Attribute),
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<FieldExpr>,
        /// Right operand.
        rhs: Box<FieldExpr>,
    },
    /// `-x` or `!x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<FieldExpr>,
    },
}

/// Binary operators of field expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinaryOp {
    Arith(ArithOp),
    Cmp(CmpOp),
    Regex,
    NotRegex,
    And,
    Or,
}

impl BinaryOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Arith(op) => op.as_str(),
            BinaryOp::Cmp(op) => op.as_str(),
            BinaryOp::Regex => "=~",
            BinaryOp::NotRegex => "!~",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `!x`.
    Not,
}

/// Literals.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Static {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Nanoseconds.
    Duration(i64),
    Status(SpanStatus),
    Kind(SpanKind),
}

/// Span status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SpanStatus {
    Error,
    Ok,
    Unset,
}

/// Span kind values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// An attribute (`span.a`, `.a`) or an intrinsic (`duration`, `span:id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// A user attribute.
    Named {
        /// The scope (`.` is [`AttributeScope::None`]).
        scope: AttributeScope,
        /// `parent.` prefix.
        parent: bool,
        /// The name, unquoted.
        name: String,
    },
    /// An intrinsic field.
    Intrinsic(Intrinsic),
}

/// Attribute scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AttributeScope {
    None,
    Span,
    Resource,
    Event,
    Link,
    Instrumentation,
}

/// Intrinsic fields, each with its canonical spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Intrinsic {
    Duration,
    ChildCount,
    Name,
    Status,
    StatusMessage,
    Kind,
    Parent,
    RootName,
    RootServiceName,
    TraceDuration,
    NestedSetLeft,
    NestedSetRight,
    NestedSetParent,
    SpanDuration,
    SpanChildCount,
    SpanName,
    SpanStatus,
    SpanStatusMessage,
    SpanKind,
    SpanId,
    SpanParentId,
    TraceScopedDuration,
    TraceScopedRootName,
    TraceScopedRootService,
    TraceId,
    EventName,
    EventTimeSinceStart,
    LinkTraceId,
    LinkSpanId,
    InstrumentationName,
    InstrumentationVersion,
}

/// Every intrinsic and its text, the single source for the lexer and the printer.
pub(crate) const INTRINSICS: &[(&str, Intrinsic)] = &[
    ("duration", Intrinsic::Duration),
    ("childCount", Intrinsic::ChildCount),
    ("name", Intrinsic::Name),
    ("status", Intrinsic::Status),
    ("statusMessage", Intrinsic::StatusMessage),
    ("kind", Intrinsic::Kind),
    ("parent", Intrinsic::Parent),
    ("rootName", Intrinsic::RootName),
    ("rootServiceName", Intrinsic::RootServiceName),
    ("traceDuration", Intrinsic::TraceDuration),
    ("nestedSetLeft", Intrinsic::NestedSetLeft),
    ("nestedSetRight", Intrinsic::NestedSetRight),
    ("nestedSetParent", Intrinsic::NestedSetParent),
    ("span:duration", Intrinsic::SpanDuration),
    ("span:childCount", Intrinsic::SpanChildCount),
    ("span:name", Intrinsic::SpanName),
    ("span:status", Intrinsic::SpanStatus),
    ("span:statusMessage", Intrinsic::SpanStatusMessage),
    ("span:kind", Intrinsic::SpanKind),
    ("span:id", Intrinsic::SpanId),
    ("span:parentID", Intrinsic::SpanParentId),
    ("trace:duration", Intrinsic::TraceScopedDuration),
    ("trace:rootName", Intrinsic::TraceScopedRootName),
    ("trace:rootService", Intrinsic::TraceScopedRootService),
    ("trace:id", Intrinsic::TraceId),
    ("event:name", Intrinsic::EventName),
    ("event:timeSinceStart", Intrinsic::EventTimeSinceStart),
    ("link:traceID", Intrinsic::LinkTraceId),
    ("link:spanID", Intrinsic::LinkSpanId),
    ("instrumentation:name", Intrinsic::InstrumentationName),
    ("instrumentation:version", Intrinsic::InstrumentationVersion),
];

impl Intrinsic {
    /// The canonical text.
    pub fn as_str(self) -> &'static str {
        INTRINSICS
            .iter()
            .find(|(_, i)| *i == self)
            .map_or("", |(s, _)| s)
    }
}

/// Characters allowed in an unquoted attribute name (Tempo's `isAttributeRune`).
pub(crate) fn is_attribute_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ',' | '"'
        )
}
