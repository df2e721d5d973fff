//! Postings: label name -> value -> sorted series ids, and matcher evaluation with
//! Prometheus' semantics (a matcher that matches "" also selects series without the label).

use hashbrown::HashMap;
use sextant_model::{MatchOp, Matcher};

use super::symbols::SymbolTable;
use crate::sorted_ids::{intersect, subtract, union};

#[derive(Debug, Default)]
pub(crate) struct Postings {
    by_name: HashMap<u32, HashMap<u32, Vec<u32>>>,
    all: Vec<u32>,
}

impl Postings {
    /// Adds a series; ids must be added in increasing order to keep the lists sorted, which
    /// series creation does (an out-of-order id is inserted in place).
    pub(crate) fn add(&mut self, id: u32, labels: &[u32]) {
        insert_sorted(&mut self.all, id);
        for pair in labels.chunks_exact(2) {
            let list = self
                .by_name
                .entry(pair[0])
                .or_default()
                .entry(pair[1])
                .or_default();
            insert_sorted(list, id);
        }
    }

    /// Removes series, given as (id, label symbol ids).
    pub(crate) fn remove(&mut self, series: &[(u32, &[u32])]) {
        let mut ids: Vec<u32> = series.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        self.all = subtract(std::mem::take(&mut self.all), &ids);
        let mut pairs: Vec<(u32, u32)> = series
            .iter()
            .flat_map(|(_, labels)| labels.chunks_exact(2).map(|p| (p[0], p[1])))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        for (name, value) in pairs {
            let Some(values) = self.by_name.get_mut(&name) else {
                continue;
            };
            if let Some(list) = values.get_mut(&value) {
                list.retain(|id| ids.binary_search(id).is_err());
                if list.is_empty() {
                    values.remove(&value);
                }
            }
            if values.is_empty() {
                self.by_name.remove(&name);
            }
        }
    }

    pub(crate) fn label_names(&self, symbols: &SymbolTable) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_name
            .keys()
            .map(|n| symbols.get(*n).to_owned())
            .collect();
        names.sort();
        names
    }

    pub(crate) fn label_values(&self, name: &str, symbols: &SymbolTable) -> Vec<String> {
        let values = symbols.lookup(name).and_then(|n| self.by_name.get(&n));
        let mut out: Vec<String> = values
            .into_iter()
            .flat_map(|values| values.keys().map(|v| symbols.get(*v).to_owned()))
            .collect();
        out.sort();
        out
    }

    /// The sorted ids of the series matching every matcher; no matchers select everything.
    pub(crate) fn select(&self, matchers: &[Matcher], symbols: &SymbolTable) -> Vec<u32> {
        let mut selected: Option<Vec<u32>> = None;
        let mut excluded = Vec::new();
        for m in matchers {
            let values = symbols.lookup(&m.name).and_then(|n| self.by_name.get(&n));
            if m.matches_empty() {
                // drop the series whose value of the label does not match
                excluded.extend(union_where(values, symbols, |v| !m.matches(v)));
                continue;
            }
            let ids = match (m.op, values) {
                (_, None) => Vec::new(),
                (MatchOp::Equal, Some(values)) => symbols
                    .lookup(&m.value)
                    .and_then(|v| values.get(&v))
                    .cloned()
                    .unwrap_or_default(),
                (_, values) => union_where(values, symbols, |v| m.matches(v)),
            };
            selected = Some(match selected {
                None => ids,
                Some(prev) => intersect(&prev, &ids),
            });
        }
        let selected = selected.unwrap_or_else(|| self.all.clone());
        if excluded.is_empty() {
            return selected;
        }
        excluded.sort_unstable();
        excluded.dedup();
        subtract(selected, &excluded)
    }
}

fn insert_sorted(list: &mut Vec<u32>, id: u32) {
    match list.last() {
        Some(last) if *last >= id => {
            if let Err(at) = list.binary_search(&id) {
                list.insert(at, id);
            }
        }
        _ => list.push(id),
    }
}

