use super::parse;
use crate::traceql::TraceqlError;

/// (query, the same query with explicit parentheses): both must give the same tree.
#[test]
fn precedence_table() {
    let cases = [
        ("{ .a || .b && .c }", "{ (.a || .b) && .c }"),
        ("{ .a && .b || .c }", "{ (.a && .b) || .c }"),
        ("{ .a = 1 && .b = 2 }", "{ (.a = 1) && (.b = 2) }"),
        ("{ 1 + 2 * 3 = 7 }", "{ (1 + (2 * 3)) = 7 }"),
        ("{ 1 - 2 - 3 = 7 }", "{ ((1 - 2) - 3) = 7 }"),
        ("{ 2 ^ 3 ^ 2 = 1 }", "{ (2 ^ (3 ^ 2)) = 1 }"),
        ("{ !.a * 2 }", "{ !(.a * 2) }"),
        ("{ -.a + 2 = 0 }", "{ ((-.a) + 2) = 0 }"),
        ("{ .a =~ \"x\" || .b }", "{ (.a =~ \"x\") || .b }"),
        ("{ } && { } > { }", "{ } && ({ } > { })"),
        ("{ } >> { } ~ { }", "({ } >> { }) ~ { }"),
        ("{ } || { } && { }", "({ } || { }) && { }"),
        ("max(.a) > 1 + 2 * 3", "max(.a) > (1 + (2 * 3))"),
        ("({ } | rate()) + 1 * 2", "({ } | rate()) + (1 * 2)"),
        ("1 + 2 + ({ } | rate())", "(1 + 2) + ({ } | rate())"),
        (
            "({ } | rate()) * 2 > 1 | topk(2)",
            "((({ } | rate()) * 2) > 1) | topk(2)",
        ),
        (
            "{ } | rate() > 1 | topk(2)",
            "(({ } | rate()) > 1) | topk(2)",
        ),
    ];
    for (query, explicit) in cases {
        let parsed = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        let grouped = parse(explicit).unwrap_or_else(|e| panic!("{explicit}: {e}"));
        assert_eq!(parsed, grouped, "{query}");
    }
}

/// (query, canonical print).
#[test]
fn display_table() {
    let cases = [
        ("{.a=1&&(.b=2||.c)}", "{ .a = 1 && (.b = 2 || .c) }"),
        ("{ -(.a * 2) = 1 }", "{ -.a * 2 = 1 }"),
        ("{ (-.a) * 2 = 1 }", "{ (-.a) * 2 = 1 }"),
        ("{ span.\"a b\" = `x` }", "{ span.\"a b\" = \"x\" }"),
        ("{ duration > 1h30m }", "{ duration > 90m }"),
        ("{ .f = 1.0 }", "{ .f = 1.0 }"),
        ("{}|count()>1|{}", "{ true } | count() > 1 | { true }"),
        ("({} | rate()) + 1 + 2", "({ true } | rate()) + 1 + 2"),
        (
            "{} | rate() by(name) > 1 | topk(2) with(sample=0.1)",
            "{ true } | rate() by (name) > 1 | topk(2) with(sample=0.1)",
        ),
        (
            "({ } | count()) > ({ } | count())",
            "({ true } | count()) > ({ true } | count())",
        ),
    ];
    for (query, want) in cases {
        let parsed = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(parsed.to_string(), want, "{query}");
    }
}

#[test]
fn errors_carry_position() {
    let cases = [
        ("{ .a < }", 1, 8, "syntax error: unexpected }"),
        (
            "{ true }\n| count() = }",
            2,
            13,
            "syntax error: unexpected }",
        ),
        ("{ .a = 1 } +", 1, 13, "syntax error: unexpected $end"),
    ];
    for (query, line, col, message) in cases {
        let want = TraceqlError::Parse {
            line,
            col,
            message: message.to_string(),
        };
        assert_eq!(parse(query).err(), Some(want), "{query}");
    }
}

