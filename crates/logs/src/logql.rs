//! LogQL: the syntax tree ([`ast`]), its parser ([`parse`]) and the metric query evaluator
//! ([`eval`]).

pub mod ast;
pub mod eval;
pub mod parse;
