//! Enough of Go's `time` for templates: a UTC-offset timestamp, `Format` and `Parse` with Go
//! reference layouts (`2006-01-02T15:04:05Z07:00`). Named zones other than UTC are not known
//! (there is no zone database here): `Local` is UTC.

/// An instant with the offset and zone name it is shown in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoTime {
    /// Seconds since the Unix epoch.
    pub(crate) secs: i64,
    pub(crate) nanos: u32,
    /// Seconds east of UTC.
    pub(crate) offset: i32,
    /// The zone abbreviation, `None` for a bare numeric offset.
    pub(crate) zone: Option<String>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Days since 1970-01-01 → (year, month 1-12, day 1-31) (Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The calendar fields of a time in its own offset.
struct Fields {
    year: i64,
    month: u32,
    day: u32,
    yday: u32,
    weekday: usize,
    hour: u32,
    minute: u32,
    second: u32,
}

/// One element of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk<'a> {
    Literal(&'a str),
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    YearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PmUpper,
    PmLower,
    Tz,
    /// Numeric offset: (`Z` for UTC, colons, with seconds, hours only).
    Offset {
        z: bool,
        colon: bool,
        seconds: bool,
        hours_only: bool,
    },
    /// `.000` (fixed) or `.999` (trailing zeros trimmed), with the separator.
    Frac {
        sep: char,
        digits: usize,
        trim: bool,
    },
}

const CHUNKS: &[(&str, Chunk<'static>)] = &[
    ("January", Chunk::LongMonth),
    ("Jan", Chunk::Month),
    ("Monday", Chunk::LongWeekDay),
    ("Mon", Chunk::WeekDay),
    ("MST", Chunk::Tz),
    ("2006", Chunk::LongYear),
    ("002", Chunk::ZeroYearDay),
    ("__2", Chunk::YearDay),
    ("_2", Chunk::UnderDay),
    ("01", Chunk::ZeroMonth),
    ("02", Chunk::ZeroDay),
    ("03", Chunk::ZeroHour12),
    ("04", Chunk::ZeroMinute),
    ("05", Chunk::ZeroSecond),
    ("06", Chunk::Year),
    ("15", Chunk::Hour),
    ("1", Chunk::NumMonth),
    ("2", Chunk::Day),
    ("3", Chunk::Hour12),
    ("4", Chunk::Minute),
    ("5", Chunk::Second),
    ("PM", Chunk::PmUpper),
    ("pm", Chunk::PmLower),
    ("Z07:00:00", offset(true, true, true, false)),
    ("Z070000", offset(true, false, true, false)),
    ("Z07:00", offset(true, true, false, false)),
    ("Z0700", offset(true, false, false, false)),
    ("Z07", offset(true, false, false, true)),
    ("-07:00:00", offset(false, true, true, false)),
    ("-070000", offset(false, false, true, false)),
    ("-07:00", offset(false, true, false, false)),
    ("-0700", offset(false, false, false, false)),
    ("-07", offset(false, false, false, true)),
];

const fn offset(z: bool, colon: bool, seconds: bool, hours_only: bool) -> Chunk<'static> {
    Chunk::Offset {
        z,
        colon,
        seconds,
        hours_only,
    }
}

/// Splits a layout into chunks, as Go's `nextStdChunk` does.
fn chunks(layout: &str) -> Vec<Chunk<'_>> {
    let mut out = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i < layout.len() {
        let rest = &layout[i..];
        let found = frac_chunk(rest).or_else(|| {
            CHUNKS
                .iter()
                .find(|(text, _)| rest.starts_with(text))
                .map(|(text, chunk)| (*chunk, text.len()))
        });
        // `2006` must not be read as `2` + `006`; `_2006` is `_` + `2006`.
        let found = found
            .filter(|(chunk, _)| !(matches!(chunk, Chunk::UnderDay) && rest.starts_with("_2006")));
        match found {
            Some((chunk, len)) => {
                if literal_start < i {
                    out.push(Chunk::Literal(&layout[literal_start..i]));
                }
                out.push(chunk);
                i += len;
                literal_start = i;
            }
            None => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    if literal_start < layout.len() {
        out.push(Chunk::Literal(&layout[literal_start..]));
    }
    out
}

fn frac_chunk(rest: &str) -> Option<(Chunk<'static>, usize)> {
    let mut chars = rest.chars();
    let sep = chars.next().filter(|c| *c == '.' || *c == ',')?;
    let digit = chars.next().filter(|c| *c == '0' || *c == '9')?;
    let run = 1 + rest[2..].chars().take_while(|c| *c == digit).count();
    let after = rest[1 + run..].chars().next();
    if after.is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((
        Chunk::Frac {
            sep,
            digits: run,
            trim: digit == '9',
        },
        1 + run,
    ))
}

impl GoTime {
    pub(crate) fn from_unix_nanos(ns: i64) -> GoTime {
        GoTime {
            secs: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000) as u32,
            offset: 0,
            zone: Some("UTC".into()),
        }
    }

    pub(crate) fn unix_nanos(&self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    fn fields(&self) -> Fields {
        let local = self.secs + i64::from(self.offset);
        let days = local.div_euclid(86_400);
        let secs_of_day = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let yday = (days - days_from_civil(year, 1, 1) + 1) as u32;
        Fields {
            year,
            month,
            day,
            yday,
            weekday: (days + 4).rem_euclid(7) as usize,
            hour: secs_of_day / 3600,
            minute: secs_of_day / 60 % 60,
            second: secs_of_day % 60,
        }
    }

    /// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`.
    pub(crate) fn to_go_string(&self) -> String {
        let mut s = self.format("2006-01-02 15:04:05.999999999 -0700");
        s.push(' ');
        match &self.zone {
            Some(zone) => s.push_str(zone),
            None => s.push_str(&self.format("-0700")),
        }
        s
    }

    /// Go's `Time.Format(layout)`.
    pub(crate) fn format(&self, layout: &str) -> String {
        let f = self.fields();
        let mut out = String::with_capacity(layout.len() + 8);
        for chunk in chunks(layout) {
            self.format_chunk(chunk, &f, &mut out);
        }
        out
    }

    fn format_chunk(&self, chunk: Chunk<'_>, f: &Fields, out: &mut String) {
        use std::fmt::Write;
        let hour12 = if f.hour.is_multiple_of(12) {
            12
        } else {
            f.hour % 12
        };
        let _ = match chunk {
            Chunk::Literal(s) => write!(out, "{s}"),
            Chunk::LongMonth => write!(out, "{}", MONTHS[f.month as usize - 1]),
            Chunk::Month => write!(out, "{}", &MONTHS[f.month as usize - 1][..3]),
            Chunk::NumMonth => write!(out, "{}", f.month),
            Chunk::ZeroMonth => write!(out, "{:02}", f.month),
            Chunk::LongWeekDay => write!(out, "{}", DAYS[f.weekday]),
            Chunk::WeekDay => write!(out, "{}", &DAYS[f.weekday][..3]),
            Chunk::Day => write!(out, "{}", f.day),
            Chunk::UnderDay => write!(out, "{:>2}", f.day),
            Chunk::ZeroDay => write!(out, "{:02}", f.day),
            Chunk::YearDay => write!(out, "{:>3}", f.yday),
            Chunk::ZeroYearDay => write!(out, "{:03}", f.yday),
            Chunk::Hour => write!(out, "{:02}", f.hour),
            Chunk::Hour12 => write!(out, "{hour12}"),
            Chunk::ZeroHour12 => write!(out, "{hour12:02}"),
            Chunk::Minute => write!(out, "{}", f.minute),
            Chunk::ZeroMinute => write!(out, "{:02}", f.minute),
            Chunk::Second => write!(out, "{}", f.second),
            Chunk::ZeroSecond => write!(out, "{:02}", f.second),
            Chunk::LongYear => write!(out, "{:04}", f.year),
            Chunk::Year => write!(out, "{:02}", f.year.rem_euclid(100)),
            Chunk::PmUpper => write!(out, "{}", if f.hour >= 12 { "PM" } else { "AM" }),
            Chunk::PmLower => write!(out, "{}", if f.hour >= 12 { "pm" } else { "am" }),
            Chunk::Tz => match &self.zone {
                Some(zone) => write!(out, "{zone}"),
                None => write!(out, "{}", self.format("-0700")),
            },
            Chunk::Offset {
                z,
                colon,
                seconds,
                hours_only,
            } => {
                if z && self.offset == 0 {
                    write!(out, "Z")
                } else {
                    let sign = if self.offset < 0 { '-' } else { '+' };
                    let abs = self.offset.unsigned_abs();
                    let sep = if colon { ":" } else { "" };
                    let _ = write!(out, "{sign}{:02}", abs / 3600);
                    if !hours_only {
                        let _ = write!(out, "{sep}{:02}", abs / 60 % 60);
                    }
                    if seconds {
                        let _ = write!(out, "{sep}{:02}", abs % 60);
                    }
                    Ok(())
                }
            }
            Chunk::Frac { sep, digits, trim } => {
                let all = format!("{:09}", self.nanos);
                let mut frac = &all[..digits.min(9)];
                if trim {
                    frac = frac.trim_end_matches('0');
                }
                if frac.is_empty() {
                    Ok(())
                } else {
                    write!(out, "{sep}{frac}")
                }
            }
        };
    }

    /// Go's `time.Parse(layout, value)` (zone names other than UTC read as UTC).
    pub(crate) fn parse(layout: &str, value: &str) -> Result<GoTime, String> {
        let err = |what: &str| format!("parsing time {value:?} as {layout:?}: cannot parse {what}");
        let mut p = ParseState::default();
        let mut rest = value;
        for chunk in chunks(layout) {
            rest = p
                .chunk(chunk, rest)
                .ok_or_else(|| err(&format!("{rest:?}")))?;
        }
        if !rest.is_empty() {
            return Err(format!("parsing time {value:?}: extra text: {rest:?}"));
        }
        p.finish()
            .ok_or_else(|| format!("parsing time {value:?}: day out of range"))
    }
}

#[derive(Default)]
struct ParseState {
    year: i64,
    month: u32,
    day: u32,
    yday: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    pm: Option<bool>,
    offset: Option<i32>,
    zone: Option<String>,
}

/// Up to `max` leading digits; at least `min`.
fn digits(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

fn name_prefix<'s>(s: &'s str, names: &[&str], short: bool) -> Option<(usize, &'s str)> {
    names.iter().enumerate().find_map(|(i, name)| {
        let name = if short { &name[..3] } else { name };
        let head = s.get(..name.len())?;
        head.eq_ignore_ascii_case(name)
            .then(|| (i, &s[name.len()..]))
    })
}

impl ParseState {
    fn chunk<'s>(&mut self, chunk: Chunk<'_>, s: &'s str) -> Option<&'s str> {
        Some(match chunk {
            Chunk::Literal(lit) => s.strip_prefix(lit)?,
            Chunk::LongMonth | Chunk::Month => {
                let (i, rest) = name_prefix(s, &MONTHS, chunk == Chunk::Month)?;
                self.month = i as u32 + 1;
                rest
            }
            Chunk::NumMonth | Chunk::ZeroMonth => {
                let min = if chunk == Chunk::ZeroMonth { 2 } else { 1 };
                let (v, rest) = digits(s, min, 2)?;
                self.month = v;
                rest
            }
            Chunk::LongWeekDay | Chunk::WeekDay => {
                name_prefix(s, &DAYS, chunk == Chunk::WeekDay)?.1
            }
            Chunk::Day | Chunk::UnderDay | Chunk::ZeroDay => {
                let s = if chunk == Chunk::UnderDay {
                    s.strip_prefix(' ').unwrap_or(s)
                } else {
                    s
                };
                let min = if chunk == Chunk::ZeroDay { 2 } else { 1 };
                let (v, rest) = digits(s, min, 2)?;
                self.day = v;
                rest
            }
            Chunk::YearDay | Chunk::ZeroYearDay => {
                let (v, rest) = digits(s.trim_start_matches(' '), 1, 3)?;
                self.yday = v;
                rest
            }
            Chunk::Hour => self.set(s, 2, 2, |p, v| p.hour = v)?,
            Chunk::Hour12 | Chunk::ZeroHour12 => self.set(s, 1, 2, |p, v| p.hour = v)?,
            Chunk::Minute | Chunk::ZeroMinute => self.set(s, 1, 2, |p, v| p.minute = v)?,
            Chunk::Second | Chunk::ZeroSecond => {
                let rest = self.set(s, 1, 2, |p, v| p.second = v)?;
                // Go accepts a fractional second after a seconds field.
                match rest.strip_prefix(['.', ',']) {
                    Some(frac) if frac.starts_with(|c: char| c.is_ascii_digit()) => {
                        self.fraction(frac)
                    }
                    _ => rest,
                }
            }
            Chunk::LongYear => {
                let (v, rest) = digits(s, 4, 4)?;
                self.year = i64::from(v);
                rest
            }
            Chunk::Year => {
                let (v, rest) = digits(s, 2, 2)?;
                self.year = i64::from(if v >= 69 { 1900 + v } else { 2000 + v });
                rest
            }
            Chunk::PmUpper | Chunk::PmLower => {
                let head = s.get(..2)?;
                self.pm = Some(head.eq_ignore_ascii_case("pm"));
                if !self.pm.unwrap_or(false) && !head.eq_ignore_ascii_case("am") {
                    return None;
                }
                &s[2..]
            }
            Chunk::Tz => {
                let n = s.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return None;
                }
                self.zone = Some(s[..n].to_owned());
                &s[n..]
            }
            Chunk::Offset {
                z,
                colon,
                seconds,
                hours_only,
            } => {
                if z && s.starts_with('Z') {
                    self.offset = Some(0);
                    return Some(&s[1..]);
                }
                self.parse_offset(s, colon, seconds, hours_only)?
            }
            Chunk::Frac { sep, .. } => match s.strip_prefix(sep) {
                Some(frac) => self.fraction(frac),
                None => s,
            },
        })
    }

    fn set<'s>(
        &mut self,
        s: &'s str,
        min: usize,
        max: usize,
        f: fn(&mut Self, u32),
    ) -> Option<&'s str> {
        let (v, rest) = digits(s, min, max)?;
        f(self, v);
        Some(rest)
    }

    fn fraction<'s>(&mut self, s: &'s str) -> &'s str {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut padded: String = s[..n.min(9)].to_owned();
        while padded.len() < 9 {
            padded.push('0');
        }
        self.nanos = padded.parse().unwrap_or(0);
        &s[n..]
    }

    fn parse_offset<'s>(
        &mut self,
        s: &'s str,
        colon: bool,
        seconds: bool,
        hours_only: bool,
    ) -> Option<&'s str> {
        let sign = match s.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (h, mut rest) = digits(&s[1..], 2, 2)?;
        let mut total = h * 3600;
        let parts = if hours_only {
            0
        } else if seconds {
            2
        } else {
            1
        };
        for i in 0..parts {
            if colon {
                rest = rest.strip_prefix(':')?;
            }
            let (v, r) = digits(rest, 2, 2)?;
            total += if i == 0 { v * 60 } else { v };
            rest = r;
        }
        self.offset = Some(sign * total as i32);
        Some(rest)
    }

    fn finish(self) -> Option<GoTime> {
        let mut hour = self.hour;
        match self.pm {
            Some(true) if hour < 12 => hour += 12,
            Some(false) if hour == 12 => hour = 0,
            _ => {}
        }
        let (mut month, mut day) = (self.month.max(1), self.day.max(1));
        if self.yday > 0 && self.month == 0 {
            let mut left = self.yday;
            month = 1;
            while month <= 12 && left > days_in_month(self.year, month) {
                left -= days_in_month(self.year, month);
                month += 1;
            }
            day = left;
        }
        if month > 12
            || day > days_in_month(self.year, month)
            || hour > 23
            || self.minute > 59
            || self.second > 59
        {
            return None;
        }
        let days = days_from_civil(self.year, month, day);
        let offset = self.offset.unwrap_or(0);
        let local = days * 86_400 + i64::from(hour * 3600 + self.minute * 60 + self.second);
        let zone = match (self.offset, self.zone) {
            (_, Some(zone)) => Some(zone),
            (None, None) | (Some(0), None) => Some("UTC".to_owned()),
            (Some(_), None) => None,
        };
        Some(GoTime {
            secs: local - i64::from(offset),
            nanos: self.nanos,
            offset,
            zone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> GoTime {
        GoTime {
            secs,
            nanos,
            offset: 0,
            zone: Some("UTC".into()),
        }
    }

    #[test]
    fn formats_like_go() {
        // 2009-11-10 23:00:00.123456 UTC, a Tuesday
        let t = at(1_257_894_000, 123_456_000);
        let cases = [
            ("2006-01-02T15:04:05Z07:00", "2009-11-10T23:00:00Z"),
            ("2006-01-02 15:04:05.000", "2009-11-10 23:00:00.123"),
            ("15:04:05.999999999", "23:00:00.123456"),
            ("Mon Jan _2 3:04PM", "Tue Nov 10 11:00PM"),
            ("Monday, January 2, 06", "Tuesday, November 10, 09"),
            ("02/01/2006 -0700", "10/11/2009 +0000"),
            ("002 MST", "314 UTC"),
            ("plain text", "plain text"),
        ];
        for (layout, want) in cases {
            assert_eq!(t.format(layout), want, "{layout}");
        }
        assert_eq!(t.to_go_string(), "2009-11-10 23:00:00.123456 +0000 UTC");
        assert_eq!(at(0, 0).to_go_string(), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            at(-1, 0).format("2006-01-02 15:04:05"),
            "1969-12-31 23:59:59"
        );
    }

    #[test]
    fn parses_like_go() {
        type Case<'a> = (&'a str, &'a str, Option<(i64, u32)>);
        let cases: &[Case<'_>] = &[
            ("2006-01-02", "2021-03-04", Some((1_614_816_000, 0))),
            (
                "2006-01-02T15:04:05Z07:00",
                "2021-03-04T05:06:07Z",
                Some((1_614_834_367, 0)),
            ),
            (
                "2006-01-02T15:04:05Z07:00",
                "2021-03-04T05:06:07+01:00",
                Some((1_614_830_767, 0)),
            ),
            (
                "2006-01-02 15:04:05.000",
                "2021-03-04 05:06:07.250",
                Some((1_614_834_367, 250_000_000)),
            ),
            (
                "2006-01-02T15:04:05",
                "2021-03-04T05:06:07.5",
                Some((1_614_834_367, 500_000_000)),
            ),
            (
                "Jan 2 2006 3:04PM",
                "Mar 4 2021 5:06PM",
                Some((1_614_877_560, 0)),
            ),
            ("02/01/2006", "31/02/2021", None),
            ("2006-01-02", "2021-03-04x", None),
            ("2006-01-02", "nope", None),
        ];
        for (layout, value, want) in cases {
            let got = GoTime::parse(layout, value).ok().map(|t| (t.secs, t.nanos));
            assert_eq!(got, *want, "{layout} {value}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 59, 365, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