#[test]
fn nesting_is_capped() {
    let deep = format!("{}{{ true }}{}", "(".repeat(500), ")".repeat(500));
    assert!(parse(&deep).is_err());
    let deep_field = format!("{{ {}true }}", "!".repeat(500));
    assert!(parse(&deep_field).is_err());
    let long = format!("{{ .a = 1{} }}", " + 1".repeat(5000));
    assert!(parse(&long).is_err());
    let ok = format!("{}{{ true }}{}", "(".repeat(10), ")".repeat(10));
    assert!(parse(&ok).is_ok());
    // The longest chains allowed still validate and print without exhausting the stack.
    for query in [
        format!("{{ .a = 1{} }}", " + 1".repeat(1000)),
        format!("{{ }}{}", " && { }".repeat(1000)),
        format!("{}{{ .a }}{}", "({ ! -".repeat(20), " }) > 1".repeat(20)),
    ] {
        if let Ok(q) = parse(&query) {
            let _ = q.validate();
            assert_eq!(parse(&q.to_string()).as_ref(), Ok(&q));
        }
    }
    assert!(parse(&format!("{{ .a = 1{} }}", " + 1".repeat(1000))).is_ok());
}

mod properties {
    use proptest::prelude::*;

    use crate::traceql::ast::*;
    use crate::traceql::parse;

    fn statics() -> impl Strategy<Value = Static> {
        prop_oneof![
            Just(Static::Nil),
            any::<bool>().prop_map(Static::Bool),
            (0..i64::MAX).prop_map(Static::Int),
            (0.0..1e12f64).prop_map(Static::Float),
            "[ -~\n\t]{0,8}".prop_map(Static::String),
            (0..i64::MAX / 2).prop_map(Static::Duration),
            Just(Static::Status(SpanStatus::Error)),
            Just(Static::Kind(SpanKind::Consumer)),
        ]
    }

    fn attributes() -> impl Strategy<Value = Attribute> {
        let scopes = prop_oneof![
            Just(AttributeScope::None),
            Just(AttributeScope::Span),
            Just(AttributeScope::Resource),
            Just(AttributeScope::Event),
            Just(AttributeScope::Link),
            Just(AttributeScope::Instrumentation),
        ];
        prop_oneof![
            (scopes, "[ -~]{1,8}").prop_map(|(scope, name)| Attribute::Named {
                scope,
                parent: false,
                name,
            }),
            (0..INTRINSICS.len()).prop_map(|i| Attribute::Intrinsic(INTRINSICS[i].1)),
        ]
    }

    fn binary_ops() -> impl Strategy<Value = BinaryOp> {
        prop_oneof![
            Just(BinaryOp::Arith(ArithOp::Add)),
            Just(BinaryOp::Arith(ArithOp::Sub)),
            Just(BinaryOp::Arith(ArithOp::Mul)),
            Just(BinaryOp::Arith(ArithOp::Mod)),
            Just(BinaryOp::Arith(ArithOp::Pow)),
            Just(BinaryOp::Cmp(CmpOp::Lte)),
            Just(BinaryOp::Cmp(CmpOp::Neq)),
            Just(BinaryOp::Regex),
            Just(BinaryOp::NotRegex),
            Just(BinaryOp::And),
            Just(BinaryOp::Or),
        ]
    }

