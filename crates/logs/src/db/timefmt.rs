//! Timestamps in the two formats Loki's rejection messages use (always UTC).

/// Go's `time.RFC3339`: `2006-01-02T15:04:05Z` (whole seconds).
pub(super) fn rfc3339(ts_ns: i64) -> String {
    let (date, time, _) = civil(ts_ns);
    format!("{date}T{time}Z")
}

/// Go's `Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`, trailing zeros of
/// the fraction dropped.
pub(super) fn go_time(ts_ns: i64) -> String {
    let (date, time, nanos) = civil(ts_ns);
    let fraction = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_owned()
    };
    format!("{date} {time}{fraction} +0000 UTC")
}

/// (`YYYY-MM-DD`, `hh:mm:ss`, nanoseconds) of a Unix time in ns.
fn civil(ts_ns: i64) -> (String, String, i64) {
    const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;
    let days = ts_ns.div_euclid(NS_PER_DAY);
    let in_day = ts_ns.rem_euclid(NS_PER_DAY);
    let secs = in_day / 1_000_000_000;
    let (y, m, d) = civil_from_days(days);
    let date = format!("{y:04}-{m:02}-{d:02}");
    let time = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    (date, time, in_day % 1_000_000_000)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "1970-01-01T00:00:00Z", "1970-01-01 00:00:00 +0000 UTC"),
            (
                1_700_000_000_123_000_000,
                "2023-11-14T22:13:20Z",
                "2023-11-14 22:13:20.123 +0000 UTC",
            ),
            (
                951_782_400_000_000_001,
                "2000-02-29T00:00:00Z",
                "2000-02-29 00:00:00.000000001 +0000 UTC",
            ),
            (
                -1_000_000_000,
                "1969-12-31T23:59:59Z",
                "1969-12-31 23:59:59 +0000 UTC",
            ),
        ];
        for (ts, rfc, go) in cases {
            assert_eq!(rfc3339(ts), rfc, "{ts}");
            assert_eq!(go_time(ts), go, "{ts}");
        }
        // the extremes do not overflow
        let _ = go_time(i64::MIN);
        let _ = go_time(i64::MAX);
    }
}
