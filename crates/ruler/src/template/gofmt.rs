//! Go's `fmt` as templates see it: `%v`/`%g`/`%e`/`%f` of floats (exactly as Go prints them,
//! which Prometheus's `humanize*` outputs depend on), `printf`, and `time.Time.String()`.

use super::value::Value;

/// Widths and precisions beyond this are clamped (a template must not allocate gigabytes).
const MAX_WIDTH: usize = 1000;

/// Go's `%v` of a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`): the shortest digits that
/// round-trip, in exponent form when the exponent is < -4 or >= 6 (`1.234567e+06`).
pub(super) fn float_v(v: f64) -> String {
    fmt_g(v, None)
}

/// Go's `%g` (`prec` = significant digits, `None` = shortest), trailing zeros removed.
pub(super) fn fmt_g(v: f64, prec: Option<usize>) -> String {
    if let Some(special) = non_finite(v) {
        return special;
    }
    let (negative, digits, exp) = match prec {
        None => decimal_digits(&format!("{v:e}")),
        Some(p) => {
            let p = p.clamp(1, MAX_WIDTH);
            let (neg, d, e) = decimal_digits(&format!("{v:.*e}", p - 1));
            (neg, d.trim_end_matches('0').to_string(), e)
        }
    };
    let digits = if digits.is_empty() {
        "0".to_string()
    } else {
        digits
    };
    let eprec = prec.map_or(6, |p| p.max(1) as i64);
    let sign = if negative { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        return format!("{sign}{first}{dot}{rest}{}", exponent(exp));
    }
    format!("{sign}{}", place_point(&digits, exp))
}

/// Go's `%e` with `prec` digits after the point (exponent of at least two digits).
pub(super) fn fmt_e(v: f64, prec: usize) -> String {
    if let Some(special) = non_finite(v) {
        return special;
    }
    let text = format!("{v:.*e}", prec.min(MAX_WIDTH));
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    format!("{mantissa}{}", exponent(exp.parse().unwrap_or(0)))
}

/// Go's `%f` with `prec` digits after the point.
pub(super) fn fmt_f(v: f64, prec: usize) -> String {
    non_finite(v).unwrap_or_else(|| format!("{v:.*}", prec.min(MAX_WIDTH)))
}

fn non_finite(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".to_string())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.to_string())
    } else {
        None
    }
}

fn exponent(exp: i64) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("e{sign}{:02}", exp.abs())
}

/// Rust's `{:e}` text (`-1.2345e6`) as (negative, digits without point, decimal exponent).
fn decimal_digits(text: &str) -> (bool, String, i64) {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    (
        negative,
        mantissa.replace('.', ""),
        exp.parse().unwrap_or(0),
    )
}

/// `digits` (d.ddd × 10^exp) in plain decimal notation.
fn place_point(digits: &str, exp: i64) -> String {
    let point = exp + 1;
    let len = digits.len() as i64;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= len {
        format!("{digits}{}", "0".repeat((point - len) as usize))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    }
}

