//! Label set helpers shared by binary operators and aggregations: matching signatures,
//! Prometheus's `MatchLabels`, metadata label removal and Prometheus's text form.

use sextant_model::{Label, Labels};
use xxhash_rust::xxh3::Xxh3;

/// `__name__`.
pub(crate) const METRIC_NAME: &str = "__name__";

/// The labels describing a metric's schema (Prometheus's `schema.IsMetadataLabel`).
pub(crate) fn is_metadata_label(name: &str) -> bool {
    matches!(name, "__name__" | "__type__" | "__unit__")
}

fn hash_label(h: &mut Xxh3, l: &Label) {
    h.update(l.name.as_bytes());
    h.update(&[0xff]);
    h.update(l.value.as_bytes());
    h.update(&[0xff]);
}

/// Hash of all labels except `skip` (the name included), equal for label sets equal but
/// for `skip`.
pub(crate) fn hash_without(labels: &Labels, skip: &str) -> u64 {
    let mut h = Xxh3::new();
    for l in labels.iter().filter(|l| l.name != skip) {
        hash_label(&mut h, l);
    }
    h.digest()
}

/// Hash of the labels named in `names` (`on`/`by`), or of all labels except those and
/// `__name__` (`ignoring`/`without`).
pub(crate) fn signature(labels: &Labels, include: bool, names: &[String]) -> u64 {
    let mut h = Xxh3::new();
    for l in labels.iter().filter(|l| keeps(l, include, names)) {
        hash_label(&mut h, l);
    }
    h.digest()
}

/// Hash of a whole label set.
pub(crate) fn hash_all(labels: &Labels) -> u64 {
    let mut h = Xxh3::new();
    for l in labels {
        hash_label(&mut h, l);
    }
    h.digest()
}

fn keeps(l: &Label, include: bool, names: &[String]) -> bool {
    let listed = names.contains(&l.name);
    if include {
        listed
    } else {
        !listed && l.name != METRIC_NAME
    }
}

/// Prometheus's `MatchLabels`: the labels a signature is computed from.
pub(crate) fn match_labels(labels: &Labels, include: bool, names: &[String]) -> Labels {
    Labels::from_sorted(
        labels
            .iter()
            .filter(|l| keeps(l, include, names))
            .cloned()
            .collect(),
    )
}

/// Keeps only the labels for which `keep` holds.
pub(crate) fn retain(labels: Labels, keep: impl Fn(&Label) -> bool) -> Labels {
    let mut v = labels.into_vec();
    v.retain(|l| keep(l));
    Labels::from_sorted(v)
}

/// A copy of the labels for which `keep` holds (clones only those).
pub(crate) fn filtered(labels: &Labels, keep: impl Fn(&Label) -> bool) -> Labels {
    Labels::from_sorted(labels.iter().filter(|l| keep(l)).cloned().collect())
}

/// Drops `__name__`, `__type__` and `__unit__` (Prometheus's `DropReserved(IsMetadataLabel)`).
pub(crate) fn drop_metadata(labels: Labels) -> Labels {
    retain(labels, |l| !is_metadata_label(&l.name))
}

/// Sets `name` to `value`; an empty value deletes the label (Prometheus's `Builder.Set`).
pub(crate) fn set_label(labels: Labels, name: &str, value: &str) -> Labels {
    let mut v = labels.into_vec();
    match v.binary_search_by(|l| l.name.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            v.remove(i);
        }
        Ok(i) => v[i].value = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => v.insert(i, Label::new(name, value)),
    }
    Labels::from_sorted(v)
}

/// Prometheus's `Labels.String()`: `{__name__="up", job="a"}` (all labels, braces).
pub(crate) fn prometheus_string(labels: &Labels) -> String {
    let mut s = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        if sextant_model::labels::is_valid_label_name(l.name.as_bytes()) {
            s.push_str(&l.name);
        } else {
            s.push_str(&go_quote(&l.name));
        }
        s.push('=');
        s.push_str(&go_quote(&l.value));
    }
    s.push('}');
    s
}

/// Go's `strconv.Quote` for valid UTF-8 text.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%g` (`exp_limit` 6) or `%v` (`exp_limit` 21) of a float64, for annotation and error
/// texts: shortest round-trip digits, exponent form when the exponent is < -4 or >= the limit.
pub(crate) fn go_format_g(f: f64, exp_limit: i32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..exp_limit).contains(&exp) {
        // Plain notation; Rust's `{}` gives the shortest round-trip digits.
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` (count_values label values).
pub(crate) fn go_format_f(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn signatures_follow_on_and_ignoring() {
        let a = ls(&[("__name__", "x"), ("job", "a"), ("i", "1")]);
        let b = ls(&[("__name__", "y"), ("job", "a"), ("i", "2")]);
        let job = vec!["job".to_string()];
        let i = vec!["i".to_string()];
        let cases = [
            (true, &job, true),
            (true, &i, false),
            (false, &i, true),
            (false, &job, false),
        ];
        for (include, names, equal) in cases {
            let same = signature(&a, include, names) == signature(&b, include, names);
            assert_eq!(same, equal, "include={include} names={names:?}");
        }
    }

    #[test]
    fn prometheus_text_form() {
        let l = ls(&[("__name__", "up"), ("job", "a\"b")]);
        assert_eq!(prometheus_string(&l), r#"{__name__="up", job="a\"b"}"#);
        assert_eq!(prometheus_string(&Labels::default()), "{}");
    }

    #[test]
    fn go_float_formats() {
        let cases = [
            (1.5, 6, "1.5"),
            (-0.5, 6, "-0.5"),
            (1e21, 21, "1e+21"),
            (1e20, 21, "100000000000000000000"),
            (1e6, 6, "1e+06"),
            (1.5e6, 6, "1.5e+06"),
            (100000.0, 6, "100000"),
            (1e-5, 6, "1e-05"),
            (f64::NAN, 6, "NaN"),
            (f64::NEG_INFINITY, 6, "-Inf"),
        ];
        for (f, limit, want) in cases {
            assert_eq!(go_format_g(f, limit), want);
        }
        assert_eq!(go_format_f(f64::INFINITY), "+Inf");
        assert_eq!(go_format_f(0.1), "0.1");
    }

    #[test]
    fn set_label_inserts_replaces_and_deletes() {
        let l = ls(&[("a", "1")]);
        assert_eq!(
            set_label(l.clone(), "b", "2"),
            ls(&[("a", "1"), ("b", "2")])
        );
        assert_eq!(set_label(l.clone(), "a", "3"), ls(&[("a", "3")]));
        assert_eq!(set_label(l, "a", ""), Labels::default());
    }
}
