//! Label matchers as Prometheus defines them. Regexes are fully anchored.

use std::fmt;

use regex::Regex;

/// The four matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// `name op "value"`; a missing label matches as the empty string.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

/// The regex of a matcher does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regular expression {value:?} for label {name:?}: {reason}")]
pub struct MatcherError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|e| MatcherError {
                    name: name.clone(),
                    value: value.clone(),
                    reason: e.to_string(),
                })?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Whether a label value (empty when the label is absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            _ => false,
        }
    }

    /// Whether the matcher matches the empty string, i.e. also series without the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(MatchOp, &str, &str, bool)] = &[
            (MatchOp::Equal, "a", "a", true),
            (MatchOp::Equal, "a", "b", false),
            (MatchOp::NotEqual, "a", "b", true),
            (MatchOp::RegexMatch, "a.*", "abc", true),
            (MatchOp::RegexMatch, "b", "abc", false), // anchored
            (MatchOp::RegexNoMatch, "a.*", "abc", false),
            (MatchOp::RegexMatch, ".*", "", true),
            (MatchOp::RegexMatch, "a|b", "b", true),
        ];
        for (op, pattern, value, want) in cases {
            let m = Matcher::new(*op, "l", *pattern).unwrap();
            assert_eq!(m.matches(value), *want, "{m} on {value:?}");
        }
        assert!(Matcher::new(MatchOp::RegexMatch, "l", "(").is_err());
    }
}
