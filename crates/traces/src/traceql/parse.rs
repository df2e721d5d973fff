//! The TraceQL parser: recursive descent with Tempo's precedence.
//!
//! From loosest to tightest: `|`; `&&` `||` (same level, left to right); comparisons,
//! regex and structural operators; `+` `-`; unary `!` and `-`; `*` `/` `%`; `^` (right
//! associative). Every operand is typed while parsing ([`Term`]) so that the shapes Tempo's
//! grammar rejects (`{ } + { }`, `5 + { } | rate()`, `2 * 3`) are syntax errors here too.

mod field;
mod term;

use super::ast::{RootExpr, Stage, TraceqlQuery};
use super::lex::{lex, Tok, Token};
use super::TraceqlError;
use term::Term;

/// Deepest nesting of parentheses, braces and unary operators.
const MAX_DEPTH: usize = 64;
/// Most binary operators in one query (bounds the depth of left-leaning trees).
const MAX_OPERATORS: usize = 1024;

/// Parses a TraceQL query. Never panics; see [`TraceqlQuery::validate`] for semantic checks.
pub fn parse(text: &str) -> Result<TraceqlQuery> {
    let tokens = lex(text).map_err(|(pos, message)| error_at(text, pos, message))?;
    let mut parser = Parser {
        text,
        tokens,
        i: 0,
        depth: 0,
        operators: 0,
    };
    parser.query()
}

fn error_at(text: &str, pos: usize, message: String) -> TraceqlError {
    let before: Vec<char> = text.chars().take(pos).collect();
    let line = 1 + before.iter().filter(|c| **c == '\n').count();
    let col = 1 + before.iter().rev().take_while(|c| **c != '\n').count();
    TraceqlError::Parse { line, col, message }
}

type Result<T> = std::result::Result<T, TraceqlError>;

pub(super) struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    i: usize,
    depth: usize,
    operators: usize,
}

impl Parser<'_> {
    fn query(&mut self) -> Result<TraceqlQuery> {
        let term = self.pipe()?;
        let hints = if self.peek_ident("with") {
            self.hints()?
        } else {
            Vec::new()
        };
        if self.peek() != &Tok::Eof {
            return Err(self.unexpected());
        }
        let expr = match term {
            Term::Metrics(m) => RootExpr::Metrics(m),
            Term::ScalarFilter(f) if term::is_pipeline_comparison(&f) => RootExpr::ScalarFilter(f),
            other => RootExpr::Pipeline(self.pipeline_from(other)?),
        };
        Ok(TraceqlQuery { expr, hints })
    }

    fn peek(&self) -> &Tok {
        self.tokens.get(self.i).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        self.tokens
            .get(self.i + ahead)
            .map_or(&Tok::Eof, |t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.tokens
            .get(self.i)
            .or(self.tokens.last())
            .map_or(0, |t| t.pos)
    }

    fn advance(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.i < self.tokens.len() {
            self.i += 1;
        }
        tok
    }

    fn peek_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn peek_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == name)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let found = self.peek_op(op);
        if found {
            self.i += 1;
        }
        found
    }

    fn expect_op(&mut self, op: &str) -> Result<()> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn error(&self, pos: usize, message: impl Into<String>) -> TraceqlError {
        error_at(self.text, pos, message.into())
    }

    /// `syntax error: unexpected X` at the current token.
    fn unexpected(&self) -> TraceqlError {
        let what = match self.peek() {
            Tok::Eof => "$end".to_string(),
            Tok::Ident(w) => format!("IDENTIFIER {w}"),
            Tok::Attr(a) => a.to_string(),
            Tok::Str(s) => format!("STRING {s:?}"),
            Tok::Int(i) => format!("INTEGER {i}"),
            Tok::Float(x) => format!("FLOAT {x}"),
            Tok::Duration(_) => "DURATION".to_string(),
            Tok::Op(o) => (*o).to_string(),
        };
        self.error(self.pos(), format!("syntax error: unexpected {what}"))
    }

    /// Enters one level of nesting; [`Parser::leave`] undoes it.
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                self.pos(),
                format!("query nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Counts one binary operator against [`MAX_OPERATORS`].
    fn count_operator(&mut self, pos: usize) -> Result<()> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.error(
                pos,
                format!("query has more than {MAX_OPERATORS} operators"),
            ));
        }
        Ok(())
    }

    /// A pipeline whose first stage is `term`.
    fn pipeline_from(&self, term: Term) -> Result<super::ast::Pipeline> {
        let stage = match term {
            Term::Pipeline(p) => return Ok(p),
            Term::Spanset(s) => Stage::Spanset(s),
            Term::Stage(Stage::Coalesce) => {
                return Err(self.error(
                    self.pos(),
                    "syntax error: pipelines cannot start with coalesce()",
                ));
            }
            Term::Stage(s) => s,
            Term::ScalarFilter(f) if !term::is_pipeline_comparison(&f) => Stage::ScalarFilter(f),
            _ => return Err(self.unexpected()),
        };
        Ok(super::ast::Pipeline {
            stages: vec![stage],
        })
    }

    fn hints(&mut self) -> Result<Vec<super::ast::Hint>> {
        self.advance();
        self.expect_op("(")?;
        let mut hints = Vec::new();
        loop {
            let Tok::Ident(name) = self.advance() else {
                self.i = self.i.saturating_sub(1);
                return Err(self.unexpected());
            };
            self.expect_op("=")?;
            let value = self.hint_value()?;
            hints.push(super::ast::Hint { name, value });
            if !self.eat_op(",") {
                break;
            }
        }
        self.expect_op(")")?;
        Ok(hints)
    }

    fn hint_value(&mut self) -> Result<super::ast::Static> {
        use super::ast::Static;
        let value = match self.peek() {
            Tok::Int(i) => Static::Int(*i),
            Tok::Float(x) => Static::Float(*x),
            Tok::Str(s) => Static::String(s.clone()),
            Tok::Duration(d) => Static::Duration(*d),
            Tok::Ident(w) if w == "true" || w == "false" => Static::Bool(w == "true"),
            _ => return Err(self.unexpected()),
        };
        self.advance();
        Ok(value)
    }
}

#[cfg(test)]
mod tests;
