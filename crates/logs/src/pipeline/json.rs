//! A small JSON scanner with jsonparser's habits (Loki parses lines with it): values are raw
//! slices of the line, numbers keep their text, a duplicate key is seen twice, and an
//! object is walked key by key so fields before a syntax error are still seen.

use std::borrow::Cow;

/// A JSON value as a slice of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonValue<'a> {
    /// The raw, still escaped, text between the quotes.
    String(&'a str),
    Number(&'a str),
    Bool(bool),
    Null,
    /// The whole `{…}` text.
    Object(&'a str),
    /// The whole `[…]` text.
    Array(&'a str),
}

/// A syntax error, with jsonparser's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonError(pub(crate) &'static str);

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

const MALFORMED: JsonError = JsonError("Malformed JSON error");
const MALFORMED_OBJECT: JsonError =
    JsonError("Value looks like object, but can't find closing '}' symbol");
const MALFORMED_ARRAY: JsonError = JsonError("Value is array, but can't find closing ']' symbol");
const MALFORMED_VALUE: JsonError =
    JsonError("Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol");
/// What Loki's `unpack` reports for a line that is not an object.
pub(crate) const NOT_OBJECT: JsonError = JsonError("expecting json object(6), but it is not");
const UNTERMINATED_STRING: JsonError =
    JsonError("Value looks like string, but can't find closing '\"' symbol");
const UNKNOWN_TYPE: JsonError = JsonError("Unknown value type");
const TOO_DEEP: JsonError = JsonError("Value nesting too deep");
const MAX_DEPTH: usize = 256;

struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn skip_ws(&mut self) {
        let b = self.s.as_bytes();
        while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(MALFORMED)
        }
    }

    /// The raw text of a string; `pos` is on the opening quote.
    fn string(&mut self) -> Result<&'a str, JsonError> {
        let b = self.s.as_bytes();
        let start = self.pos + 1;
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return Ok(&self.s[start..i]);
                }
                _ => i += 1,
            }
        }
        Err(UNTERMINATED_STRING)
    }

    fn value(&mut self, depth: usize) -> Result<JsonValue<'a>, JsonError> {
        if depth > MAX_DEPTH {
            return Err(TOO_DEEP);
        }
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(b'"') => self.string().map(JsonValue::String),
            Some(b'{') => {
                self.each_member(depth, |_, _| Ok(()))?;
                Ok(JsonValue::Object(&self.s[start..self.pos]))
            }
            Some(b'[') => {
                self.each_element(depth, |_| Ok(()))?;
                Ok(JsonValue::Array(&self.s[start..self.pos]))
            }
            Some(b't') => self.word("true", JsonValue::Bool(true)),
            Some(b'f') => self.word("false", JsonValue::Bool(false)),
            Some(b'n') => self.word("null", JsonValue::Null),
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let b = self.s.as_bytes();
                while self.pos < b.len()
                    && matches!(b[self.pos], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    self.pos += 1;
                }
                Ok(JsonValue::Number(&self.s[start..self.pos]))
            }
            _ => Err(UNKNOWN_TYPE),
        }
    }

    fn word(&mut self, word: &str, value: JsonValue<'a>) -> Result<JsonValue<'a>, JsonError> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(MALFORMED_VALUE)
        }
    }

    /// Walks `{…}` (`pos` on `{`), calling `f` with each raw key and value in order.
    fn each_member(
        &mut self,
        depth: usize,
        mut f: impl FnMut(&'a str, JsonValue<'a>) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.expect(b'{')?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(MALFORMED_OBJECT);
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            f(key, value)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                // jsonparser's words for input that ends after a value
                None => return Err(MALFORMED_ARRAY),
                _ => return Err(MALFORMED_OBJECT),
            }
        }
    }

    /// Walks `[…]` (`pos` on `[`).
    fn each_element(
        &mut self,
        depth: usize,
        mut f: impl FnMut(JsonValue<'a>) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.expect(b'[')?;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let value = self.value(depth + 1)?;
            f(value)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(MALFORMED_ARRAY),
            }
        }
    }
}

/// Calls `f` for each member of the object `text` (leading whitespace allowed, trailing text
/// ignored). Members before a syntax error are reported before the error.
pub(crate) fn object_each<'a>(
    text: &'a str,
    f: impl FnMut(&'a str, JsonValue<'a>) -> Result<(), JsonError>,
) -> Result<(), JsonError> {
    let mut scanner = Scanner { s: text, pos: 0 };
    scanner.skip_ws();
    if scanner.peek() != Some(b'{') {
        return Err(MALFORMED_OBJECT);
    }
    scanner.each_member(0, f)
}

/// One step of an extraction path: `.key` / `["key"]` or `[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathStep {
    Key(String),
    Index(usize),
}

