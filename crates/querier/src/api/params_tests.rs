use proptest::prelude::*;

use super::*;

#[test]
fn time_table() {
    // (input, Ok(ms) or Err(message))
    let cases: &[(&str, Result<i64, &str>)] = &[
        ("4", Ok(4000)),
        ("1435781451.781", Ok(1_435_781_451_781)),
        ("1435781451.7815", Ok(1_435_781_451_782)),
        ("-1.5", Ok(-1500)),
        ("0", Ok(0)),
        ("1e3", Ok(1_000_000)),
        ("2015-07-01T20:10:51.781Z", Ok(1_435_781_451_781)),
        ("2015-07-01T20:10:51Z", Ok(1_435_781_451_000)),
        ("2015-07-01T22:10:51.5+02:00", Ok(1_435_781_451_500)),
        ("1970-01-01T00:00:00.123456789Z", Ok(123)),
        ("1969-12-31T23:59:59Z", Ok(-1000)),
        ("2024-02-29T00:00:00Z", Ok(1_709_164_800_000)),
        ("-292273086-05-16T16:47:06Z", Ok(MIN_TIME_MS)),
        ("292277025-08-18T07:12:54.999999999Z", Ok(MAX_TIME_MS)),
        ("1e300", Ok(MAX_TIME_MS)),
        ("-Inf", Ok(MIN_TIME_MS)),
        ("", Err("cannot parse \"\" to a valid timestamp")),
        ("abc", Err("cannot parse \"abc\" to a valid timestamp")),
        ("NaN", Err("cannot parse \"NaN\" to a valid timestamp")),
        (
            "2023-02-29T00:00:00Z",
            Err("cannot parse \"2023-02-29T00:00:00Z\" to a valid timestamp"),
        ),
        (
            "2015-07-01 20:10:51Z",
            Err("cannot parse \"2015-07-01 20:10:51Z\" to a valid timestamp"),
        ),
        (
            "2015-07-01T20:10:51",
            Err("cannot parse \"2015-07-01T20:10:51\" to a valid timestamp"),
        ),
        (
            "2015-07-01T20:10:51.Z",
            Err("cannot parse \"2015-07-01T20:10:51.Z\" to a valid timestamp"),
        ),
        (" 4", Err("cannot parse \" 4\" to a valid timestamp")),
    ];
    for (input, want) in cases {
        assert_eq!(parse_time(input), want.map_err(str::to_string), "{input:?}");
    }
}

#[test]
fn min_and_max_time_are_prometheus_values() {
    assert_eq!(MIN_TIME_MS, -9_223_309_901_257_974_000);
    assert_eq!(MAX_TIME_MS, 9_223_309_901_257_974_999);
}

#[test]
fn duration_table() {
    // (input, Ok(nanoseconds) or Err(message))
    let cases: &[(&str, Result<i64, &str>)] = &[
        ("15", Ok(15_000_000_000)),
        ("0.5", Ok(500_000_000)),
        ("15s", Ok(15_000_000_000)),
        ("1m30s", Ok(90_000_000_000)),
        ("1h", Ok(3_600_000_000_000)),
        ("2d", Ok(172_800_000_000_000)),
        ("1w", Ok(604_800_000_000_000)),
        ("1y", Ok(31_536_000_000_000_000)),
        ("100ms", Ok(100_000_000)),
        ("1m1ms", Ok(60_001_000_000)),
        ("0", Ok(0)),
        ("-5", Ok(-5_000_000_000)),
        ("", Err("cannot parse \"\" to a valid duration")),
        ("1s1m", Err("cannot parse \"1s1m\" to a valid duration")),
        ("1h1h", Err("cannot parse \"1h1h\" to a valid duration")),
        ("1.5h", Err("cannot parse \"1.5h\" to a valid duration")),
        ("5x", Err("cannot parse \"5x\" to a valid duration")),
        ("s", Err("cannot parse \"s\" to a valid duration")),
        ("-1s", Err("cannot parse \"-1s\" to a valid duration")),
        (
            "1e19",
            Err("cannot parse \"1e19\" to a valid duration. It overflows int64"),
        ),
        (
            "300000y",
            Err("cannot parse \"300000y\" to a valid duration"),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            parse_duration(input),
            want.map_err(str::to_string),
            "{input:?}"
        );
    }
}

#[test]
fn params_merge_body_before_query() {
    let p = Params::parse(
        Some("query=up&match[]=a&time=1"),
        Some(b"query=down&match[]=b"),
    );
    assert_eq!(p.get("query"), "down");
    assert_eq!(p.get("time"), "1");
    assert_eq!(p.get("missing"), "");
    assert_eq!(p.all("match[]"), vec!["b", "a"]);
    let encoded = Params::parse(Some("query=sum%28rate%28x%5B5m%5D%29%29+%2B+1"), None);
    assert_eq!(encoded.get("query"), "sum(rate(x[5m])) + 1");
}

