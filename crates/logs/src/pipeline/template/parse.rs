//! Lexing and parsing of the Go text/template subset: text, `{{ pipeline }}` actions with
//! trim markers and comments, `if`/`else if`/`else`/`end`, `range`, `with`, variables.

use regex::Regex;

use super::funcs;
use super::value::parse_go_int;

#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If {
        cond: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// `$x := cmd | cmd`.
#[derive(Debug)]
pub(crate) struct Pipe {
    /// Declared (`:=`) or assigned (`=`) variables, without `$`.
    pub(crate) vars: Vec<String>,
    pub(crate) declare: bool,
    pub(crate) cmds: Vec<Cmd>,
}

/// Byte offsets of a node in the template text, for error messages.
pub(crate) type Span = (usize, usize);

#[derive(Debug)]
pub(crate) struct Cmd {
    pub(crate) args: Vec<Arg>,
    /// Where each argument is in the template text.
    pub(crate) spans: Vec<Span>,
    /// The regex of `regexReplaceAll "lit" …` / `count "lit" …`, compiled once.
    pub(crate) regex: Option<Regex>,
}

#[derive(Debug)]
pub(crate) enum Arg {
    /// `.a.b`; empty for `.`.
    Field(Vec<String>),
    /// `$x.a`; the name without `$` (empty for `$`).
    Var(String, Vec<String>),
    Func(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `(pipe).a.b`.
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Field(Vec<String>),
    /// A field chain right after `)`.
    Chain(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(String),
    Char(char),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

type Token = (Tok, Span);

enum Item {
    Text(String),
    Action(Vec<Token>),
}

/// Parses a template; errors read like Go's (`template: line:1: …`).
pub(crate) fn parse(name: &str, text: &str) -> Result<Vec<Node>, String> {
    let items = split(text).map_err(|e| format!("template: {name}:1: {e}"))?;
    let mut parser = Parser {
        items: items.into_iter().peekable(),
    };
    let (nodes, end) = parser
        .list()
        .map_err(|e| format!("template: {name}:1: {e}"))?;
    match end {
        Terminator::Eof => Ok(nodes),
        Terminator::End => Err(format!("template: {name}:1: unexpected {{{{end}}}}")),
        Terminator::Else(_) => Err(format!("template: {name}:1: unexpected {{{{else}}}}")),
    }
}

/// Splits the text into literal text and lexed actions, applying trim markers.
fn split(text: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    while pos <= text.len() {
        let start = text[pos..].find("{{").map(|i| pos + i);
        let mut literal = &text[pos..start.unwrap_or(text.len())];
        if trim_next {
            literal = literal.trim_start();
        }
        let Some(start) = start else {
            if !literal.is_empty() {
                items.push(Item::Text(literal.to_owned()));
            }
            break;
        };
        let mut inner = start + 2;
        let rest = &text[inner..];
        if rest.starts_with('-') && rest[1..].starts_with(is_space) {
            literal = literal.trim_end();
            inner += 1;
        }
        if !literal.is_empty() {
            items.push(Item::Text(literal.to_owned()));
        }
        let (tokens, end, trim) = lex_action(text, inner)?;
        if let Some(tokens) = tokens {
            items.push(Item::Action(tokens));
        }
        pos = end;
        trim_next = trim;
    }
    Ok(items)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Lexes one action from `pos` (after `{{` and any trim marker): its tokens (`None` for a
/// comment), the position after `}}`, and whether it ends with a trim marker.
fn lex_action(text: &str, mut pos: usize) -> Result<(Option<Vec<Token>>, usize, bool), String> {
    let bytes = text.as_bytes();
    let skip_space = |pos: &mut usize| {
        while *pos < bytes.len() && is_space(bytes[*pos] as char) {
            *pos += 1;
        }
    };
    skip_space(&mut pos);
    if text[pos..].starts_with("/*") {
        let end = text[pos..].find("*/").ok_or("unclosed comment")? + pos + 2;
        let mut after = end;
        skip_space(&mut after);
        let trim = text[after..].starts_with("-}}");
        let close = if trim { after + 3 } else { after + 2 };
        if !text[after..].starts_with("}}") && !trim {
            return Err("comment ends before closing delimiter".into());
        }
        return Ok((None, close, trim));
    }
    let mut tokens = Vec::new();
    loop {
        let had_space = pos > 0 && is_space(bytes[pos - 1] as char);
        skip_space(&mut pos);
        let rest = &text[pos..];
        if rest.is_empty() {
            return Err("unclosed action".into());
        }
        if rest.starts_with("}}") {
            return Ok((Some(tokens), pos + 2, false));
        }
        if rest.starts_with("-}}") && (had_space || pos > 0 && is_space(bytes[pos - 1] as char)) {
            return Ok((Some(tokens), pos + 3, true));
        }
        let after_paren = matches!(tokens.last(), Some((Tok::RParen, _))) && !had_space;
        let (tok, len) = lex_token(rest, after_paren)?;
        tokens.push((tok, (pos, pos + len)));
        pos += len;
    }
}

fn lex_token(rest: &str, after_paren: bool) -> Result<(Tok, usize), String> {
    let c = rest.chars().next().unwrap_or(' ');
    let ident_len = |s: &str| {
        s.find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    Ok(match c {
        '|' => (Tok::Pipe, 1),
        '(' => (Tok::LParen, 1),
        ')' => (Tok::RParen, 1),
        ',' => (Tok::Comma, 1),
        '=' => (Tok::Assign, 1),
        ':' if rest.starts_with(":=") => (Tok::Declare, 2),
        '"' => {
            let (s, len) = lex_quoted(rest)?;
            (Tok::Str(s), len)
        }
        '`' => {
            let end = rest[1..]
                .find('`')
                .ok_or("unterminated raw quoted string")?;
            (Tok::Str(rest[1..end + 1].to_owned()), end + 2)
        }
        '\'' => {
            let (s, len) = lex_quoted(rest)?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(ch), None) => (Tok::Char(ch), len),
                _ => return Err(format!("malformed character constant: {}", &rest[..len])),
            }
        }
        '.' if rest[1..].starts_with(|d: char| d.is_ascii_digit()) => {
            let len = number_len(rest.as_bytes());
            (Tok::Num(rest[..len].to_owned()), len)
        }
        '.' => {
            let (path, len) = lex_fields(rest, ident_len);
            if after_paren {
                (Tok::Chain(path), len)
            } else {
                (Tok::Field(path), len)
            }
        }
        '$' => {
            let name_len = ident_len(&rest[1..]);
            let name = rest[1..1 + name_len].to_owned();
            let (path, len) = lex_fields(&rest[1 + name_len..], ident_len);
            (Tok::Var(name, path), 1 + name_len + len)
        }
        c if c.is_ascii_digit()
            || ((c == '-' || c == '+') && rest[1..].starts_with(|d: char| d.is_ascii_digit())) =>
        {
            let len = number_len(rest.as_bytes());
            (Tok::Num(rest[..len].to_owned()), len)
        }
        c if c.is_alphabetic() || c == '_' => {
            let len = ident_len(rest);
            (Tok::Ident(rest[..len].to_owned()), len)
        }
        c => return Err(format!("unexpected {c:?} in command")),
    })
}

/// The length of a number literal: digits, letters (hex, exponents), `.`, `_`, and a sign
/// right after an exponent marker.
fn number_len(b: &[u8]) -> usize {
    let mut i = 1;
    while i < b.len() {
        let ch = b[i];
        let exponent_sign =
            (ch == b'+' || ch == b'-') && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P');
        if ch.is_ascii_alphanumeric() || ch == b'.' || ch == b'_' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// `.a.b` (or `.` alone): the field names and the length consumed.
fn lex_fields(s: &str, ident_len: impl Fn(&str) -> usize) -> (Vec<String>, usize) {
    let mut path = Vec::new();
    let mut len = 0;
    while s[len..].starts_with('.') {
        let n = ident_len(&s[len + 1..]);
        if n == 0 {
            if path.is_empty() && len == 0 {
                len += 1; // the bare dot
            }
            break;
        }
        path.push(s[len + 1..len + 1 + n].to_owned());
        len += 1 + n;
    }
    (path, len)
}

/// A `"…"` or `'…'` literal with Go's escapes: the text and the length consumed.
fn lex_quoted(rest: &str) -> Result<(String, usize), String> {
    let quote = rest.chars().next().unwrap_or('"');
    let mut out = String::new();
    let mut chars = rest.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, i + 1)),
            '\n' => break,
            '\\' => {
                let (_, e) = chars.next().ok_or("unterminated quoted string")?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' | '"' | '\'' => out.push(e),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or("invalid escape in quoted string")?;
                        out.push(code);
                    }
                    _ => return Err(format!("unknown escape sequence: \\{e}")),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

enum Terminator {
    Eof,
    End,
    /// `{{else}}` (empty) or `{{else if …}}` (the tokens after `else`).
    Else(Vec<Token>),
}

struct Parser {
    items: std::iter::Peekable<std::vec::IntoIter<Item>>,
}

impl Parser {
    /// Nodes up to `{{end}}`, `{{else}}` or the end of the text.
    fn list(&mut self) -> Result<(Vec<Node>, Terminator), String> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let tokens = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action(tokens) => tokens,
            };
            let keyword = match tokens.first() {
                Some((Tok::Ident(k), _)) => k.as_str(),
                _ => "",
            };
            match keyword {
                "end" if tokens.len() == 1 => return Ok((nodes, Terminator::End)),
                "else" => return Ok((nodes, Terminator::Else(tokens[1..].to_vec()))),
                "if" => nodes.push(self.if_node(&tokens[1..])?),
                "range" | "with" => nodes.push(self.block(keyword, &tokens[1..])?),
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(format!("{{{{{keyword}}}}} is not supported"))
                }
                _ => nodes.push(Node::Action(pipe(&tokens)?)),
            }
        }
        Ok((nodes, Terminator::Eof))
    }

    fn if_node(&mut self, cond: &[Token]) -> Result<Node, String> {
        let cond = pipe(cond)?;
        let (then, end) = self.list()?;
        let otherwise = match end {
            Terminator::Eof => return Err("unexpected EOF".into()),
            Terminator::End => Vec::new(),
            Terminator::Else(rest) if rest.is_empty() => self.until_end()?,
            Terminator::Else(rest) => match rest.first() {
                Some((Tok::Ident(k), _)) if k == "if" => vec![self.if_node(&rest[1..])?],
                _ => return Err("unexpected tokens after else".into()),
            },
        };
        Ok(Node::If {
            cond,
            then,
            otherwise,
        })
    }

    fn block(&mut self, keyword: &str, tokens: &[Token]) -> Result<Node, String> {
        let pipe = pipe(tokens)?;
        let (body, end) = self.list()?;
        let otherwise = match end {
            Terminator::Eof => return Err("unexpected EOF".into()),
            Terminator::End => Vec::new(),
            Terminator::Else(rest) if rest.is_empty() => self.until_end()?,
            Terminator::Else(_) => return Err(format!("unexpected else if in {keyword}")),
        };
        Ok(if keyword == "range" {
            Node::Range {
                pipe,
                body,
                otherwise,
            }
        } else {
            Node::With {
                pipe,
                body,
                otherwise,
            }
        })
    }

    fn until_end(&mut self) -> Result<Vec<Node>, String> {
        match self.list()? {
            (nodes, Terminator::End) => Ok(nodes),
            (_, Terminator::Eof) => Err("unexpected EOF".into()),
            (_, Terminator::Else(_)) => Err("expected end; found else".into()),
        }
    }
}

/// Parses a whole pipeline, declarations included.
fn pipe(tokens: &[Token]) -> Result<Pipe, String> {
    let mut vars = Vec::new();
    let mut declare = false;
    let mut rest = tokens;
    // `$a := …`, `$a, $b := …`, `$a = …`
    let decl_end = tokens
        .iter()
        .position(|(t, _)| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(end) = decl_end {
        for (i, (t, _)) in tokens[..end].iter().enumerate() {
            match t {
                Tok::Var(name, path) if path.is_empty() && i % 2 == 0 => vars.push(name.clone()),
                Tok::Comma if i % 2 == 1 => {}
                _ => return Err("bad variable declaration".into()),
            }
        }
        declare = matches!(tokens[end].0, Tok::Declare);
        rest = &tokens[end + 1..];
    }
    let (cmds, used) = commands(rest)?;
    if used != rest.len() {
        return Err("unexpected \")\" in command".into());
    }
    if cmds.is_empty() {
        return Err("missing value for command".into());
    }
    Ok(Pipe {
        vars,
        declare,
        cmds,
    })
}

/// Commands up to a `)` or the end; returns how many tokens were used.
fn commands(tokens: &[Token]) -> Result<(Vec<Cmd>, usize), String> {
    let mut cmds = Vec::new();
    let mut args = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (tok, span) = &tokens[i];
        match tok {
            Tok::RParen => break,
            Tok::Pipe => {
                if args.is_empty() {
                    return Err("missing command".into());
                }
                cmds.push(command(
                    std::mem::take(&mut args),
                    std::mem::take(&mut spans),
                )?);
                i += 1;
            }
            Tok::LParen => {
                let (inner, used) = commands(&tokens[i + 1..])?;
                if inner.is_empty() {
                    return Err("missing value for parenthesized pipeline".into());
                }
                i += 1 + used;
                let Some((Tok::RParen, close)) = tokens.get(i) else {
                    return Err("unclosed left paren".into());
                };
                let mut end = close.1;
                i += 1;
                let chain = match tokens.get(i) {
                    Some((Tok::Chain(path), chain_span)) => {
                        i += 1;
                        end = chain_span.1;
                        path.clone()
                    }
                    _ => Vec::new(),
                };
                let sub = Pipe {
                    vars: Vec::new(),
                    declare: false,
                    cmds: inner,
                };
                args.push(Arg::Sub(Box::new(sub), chain));
                spans.push((span.0, end));
            }
            tok => {
                args.push(operand(tok)?);
                spans.push(*span);
                i += 1;
            }
        }
    }
    if !args.is_empty() {
        cmds.push(command(args, spans)?);
    } else if !cmds.is_empty() {
        return Err("missing command after |".into());
    }
    Ok((cmds, i))
}

fn operand(tok: &Tok) -> Result<Arg, String> {
    Ok(match tok {
        Tok::Ident(name) => match name.as_str() {
            "true" => Arg::Bool(true),
            "false" => Arg::Bool(false),
            "nil" => Arg::Nil,
            _ if funcs::is_known(name) => Arg::Func(name.clone()),
            _ => return Err(format!("function {name:?} not defined")),
        },
        Tok::Field(path) => Arg::Field(path.clone()),
        Tok::Var(name, path) => Arg::Var(name.clone(), path.clone()),
        Tok::Str(s) => Arg::Str(s.clone()),
        Tok::Char(c) => Arg::Int(i64::from(u32::from(*c))),
        Tok::Num(n) => number(n)?,
        other => return Err(format!("unexpected {other:?} in operand")),
    })
}

fn number(text: &str) -> Result<Arg, String> {
    let lower = text.to_ascii_lowercase();
    let hex = lower.trim_start_matches(['+', '-']).starts_with("0x");
    if let Some(i) = parse_go_int(text) {
        return Ok(Arg::Int(i));
    }
    if !hex {
        if let Ok(f) = text.replace('_', "").parse::<f64>() {
            return Ok(Arg::Float(f));
        }
    }
    Err(format!("bad number syntax: {text:?}"))
}

fn command(args: Vec<Arg>, spans: Vec<Span>) -> Result<Cmd, String> {
    if let (Some(Arg::Nil), 1) = (args.first(), args.len()) {
        return Err("nil is not a command".into());
    }
    let regex = match (args.first(), args.get(1)) {
        (Some(Arg::Func(f)), Some(Arg::Str(re))) if funcs::takes_regex(f) => {
            Some(Regex::new(re).map_err(|e| format!("error parsing regexp: {e}"))?)
        }
        _ => None,
    };
    Ok(Cmd { args, spans, regex })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_templates() {
        let cases = [
            "plain",
            "{{.a}}",
            "{{ .a | ToUpper }}",
            "{{- .a -}}",
            "{{/* comment */}}x",
            "{{ if eq .a \"b\" }}y{{ else if .c }}z{{ else }}w{{ end }}",
            "{{ range $i, $v := .a }}{{ $v }}{{ end }}",
            "{{ with .a }}{{ . }}{{ else }}none{{ end }}",
            "{{ $x := .a }}{{ $x }}",
            "{{ (fromJson .a).b.c }}",
            "{{ printf \"%d-%s\" 1 `raw` }}",
            "{{ add 1 -2 3.5 0x10 'a' }}",
            "{{ \"}}\" }}",
        ];
        for text in cases {
            assert!(
                parse("line", text).is_ok(),
                "{text}: {:?}",
                parse("line", text).err()
            );
        }
    }

    #[test]
    fn rejects_invalid_templates() {
        let cases: &[(&str, &str)] = &[
            ("{{ .a ", "unclosed action"),
            ("{{ nope .a }}", "function \"nope\" not defined"),
            ("{{ if .a }}x", "unexpected EOF"),
            ("{{ end }}", "unexpected {{end}}"),
            ("{{ \"x }}", "unterminated quoted string"),
            (
                "{{ regexReplaceAll \"(\" .a \"x\" }}",
                "error parsing regexp",
            ),
            ("{{ ( .a }}", "unclosed left paren"),
            ("{{ }}", "missing value for command"),
            ("{{ nil }}", "nil is not a command"),
        ];
        for (text, want) in cases {
            let err = parse("line", text).unwrap_err();
            assert!(err.starts_with("template: line:1: "), "{err}");
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn trims_whitespace() {
        let nodes = parse("line", "a  {{- .x -}}  b").unwrap();
        let texts: Vec<&str> = nodes
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["a", "b"]);
    }
}