/// The sorted union of the lists of the values for which `keep` holds.
fn union_where(
    values: Option<&HashMap<u32, Vec<u32>>>,
    symbols: &SymbolTable,
    keep: impl Fn(&str) -> bool,
) -> Vec<u32> {
    union(
        values
            .into_iter()
            .flatten()
            .filter(|(v, _)| keep(symbols.get(**v)))
            .map(|(_, ids)| ids.as_slice()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(series: &[&[(&str, &str)]]) -> (Postings, SymbolTable) {
        let mut symbols = SymbolTable::default();
        let mut postings = Postings::default();
        for (id, labels) in series.iter().enumerate() {
            let ids: Vec<u32> = labels
                .iter()
                .flat_map(|(n, v)| [symbols.intern(n), symbols.intern(v)])
                .collect();
            postings.add(id as u32, &ids);
        }
        (postings, symbols)
    }

    type MatcherSpec<'a> = (MatchOp, &'a str, &'a str);

    #[test]
    fn matchers_follow_prometheus_semantics() {
        let (postings, symbols) = index(&[
            &[("__name__", "up"), ("job", "api"), ("env", "prod")], // 0
            &[("__name__", "up"), ("job", "db")],                   // 1
            &[("__name__", "up"), ("job", "web"), ("env", "dev")],  // 2
            &[("__name__", "down"), ("job", "api")],                // 3
        ]);
        let cases: &[(&[MatcherSpec<'_>], &[u32])] = &[
            (&[], &[0, 1, 2, 3]),
            (&[(MatchOp::Equal, "__name__", "up")], &[0, 1, 2]),
            (&[(MatchOp::Equal, "__name__", "nope")], &[]),
            (&[(MatchOp::Equal, "nolabel", "x")], &[]),
            (
                &[
                    (MatchOp::Equal, "__name__", "up"),
                    (MatchOp::Equal, "job", "api"),
                ],
                &[0],
            ),
            (&[(MatchOp::RegexMatch, "job", "a.*|w.*")], &[0, 2, 3]),
            (&[(MatchOp::NotEqual, "job", "api")], &[1, 2]),
            // matchers that match "" keep the series without the label
            (&[(MatchOp::NotEqual, "env", "prod")], &[1, 2, 3]),
            (&[(MatchOp::Equal, "env", "")], &[1, 3]),
            (&[(MatchOp::RegexMatch, "env", "dev|")], &[1, 2, 3]),
            (&[(MatchOp::RegexNoMatch, "env", ".+")], &[1, 3]),
            (&[(MatchOp::RegexMatch, "env", ".+")], &[0, 2]),
            (&[(MatchOp::Equal, "nolabel", "")], &[0, 1, 2, 3]),
            (
                &[
                    (MatchOp::Equal, "__name__", "up"),
                    (MatchOp::NotEqual, "env", "dev"),
                ],
                &[0, 1],
            ),
        ];
        for (matchers, want) in cases {
            let matchers: Vec<Matcher> = matchers
                .iter()
                .map(|(op, n, v)| Matcher::new(*op, *n, *v).unwrap())
                .collect();
            assert_eq!(postings.select(&matchers, &symbols), *want, "{matchers:?}");
        }
        assert_eq!(postings.label_names(&symbols), ["__name__", "env", "job"]);
        assert_eq!(postings.label_values("job", &symbols), ["api", "db", "web"]);
        assert!(postings.label_values("nope", &symbols).is_empty());
    }

    #[test]
    fn removed_series_leave_no_trace() {
        let (mut postings, symbols) = index(&[
            &[("__name__", "up"), ("job", "api")],
            &[("__name__", "up"), ("job", "db")],
            &[("__name__", "down"), ("job", "db")],
        ]);
        let labels = |pairs: &[(&str, &str)]| -> Vec<u32> {
            pairs
                .iter()
                .flat_map(|(n, v)| [symbols.lookup(n).unwrap(), symbols.lookup(v).unwrap()])
                .collect()
        };
        let (l1, l2) = (
            labels(&[("__name__", "up"), ("job", "db")]),
            labels(&[("__name__", "down"), ("job", "db")]),
        );
        postings.remove(&[(1, &l1), (2, &l2)]);
        assert_eq!(postings.select(&[], &symbols), [0]);
        assert_eq!(postings.label_values("job", &symbols), ["api"]);
        assert_eq!(postings.label_values("__name__", &symbols), ["up"]);
        postings.remove(&[(0, &labels(&[("__name__", "up"), ("job", "api")]))]);
        assert!(postings.label_names(&symbols).is_empty());
    }

    #[test]
    fn set_operations() {
        let mut l = vec![1, 5];
        insert_sorted(&mut l, 3);
        insert_sorted(&mut l, 9);
        insert_sorted(&mut l, 5);
        assert_eq!(l, [1, 3, 5, 9]);
    }
}
