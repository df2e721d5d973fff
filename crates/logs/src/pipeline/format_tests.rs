//! `line_format`, `label_format`, `drop`, `keep` and `decolorize`, after Loki's fmt_test.go,
//! drop_labels_test.go and keep_labels_test.go.

use super::*;
use sextant_model::{Labels, MatchOp, Matcher};

type Pairs = Vec<(String, String)>;

/// Expected labels of a case.
type LabelPairs<'a> = &'a [(&'a str, &'a str)];

fn pairs(list: &[(&str, &str)]) -> Pairs {
    let mut v: Pairs = list
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

/// Applies `stage` to a line with the given stream labels, after setting `err` if any.
fn run(
    stage: &FormatStage,
    line: &str,
    stream: &[(&str, &str)],
    err: Option<&str>,
) -> (String, Pairs) {
    let stream = Labels::from_pairs(stream.iter().copied());
    let metadata = Labels::default();
    let mut labels = LineLabels::new(&stream, &metadata);
    if let Some(err) = err {
        labels.set_err(err, "details");
    }
    let mut line = Cow::Borrowed(line);
    stage.apply(1_000_000_000, &mut line, &mut labels);
    let got = labels
        .finish()
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    (line.into_owned(), got)
}

#[test]
fn line_format() {
    let stream: &[(&str, &str)] = &[("foo", "blip"), ("bar", "blop")];
    let cases: &[(&str, &str)] = &[
        ("{{.foo}}", "blip"),
        ("{{.foo}} {{.bar}}", "blip blop"),
        ("{{ .foo | ToUpper }} {{ __line__ }}", "BLIP original"),
        ("{{ .missing }}", ""),
        ("{{ __timestamp__ | unixEpoch }}", "1"),
    ];
    for (template, want) in cases {
        let stage = FormatStage::line_format(template).unwrap();
        let (line, labels) = run(&stage, "original", stream, None);
        assert_eq!(line, *want, "{template}");
        assert_eq!(labels, pairs(stream));
    }
}

#[test]
fn line_format_error_keeps_line_and_sets_error() {
    let stage = FormatStage::line_format("{{ .foo.x }}").unwrap();
    let (line, labels) = run(&stage, "original", &[("foo", "blip")], None);
    assert_eq!(line, "original");
    assert!(labels.contains(&("__error__".into(), TEMPLATE_ERR.into())));
    assert!(FormatStage::line_format("{{ .foo ").is_err());
}

#[test]
fn line_format_sees_errors() {
    let stage = FormatStage::line_format("{{ .__error__ }}").unwrap();
    let (line, _) = run(&stage, "x", &[], Some("JSONParserErr"));
    assert_eq!(line, "JSONParserErr");
}

fn rename(dst: &str, src: &str) -> LabelFormat {
    LabelFormat::Rename {
        dst: dst.into(),
        src: src.into(),
    }
}

fn tmpl(dst: &str, template: &str) -> LabelFormat {
    LabelFormat::Template {
        dst: dst.into(),
        template: template.into(),
    }
}

#[test]
fn label_format() {
    let stream: &[(&str, &str)] = &[("foo", "blip"), ("bar", "blop"), ("status", "200")];
    let cases: Vec<(Vec<LabelFormat>, LabelPairs<'_>)> = vec![
        (
            vec![rename("baz", "foo")],
            &[("baz", "blip"), ("bar", "blop"), ("status", "200")],
        ),
        (
            vec![rename("foo", "bar")],
            &[("foo", "blop"), ("status", "200")],
        ),
        (
            vec![rename("x", "missing")],
            &[("foo", "blip"), ("bar", "blop"), ("status", "200")],
        ),
        (
            vec![tmpl("foo", "{{.foo}} and {{.bar}}")],
            &[("foo", "blip and blop"), ("bar", "blop"), ("status", "200")],
        ),
        (
            // templates read the labels as they were at the stage's first template
            vec![rename("baz", "foo"), tmpl("new", "{{.foo}}-{{.baz}}")],
            &[
                ("baz", "blip"),
                ("bar", "blop"),
                ("status", "200"),
                ("new", "-blip"),
            ],
        ),
        (
            vec![tmpl("a", "x"), tmpl("b", "[{{.a}}]")],
            &[
                ("foo", "blip"),
                ("bar", "blop"),
                ("status", "200"),
                ("a", "x"),
                ("b", "[]"),
            ],
        ),
        (
            vec![
                tmpl("status", "{{ add .status 1 }}"),
                tmpl("line", "{{ __line__ }}"),
            ],
            &[
                ("foo", "blip"),
                ("bar", "blop"),
                ("status", "201"),
                ("line", "the line"),
            ],
        ),
    ];
    for (items, want) in cases {
        let stage = FormatStage::label_format(&items).unwrap();
        let (line, got) = run(&stage, "the line", stream, None);
        assert_eq!(line, "the line");
        assert_eq!(got, pairs(want), "{items:?}");
    }
}

#[test]
fn label_format_rejects_duplicates_and_bad_templates() {
    let err = FormatStage::label_format(&[rename("a", "b"), tmpl("a", "x")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "multiple label name 'a' not allowed in a single format operation"
    );
    let err = FormatStage::label_format(&[tmpl("a", "{{ nope }}")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid template for label 'a': template: label:1: function \"nope\" not defined"
    );
    assert!(FormatStage::label_format(&[rename("__error__", "a")]).is_err());
    let stage = FormatStage::label_format(&[tmpl("a", "{{ div 1 0 }}")]).unwrap();
    let (_, got) = run(&stage, "x", &[], None);
    assert!(got.contains(&("__error__".into(), TEMPLATE_ERR.into())));
}

fn name(n: &str) -> LabelSelection {
    LabelSelection::Name(n.into())
}

fn matcher(n: &str, op: MatchOp, v: &str) -> LabelSelection {
    LabelSelection::Matcher(Matcher::new(op, n, v).unwrap())
}

#[test]
fn drop_and_keep() {
    let stream: &[(&str, &str)] = &[("app", "foo"), ("env", "prod"), ("pod", "p1")];
    let drop = |items: &[LabelSelection]| FormatStage::Drop(LabelSelector::new(items));
    let keep = |items: &[LabelSelection]| FormatStage::Keep(LabelSelector::new(items));
    let cases: Vec<(FormatStage, Option<&str>, LabelPairs<'_>)> = vec![
        (drop(&[name("env")]), None, &[("app", "foo"), ("pod", "p1")]),
        (drop(&[name("env"), name("pod")]), None, &[("app", "foo")]),
        (drop(&[name("missing")]), None, stream),
        (
            drop(&[matcher("env", MatchOp::Equal, "prod")]),
            None,
            &[("app", "foo"), ("pod", "p1")],
        ),
        (drop(&[matcher("env", MatchOp::Equal, "dev")]), None, stream),
        (
            drop(&[name("__error__")]),
            Some("JSONParserErr"),
            &[
                ("app", "foo"),
                ("env", "prod"),
                ("pod", "p1"),
                ("__error_details__", "details"),
            ],
        ),
        (
            drop(&[
                matcher("__error__", MatchOp::Equal, "JSONParserErr"),
                name("__error_details__"),
            ]),
            Some("JSONParserErr"),
            stream,
        ),
        (
            drop(&[matcher("__error__", MatchOp::Equal, "Other")]),
            Some("JSONParserErr"),
            &[
                ("app", "foo"),
                ("env", "prod"),
                ("pod", "p1"),
                ("__error__", "JSONParserErr"),
                ("__error_details__", "details"),
            ],
        ),
        (keep(&[name("app")]), None, &[("app", "foo")]),
        (
            keep(&[name("app"), name("pod")]),
            None,
            &[("app", "foo"), ("pod", "p1")],
        ),
        (
            keep(&[matcher("env", MatchOp::Equal, "prod"), name("app")]),
            None,
            &[("app", "foo"), ("env", "prod")],
        ),
        (keep(&[matcher("env", MatchOp::Equal, "dev")]), None, &[]),
        (
            keep(&[name("app")]),
            Some("JSONParserErr"),
            &[
                ("app", "foo"),
                ("__error__", "JSONParserErr"),
                ("__error_details__", "details"),
            ],
        ),
    ];
    for (stage, err, want) in cases {
        let (_, got) = run(&stage, "x", stream, err);
        assert_eq!(got, pairs(want), "{stage:?}");
    }
}

#[test]
fn decolorize() {
    let stage = FormatStage::decolorize();
    let cases = [
        ("\x1b[31mred\x1b[0m text", "red text"),
        ("\x1b[1;32mbold green\x1b[m", "bold green"),
        ("plain", "plain"),
        ("\u{9b}31mcsi", "csi"),
        ("\x1b]0;title\x07after", "after"),
    ];
    for (line, want) in cases {
        assert_eq!(run(&stage, line, &[], None).0, want, "{line:?}");
    }
}
