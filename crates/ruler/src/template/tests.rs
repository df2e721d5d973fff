use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn render_with(src: &str, value: f64) -> Result<String, TemplateError> {
    let labels = map(&[("job", "api"), ("instance", "host-1.example.com:9100")]);
    let external = map(&[("cluster", "eu-1")]);
    let data = TemplateData {
        labels: &labels,
        external_labels: &external,
        external_url: "http://ruler.example:8080/prefix",
        value,
    };
    Template::parse(src)?.render(&data)
}

fn render(src: &str) -> String {
    render_with(src, 1234567.0).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

#[test]
fn variables_fields_and_pipelines() {
    let cases = [
        ("plain text", "plain text"),
        ("{{ 1 }}", "1"),
        ("{{ $labels.job }}", "api"),
        ("{{ .Labels.job }}", "api"),
        ("{{ $labels.missing }}|", "|"),
        ("{{ $value }}", "1.234567e+06"),
        ("{{ .Value }}", "1.234567e+06"),
        ("{{ $externalLabels.cluster }}", "eu-1"),
        ("{{ .ExternalLabels.cluster }}", "eu-1"),
        ("{{ $externalURL }}", "http://ruler.example:8080/prefix"),
        (
            "{{ externalURL }} {{ pathPrefix }}",
            "http://ruler.example:8080/prefix /prefix",
        ),
        ("{{ $value | humanize }}", "1.235M"),
        ("{{ humanize $value }}", "1.235M"),
        ("{{ $labels.job | toUpper }}", "API"),
        ("{{ $labels.job | printf \"%s-%s\" \"x\" }}", "x-api"),
        ("{{ $x := $labels.job }}{{ $x }}", "api"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        ("{{ ($labels).job }}", "api"),
        ("{{ $.Labels.job }}", "api"),
        ("{{ \"a\\tb\" }}{{ `raw\\n` }}", "a\tbraw\\n"),
        ("{{ $labels.instance | stripPort }}", "host-1.example.com"),
        ("{{ $labels.instance | stripDomain }}", "host-1:9100"),
        ("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", "xa"),
        (
            "{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}",
            "true false",
        ),
        ("{{ \"aa bb CC\" | title }}", "Aa Bb CC"),
        ("{{ \"aA bB CC\" | toLower }}", "aa bb cc"),
        ("{{ len $labels }} {{ index $labels \"job\" }}", "2 api"),
        ("{{ print 1 2 \"a\" \"b\" 3 }}", "1 2ab3"),
        (
            "{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}",
            "3720.01",
        ),
        (
            "{{ \"<b>\" | html }} {{ \"a b&c\" | urlquery }}",
            "&lt;b&gt; a+b%26c",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(render(src), want, "{src:?}");
    }
}

#[test]
fn conditionals_and_loops() {
    let cases = [
        (
            "{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}",
            "big",
        ),
        ("{{ if gt $value 100 }}big{{ end }}", "big"),
        (
            "{{ if lt $value 1 }}a{{ else if eq $labels.job \"api\" }}b{{ else }}c{{ end }}",
            "b",
        ),
        (
            "{{ if and (ne $labels.job \"x\") (ge 2 2) }}y{{ end }}",
            "y",
        ),
        ("{{ if or false 0 \"\" }}y{{ else }}n{{ end }}", "n"),
        ("{{ if not $labels.missing }}none{{ end }}", "none"),
        ("{{ if le 1.5 1.5 }}le{{ end }}", "le"),
        (
            "{{ if eq $labels.job \"a\" \"b\" \"api\" }}in{{ end }}",
            "in",
        ),
        ("{{ with $labels.job }}job={{ . }}{{ end }}", "job=api"),
        ("{{ with $labels.nope }}x{{ else }}empty{{ end }}", "empty"),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            "instance=host-1.example.com:9100;job=api;",
        ),
        ("{{ range $externalLabels }}{{ . }}{{ end }}", "eu-1"),
        ("{{ range .Labels.nothing }}{{ end }}", "ERR"),
        ("{{ if true }}{{ $x := 1 }}{{ $x }}{{ end }}", "1"),
    ];
    for (src, want) in cases {
        match render_with(src, 1234567.0) {
            Ok(got) => assert_eq!(got, want, "{src:?}"),
            Err(e) => assert_eq!(want, "ERR", "{src:?}: {e}"),
        }
    }
}

#[test]
fn trimming_and_comments() {
    let cases = [
        ("a  {{- 1 -}}  b", "a1b"),
        ("a \n {{- /* note */ -}} \n b", "ab"),
        ("a {{/* note */}} b", "a  b"),
        ("{{-3}}", "-3"),
        ("x\n{{- if true }}\n  y\n{{- end }}\n", "x\n  y\n"),
        ("{{ -0.22222 | humanizePercentage }}", "-22.22%"),
    ];
    for (src, want) in cases {
        assert_eq!(render(src), want, "{src:?}");
    }
}

/// Prometheus's template_test.go expectations for the humanize functions.
#[test]
fn humanize_matches_prometheus() {
    type Humanizer = fn(f64) -> String;
    type Cases = &'static [(f64, &'static str)];
    let table: [(Humanizer, Cases); 3] = [
        (
            funcs::humanize,
            &[
                (0.0, "0"),
                (1.0, "1"),
                (1234567.0, "1.235M"),
                (0.12, "120m"),
                (-1.0, "-1"),
                (9.223372036854776e18, "9.223E"),
                (1.8446744073709552e19, "18.45E"),
                (f64::INFINITY, "+Inf"),
                (f64::NEG_INFINITY, "-Inf"),
                (f64::NAN, "NaN"),
            ],
        ),
        (
            funcs::humanize1024,
            &[
                (0.0, "0"),
                (1.0, "1"),
                (1048576.0, "1Mi"),
                (0.12, "0.12"),
                (1234567.0, "1.177Mi"),
                (9.223372036854776e18, "8Ei"),
                (1.8446744073709552e19, "16Ei"),
            ],
        ),
        (
            funcs::humanize_duration,
            &[
                (0.0, "0s"),
                (1.0, "1s"),
                (60.0, "1m 0s"),
                (3600.0, "1h 0m 0s"),
                (86400.0, "1d 0h 0m 0s"),
                (86400.0 + 3600.0, "1d 1h 0m 0s"),
                (
                    -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
                    "-2d 3h 4m 5s",
                ),
                (899.99, "14m 59s"),
                (0.1, "100ms"),
                (0.0001, "100us"),
                (0.12345, "123.5ms"),
                (60.1, "1m 0s"),
                (1.2345, "1.234s"),
                (12.345, "12.35s"),
                (1234567.0, "14d 6h 56m 7s"),
                (-1.0, "-1s"),
                (f64::NAN, "NaN"),
            ],
        ),
    ];
    for (f, cases) in table {
        for (input, want) in cases {
            assert_eq!(f(*input), *want, "{input}");
        }
    }
}

