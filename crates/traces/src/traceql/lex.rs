//! The TraceQL lexer: text to tokens with their character offsets.

use super::ast::{is_attribute_char, Attribute, AttributeScope, Intrinsic, INTRINSICS};

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A bare word: keywords, function names, unknown identifiers.
    Ident(String),
    /// An attribute or intrinsic reference.
    Attr(Attribute),
    Str(String),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    /// Punctuation and operators, e.g. `{`, `&&`, `!>>`.
    Op(&'static str),
    Eof,
}

/// A token and the character offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// A lexing error: where and what.
pub(crate) type LexError = (usize, String);

/// Operators, longest first so that `!>>` wins over `!>` and `!`.
const OPERATORS: &[&str] = &[
    "!>>", "!<<", "&>>", "&<<", "&&", "||", "!=", "!~", "!>", "!<", "=~", "<=", ">=", ">>", "<<",
    "&>", "&<", "&~", "{", "}", "(", ")", ",", "|", "=", "<", ">", "~", "!", "+", "-", "*", "/",
    "%", "^", ".",
];

const SCOPES: &[(&str, AttributeScope)] = &[
    ("span", AttributeScope::Span),
    ("resource", AttributeScope::Resource),
    ("event", AttributeScope::Event),
    ("link", AttributeScope::Link),
    ("instrumentation", AttributeScope::Instrumentation),
];

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, LexError> {
    let chars: Vec<char> = text.chars().collect();
    let mut lexer = Lexer { chars, i: 0 };
    let mut out = Vec::new();
    loop {
        lexer.skip_space();
        let pos = lexer.i;
        let Some(c) = lexer.peek(0) else {
            out.push(Token { tok: Tok::Eof, pos });
            return Ok(out);
        };
        let tok = if c.is_ascii_digit() {
            lexer.number()?
        } else if c == '"' || c == '`' {
            Tok::Str(lexer.string()?)
        } else if c == '.' {
            lexer.i += 1;
            Tok::Attr(Attribute::Named {
                scope: AttributeScope::None,
                parent: false,
                name: lexer.attribute_name()?,
            })
        } else if c.is_alphabetic() || c == '_' {
            lexer.word()?
        } else {
            lexer.operator()?
        };
        out.push(Token { tok, pos });
    }
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn skip_space(&mut self) {
        while self.peek(0).is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.peek(k) == Some(c))
    }

    fn operator(&mut self) -> Result<Tok, LexError> {
        for op in OPERATORS {
            if self.starts_with(op) {
                self.i += op.chars().count();
                return Ok(Tok::Op(op));
            }
        }
        let c = self.peek(0).unwrap_or(' ');
        Err((self.i, format!("syntax error: unexpected character {c:?}")))
    }

    /// Numbers: `12`, `1.5`, `1e3`, durations `1h30m`, `250ms`.
    fn number(&mut self) -> Result<Tok, LexError> {
        let start = self.i;
        let text = self.digits_and_fraction();
        if self.peek(0).is_some_and(char::is_alphabetic) {
            return self.duration(start, text);
        }
        if text.contains(['.', 'e', 'E']) {
            return text
                .parse::<f64>()
                .map(Tok::Float)
                .map_err(|e| (start, format!("invalid float {text}: {e}")));
        }
        text.parse::<i64>()
            .map(Tok::Int)
            .map_err(|_| (start, format!("integer out of range: {text}")))
    }

    fn digits_and_fraction(&mut self) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek(0) {
            let exponent = matches!(c, 'e' | 'E')
                && (self.peek(1).is_some_and(|d| d.is_ascii_digit())
                    || (matches!(self.peek(1), Some('+' | '-'))
                        && self.peek(2).is_some_and(|d| d.is_ascii_digit())));
            if c.is_ascii_digit() || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit()))
            {
                text.push(c);
                self.i += 1;
            } else if exponent {
                text.push(c);
                text.push(self.peek(1).unwrap_or('0'));
                self.i += 2;
            } else {
                break;
            }
        }
        text
    }

    fn duration(&mut self, start: usize, mut number: String) -> Result<Tok, LexError> {
        let mut total: i64 = 0;
        loop {
            let mut unit = String::new();
            while let Some(c) = self.peek(0).filter(|c| c.is_alphabetic()) {
                unit.push(c);
                self.i += 1;
            }
            let size: f64 = match unit.as_str() {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err((start, format!("invalid duration unit {unit:?}"))),
            };
            let out_of_range = || (start, "duration out of range".to_string());
            let part = match number.parse::<i64>() {
                // Whole numbers stay exact; fractions (`1.5h`) go through f64.
                Ok(whole) => whole.checked_mul(size as i64).ok_or_else(out_of_range)?,
                Err(_) => {
                    let value: f64 = number
                        .parse()
                        .map_err(|_| (start, format!("invalid duration {number}")))?;
                    let ns = (value * size).round();
                    if !(0.0..9.2e18).contains(&ns) {
                        return Err(out_of_range());
                    }
                    ns as i64
                }
            };
            total = total.checked_add(part).ok_or_else(out_of_range)?;
            if !self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                break;
            }
            number = self.digits_and_fraction();
        }
        Ok(Tok::Duration(total))
    }

    /// A `"..."` string with escapes, or a raw `` `...` `` string.
    fn string(&mut self) -> Result<String, LexError> {
        let start = self.i;
        let quote = self.peek(0).unwrap_or('"');
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err((start, "literal not terminated".to_string()));
            };
            self.i += 1;
            if c == quote {
                return Ok(out);
            }
            if c != '\\' || quote == '`' {
                out.push(c);
                continue;
            }
            out.push(self.escape()?);
        }
    }

    /// The character of an escape sequence after a backslash (Go's: `n`, `x41`, `u00e9`, ...).
    fn escape(&mut self) -> Result<char, LexError> {
        let pos = self.i;
        let bad = || (pos, "invalid escape sequence".to_string());
        let c = self.peek(0).ok_or_else(bad)?;
        self.i += 1;
        let hex_digits = match c {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => {
                return Ok(match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'v' => '\u{b}',
                    '\\' | '"' | '\'' => c,
                    _ => return Err(bad()),
                })
            }
        };
        let digits: String = (0..hex_digits).filter_map(|k| self.peek(k)).collect();
        self.i += hex_digits;
        u32::from_str_radix(&digits, 16)
            .ok()
            .filter(|_| digits.len() == hex_digits)
            .and_then(char::from_u32)
            .ok_or_else(bad)
    }

    /// The name after `.`/`span.`: quoted, or the run of attribute characters.
    fn attribute_name(&mut self) -> Result<String, LexError> {
        if self.peek(0) == Some('"') {
            return self.string();
        }
        let start = self.i;
        while self.peek(0).is_some_and(is_attribute_char) {
            self.i += 1;
        }
        if self.i == start {
            return Err((
                start,
                "syntax error: expected an attribute name".to_string(),
            ));
        }
        Ok(self.chars[start..self.i].iter().collect())
    }

    /// Identifiers, scoped attributes (`span.a`, `parent.resource.a`) and scoped
    /// intrinsics (`span:id`).
    fn word(&mut self) -> Result<Tok, LexError> {
        let start = self.i;
        while self
            .peek(0)
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.i += 1;
        }
        let word: String = self.chars[start..self.i].iter().collect();
        if self.peek(0) == Some(':') {
            self.i += 1;
            let rest_start = self.i;
            while self
                .peek(0)
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                self.i += 1;
            }
            let rest: String = self.chars[rest_start..self.i].iter().collect();
            let full = format!("{word}:{rest}");
            return lookup_intrinsic(&full)
                .map(|i| Tok::Attr(Attribute::Intrinsic(i)))
                .ok_or((start, format!("syntax error: unknown intrinsic {full}")));
        }
        if self.peek(0) != Some('.') {
            return Ok(match lookup_intrinsic(&word) {
                Some(i) => Tok::Attr(Attribute::Intrinsic(i)),
                _ => Tok::Ident(word),
            });
        }
        let parent = word == "parent";
        let scope = if parent {
            self.i += 1;
            self.scope_prefix()
        } else if let Some(scope) = scope_of(&word) {
            self.i += 1;
            scope
        } else {
            return Ok(Tok::Ident(word));
        };
        Ok(Tok::Attr(Attribute::Named {
            scope,
            parent,
            name: self.attribute_name()?,
        }))
    }

    /// After `parent.`: an optional `span.`/`resource.` (any scope word followed by `.`).
    fn scope_prefix(&mut self) -> AttributeScope {
        for (name, scope) in SCOPES {
            let len = name.chars().count();
            if self.starts_with(name) && self.peek(len) == Some('.') {
                self.i += len + 1;
                return *scope;
            }
        }
        AttributeScope::None
    }
}

