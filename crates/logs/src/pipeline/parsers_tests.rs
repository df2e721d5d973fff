//! Parser stage tables, after Loki's parser_test.go.

use super::*;
use crate::logql::ast::{Extraction, Parser};
use sextant_model::Labels;

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

/// Runs one parser on a line with stream labels `foo="bar"` (Loki's tests use those).
fn run(parser: &Parser, line: &str) -> (String, Pairs) {
    run_with(parser, line, &[("foo", "bar")])
}

fn run_with(parser: &Parser, line: &str, stream: &[(&str, &str)]) -> (String, Pairs) {
    let stage = ParserStage::new(parser).unwrap();
    let stream = Labels::from_pairs(stream.iter().copied());
    let metadata = Labels::default();
    let mut labels = LineLabels::new(&stream, &metadata);
    let mut line = Cow::Borrowed(line);
    stage.apply(&mut line, &mut labels);
    let out = labels
        .finish()
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    (line.into_owned(), out)
}

fn json() -> Parser {
    Parser::Json {
        extractions: vec![],
    }
}

fn logfmt(strict: bool, keep_empty: bool) -> Parser {
    Parser::Logfmt {
        strict,
        keep_empty,
        extractions: vec![],
    }
}

fn extractions(list: &[(&str, &str)]) -> Vec<Extraction> {
    list.iter()
        .map(|(label, expr)| Extraction {
            label: label.to_string(),
            expr: expr.to_string(),
        })
        .collect()
}

