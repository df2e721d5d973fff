//! Loki's pattern expressions: `<method> <_> <status>` — literals and captures, where
//! `<_>` skips a field. Used by the `pattern` parser and the `|>` / `!>` line filters.

use super::PipelineError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Literal(String),
    /// A named capture; `None` is `<_>`.
    Capture(Option<String>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    nodes: Vec<Node>,
    names: Vec<String>,
}

impl Pattern {
    /// The parser form: at least one named capture, no two captures side by side, unique names.
    pub(crate) fn for_parser(text: &str) -> Result<Pattern, PipelineError> {
        let pattern = Self::parse(text);
        let invalid = |reason: String| PipelineError::InvalidPattern {
            pattern: text.to_owned(),
            reason,
        };
        if pattern.names.is_empty() {
            return Err(invalid("at least one capture is required".into()));
        }
        pattern.check_structure().map_err(invalid)?;
        Ok(pattern)
    }

    /// The line-filter form: only `<_>` captures.
    pub(crate) fn for_filter(text: &str) -> Result<Pattern, PipelineError> {
        let pattern = Self::parse(text);
        let invalid = |reason: String| PipelineError::InvalidPattern {
            pattern: text.to_owned(),
            reason,
        };
        pattern.check_structure().map_err(invalid)?;
        if !pattern.names.is_empty() {
            return Err(invalid("named captures are not allowed".into()));
        }
        Ok(pattern)
    }

    fn check_structure(&self) -> Result<(), String> {
        let consecutive = self
            .nodes
            .windows(2)
            .any(|w| matches!(w, [Node::Capture(_), Node::Capture(_)]));
        if consecutive {
            return Err("found consecutive capture: invalid expression".into());
        }
        for (i, name) in self.names.iter().enumerate() {
            if self.names[..i].contains(name) {
                return Err(format!(
                    "duplicate capture name ({name}): invalid expression"
                ));
            }
        }
        Ok(())
    }

    fn parse(text: &str) -> Pattern {
        let mut nodes = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if let Some((name, len)) = capture_at(rest) {
                if !literal.is_empty() {
                    nodes.push(Node::Literal(std::mem::take(&mut literal)));
                }
                let capture = (name != "_").then(|| name.to_owned());
                nodes.push(Node::Capture(capture));
                rest = &rest[len..];
            } else {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !literal.is_empty() {
            nodes.push(Node::Literal(literal));
        }
        let names = nodes
            .iter()
            .filter_map(|n| match n {
                Node::Capture(Some(name)) => Some(name.clone()),
                _ => None,
            })
            .collect();
        Pattern { nodes, names }
    }

    /// The named captures, in order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The values of the leading named captures that matched (Loki's `Matches`): a capture
    /// whose following literal is missing takes the rest of the line and ends the match.
    pub(crate) fn captures<'l>(&self, line: &'l str) -> Vec<&'l str> {
        let mut out = Vec::new();
        if line.is_empty() || self.nodes.is_empty() {
            return out;
        }
        let mut nodes = &self.nodes[..];
        let mut rest = line;
        if let Node::Literal(lit) = &nodes[0] {
            match rest.strip_prefix(lit.as_str()) {
                Some(r) => rest = r,
                None => return out,
            }
            nodes = &nodes[1..];
        }
        while let Some(Node::Capture(capture)) = nodes.first() {
            let Some(Node::Literal(lit)) = nodes.get(1) else {
                // ending on a capture
                if capture.is_some() {
                    out.push(rest);
                }
                return out;
            };
            nodes = &nodes[2..];
            let Some(i) = rest.find(lit.as_str()) else {
                if capture.is_some() {
                    out.push(rest);
                }
                return out;
            };
            if capture.is_some() {
                out.push(&rest[..i]);
            }
            rest = &rest[i + lit.len()..];
        }
        out
    }

    /// Whether the whole line matches (Loki's `Test`, used by `|>`): literals in order, no
    /// empty capture, and trailing text only when the pattern ends with a capture.
    pub(crate) fn test(&self, line: &str) -> bool {
        if line.is_empty() || self.nodes.is_empty() {
            return line.is_empty() && self.nodes.is_empty();
        }
        let mut offset = 0;
        for (i, node) in self.nodes.iter().enumerate() {
            let Node::Literal(lit) = node else { continue };
            let Some(j) = line[offset..].find(lit.as_str()) else {
                return false;
            };
            if i != 0 && j == 0 {
                return false;
            }
            offset += j + lit.len();
        }
        let ends_on_capture = matches!(self.nodes.last(), Some(Node::Capture(_)));
        ends_on_capture == (offset != line.len())
    }
}

