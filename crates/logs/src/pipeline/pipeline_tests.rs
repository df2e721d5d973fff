//! Whole pipelines: stage order, clash rules with structured metadata, unwrap conversions,
//! and property tests that no input panics a stage.

use super::*;
use crate::logql::ast::{
    CmpOp, Extraction, LabelFilter, LabelFormat, LabelSelection, LineFilter, LineFilterOp,
    LineFilterValue, Parser, Stage, UnwrapConversion,
};
use proptest::prelude::*;
use sextant_model::{MatchOp, Matcher};

fn contains(s: &str) -> Stage {
    Stage::LineFilter(LineFilter {
        op: LineFilterOp::Contains,
        values: vec![LineFilterValue::Text(s.into())],
    })
}

fn logfmt() -> Stage {
    Stage::Parser(Parser::Logfmt {
        strict: false,
        keep_empty: false,
        extractions: vec![],
    })
}

fn json() -> Stage {
    Stage::Parser(Parser::Json {
        extractions: vec![],
    })
}

fn label_eq(name: &str, value: &str) -> Stage {
    Stage::LabelFilter(LabelFilter::String(
        Matcher::new(MatchOp::Equal, name, value).unwrap(),
    ))
}

fn num(name: &str, op: CmpOp, value: f64) -> Stage {
    Stage::LabelFilter(LabelFilter::Number {
        name: name.into(),
        op,
        value,
    })
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn run(
    stages: &[Stage],
    line: &str,
    stream: &[(&str, &str)],
    meta: &[(&str, &str)],
) -> Option<Processed> {
    Pipeline::new(stages)
        .unwrap()
        .process(0, line, &labels(stream), &labels(meta))
}

#[test]
fn pipelines_filter_parse_and_format() {
    let stream: &[(&str, &str)] = &[("app", "a")];
    type Case<'a> = (
        Vec<Stage>,
        &'a str,
        Option<(&'a str, &'a [(&'a str, &'a str)])>,
    );
    let cases: Vec<Case<'_>> = vec![
        (vec![], "x", Some(("x", &[("app", "a")]))),
        (
            vec![contains("err")],
            "an error",
            Some(("an error", &[("app", "a")])),
        ),
        (vec![contains("err")], "fine", None),
        (
            vec![logfmt(), num("status", CmpOp::Ge, 500.0)],
            "status=503 level=error",
            Some((
                "status=503 level=error",
                &[("app", "a"), ("status", "503"), ("level", "error")],
            )),
        ),
        (
            vec![logfmt(), num("status", CmpOp::Ge, 500.0)],
            "status=200",
            None,
        ),
        (
            vec![logfmt(), num("status", CmpOp::Ge, 500.0)],
            "status=abc",
            Some((
                "status=abc",
                &[
                    ("app", "a"),
                    ("status", "abc"),
                    ("__error__", "LabelFilterErr"),
                    (
                        "__error_details__",
                        r#"strconv.ParseFloat: parsing "abc": invalid syntax"#,
                    ),
                ],
            )),
        ),
        (
            vec![
                logfmt(),
                num("status", CmpOp::Ge, 500.0),
                label_eq("__error__", ""),
            ],
            "status=abc",
            None,
        ),
        (vec![json(), label_eq("__error__", "")], "broken", None),
        (
            vec![
                json(),
                Stage::Drop(vec![
                    LabelSelection::Name("__error__".into()),
                    LabelSelection::Name("__error_details__".into()),
                ]),
            ],
            "broken",
            Some(("broken", &[("app", "a")])),
        ),
        (
            vec![
                json(),
                Stage::LineFormat("{{.level}}: {{.msg}}".into()),
                contains("warn:"),
            ],
            r#"{"level":"warn","msg":"disk"}"#,
            Some((
                "warn: disk",
                &[("app", "a"), ("level", "warn"), ("msg", "disk")],
            )),
        ),
        (
            vec![
                Stage::Parser(Parser::Unpack),
                logfmt(),
                Stage::LabelFormat(vec![LabelFormat::Rename {
                    dst: "c".into(),
                    src: "code".into(),
                }]),
                Stage::Keep(vec![LabelSelection::Name("c".into())]),
            ],
            r#"{"lvl":"x","_entry":"code=42"}"#,
            Some(("code=42", &[("c", "42")])),
        ),
        (
            vec![Stage::Decolorize, contains("red")],
            "\x1b[31mred\x1b[0m",
            Some(("red", &[("app", "a")])),
        ),
        (
            vec![
                json(),
                Stage::Parser(Parser::Logfmt {
                    strict: false,
                    keep_empty: false,
                    extractions: vec![Extraction {
                        label: "k".into(),
                        expr: "k".into(),
                    }],
                }),
            ],
            r#"{"k":"json"}"#,
            Some((r#"{"k":"json"}"#, &[("app", "a"), ("k", "")])),
        ),
    ];
    for (stages, line, want) in cases {
        let got = run(&stages, line, stream, &[]);
        let want = want.map(|(l, pairs)| Processed {
            line: l.to_owned(),
            labels: labels(pairs),
        });
        assert_eq!(got, want, "{stages:?} on {line:?}");
    }
}

/// The precedence rules of the upstream `.logqltest` files (functions, label_filters,
/// parsers): stream > metadata > parsed for the name, parsed > metadata > stream for
/// `<name>_extracted`.
#[test]
fn metadata_and_parsed_clashes() {
    let stream = &[("app", "a"), ("sl", "s"), ("sm", "s"), ("tri", "s")];
    let meta = &[("md", "m"), ("sm", "m"), ("tri", "m")];
    let got = run(&[logfmt()], "sl=p md=p tri=p", stream, meta).unwrap();
    assert_eq!(
        got.labels,
        labels(&[
            ("app", "a"),
            ("sl", "s"),
            ("sl_extracted", "p"),
            ("md", "m"),
            ("md_extracted", "p"),
            ("sm", "s"),
            ("sm_extracted", "m"),
            ("tri", "s"),
            ("tri_extracted", "p"),
        ])
    );
    let no_parser = run(&[], "k=p", &[("app", "a"), ("k", "s")], &[("k", "m")]).unwrap();
    assert_eq!(
        no_parser.labels,
        labels(&[("app", "a"), ("k", "s"), ("k_extracted", "m")])
    );
    let filtered = run(
        &[
            logfmt(),
            label_eq("tri_extracted", "p"),
            label_eq("md", "m"),
        ],
        "sl=p md=p tri=p",
        stream,
        meta,
    );
    assert!(filtered.is_some());
}

#[test]
fn compile_errors_name_the_stage() {
    let cases: Vec<(Stage, &str)> = vec![
        (
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::Regex,
                values: vec![LineFilterValue::Text("(".into())],
            }),
            "error parsing regexp",
        ),
        (Stage::Parser(Parser::Regexp("x".into())), "named capture"),
        (
            Stage::Parser(Parser::Pattern("x".into())),
            "at least one capture",
        ),
        (
            Stage::LineFormat("{{ nope }}".into()),
            "function \"nope\" not defined",
        ),
        (
            Stage::LabelFilter(LabelFilter::Ip {
                name: "a".into(),
                equal: true,
                pattern: "x".into(),
            }),
            "ip: invalid pattern",
        ),
    ];
    for (stage, want) in cases {
        let err = Pipeline::new(std::slice::from_ref(&stage)).unwrap_err();
        assert!(err.to_string().contains(want), "{stage:?}: {err}");
        assert_eq!(err.kind(), ErrorKind::BadRequest);
    }
}