/// Follows `path` from the root value of `text`; `Ok(None)` when a step does not exist.
pub(crate) fn lookup<'a>(
    text: &'a str,
    path: &[PathStep],
) -> Result<Option<JsonValue<'a>>, JsonError> {
    let mut scanner = Scanner { s: text, pos: 0 };
    let mut current = scanner.value(0)?;
    for step in path {
        let next = match (step, current) {
            (PathStep::Key(want), JsonValue::Object(raw)) => {
                let mut found = None;
                object_each(raw, |key, value| {
                    if found.is_none() && unescape(key) == want.as_str() {
                        found = Some(value);
                    }
                    Ok(())
                })?;
                found
            }
            (PathStep::Index(want), JsonValue::Array(raw)) => {
                let mut found = None;
                let mut i = 0;
                Scanner { s: raw, pos: 0 }.each_element(0, |value| {
                    if i == *want {
                        found = Some(value);
                    }
                    i += 1;
                    Ok(())
                })?;
                found
            }
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Decodes a raw JSON string (Loki turns an undecodable one into "" and replaces invalid
/// characters with a space).
pub(crate) fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') && !raw.contains('\u{FFFD}') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(if c == '\u{FFFD}' { ' ' } else { c });
            continue;
        }
        let decoded = match chars.next() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => match unicode_escape(&mut chars) {
                Some(c) => c,
                None => return Cow::Borrowed(""),
            },
            _ => return Cow::Borrowed(""),
        };
        out.push(decoded);
    }
    Cow::Owned(out)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let text: String = chars.by_ref().take(4).collect();
    if text.len() != 4 {
        return None;
    }
    u32::from_str_radix(&text, 16).ok()
}

fn unicode_escape(chars: &mut std::str::Chars<'_>) -> Option<char> {
    let first = hex4(chars)?;
    if !(0xD800..0xDC00).contains(&first) {
        return Some(char::from_u32(first).unwrap_or(' '));
    }
    let mut lookahead = chars.clone();
    if lookahead.next() == Some('\\') && lookahead.next() == Some('u') {
        if let Some(second) = hex4(&mut lookahead) {
            if (0xDC00..0xE000).contains(&second) {
                *chars = lookahead;
                let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Some(char::from_u32(c).unwrap_or(' '));
            }
        }
    }
    Some(' ')
}

/// The label value of a scalar as Loki renders it: strings decoded, numbers as written.
pub(crate) fn scalar_text(value: JsonValue<'_>) -> Option<Cow<'_, str>> {
    match value {
        JsonValue::String(raw) => Some(unescape(raw)),
        JsonValue::Number(n) => Some(Cow::Borrowed(n)),
        JsonValue::Bool(true) => Some(Cow::Borrowed("true")),
        JsonValue::Bool(false) => Some(Cow::Borrowed("false")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_members_in_order() {
        let mut seen = Vec::new();
        object_each(
            r#" {"a":1, "b" : "x\"y", "c":{"d":[1,{"e":2}]}, "a":true}"#,
            |k, v| {
                seen.push((k, v));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ("a", JsonValue::Number("1")),
                ("b", JsonValue::String(r#"x\"y"#)),
                ("c", JsonValue::Object(r#"{"d":[1,{"e":2}]}"#)),
                ("a", JsonValue::Bool(true)),
            ]
        );
    }

    /// jsonparser's messages, which Loki puts in `__error_details__`.
    #[test]
    fn error_messages() {
        let cases = [
            ("{n}", MALFORMED_OBJECT),
            ("[1]", MALFORMED_OBJECT),
            (r#"{"a" 1}"#, MALFORMED),
            (r#"{"a":1"#, MALFORMED_ARRAY),
            (r#"{"a":1 x"#, MALFORMED_OBJECT),
            (r#"{"a":"x}"#, UNTERMINATED_STRING),
            (r#"{"a":tru}"#, MALFORMED_VALUE),
            (r#"{"a":?}"#, UNKNOWN_TYPE),
            (r#"{"a":[1 2]}"#, MALFORMED_ARRAY),
        ];
        for (text, want) in cases {
            assert_eq!(object_each(text, |_, _| Ok(())), Err(want), "{text}");
        }
    }

    #[test]
    fn reports_errors() {
        let cases = [
            "",
            "[1]",
            "broken",
            r#"{"a":}"#,
            r#"{"a":1"#,
            r#"{"a":"x}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
        ];
        for text in cases {
            assert!(object_each(text, |_, _| Ok(())).is_err(), "{text:?}");
        }
        let mut seen = 0;
        let result = object_each(r#"{"a":1,"b":}"#, |_, _| {
            seen += 1;
            Ok(())
        });
        assert!(result.is_err());
        assert_eq!(seen, 1, "fields before the error are seen");
    }

    #[test]
    fn looks_up_paths() {
        let text = r#"{"user":{"id":"u1","tags":["x","y"],"n":null},"k y":3}"#;
        let key = |k: &str| PathStep::Key(k.into());
        let cases: Vec<(Vec<PathStep>, Option<JsonValue<'_>>)> = vec![
            (vec![key("user"), key("id")], Some(JsonValue::String("u1"))),
            (
                vec![key("user"), key("tags"), PathStep::Index(1)],
                Some(JsonValue::String("y")),
            ),
            (vec![key("user"), key("tags"), PathStep::Index(2)], None),
            (vec![key("user"), key("n")], Some(JsonValue::Null)),
            (vec![key("user"), key("age")], None),
            (vec![key("k y")], Some(JsonValue::Number("3"))),
            (vec![key("user"), PathStep::Index(0)], None),
        ];
        for (path, want) in cases {
            assert_eq!(lookup(text, &path).unwrap(), want, "{path:?}");
        }
    }

    #[test]
    fn unescapes_strings() {
        let cases = [
            ("plain", "plain"),
            (r#"a\"b"#, "a\"b"),
            (r"line\nnext\t", "line\nnext\t"),
            (r"\u00e9", "é"),
            (r"\ud83d\ude00", "😀"),
            (r"\ud83d", " "),
            (r"bad\q", ""),
            ("x\u{FFFD}y", "x y"),
        ];
        for (raw, want) in cases {
            assert_eq!(unescape(raw), want, "{raw}");
        }
    }
}
