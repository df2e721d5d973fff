//! Line filters: `|=` `!=` `|~` `!~` `|>` `!>`, with `or` alternatives and `ip("…")`.

use regex::Regex;

use super::ip::IpMatcher;
use super::pattern::Pattern;
use super::PipelineError;
use crate::logql::ast::{LineFilter, LineFilterOp, LineFilterValue};

#[derive(Debug)]
enum Alternative {
    Contains(String),
    Regex(Regex),
    Pattern(Pattern),
    Ip(IpMatcher),
}

impl Alternative {
    fn matches(&self, line: &str) -> bool {
        match self {
            Alternative::Contains(s) => line.contains(s.as_str()),
            Alternative::Regex(re) => re.is_match(line),
            Alternative::Pattern(p) => p.test(line),
            Alternative::Ip(ip) => ip.matches_in(line),
        }
    }
}

/// A compiled line filter: passes when any alternative matches (negated: when none does).
#[derive(Debug)]
pub(crate) struct LineFilterStage {
    negated: bool,
    alternatives: Vec<Alternative>,
}

impl LineFilterStage {
    pub(crate) fn new(filter: &LineFilter) -> Result<LineFilterStage, PipelineError> {
        let negated = matches!(
            filter.op,
            LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern
        );
        let alternatives = filter
            .values
            .iter()
            .map(|value| compile(filter.op, value))
            .collect::<Result<_, _>>()?;
        Ok(LineFilterStage {
            negated,
            alternatives,
        })
    }

    pub(crate) fn matches(&self, line: &str) -> bool {
        self.alternatives.iter().any(|a| a.matches(line)) != self.negated
    }
}

fn compile(op: LineFilterOp, value: &LineFilterValue) -> Result<Alternative, PipelineError> {
    let text = match value {
        LineFilterValue::Ip(pattern) => {
            if !matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains) {
                return Err(PipelineError::IpOperation);
            }
            return IpMatcher::new(pattern).map(Alternative::Ip);
        }
        LineFilterValue::Text(text) => text,
    };
    Ok(match op {
        LineFilterOp::Contains | LineFilterOp::NotContains => Alternative::Contains(text.clone()),
        LineFilterOp::Regex | LineFilterOp::NotRegex => {
            Alternative::Regex(Regex::new(text).map_err(|e| PipelineError::InvalidRegex {
                regex: text.clone(),
                reason: e.to_string(),
            })?)
        }
        LineFilterOp::Pattern | LineFilterOp::NotPattern => {
            Alternative::Pattern(Pattern::for_filter(text)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(op: LineFilterOp, values: &[&str]) -> LineFilterStage {
        LineFilterStage::new(&LineFilter {
            op,
            values: values
                .iter()
                .map(|v| LineFilterValue::Text(v.to_string()))
                .collect(),
        })
        .unwrap()
    }

    /// In the spirit of Loki's filter_test.go.
    #[test]
    fn filters_lines() {
        use LineFilterOp::*;
        let cases: &[(LineFilterOp, &[&str], &str, bool)] = &[
            (Contains, &["error"], "an error here", true),
            (Contains, &["error"], "an ERROR here", false),
            (Contains, &[""], "anything", true),
            (Contains, &["foo", "bar"], "xbarx", true),
            (Contains, &["foo", "bar"], "baz", false),
            (NotContains, &["error"], "all fine", true),
            (NotContains, &["error"], "an error", false),
            (NotContains, &["foo", "bar"], "bar", false),
            (NotContains, &["foo", "bar"], "baz", true),
            (Regex, &["err(or)?"], "an err", true),
            (Regex, &["(?i)error"], "ERROR", true),
            (Regex, &["^a"], "ba", false),
            (Regex, &["a", "^b"], "bc", true),
            (NotRegex, &["[0-9]+"], "abc", true),
            (NotRegex, &["[0-9]+"], "a1", false),
            (Pattern, &["<_> error <_>"], "level=x error here", true),
            (Pattern, &["<_> error <_>"], "all fine", false),
            (NotPattern, &["<_> error <_>"], "all fine", true),
        ];
        for (op, values, line, want) in cases {
            assert_eq!(
                filter(*op, values).matches(line),
                *want,
                "{op:?} {values:?} on {line:?}"
            );
        }
    }

    #[test]
    fn ip_filters_and_errors() {
        let ip = |op, pattern: &str| {
            LineFilterStage::new(&LineFilter {
                op,
                values: vec![LineFilterValue::Ip(pattern.into())],
            })
        };
        let f = ip(LineFilterOp::Contains, "192.168.0.0/16").unwrap();
        assert!(f.matches("from 192.168.1.1 ok"));
        assert!(!f.matches("from 10.0.0.1 ok"));
        let f = ip(LineFilterOp::NotContains, "192.168.0.0/16").unwrap();
        assert!(f.matches("from 10.0.0.1 ok"));
        let err = ip(LineFilterOp::Contains, "nope").unwrap_err().to_string();
        assert!(err.starts_with("ip: invalid pattern"), "{err}");
        let err = ip(LineFilterOp::Regex, "10.0.0.0/8")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ip: invalid operation"), "{err}");
        let mixed = LineFilterStage::new(&LineFilter {
            op: LineFilterOp::Contains,
            values: vec![
                LineFilterValue::Text("special".into()),
                LineFilterValue::Ip("10.0.0.0/8".into()),
            ],
        })
        .unwrap();
        assert!(mixed.matches("a special line"));
        assert!(mixed.matches("src 10.0.0.9 ok"));
        assert!(!mixed.matches("src 8.8.8.8 ok"));
        let bad_regex = LineFilterStage::new(&LineFilter {
            op: LineFilterOp::Regex,
            values: vec![LineFilterValue::Text("(".into())],
        });
        assert!(bad_regex
            .unwrap_err()
            .to_string()
            .starts_with("error parsing regexp"));
    }
}
