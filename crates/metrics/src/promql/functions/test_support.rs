//! Builders shared by the function library's unit tests.

use sextant_model::Labels;

use crate::promql::binary::StepCtx;
use crate::promql::parse::SelectorModifier;
use crate::promql::value::{Annotations, FPoint};

use super::RangeWindow;

/// Float points from `(seconds, value)` pairs.
pub(super) fn points(pairs: &[(i64, f64)]) -> Vec<FPoint> {
    pairs
        .iter()
        .map(|&(s, f)| FPoint { t: s * 1000, f })
        .collect()
}

/// A window `(start_s, end_s]` over `floats` without histograms.
pub(super) fn window<'a>(
    floats: &'a [FPoint],
    start_s: i64,
    end_s: i64,
    metric: &'a Labels,
) -> RangeWindow<'a> {
    RangeWindow {
        floats,
        histograms: &[],
        range_start: start_s * 1000,
        range_end: end_s * 1000,
        modifier: SelectorModifier::None,
        before: None,
        after: None,
        metric,
        decreases: None,
        float_samples: None,
    }
}

/// A step context at `ts_s` seconds writing into `annotations`.
pub(super) fn ctx(ts_s: i64, annotations: &mut Annotations) -> StepCtx<'_> {
    StepCtx {
        ts: ts_s * 1000,
        annotations,
        delayed_name_removal: false,
    }
}

/// Whether two floats are equal within 1e-9 relative (NaN equals NaN).
pub(super) fn close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}
