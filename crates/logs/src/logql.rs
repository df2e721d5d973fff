//! LogQL: the syntax tree ([`ast`]) and its parser.

pub mod ast;
