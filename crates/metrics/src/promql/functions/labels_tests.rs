use sextant_model::Labels;

use super::*;
use crate::promql::value::Sample;

fn sample(pairs: &[(&str, &str)]) -> Sample {
    Sample {
        metric: Labels::from_pairs(pairs.iter().copied()),
        t: 0,
        f: 1.0,
        h: None,
        drop_name: true,
    }
}

fn strs(v: &[&str]) -> Vec<FnArg> {
    v.iter().map(|s| FnArg::Str(s.to_string())).collect()
}

#[test]
fn label_replace_cases() {
    // (dst, replacement, src, regex, expected value of dst or None when unset)
    let cases = [
        ("dst", "value-$1", "src", "source-(.*)", Some("value-x")),
        ("dst", "$1$2", "src", "(sou)rce-(.*)", Some("soux")),
        ("dst", "${1}a", "src", "(.*)", Some("source-xa")),
        ("dst", "$1a", "src", "(.*)", None),
        ("dst", "nomatch", "src", "other", None),
        ("src", "", "src", ".*", None),
    ];
    for (dst, repl, src, re, want) in cases {
        let mut args = vec![FnArg::Vector(vec![sample(&[
            ("__name__", "m"),
            ("src", "source-x"),
        ])])];
        args.extend(strs(&[dst, repl, src, re]));
        let out = label_replace(args).expect(re);
        assert_eq!(out[0].metric.get(dst), want, "{dst} {repl} {re}");
    }
}

#[test]
fn label_replace_of_name_keeps_it() {
    let mut args = vec![FnArg::Vector(vec![sample(&[("__name__", "m")])])];
    args.extend(strs(&["__name__", "renamed", "__name__", ".*"]));
    let out = label_replace(args).unwrap();
    assert_eq!(out[0].metric.get("__name__"), Some("renamed"));
    assert!(!out[0].drop_name);
}

#[test]
fn label_replace_errors() {
    let cases = [
        (
            ["dst", "", "src", "(.*"],
            "invalid regular expression in label_replace(): (.*",
        ),
        (
            // an invalid byte escape (`"\xff"`) arrives as U+FFFD from the parser's pre-pass
            ["\u{fffd}", "", "src", "(.*)"],
            "invalid destination label name in label_replace(): \u{fffd}",
        ),
        (
            ["", "", "src", "(.*)"],
            "invalid destination label name in label_replace(): ",
        ),
    ];
    for (a, want) in cases {
        let mut args = vec![FnArg::Vector(Vec::new())];
        args.extend(strs(&a));
        assert_eq!(label_replace(args), Err(EvalError::Execution(want.into())));
    }
}

#[test]
fn label_join_cases() {
    let base = [("a", "1"), ("b", "2")];
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["dst", ",", "a", "b"], Some("1,2")),
        (&["dst", "", "a", "missing", "b"], Some("12")),
        (&["dst", ","], None),
        (&["a", "-", "b", "a"], Some("2-1")),
    ];
    for (a, want) in cases {
        let mut args = vec![FnArg::Vector(vec![sample(&base)])];
        args.extend(strs(a));
        let out = label_join(args).unwrap();
        assert_eq!(out[0].metric.get(a[0]), *want, "{a:?}");
    }
    let mut args = vec![FnArg::Vector(Vec::new())];
    args.extend(strs(&["dst", ",", ""]));
    assert!(label_join(args).is_err());
}

#[test]
fn natural_order() {
    let cases = [
        ("a2", "a10", true),
        ("a10", "a2", false),
        ("1.2.3", "1.10.0", true),
        ("abc", "abd", true),
        ("x", "x1", true),
        ("x1", "x", false),
        ("10", "9", false),
    ];
    for (a, b, want) in cases {
        assert_eq!(natural_less(a, b), want, "{a} < {b}");
    }
}

#[test]
fn sort_by_label_natural_then_labels() {
    let v = vec![
        sample(&[("i", "10"), ("j", "b")]),
        sample(&[("i", "2"), ("j", "b")]),
        sample(&[("i", "2"), ("j", "a")]),
    ];
    let mut args = vec![FnArg::Vector(v)];
    args.extend(strs(&["i"]));
    let out = sort_by_label(args.clone(), false);
    let order: Vec<(&str, &str)> = out
        .iter()
        .map(|s| (s.metric.get("i").unwrap(), s.metric.get("j").unwrap()))
        .collect();
    assert_eq!(order, [("2", "a"), ("2", "b"), ("10", "b")]);
    let out = sort_by_label(args, true);
    let order: Vec<(&str, &str)> = out
        .iter()
        .map(|s| (s.metric.get("i").unwrap(), s.metric.get("j").unwrap()))
        .collect();
    assert_eq!(order, [("10", "b"), ("2", "b"), ("2", "a")]);
}