/// Go's `time.Time.String()` of a UTC instant in Unix milliseconds:
/// `2015-06-23 13:19:44.128 +0000 UTC` (fraction without trailing zeros, none when zero).
pub(super) fn time_string(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    let (h, m, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let fraction = if ms == 0 {
        String::new()
    } else {
        format!(".{ms:03}").trim_end_matches('0').to_string()
    };
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}{fraction} +0000 UTC")
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// One `%` directive of a format string.
#[derive(Debug, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %f %e %g %q %x %X %t %c %%`,
/// flags `-+ 0`, width and precision (also `*`). Wrong verbs and missing or extra arguments
/// print as Go prints them (`%!d(float64=1.5)`, `%!s(MISSING)`, `%!(EXTRA ...)`).
pub(super) fn sprintf(format: &str, args: &[Value<'_>]) -> String {
    let mut out = String::new();
    let mut args_iter = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        spec.width = number_or_star(&mut chars, &mut args_iter);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(number_or_star(&mut chars, &mut args_iter).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args_iter.next() {
            None => out.push_str(&format!("%!{verb}(MISSING)")),
            Some(arg) => out.push_str(&format_arg(&spec, verb, arg)),
        }
    }
    let extra: Vec<String> = args_iter
        .map(|a| format!("{}={}", a.type_name(), a.to_go_string()))
        .collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn number_or_star(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    args: &mut std::slice::Iter<'_, Value<'_>>,
) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        return match args.next() {
            Some(Value::Int(n)) => Some((*n).clamp(0, MAX_WIDTH as i64) as usize),
            _ => None,
        };
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some((n.unwrap_or(0) * 10 + d as usize).min(MAX_WIDTH));
        chars.next();
    }
    n
}

fn format_arg(spec: &Spec, verb: char, arg: &Value<'_>) -> String {
    let bad = || format!("%!{verb}({}={})", arg.type_name(), arg.to_go_string());
    let body = match (arg, verb) {
        (Value::Nil, 'v') => "<nil>".to_string(),
        (Value::Nil, _) => return format!("%!{verb}(<nil>)"),
        (_, 'v') => arg.to_go_string(),
        (Value::Str(s), 's') => truncate(s, spec.prec),
        (Value::Str(s), 'q') => format!("{s:?}"),
        (Value::Str(s), 'x') => s.bytes().map(|b| format!("{b:02x}")).collect(),
        (Value::Str(s), 'X') => s.bytes().map(|b| format!("{b:02X}")).collect(),
        (Value::Map(_) | Value::Root(_), 's') => arg.to_go_string(),
        (Value::Bool(b), 't') => b.to_string(),
        (Value::Int(n), 'd') => n.to_string(),
        (Value::Int(n), 'x') => signed(*n, format!("{:x}", n.unsigned_abs())),
        (Value::Int(n), 'X') => signed(*n, format!("{:X}", n.unsigned_abs())),
        (Value::Int(n), 'o') => signed(*n, format!("{:o}", n.unsigned_abs())),
        (Value::Int(n), 'b') => signed(*n, format!("{:b}", n.unsigned_abs())),
        (Value::Int(n), 'c') => char::from_u32(*n as u32).map_or_else(bad, String::from),
        (Value::Float(f), 'e') => fmt_e(*f, spec.prec.unwrap_or(6)),
        (Value::Float(f), 'E') => fmt_e(*f, spec.prec.unwrap_or(6)).to_uppercase(),
        (Value::Float(f), 'f' | 'F') => fmt_f(*f, spec.prec.unwrap_or(6)),
        (Value::Float(f), 'g') => fmt_g(*f, spec.prec),
        (Value::Float(f), 'G') => fmt_g(*f, spec.prec).to_uppercase(),
        _ => return bad(),
    };
    pad(spec, body, matches!(arg, Value::Int(_) | Value::Float(_)))
}

fn signed(n: i64, digits: String) -> String {
    if n < 0 {
        format!("-{digits}")
    } else {
        digits
    }
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

/// Applies the sign flags and the width.
fn pad(spec: &Spec, mut body: String, numeric: bool) -> String {
    if numeric && !body.starts_with(['-', '+']) && body != "NaN" {
        if spec.plus {
            body.insert(0, '+');
        } else if spec.space {
            body.insert(0, ' ');
        }
    }
    let len = body.chars().count();
    let Some(width) = spec.width.filter(|w| *w > len) else {
        return body;
    };
    let fill = width - len;
    if spec.minus {
        body.push_str(&" ".repeat(fill));
        body
    } else if spec.zero && numeric && !body.ends_with("Inf") && body != "NaN" {
        let sign_len = usize::from(body.starts_with(['-', '+', ' ']));
        body.insert_str(sign_len, &"0".repeat(fill));
        body
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}
