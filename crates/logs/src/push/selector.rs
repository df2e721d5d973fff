//! The stream label text of Loki's protobuf push (`{a="b", c="d"}`): Prometheus' series
//! selector syntax restricted to equality matchers, with Go string literals (`"…"`, `'…'`,
//! `` `…` ``). Errors read like Prometheus' `1:5: parse error: …`.

use sextant_model::Label;

/// Parses `{name="value", ...}` into its pairs in the order written. Pairs with an empty value
/// are dropped, as Loki does (an empty value is an absent label). Duplicate names are kept for
/// the caller to report.
pub(super) fn parse_stream_labels(text: &str) -> Result<Vec<Label>, String> {
    let mut p = Parser { text, pos: 0 };
    let mut labels = Vec::new();
    p.skip_ws();
    p.expect('{', "\"{\"")?;
    loop {
        p.skip_ws();
        if p.eat('}') {
            break;
        }
        let name = p.name()?;
        p.skip_ws();
        p.equals()?;
        p.skip_ws();
        let value = p.string()?;
        if !value.is_empty() {
            labels.push(Label { name, value });
        }
        p.skip_ws();
        if p.eat('}') {
            break;
        }
        p.expect(',', "\",\" or \"}\"")?;
    }
    p.skip_ws();
    match p.peek() {
        None => Ok(labels),
        Some(_) => Err(p.error("unexpected text after \"}\"")),
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, want: char) -> bool {
        let hit = self.peek() == Some(want);
        if hit {
            self.pos += want.len_utf8();
        }
        hit
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn error(&self, what: &str) -> String {
        format!("1:{}: parse error: {what}", self.pos + 1)
    }

    fn unexpected(&self, expected: &str) -> String {
        let found = match self.peek() {
            None => "end of input".to_string(),
            Some(c) => format!("{:?}", c.to_string()),
        };
        self.error(&format!("unexpected {found}, expected {expected}"))
    }

    fn expect(&mut self, want: char, expected: &str) -> Result<(), String> {
        if self.eat(want) {
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.pos;
        let rest = &self.text[start..];
        let len = rest
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return Err(self.unexpected("label name"));
        }
        self.pos += len;
        Ok(rest[..len].to_string())
    }

    fn equals(&mut self) -> Result<(), String> {
        let rest = &self.text[self.pos..];
        for op in ["!=", "=~", "!~"] {
            if rest.starts_with(op) {
                return Err(self.error(&format!(
                    "unexpected {op:?} in label matching, expected \"=\" (stream labels are equality pairs)"
                )));
            }
        }
        self.expect('=', "\"=\"")
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.pos;
        let quote = match self.peek() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return Err(self.unexpected("label value string")),
        };
        self.bump();
        let body_start = self.pos;
        loop {
            match self.bump() {
                None => {
                    self.pos = start;
                    return Err(self.error("unterminated quoted string"));
                }
                Some('\\') if quote != '`' => {
                    self.bump();
                }
                Some('\n') if quote != '`' => {
                    self.pos = start;
                    return Err(self.error("unterminated quoted string"));
                }
                Some(c) if c == quote => break,
                Some(_) => {}
            }
        }
        let body = &self.text[body_start..self.pos - 1];
        if quote == '`' {
            return Ok(body.to_string());
        }
        unquote(body, quote).map_err(|e| {
            let literal = &self.text[start..self.pos];
            format!("1:{}: parse error: {e} in {literal}", start + 1)
        })
    }
}