fn scope_of(word: &str) -> Option<AttributeScope> {
    SCOPES.iter().find(|(s, _)| *s == word).map(|(_, s)| *s)
}

fn lookup_intrinsic(text: &str) -> Option<Intrinsic> {
    INTRINSICS.iter().find(|(s, _)| *s == text).map(|(_, i)| *i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        lex(text)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn lexes_table() {
        let named = |scope, parent, name: &str| {
            Tok::Attr(Attribute::Named {
                scope,
                parent,
                name: name.to_string(),
            })
        };
        let cases: Vec<(&str, Vec<Tok>)> = vec![
            ("1h30m", vec![Tok::Duration(5_400_000_000_000)]),
            ("1.5", vec![Tok::Float(1.5)]),
            ("1e3", vec![Tok::Float(1000.0)]),
            ("!>>", vec![Tok::Op("!>>")]),
            (
                ".a.b=1",
                vec![
                    named(AttributeScope::None, false, "a.b"),
                    Tok::Op("="),
                    Tok::Int(1),
                ],
            ),
            (
                "parent.span.x",
                vec![named(AttributeScope::Span, true, "x")],
            ),
            (
                "resource.\"a b\"",
                vec![named(AttributeScope::Resource, false, "a b")],
            ),
            (
                "span:id",
                vec![Tok::Attr(Attribute::Intrinsic(Intrinsic::SpanId))],
            ),
            ("`a\\b`", vec![Tok::Str("a\\b".to_string())]),
            ("\"\\x41\\u00e9\\\"\"", vec![Tok::Str("Aé\"".to_string())]),
            ("2μs", vec![Tok::Duration(2_000)]),
        ];
        for (text, mut want) in cases {
            want.push(Tok::Eof);
            assert_eq!(toks(text), want, "{text}");
        }
    }

    #[test]
    fn rejects_table() {
        for text in [
            "99999999999999999999",
            "\"abc",
            "span:rootName",
            "{ . }",
            "1xs",
            "#",
            r#""\q""#,
            r#""\u12""#,
            r#""\ud800""#,
            "3000000h",
        ] {
            assert!(lex(text).is_err(), "{text}");
        }
    }
}
