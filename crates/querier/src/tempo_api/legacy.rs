//! The legacy search form (`tags=service.name="a b" http.status_code=200`, `minDuration`,
//! `maxDuration`) translated to one TraceQL spanset filter, as Tempo runs legacy searches
//! through its TraceQL engine:
//!
//! ```text
//! service.name="a b" http.status_code=200 name=GET error=true
//!   -> { .service.name = "a b" && (.http.status_code = 200 || .http.status_code = "200")
//!        && name = "GET" && status = error }
//! ```
//!
//! A value that reads as an int, a decimal float or a bool matches that type or its text
//! (legacy search compared text, so `200` must keep finding a string attribute `"200"`);
//! other values are strings. Tempo's special tags keep their meaning: `name` is the span
//! name, `status.code=ok|error|unset` and `error=true` the span status. A key without a
//! value asks that the attribute exists. Trace duration bounds become `traceDuration`
//! conditions.

use sextant_traces::traceql::Intrinsic;

/// The `key=value` pairs of a logfmt text, in order; Tempo's error texts (positions count
/// bytes from 1).
pub fn parse_logfmt(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut scanner = Scanner { text, i: 0 };
    let mut pairs: Vec<(String, String)> = Vec::new();
    loop {
        scanner.skip_space();
        let Some(c) = scanner.peek() else {
            return Ok(pairs);
        };
        let key = scanner.bare();
        if key.is_empty() {
            return Err(scanner.unexpected(c));
        }
        let value = if scanner.peek() == Some('=') {
            scanner.i += 1;
            scanner.value()?
        } else {
            String::new()
        };
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(format!("tag {key} has been set twice"));
        }
        pairs.push((key, value));
    }
}

struct Scanner<'a> {
    text: &'a str,
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.i..].chars().next()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek().filter(|c| *c <= ' ') {
            self.i += c.len_utf8();
        }
    }

    /// A run of characters that may appear unquoted.
    fn bare(&mut self) -> String {
        let start = self.i;
        while let Some(c) = self.peek().filter(|&c| c > ' ' && c != '=' && c != '"') {
            self.i += c.len_utf8();
        }
        self.text[start..self.i].to_owned()
    }

    fn unexpected(&self, c: char) -> String {
        format!("unexpected {c:?} at pos {}", self.i + 1)
    }

    /// A value after `=`: quoted with Go escapes, or bare up to the next space.
    fn value(&mut self) -> Result<String, String> {
        if self.peek() != Some('"') {
            let value = self.bare();
            return match self.peek() {
                Some(c) if c == '=' || c == '"' => Err(self.unexpected(c)),
                _ => Ok(value),
            };
        }
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.i += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.escape()?),
                _ => out.push(c),
            }
        }
        Err(format!("unterminated quoted value at pos {}", start + 1))
    }

    fn escape(&mut self) -> Result<char, String> {
        let bad = |i: usize| format!("invalid quoted value at pos {i}");
        let c = self.peek().ok_or_else(|| bad(self.i))?;
        self.i += c.len_utf8();
        Ok(match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '"' | '\\' | '/' => c,
            'u' => {
                let digits = self
                    .text
                    .get(self.i..self.i + 4)
                    .ok_or_else(|| bad(self.i))?;
                let code = u32::from_str_radix(digits, 16).map_err(|_| bad(self.i))?;
                self.i += 4;
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            _ => return Err(bad(self.i)),
        })
    }
}

/// The TraceQL of a legacy search: `{}` when nothing is asked.
pub fn legacy_query(
    tags: &[(String, String)],
    min_duration_ns: u64,
    max_duration_ns: u64,
) -> String {
    let mut conditions: Vec<String> = tags.iter().map(|(k, v)| condition(k, v)).collect();
    if min_duration_ns > 0 {
        conditions.push(format!("traceDuration >= {min_duration_ns}ns"));
    }
    if max_duration_ns > 0 {
        conditions.push(format!("traceDuration <= {max_duration_ns}ns"));
    }
    if conditions.is_empty() {
        return "{}".to_owned();
    }
    format!("{{ {} }}", conditions.join(" && "))
}

fn condition(key: &str, value: &str) -> String {
    match (key, value) {
        ("name", _) => format!("{} = {}", Intrinsic::Name.as_str(), quote(value)),
        ("status.code", "ok" | "error" | "unset") | ("error", "true") => {
            let status = if key == "error" { "error" } else { value };
            format!("{} = {status}", Intrinsic::Status.as_str())
        }
        _ => attribute_condition(&attribute(key), value),
    }
}

fn attribute_condition(field: &str, value: &str) -> String {
    if value.is_empty() {
        return format!("{field} != nil");
    }
    match typed_literal(value) {
        Some(literal) => format!("({field} = {literal} || {field} = {})", quote(value)),
        None => format!("{field} = {}", quote(value)),
    }
}

