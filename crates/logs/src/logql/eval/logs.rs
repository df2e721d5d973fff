//! Log queries: the entries that pass a pipeline, grouped into streams by their final labels.

use std::collections::BTreeMap;

use sextant_model::Labels;

use super::{Entry, EvalError, LogQueryable, Stream};
use crate::logql::ast::LogExpr;
use crate::pipeline::Pipeline;

/// Which entries a limited log query keeps, and their order: Loki's `direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    #[default]
    Backward,
}

/// Runs a log query over `start_ns <= ts < end_ns`: at most `limit` entries (the oldest for
/// [`Direction::Forward`], the newest for [`Direction::Backward`]), each with its
/// (possibly reformatted) line, grouped by the labels the pipeline left. Streams are sorted
/// by labels, entries in `direction` order. Lines a stage failed on are returned with
/// `__error__`, as Loki does.
pub fn eval_logs(
    q: &dyn LogQueryable,
    expr: &LogExpr,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
    direction: Direction,
) -> Result<Vec<Stream>, EvalError> {
    let pipeline = Pipeline::new(&expr.pipeline)?;
    let mut passed: Vec<(Labels, Entry)> = Vec::new();
    let line_filters = super::leading_line_filters(&expr.pipeline);
    for stream in q.select_filtered(&expr.matchers, line_filters, start_ns, end_ns)? {
        for entry in stream.entries {
            let Some(processed) =
                pipeline.process(entry.ts_ns, &entry.line, &stream.labels, &entry.metadata)
            else {
                continue;
            };
            let entry = Entry {
                line: processed.line,
                ..entry
            };
            passed.push((processed.labels, entry));
        }
    }
    match direction {
        Direction::Forward => passed.sort_by_key(|(_, e)| e.ts_ns),
        Direction::Backward => passed.sort_by_key(|(_, e)| std::cmp::Reverse(e.ts_ns)),
    }
    passed.truncate(limit);
    let mut streams: BTreeMap<Labels, Vec<Entry>> = BTreeMap::new();
    for (labels, entry) in passed {
        streams.entry(labels).or_default().push(entry);
    }
    Ok(streams
        .into_iter()
        .map(|(labels, entries)| Stream { labels, entries })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::eval::MemLogQueryable;
    use crate::logql::parse::parse_log_expr;

    fn store() -> MemLogQueryable {
        let mut store = MemLogQueryable::new();
        let labels = Labels::from_pairs([("app", "a")]);
        for (ts, line) in [
            (1, "level=info n=1"),
            (2, "level=error n=2"),
            (3, "level=info n=3"),
        ] {
            let entry = Entry {
                ts_ns: ts,
                line: line.to_string(),
                metadata: Labels::default(),
            };
            store.push(&labels, entry);
        }
        store
    }

    /// (labels, [(ts, line)]) per stream.
    type Want<'a> = Vec<(Vec<(&'a str, &'a str)>, Vec<(i64, &'a str)>)>;

    #[test]
    fn log_queries() {
        let info = vec![("app", "a"), ("level", "info")];
        let cases: Vec<(&str, usize, Direction, Want<'_>)> = vec![
            (
                r#"{app="a"} |= "info""#,
                10,
                Direction::Forward,
                vec![(
                    vec![("app", "a")],
                    vec![(1, "level=info n=1"), (3, "level=info n=3")],
                )],
            ),
            (
                r#"{app="a"}"#,
                2,
                Direction::Backward,
                vec![(
                    vec![("app", "a")],
                    vec![(3, "level=info n=3"), (2, "level=error n=2")],
                )],
            ),
            (
                r#"{app="a"} | logfmt | line_format "{{.n}}" | drop n"#,
                1,
                Direction::Forward,
                vec![(info.clone(), vec![(1, "1")])],
            ),
            (
                r#"{app="a"} | logfmt | drop n | level="info""#,
                10,
                Direction::Backward,
                vec![(info, vec![(3, "level=info n=3"), (1, "level=info n=1")])],
            ),
        ];
        for (query, limit, direction, want) in cases {
            let expr = parse_log_expr(query).unwrap();
            let got = eval_logs(&store(), &expr, 0, 10, limit, direction).unwrap();
            let got: Want<'_> = got
                .iter()
                .map(|s| {
                    let labels = s.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
                    let entries = s.entries.iter().map(|e| (e.ts_ns, e.line.as_str()));
                    (labels.collect(), entries.collect())
                })
                .collect();
            assert_eq!(got, want, "{query}");
        }
    }
}
