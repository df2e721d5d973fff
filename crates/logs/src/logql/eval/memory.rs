//! An in-memory [`LogQueryable`]: streams by label set, entries kept in time order.

use std::collections::BTreeMap;

use sextant_model::{Label, Labels, Matcher};

use super::{Entry, EvalError, LogQueryable, Stream};

/// Streams held in memory, for tests and the `.logqltest` runner.
#[derive(Debug, Clone, Default)]
pub struct MemLogQueryable {
    streams: BTreeMap<Labels, Vec<Entry>>,
}

impl MemLogQueryable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry to the stream with these labels. Empty label values are dropped, as
    /// Loki's distributor does, so `{a="x", b=""}` is the stream `{a="x"}`.
    pub fn push(&mut self, labels: &Labels, entry: Entry) {
        let kept: Vec<Label> = labels
            .iter()
            .filter(|l| !l.value.is_empty())
            .cloned()
            .collect();
        let entries = self.streams.entry(Labels::from_sorted(kept)).or_default();
        let at = entries.partition_point(|e| e.ts_ns <= entry.ts_ns);
        entries.insert(at, entry);
    }

    /// Forgets every stream.
    pub fn clear(&mut self) {
        self.streams.clear();
    }
}

impl LogQueryable for MemLogQueryable {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, EvalError> {
        let selected = self
            .streams
            .iter()
            .filter(|(labels, _)| {
                matchers
                    .iter()
                    .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
            })
            .map(|(labels, entries)| {
                let from = entries.partition_point(|e| e.ts_ns < start_ns);
                let to = entries.partition_point(|e| e.ts_ns < end_ns);
                Stream {
                    labels: labels.clone(),
                    entries: entries[from..to].to_vec(),
                }
            })
            .filter(|stream| !stream.entries.is_empty())
            .collect();
        Ok(selected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_model::MatchOp;

    fn entry(ts_ns: i64) -> Entry {
        Entry {
            ts_ns,
            line: format!("line {ts_ns}"),
            metadata: Labels::default(),
        }
    }

    #[test]
    fn selects_by_matchers_and_time() {
        let mut store = MemLogQueryable::new();
        let a = Labels::from_pairs([("app", "a"), ("env", "")]);
        let b = Labels::from_pairs([("app", "b")]);
        for ts in [30, 10, 20] {
            store.push(&a, entry(ts));
        }
        store.push(&b, entry(15));
        let app_a = [Matcher::new(MatchOp::Equal, "app", "a").unwrap()];
        let got = store.select(&app_a, 10, 30).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels, Labels::from_pairs([("app", "a")]));
        let times: Vec<i64> = got[0].entries.iter().map(|e| e.ts_ns).collect();
        assert_eq!(times, vec![10, 20]);
        let any = [Matcher::new(MatchOp::RegexMatch, "app", ".+").unwrap()];
        assert_eq!(store.select(&any, 0, 100).unwrap().len(), 2);
        store.clear();
        assert!(store.select(&any, 0, 100).unwrap().is_empty());
    }
}