/// An int, decimal float or bool literal for `value`, if it reads as one.
fn typed_literal(value: &str) -> Option<String> {
    if let Ok(n) = value.parse::<i64>() {
        return Some(n.to_string());
    }
    if value == "true" || value == "false" {
        return Some(value.to_owned());
    }
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = unsigned.split_once('.')?;
    let decimal = [whole, fraction]
        .iter()
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    decimal.then(|| value.to_owned())
}

/// An unscoped attribute reference, quoted when the name has characters TraceQL does not
/// allow bare or starts with a digit (`.5` is a number).
pub fn attribute(name: &str) -> String {
    let bare = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| {
            !c.is_whitespace()
                && !matches!(
                    c,
                    '{' | '}'
                        | '('
                        | ')'
                        | '='
                        | '~'
                        | '!'
                        | '<'
                        | '>'
                        | '&'
                        | '|'
                        | '^'
                        | ','
                        | '"'
                        | '\\'
                        | '`'
                        | '\''
                )
        });
    if bare {
        format!(".{name}")
    } else {
        format!(".{}", quote(name))
    }
}

/// A TraceQL string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use sextant_traces::traceql::eval::TraceqlEvaluator;
    use sextant_traces::traceql::parse;

    use super::*;

    #[test]
    fn logfmt() {
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cases = [
            ("", Ok(vec![])),
            (
                r#"service.name="a b" http.status_code=200"#,
                Ok(pairs(&[
                    ("service.name", "a b"),
                    ("http.status_code", "200"),
                ])),
            ),
            (
                r#"  a="x\"y\\z\u00e9"  flag"#,
                Ok(pairs(&[("a", "x\"y\\zé"), ("flag", "")])),
            ),
            ("a= b=1", Ok(pairs(&[("a", ""), ("b", "1")]))),
            ("=x", Err("unexpected '=' at pos 1".to_owned())),
            ("a=b=c", Err("unexpected '=' at pos 4".to_owned())),
            (
                r#"a="open"#,
                Err("unterminated quoted value at pos 3".to_owned()),
            ),
            ("a=1 a=2", Err("tag a has been set twice".to_owned())),
        ];
        for (text, want) in cases {
            assert_eq!(parse_logfmt(text), want, "{text}");
        }
    }

    #[test]
    fn translation() {
        let t = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let cases = [
            (vec![], 0, 0, "{}"),
            (
                vec![t("service.name", "a b"), t("http.status_code", "200")],
                0,
                0,
                r#"{ .service.name = "a b" && (.http.status_code = 200 || .http.status_code = "200") }"#,
            ),
            (
                vec![
                    t("name", "GET /"),
                    t("error", "true"),
                    t("status.code", "ok"),
                ],
                0,
                0,
                r#"{ name = "GET /" && status = error && status = ok }"#,
            ),
            (
                vec![
                    t("ratio", "-0.5"),
                    t("ok", "false"),
                    t("v", "1e5"),
                    t("x", ""),
                ],
                0,
                0,
                r#"{ (.ratio = -0.5 || .ratio = "-0.5") && (.ok = false || .ok = "false") && .v = "1e5" && .x != nil }"#,
            ),
            (
                vec![t("odd key", "q\"")],
                100_000_000,
                2_000_000_000,
                r#"{ ."odd key" = "q\"" && traceDuration >= 100000000ns && traceDuration <= 2000000000ns }"#,
            ),
        ];
        for (tags, min, max, want) in cases {
            let got = legacy_query(&tags, min, max);
            assert_eq!(got, want);
            let parsed = parse(&got).unwrap_or_else(|e| panic!("{got}: {e}"));
            TraceqlEvaluator::new(&parsed).unwrap_or_else(|e| panic!("{got}: {e}"));
        }
    }

    proptest! {
        #[test]
        fn logfmt_never_panics(text in r#"[a-zé =\\"u0-9.]{0,32}"#) {
            let _ = parse_logfmt(&text);
        }

        /// Whatever the tags say, the translation is a valid, runnable query.
        #[test]
        fn translations_are_valid_traceql(
            tags in proptest::collection::vec(("[a-z0-9.é \"{}]{1,8}", "[a-z0-9.\\-\"\\\\ é]{0,8}"), 0..4),
            min in 0u64..10_000_000_000,
        ) {
            let query = legacy_query(&tags, min, 0);
            let parsed = parse(&query).map_err(|e| TestCaseError::fail(format!("{query}: {e}")))?;
            prop_assert!(TraceqlEvaluator::new(&parsed).is_ok(), "{}", query);
        }
    }
}