#[test]
fn pipelines_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pipeline>();
    assert_send_sync::<Processed>();
    assert_send_sync::<PipelineError>();
}

#[test]
fn unwrap_values() {
    use UnwrapConversion::*;
    let cases: &[(UnwrapConversion, &str, Option<f64>)] = &[
        (None, "1.5", Some(1.5)),
        (None, "-3", Some(-3.0)),
        (None, "1e3", Some(1000.0)),
        (None, "abc", Option::None),
        (None, "", Option::None),
        (Bytes, "10KB", Some(10_000.0)),
        (Bytes, "10KiB", Some(10_240.0)),
        (Bytes, "5 MB", Some(5_000_000.0)),
        (Bytes, "12", Some(12.0)),
        (Bytes, "x", Option::None),
        (Duration, "1m30s", Some(90.0)),
        (Duration, "250ms", Some(0.25)),
        (DurationSeconds, "2h", Some(7200.0)),
        (Duration, "5", Option::None),
    ];
    for (conversion, value, want) in cases {
        assert_eq!(
            unwrap_value(*conversion, value).ok(),
            *want,
            "{conversion:?} {value}"
        );
    }
    assert_eq!(
        unwrap_value(Duration, "5").unwrap_err().to_string(),
        r#"time: missing unit in duration "5""#
    );
}

/// Label filters after an unwrap run as a pipeline over the unwrapped labels.
#[test]
fn post_unwrap_filters() {
    let pipeline = Pipeline::new(&[num("v", CmpOp::Gt, 1.0), label_eq("__error__", "")]).unwrap();
    let none = Labels::default();
    assert!(pipeline
        .process(0, "", &labels(&[("v", "2")]), &none)
        .is_some());
    assert!(pipeline
        .process(0, "", &labels(&[("v", "0")]), &none)
        .is_none());
    assert!(pipeline
        .process(0, "", &labels(&[("v", "x")]), &none)
        .is_none());
}

