//! Template tables, after Loki's fmt_test.go.

use super::*;

struct Map(Vec<(String, String)>);

impl LabelSource for Map {
    fn label(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self) -> Vec<(String, String)> {
        self.0.clone()
    }
}

fn labels() -> Map {
    Map(vec![
        ("foo".into(), "blip".into()),
        ("bar".into(), "blop".into()),
        ("status".into(), "200".into()),
        ("num".into(), "3".into()),
        ("ts".into(), "1672531200".into()),
        ("date".into(), "2022-08-25".into()),
        ("json".into(), r#"{"a":{"b":"c"},"n":1.5,"l":[1,2]}"#.into()),
        ("path".into(), "/api/v1?x=1&y=2".into()),
        ("empty".into(), "".into()),
        ("multi".into(), "a\nb".into()),
    ])
}

fn render(text: &str) -> Result<String, String> {
    let template = Template::parse("line", text)?;
    let map = labels();
    let ctx = Context {
        labels: &map,
        line: "the line",
        ts_ns: 1_672_531_200_123_000_000,
    };
    let mut out = String::new();
    template.execute(&ctx, &mut out)?;
    Ok(out)
}

#[test]
fn renders_like_loki() {
    let cases: &[(&str, &str)] = &[
        ("{{.foo}} and {{.bar}}", "blip and blop"),
        ("{{ .foo }}", "blip"),
        ("{{ .missing }}x", "x"),
        ("{{ .foo | ToUpper }}", "BLIP"),
        ("{{ .foo | upper | lower }}", "blip"),
        ("{{ ToUpper .foo }}", "BLIP"),
        ("{{ Replace .foo \"i\" \"o\" -1 }}", "blop"),
        ("{{ .foo | replace \"i\" \"o\" }}", "blop"),
        ("{{ .foo | trimPrefix \"bl\" }}", "ip"),
        ("{{ .foo | trimSuffix \"ip\" }}", "bl"),
        ("{{ TrimPrefix .foo \"bl\" }}", "ip"),
        ("{{ trimAll \"bp\" .foo }}", "li"),
        ("{{ \"  x  \" | trim }}", "x"),
        ("{{ title \"hello world\" }}", "Hello World"),
        ("{{ if eq .status \"200\" }}ok{{ else }}ko{{ end }}", "ok"),
        ("{{ if ne .status \"200\" }}ok{{ else }}ko{{ end }}", "ko"),
        ("{{ if .missing }}a{{ else if .foo }}b{{ else }}c{{ end }}", "b"),
        ("{{ if and .foo .bar }}y{{ end }}", "y"),
        ("{{ if or .missing .empty }}y{{ else }}n{{ end }}", "n"),
        ("{{ if not .missing }}y{{ end }}", "y"),
        ("{{ or .missing \"fallback\" }}", "fallback"),
        ("{{ if gt (int .num) 2 }}big{{ end }}", "big"),
        ("{{ if lt .foo \"c\" }}before{{ end }}", "before"),
        ("{{ printf \"%s-%s\" .foo .bar }}", "blip-blop"),
        ("{{ printf \"%05.1f\" (float64 .num) }}", "003.0"),
        ("{{ add 1 2 3 }} {{ sub 5 7 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 2 }}", "6 -2 6 3 1"),
        ("{{ add .num 1 }}", "4"),
        ("{{ addf 1.5 2 }} {{ subf 5 1.5 }} {{ mulf 1.5 2 }} {{ divf 1 4 }}", "3.5 3.5 3 0.25"),
        ("{{ max 1 5 3 }} {{ min 4 2 }} {{ maxf 1.5 2.5 }} {{ minf 1.5 2.5 }}", "5 2 2.5 1.5"),
        ("{{ ceil 1.2 }} {{ floor 1.8 }} {{ round 3.14159 2 }} {{ abs -2 }}", "2 1 3.14 2"),
        ("{{ default \"x\" .missing }} {{ .foo | default \"x\" }}", "x blip"),
        ("{{ substr 1 3 .foo }}", "li"),
        ("{{ trunc 2 .foo }}", "bl"),
        ("{{ repeat 3 \"ab\" }}", "ababab"),
        ("{{ contains \"li\" .foo }} {{ hasPrefix \"bl\" .foo }} {{ hasSuffix \"x\" .foo }}", "true true false"),
        ("{{ indent 2 .multi }}", "  a\n  b"),
        ("{{ nindent 2 .foo }}", "\n  blip"),
        ("{{ alignLeft 6 .foo }}|{{ alignRight 6 .foo }}|{{ alignLeft 2 .foo }}", "blip  |  blip|bl"),
        ("{{ regexReplaceAll \"(l)(i)\" .foo \"${2}$1\" }}", "bilp"),
        ("{{ regexReplaceAllLiteral \"l\" .foo \"$1\" }}", "b$1ip"),
        ("{{ count \"[lp]\" .foo }}", "2"),
        ("{{ .path | urlencode }}", "%2Fapi%2Fv1%3Fx%3D1%26y%3D2"),
        ("{{ \"a%20b+c\" | urldecode }}", "a b c"),
        ("{{ .foo | b64enc }} {{ \"YmxpcA==\" | b64dec }}", "YmxpcA== blip"),
        ("{{ len .foo }}", "4"),
        ("{{ (fromJson .json).a.b }}", "c"),
        ("{{ (fromJson .json).n }}", "1.5"),
        ("{{ index (fromJson .json) \"a\" \"b\" }}", "c"),
        ("{{ range $i, $v := (fromJson .json).l }}{{ $i }}={{ $v }};{{ end }}", "0=1;1=2;"),
        ("{{ range (fromJson .json).missing }}x{{ else }}none{{ end }}", "none"),
        ("{{ with .foo }}[{{ . }}]{{ end }}{{ with .missing }}x{{ else }}-{{ end }}", "[blip]-"),
        ("{{ $x := .foo }}{{ $x = \"z\" }}{{ $x }}", "z"),
        ("{{ __line__ }}", "the line"),
        ("{{ __line__ | ToUpper }}", "THE LINE"),
        ("{{ __timestamp__ | date \"2006-01-02T15:04:05.000Z07:00\" }}", "2023-01-01T00:00:00.123Z"),
        ("{{ __timestamp__ | unixEpoch }}", "1672531200"),
        ("{{ __timestamp__ | unixEpochMillis }}", "1672531200123"),
        ("{{ __timestamp__ | unixEpochNanos }}", "1672531200123000000"),
        ("{{ .ts | unixToTime | date \"2006-01-02\" }}", "2023-01-01"),
        ("{{ toDate \"2006-01-02\" .date | unixEpoch }}", "1661385600"),
        ("{{ toDateInZone \"2006-01-02\" \"UTC\" .date | unixEpoch }}", "1661385600"),
        ("{{ date \"2006\" (toDate \"2006-01-02\" .date) }}", "2022"),
        ("{{ \"10KB\" | bytes }} {{ \"1m30s\" | duration }}", "10000 90"),
        ("{{- .foo -}}  \n {{- .bar }}", "blipblop"),
        ("a {{/* comment */}}b", "a b"),
        ("{{ print 1 2 \"x\" }}", "1 2x"),
        ("{{ html \"<a href='x'>\" }}", "&lt;a href=&#39;x&#39;&gt;"),
        ("{{ \"\\u00e9\\t\" }}", "é\t"),
        ("{{ 'a' }}", "97"),
        ("{{ . }}", "map[bar:blop date:2022-08-25 empty: foo:blip json:{\"a\":{\"b\":\"c\"},\"n\":1.5,\"l\":[1,2]} multi:a\nb num:3 path:/api/v1?x=1&y=2 status:200 ts:1672531200]"),
    ];
    for (text, want) in cases {
        assert_eq!(render(text).as_deref(), Ok(*want), "{text}");
    }
}

#[test]
fn execution_errors() {
    let cases: &[(&str, &str)] = &[
        ("{{ .foo.bar }}", "can't evaluate field bar in type string"),
        ("{{ div 1 0 }}", "integer divide by zero"),
        ("{{ eq 1 \"1\" }}", "incompatible types for comparison"),
        ("{{ urldecode \"%zz\" }}", "invalid URL escape"),
        ("{{ .foo 1 }}", "foo is not a method but has arguments"),
        ("{{ \"x\" 1 }}", "can't give argument to non-function \"x\""),
        ("{{ unixToTime \"123\" }}", "unknown timestamp length 3"),
        ("{{ unixEpoch .foo }}", "expected time.Time"),
        ("{{ $y }}", "undefined variable"),
        (
            "{{ range .foo }}x{{ end }}",
            "range can't iterate over blip",
        ),
        ("{{ regexReplaceAll .foo .bar \"x\" }}", ""),
    ];
    for (text, want) in cases {
        match render(text) {
            Err(e) => {
                assert!(e.starts_with("template: line:1:"), "{text}: {e}");
                assert!(e.contains(want), "{text}: {e}");
            }
            Ok(out) => assert!(want.is_empty(), "{text} rendered {out:?}"),
        }
    }
}

#[test]
fn parse_errors_name_the_template() {
    let err = Template::parse("label", "{{ nope }}").unwrap_err();
    assert_eq!(err, "template: label:1: function \"nope\" not defined");
}

/// Cases from Loki's fmt_test.go (Test_lineFormatter_Format, Test_labelsFormatter_Format):
/// (template, labels, timestamp, line, rendered text or error details).
#[test]
fn loki_formatter_cases() {
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        i64,
        &'a str,
        Result<&'a str, &'a str>,
    );
    let blip: &[(&str, &str)] = &[("foo", "blip"), ("bar", "blop")];
    let upper: &[(&str, &str)] = &[("foo", "BLIp"), ("bar", "blop")];
    let date = "2023-03-10T01:32:40.340485723Z";
    let cases: &[Case<'_>] = &[
        (r#"{{.foo | count "abc" }}"#, &[("foo", "abc abc abc")], 0, "", Ok("3")),
        (r#"{{.foo | count "a|b|c" }}"#, &[("foo", "abc abc abc")], 0, "", Ok("9")),
        ("foo{{.foo}}buzz{{  .bar  }}", blip, 0, "", Ok("fooblipbuzzblop")),
        (r#"foo{{.foo}}buzz{{ Replace .bar "blop" "bar" -1 }}"#, blip, 0, "", Ok("fooblipbuzzbar")),
        (r#"foo{{.foo}}buzz{{ .bar | replace "blop" "bar" }}"#, blip, 0, "", Ok("fooblipbuzzbar")),
        ("{{.foo | title }}", blip, 0, "", Ok("Blip")),
        ("{{.foo | substr 1 3 }} {{ .bar  | trunc 1 }} {{ .bar  | trunc 3 }}", blip, 0, "", Ok("li b blo")),
        (
            r#"{{.foo | trim }} {{ .bar  | trimAll "op" }} {{ .bar  | trimPrefix "b" }} {{ .bar  | trimSuffix "p" }}"#,
            &[("foo", "  blip "), ("bar", "blop")],
            0,
            "",
            Ok("blip bl lop blo"),
        ),
        ("{{.foo | lower }} {{ .bar  | upper }}", upper, 0, "", Ok("blip BLOP")),
        (
            "{{.foo | urlencode }} {{ urlencode .foo }}",
            &[("foo", r#"/loki/api/v1/query?query=sum(count_over_time({stream_filter="some_stream",environment="prod", host=~"someec2.*"}"#)],
            0,
            "",
            Ok("%2Floki%2Fapi%2Fv1%2Fquery%3Fquery%3Dsum%28count_over_time%28%7Bstream_filter%3D%22some_stream%22%2Cenvironment%3D%22prod%22%2C+host%3D~%22someec2.%2A%22%7D %2Floki%2Fapi%2Fv1%2Fquery%3Fquery%3Dsum%28count_over_time%28%7Bstream_filter%3D%22some_stream%22%2Cenvironment%3D%22prod%22%2C+host%3D~%22someec2.%2A%22%7D"),
        ),
        (r#"{{ "foo" | repeat 3 }}"#, upper, 0, "", Ok("foofoofoo")),
        ("{{ \"foo\\n bar\" | indent 4 }}", upper, 0, "", Ok("    foo\n     bar")),
        (r#"{{ "foo" | nindent 2 }}"#, upper, 0, "", Ok("\n  foo")),
        (r#"{{ if  .foo | contains "p"}}yes{{end}}-{{ if  .foo | contains "z"}}no{{end}}"#, upper, 0, "", Ok("yes-")),
        (r#"{{ if  .foo | hasPrefix "BL" }}yes{{end}}-{{ if  .foo | hasPrefix "p"}}no{{end}}"#, upper, 0, "", Ok("yes-")),
        (r#"{{ if  .foo | hasSuffix "Ip" }}yes{{end}}-{{ if  .foo | hasSuffix "pw"}}no{{end}}"#, upper, 0, "", Ok("yes-")),
        (r#"{{ regexReplaceAll "(p)" .foo "t" }}"#, upper, 0, "", Ok("BLIt")),
        (r#"{{ regexReplaceAllLiteral "(p)" .foo "${1}" }}"#, upper, 0, "", Ok("BLI${1}")),
        (
            r#"{{.foo Replace "foo"}}"#,
            blip,
            0,
            "",
            Err(r#"template: line:1:2: executing "line" at <.foo>: foo is not a method but has arguments"#),
        ),
        ("foo {{.foo}}buzz{{  .bar  }}", &[("bar", "blop")], 0, "", Ok("foo buzzblop")),
        ("foo {{.foo | ToUpper }} buzz{{  .bar  }}", blip, 0, "", Ok("foo BLIP buzzblop")),
        (
            "{{ add .foo 1 | sub .bar | mul .baz | div .bazz}}",
            &[("foo", "1"), ("bar", "3"), ("baz", "10"), ("bazz", "20")],
            0,
            "",
            Ok("2"),
        ),
        (
            "{{ addf .foo 1.5 | subf .bar 1.5 | mulf .baz | divf .bazz }}",
            &[("foo", "1.5"), ("bar", "5"), ("baz", "10.5"), ("bazz", "20.2")],
            0,
            "",
            Ok("3.8476190476190477"),
        ),
        (
            "{{ round (addf .foo 1.5 | subf .bar | mulf .baz | divf .bazz) 5 .2}}",
            &[("foo", "1.5"), ("bar", "3.5"), ("baz", "10.5"), ("bazz", "20.4")],
            0,
            "",
            Ok("3.88572"),
        ),
        (
            "min is {{ min .foo .bar .baz }} and max is {{ max .foo .bar .baz }}",
            &[("foo", "5"), ("bar", "10"), ("baz", "15")],
            0,
            "",
            Ok("min is 5 and max is 15"),
        ),
        (
            "minf is {{ minf .foo .bar .baz }} and maxf is {{maxf .foo .bar .baz}}",
            &[("foo", "5.3"), ("bar", "10.5"), ("baz", "15.2")],
            0,
            "",
            Ok("minf is 5.3 and maxf is 15.2"),
        ),
        ("ceil is {{ ceil .foo }} and floor is {{floor .foo }}", &[("foo", "5.3")], 0, "", Ok("ceil is 6 and floor is 5")),
        ("mod is {{ mod .foo 3 }}", &[("foo", "20")], 0, "", Ok("mod is 2")),
        (r#"{{ "2.5" | float64 | int | add 10}}"#, &[], 0, "", Ok("12")),
        (
            r#"{{ sub (unixEpoch (toDate "2006-01-02" "2021-11-02")) (unixEpoch (toDate "2006-01-02" "2021-11-01")) }}"#,
            &[],
            0,
            "",
            Ok("86400"),
        ),
        (r#"{{ date "2006-01-02" (toDate "2006-01-02" "2021-11-02") }}"#, &[], 0, "", Ok("2021-11-02")),
        ("{{ div (unixEpoch now) (unixEpoch now) }}", &[], 0, "", Ok("1")),
        ("{{ __line__ }} bar {{ .bar }}", &[("bar", "2")], 0, "1", Ok("1 bar 2")),
        (
            r#"{{.foo | default "-" }}{{.bar | default "-"}}{{.unknown | default "-"}}"#,
            &[("foo", "blip"), ("bar", "")],
            0,
            "",
            Ok("blip--"),
        ),
        (r#"{{ __timestamp__ | date "2006-01-02" }} bar {{ .bar }}"#, &[("bar", "2")], 1_656_353_124_120_000_000, "1", Ok("2022-06-27 bar 2")),
        ("{{ __timestamp__ | unixEpoch }} bar {{ .bar }}", &[("bar", "2")], 1_656_353_124_120_000_000, "1", Ok("1656353124 bar 2")),
        (
            "{{.foo | now}}",
            blip,
            0,
            "",
            Err(r#"template: line:1:9: executing "line" at <now>: wrong number of args for now: want 0 got 1"#),
        ),
        ("{{ .foo | bytes }}", &[("foo", "3 kB")], 0, "", Ok("3000")),
        ("{{ .foo | bytes }}", &[("foo", "3MB")], 0, "", Ok("3e+06")),
        ("{{ .foo | duration }}", &[("foo", "3ms")], 0, "", Ok("0.003")),
        ("{{ .foo | duration_seconds }}", &[("foo", "3m10s")], 0, "", Ok("190")),
        (
            r#"{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochMillis }}"#,
            &[("foo", date)],
            0,
            "",
            Ok("1678411960340"),
        ),
        (
            r#"{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochNanos }}"#,
            &[("foo", date)],
            0,
            "",
            Ok("1678411960340485723"),
        ),
        ("{{ .foo | b64enc }}", &[("foo", "i'm a string, encode me!")], 0, "", Ok("aSdtIGEgc3RyaW5nLCBlbmNvZGUgbWUh")),
        ("{{ .foo | b64dec }}", &[("foo", "aSdtIGEgc3RyaW5nLCBlbmNvZGUgbWUh")], 0, "", Ok("i'm a string, encode me!")),
        ("{{ alignLeft 4 .foo }}", &[("foo", "hello")], 0, "", Ok("hell")),
        ("{{ alignRight 4 .foo }}", &[("foo", "hello")], 0, "", Ok("ello")),
        ("{{.foo}}  ", &[("foo", "bar")], 0, "", Ok("bar  ")),
        ("{{.missing}}", &[("foo", "bar")], 0, "", Ok("")),
        // Test_labelsFormatter_Format
        ("{{div .status 100 }}", &[("status", "200")], 0, "", Ok("2")),
        (
            r#"{{replace "test" .foo}}"#,
            blip,
            0,
            "",
            Err(r#"template: line:1:2: executing "line" at <replace>: wrong number of args for replace: want 3 got 2"#),
        ),
        (r#"{{ __line__ | count "test" }}"#, &[], 0, "test line", Ok("1")),
        (r#"{{ __line__ | count "notmatching.*" }}"#, &[], 0, "test line", Ok("0")),
        ("{{ __timestamp__ | date \"2006-01-02\" }}", &[], 1_661_518_453_244_672_570, "", Ok("2022-08-26")),
        ("{{ .bar | unixToTime }}", &[("bar", "19503")], 0, "", Ok("2023-05-26 00:00:00 +0000 UTC")),
        ("{{ .bar | unixToTime }}", &[("bar", "1679577215")], 0, "", Ok("2023-03-23 13:13:35 +0000 UTC")),
        ("{{ .bar | unixToTime }}", &[("bar", "1257894000000")], 0, "", Ok("2009-11-10 23:00:00 +0000 UTC")),
        ("{{ .bar | unixToTime }}", &[("bar", "1673798889902000")], 0, "", Ok("2023-01-15 16:08:09.902 +0000 UTC")),
        ("{{ .bar | unixToTime }}", &[("bar", "1000000000000000000")], 0, "", Ok("2001-09-09 01:46:40 +0000 UTC")),
    ];
    for (text, pairs, ts_ns, line, want) in cases {
        let map = Map(pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect());
        let ctx = Context {
            labels: &map,
            line,
            ts_ns: *ts_ns,
        };
        let template = Template::parse("line", text).unwrap();
        let mut out = String::new();
        let got = template.execute(&ctx, &mut out).map(|()| out);
        assert_eq!(
            got.as_deref(),
            want.map_err(|e| e.to_owned()).as_deref(),
            "{text}"
        );
    }
}
