//! Prometheus's `String()` rendering of histograms and buckets, with Go's float formatting.

use std::fmt;

use super::{Bucket, FloatHistogram};

/// Formats like Go's `%g` (`exp_limit` 6) or `%v` (`exp_limit` 21) for a float64: the
/// shortest digits that round-trip, in exponent form when the exponent is < -4 or
/// >= `exp_limit`.
pub fn format_go_float(f: f64, exp_limit: i32) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if exp < -4 || exp >= exp_limit {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{exp_sign}{:02}", exp.abs());
    }
    let n = digits.len() as i32;
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        format!("{sign}0.{zeros}{digits}")
    } else if exp + 1 >= n {
        let zeros = "0".repeat((exp + 1 - n) as usize);
        format!("{sign}{digits}{zeros}")
    } else {
        let (int, frac) = digits.split_at((exp + 1) as usize);
        format!("{sign}{int}.{frac}")
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{},{}{}:{}",
            if self.lower_inclusive { '[' } else { '(' },
            format_go_float(self.lower, 6),
            format_go_float(self.upper, 6),
            if self.upper_inclusive { ']' } else { ')' },
            format_go_float(self.count, 21),
        )
    }
}

impl fmt::Display for FloatHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{count:{}, sum:{}",
            format_go_float(self.count, 6),
            format_go_float(self.sum, 6)
        )?;
        let negative: Vec<Bucket> = self
            .negative_bucket_iter()
            .filter(|b| b.count != 0.0)
            .collect();
        for b in negative.iter().rev() {
            write!(f, ", {b}")?;
        }
        if self.zero_count != 0.0 {
            write!(f, ", {}", self.zero_bucket())?;
        }
        for b in self.positive_bucket_iter().filter(|b| b.count != 0.0) {
            write!(f, ", {b}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Span, CUSTOM_BUCKETS_SCHEMA};
    use super::*;

    #[test]
    fn go_g_formatting() {
        let cases = [
            (1.0, 6, "1"),
            (0.5, 6, "0.5"),
            (-0.3, 6, "-0.3"),
            (123456.0, 6, "123456"),
            (1234567.0, 6, "1.234567e+06"),
            (1e6, 6, "1e+06"),
            (1e6, 21, "1000000"),
            (0.0001, 6, "0.0001"),
            (0.00001, 6, "1e-05"),
            (1.5e-7, 21, "1.5e-07"),
            (1e100, 6, "1e+100"),
            (f64::INFINITY, 6, "+Inf"),
            (f64::NEG_INFINITY, 6, "-Inf"),
            (f64::NAN, 6, "NaN"),
            (0.7071067811865475, 6, "0.7071067811865475"),
            (12.5, 6, "12.5"),
        ];
        for (f, limit, want) in cases {
            assert_eq!(format_go_float(f, limit), want, "{f}");
        }
    }

    #[test]
    fn display_like_prometheus() {
        let h = FloatHistogram {
            schema: 0,
            count: 19.0,
            sum: 2.7,
            zero_threshold: 0.001,
            zero_count: 4.0,
            positive_spans: vec![
                Span {
                    offset: 0,
                    length: 2,
                },
                Span {
                    offset: 1,
                    length: 2,
                },
            ],
            positive_buckets: vec![1.0, 0.0, 3.0, 4.0],
            negative_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            negative_buckets: vec![5.0, 2.0],
            ..Default::default()
        };
        assert_eq!(
            h.to_string(),
            "{count:19, sum:2.7, [-2,-1):2, [-1,-0.5):5, [-0.001,0.001]:4, (0.5,1]:1, (4,8]:3, (8,16]:4}"
        );
        let nhcb = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 3.0,
            sum: 1.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 1.0, 1.0],
            custom_values: vec![1.0, 2.0],
            ..Default::default()
        };
        assert_eq!(
            nhcb.to_string(),
            "{count:3, sum:1, [-Inf,1]:1, (1,2]:1, (2,+Inf]:1}"
        );
    }
}