fn every_stage() -> Vec<Stage> {
    vec![
        contains("a"),
        json(),
        logfmt(),
        Stage::Parser(Parser::Logfmt {
            strict: true,
            keep_empty: true,
            extractions: vec![],
        }),
        Stage::Parser(Parser::Json {
            extractions: vec![Extraction {
                label: "x".into(),
                expr: "a.b[0]".into(),
            }],
        }),
        Stage::Parser(Parser::Regexp(r"(?P<w>\w+)".into())),
        Stage::Parser(Parser::Pattern("<a> <_> <b>".into())),
        Stage::Parser(Parser::Unpack),
        num("w", CmpOp::Gt, 1.0),
        Stage::LabelFilter(LabelFilter::Bytes {
            name: "a".into(),
            op: CmpOp::Lt,
            value: 10,
        }),
        Stage::LineFormat(
            "{{ .w | ToUpper }} {{ __line__ | trunc 5 }} {{ .a | default \"-\" }}".into(),
        ),
        Stage::LabelFormat(vec![LabelFormat::Template {
            dst: "t".into(),
            template: "{{ if .b }}{{ .b | b64enc }}{{ end }}{{ (fromJson .a).x }}".into(),
        }]),
        Stage::Decolorize,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No line, however broken, panics a parser, filter or template.
    #[test]
    fn no_line_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let line = String::from_utf8_lossy(&bytes);
        let stream = labels(&[("app", "a")]);
        let meta = labels(&[("m", "1")]);
        for stage in every_stage() {
            let pipeline = Pipeline::new(std::slice::from_ref(&stage)).unwrap();
            let _ = pipeline.process(0, &line, &stream, &meta);
        }
        let all = Pipeline::new(&every_stage()[1..]).unwrap();
        let _ = all.process(i64::MIN, &line, &stream, &meta);
    }

    /// Structured lines too: json- and logfmt-looking text built from pieces.
    #[test]
    fn no_structured_line_panics(
        pieces in proptest::collection::vec(
            prop_oneof![
                Just("{"), Just("}"), Just("["), Just("]"), Just("\""), Just(":"), Just(","),
                Just("="), Just(" "), Just("\\"), Just("\\u"), Just("a"), Just("1"), Just("é"),
                Just("null"), Just("_entry"), Just("\x1b["),
            ],
            0..40,
        )
    ) {
        let line: String = pieces.concat();
        let stream = labels(&[("app", "a")]);
        let all = Pipeline::new(&every_stage()[1..]).unwrap();
        let _ = all.process(0, &line, &stream, &Labels::default());
    }

    /// No template text panics the template parser, nor its execution.
    #[test]
    fn no_template_panics(text in "[{}. |a-z0-9\"()$:=_-]{0,40}") {
        if let Ok(pipeline) = Pipeline::new(&[Stage::LineFormat(text)]) {
            let _ = pipeline.process(0, "line", &labels(&[("a", "1")]), &Labels::default());
        }
    }

    /// Templates made of real function names and odd arguments run or fail, never panic.
    #[test]
    fn no_function_call_panics(
        calls in proptest::collection::vec(
            (
                prop_oneof![
                    Just("substr"), Just("trunc"), Just("printf"), Just("repeat"), Just("indent"),
                    Just("alignLeft"), Just("alignRight"), Just("div"), Just("mod"), Just("divf"),
                    Just("round"), Just("date"), Just("toDate"), Just("unixToTime"), Just("index"),
                    Just("regexReplaceAll"), Just("count"), Just("b64dec"), Just("urldecode"),
                    Just("fromJson"), Just("len"), Just("eq"), Just("lt"), Just("default"),
                ],
                proptest::collection::vec(
                    prop_oneof![
                        Just(".a".to_string()), Just("-1".to_string()), Just("0".to_string()),
                        Just("99999999999".to_string()), Just("1.5".to_string()),
                        Just("\"%d%s%q%x%.99999f%-5c\"".to_string()),
                        "\"[^\"\\\\]{0,8}\"",
                        Just("now".to_string()), Just("(fromJson .a)".to_string()),
                    ],
                    0..4,
                ),
            ),
            1..4,
        ),
        value in "\\PC{0,16}",
    ) {
        let text: String = calls
            .iter()
            .map(|(f, args)| format!("{{{{ {f} {} }}}}", args.join(" ")))
            .collect();
        if let Ok(pipeline) = Pipeline::new(&[Stage::LineFormat(text)]) {
            let _ = pipeline.process(1, "line", &labels(&[("a", value.as_str())]), &Labels::default());
        }
    }

    /// Any value converts or errors, never panics.
    #[test]
    fn no_value_panics_conversion(value in "\\PC{0,20}") {
        for c in [UnwrapConversion::None, UnwrapConversion::Bytes, UnwrapConversion::Duration] {
            let _ = unwrap_value(c, &value);
        }
    }
}
