//! Parser tests: canonical forms of accepted queries, Loki's error messages for rejected
//! ones, and property tests (display round trip, no panics on arbitrary input).

use proptest::prelude::*;
use sextant_model::{MatchOp, Matcher};

use super::{parse_expr, parse_log_expr, parse_sample_expr};
use crate::logql::ast::*;

/// Each query parses, and prints as the canonical text.
#[test]
fn canonical_forms() {
    let cases: &[(&str, &str)] = &[
        (r#"{app="a"}"#, r#"{app="a"}"#),
        (r#"{app="a",env!~"dev|qa"}"#, r#"{app="a", env!~"dev|qa"}"#),
        (r#"{app="a"} |= "x" != `y`"#, r#"{app="a"} |= "x" != "y""#),
        (
            r#"{app="a"} |= "x" or "y" or ip("10.0.0.0/8")"#,
            r#"{app="a"} |= "x" or "y" or ip("10.0.0.0/8")"#,
        ),
        (
            r#"{app="a"} |> "<_> 200" !> "GET <_>""#,
            r#"{app="a"} |> "<_> 200" !> "GET <_>""#,
        ),
        (r#"{app="a"} | json"#, r#"{app="a"} | json"#),
        (
            r#"{app="a"} | json who="user.id", tag"#,
            r#"{app="a"} | json who="user.id", tag"#,
        ),
        (
            r#"{app="a"} | logfmt --strict --keep-empty lvl, c="code""#,
            r#"{app="a"} | logfmt --strict --keep-empty lvl, c="code""#,
        ),
        (
            r#"{app="a"} | regexp `(?P<x>\w+)` | pattern "<a> <b>" | unpack"#,
            r#"{app="a"} | regexp "(?P<x>\\w+)" | pattern "<a> <b>" | unpack"#,
        ),
        (
            r#"{app="a"} | line_format "{{.a}}" | label_format a=b, c="{{.d}}""#,
            r#"{app="a"} | line_format "{{.a}}" | label_format a=b, c="{{.d}}""#,
        ),
        (
            r#"{app="a"} | drop a, b="v" | keep c, d=~"x.*" | decolorize"#,
            r#"{app="a"} | drop a, b="v" | keep c, d=~"x.*" | decolorize"#,
        ),
        (
            r#"{app="a"} | x="1" or y="1" and z="1""#,
            r#"{app="a"} | x="1" or (y="1" and z="1")"#,
        ),
        (
            r#"{app="a"} | x="1" or y="1", z="1""#,
            r#"{app="a"} | x="1" or (y="1" and z="1")"#,
        ),
        (
            r#"{app="a"} | x="1" or y="1" z="1""#,
            r#"{app="a"} | x="1" or (y="1" and z="1")"#,
        ),
        (
            r#"{app="a"} | x="1", y="1" or z="1""#,
            r#"{app="a"} | x="1" and (y="1" or z="1")"#,
        ),
        (
            r#"{app="a"} | (x="1" or y="1") and z="1""#,
            r#"{app="a"} | (x="1" or y="1") and z="1""#,
        ),
        (
            r#"{app="a"} | took > 1.5s, size <= 10KB, code == 200, n != -1.5e3"#,
            r#"{app="a"} | took > 1s500ms and (size <= 10000B and (code == 200 and n != -1500))"#,
        ),
        (
            r#"{app="a"} | took = 1h30m | t2 > 1.5us"#,
            r#"{app="a"} | took == 1h30m | t2 > 1500ns"#,
        ),
        (
            r#"{app="a"} | addr = ip("1.2.3.0/24") | b != ip("::1")"#,
            r#"{app="a"} | addr = ip("1.2.3.0/24") | b != ip("::1")"#,
        ),
        (r#"rate({app="a"}[5m])"#, r#"rate({app="a"} [5m])"#),
        (
            r#"RATE({app="a"} |= "x" [5m] offset 1h)"#,
            r#"rate({app="a"} |= "x" [5m] offset 1h)"#,
        ),
        (
            r#"count_over_time({app="a"}[1m] |= "x")"#,
            r#"count_over_time({app="a"} |= "x" [1m])"#,
        ),
        (
            r#"count_over_time(({app="foo"} |~".+bar")[1m])"#,
            r#"count_over_time({app="foo"} |~ ".+bar" [1m])"#,
        ),
        (
            r#"count_over_time(({app="foo"} |~".+bar" [1m] offset 5m))"#,
            r#"count_over_time({app="foo"} |~ ".+bar" [1m] offset 5m)"#,
        ),
        (
            r#"rate(({app="a"} | unwrap bar)[1m])"#,
            r#"rate({app="a"} | unwrap bar [1m])"#,
        ),
        (
            r#"sum_over_time({app="a"} | logfmt | unwrap bytes(b) | b > 1 | __error__="" [1m])"#,
            r#"sum_over_time({app="a"} | logfmt | unwrap bytes(b) | b > 1 | __error__="" [1m])"#,
        ),
        (
            r#"max_over_time({unit="bytes"} | logfmt | unwrap bytes(bytes) [1m])"#,
            r#"max_over_time({unit="bytes"} | logfmt | unwrap bytes(bytes) [1m])"#,
        ),
        (
            r#"avg_over_time({a="b"} | unwrap duration_seconds(d) [1m]) by (x, y)"#,
            r#"avg_over_time({a="b"} | unwrap duration_seconds(d) [1m]) by (x, y)"#,
        ),
        (
            r#"quantile_over_time(0.99, {a="b"} | unwrap d [1m]) without (x)"#,
            r#"quantile_over_time(0.99, {a="b"} | unwrap d [1m]) without (x)"#,
        ),
        (
            r#"sum by (a) (rate({a="b"}[1m]))"#,
            r#"sum by (a) (rate({a="b"} [1m]))"#,
        ),
        (
            r#"sum(rate({a="b"}[1m])) by (a)"#,
            r#"sum by (a) (rate({a="b"} [1m]))"#,
        ),
        (
            r#"sum(rate({a="b"}[1m])) by ()"#,
            r#"sum by () (rate({a="b"} [1m]))"#,
        ),
        (
            r#"topk(5, rate({a="b"}[1m]))"#,
            r#"topk(5, rate({a="b"} [1m]))"#,
        ),
        (
            r#"topk by (x) (5, rate({a="b"}[1m]))"#,
            r#"topk by (x) (5, rate({a="b"} [1m]))"#,
        ),
        (
            r#"sort_desc(rate({a="b"}[1m]))"#,
            r#"sort_desc(rate({a="b"} [1m]))"#,
        ),
        (r#"1 + 2 * 3"#, r#"1 + (2 * 3)"#),
        (r#"(1 + 2) * 3"#, r#"(1 + 2) * 3"#),
        (r#"2 ^ 3 ^ 2"#, r#"2 ^ (3 ^ 2)"#),
        (r#"1 - 2 - 3"#, r#"(1 - 2) - 3"#),
        (r#"-1 + +2"#, r#"-1 + 2"#),
        (
            r#"rate({a="b"}[1m]) > bool 1"#,
            r#"rate({a="b"} [1m]) > bool 1"#,
        ),
        (
            r#"rate({a="b"}[1m]) or rate({c="d"}[1m]) and rate({e="f"}[1m])"#,
            r#"rate({a="b"} [1m]) or (rate({c="d"} [1m]) and rate({e="f"} [1m]))"#,
        ),
        (
            r#"rate({a="b"}[1m]) / on (x) group_left (y) rate({c="d"}[1m])"#,
            r#"rate({a="b"} [1m]) / on (x) group_left (y) rate({c="d"} [1m])"#,
        ),
        (
            r#"rate({a="b"}[1m]) * ignoring () group_right rate({c="d"}[1m])"#,
            r#"rate({a="b"} [1m]) * ignoring () group_right () rate({c="d"} [1m])"#,
        ),
        (
            r#"label_replace(rate({a="b"}[1m]), "d", "$1", "s", "(.*)")"#,
            r#"label_replace(rate({a="b"} [1m]), "d", "$1", "s", "(.*)")"#,
        ),
        (r#"vector(3.14)"#, r#"vector(3.14)"#),
        ("rate({a=\"b\"}[1m]) # a comment", r#"rate({a="b"} [1m])"#),
        (r#"({a="b"} |= "x")"#, r#"{a="b"} |= "x""#),
    ];
    for (query, want) in cases {
        let expr = parse_expr(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(expr.to_string(), *want, "{query}");
    }
}

/// Each query fails with an error containing the text.
#[test]
fn errors() {
    let cases: &[(&str, &str)] = &[
        (
            "vector(abc)",
            "parse error at line 1, col 8: syntax error: unexpected IDENTIFIER, expecting NUMBER",
        ),
        (
            r#"vector(count_over_time({app="a"}[1m]))"#,
            "unexpected COUNT_OVER_TIME, expecting NUMBER",
        ),
        (
            r#"{app=~".*"}"#,
            "queries require at least one regexp or equality matcher",
        ),
        (
            r#"{}"#,
            "queries require at least one regexp or equality matcher",
        ),
        (
            r#"rate({app=""}[1m])"#,
            "queries require at least one regexp or equality matcher",
        ),
        (
            r#"sum_over_time({a="b"}[1m])"#,
            "parse error : invalid aggregation sum_over_time without unwrap",
        ),
        (
            r#"count_over_time({a="b"} | unwrap v [1m])"#,
            "invalid aggregation count_over_time with unwrap",
        ),
        (
            r#"bytes_rate({a="b"} | unwrap v [1m])"#,
            "invalid aggregation bytes_rate with unwrap",
        ),
        (
            r#"rate({a="b"}[1m]) by (x)"#,
            "grouping not allowed for rate aggregation",
        ),
        (
            r#"rate_counter({a="b"} | unwrap v [1m]) by (x)"#,
            "grouping not allowed for rate_counter aggregation",
        ),
        (
            r#"sum_over_time({a="b"} | unwrap v [1m]) by (x)"#,
            "grouping not allowed for sum_over_time aggregation",
        ),
        (
            r#"quantile_over_time({a="b"} | unwrap v [1m])"#,
            "parameter required for operation quantile_over_time",
        ),
        (
            r#"quantile_over_time(-0.1, {a="b"} | unwrap v [1m])"#,
            "syntax error: unexpected -",
        ),
        (
            r#"rate(5, {a="b"}[1m])"#,
            "parameter 5 not supported for operation rate",
        ),
        (
            r#"topk(rate({a="b"}[1m]))"#,
            "parameter required for operation topk",
        ),
        (
            r#"topk(1.5, rate({a="b"}[1m]))"#,
            "invalid parameter topk(1.5,",
        ),
        (
            r#"topk(0, rate({a="b"}[1m]))"#,
            "invalid parameter (must be greater than 0)",
        ),
        (
            r#"sum(5, rate({a="b"}[1m]))"#,
            "unsupported parameter for operation sum(5,",
        ),
        (
            r#"approx_topk(2, rate({a="b"}[1m])) by (x)"#,
            "grouping not allowed for approx_topk aggregation",
        ),
        (
            r#"sort by (x) (rate({a="b"}[1m]))"#,
            "sort and sort_desc doesn't allow grouping by",
        ),
        (
            r#"count_over_time({a="b"} | code == "200" [1m])"#,
            "syntax error: unexpected STRING",
        ),
        (
            r#"count_over_time({a="b"} | code > 0x10 [1m])"#,
            "unable to parse literal as a float",
        ),
        (
            r#"count_over_time({a="b"} | size > 1mb [1m])"#,
            "syntax error",
        ),
        (
            r#"count_over_time({a="b"} | addr == ip("1.2.3.4") [1m])"#,
            "syntax error: unexpected ip",
        ),
        (
            r#"count_over_time({a="b"} | addr =~ ip("1.2.3.4") [1m])"#,
            "syntax error: unexpected ip",
        ),
        (
            r#"count_over_time({a="b"} | json | unwrap x | json [1m])"#,
            "syntax error: unexpected json",
        ),
        (
            r#"label_replace(rate({a="b"}[1m]), "d", "$1", "s", "(")"#,
            "invalid regex in label_replace",
        ),
        (
            r#"rate({a="b"}[1m]) and 1"#,
            "unexpected literal for right leg of logical/set binary operation (and): 1.000000",
        ),
        (
            r#"{a="b"} + 1"#,
            "unexpected type for left leg of binary operation (+): *syntax.MatchersExpr",
        ),
        (
            r#"rate({a="b"}[1m]) + {a="b"} |= "x""#,
            "unexpected type for right leg of binary operation (+): *syntax.PipelineExpr",
        ),
        (r#"rate({a="b"}[5x])"#, "not a valid duration string"),
        (r#"{a="b"} |= "x"#, "literal not terminated"),
        (r#"{a="b"}[5m]"#, "syntax error: unexpected RANGE"),
        (r#"sum({a="b"})"#, "syntax error: unexpected )"),
        (r#"rate({a="b"} [1m]) +"#, "syntax error: unexpected $end"),
        (r#"{a="("}"#, ""),
    ];
    for (query, want) in cases {
        match parse_expr(query) {
            Ok(expr) if want.is_empty() => {
                let _ = expr;
            }
            Ok(expr) => panic!("{query}: parsed as {expr}"),
            Err(e) => assert!(e.to_string().contains(want), "{query}: {e}"),
        }
    }
    let long = format!(r#"{{a="{}"}}"#, "x".repeat(6000));
    assert!(parse_expr(&long)
        .unwrap_err()
        .to_string()
        .contains("input size too long"));
}

#[test]
fn the_tree_is_the_pinned_shape() {
    let expr = parse_sample_expr(
        r#"quantile_over_time(0.5, {app="a"} |= "x" | logfmt | unwrap bytes(b) | b > 1KB [5m] offset 1m) by (pod)"#,
    )
    .unwrap();
    let want = SampleExpr::Range(RangeAggregation {
        op: RangeOp::QuantileOverTime,
        range: LogRange {
            log: LogExpr {
                matchers: vec![Matcher::new(MatchOp::Equal, "app", "a").unwrap()],
                pipeline: vec![
                    Stage::LineFilter(LineFilter {
                        op: LineFilterOp::Contains,
                        values: vec![LineFilterValue::Text("x".into())],
                    }),
                    Stage::Parser(Parser::Logfmt {
                        strict: false,
                        keep_empty: false,
                        extractions: vec![],
                    }),
                ],
            },
            range_ms: 300_000,
            offset_ms: 60_000,
            unwrap: Some(Unwrap {
                label: "b".into(),
                conversion: UnwrapConversion::Bytes,
                post_filters: vec![LabelFilter::Bytes {
                    name: "b".into(),
                    op: CmpOp::Gt,
                    value: 1000,
                }],
            }),
        },
        param: Some(0.5),
        grouping: Some(Grouping {
            without: false,
            labels: vec!["pod".into()],
        }),
    });
    assert_eq!(expr, want);
}

#[test]
fn kind_specific_entry_points() {
    assert!(parse_log_expr(r#"{a="b"}"#).is_ok());
    assert!(parse_log_expr(r#"rate({a="b"}[1m])"#).is_err());
    assert!(parse_sample_expr(r#"rate({a="b"}[1m])"#).is_ok());
    assert!(parse_sample_expr(r#"{a="b"}"#).is_err());
}

// --- generated trees -------------------------------------------------------------------

const NAMES: &[&str] = &["app", "env", "pod", "level", "x_1", "__error__"];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_string)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 .*]{0,6}",
        any::<String>().prop_map(|s| s.chars().take(6).collect()),
    ]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    let op = prop::sample::select(vec![
        MatchOp::Equal,
        MatchOp::NotEqual,
        MatchOp::RegexMatch,
        MatchOp::RegexNoMatch,
    ]);
    (name(), op, "[a-z]{0,4}").prop_map(|(n, op, v)| Matcher::new(op, n, v).unwrap())
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Lt,
        CmpOp::Le,
    ])
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![(-1000i32..1000).prop_map(f64::from), (-1e6f64..1e6),]
}

fn label_filter() -> impl Strategy<Value = LabelFilter> {
    let leaf = prop_oneof![
        matcher().prop_map(LabelFilter::String),
        (name(), cmp_op(), number()).prop_map(|(name, op, value)| LabelFilter::Number {
            name,
            op,
            value
        }),
        (name(), cmp_op(), -10_000_000_000i64..10_000_000_000).prop_map(|(name, op, ns)| {
            LabelFilter::Duration {
                name,
                op,
                value_ms: ns as f64 / 1e6,
            }
        }),
        (name(), cmp_op(), any::<u32>()).prop_map(|(name, op, v)| LabelFilter::Bytes {
            name,
            op,
            value: u64::from(v)
        }),
        (name(), any::<bool>(), text()).prop_map(|(name, equal, pattern)| LabelFilter::Ip {
            name,
            equal,
            pattern
        }),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        (inner.clone(), inner, any::<bool>()).prop_map(|(l, r, and)| {
            if and {
                LabelFilter::And(Box::new(l), Box::new(r))
            } else {
                LabelFilter::Or(Box::new(l), Box::new(r))
            }
        })
    })
}

fn extractions() -> impl Strategy<Value = Vec<Extraction>> {
    prop::collection::vec(
        (name(), prop::option::of("[a-z.\\[\\]0-9]{1,5}")).prop_map(|(label, expr)| Extraction {
            expr: expr.unwrap_or_else(|| label.clone()),
            label,
        }),
        0..3,
    )
}

fn stage() -> impl Strategy<Value = Stage> {
    let line_filter_op = prop::sample::select(vec![
        LineFilterOp::Contains,
        LineFilterOp::NotContains,
        LineFilterOp::Regex,
        LineFilterOp::NotRegex,
        LineFilterOp::Pattern,
        LineFilterOp::NotPattern,
    ]);
    let value = prop_oneof![
        text().prop_map(LineFilterValue::Text),
        text().prop_map(LineFilterValue::Ip)
    ];
    let selection = prop_oneof![
        name().prop_map(LabelSelection::Name),
        matcher().prop_map(LabelSelection::Matcher)
    ];
    let format = prop_oneof![
        (name(), name()).prop_map(|(dst, src)| LabelFormat::Rename { dst, src }),
        (name(), text()).prop_map(|(dst, template)| LabelFormat::Template { dst, template }),
    ];
    prop_oneof![
        (line_filter_op, prop::collection::vec(value, 1..3))
            .prop_map(|(op, values)| Stage::LineFilter(LineFilter { op, values })),
        extractions().prop_map(|extractions| Stage::Parser(Parser::Json { extractions })),
        (any::<bool>(), any::<bool>(), extractions()).prop_map(
            |(strict, keep_empty, extractions)| {
                Stage::Parser(Parser::Logfmt {
                    strict,
                    keep_empty,
                    extractions,
                })
            }
        ),
        text().prop_map(|t| Stage::Parser(Parser::Regexp(t))),
        text().prop_map(|t| Stage::Parser(Parser::Pattern(t))),
        Just(Stage::Parser(Parser::Unpack)),
        label_filter().prop_map(Stage::LabelFilter),
        text().prop_map(Stage::LineFormat),
        prop::collection::vec(format, 1..3).prop_map(Stage::LabelFormat),
        prop::collection::vec(selection.clone(), 1..3).prop_map(Stage::Drop),
        prop::collection::vec(selection, 1..3).prop_map(Stage::Keep),
        Just(Stage::Decolorize),
    ]
}

/// `| keep a != "x"` reads as a matcher in Loki's grammar too, never as `keep a` followed by
/// the line filter `!= "x"`: such pipelines cannot be written.
fn unambiguous(pipeline: &[Stage]) -> bool {
    pipeline.windows(2).all(|pair| {
        let ends_with_name = match &pair[0] {
            Stage::Drop(items) | Stage::Keep(items) => {
                matches!(items.last(), Some(LabelSelection::Name(_)))
            }
            _ => false,
        };
        let negated_filter = matches!(
            &pair[1],
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::NotContains | LineFilterOp::NotRegex,
                ..
            })
        );
        !(ends_with_name && negated_filter)
    })
}

fn log_expr() -> impl Strategy<Value = LogExpr> {
    (
        prop::collection::vec(matcher(), 0..3),
        prop::collection::vec(stage(), 0..4).prop_filter("ambiguous", |p| unambiguous(p)),
    )
        .prop_map(|(mut matchers, pipeline)| {
            matchers.insert(0, Matcher::new(MatchOp::Equal, "app", "a").unwrap());
            LogExpr { matchers, pipeline }
        })
}

fn grouping() -> impl Strategy<Value = Grouping> {
    (any::<bool>(), prop::collection::vec(name(), 0..3))
        .prop_map(|(without, labels)| Grouping { without, labels })
}

/// A valid range aggregation: the operation decides unwrap, parameter and grouping.
fn range_aggregation() -> impl Strategy<Value = SampleExpr> {
    use RangeOp::*;
    let op = prop::sample::select(vec![
        Rate,
        RateCounter,
        CountOverTime,
        BytesRate,
        BytesOverTime,
        AbsentOverTime,
        SumOverTime,
        AvgOverTime,
        MaxOverTime,
        MinOverTime,
        StddevOverTime,
        StdvarOverTime,
        QuantileOverTime,
        FirstOverTime,
        LastOverTime,
    ]);
    let conversion = prop::sample::select(vec![
        UnwrapConversion::None,
        UnwrapConversion::Bytes,
        UnwrapConversion::Duration,
        UnwrapConversion::DurationSeconds,
    ]);
    let unwrap = (
        name(),
        conversion,
        prop::collection::vec(label_filter(), 0..2),
    )
        .prop_map(|(label, conversion, post_filters)| Unwrap {
            label,
            conversion,
            post_filters,
        });
    (
        op,
        log_expr(),
        1i64..100_000_000,
        -100_000i64..100_000_000,
        unwrap,
        0.0f64..1.0,
        prop::option::of(grouping()),
    )
        .prop_map(|(op, log, range_ms, offset_ms, unwrap, q, grouping)| {
            let needs_unwrap = !matches!(
                op,
                Rate | CountOverTime | BytesRate | BytesOverTime | AbsentOverTime
            );
            let groups = matches!(
                op,
                AvgOverTime
                    | StddevOverTime
                    | StdvarOverTime
                    | QuantileOverTime
                    | MaxOverTime
                    | MinOverTime
                    | FirstOverTime
                    | LastOverTime
            );
            SampleExpr::Range(RangeAggregation {
                op,
                range: LogRange {
                    log,
                    range_ms,
                    offset_ms,
                    unwrap: needs_unwrap.then_some(unwrap),
                },
                param: (op == QuantileOverTime).then_some(q),
                grouping: if groups { grouping } else { None },
            })
        })
}

fn sample_expr() -> impl Strategy<Value = SampleExpr> {
    let leaf = prop_oneof![
        range_aggregation(),
        range_aggregation(),
        number().prop_map(|v| SampleExpr::VectorLiteral(v.abs())),
    ];
    let tree = leaf.prop_recursive(3, 10, 2, |inner| {
        let vector_op = prop::sample::select(vec![
            VectorOp::Sum,
            VectorOp::Avg,
            VectorOp::Min,
            VectorOp::Max,
            VectorOp::Count,
            VectorOp::Stddev,
            VectorOp::Stdvar,
            VectorOp::Topk,
            VectorOp::Bottomk,
            VectorOp::Sort,
        ]);
        let binary_op = prop::sample::select(vec![
            BinaryOp::Or,
            BinaryOp::And,
            BinaryOp::Unless,
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Mod,
            BinaryOp::Pow,
            BinaryOp::Eq,
            BinaryOp::Ne,
            BinaryOp::Gt,
            BinaryOp::Ge,
            BinaryOp::Lt,
            BinaryOp::Le,
        ]);
        let matching = (
            any::<bool>(),
            prop::collection::vec(name(), 0..2),
            prop::option::of((any::<bool>(), prop::collection::vec(name(), 0..2))),
        )
            .prop_map(|(on, labels, group)| VectorMatching {
                on,
                labels,
                group: group.map(|(left, include)| GroupModifier { left, include }),
            });
        prop_oneof![
            (
                vector_op,
                inner.clone(),
                prop::option::of(grouping()),
                1u8..10
            )
                .prop_map(|(op, expr, grouping, k)| {
                    let takes_k = matches!(op, VectorOp::Topk | VectorOp::Bottomk);
                    let grouping = match op {
                        VectorOp::Sort => None,
                        _ => grouping,
                    };
                    SampleExpr::Vector(VectorAggregation {
                        op,
                        expr: Box::new(expr),
                        grouping,
                        param: takes_k.then_some(f64::from(k)),
                    })
                }),
            (
                binary_op,
                inner.clone(),
                inner.clone(),
                any::<bool>(),
                prop::option::of(matching)
            )
                .prop_map(|(op, lhs, rhs, return_bool, matching)| {
                    SampleExpr::Binary(Box::new(BinaryExpr {
                        op,
                        lhs,
                        rhs,
                        return_bool,
                        matching,
                    }))
                }),
            (inner, name(), text(), name()).prop_map(|(expr, dst, replacement, src)| {
                SampleExpr::LabelReplace(Box::new(LabelReplace {
                    expr,
                    dst,
                    replacement,
                    src,
                    regex: "(.*)".into(),
                }))
            }),
        ]
    });
    prop_oneof![tree, number().prop_map(SampleExpr::Literal)]
}

fn expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        log_expr().prop_map(Expr::Log),
        sample_expr().prop_map(Expr::Sample)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn display_round_trips(expr in expr()) {
        let text = expr.to_string();
        let parsed = parse_expr(&text);
        prop_assert!(parsed.is_ok(), "{text}: {:?}", parsed);
        prop_assert_eq!(parsed.unwrap(), expr, "{}", text);
    }

    #[test]
    fn arbitrary_input_does_not_panic(input in any::<String>()) {
        let _ = parse_expr(&input);
    }

    #[test]
    fn logql_like_input_does_not_panic(input in r#"[{}()\[\]|=!~><"`a-z0-9 ,.+*/^%#-]{0,40}"#) {
        let _ = parse_expr(&input);
    }
}

/// Nesting is bounded, so a hostile query fails cleanly instead of exhausting the stack (the
/// queries run on a thread with the 2 MiB stack of spawned threads and tokio workers).
#[test]
fn deep_nesting_is_rejected() {
    let parens = |depth: usize| format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
    let filters = |n: usize| {
        let chain = vec![r#"x="1""#; n].join(", ");
        format!(r#"count_over_time({{a="b"}} | {chain} [1m])"#)
    };
    let sums = |n: usize| vec!["1"; n].join(" + ");
    let powers = |n: usize| vec!["2"; n].join(" ^ ");
    let cases: Vec<(String, bool)> = vec![
        (parens(120), true),
        (parens(2000), false),
        (filters(120), true),
        (filters(600), false),
        (sums(120), true),
        (sums(1000), false),
        (powers(1000), false),
    ];
    for (query, ok) in cases {
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || parse_expr(&query).map(|_| ()))
            .unwrap()
            .join()
            .unwrap();
        match parsed {
            Ok(()) => assert!(ok, "accepted a too deep query"),
            Err(e) => {
                assert!(!ok, "{e}");
                assert!(e.to_string().contains("nested too deeply"), "{e}");
            }
        }
    }
}
