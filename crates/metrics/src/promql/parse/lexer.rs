//! A small tokenizer for the text pass: it only needs to know where strings, brackets,
//! identifiers, numbers and operators are, not what they mean.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A name: metric, label, keyword or function (`[A-Za-z_:][A-Za-z0-9_:]*`).
    Ident,
    /// A number or duration literal (`5`, `1.5e3`, `0x1f`, `1m30s`).
    Number,
    /// A quoted string (`"…"`, `'…'`, `` `…` ``).
    Str,
    /// Anything else: one operator or punctuation character (or a two-character operator).
    Punct,
}

/// A token and its byte span in the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }

    pub fn is_punct(&self, src: &str, p: &str) -> bool {
        self.kind == Kind::Punct && self.text(src) == p
    }

    pub fn is_ident(&self, src: &str, name: &str) -> bool {
        self.kind == Kind::Ident && self.text(src).eq_ignore_ascii_case(name)
    }
}

const TWO_CHAR_OPS: [&str; 6] = ["==", "!=", "<=", ">=", "=~", "!~"];

/// Splits `src` into tokens, skipping whitespace and `#` comments. Never fails: an
/// unterminated string runs to the end, unknown characters become one-character punctuation.
pub(super) fn tokenize(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = find_from(bytes, i, b'\n');
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i = string_end(bytes, i);
                Kind::Str
            }
            b'0'..=b'9' => {
                i = number_end(bytes, i);
                Kind::Number
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = number_end(bytes, i);
                Kind::Number
            }
            // After a number or `)`, a colon separates a subquery's range from its step.
            b':' if tokens
                .last()
                .is_some_and(|t: &Token| t.kind == Kind::Number || t.is_punct(src, ")")) =>
            {
                i += 1;
                Kind::Punct
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b':'))
                {
                    i += 1;
                }
                Kind::Ident
            }
            _ => {
                let two = src.get(i..i + 2).unwrap_or("");
                i += if TWO_CHAR_OPS.contains(&two) {
                    2
                } else {
                    utf8_len(c)
                };
                Kind::Punct
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: i.min(bytes.len()),
        });
    }
    tokens
}

fn find_from(bytes: &[u8], from: usize, target: u8) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == target)
        .map_or(bytes.len(), |p| from + p)
}

/// The index just past the string starting at `start` (its closing quote).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index just past a number or duration literal: alphanumerics, `.` and `_`, plus the
/// sign of a decimal exponent (`1e-3`).
fn number_end(bytes: &[u8], start: usize) -> usize {
    let is_hex =
        bytes[start..].len() > 1 && bytes[start] == b'0' && matches!(bytes[start + 1], b'x' | b'X');
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        let exponent_sign = matches!(b, b'+' | b'-')
            && !is_hex
            && i > start
            && matches!(bytes[i - 1], b'e' | b'E')
            && bytes[start..i - 1]
                .iter()
                .all(|c| c.is_ascii_digit() || *c == b'.')
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_texts(src: &str) -> Vec<(Kind, &str)> {
        tokenize(src)
            .iter()
            .map(|t| (t.kind, t.text(src)))
            .collect()
    }

    #[test]
    fn tokenizes_selectors_durations_and_strings() {
        use Kind::*;
        let cases: Vec<(&str, Vec<(Kind, &str)>)> = vec![
            (
                "a[5m]",
                vec![(Ident, "a"), (Punct, "["), (Number, "5m"), (Punct, "]")],
            ),
            (
                r#"x{a="]\"["} # c"#,
                vec![
                    (Ident, "x"),
                    (Punct, "{"),
                    (Ident, "a"),
                    (Punct, "="),
                    (Str, r#""]\"[""#),
                    (Punct, "}"),
                ],
            ),
            (
                "1e-3-2",
                vec![(Number, "1e-3"), (Punct, "-"), (Number, "2")],
            ),
            (
                "0x1e-3",
                vec![(Number, "0x1e"), (Punct, "-"), (Number, "3")],
            ),
            ("5m-1m", vec![(Number, "5m"), (Punct, "-"), (Number, "1m")]),
            ("a=~`x", vec![(Ident, "a"), (Punct, "=~"), (Str, "`x")]),
            ("ns:rule é", vec![(Ident, "ns:rule"), (Punct, "é")]),
            (
                "[1s:5s]",
                vec![
                    (Punct, "["),
                    (Number, "1s"),
                    (Punct, ":"),
                    (Number, "5s"),
                    (Punct, "]"),
                ],
            ),
            (
                "[step():1m]",
                vec![
                    (Punct, "["),
                    (Ident, "step"),
                    (Punct, "("),
                    (Punct, ")"),
                    (Punct, ":"),
                    (Number, "1m"),
                    (Punct, "]"),
                ],
            ),
        ];
        for (src, want) in cases {
            assert_eq!(kinds_and_texts(src), want, "{src}");
        }
    }
}
