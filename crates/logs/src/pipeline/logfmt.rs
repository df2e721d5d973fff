//! A logfmt decoder with go-logfmt's rules (as adapted by Loki): `key=value`,
//! `key="quoted \"value\""`, bare `key`, and syntax errors that skip the bad pair.

use std::borrow::Cow;

/// A syntax error, worded like go-logfmt's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogfmtError {
    pos: usize,
    msg: String,
}

impl std::fmt::Display for LogfmtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "logfmt syntax error at pos {} : {}", self.pos, self.msg)
    }
}

/// One scanned item: a pair, or a syntax error after which decoding resumes at the next space.
pub(crate) type Item<'a> = Result<(&'a str, Cow<'a, str>), LogfmtError>;

/// Iterates the pairs of a line.
pub(crate) struct Decoder<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(line: &'a str) -> Self {
        Decoder { line, pos: 0 }
    }

    fn error(&mut self, at: usize, msg: String) -> LogfmtError {
        // resume after the offending token
        let b = self.line.as_bytes();
        let mut next = at.max(self.pos);
        while next < b.len() && b[next] > b' ' {
            next += 1;
        }
        self.pos = next;
        LogfmtError { pos: at + 1, msg }
    }

    fn key(&mut self) -> Result<&'a str, LogfmtError> {
        let b = self.line.as_bytes();
        let start = self.pos;
        while self.pos < b.len() {
            match b[self.pos] {
                b'=' if self.pos == start => {
                    let at = self.pos;
                    return Err(self.error(at, "unexpected '='".into()));
                }
                b'"' => {
                    let at = self.pos;
                    return Err(self.error(at, "unexpected '\"'".into()));
                }
                c if c <= b' ' || c == b'=' => break,
                _ => self.pos += 1,
            }
        }
        let key = &self.line[start..self.pos];
        // invalid input (replaced on decoding) makes an invalid key
        if key.contains('\u{FFFD}') {
            let at = self.pos;
            return Err(self.error(at, "invalid key".into()));
        }
        Ok(key)
    }

    fn quoted(&mut self) -> Result<Cow<'a, str>, LogfmtError> {
        let b = self.line.as_bytes();
        let start = self.pos;
        let mut i = start + 1;
        let mut escaped = false;
        while i < b.len() {
            match b[i] {
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                b'"' => {
                    self.pos = i + 1;
                    let raw = &self.line[start + 1..i];
                    if !escaped {
                        return Ok(Cow::Borrowed(raw));
                    }
                    return unquote(raw).map(Cow::Owned).ok_or_else(|| LogfmtError {
                        pos: i + 2,
                        msg: "invalid quoted value".into(),
                    });
                }
                _ => i += 1,
            }
        }
        self.pos = b.len();
        Err(LogfmtError {
            pos: b.len() + 1,
            msg: "unterminated quoted value".into(),
        })
    }

    fn value(&mut self) -> Result<Cow<'a, str>, LogfmtError> {
        let b = self.line.as_bytes();
        match b.get(self.pos) {
            None => return Ok(Cow::Borrowed("")),
            Some(c) if *c <= b' ' => return Ok(Cow::Borrowed("")),
            Some(b'"') => return self.quoted(),
            Some(_) => {}
        }
        let start = self.pos;
        while self.pos < b.len() {
            match b[self.pos] {
                c @ (b'=' | b'"') => {
                    let at = self.pos;
                    return Err(self.error(at, format!("unexpected '{}'", c as char)));
                }
                c if c <= b' ' => break,
                _ => self.pos += 1,
            }
        }
        Ok(Cow::Borrowed(&self.line[start..self.pos]))
    }
}

impl<'a> Iterator for Decoder<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        let b = self.line.as_bytes();
        while self.pos < b.len() && b[self.pos] <= b' ' {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let key = match self.key() {
            Ok(key) => key,
            Err(e) => return Some(Err(e)),
        };
        if b.get(self.pos) != Some(&b'=') {
            return Some(Ok((key, Cow::Borrowed(""))));
        }
        self.pos += 1;
        Some(self.value().map(|value| (key, value)))
    }
}

/// Decodes the escapes of a quoted value (JSON's set: `\"` `\\` `\/` `\b` `\f` `\n` `\r`
/// `\t` `\uXXXX`).
fn unquote(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16).ok()?;
                char::from_u32(code).unwrap_or('\u{FFFD}')
            }
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = Vec<Result<(String, String), String>>;

    fn decode(line: &str) -> Decoded {
        Decoder::new(line)
            .map(|item| {
                item.map(|(k, v)| (k.to_string(), v.into_owned()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    fn ok(k: &str, v: &str) -> Result<(String, String), String> {
        Ok((k.into(), v.into()))
    }

    #[test]
    fn decodes_pairs() {
        let cases: Vec<(&str, Decoded)> = vec![
            ("", vec![]),
            ("a=1 b=2", vec![ok("a", "1"), ok("b", "2")]),
            ("  a=1\tb=\"x y\"  ", vec![ok("a", "1"), ok("b", "x y")]),
            ("flag a=", vec![ok("flag", ""), ok("a", "")]),
            (r#"m="say \"hi\"\n""#, vec![ok("m", "say \"hi\"\n")]),
            ("a-b=1 9x=2", vec![ok("a-b", "1"), ok("9x", "2")]),
            ("é=ü", vec![ok("é", "ü")]),
            (
                "b\u{FFFD}r=10ms c=1",
                vec![
                    Err("logfmt syntax error at pos 6 : invalid key".into()),
                    ok("c", "1"),
                ],
            ),
            (
                r#"good=1 bad="unterminated"#,
                vec![
                    ok("good", "1"),
                    Err("logfmt syntax error at pos 25 : unterminated quoted value".into()),
                ],
            ),
            (
                "a=b=c d=1",
                vec![
                    Err("logfmt syntax error at pos 4 : unexpected '='".into()),
                    ok("d", "1"),
                ],
            ),
            (
                "=x y=1",
                vec![
                    Err("logfmt syntax error at pos 1 : unexpected '='".into()),
                    ok("y", "1"),
                ],
            ),
            (
                r#"a"b=1 c=2"#,
                vec![
                    Err("logfmt syntax error at pos 2 : unexpected '\"'".into()),
                    ok("c", "2"),
                ],
            ),
        ];
        for (line, want) in cases {
            assert_eq!(decode(line), want, "{line:?}");
        }
    }
}
