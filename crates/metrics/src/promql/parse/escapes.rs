//! `\xNN` escapes in string literals are bytes in Go (Prometheus), but promql-parser turns each
//! into the code point U+00NN. This pass rewrites every run of byte escapes holding a byte of
//! 0x80 or more into the text those bytes decode to as UTF-8 (`"\xc3\xa9"` becomes `"é"`),
//! with U+FFFD where they are not valid UTF-8, so `"a\xc5z"` stays an invalid label name.

/// The query with non-ASCII byte escapes in `"`/`'` strings decoded; everything else unchanged.
pub(super) fn decode_byte_escapes(query: &str) -> String {
    if !query.contains("\\x") {
        return query.to_string();
    }
    let mut out = String::with_capacity(query.len());
    let mut chars = query.char_indices().peekable();
    let mut quote: Option<char> = None;
    while let Some((i, c)) = chars.next() {
        match quote {
            None => {
                if matches!(c, '"' | '\'' | '`') {
                    quote = Some(c);
                }
                out.push(c);
            }
            Some('`') => {
                if c == '`' {
                    quote = None;
                }
                out.push(c);
            }
            Some(q) if c == q => {
                quote = None;
                out.push(c);
            }
            Some(_) if c == '\\' => {
                let (bytes, len) = byte_run(&query[i..]);
                if bytes.iter().any(|b| *b >= 0x80) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                    // skip the rest of the run (its first char, the backslash, is consumed)
                    for _ in 1..len {
                        chars.next();
                    }
                } else {
                    out.push(c);
                    // copy the escaped char so `\\` or `\"` does not end the string
                    if let Some((_, next)) = chars.next() {
                        out.push(next);
                    }
                }
            }
            Some(_) => out.push(c),
        }
    }
    out
}

/// The bytes of the run of `\xNN` escapes at the start of `s`, and its length in chars (all
/// ASCII, so also in bytes). An empty run when `s` does not start with one.
fn byte_run(s: &str) -> (Vec<u8>, usize) {
    let mut bytes = Vec::new();
    let mut rest = s.as_bytes();
    let mut len = 0;
    while rest.len() >= 4 && rest[0] == b'\\' && rest[1] == b'x' {
        let Some(b) = std::str::from_utf8(&rest[2..4])
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        else {
            break;
        };
        bytes.push(b);
        rest = &rest[4..];
        len += 4;
    }
    (bytes, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("up", "up"),
            (r#"x{a="\x41"}"#, r#"x{a="\x41"}"#),
            (r#"x{a="\xc3\xa9"}"#, r#"x{a="é"}"#),
            (
                r#"count_values("a\xc5z", x)"#,
                "count_values(\"a\u{fffd}z\", x)",
            ),
            (r#"x{a='\xff'}"#, "x{a='\u{fffd}'}"),
            ("x{a=`\\xff`}", "x{a=`\\xff`}"),
            (r#"x{a="\\xff"}"#, r#"x{a="\\xff"}"#),
            (r#"x{a="\"\xc3\xa9"}"#, r#"x{a="\"é"}"#),
            (r#"x{a="\x4"}"#, r#"x{a="\x4"}"#),
        ];
        for (input, want) in cases {
            assert_eq!(decode_byte_escapes(input), want, "{input}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = decode_byte_escapes(&s);
        }
    }
}