    fn fields() -> impl Strategy<Value = FieldExpr> {
        let leaf = prop_oneof![
            statics().prop_map(FieldExpr::Static),
            attributes().prop_map(FieldExpr::Attribute),
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (binary_ops(), inner.clone(), inner.clone()).prop_map(|(op, l, r)| {
                    FieldExpr::Binary {
                        op,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                    }
                }),
                (any::<bool>(), inner).prop_map(|(neg, e)| FieldExpr::Unary {
                    op: if neg { UnaryOp::Neg } else { UnaryOp::Not },
                    expr: Box::new(e),
                }),
            ]
        })
    }

    fn spansets() -> impl Strategy<Value = SpansetExpr> {
        let ops = prop_oneof![
            Just(SpansetOp::And),
            Just(SpansetOp::Union),
            Just(SpansetOp::Child),
            Just(SpansetOp::NotAncestor),
            Just(SpansetOp::UnionSibling),
        ];
        let leaf = fields().prop_map(SpansetExpr::Filter);
        leaf.prop_recursive(3, 8, 2, move |inner| {
            prop_oneof![
                (ops.clone(), inner.clone(), inner.clone()).prop_map(|(op, l, r)| {
                    SpansetExpr::Op {
                        op,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                    }
                }),
                (inner, fields()).prop_map(|(s, by)| SpansetExpr::Pipeline(Pipeline {
                    stages: vec![Stage::Spanset(s), Stage::By(by), Stage::Coalesce],
                })),
            ]
        })
    }

    fn stages() -> impl Strategy<Value = Stage> {
        prop_oneof![
            spansets().prop_map(Stage::Spanset),
            fields().prop_map(Stage::By),
            prop::collection::vec(attributes().prop_map(FieldExpr::Attribute), 1..3)
                .prop_map(Stage::Select),
            (fields(), 0..1000i64).prop_map(|(f, n)| Stage::ScalarFilter(ScalarFilter {
                op: CmpOp::Gte,
                lhs: ScalarExpr::Aggregate(Aggregate {
                    kind: AggregateKind::Avg,
                    field: Some(f),
                }),
                rhs: ScalarExpr::Static(Static::Int(n)),
            })),
        ]
    }

    fn queries() -> impl Strategy<Value = TraceqlQuery> {
        let pipelines =
            || prop::collection::vec(stages(), 1..4).prop_map(|stages| Pipeline { stages });
        let metrics = (pipelines(), 0..100u32, -5.0..5.0f64).prop_map(|(p, k, x)| {
            let series = MetricsExpr::Pipeline {
                pipeline: p,
                aggregate: MetricsAggregate {
                    function: MetricsFunction::Rate,
                    by: vec![FieldExpr::Attribute(Attribute::Intrinsic(Intrinsic::Name))],
                },
            };
            let scaled = MetricsExpr::Op {
                op: ArithOp::Mul,
                lhs: Box::new(series),
                rhs: Box::new(MetricsExpr::Constant(ScalarExpr::Static(Static::Float(x)))),
            };
            RootExpr::Metrics(MetricsExpr::SecondStage {
                expr: Box::new(scaled),
                stage: SecondStage::TopK(k),
            })
        });
        prop_oneof![pipelines().prop_map(RootExpr::Pipeline), metrics].prop_map(|expr| {
            TraceqlQuery {
                expr,
                hints: Vec::new(),
            }
        })
    }

    /// Tokens that often combine into valid queries.
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "{ }",
        "(",
        ")",
        "|",
        "&&",
        "||",
        "!",
        "-",
        "+",
        "*",
        "/",
        "%",
        "^",
        "=",
        "!=",
        "<",
        ">",
        ">=",
        ">>",
        "<<",
        "~",
        "!~",
        "=~",
        "&>",
        "!>",
        ".a",
        "span.b",
        "duration",
        "name",
        "status",
        "1",
        "2.5",
        "3s",
        "\"x\"",
        "true",
        "nil",
        "ok",
        "count()",
        "max(.a)",
        "avg(duration)",
        "rate()",
        "count_over_time()",
        "by(.a)",
        "select(.a)",
        "coalesce()",
        "topk(2)",
        "bottomk(1)",
        "by (name)",
        "with(sample=0.1)",
    ];

    proptest! {
        #[test]
        fn generated_trees_print_and_parse_back(query in queries()) {
            let printed = query.to_string();
            let parsed = parse(&printed);
            prop_assert_eq!(parsed, Ok(query), "{}", printed);
        }

        #[test]
        fn random_text_never_panics_and_reprints(text in "[{}()|&!<>=~.+*/%^\"`a-z:0-9 ,-]{0,40}") {
            if let Ok(q) = parse(&text) {
                let _ = q.validate();
                let printed = q.to_string();
                prop_assert_eq!(parse(&printed), Ok(q), "{} printed as {}", text, printed);
            }
        }

        #[test]
        fn token_soup_never_panics_and_reprints(
            tokens in prop::collection::vec(prop::sample::select(TOKENS), 1..16)
        ) {
            let text = tokens.join(" ");
            if let Ok(q) = parse(&text) {
                let _ = q.validate();
                let printed = q.to_string();
                prop_assert_eq!(parse(&printed), Ok(q), "{} printed as {}", text, printed);
            }
        }

        #[test]
        fn any_text_never_panics(text in "\\PC{0,60}") {
            if let Ok(q) = parse(&text) {
                let _ = q.validate();
            }
        }
    }
}