#[test]
fn param_errors_name_the_parameter() {
    let p = Params::parse(Some("time=abc&limit=x&start=&timeout=zz"), None);
    assert_eq!(
        p.time_or("time", 0).unwrap_err().message,
        "invalid parameter \"time\": invalid time value for 'time': cannot parse \"abc\" to a valid timestamp"
    );
    assert_eq!(p.time_or("start", 7).unwrap(), 7);
    assert_eq!(
        p.time("start").unwrap_err().message,
        "invalid parameter \"start\": cannot parse \"\" to a valid timestamp"
    );
    assert_eq!(
        p.limit().unwrap_err().message,
        "invalid parameter \"limit\": strconv.Atoi: parsing \"x\": invalid syntax"
    );
    let negative = Params::parse(Some("limit=-1"), None);
    assert_eq!(
        negative.limit().unwrap_err().message,
        "invalid parameter \"limit\": limit must be non-negative"
    );
    assert_eq!(Params::default().limit().unwrap(), 0);
    assert_eq!(
        p.duration("timeout").unwrap_err(),
        "cannot parse \"zz\" to a valid duration"
    );
}

#[test]
fn selectors_to_matcher_sets() {
    // (selector, expected sets as "name op value" strings)
    let cases: &[(&str, &[&[&str]])] = &[
        ("up", &[&["__name__=\"up\""]]),
        (
            "up{job=\"a\",i!~\"b.*\"}",
            &[&["__name__=\"up\"", "job=\"a\"", "i!~\"b.*\""]],
        ),
        ("{__name__!=\"\"}", &[&["__name__!=\"\""]]),
        ("{a=\"1\" or b=~\"2\"}", &[&["a=\"1\""], &["b=~\"2\""]]),
    ];
    for (selector, want) in cases {
        let got: Vec<Vec<String>> = parse_metric_selector(selector)
            .unwrap()
            .iter()
            .map(|set| set.iter().map(ToString::to_string).collect())
            .collect();
        let want: Vec<Vec<String>> = want
            .iter()
            .map(|set| set.iter().map(|s| s.to_string()).collect())
            .collect();
        assert_eq!(got, want, "{selector}");
    }
    for bad in ["", "up[5m]", "sum(up)", "1", "{", "{a=~\"(\"}"] {
        assert!(parse_metric_selector(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn matcher_sets_need_a_non_empty_matcher() {
    let ok = Params::parse(Some("match[]=up&match[]=%7Bjob%3D%22a%22%7D"), None);
    assert_eq!(ok.matcher_sets().unwrap().len(), 2);
    let none = Params::default();
    assert!(none.matcher_sets().unwrap().is_empty());
    let empty = Params::parse(Some("match[]=%7Ba%3D~%22.*%22%2Cjob%3D%22a%22%7D&match[]=%7Bb%3D%22%22%2Cc%3D~%22x%3F%22%7D"), None);
    let err = empty.matcher_sets().unwrap_err();
    assert_eq!(err.error_type, "bad_data");
    // the first set is fine; the second matches the empty string everywhere
    assert!(
        err.message == "match[] must contain at least one non-empty matcher"
            || err.message.contains("non-empty matcher"),
        "{}",
        err.message
    );
}

#[test]
fn unescape_table() {
    let cases = [
        ("job", "job"),
        ("U__service_2e_name", "service.name"),
        ("U__a__b", "a_b"),
        ("U___2e_", "."),
        ("U__caf_e9_", "café"),
        ("U__x_1F600_", "x\u{1F600}"),
        // invalid escapes come back unchanged
        ("U__a_", "U__a_"),
        ("U__a_zz_", "U__a_zz_"),
        ("U__a_1234567_", "U__a_1234567_"),
        ("U__a_d800_", "U__a_d800_"),
        ("U__a_2e", "U__a_2e"),
        ("U__a_+2e_", "U__a_+2e_"),
    ];
    for (input, want) in cases {
        assert_eq!(unescape_label_name(input), want, "{input}");
    }
}

proptest! {
    #[test]
    fn unix_seconds_round_trip(ms in -10_000_000_000_000i64..10_000_000_000_000i64) {
        let text = format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000));
        // "-2.500" means -2 + 0.5 in this construction, so compare against the float reading
        let seconds: f64 = text.parse().unwrap();
        let want = (seconds * 1000.0).round() as i64;
        prop_assert_eq!(parse_time(&text).unwrap(), want);
    }

    #[test]
    fn rfc3339_matches_unix_seconds(secs in -62_135_596_800i64..253_402_300_799i64, millis in 0i64..1000) {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let text = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        );
        prop_assert_eq!(parse_time(&text).unwrap(), secs * 1000 + millis);
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}") {
        let _ = parse_time(&s);
        let _ = parse_duration(&s);
        let _ = unescape_label_name(&s);
        let _ = unescape_label_name(&format!("U__{s}"));
        let _ = parse_metric_selector(&s);
    }
}

/// The inverse of `days_from_civil`, for the property test.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
