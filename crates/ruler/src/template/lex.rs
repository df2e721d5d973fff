//! Splits template text into text and actions (`{{ ... }}`), applying the `{{- ` / ` -}}`
//! trim markers and dropping `{{/* comments */}}`, and tokenizes each action as Go's
//! text/template lexer does.

use super::TemplateError;

/// A piece of the template: literal text, or the tokens of one action.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Piece {
    Text(String),
    Action { pos: usize, tokens: Vec<Token> },
}

/// One token of an action; `spaced` tells whether white space came before it, which decides
/// whether `.field` continues the operand before it (`$x.a`) or starts a new one (`$x .a`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub spaced: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Pipe,
    LParen,
    RParen,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    Comma,
    Str(String),
    /// A number literal as written (`1`, `-0.5`, `1e3`, `0x1F`).
    Number(String),
    Char(char),
    Bool(bool),
    Nil,
    /// `.` alone.
    Dot,
    /// `.name`
    Field(String),
    /// `$name`, or `$` alone (empty name).
    Var(String),
    /// A keyword (`if`, `end`, ...) or a function name.
    Ident(String),
}

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits `src` into pieces.
pub(super) fn split(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest_start = 0;
    let mut trim_next = false;
    while let Some(found) = src[rest_start..].find(OPEN) {
        let open = rest_start + found;
        let mut after = open + OPEN.len();
        let left_trim =
            src[after..].starts_with('-') && src[after + 1..].chars().next().is_some_and(is_space);
        let mut text = &src[rest_start..open];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        if left_trim {
            text = text.trim_end_matches(is_space);
            after += 2;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        let (end, right_trim) = if src[after..].starts_with("/*") {
            comment_end(src, open, after)?
        } else {
            let (tokens, end, right_trim) = Lexer::new(src, open, after).action()?;
            pieces.push(Piece::Action { pos: open, tokens });
            (end, right_trim)
        };
        rest_start = end;
        trim_next = right_trim;
    }
    let mut text = &src[rest_start..];
    if trim_next {
        text = text.trim_start_matches(is_space);
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
    Ok(pieces)
}

/// The end of a `/* ... */` comment action starting at `start`: (index after `}}`, trim).
fn comment_end(src: &str, open: usize, start: usize) -> Result<(usize, bool), TemplateError> {
    let close = src[start..]
        .find("*/")
        .map(|i| start + i + 2)
        .ok_or_else(|| TemplateError::at(src, open, "unclosed comment"))?;
    let rest = &src[close..];
    if let Some(stripped) = rest.strip_prefix(CLOSE) {
        return Ok((src.len() - stripped.len(), false));
    }
    if let Some(stripped) = rest.strip_prefix(" -}}") {
        return Ok((src.len() - stripped.len(), true));
    }
    Err(TemplateError::at(
        src,
        close,
        "comment ends before closing delimiter",
    ))
}

/// Tokenizes one action.
struct Lexer<'a> {
    src: &'a str,
    /// Where the action's `{{` is.
    open: usize,
    pos: usize,
    tokens: Vec<Token>,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str, open: usize, pos: usize) -> Self {
        Lexer {
            src,
            open,
            pos,
            tokens: Vec::new(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn err(&self, at: usize, message: impl Into<String>) -> TemplateError {
        TemplateError::at(self.src, at, message)
    }

    /// Reads tokens up to `}}`: (tokens, index after `}}`, right trim marker seen).
    fn action(mut self) -> Result<(Vec<Token>, usize, bool), TemplateError> {
        loop {
            let before = self.pos;
            self.pos += self.rest().len() - self.rest().trim_start_matches(is_space).len();
            let spaced = self.pos > before;
            let rest = self.rest();
            if spaced && rest.starts_with("-}}") {
                return Ok((self.tokens, self.pos + 3, true));
            }
            if rest.starts_with(CLOSE) {
                return Ok((self.tokens, self.pos + 2, false));
            }
            let Some(c) = rest.chars().next() else {
                return Err(self.err(self.open, "unclosed action"));
            };
            let start = self.pos;
            let tok = self.token(c)?;
            self.tokens.push(Token {
                tok,
                pos: start,
                spaced,
            });
        }
    }

    fn token(&mut self, c: char) -> Result<Tok, TemplateError> {
        let start = self.pos;
        let simple = match c {
            '|' => Some(Tok::Pipe),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            '=' => Some(Tok::Assign),
            _ => None,
        };
        if let Some(tok) = simple {
            self.pos += 1;
            return Ok(tok);
        }
        match c {
            ':' if self.rest().starts_with(":=") => {
                self.pos += 2;
                Ok(Tok::Declare)
            }
            '"' => self.quoted(),
            '`' => self.raw_string(),
            '\'' => self.char_constant(),
            '$' => {
                self.pos += 1;
                Ok(Tok::Var(self.word()))
            }
            '.' if !self.rest()[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                self.pos += 1;
                let name = self.word();
                Ok(if name.is_empty() {
                    Tok::Dot
                } else {
                    Tok::Field(name)
                })
            }
            c if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => self.number(),
            c if is_word_char(c) => Ok(match self.word().as_str() {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "nil" => Tok::Nil,
                word => Tok::Ident(word.to_string()),
            }),
            other => Err(self.err(
                start,
                format!("unrecognized character in action: {other:?}"),
            )),
        }
    }

    /// Letters, digits and `_` from the current position.
    fn word(&mut self) -> String {
        let rest = self.rest();
        let len = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        self.pos += len;
        rest[..len].to_string()
    }

    fn number(&mut self) -> Result<Tok, TemplateError> {
        let rest = self.rest();
        let mut len = 0;
        for (i, c) in rest.char_indices() {
            let sign_ok = i == 0 || matches!(rest[..i].chars().last(), Some('e' | 'E' | 'p' | 'P'));
            if c.is_ascii_alphanumeric()
                || c == '.'
                || c == '_'
                || (matches!(c, '+' | '-') && sign_ok)
            {
                len = i + c.len_utf8();
            } else {
                break;
            }
        }
        let text = &rest[..len];
        if !text.chars().any(|c| c.is_ascii_digit()) {
            return Err(self.err(self.pos, format!("bad number syntax: {text:?}")));
        }
        self.pos += len;
        Ok(Tok::Number(text.to_string()))
    }

    fn quoted(&mut self) -> Result<Tok, TemplateError> {
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.rest()[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 2;
                    return Ok(Tok::Str(out));
                }
                '\n' => break,
                '\\' => {
                    let escaped = unescape(&mut chars)
                        .ok_or_else(|| self.err(start, "invalid escape in string"))?;
                    out.push(escaped);
                }
                c => out.push(c),
            }
        }
        Err(self.err(start, "unterminated quoted string"))
    }

    fn raw_string(&mut self) -> Result<Tok, TemplateError> {
        let body = &self.rest()[1..];
        let end = body
            .find('`')
            .ok_or_else(|| self.err(self.pos, "unterminated raw quoted string"))?;
        let text = body[..end].to_string();
        self.pos += end + 2;
        Ok(Tok::Str(text))
    }

    fn char_constant(&mut self) -> Result<Tok, TemplateError> {
        let start = self.pos;
        let mut chars = self.rest()[1..].char_indices();
        let c = match chars.next() {
            Some((_, '\\')) => unescape(&mut chars),
            Some((_, '\'')) | None => None,
            Some((_, c)) => Some(c),
        };
        match (c, chars.next()) {
            (Some(c), Some((i, '\''))) => {
                self.pos += i + 2;
                Ok(Tok::Char(c))
            }
            _ => Err(self.err(start, "malformed character constant")),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The character of an escape sequence after `\`, as in Go string literals.
fn unescape(chars: &mut std::str::CharIndices<'_>) -> Option<char> {
    let (_, c) = chars.next()?;
    let hex = |chars: &mut std::str::CharIndices<'_>, n: usize| -> Option<char> {
        let digits: String = (0..n)
            .map(|_| chars.next().map(|(_, c)| c))
            .collect::<Option<_>>()?;
        char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
    };
    match c {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'v' => Some('\u{b}'),
        '\\' | '"' | '\'' => Some(c),
        'x' => hex(chars, 2),
        'u' => hex(chars, 4),
        'U' => hex(chars, 8),
        '0'..='7' => {
            let rest: String = (0..2)
                .map(|_| chars.next().map(|(_, c)| c))
                .collect::<Option<_>>()?;
            char::from_u32(u32::from_str_radix(&format!("{c}{rest}"), 8).ok()?)
        }
        _ => None,
    }
}
