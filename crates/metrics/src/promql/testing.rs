//! Helpers shared by the unit tests of the per-step operations.

use sextant_model::Labels;

use super::value::{Sample, Vector};

/// A label set from `"a=1,b=2"`.
pub(crate) fn ls(text: &str) -> Labels {
    Labels::from_pairs(text.split(',').filter(|p| !p.is_empty()).map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        (n.to_string(), v.to_string())
    }))
}

/// An instant vector of float samples at t=0, from `(labels text, value)` pairs.
pub(crate) fn floats(items: &[(&str, f64)]) -> Vector {
    items
        .iter()
        .map(|(l, f)| Sample {
            metric: ls(l),
            t: 0,
            f: *f,
            h: None,
            drop_name: false,
        })
        .collect()
}
