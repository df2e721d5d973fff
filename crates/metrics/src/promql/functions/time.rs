//! The calendar functions (`year`, `month`, `day_of_week`, ...), in UTC, over the values of
//! the vector argument (Unix seconds) or, without one, the evaluation time.

use sextant_model::Labels;

use crate::promql::binary::StepCtx;
use crate::promql::value::{Sample, Vector};

use super::{first_vector, name_dropping_sample, FnArg};

const CALENDAR_FUNCTIONS: &[&str] = &[
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
];

pub(super) fn is_calendar_function(name: &str) -> bool {
    CALENDAR_FUNCTIONS.contains(&name)
}

/// A UTC date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    /// 0 = Sunday.
    weekday: u32,
    hour: u32,
    minute: u32,
}

impl Civil {
    /// The date of `secs` since the epoch (Howard Hinnant's `civil_from_days`).
    fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            weekday: (days + 4).rem_euclid(7) as u32,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
        }
    }

    fn is_leap_year(&self) -> bool {
        (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0
    }

    fn days_in_month(&self) -> u32 {
        match self.month {
            2 if self.is_leap_year() => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    fn day_of_year(&self) -> u32 {
        const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let leap = u32::from(self.month > 2 && self.is_leap_year());
        BEFORE[(self.month - 1) as usize] + self.day + leap
    }

    fn field(&self, name: &str) -> f64 {
        match name {
            "day_of_month" => f64::from(self.day),
            "day_of_week" => f64::from(self.weekday),
            "day_of_year" => f64::from(self.day_of_year()),
            "days_in_month" => f64::from(self.days_in_month()),
            "hour" => f64::from(self.hour),
            "minute" => f64::from(self.minute),
            "month" => f64::from(self.month),
            _ => self.year as f64,
        }
    }
}

/// Evaluates calendar function `name` on its optional vector argument.
pub(super) fn calendar(name: &str, args: Vec<FnArg>, ctx: &StepCtx<'_>) -> Vector {
    if args.is_empty() {
        let f = Civil::from_unix(ctx.ts.div_euclid(1000)).field(name);
        return vec![Sample {
            metric: Labels::default(),
            t: ctx.ts,
            f,
            h: None,
            drop_name: false,
        }];
    }
    first_vector(args)
        .into_iter()
        .filter(|s| s.h.is_none())
        .map(|s| {
            let f = Civil::from_unix(s.f as i64).field(name);
            name_dropping_sample(s.metric, ctx.ts, f, ctx.delayed_name_removal)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        // (unix seconds, year, month, day, weekday, hour, minute, day of year, days in month)
        let cases = [
            (0, 1970, 1, 1, 4, 0, 0, 1, 31),
            (1_136_239_445, 2006, 1, 2, 1, 22, 4, 2, 31),
            (1_230_767_999, 2008, 12, 31, 3, 23, 59, 366, 31),
            (1_230_768_000, 2009, 1, 1, 4, 0, 0, 1, 31),
            (1_456_790_399, 2016, 2, 29, 1, 23, 59, 60, 29),
            (1_485_907_200, 2017, 2, 1, 3, 0, 0, 32, 28),
            (-1, 1969, 12, 31, 3, 23, 59, 365, 31),
        ];
        for (secs, year, month, day, weekday, hour, minute, doy, dim) in cases {
            let c = Civil::from_unix(secs);
            assert_eq!(
                (c.year, c.month, c.day, c.weekday, c.hour, c.minute),
                (year, month, day, weekday, hour, minute),
                "{secs}"
            );
            assert_eq!((c.day_of_year(), c.days_in_month()), (doy, dim), "{secs}");
        }
    }
}
