//! Postings: label name -> value -> sorted stream ids, and matcher evaluation with
//! Prometheus' semantics (a matcher that matches "" also selects streams without the label).

use std::collections::BTreeMap;

use sextant_model::{Labels, MatchOp, Matcher};

#[derive(Debug, Default)]
pub(crate) struct Postings {
    by_name: BTreeMap<String, BTreeMap<String, Vec<u64>>>,
    all: Vec<u64>,
}

impl Postings {
    pub(crate) fn add(&mut self, id: u64, labels: &Labels) {
        insert_sorted(&mut self.all, id);
        for l in labels {
            let values = self.by_name.entry(l.name.clone()).or_default();
            insert_sorted(values.entry(l.value.clone()).or_default(), id);
        }
    }

    pub(crate) fn remove(&mut self, id: u64, labels: &Labels) {
        remove_sorted(&mut self.all, id);
        for l in labels {
            let Some(values) = self.by_name.get_mut(&l.name) else {
                continue;
            };
            if let Some(list) = values.get_mut(&l.value) {
                remove_sorted(list, id);
                if list.is_empty() {
                    values.remove(&l.value);
                }
            }
            if values.is_empty() {
                self.by_name.remove(&l.name);
            }
        }
    }

    /// The sorted ids of the streams matching every matcher; no matchers select everything.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<u64> {
        let mut selected: Option<Vec<u64>> = None;
        let mut excluded = Vec::new();
        for m in matchers {
            let values = self.by_name.get(&m.name);
            if m.matches_empty() {
                excluded.extend(union_where(values, |v| !m.matches(v)));
                continue;
            }
            let ids = match (m.op, values) {
                (_, None) => Vec::new(),
                (MatchOp::Equal, Some(values)) => values.get(&m.value).cloned().unwrap_or_default(),
                (_, values) => union_where(values, |v| m.matches(v)),
            };
            selected = Some(match selected {
                None => ids,
                Some(prev) => intersect(&prev, &ids),
            });
        }
        let mut selected = selected.unwrap_or_else(|| self.all.clone());
        if !excluded.is_empty() {
            excluded.sort_unstable();
            selected.retain(|id| excluded.binary_search(id).is_err());
        }
        selected
    }
}

fn insert_sorted(list: &mut Vec<u64>, id: u64) {
    match list.last() {
        Some(last) if *last >= id => {
            if let Err(at) = list.binary_search(&id) {
                list.insert(at, id);
            }
        }
        _ => list.push(id),
    }
}

fn remove_sorted(list: &mut Vec<u64>, id: u64) {
    if let Ok(at) = list.binary_search(&id) {
        list.remove(at);
    }
}

fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter()
        .copied()
        .filter(|id| b.binary_search(id).is_ok())
        .collect()
}

/// The sorted union of the lists of the values for which `keep` holds.
fn union_where(
    values: Option<&BTreeMap<String, Vec<u64>>>,
    keep: impl Fn(&str) -> bool,
) -> Vec<u64> {
    let mut out: Vec<u64> = values
        .into_iter()
        .flatten()
        .filter(|(v, _)| keep(v))
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
        Matcher::new(op, name, value).unwrap()
    }

    #[test]
    fn select_follows_prometheus_semantics() {
        let mut p = Postings::default();
        let streams = [
            Labels::from_pairs([("app", "api"), ("env", "prod")]),
            Labels::from_pairs([("app", "api"), ("env", "dev")]),
            Labels::from_pairs([("app", "web")]),
        ];
        for (id, labels) in streams.iter().enumerate() {
            p.add(id as u64, labels);
        }
        let cases: Vec<(Vec<Matcher>, Vec<u64>)> = vec![
            (vec![], vec![0, 1, 2]),
            (vec![m(MatchOp::Equal, "app", "api")], vec![0, 1]),
            (vec![m(MatchOp::NotEqual, "env", "prod")], vec![1, 2]),
            (vec![m(MatchOp::Equal, "env", "")], vec![2]),
            (vec![m(MatchOp::RegexMatch, "env", ".+")], vec![0, 1]),
            (
                vec![
                    m(MatchOp::RegexMatch, "app", "api|web"),
                    m(MatchOp::RegexNoMatch, "env", "d.*"),
                ],
                vec![0, 2],
            ),
            (vec![m(MatchOp::Equal, "missing", "x")], vec![]),
        ];
        for (matchers, want) in cases {
            assert_eq!(p.select(&matchers), want, "{matchers:?}");
        }
        p.remove(0, &streams[0]);
        assert_eq!(
            p.select(&[m(MatchOp::Equal, "env", "prod")]),
            Vec::<u64>::new()
        );
        assert_eq!(p.select(&[]), vec![1, 2]);
    }
}
