//! Label filters (Loki's `label_filter.go`): string matchers, number / duration / byte-size
//! comparisons, `ip()`, combined with `and` / `or`.
//!
//! A comparison fails when its label is missing. A value that does not convert sets
//! `__error__="LabelFilterErr"` (unless an error is already set: the first one keeps its
//! details) and lets the entry pass, so `| __error__=""` can drop it; a value that converts is
//! compared even on an entry that carries an error. `ip()` passes every entry with an error.

use sextant_model::Matcher;

use super::convert;
use super::ip::IpMatcher;
use super::labels::{LineLabels, ERROR_DETAILS_LABEL, ERROR_LABEL};
use super::PipelineError;
use crate::logql::ast::{CmpOp, LabelFilter};

pub(crate) const LABEL_FILTER_ERR: &str = "LabelFilterErr";

/// What a comparison converts the label value with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Number,
    /// Compared in nanoseconds.
    Duration,
    Bytes,
}

#[derive(Debug)]
pub(crate) enum LabelFilterStage {
    And(Box<LabelFilterStage>, Box<LabelFilterStage>),
    Or(Box<LabelFilterStage>, Box<LabelFilterStage>),
    String(Matcher),
    Compare {
        name: String,
        op: CmpOp,
        kind: Kind,
        value: f64,
    },
    Ip {
        name: String,
        equal: bool,
        matcher: IpMatcher,
    },
}

impl LabelFilterStage {
    pub(crate) fn new(filter: &LabelFilter) -> Result<LabelFilterStage, PipelineError> {
        let compare = |name: &String, op: &CmpOp, kind, value| LabelFilterStage::Compare {
            name: name.clone(),
            op: *op,
            kind,
            value,
        };
        Ok(match filter {
            LabelFilter::And(l, r) => {
                LabelFilterStage::And(Box::new(Self::new(l)?), Box::new(Self::new(r)?))
            }
            LabelFilter::Or(l, r) => {
                LabelFilterStage::Or(Box::new(Self::new(l)?), Box::new(Self::new(r)?))
            }
            LabelFilter::String(m) => LabelFilterStage::String(m.clone()),
            LabelFilter::Number { name, op, value } => compare(name, op, Kind::Number, *value),
            LabelFilter::Duration { name, op, value_ms } => {
                compare(name, op, Kind::Duration, (value_ms * 1e6).round())
            }
            LabelFilter::Bytes { name, op, value } => compare(name, op, Kind::Bytes, *value as f64),
            LabelFilter::Ip {
                name,
                equal,
                pattern,
            } => LabelFilterStage::Ip {
                name: name.clone(),
                equal: *equal,
                matcher: IpMatcher::new(pattern)?,
            },
        })
    }

    /// Whether the entry passes; may set `__error__`.
    pub(crate) fn apply(&self, labels: &mut LineLabels<'_>) -> bool {
        match self {
            // both sides run even when the left fails, as in Loki
            LabelFilterStage::And(l, r) => {
                let left = l.apply(labels);
                let right = r.apply(labels);
                left && right
            }
            LabelFilterStage::Or(l, r) => l.apply(labels) || r.apply(labels),
            LabelFilterStage::String(m) => {
                let value = match m.name.as_str() {
                    ERROR_LABEL => labels.err(),
                    ERROR_DETAILS_LABEL => labels.err_details(),
                    name => labels.get(name).unwrap_or(""),
                };
                m.matches(value)
            }
            LabelFilterStage::Compare {
                name,
                op,
                kind,
                value,
            } => compare(labels, name, *op, *kind, *value),
            LabelFilterStage::Ip {
                name,
                equal,
                matcher,
            } => {
                if labels.has_err() {
                    return true;
                }
                match labels.get(name) {
                    None => false,
                    Some(v) => matcher.matches_in(v) == *equal,
                }
            }
        }
    }
}

