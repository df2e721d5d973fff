//! The LogQL syntax tree, as the parser produces it and the evaluator consumes it.
//!
//! Names follow Loki's grammar (`pkg/logql/syntax`). Durations are milliseconds. Regexes are
//! kept as text here; whoever executes them compiles them (and reports a bad one).

use sextant_model::Matcher;

/// A whole query: either log lines or samples computed from them.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Log(LogExpr),
    Sample(SampleExpr),
}

/// `{app="foo"} |= "error" | json | level="warn"`: a stream selector and its pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub pipeline: Vec<Stage>,
}

/// One `|` stage of a log pipeline, in query order.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    LineFilter(LineFilter),
    Parser(Parser),
    LabelFilter(LabelFilter),
    /// `| line_format "{{.a}}"`: the template text (already unquoted).
    LineFormat(String),
    /// `| label_format a=b, c="{{.d}}"`.
    LabelFormat(Vec<LabelFormat>),
    /// `| drop a, b="v"`.
    Drop(Vec<LabelSelection>),
    /// `| keep a, b="v"`.
    Keep(Vec<LabelSelection>),
    /// `| decolorize`.
    Decolorize,
}

/// `|= "a" or "b"`: the line passes when it matches any alternative (for the negated
/// operators: when it matches none).
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    pub op: LineFilterOp,
    /// At least one; more than one only with `or`.
    pub values: Vec<LineFilterValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Regex,
    /// `!~`
    NotRegex,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFilterValue {
    /// A string literal (unquoted, escapes applied).
    Text(String),
    /// `ip("192.168.0.0/16")`: the argument.
    Ip(String),
}

/// `| json`, `| logfmt`, `| regexp "…"`, `| pattern "…"`, `| unpack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parser {
    /// Empty `extractions`: every field, flattened with `_`.
    Json {
        extractions: Vec<Extraction>,
    },
    Logfmt {
        strict: bool,
        keep_empty: bool,
        extractions: Vec<Extraction>,
    },
    Regexp(String),
    Pattern(String),
    Unpack,
}

/// `label="expression"` after `json`/`logfmt`; a bare `label` has `expr == label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    pub label: String,
    pub expr: String,
}

/// A label filter expression: `level="error" and (status >= 500 or latency > 1s)`.
/// A comma between filters means `and`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// `name = "v"`, `name != "v"`, `name =~ "re"`, `name !~ "re"`.
    String(Matcher),
    /// `name > 1.5`, `name == 200`.
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    /// `name > 250ms`: `value_ms` may be fractional (`1.5us`).
    Duration {
        name: String,
        op: CmpOp,
        value_ms: f64,
    },
    /// `name > 10KB`, in bytes.
    Bytes {
        name: String,
        op: CmpOp,
        value: u64,
    },
    /// `name = ip("10.0.0.0/8")` (`equal`) or `name != ip("…")`.
    Ip {
        name: String,
        equal: bool,
        pattern: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One item of `label_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFormat {
    /// `dst=src`: rename.
    Rename { dst: String, src: String },
    /// `dst="{{.src}} text"`: a template.
    Template { dst: String, template: String },
}

/// One item of `drop` / `keep`: a bare name, or a matcher on the label's value.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSelection {
    Name(String),
    Matcher(Matcher),
}

/// A query that yields samples.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleExpr {
    Range(RangeAggregation),
    Vector(VectorAggregation),
    Binary(Box<BinaryExpr>),
    /// A number literal: a scalar.
    Literal(f64),
    /// `vector(1)`.
    VectorLiteral(f64),
    LabelReplace(Box<LabelReplace>),
}

/// `rate({app="a"} |= "x" [5m] offset 1h)`, `quantile_over_time(0.99, {…} | unwrap d [1m]) by (a)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    pub op: RangeOp,
    pub range: LogRange,
    /// The quantile of `quantile_over_time`.
    pub param: Option<f64>,
    /// Only for the unwrapped operations, e.g. `max_over_time(…) by (a)`.
    pub grouping: Option<Grouping>,
}

/// A log expression over a range window: `{…} | … [5m] offset 1m`, with an optional unwrap.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    pub log: LogExpr,
    pub range_ms: i64,
    pub offset_ms: i64,
    pub unwrap: Option<Unwrap>,
}

/// `| unwrap bytes(size) | __error__=""`: the label whose value becomes the sample, and the
/// label filters that follow the unwrap.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    pub label: String,
    pub conversion: UnwrapConversion,
    pub post_filters: Vec<LabelFilter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConversion {
    /// A plain number.
    None,
    /// `bytes(label)`: "10KB" → 10000 … as Loki's humanize parsing.
    Bytes,
    /// `duration(label)` / `duration_seconds(label)`: a Go duration → seconds.
    Duration,
    DurationSeconds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    Rate,
    RateCounter,
    CountOverTime,
    BytesRate,
    BytesOverTime,
    AbsentOverTime,
    SumOverTime,
    AvgOverTime,
    MaxOverTime,
    MinOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
}

/// `by (a, b)` or `without (a)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

/// `sum by (a) (…)`, `topk(5, …)`, `sort(…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    pub op: VectorOp,
    pub expr: Box<SampleExpr>,
    pub grouping: Option<Grouping>,
    /// The k of `topk`/`bottomk`/`approx_topk`.
    pub param: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    ApproxTopk,
    Sort,
    SortDesc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: SampleExpr,
    pub rhs: SampleExpr,
    /// `> bool`.
    pub return_bool: bool,
    pub matching: Option<VectorMatching>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Unless,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// `on (a)` / `ignoring (a)`, optionally `group_left (b)` / `group_right (b)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    pub on: bool,
    pub labels: Vec<String>,
    pub group: Option<GroupModifier>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupModifier {
    pub left: bool,
    pub include: Vec<String>,
}

/// `label_replace(expr, "dst", "replacement", "src", "regex")`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelReplace {
    pub expr: SampleExpr,
    pub dst: String,
    pub replacement: String,
    pub src: String,
    pub regex: String,
}