/// `<name>` at the start of `s`: the name and the length of the whole capture.
fn capture_at(s: &str) -> Option<(&str, usize)> {
    let inner = s.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    let valid = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then_some((name, end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from Loki's pattern_test.go.
    #[test]
    fn captures_like_loki() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("foo <foo> bar", "foo buzz bar", &["buzz"]),
            ("foo <foo> bar<fuzz>", "foo buzz bar", &["buzz", ""]),
            ("<foo>foo <bar> bar", "foo buzz bar", &["", "buzz"]),
            ("<foo> bar<fuzz>", " bar", &["", ""]),
            (
                "<path>?<_>",
                "/api/plugins/versioncheck?",
                &["/api/plugins/versioncheck"],
            ),
            (
                "<path>?<_>",
                "/api/plugins/status",
                &["/api/plugins/status"],
            ),
            (
                "<method> <path> <status>",
                "GET /home 200",
                &["GET", "/home", "200"],
            ),
            ("<method> <path>", "POST", &["POST"]),
            ("<method> <_> <status>", "GET /home 200", &["GET", "200"]),
            ("foo <x>", "bar", &[]),
            (
                r#"<ip> - <user> [<_>] "<method> <path> <_>" <status>"#,
                r#"10.0.0.1 - bob [01/Jan/2000] "GET /x HTTP/1.1" 200"#,
                &["10.0.0.1", "bob", "GET", "/x", "200"],
            ),
        ];
        for (pattern, line, want) in cases {
            let p = Pattern::for_parser(pattern).unwrap();
            assert_eq!(p.captures(line), *want, "{pattern} on {line}");
        }
    }

    #[test]
    fn rejects_invalid_parser_patterns() {
        let cases: &[(&str, &str)] = &[
            ("no captures here", "at least one capture is required"),
            ("<_> only", "at least one capture is required"),
            ("<a><b>", "found consecutive capture"),
            ("<a> <a>", "duplicate capture name (a)"),
        ];
        for (pattern, msg) in cases {
            let err = Pattern::for_parser(pattern).unwrap_err().to_string();
            assert!(err.contains(msg), "{pattern}: {err}");
        }
        assert_eq!(Pattern::for_parser("<1a> <b>").unwrap().names(), ["b"]);
        let err = Pattern::for_filter("<verb> /api").unwrap_err().to_string();
        assert!(err.contains("named captures are not allowed"), "{err}");
    }

    /// Cases from Loki's pattern filter tests.
    #[test]
    fn test_like_loki() {
        let cases: &[(&str, &str, bool)] = &[
            ("<_> bar", "foo bar baz", false),
            ("<_> baz", "foo bar baz", true),
            ("foo <_>", "foo bar baz", true),
            ("<_> bar <_>", " bar ", false),
            ("<_>bar<_>", " bar ", true),
            ("<_> error <_>", "level=x error happened", true),
            ("<_> error <_>", "no problem", false),
            ("", "", true),
            ("", "x", false),
            ("foo", "foo", true),
        ];
        for (pattern, line, want) in cases {
            let p = Pattern::for_filter(pattern).unwrap();
            assert_eq!(p.test(line), *want, "{pattern:?} on {line:?}");
        }
    }
}