fn compare(labels: &mut LineLabels<'_>, name: &str, op: CmpOp, kind: Kind, want: f64) -> bool {
    let Some(text) = labels.get(name) else {
        return false;
    };
    let parsed = match kind {
        Kind::Number => convert::parse_float(text),
        Kind::Duration => convert::parse_duration_ns(text),
        Kind::Bytes => convert::parse_bytes(text).map(|b| b as f64),
    };
    match parsed {
        Ok(got) => match op {
            CmpOp::Eq => got == want,
            CmpOp::Ne => got != want,
            CmpOp::Gt => got > want,
            CmpOp::Ge => got >= want,
            CmpOp::Lt => got < want,
            CmpOp::Le => got <= want,
        },
        Err(details) => {
            if !labels.has_err() {
                labels.set_err(LABEL_FILTER_ERR, details);
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_model::{Labels, MatchOp};

    /// Expected labels of a case.
    type LabelPairs<'a> = &'a [(&'a str, &'a str)];

    fn and(l: LabelFilter, r: LabelFilter) -> LabelFilter {
        LabelFilter::And(Box::new(l), Box::new(r))
    }

    fn or(l: LabelFilter, r: LabelFilter) -> LabelFilter {
        LabelFilter::Or(Box::new(l), Box::new(r))
    }

    fn num(name: &str, op: CmpOp, value: f64) -> LabelFilter {
        LabelFilter::Number {
            name: name.into(),
            op,
            value,
        }
    }

    fn string(name: &str, op: MatchOp, value: &str) -> LabelFilter {
        LabelFilter::String(Matcher::new(op, name, value).unwrap())
    }

    /// Cases in the spirit of Loki's label_filter_test.go: (filter, labels, passes, error).
    #[test]
    fn filters_labels() {
        let dur = |op, ms| LabelFilter::Duration {
            name: "duration".into(),
            op,
            value_ms: ms,
        };
        let bytes = |op, value| LabelFilter::Bytes {
            name: "size".into(),
            op,
            value,
        };
        let cases: Vec<(LabelFilter, LabelPairs<'_>, bool, &str)> = vec![
            (
                num("status", CmpOp::Ge, 500.0),
                &[("status", "503")],
                true,
                "",
            ),
            (
                num("status", CmpOp::Ge, 500.0),
                &[("status", "200")],
                false,
                "",
            ),
            (
                num("status", CmpOp::Eq, 200.0),
                &[("status", "200.0")],
                true,
                "",
            ),
            (
                num("status", CmpOp::Ne, 200.0),
                &[("status", "201")],
                true,
                "",
            ),
            (num("status", CmpOp::Lt, 1.0), &[], false, ""),
            (
                num("status", CmpOp::Gt, 1.0),
                &[("status", "abc")],
                true,
                LABEL_FILTER_ERR,
            ),
            (dur(CmpOp::Gt, 250.0), &[("duration", "1s")], true, ""),
            (dur(CmpOp::Gt, 250.0), &[("duration", "100ms")], false, ""),
            (dur(CmpOp::Eq, 0.0015), &[("duration", "1.5us")], true, ""),
            (
                dur(CmpOp::Gt, 1.0),
                &[("duration", "5")],
                true,
                LABEL_FILTER_ERR,
            ),
            (bytes(CmpOp::Gt, 10_000), &[("size", "20KB")], true, ""),
            (bytes(CmpOp::Le, 10_240), &[("size", "10KiB")], true, ""),
            (bytes(CmpOp::Lt, 10), &[("size", "1MB")], false, ""),
            (
                string("app", MatchOp::Equal, "a"),
                &[("app", "a")],
                true,
                "",
            ),
            (
                string("app", MatchOp::RegexMatch, "a|b"),
                &[("app", "b")],
                true,
                "",
            ),
            (
                string("missing", MatchOp::Equal, ""),
                &[("app", "a")],
                true,
                "",
            ),
            (
                and(num("a", CmpOp::Gt, 1.0), string("b", MatchOp::Equal, "x")),
                &[("a", "2"), ("b", "x")],
                true,
                "",
            ),
            (
                and(num("a", CmpOp::Gt, 1.0), string("b", MatchOp::Equal, "x")),
                &[("a", "0"), ("b", "x")],
                false,
                "",
            ),
            (
                or(num("a", CmpOp::Gt, 1.0), string("b", MatchOp::Equal, "x")),
                &[("a", "0"), ("b", "x")],
                true,
                "",
            ),
            (
                or(num("a", CmpOp::Gt, 1.0), string("b", MatchOp::Equal, "x")),
                &[("a", "0"), ("b", "y")],
                false,
                "",
            ),
            // after a conversion error a value that converts still compares
            (
                and(num("a", CmpOp::Gt, 1.0), num("b", CmpOp::Gt, 100.0)),
                &[("a", "x"), ("b", "1")],
                false,
                LABEL_FILTER_ERR,
            ),
            (
                and(num("a", CmpOp::Gt, 1.0), num("b", CmpOp::Lt, 100.0)),
                &[("a", "x"), ("b", "1")],
                true,
                LABEL_FILTER_ERR,
            ),
            // or stops at the first match, errors included
            (
                or(num("a", CmpOp::Gt, 1.0), num("b", CmpOp::Gt, 100.0)),
                &[("a", "x"), ("b", "1")],
                true,
                LABEL_FILTER_ERR,
            ),
            (
                or(string("b", MatchOp::Equal, "1"), num("a", CmpOp::Gt, 1.0)),
                &[("a", "x"), ("b", "1")],
                true,
                "",
            ),
            // a converting filter cannot read __error__
            (num(ERROR_LABEL, CmpOp::Gt, 0.0), &[], false, ""),
            (
                and(
                    num("a", CmpOp::Gt, 1.0),
                    string(ERROR_LABEL, MatchOp::Equal, ""),
                ),
                &[("a", "x")],
                false,
                LABEL_FILTER_ERR,
            ),
            (
                LabelFilter::Ip {
                    name: "addr".into(),
                    equal: true,
                    pattern: "10.0.0.0/8".into(),
                },
                &[("addr", "10.1.1.1")],
                true,
                "",
            ),
            (
                LabelFilter::Ip {
                    name: "addr".into(),
                    equal: false,
                    pattern: "10.0.0.0/8".into(),
                },
                &[("addr", "10.1.1.1")],
                false,
                "",
            ),
            (
                LabelFilter::Ip {
                    name: "addr".into(),
                    equal: true,
                    pattern: "10.0.0.0/8".into(),
                },
                &[("addr", "client 10.0.0.7:80")],
                true,
                "",
            ),
            (
                LabelFilter::Ip {
                    name: "addr".into(),
                    equal: false,
                    pattern: "10.0.0.0/8".into(),
                },
                &[("addr", "no address")],
                true,
                "",
            ),
            (
                LabelFilter::Ip {
                    name: "missing".into(),
                    equal: false,
                    pattern: "10.0.0.0/8".into(),
                },
                &[],
                false,
                "",
            ),
        ];
        for (filter, pairs, want, want_err) in cases {
            let stream = Labels::from_pairs(pairs.iter().copied());
            let metadata = Labels::default();
            let mut labels = LineLabels::new(&stream, &metadata);
            let stage = LabelFilterStage::new(&filter).unwrap();
            assert_eq!(stage.apply(&mut labels), want, "{filter:?} on {pairs:?}");
            assert_eq!(labels.err(), want_err, "{filter:?} on {pairs:?}");
        }
    }

    /// The first failing filter owns `__error_details__`; an errored entry without the label
    /// is dropped by a comparison but kept by `ip()`.
    #[test]
    fn errors_and_errored_entries() {
        let dur = |name: &str| LabelFilter::Duration {
            name: name.into(),
            op: CmpOp::Gt,
            value_ms: 1000.0,
        };
        let stream = Labels::from_pairs([("x", "nope"), ("y", "90")]);
        let metadata = Labels::default();
        for (filter, details) in [
            (and(dur("x"), dur("y")), r#"time: invalid duration "nope""#),
            (
                and(dur("y"), dur("x")),
                r#"time: missing unit in duration "90""#,
            ),
        ] {
            let mut labels = LineLabels::new(&stream, &metadata);
            assert!(LabelFilterStage::new(&filter).unwrap().apply(&mut labels));
            assert_eq!(labels.err_details(), details);
        }
        let ip = LabelFilter::Ip {
            name: "addr".into(),
            equal: true,
            pattern: "1.2.3.0/24".into(),
        };
        for (filter, want) in [(dur("took"), false), (ip, true)] {
            let empty = Labels::default();
            let mut labels = LineLabels::new(&empty, &metadata);
            labels.set_err("JSONParserErr", "bad");
            let got = LabelFilterStage::new(&filter).unwrap().apply(&mut labels);
            assert_eq!(got, want, "{filter:?}");
        }
    }

    #[test]
    fn error_details_name_the_value() {
        let stream = Labels::from_pairs([("status", "abc")]);
        let metadata = Labels::default();
        let mut labels = LineLabels::new(&stream, &metadata);
        let stage = LabelFilterStage::new(&num("status", CmpOp::Gt, 1.0)).unwrap();
        assert!(stage.apply(&mut labels));
        assert_eq!(
            labels.err_details(),
            r#"strconv.ParseFloat: parsing "abc": invalid syntax"#
        );
    }
}
