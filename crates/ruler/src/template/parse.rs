//! Pieces to a tree: text, printed pipelines, `if`/`with`/`range` blocks with `else`
//! (and `else if`/`else with`), variables checked for definition as Go does at parse time.

use super::funcs::is_function;
use super::lex::{Piece, Tok, Token};
use super::TemplateError;

/// Deepest nesting of blocks and parentheses accepted (keeps recursion bounded).
const MAX_DEPTH: usize = 64;

/// The variables every template can use (Prometheus defines them before the text).
pub(super) const PREDEFINED_VARS: [&str; 5] =
    ["", "labels", "externalLabels", "externalURL", "value"];

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Text(String),
    /// A pipeline; printed unless it declares or assigns a variable.
    Action(Pipeline),
    If(Branches),
    With(Branches),
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// `if a`/`else if b`/`else`: the first branch whose pipeline is true runs.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Branches {
    pub branches: Vec<(Pipeline, Vec<Node>)>,
    pub otherwise: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pipeline {
    pub pos: usize,
    /// Variables declared (`:=`) or assigned (`=`), without `$`.
    pub vars: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Command {
    pub pos: usize,
    pub args: Vec<Operand>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    Nil,
    Bool(bool),
    Str(String),
    Int(i64),
    Float(f64),
    /// `.` followed by fields (`.Labels.job`; none for `.` itself).
    Dot(Vec<String>),
    /// `$name` followed by fields.
    Var(String, Vec<String>),
    Func(String),
    /// `( pipeline )` followed by fields.
    Group(Box<Pipeline>, Vec<String>),
}

/// Parses pieces into nodes.
pub(super) fn parse(src: &str, pieces: Vec<Piece>) -> Result<Vec<Node>, TemplateError> {
    let mut parser = Parser {
        src,
        pieces: pieces.into_iter().collect(),
        next: 0,
        vars: PREDEFINED_VARS.iter().map(|v| v.to_string()).collect(),
        depth: 0,
    };
    let (nodes, end) = parser.list()?;
    match end {
        None => Ok(nodes),
        Some(end) => Err(parser.err(end.pos, format!("unexpected {{{{{}}}}}", end.word))),
    }
}

/// The keyword action that ended a list (`end`, `else`, `else if ...`).
struct ListEnd {
    pos: usize,
    word: &'static str,
    /// Tokens after `else` (for `else if` / `else with`).
    rest: Vec<Token>,
}

struct Parser<'a> {
    src: &'a str,
    pieces: Vec<Piece>,
    next: usize,
    vars: Vec<String>,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, pos: usize, message: impl Into<String>) -> TemplateError {
        TemplateError::at(self.src, pos, message)
    }

    /// Nodes up to the end of input or an `end`/`else` action.
    fn list(&mut self) -> Result<(Vec<Node>, Option<ListEnd>), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.get(self.next).cloned() {
            self.next += 1;
            match piece {
                Piece::Text(text) => nodes.push(Node::Text(text)),
                Piece::Action { pos, tokens } => {
                    if let Some(end) = self.action(pos, tokens, &mut nodes)? {
                        return Ok((nodes, Some(end)));
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    /// Parses one action, pushing its node; returns the list end it is, if any.
    fn action(
        &mut self,
        pos: usize,
        tokens: Vec<Token>,
        nodes: &mut Vec<Node>,
    ) -> Result<Option<ListEnd>, TemplateError> {
        let keyword = match tokens.first().map(|t| &t.tok) {
            Some(Tok::Ident(word)) => word.clone(),
            None => return Err(self.err(pos, "missing value for command")),
            _ => String::new(),
        };
        let rest = tokens[1.min(tokens.len())..].to_vec();
        match keyword.as_str() {
            "end" if rest.is_empty() => Ok(Some(ListEnd {
                pos,
                word: "end",
                rest,
            })),
            "end" => Err(self.err(pos, "unexpected tokens after end")),
            "else" => Ok(Some(ListEnd {
                pos,
                word: "else",
                rest,
            })),
            "if" => {
                let node = self.branches(pos, rest, "if")?;
                nodes.push(Node::If(node));
                Ok(None)
            }
            "with" => {
                let node = self.branches(pos, rest, "with")?;
                nodes.push(Node::With(node));
                Ok(None)
            }
            "range" => {
                let node = self.range(pos, rest)?;
                nodes.push(node);
                Ok(None)
            }
            "define" | "template" | "block" | "break" | "continue" => {
                Err(self.err(pos, format!("{{{{{keyword}}}}} is not supported here")))
            }
            _ => {
                let pipe = self.pipeline(pos, &tokens, true)?;
                nodes.push(Node::Action(pipe));
                Ok(None)
            }
        }
    }

    fn enter(&mut self, pos: usize) -> Result<usize, TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(pos, "template nested too deeply"));
        }
        Ok(self.vars.len())
    }

    fn leave(&mut self, vars_len: usize) {
        self.depth -= 1;
        self.vars.truncate(vars_len);
    }

    /// `if`/`with` and their `else if`/`else with`/`else` chain, up to the shared `end`.
    fn branches(
        &mut self,
        pos: usize,
        tokens: Vec<Token>,
        word: &str,
    ) -> Result<Branches, TemplateError> {
        let scope = self.enter(pos)?;
        let result = self.branches_in_scope(pos, tokens, word);
        self.leave(scope);
        result
    }

    fn branches_in_scope(
        &mut self,
        pos: usize,
        tokens: Vec<Token>,
        word: &str,
    ) -> Result<Branches, TemplateError> {
        let mut branches = Vec::new();
        let mut cond = self.pipeline(pos, &tokens, true)?;
        loop {
            let (body, end) = self.list()?;
            branches.push((cond, body));
            let end = end.ok_or_else(|| self.err(pos, format!("unexpected EOF in {word}")))?;
            match (end.word, end.rest.first().map(|t| &t.tok)) {
                ("end", _) => {
                    return Ok(Branches {
                        branches,
                        otherwise: Vec::new(),
                    })
                }
                ("else", None) => {
                    let otherwise = self.block_end(pos, word)?;
                    return Ok(Branches {
                        branches,
                        otherwise,
                    });
                }
                ("else", Some(Tok::Ident(w))) if w == word => {
                    cond = self.pipeline(end.pos, &end.rest[1..], true)?;
                }
                _ => {
                    return Err(self.err(end.pos, format!("unexpected tokens after else in {word}")))
                }
            }
        }
    }

    /// The nodes of an `else` up to `end`.
    fn block_end(&mut self, pos: usize, word: &str) -> Result<Vec<Node>, TemplateError> {
        let (nodes, end) = self.list()?;
        match end {
            Some(ListEnd { word: "end", .. }) => Ok(nodes),
            Some(end) => Err(self.err(end.pos, format!("expected end; found else in {word}"))),
            None => Err(self.err(pos, format!("unexpected EOF in {word}"))),
        }
    }

    fn range(&mut self, pos: usize, tokens: Vec<Token>) -> Result<Node, TemplateError> {
        let scope = self.enter(pos)?;
        let result = (|| {
            let pipe = self.pipeline(pos, &tokens, false)?;
            let (body, end) = self.list()?;
            let end = end.ok_or_else(|| self.err(pos, "unexpected EOF in range"))?;
            let otherwise = match (end.word, end.rest.is_empty()) {
                ("end", _) => Vec::new(),
                ("else", true) => self.block_end(pos, "range")?,
                _ => return Err(self.err(end.pos, "unexpected tokens after else in range")),
            };
            Ok(Node::Range {
                pipe,
                body,
                otherwise,
            })
        })();
        self.leave(scope);
        result
    }

    /// A pipeline with its optional declaration: `$x := a | b`, `$k, $v := m` (range only).
    fn pipeline(
        &mut self,
        pos: usize,
        tokens: &[Token],
        single_var: bool,
    ) -> Result<Pipeline, TemplateError> {
        let (vars, assign, rest) = self.declaration(tokens, single_var)?;
        let mut cursor = Cursor {
            tokens: rest,
            at: 0,
        };
        let cmds = self.commands(pos, &mut cursor)?;
        if let Some(extra) = cursor.peek() {
            return Err(self.err(extra.pos, format!("unexpected {:?} in operand", extra.tok)));
        }
        for var in &vars {
            if assign {
                self.check_var(pos, var)?;
            } else {
                self.vars.push(var.clone());
            }
        }
        Ok(Pipeline {
            pos,
            vars,
            assign,
            cmds,
        })
    }

    /// Splits off a leading `$x :=`, `$x =` or `$k, $v :=`.
    fn declaration<'t>(
        &self,
        tokens: &'t [Token],
        single_var: bool,
    ) -> Result<(Vec<String>, bool, &'t [Token]), TemplateError> {
        let toks: Vec<&Tok> = tokens.iter().take(4).map(|t| &t.tok).collect();
        match toks.as_slice() {
            [Tok::Var(v), Tok::Declare, ..] => Ok((vec![v.clone()], false, &tokens[2..])),
            [Tok::Var(v), Tok::Assign, ..] => Ok((vec![v.clone()], true, &tokens[2..])),
            [Tok::Var(k), Tok::Comma, Tok::Var(v), Tok::Declare | Tok::Assign] => {
                if single_var {
                    return Err(self.err(tokens[1].pos, "too many declarations in command"));
                }
                let assign = matches!(toks[3], Tok::Assign);
                Ok((vec![k.clone(), v.clone()], assign, &tokens[4..]))
            }
            _ => Ok((Vec::new(), false, tokens)),
        }
    }

    fn check_var(&self, pos: usize, name: &str) -> Result<(), TemplateError> {
        if self.vars.iter().any(|v| v == name) {
            Ok(())
        } else {
            Err(self.err(pos, format!("undefined variable \"${name}\"")))
        }
    }

    /// `cmd | cmd | ...` up to the end of the tokens or a `)`.
    fn commands(
        &mut self,
        pos: usize,
        cursor: &mut Cursor<'_>,
    ) -> Result<Vec<Command>, TemplateError> {
        let mut cmds = Vec::new();
        loop {
            let last = cursor.at.checked_sub(1).and_then(|i| cursor.tokens.get(i));
            let cmd_pos = cursor.peek().or(last).map_or(pos, |t| t.pos);
            let mut args = Vec::new();
            while let Some(token) = cursor.peek() {
                if matches!(token.tok, Tok::Pipe | Tok::RParen) {
                    break;
                }
                args.push(self.operand(cursor)?);
            }
            if args.is_empty() {
                return Err(self.err(cmd_pos, "missing value for command"));
            }
            cmds.push(Command { pos: cmd_pos, args });
            match cursor.peek().map(|t| &t.tok) {
                Some(Tok::Pipe) => cursor.at += 1,
                _ => return Ok(cmds),
            }
        }
    }

    fn operand(&mut self, cursor: &mut Cursor<'_>) -> Result<Operand, TemplateError> {
        let Some(token) = cursor.next().cloned() else {
            return Err(self.err(self.src.len(), "missing operand"));
        };
        let operand = match token.tok {
            Tok::Nil => Operand::Nil,
            Tok::Bool(b) => Operand::Bool(b),
            Tok::Str(s) => Operand::Str(s),
            Tok::Char(c) => Operand::Int(i64::from(u32::from(c))),
            Tok::Number(text) => number(&text)
                .ok_or_else(|| self.err(token.pos, format!("bad number syntax: {text:?}")))?,
            Tok::Dot => Operand::Dot(Vec::new()),
            Tok::Field(name) => Operand::Dot(self.fields(cursor, vec![name])),
            Tok::Var(name) => {
                self.check_var(token.pos, &name)?;
                Operand::Var(name, self.fields(cursor, Vec::new()))
            }
            Tok::Ident(name) if is_function(&name) => Operand::Func(name),
            Tok::Ident(name) => {
                return Err(self.err(token.pos, format!("function {name:?} not defined")))
            }
            Tok::LParen => self.group(token.pos, cursor)?,
            other => return Err(self.err(token.pos, format!("unexpected {other:?} in operand"))),
        };
        Ok(operand)
    }

    fn group(&mut self, pos: usize, cursor: &mut Cursor<'_>) -> Result<Operand, TemplateError> {
        let scope = self.enter(pos)?;
        let cmds = self.commands(pos, cursor);
        self.leave(scope);
        let cmds = cmds?;
        match cursor.next().map(|t| &t.tok) {
            Some(Tok::RParen) => {}
            _ => return Err(self.err(pos, "unclosed left paren")),
        }
        let pipe = Pipeline {
            pos,
            vars: Vec::new(),
            assign: false,
            cmds,
        };
        Ok(Operand::Group(
            Box::new(pipe),
            self.fields(cursor, Vec::new()),
        ))
    }

    /// Field names that directly follow an operand (`$x.a.b`, `(...).a`).
    fn fields(&self, cursor: &mut Cursor<'_>, mut fields: Vec<String>) -> Vec<String> {
        while let Some(Token {
            tok: Tok::Field(name),
            spaced: false,
            ..
        }) = cursor.peek()
        {
            fields.push(name.clone());
            cursor.at += 1;
        }
        fields
    }
}

struct Cursor<'t> {
    tokens: &'t [Token],
    at: usize,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<&'t Token> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        token
    }
}

/// A number literal: a float when written with `.`, `e` or `p` (as Go's text/template treats
/// untyped constants), else an integer (decimal, `0x`, `0o`, `0b`, `_` separators).
fn number(text: &str) -> Option<Operand> {
    let clean = text.replace('_', "");
    let (negative, digits) = match clean.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = digits.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find(|(prefix, _)| lower.starts_with(prefix));
    if let Some((prefix, radix)) = radix {
        let n = i64::from_str_radix(&lower[prefix.len()..], radix).ok()?;
        return Some(Operand::Int(if negative { -n } else { n }));
    }
    if lower.contains(['.', 'e']) {
        let f: f64 = lower.parse().ok()?;
        return Some(Operand::Float(if negative { -f } else { f }));
    }
    let n: i64 = lower.parse().ok()?;
    Some(Operand::Int(if negative { -n } else { n }))
}
