//! Line filters: `|=` `!=` `|~` `!~` `|>` `!>`, with `or` alternatives and `ip("…")`.

use regex::Regex;

use super::ip::IpMatcher;
use super::pattern::Pattern;
use super::PipelineError;
use crate::logql::ast::{LineFilter, LineFilterOp, LineFilterValue, Stage};

/// `str::contains` searches needles of up to 32 bytes with SIMD; a longer one gets a two-way
/// searcher built on every call (on 41-byte `trace_id=<hex>` needles, most of a filter's
/// time), so longer literals are compiled once into a regex instead (4x faster on them, 20 %
/// slower than `str::contains` on short ones).
const SHORT_LITERAL_MAX: usize = 32;

#[derive(Debug)]
enum Alternative {
    /// A literal up to [`SHORT_LITERAL_MAX`] bytes (or one too long for a regex).
    Contains(String),
    /// A longer literal, searched with a precompiled regex (a `memmem` search).
    ContainsLong(Regex),
    Regex(Regex),
    Pattern(Pattern),
    Ip(IpMatcher),
}

impl Alternative {
    fn matches(&self, line: &str) -> bool {
        match self {
            Alternative::Contains(s) => line.contains(s.as_str()),
            Alternative::ContainsLong(re) | Alternative::Regex(re) => re.is_match(line),
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

/// The line filters a pipeline starts with (its stages before the first parser, label
/// filter or format, which all see the original line), to run where the lines are stored:
/// chunk readers drop lines before building entries for them, and skip whole blocks of bytes
/// that cannot hold a passing line (Loki pushes its line filters into its chunk iterators
/// the same way). The full pipeline still runs on the lines that pass.
#[derive(Debug, Default)]
pub struct LogsLineFilter {
    stages: Vec<LineFilterStage>,
    /// For every `|=` stage with only text values: a searcher for any of them, over bytes.
    required: Vec<regex::bytes::Regex>,
}

impl LogsLineFilter {
    /// The leading line filters of a pipeline's stages (none: every line passes).
    pub fn new(stages: &[Stage]) -> Result<LogsLineFilter, PipelineError> {
        let mut out = LogsLineFilter::default();
        for stage in stages {
            let Stage::LineFilter(filter) = stage else {
                break;
            };
            out.stages.push(LineFilterStage::new(filter)?);
            out.required.extend(required_search(filter));
        }
        Ok(out)
    }

    /// Whether every line passes (no leading line filter).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Whether a line passes every leading line filter.
    pub fn matches(&self, line: &str) -> bool {
        self.stages.iter().all(|s| s.matches(line))
    }

    /// False only when no line held verbatim in `bytes` (e.g. a decompressed chunk block)
    /// can pass: some `|=` filter finds none of its values anywhere in them. True does not
    /// mean a line passes (a value may span two lines, or sit in metadata).
    pub fn may_match_within(&self, bytes: &[u8]) -> bool {
        self.required.iter().all(|search| search.is_match(bytes))
    }
}

/// For `|= "a" or "b"`: a searcher for `a` or `b` in bytes (regex compiles a literal search
/// to a SIMD substring search). `None` for negated, regex, pattern and `ip()` filters, and
/// when a value is empty (every line passes then).
fn required_search(filter: &LineFilter) -> Option<regex::bytes::Regex> {
    if filter.op != LineFilterOp::Contains {
        return None;
    }
    let mut literals = Vec::with_capacity(filter.values.len());
    for value in &filter.values {
        match value {
            LineFilterValue::Text(text) if !text.is_empty() => literals.push(regex::escape(text)),
            _ => return None,
        }
    }
    // a literal too long for the regex size limit is not searched ahead (rare)
    regex::bytes::Regex::new(&literals.join("|")).ok()
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
        LineFilterOp::Contains | LineFilterOp::NotContains => {
            let long = (text.len() > SHORT_LITERAL_MAX)
                .then(|| compile_regex(&regex::escape(text)).ok())
                .flatten();
            long.map_or_else(
                || Alternative::Contains(text.clone()),
                Alternative::ContainsLong,
            )
        }
        LineFilterOp::Regex | LineFilterOp::NotRegex => Alternative::Regex(compile_regex(text)?),
        LineFilterOp::Pattern | LineFilterOp::NotPattern => {
            Alternative::Pattern(Pattern::for_filter(text)?)
        }
    })
}

fn compile_regex(text: &str) -> Result<Regex, PipelineError> {
    Regex::new(text).map_err(|e| PipelineError::InvalidRegex {
        regex: text.to_owned(),
        reason: e.to_string(),
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

    /// 41 bytes with every regex metacharacter.
    const LONG: &str = "a.b*c(d)[e]{f}|g^h$i\\j+k?l=0123456789abcdef0";

    /// In the spirit of Loki's filter_test.go.
    #[test]
    fn filters_lines() {
        use LineFilterOp::*;
        let wrapped = format!("x {LONG} y");
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
            // literals longer than 32 bytes are searched with an escaped regex
            (Contains, &[LONG], &wrapped, true),
            (
                Contains,
                &[LONG],
                "a.b*c(d)[e]{f}|g^h$i\\j+k?l=0123456789abcdef",
                false,
            ),
            (
                Contains,
                &[LONG],
                "aXb*c(d)[e]{f}|g^h$i\\j+k?l=0123456789abcdef0",
                false,
            ),
            (Contains, &["short", LONG], "a short one", true),
            (NotContains, &[LONG], LONG, false),
            (NotContains, &[LONG], "anything else", true),
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
    fn leading_line_filters_run_on_lines_and_bytes() {
        // query, line, passes, bytes, may match within the bytes
        let cases: &[(&str, &str, bool, &str, bool)] = &[
            (
                r#"|= "trace_id=ab""#,
                "x trace_id=ab y",
                true,
                "..trace_id=ab..",
                true,
            ),
            (
                r#"|= "trace_id=ab""#,
                "x trace_id=a",
                false,
                "..trace_id=a..",
                false,
            ),
            (r#"|= "a1" or "b2""#, "b2", true, "zzb2", true),
            (r#"|= "a1" or "b2""#, "c3", false, "zzc3", false),
            (r#"|= "a" |= "b""#, "ab", true, "a..b", true),
            (r#"|= "a" |= "b""#, "a", false, "a..a", false),
            (r#"|= "é""#, "café", true, "café", true),
            (r#"|= """#, "", true, "", true),
            (r#"!= "a""#, "b", true, "a", true),
            (r#"|~ "a+b""#, "xaab", true, "zz", true),
            (r#"|= ip("10.0.0.0/8")"#, "from 10.1.2.3", true, "zz", true),
            (r#"| logfmt |= "a""#, "b", true, "b", true),
            ("", "anything", true, "", true),
        ];
        for (stages, line, passes, bytes, may) in cases {
            let expr =
                crate::logql::parse::parse_log_expr(&format!("{{a=\"b\"}} {stages}")).unwrap();
            let f = LogsLineFilter::new(&expr.pipeline).unwrap();
            assert_eq!(f.matches(line), *passes, "{stages} on {line:?}");
            assert_eq!(
                f.may_match_within(bytes.as_bytes()),
                *may,
                "{stages} in {bytes:?}"
            );
            let pipeline = super::super::Pipeline::new(&expr.pipeline).unwrap();
            let labels = sextant_model::Labels::default();
            if !passes {
                assert!(
                    pipeline.process(0, line, &labels, &labels).is_none(),
                    "{stages}"
                );
            }
        }
        let long = "x".repeat(1 << 20);
        let f = LineFilterStage::new(&LineFilter {
            op: LineFilterOp::Contains,
            values: vec![LineFilterValue::Text(long.clone())],
        })
        .unwrap();
        assert!(f.matches(&format!("a{long}b")) && !f.matches("xx"));
        let empty = LogsLineFilter::new(&[]).unwrap();
        assert!(empty.is_empty() && empty.matches("x") && empty.may_match_within(b""));
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
