//! Comparing a query's result and annotations with an eval's expectations.

use std::collections::HashMap;

use sextant_model::Labels;

use super::commands::{Eval, Expected, TextMatch};
use super::series::SeqValue;
use crate::promql::histogram::FloatHistogram;
use crate::promql::value::{is_stale_nan, Annotations, Matrix, Sample, Value, Vector};

/// The relative tolerance of float comparisons.
const EPSILON: f64 = 1e-6;

/// Floats as the upstream harness compares them: relative tolerance, NaN equals NaN but a
/// staleness marker only equals another one, 0 only equals (almost exactly) 0.
pub(super) fn floats_equal(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan() && is_stale_nan(a) == is_stale_nan(b);
    }
    crate::promql::histogram::almost_equal(a, b, EPSILON)
}

fn histograms_equal(expected: &FloatHistogram, got: &FloatHistogram, hint_set: bool) -> bool {
    expected.equals_approx(got, EPSILON)
        && (!hint_set || expected.counter_reset_hint == got.counter_reset_hint)
}

/// The grid a matrix result is compared on: start, end, step (ms).
#[derive(Debug, Clone, Copy)]
pub(super) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

/// Checks `value` against the expected result of `eval`.
pub(super) fn compare_value(eval: &Eval, value: &Value, grid: Grid) -> Result<(), String> {
    match value {
        Value::Matrix(m) => compare_matrix(eval, m, grid),
        Value::Vector(v) => compare_vector(eval, v),
        Value::Scalar { f, .. } => match &eval.expected {
            Expected::Scalar(want) if floats_equal(*want, *f) => Ok(()),
            Expected::Scalar(want) => Err(format!("expected scalar {want} but got {f}")),
            _ => Err(format!(
                "expected a vector or matrix result, but got scalar {f}"
            )),
        },
        Value::String { s, .. } => match &eval.string {
            Some(want) if want == s => Ok(()),
            want => Err(format!("expected string {want:?} but got {s:?}")),
        },
    }
}

fn expected_series(eval: &Eval) -> Result<&[(Labels, Vec<SeqValue>)], String> {
    match &eval.expected {
        Expected::Empty => Ok(&[]),
        Expected::Series(s) => Ok(s),
        Expected::Scalar(f) => Err(format!("expected scalar {f}")),
    }
}

fn compare_vector(eval: &Eval, got: &Vector) -> Result<(), String> {
    let expected = expected_series(eval).map_err(|e| format!("{e}, but got a vector"))?;
    let index: HashMap<&Labels, usize> = expected
        .iter()
        .enumerate()
        .map(|(i, (l, _))| (l, i))
        .collect();
    let mut seen = vec![false; expected.len()];
    for (pos, sample) in got.iter().enumerate() {
        let Some(&i) = index.get(&sample.metric) else {
            return Err(format!(
                "unexpected metric {} in result, has value {}",
                sample.metric,
                describe(sample)
            ));
        };
        if eval.ordered && i != pos {
            return Err(format!(
                "expected metric {} at position {} but was at {}",
                sample.metric,
                i + 1,
                pos + 1
            ));
        }
        if seen[i] {
            return Err(format!(
                "metric {} appears twice in the result",
                sample.metric
            ));
        }
        seen[i] = true;
        compare_sample(&expected[i].1[0], sample)?;
    }
    match seen.iter().position(|s| !s) {
        Some(i) => Err(format!("expected metric {} not found", expected[i].0)),
        None => Ok(()),
    }
}

fn describe(sample: &Sample) -> String {
    match &sample.h {
        Some(h) => format!("{h:?}"),
        None => sample.f.to_string(),
    }
}

fn compare_sample(expected: &SeqValue, got: &Sample) -> Result<(), String> {
    match (expected, &got.h) {
        (SeqValue::Float(want), None) if floats_equal(*want, got.f) => Ok(()),
        (SeqValue::Float(want), None) => Err(format!(
            "expected {want} for {} but got {}",
            got.metric, got.f
        )),
        (SeqValue::Histogram { h, hint_set }, Some(gh)) if histograms_equal(h, gh, *hint_set) => {
            Ok(())
        }
        (SeqValue::Histogram { h, .. }, Some(gh)) => Err(format!(
            "expected histogram {h:?} for {} but got {gh:?}",
            got.metric
        )),
        (SeqValue::Histogram { .. }, None) => Err(format!(
            "expected a histogram for {} but got float {}",
            got.metric, got.f
        )),
        (SeqValue::Float(want), Some(gh)) => Err(format!(
            "expected float {want} for {} but got histogram {gh:?}",
            got.metric
        )),
        (SeqValue::Omitted, _) => Err(format!(
            "expected no value for {} but got {}",
            got.metric,
            describe(got)
        )),
    }
}

/// Range results must be sorted by labels.
pub(super) fn check_sorted(m: &Matrix) -> Result<(), String> {
    match m.windows(2).position(|w| w[0].metric > w[1].metric) {
        Some(i) => Err(format!(
            "matrix is not sorted by labels: {} sorts before {}",
            m[i + 1].metric,
            m[i].metric
        )),
        None => Ok(()),
    }
}

