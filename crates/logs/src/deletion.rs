//! Which log entries a deletion request selects (Loki's `POST /loki/api/v1/delete`): a LogQL
//! stream selector, optionally followed by line filters, over an inclusive time range in
//! Unix ms.
//!
//! [`LogsDeletionFilter`] is shared by the compactor, which rewrites blocks without the
//! selected entries, and the querier, which drops them from answers until then (Loki's
//! `filter-and-delete` mode). Matchers apply to stream labels only, never to structured
//! metadata or parsed labels, as in Loki.

use sextant_model::{ErrorKind, Labels, Matcher};

use crate::logql::ast::Expr;
use crate::logql::eval::leading_line_filters;
use crate::logql::parse::parse_expr;
use crate::pipeline::LogsLineFilter;

const NS_PER_MS: i64 = 1_000_000;

/// Why a deletion query is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsDeletionError {
    /// Not LogQL (the parser's message).
    #[error("{0}")]
    Parse(String),
    #[error("a metric query cannot select log lines")]
    MetricQuery,
    #[error("only line filters may follow the stream selector")]
    NotLineFilters,
    /// A line filter that does not compile (e.g. a bad regex).
    #[error("{0}")]
    LineFilter(String),
}

impl LogsDeletionError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

/// A compiled deletion request: the entries it selects.
#[derive(Debug)]
pub struct LogsDeletionFilter {
    matchers: Vec<Matcher>,
    lines: LogsLineFilter,
    start_ns: i64,
    /// The last ns of `end_ms` (the range is inclusive in ms).
    end_ns: i64,
}

impl LogsDeletionFilter {
    /// Compiles `query` for entries in `[start_ms, end_ms]` (inclusive, whole ms).
    pub fn compile(
        query: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<LogsDeletionFilter, LogsDeletionError> {
        let log = match parse_expr(query).map_err(|e| LogsDeletionError::Parse(e.to_string()))? {
            Expr::Log(log) => log,
            Expr::Sample(_) => return Err(LogsDeletionError::MetricQuery),
        };
        if leading_line_filters(&log.pipeline).len() != log.pipeline.len() {
            return Err(LogsDeletionError::NotLineFilters);
        }
        let lines = LogsLineFilter::new(&log.pipeline)
            .map_err(|e| LogsDeletionError::LineFilter(e.to_string()))?;
        Ok(LogsDeletionFilter {
            matchers: log.matchers,
            lines,
            start_ns: start_ms.saturating_mul(NS_PER_MS),
            end_ns: end_ms
                .saturating_mul(NS_PER_MS)
                .saturating_add(NS_PER_MS - 1),
        })
    }

    /// Checks a deletion query: a stream selector and line filters only, regexes compiling.
    pub fn validate(query: &str) -> Result<(), LogsDeletionError> {
        LogsDeletionFilter::compile(query, 0, 0).map(|_| ())
    }

    /// Whether the entry at `ts_ns` with `line` of the stream `labels` is selected.
    pub fn selects(&self, labels: &Labels, ts_ns: i64, line: &str) -> bool {
        self.selects_entry(ts_ns, line) && self.selects_stream(labels)
    }

    /// Whether the stream selector matches `labels` (check once per stream, then
    /// [`selects_entry`](Self::selects_entry) per entry).
    pub fn selects_stream(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
    }

    /// Whether an entry of a stream the selector matches is selected: in the time range and
    /// passing the line filters.
    pub fn selects_entry(&self, ts_ns: i64, line: &str) -> bool {
        (self.start_ns..=self.end_ns).contains(&ts_ns) && self.lines.matches(line)
    }

    /// Whether the request's range meets `[start_ns, end_ns)`.
    pub fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.start_ns < end_ns && self.end_ns >= start_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn rejects_what_is_not_a_selector_with_line_filters() {
        let cases = [
            (r#"{app="web"}"#, None),
            (r#"{app="web"} |= "x" != "y" |~ "a.+""#, None),
            (
                r#"count_over_time({app="web"}[1m])"#,
                Some("a metric query cannot select log lines"),
            ),
            (
                r#"{app="web"} | json"#,
                Some("only line filters may follow the stream selector"),
            ),
            (
                r#"{app="web"} |= "x" | logfmt |= "y""#,
                Some("only line filters may follow the stream selector"),
            ),
            (r#"{app="web"} |~ "(""#, Some("")),
            (r#"{app="web""#, Some("")),
            ("", Some("")),
        ];
        for (query, want) in cases {
            let got = LogsDeletionFilter::validate(query);
            match want {
                None => assert!(got.is_ok(), "{query}: {got:?}"),
                Some(text) => {
                    let err = got.expect_err(query);
                    assert!(err.to_string().contains(text), "{query}: {err}");
                    assert_eq!(err.kind(), ErrorKind::BadRequest);
                }
            }
        }
    }

    #[test]
    fn selects_by_selector_line_filters_and_inclusive_ms_range() {
        let web = labels(&[("app", "web"), ("env", "prod")]);
        let api = labels(&[("app", "api"), ("env", "prod")]);
        // [10 s, 20 s] in ms: entries up to 20.000999999 s are in range
        let (start_ms, end_ms) = (10_000, 20_000);
        let cases: [(&str, &Labels, i64, &str, bool); 12] = [
            (r#"{app="web"}"#, &web, 15 * S, "anything", true),
            (r#"{app="web"}"#, &api, 15 * S, "anything", false),
            (r#"{app=~"web|api"}"#, &api, 15 * S, "x", true),
            (r#"{app="web", env!="prod"}"#, &web, 15 * S, "x", false),
            (r#"{app="web", team=""}"#, &web, 15 * S, "x", true),
            (r#"{app="web"} |= "error""#, &web, 15 * S, "an error", true),
            (r#"{app="web"} |= "error""#, &web, 15 * S, "all fine", false),
            (r#"{app="web"} != "debug""#, &web, 15 * S, "debug x", false),
            (r#"{app="web"}"#, &web, 10 * S, "first ns", true),
            (r#"{app="web"}"#, &web, 10 * S - 1, "before", false),
            (
                r#"{app="web"}"#,
                &web,
                20 * S + 999_999,
                "last ns of end ms",
                true,
            ),
            (r#"{app="web"}"#, &web, 20 * S + 1_000_000, "after", false),
        ];
        for (query, labels, ts_ns, line, want) in cases {
            let filter = LogsDeletionFilter::compile(query, start_ms, end_ms).unwrap();
            assert_eq!(
                filter.selects(labels, ts_ns, line),
                want,
                "{query} {labels:?} {ts_ns} {line}"
            );
        }
    }

    #[test]
    fn overlap_with_half_open_query_ranges() {
        let filter = LogsDeletionFilter::compile(r#"{app="web"}"#, 10_000, 20_000).unwrap();
        let cases = [
            (0, 10 * S, false),
            (0, 10 * S + 1, true),
            (15 * S, 16 * S, true),
            (20 * S + 999_999, 30 * S, true),
            (20 * S + 1_000_000, 30 * S, false),
            (0, i64::MAX, true),
        ];
        for (start, end, want) in cases {
            assert_eq!(filter.overlaps(start, end), want, "[{start}, {end})");
        }
    }

    #[test]
    fn extreme_ranges_saturate() {
        let filter = LogsDeletionFilter::compile(r#"{app="web"}"#, i64::MIN, i64::MAX).unwrap();
        let web = labels(&[("app", "web")]);
        for ts in [i64::MIN, 0, i64::MAX] {
            assert!(filter.selects(&web, ts, "x"), "{ts}");
        }
    }
}