#[test]
fn json_parser() {
    let cases: &[(&str, LabelPairs<'_>)] = &[
        (
            r#"{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}}}"#,
            &[
                ("foo", "bar"),
                ("app", "foo"),
                ("namespace", "prod"),
                ("pod_uuid", "foo"),
                ("pod_deployment_ref", "foobar"),
            ],
        ),
        (
            r#"{"counter":1, "price": {"_net_":5.56909}}"#,
            &[("foo", "bar"), ("counter", "1"), ("price__net_", "5.56909")],
        ),
        (
            r#"{"counter":1, "price": {"net_":["10","20"]}}"#,
            &[("foo", "bar"), ("counter", "1")],
        ),
        (r#"{"cou-nter":1}"#, &[("foo", "bar"), ("cou_nter", "1")]),
        (
            r#"{"foo":"x\"y","ok":true,"no":false,"nil":null}"#,
            &[
                ("foo", "bar"),
                ("foo_extracted", "x\"y"),
                ("ok", "true"),
                ("no", "false"),
            ],
        ),
        (
            r#"{"1a":"x","a b":"y"}"#,
            &[("foo", "bar"), ("_1a", "x"), ("a_b", "y")],
        ),
        (
            r#"{"dup":"first","dup":"second"}"#,
            &[("foo", "bar"), ("dup", "first")],
        ),
        (r#"{"bad":"\ud83d"}"#, &[("foo", "bar"), ("bad", " ")]),
        (r#"{"a\"b":"x"}"#, &[("foo", "bar"), ("a__b", "x")]),
        (r#"{" ":{"k":"v"}}"#, &[("foo", "bar"), ("k", "v")]),
    ];
    for (line, want) in cases {
        assert_eq!(run(&json(), line).1, pairs(want), "{line}");
    }
}

#[test]
fn json_parser_errors_keep_earlier_fields() {
    for line in ["{n}", "not json", "[1,2]", r#"{"a":"x","b":}"#, ""] {
        let (_, got) = run(&json(), line);
        assert!(
            got.contains(&("__error__".into(), JSON_ERR.into())),
            "{line}: {got:?}"
        );
        assert!(got.iter().any(|(n, _)| n == "__error_details__"), "{line}");
    }
    let (_, got) = run(&json(), r#"{"a":"x","b":}"#);
    assert!(got.contains(&("a".into(), "x".into())));
}

#[test]
fn json_extraction() {
    let line =
        r#"{"app":"foo","pod":{"uuid":"u1","tags":["x","y"],"meta":{"k":1}},"n":null,"a.b":2}"#;
    let cases: &[(LabelPairs<'_>, LabelPairs<'_>)] = &[
        (&[("app", "app")], &[("foo", "bar"), ("app", "foo")]),
        (&[("id", "pod.uuid")], &[("foo", "bar"), ("id", "u1")]),
        (&[("id", r#"pod["uuid"]"#)], &[("foo", "bar"), ("id", "u1")]),
        (&[("t", "pod.tags[1]")], &[("foo", "bar"), ("t", "y")]),
        (
            &[("t", "pod.tags")],
            &[("foo", "bar"), ("t", r#"["x","y"]"#)],
        ),
        (&[("m", "pod.meta")], &[("foo", "bar"), ("m", r#"{"k":1}"#)]),
        (&[("n", "n")], &[("foo", "bar"), ("n", "")]),
        (
            &[("missing", "pod.nope")],
            &[("foo", "bar"), ("missing", "")],
        ),
        (&[("ab", r#"["a.b"]"#)], &[("foo", "bar"), ("ab", "2")]),
        (
            &[("foo", "app")],
            &[("foo", "bar"), ("foo_extracted", "foo")],
        ),
    ];
    for (exprs, want) in cases {
        let parser = Parser::Json {
            extractions: extractions(exprs),
        };
        assert_eq!(run(&parser, line).1, pairs(want), "{exprs:?}");
    }
    let parser = Parser::Json {
        extractions: extractions(&[("a", "x")]),
    };
    let (_, got) = run(&parser, "not json");
    assert!(got.contains(&("__error__".into(), JSON_ERR.into())));
}

#[test]
fn json_extraction_rejects_bad_expressions() {
    for expr in ["user[", "a..b", "a.", "a[x]", "", "a[\"b]"] {
        let parser = Parser::Json {
            extractions: extractions(&[("l", expr)]),
        };
        let err = ParserStage::new(&parser).unwrap_err().to_string();
        assert!(err.starts_with("cannot parse expression"), "{expr}: {err}");
    }
    let parser = Parser::Json {
        extractions: extractions(&[("1bad", "a")]),
    };
    assert!(ParserStage::new(&parser).is_err());
}

#[test]
fn logfmt_parser() {
    let cases: &[(Parser, &str, LabelPairs<'_>)] = &[
        (
            logfmt(false, false),
            "buzz bar=foo",
            &[("foo", "bar"), ("bar", "foo")],
        ),
        (
            logfmt(false, true),
            "buzz bar=foo",
            &[("foo", "bar"), ("buzz", ""), ("bar", "foo")],
        ),
        (
            logfmt(false, false),
            r#"foobar="foo bar""#,
            &[("foo", "bar"), ("foobar", "foo bar")],
        ),
        (
            logfmt(false, false),
            r#"foobar="foo\nbar\tbaz""#,
            &[("foo", "bar"), ("foobar", "foo\nbar\tbaz")],
        ),
        (
            logfmt(false, false),
            r#"foobar="foo bar" foobar=10ms"#,
            &[("foo", "bar"), ("foobar", "foo bar")],
        ),
        (
            logfmt(false, false),
            r#"foo="foo bar" foobar=10ms"#,
            &[
                ("foo", "bar"),
                ("foo_extracted", "foo bar"),
                ("foobar", "10ms"),
            ],
        ),
        (
            logfmt(false, false),
            r#"foo="foo bar" foo.bar=10ms test-dash=foo"#,
            &[
                ("foo", "bar"),
                ("foo_extracted", "foo bar"),
                ("foo_bar", "10ms"),
                ("test_dash", "foo"),
            ],
        ),
        (logfmt(false, false), "", &[("foo", "bar")]),
        (
            logfmt(false, false),
            "buzz=foo bar=\u{FFFD}f",
            &[("foo", "bar"), ("buzz", "foo"), ("bar", " f")],
        ),
        (
            logfmt(false, false),
            r#"good=1 bad="unterminated"#,
            &[("foo", "bar"), ("good", "1")],
        ),
        (
            logfmt(true, false),
            "foobar====wqe=sdad1r",
            &[
                ("foo", "bar"),
                ("__error__", "LogfmtParserErr"),
                (
                    "__error_details__",
                    "logfmt syntax error at pos 8 : unexpected '='",
                ),
            ],
        ),
        (
            logfmt(true, false),
            r#"good=1 bad="unterminated"#,
            &[
                ("foo", "bar"),
                ("good", "1"),
                ("__error__", "LogfmtParserErr"),
                (
                    "__error_details__",
                    "logfmt syntax error at pos 25 : unterminated quoted value",
                ),
            ],
        ),
    ];
    for (parser, line, want) in cases {
        assert_eq!(run(parser, line).1, pairs(want), "{parser:?} {line}");
    }
}

#[test]
fn logfmt_extraction() {
    let line = "level=info status=200 msg=hi foo=x";
    let cases: &[(LabelPairs<'_>, LabelPairs<'_>)] = &[
        (&[("level", "level")], &[("foo", "bar"), ("level", "info")]),
        (
            &[("level", "level"), ("code", "status")],
            &[("foo", "bar"), ("level", "info"), ("code", "200")],
        ),
        (&[("missing", "nope")], &[("foo", "bar"), ("missing", "")]),
        (&[("foo", "foo")], &[("foo", "bar"), ("foo_extracted", "x")]),
    ];
    for (exprs, want) in cases {
        let parser = Parser::Logfmt {
            strict: false,
            keep_empty: false,
            extractions: extractions(exprs),
        };
        assert_eq!(run(&parser, line).1, pairs(want), "{exprs:?}");
    }
}

#[test]
fn regexp_parser() {
    let re = |r: &str| Parser::Regexp(r.into());
    let cases: &[(Parser, &str, LabelPairs<'_>)] = &[
        (
            re(r"(?P<method>\w+) (?P<path>\S+) (?P<status>\d+)"),
            "GET /home 200",
            &[
                ("foo", "bar"),
                ("method", "GET"),
                ("path", "/home"),
                ("status", "200"),
            ],
        ),
        (
            re(r"(?P<foo>\w+) (?P<bar>\w+)"),
            "a b",
            &[("foo", "bar"), ("foo_extracted", "a"), ("bar", "b")],
        ),
        (re(r"(?P<num>\d+)"), "no digits", &[("foo", "bar")]),
        (
            re(r"(?P<a>x)(?P<b>y)?"),
            "x",
            &[("foo", "bar"), ("a", "x"), ("b", "")],
        ),
        (
            re(r"(?<new>\w+)"),
            "word",
            &[("foo", "bar"), ("new", "word")],
        ),
    ];
    for (parser, line, want) in cases {
        assert_eq!(run(parser, line).1, pairs(want), "{parser:?} {line}");
    }
    let errors: &[(&str, &str)] = &[
        ("nocapture", "at least one named capture must be supplied"),
        ("(a)(b)", "at least one named capture must be supplied"),
        ("(?P<x>.)(?P<x>.)", "duplicate extracted label name 'x'"),
        ("(", "error parsing regexp"),
    ];
    for (r, msg) in errors {
        let err = ParserStage::new(&re(r)).unwrap_err().to_string();
        assert!(err.contains(msg), "{r}: {err}");
    }
}

#[test]
fn pattern_parser() {
    let p = |s: &str| Parser::Pattern(s.into());
    let cases: &[(Parser, &str, LabelPairs<'_>)] = &[
        (
            p("<method> <path> <status>"),
            "GET /home 200",
            &[
                ("foo", "bar"),
                ("method", "GET"),
                ("path", "/home"),
                ("status", "200"),
            ],
        ),
        (
            p("<foo> <_> <x>"),
            "a b c",
            &[("foo", "bar"), ("foo_extracted", "a"), ("x", "c")],
        ),
        (
            p("<method> <path>"),
            "POST",
            &[("foo", "bar"), ("method", "POST")],
        ),
    ];
    for (parser, line, want) in cases {
        assert_eq!(run(parser, line).1, pairs(want), "{parser:?} {line}");
    }
    let err = ParserStage::new(&p("no captures")).unwrap_err().to_string();
    assert!(err.contains("at least one capture is required"), "{err}");
}

#[test]
fn unpack_parser() {
    let cases: &[(&str, &str, LabelPairs<'_>)] = &[
        (
            r#"{"app":"foo","num":5,"_entry":"the line"}"#,
            "the line",
            &[("foo", "bar"), ("app", "foo")],
        ),
        (
            r#"{"foo":"packed","_entry":"code=42"}"#,
            "code=42",
            &[("foo", "bar"), ("foo_extracted", "packed")],
        ),
        (
            r#"{"a":"b"}"#,
            r#"{"a":"b"}"#,
            &[("foo", "bar"), ("a", "b")],
        ),
        ("", "", &[("foo", "bar")]),
    ];
    for (line, want_line, want) in cases {
        let (got_line, got) = run(&Parser::Unpack, line);
        assert_eq!(got_line, *want_line, "{line}");
        assert_eq!(got, pairs(want), "{line}");
    }
    let (got_line, got) = run(&Parser::Unpack, "not json");
    assert_eq!(got_line, "not json");
    assert!(got.contains(&("__error__".into(), JSON_ERR.into())));
}

#[test]
fn sanitizes_like_loki() {
    let cases = [
        ("a", "a"),
        ("a-b", "a_b"),
        ("9x", "_9x"),
        (" a ", "a"),
        ("é", "_"),
        ("a.b.c", "a_b_c"),
        ("", ""),
    ];
    for (key, want) in cases {
        assert_eq!(sanitize(key), want, "{key:?}");
    }
}

/// Loki's TestLogfmtParser_parse cases: (line, non-strict labels, strict labels).
#[test]
fn logfmt_like_loki() {
    type Case<'a> = (&'a str, LabelPairs<'a>, LabelPairs<'a>);
    let cases: &[Case<'_>] = &[
        (
            r#"foo="foo bar" =notkey bar=10ms"#,
            &[
                ("foo", "bar"),
                ("foo_extracted", "foo bar"),
                ("bar", "10ms"),
            ],
            &[
                ("foo", "bar"),
                ("foo_extracted", "foo bar"),
                ("__error__", "LogfmtParserErr"),
                (
                    "__error_details__",
                    "logfmt syntax error at pos 15 : unexpected '='",
                ),
            ],
        ),
        (
            "foo=\"foo bar\" b\u{FFFD}r=10ms",
            &[("foo", "bar"), ("foo_extracted", "foo bar")],
            &[
                ("foo", "bar"),
                ("foo_extracted", "foo bar"),
                ("__error__", "LogfmtParserErr"),
                (
                    "__error_details__",
                    "logfmt syntax error at pos 20 : invalid key",
                ),
            ],
        ),
        (
            r#"foo="foo bar" bu"zz=10ms"#,
            &[("foo", "bar"), ("foo_extracted", "foo bar")],
            &[
                ("foo", "bar"),
                ("foo_extracted", "foo bar"),
                ("__error__", "LogfmtParserErr"),
                (
                    "__error_details__",
                    r#"logfmt syntax error at pos 17 : unexpected '"'"#,
                ),
            ],
        ),
        (
            r#"bar=bu=zz foo="foo bar""#,
            &[("foo", "bar"), ("foo_extracted", "foo bar")],
            &[
                ("foo", "bar"),
                ("__error__", "LogfmtParserErr"),
                (
                    "__error_details__",
                    "logfmt syntax error at pos 7 : unexpected '='",
                ),
            ],
        ),
        (
            "foobar=\"foo bar\nb\\\\az\"",
            &[("foo", "bar"), ("foobar", "foo bar\nb\\az")],
            &[("foo", "bar"), ("foobar", "foo bar\nb\\az")],
        ),
        (
            r#"foobar="foo ba\\r baz""#,
            &[("foo", "bar"), ("foobar", r"foo ba\r baz")],
            &[("foo", "bar"), ("foobar", r"foo ba\r baz")],
        ),
    ];
    for (line, want, want_strict) in cases {
        assert_eq!(run(&logfmt(false, false), line).1, pairs(want), "{line}");
        assert_eq!(
            run(&logfmt(true, false), line).1,
            pairs(want_strict),
            "strict {line}"
        );
    }
}

/// Loki's TestJSONExpressionParser cases.
#[test]
fn json_extraction_like_loki() {
    let line = r#"{"app":"foo","field with space":"value","field with ÜFT8👌":"value","null_field":null,"bool_field":false,"namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar", "params": [1,2,3,"string_value"]}}}"#;
    let cases: &[(&str, &str, &str)] = &[
        ("test", r#"["field with space"]"#, "value"),
        ("utf8", r#"["field with ÜFT8👌"]"#, "value"),
        ("uuid", r#"["pod"]["uuid"]"#, "foo"),
        ("undefined", r#"pod[""]"#, ""),
        ("param", r#"pod.deployment.params[""]"#, ""),
        ("param", "pod.deployment.params[3]", "string_value"),
        (
            "params",
            "pod.deployment.params",
            r#"[1,2,3,"string_value"]"#,
        ),
        (
            "deployment",
            "pod.deployment",
            r#"{"ref":"foobar", "params": [1,2,3,"string_value"]}"#,
        ),
        ("nf", "null_field", ""),
        ("bool", "bool_field", "false"),
    ];
    for (label, expr, want) in cases {
        let parser = Parser::Json {
            extractions: extractions(&[(label, expr)]),
        };
        assert_eq!(
            run_with(&parser, line, &[]).1,
            pairs(&[(label, want)]),
            "{expr}"
        );
    }
    let nested = |line: &str| {
        let parser = Parser::Json {
            extractions: extractions(&[("app", "app")]),
        };
        run_with(&parser, line, &[]).1
    };
    assert_eq!(
        nested(r#"{"app":"{ \"key\": \"value\", \"key2\":\"value2\"}"}"#),
        pairs(&[("app", r#"{ "key": "value", "key2":"value2"}"#)])
    );
    assert_eq!(
        nested(r#"{"app":{"name":"great \"loki\""}}"#),
        pairs(&[("app", r#"{"name":"great \"loki\""}"#)])
    );
    // an invalid line sets the error without details
    assert_eq!(nested("invalid json"), pairs(&[("__error__", JSON_ERR)]));
}

/// Loki's Test_unpackParser_Parse error cases.
#[test]
fn unpack_errors_like_loki() {
    for line in [
        r#""app":"foo","namespace":"prod","_entry":"some message""#,
        r#"["foo","bar"]"#,
    ] {
        let (got_line, got) = run_with(&Parser::Unpack, line, &[]);
        assert_eq!(got_line, line);
        assert_eq!(
            got,
            pairs(&[
                ("__error__", JSON_ERR),
                (
                    "__error_details__",
                    "expecting json object(6), but it is not"
                ),
            ])
        );
    }
    let (line, _) = run_with(
        &Parser::Unpack,
        r#"{"_entry":"I0303 kubelet \"Pod status updated\" status=Running"}"#,
        &[],
    );
    assert_eq!(line, r#"I0303 kubelet "Pod status updated" status=Running"#);
}
