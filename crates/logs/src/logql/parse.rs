//! The LogQL parser: a hand-written lexer ([`lexer`]) and a recursive-descent parser for log
//! expressions ([`log`]) and sample expressions with precedence climbing ([`sample`]),
//! followed by Loki's semantic checks ([`validate`]). [`display`] prints any tree back as
//! canonical LogQL that parses to the same tree.
//!
//! Errors read like Loki's: `parse error at line 1, col 8: syntax error: unexpected
//! IDENTIFIER, expecting NUMBER` (goyacc style) or `parse error : <semantic message>`.

mod display;
mod lexer;
mod literal;
mod log;
mod sample;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;

use sextant_model::ErrorKind;

use self::lexer::{tokenize, Kw, Tok, Token};
pub(crate) use self::literal::{parse_prom_duration_ms, unquote};
use super::ast::{Expr, LogExpr, SampleExpr};

/// Loki rejects longer queries before parsing them.
const MAX_INPUT_SIZE: usize = 5120;

/// How deeply a query may nest (parentheses, operator chains, label filter chains), so that
/// neither parsing nor evaluating a hostile query exhausts the stack.
const MAX_DEPTH: usize = 128;

/// A query that does not parse or fails Loki's semantic checks. Line and column are 1-based;
/// both are 0 for semantic errors that have no single position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl ParseError {
    /// An error without a position (Loki's semantic errors).
    pub(crate) fn semantic(msg: impl Into<String>) -> Self {
        ParseError {
            line: 0,
            col: 0,
            msg: msg.into(),
        }
    }

    /// A parse error is always the client's fault.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 && self.col == 0 {
            write!(f, "parse error : {}", self.msg)
        } else {
            write!(
                f,
                "parse error at line {}, col {}: {}",
                self.line, self.col, self.msg
            )
        }
    }
}

/// Parses and validates a LogQL query of either kind.
pub fn parse_expr(query: &str) -> Result<Expr, ParseError> {
    if query.len() >= MAX_INPUT_SIZE {
        return Err(ParseError::semantic(format!(
            "input size too long ({} > {MAX_INPUT_SIZE})",
            query.len()
        )));
    }
    let mut parser = Parser::new(query);
    let expr = parser.parse_binary(0)?;
    if parser.peek() != &Tok::Eof {
        return Err(parser.unexpected(&[]));
    }
    if validate::depth(&expr) > MAX_DEPTH {
        return Err(too_deep());
    }
    validate::validate(&expr)?;
    Ok(expr)
}

/// Parses a log query (`{app="a"} |= "x"`); a metric query is an error.
pub fn parse_log_expr(query: &str) -> Result<LogExpr, ParseError> {
    match parse_expr(query)? {
        Expr::Log(log) => Ok(log),
        Expr::Sample(_) => Err(ParseError::semantic("only log selector is supported")),
    }
}

/// Parses a metric query (`rate({app="a"}[5m])`); a log query is an error.
pub fn parse_sample_expr(query: &str) -> Result<SampleExpr, ParseError> {
    match parse_expr(query)? {
        Expr::Sample(sample) => Ok(sample),
        Expr::Log(_) => Err(ParseError::semantic("only sample expression supported")),
    }
}

/// The token cursor shared by the log and sample halves of the grammar.
struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// The current recursion depth of the parser.
    depth: usize,
}

fn too_deep() -> ParseError {
    ParseError::semantic(format!(
        "query nested too deeply (more than {MAX_DEPTH} levels)"
    ))
}

impl Parser {
    fn new(query: &str) -> Self {
        Parser {
            tokens: tokenize(query),
            pos: 0,
            depth: 0,
        }
    }

    /// Runs a recursive part of the grammar, failing beyond [`MAX_DEPTH`] levels.
    fn nested<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn token(&self, offset: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + offset).min(last)]
    }

    fn peek(&self) -> &Tok {
        &self.token(0).tok
    }

    fn peek2(&self) -> &Tok {
        &self.token(1).tok
    }

    fn at(&self, kw: Kw) -> bool {
        self.peek() == &Tok::Kw(kw)
    }

    fn bump(&mut self) -> Tok {
        let tok = self.token(0).tok.clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        tok
    }

    fn eat(&mut self, kw: Kw) -> bool {
        let found = self.at(kw);
        if found {
            self.bump();
        }
        found
    }

    fn expect(&mut self, kw: Kw) -> Result<(), ParseError> {
        if self.eat(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&[kw.name()]))
        }
    }

    fn expect_ident(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Ident(name) => {
                let name = name.clone();
                self.bump();
                Ok(name)
            }
            _ => Err(self.unexpected(&["IDENTIFIER"])),
        }
    }

    fn expect_string(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected(&["STRING"])),
        }
    }

    /// goyacc's message for the current token; a lexical error reports its own message.
    fn unexpected(&self, expecting: &[&str]) -> ParseError {
        let token = self.token(0);
        let msg = match &token.tok {
            Tok::Error(msg) => msg.clone(),
            tok => {
                let mut msg = format!("syntax error: unexpected {}", tok.name());
                if !expecting.is_empty() && expecting.len() <= 4 {
                    msg.push_str(", expecting ");
                    msg.push_str(&expecting.join(" or "));
                }
                msg
            }
        };
        ParseError {
            line: token.line,
            col: token.col,
            msg,
        }
    }
}

/// A label set as Go prints Prometheus labels: `{a="b", c="d"}` with Go quoting.
pub(crate) fn quote_label_set(labels: &sextant_model::Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={}", l.name, literal::quote(&l.value)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}
