//! count_values: counts the elements per group and distinct value, the value becoming a
//! label (Prometheus's `aggregationCountValues`).

use hashbrown::hash_map::Entry;
use hashbrown::HashMap;

use super::super::binary::labels::{go_format_f, go_quote, set_label};
use super::super::value::{EvalError, Sample, Vector};
use super::Grouping;

/// Counts `input` by group, with `label` set to each element's value.
pub(super) fn count_values(
    input: Vector,
    grouping: &Grouping,
    label: &str,
) -> Result<Vector, EvalError> {
    // Prometheus validates with UTF-8 label name rules: any non-empty valid UTF-8 text (invalid
    // bytes written as `\xNN` escapes arrive as U+FFFD, see `parse/escapes.rs`).
    if label.is_empty() || label.contains('\u{fffd}') {
        return Err(EvalError::Execution(format!(
            "invalid label name {}",
            go_quote(label)
        )));
    }
    let grouping = with_value_label(grouping, label);
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut out = Vector::new();
    for s in input {
        let value = match &s.h {
            Some(h) => h.to_string(),
            None => go_format_f(s.f),
        };
        let metric = set_label(s.metric, label, &value);
        match index.entry(grouping.key(&metric)) {
            Entry::Occupied(e) => out[*e.get()].f += 1.0,
            Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(Sample {
                    metric: grouping.labels(&metric),
                    t: s.t,
                    f: 1.0,
                    h: None,
                    drop_name: false,
                });
            }
        }
    }
    Ok(out)
}

/// `by` groupings also group by the value label.
fn with_value_label(grouping: &Grouping, label: &str) -> Grouping {
    let mut names = grouping.names.clone();
    if !grouping.without && !names.iter().any(|n| n == label) {
        names.push(label.to_string());
    }
    Grouping {
        without: grouping.without,
        names,
    }
}