#[test]
fn humanize_percentage_and_timestamp_match_prometheus() {
    let cases = [
        ("{{ 0.0 | humanizePercentage }}", "0%"),
        ("{{ 0.1234567 | humanizePercentage }}", "12.35%"),
        ("{{ 1.23456 | humanizePercentage }}", "123.5%"),
        ("{{ 1234567 | humanizePercentage }}", "1.235e+08%"),
        ("{{ \"-0.22222\" | humanizePercentage }}", "-22.22%"),
        (
            "{{ 1435065584.128 | humanizeTimestamp }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        (
            "{{ \"1435065584.128\" | humanizeTimestamp }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        (
            "{{ 0 | humanizeTimestamp }}",
            "1970-01-01 00:00:00 +0000 UTC",
        ),
        (
            "{{ -1 | humanizeTimestamp }}",
            "1969-12-31 23:59:59 +0000 UTC",
        ),
        (
            "{{ 1234567 | humanizeTimestamp }}",
            "1970-01-15 06:56:07 +0000 UTC",
        ),
        (
            "{{ 9223372036 | humanizeTimestamp }}",
            "2262-04-11 23:47:16 +0000 UTC",
        ),
        (
            "{{ humanize \"1234567.0\" }} {{ humanize \".12\" }}",
            "1.235M 120m",
        ),
        ("{{ humanize1024 \"1048576.0\" }}", "1Mi"),
        ("{{ humanizeDuration \"3600\" }}", "1h 0m 0s"),
        (
            "{{ \"+Inf\" | humanize }} {{ \"NaN\" | humanizeDuration }}",
            "+Inf NaN",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(render(src), want, "{src:?}");
    }
}

#[test]
fn printf_verbs() {
    let cases = [
        ("{{ printf \"%s\" $labels.job }}", "api"),
        ("{{ printf \"%d\" 42 }}", "42"),
        (
            "{{ printf \"%5d|%-5d|%05d\" 42 42 -42 }}",
            "   42|42   |-0042",
        ),
        ("{{ printf \"%f\" 1.5 }}", "1.500000"),
        ("{{ printf \"%.2f\" $value }}", "1234567.00"),
        ("{{ printf \"%.0f\" 2.5 }}", "2"),
        ("{{ printf \"%v\" $value }}", "1.234567e+06"),
        ("{{ printf \"%g\" 0.000012345 }}", "1.2345e-05"),
        ("{{ printf \"%g\" 100000.0 }}", "100000"),
        ("{{ printf \"%.3g\" 1234.0 }}", "1.23e+03"),
        ("{{ printf \"%e\" 1234.5678 }}", "1.234568e+03"),
        ("{{ printf \"%q\" \"a\" }}", "\"a\""),
        ("{{ printf \"%x\" 255 }}", "ff"),
        ("{{ printf \"%t\" true }}", "true"),
        ("{{ printf \"100%%\" }}", "100%"),
        ("{{ printf \"%d\" 1.5 }}", "%!d(float64=1.5)"),
        ("{{ printf \"%s\" 1 }}", "%!s(int=1)"),
        ("{{ printf \"%s %s\" \"a\" }}", "a %!s(MISSING)"),
        ("{{ printf \"%s\" \"a\" \"b\" }}", "a%!(EXTRA string=b)"),
        ("{{ printf \"%+.1f\" 3.0 }}", "+3.0"),
        ("{{ printf \"%.2s\" \"abc\" }}", "ab"),
    ];
    for (src, want) in cases {
        assert_eq!(render(src), want, "{src:?}");
    }
}

#[test]
fn go_float_printing() {
    let cases = [
        (0.0, "0"),
        (1.0, "1"),
        (0.5, "0.5"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (123456789.0, "1.23456789e+08"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (f64::INFINITY, "+Inf"),
    ];
    for (v, want) in cases {
        assert_eq!(gofmt::float_v(v), want, "{v}");
    }
}

#[test]
fn parse_errors_name_the_position() {
    let cases = [
        ("{{", 1, 1, "unclosed action"),
        ("ok {{ end }}", 1, 4, "unexpected {{end}}"),
        ("{{ if true }}x", 1, 1, "unexpected EOF in if"),
        ("line1\n  {{ $nope }}", 2, 6, "undefined variable \"$nope\""),
        ("{{ query \"up\" }}", 1, 4, "function \"query\" not defined"),
        ("{{ \"abc }}", 1, 4, "unterminated quoted string"),
        ("{{ ( 1 }}", 1, 4, "unclosed left paren"),
        ("{{ 1 | }}", 1, 6, "missing value for command"),
        ("{{/* x }}", 1, 1, "unclosed comment"),
        ("{{ # }}", 1, 4, "unrecognized character in action"),
        ("{{ define \"x\" }}{{ end }}", 1, 1, "is not supported"),
        ("{{ else }}", 1, 1, "unexpected {{else}}"),
    ];
    for (src, line, col, message) in cases {
        let err = Template::parse(src).expect_err(src);
        assert_eq!((err.line, err.col), (line, col), "{src:?}: {err}");
        assert!(err.message.contains(message), "{src:?}: {err}");
    }
}

#[test]
fn render_errors() {
    let cases = [
        (
            "{{ humanize \"one\" }}",
            "strconv.ParseFloat: parsing \"one\": invalid syntax",
        ),
        (
            "{{ $labels.job.x }}",
            "can't evaluate field x in type string",
        ),
        (
            "{{ humanize 1 2 }}",
            "wrong number of args for humanize: want 1 got 2",
        ),
        (
            "{{ if lt \"a\" 1 }}{{ end }}",
            "incompatible types for comparison",
        ),
        ("{{ 1 2 }}", "can't give argument to non-function"),
        ("{{ .Nope }}", "can't evaluate field Nope"),
        ("{{ match \"(\" \"x\" }}", "error parsing regexp"),
        ("{{ 1e300 | humanizeTimestamp }}", "overflows int64"),
    ];
    for (src, message) in cases {
        let err = render_with(src, 1.0).expect_err(src);
        assert!(err.message.contains(message), "{src:?}: {err}");
    }
    let labels = BTreeMap::new();
    let data = TemplateData {
        labels: &labels,
        external_labels: &labels,
        external_url: "",
        value: 0.0,
    };
    assert_eq!(
        expand("{{ humanize \"x\" }}", &data),
        "<error expanding template: template: 1:4: error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax>"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let src = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    let err = Template::parse(&src).unwrap_err();
    assert!(err.message.contains("nested too deeply"), "{err}");
    let ifs = "{{ if true }}".repeat(1000) + &"{{ end }}".repeat(1000);
    assert!(Template::parse(&ifs).is_err());
}

proptest! {
    #[test]
    fn go_float_printing_round_trips(v in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
        let text = gofmt::float_v(v);
        prop_assert_eq!(text.parse::<f64>().unwrap(), v, "{}", text);
        let four = gofmt::fmt_g(v, Some(4));
        let mantissa = four.split('e').next().unwrap();
        let significant = mantissa.trim_start_matches('-').replace('.', "");
        prop_assert!(significant.trim_start_matches('0').len() <= 4, "{}", four);
        let close = four.parse::<f64>().unwrap();
        prop_assert!(v == 0.0 || ((close - v) / v).abs() < 1e-3, "{} vs {}", four, v);
    }

    #[test]
    fn parse_and_render_never_panic(src in ".{0,200}") {
        if let Ok(t) = Template::parse(&src) {
            let labels = BTreeMap::new();
            let data = TemplateData { labels: &labels, external_labels: &labels, external_url: "", value: 1.0 };
            let _ = t.render(&data);
        }
    }

    #[test]
    fn template_like_input_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("{{"), Just("}}"), Just("{{- "), Just(" -}}"), Just("$labels"), Just(".Labels"),
                Just("|"), Just("("), Just(")"), Just("if"), Just("else"), Just("end"), Just("range"),
                Just("with"), Just("humanize"), Just("printf"), Just("\"%d %s %5.2f\""), Just("1.5"),
                Just("-3"), Just(":="), Just("$x"), Just(" "), Just("/*"), Just("*/"), Just("."),
                Just("`"), Just("\""), Just("eq"), Just("'a'"), Just("\n"),
            ],
            0..40,
        )
    ) {
        let src: String = parts.concat();
        if let Ok(t) = Template::parse(&src) {
            let labels: BTreeMap<String, String> = [("a".to_string(), "b".to_string())].into();
            let data = TemplateData { labels: &labels, external_labels: &labels, external_url: "u", value: 2.0 };
            let _ = t.render(&data);
        }
    }
}