/// Applies Go's escape sequences to the body of a `"…"` or `'…'` literal.
fn unquote(body: &str, quote: char) -> Result<String, &'static str> {
    const INVALID: &str = "invalid escape sequence";
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let escaped = chars.next().ok_or(INVALID)?;
        let simple = match escaped {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        match escaped {
            'x' => out.push(take_radix(&mut chars, 2, 16).ok_or(INVALID)? as u8),
            'u' | 'U' => {
                let digits = if escaped == 'u' { 4 } else { 8 };
                let code = take_radix(&mut chars, digits, 16).ok_or(INVALID)?;
                let c = char::from_u32(code).ok_or(INVALID)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let rest = take_radix(&mut chars, 2, 8).ok_or(INVALID)?;
                let value = escaped.to_digit(8).unwrap_or(0) * 64 + rest;
                out.push(u8::try_from(value).map_err(|_| INVALID)?);
            }
            _ => return Err(INVALID),
        }
    }
    String::from_utf8(out).map_err(|_| "invalid UTF-8 in escape sequence")
}

fn take_radix(chars: &mut std::str::Chars<'_>, digits: usize, radix: u32) -> Option<u32> {
    let mut value = 0u32;
    for _ in 0..digits {
        value = value * radix + chars.next()?.to_digit(radix)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pairs(text: &str) -> Result<Vec<(String, String)>, String> {
        parse_stream_labels(text).map(|ls| ls.into_iter().map(|l| (l.name, l.value)).collect())
    }

    #[test]
    fn valid_selectors() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("{}", &[]),
            (" { } ", &[]),
            (r#"{job="varlogs"}"#, &[("job", "varlogs")]),
            (
                r#"{job="varlogs", filename="/var/log/syslog"}"#,
                &[("job", "varlogs"), ("filename", "/var/log/syslog")],
            ),
            (r#"{a="b",}"#, &[("a", "b")]),
            (r#"{ a = "b" , _c9 = 'd' }"#, &[("a", "b"), ("_c9", "d")]),
            (r#"{a="x\"y\n\u00e9\x41\101"}"#, &[("a", "x\"y\néAA")]),
            (r#"{a='it\'s'}"#, &[("a", "it's")]),
            ("{a=`raw\\n`}", &[("a", "raw\\n")]),
            (r#"{a="", b="c"}"#, &[("b", "c")]),
            (r#"{a="1", a="2"}"#, &[("a", "1"), ("a", "2")]),
            (r#"{a="日本"}"#, &[("a", "日本")]),
        ];
        for (text, want) in cases {
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(pairs(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn invalid_selectors() {
        let cases = [
            ("", "1:1: parse error: unexpected end of input, expected \"{\""),
            (
                "job=\"x\"",
                "1:1: parse error: unexpected \"j\", expected \"{\"",
            ),
            ("{a=}", "1:4: parse error: unexpected \"}\", expected label value string"),
            ("{a=\"b\"", "1:7: parse error: unexpected end of input, expected \",\" or \"}\""),
            ("{a=\"b}", "1:4: parse error: unterminated quoted string"),
            (
                "{a=~\"b\"}",
                "1:3: parse error: unexpected \"=~\" in label matching, expected \"=\" (stream labels are equality pairs)",
            ),
            ("{9a=\"b\"}", "1:2: parse error: unexpected \"9\", expected label name"),
            ("{a.b=\"c\"}", "1:3: parse error: unexpected \".\", expected \"=\""),
            ("{a=\"b\"} x", "1:9: parse error: unexpected text after \"}\""),
            ("{a=\"\\q\"}", "1:4: parse error: invalid escape sequence in \"\\q\""),
            ("{a=\"b\" c=\"d\"}", "1:8: parse error: unexpected \"c\", expected \",\" or \"}\""),
        ];
        for (text, want) in cases {
            assert_eq!(pairs(text), Err(want.to_string()), "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in ".{0,40}") {
            let _ = parse_stream_labels(&text);
        }

        #[test]
        fn roundtrips_quoted_values(
            name in "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
            value in "[ -~\u{e9}\u{65e5}\n\t]{1,20}",
        ) {
            // Rust's Debug escapes of these characters are Go's.
            let text = format!("{{{name}={value:?}}}");
            prop_assert_eq!(pairs(&text), Ok(vec![(name, value)]));
        }
    }
}