fn compare_matrix(eval: &Eval, got: &Matrix, grid: Grid) -> Result<(), String> {
    if eval.ordered {
        return Err("expected ordered result, but query returned a matrix".into());
    }
    let expected = expected_series(eval).map_err(|e| format!("{e}, but got a matrix"))?;
    check_sorted(got)?;
    let index: HashMap<&Labels, usize> = expected
        .iter()
        .enumerate()
        .map(|(i, (l, _))| (l, i))
        .collect();
    let mut seen = vec![false; expected.len()];
    for series in got {
        let Some(&i) = index.get(&series.metric) else {
            return Err(format!("unexpected metric {} in result", series.metric));
        };
        seen[i] = true;
        let (want_floats, want_hists) = expected_points(&expected[i].1, grid)?;
        let floats_match = want_floats.len() == series.floats.len()
            && want_floats
                .iter()
                .zip(&series.floats)
                .all(|((t, f), p)| *t == p.t && floats_equal(*f, p.f));
        let hists_match = want_hists.len() == series.histograms.len()
            && want_hists
                .iter()
                .zip(&series.histograms)
                .all(|((t, h, hint_set), p)| *t == p.t && histograms_equal(h, &p.h, *hint_set));
        if !floats_match || !hists_match {
            let got_floats: Vec<(i64, f64)> = series.floats.iter().map(|p| (p.t, p.f)).collect();
            return Err(format!(
                "series {}: expected floats {want_floats:?} and {} histograms, got floats {got_floats:?} and {} histograms",
                series.metric,
                want_hists.len(),
                series.histograms.len()
            ));
        }
    }
    match seen.iter().position(|s| !s) {
        Some(i) => Err(format!("expected metric {} not found", expected[i].0)),
        None => Ok(()),
    }
}

type HistPoint<'a> = (i64, &'a FloatHistogram, bool);
type ExpectedPoints<'a> = (Vec<(i64, f64)>, Vec<HistPoint<'a>>);

/// The expected points of one series on the grid.
fn expected_points(values: &[SeqValue], grid: Grid) -> Result<ExpectedPoints<'_>, String> {
    let mut floats = Vec::new();
    let mut hists = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let t = grid.start + i as i64 * grid.step;
        if t > grid.end {
            return Err(format!(
                "expected {} points, but the query range cannot return this many",
                values.len()
            ));
        }
        match v {
            SeqValue::Omitted => {}
            SeqValue::Float(f) => floats.push((t, *f)),
            SeqValue::Histogram { h, hint_set } => hists.push((t, h.as_ref(), *hint_set)),
        }
    }
    Ok((floats, hists))
}

/// Checks the annotations against `expect warn/info/no_warn/no_info` lines.
pub(super) fn check_annotations(eval: &Eval, annotations: &Annotations) -> Result<(), String> {
    check_kind("warn", &eval.warn, &annotations.warnings)?;
    check_kind("info", &eval.info, &annotations.infos)?;
    if eval.no_warn && !annotations.warnings.is_empty() {
        return Err(format!("unexpected warnings: {:?}", annotations.warnings));
    }
    if eval.no_info && !annotations.infos.is_empty() {
        return Err(format!("unexpected infos: {:?}", annotations.infos));
    }
    Ok(())
}

fn check_kind(kind: &str, expected: &[TextMatch], got: &[String]) -> Result<(), String> {
    if expected.is_empty() {
        return Ok(());
    }
    if got.is_empty() {
        return Err(format!(
            "expected {kind} annotations but none were returned"
        ));
    }
    if let Some(missing) = expected.iter().find(|e| !got.iter().any(|g| e.matches(g))) {
        return Err(format!(
            "expected a {kind} annotation matching {missing}, got {got:?}"
        ));
    }
    if let Some(extra) = got.iter().find(|g| !expected.iter().any(|e| e.matches(g))) {
        return Err(format!("unexpected {kind} annotation {extra:?}"));
    }
    Ok(())
}

/// The point at `t` of each series of a range result, as an instant vector.
pub(super) fn vector_at(m: &Matrix, t: i64) -> Vector {
    let mut out = Vector::new();
    for series in m {
        if let Some(p) = series.floats.iter().find(|p| p.t == t) {
            out.push(Sample {
                metric: series.metric.clone(),
                t,
                f: p.f,
                h: None,
                drop_name: false,
            });
        }
        if let Some(p) = series.histograms.iter().find(|p| p.t == t) {
            out.push(Sample {
                metric: series.metric.clone(),
                t,
                f: 0.0,
                h: Some(p.h.clone()),
                drop_name: false,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::value::stale_nan;

    #[test]
    fn compares_floats_like_upstream() {
        let cases = [
            (1.0, 1.0 + 1e-9, true),
            (1.0, 1.001, false),
            (0.0, 1e-300, false),
            (0.0, -0.0, true),
            (f64::NAN, f64::NAN, true),
            (f64::NAN, stale_nan(), false),
            (stale_nan(), stale_nan(), true),
            (f64::INFINITY, f64::INFINITY, true),
            (f64::INFINITY, f64::MAX, false),
        ];
        for (a, b, want) in cases {
            assert_eq!(floats_equal(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn checks_matrix_order() {
        let series = |v: &str| crate::promql::value::Series {
            metric: Labels::from_pairs([("a", v)]),
            ..Default::default()
        };
        assert!(check_sorted(&vec![series("1"), series("2")]).is_ok());
        assert!(check_sorted(&vec![series("2"), series("1")]).is_err());
    }
}
