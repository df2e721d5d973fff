//! TraceQL: the syntax tree, a hand-written parser with Tempo's precedence and error texts,
//! semantic validation and a canonical printer.
//!
//! ```text
//! parse(query) -> TraceqlQuery       // syntax errors: TraceqlError::Parse
//! query.validate()                   // type errors: Invalid; valid but not implemented: Unsupported
//! query.to_string()                  // canonical TraceQL; parse(display(q)) == q
//! ```
//!
//! Precedence follows Tempo's grammar, loosest first: `|`; `&&` and `||` (one level, left to
//! right, so `{ .a || .b && .c }` is `{ (.a || .b) && .c }`); comparisons, regex and
//! structural operators; `+ -`; unary `! -`; `* / %`; `^` (right associative).
//!
//! Unsupported (valid syntax that Sextant, like Tempo, does not execute): the `parent`
//! intrinsic and `parent.` attributes, scalar filters other than `aggregate op constant`
//! (e.g. `min(.a) < max(.b)`, `count() + count() = 1`), and comparisons between wrapped
//! scalar pipelines (`({ } | count()) > ({ } | count())`).

mod ast;
pub mod eval;
mod lex;
mod parse;
mod validate;

pub use ast::{
    Aggregate, AggregateKind, ArithOp, Attribute, AttributeScope, BinaryOp, CmpOp, FieldExpr, Hint,
    Intrinsic, MetricsAggregate, MetricsExpr, MetricsFunction, Pipeline, RootExpr, ScalarExpr,
    ScalarFilter, SecondStage, SpanKind, SpanStatus, SpansetExpr, SpansetOp, Stage, Static,
    TraceqlQuery, UnaryOp,
};
pub use parse::parse;

/// Why a query was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceqlError {
    /// The text is not TraceQL.
    #[error("parse error at line {line}, col {col}: {message}")]
    Parse {
        /// 1-based line of the offending token.
        line: usize,
        /// 1-based column (in characters) of the offending token.
        col: usize,
        /// What is wrong, e.g. `syntax error: unexpected }`.
        message: String,
    },
    /// The query parses but is wrong (types of operands, a filter that is not boolean, ...).
    #[error("invalid TraceQL query: {0}")]
    Invalid(String),
    /// Valid TraceQL that is not implemented.
    #[error("unsupported TraceQL: {0}")]
    Unsupported(String),
}

impl TraceqlError {
    /// The error kind (and so the HTTP status) of this rejection.
    pub fn kind(&self) -> sextant_model::ErrorKind {
        sextant_model::ErrorKind::BadRequest
    }
}
