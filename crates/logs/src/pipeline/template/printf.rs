//! `print` and `printf` with Go's `fmt` rules for the common verbs
//! (`%v %s %d %f %e %g %q %x %X %t %c %%`, flags `-+ 0#`, width and precision).

use super::value::{format_float_g, Value};

/// `fmt.Sprint`: a space between operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_));
        if i > 0 && !is_str(arg) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        arg.write_to(&mut out);
    }
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = read_number(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(read_number(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next) {
            None => out.push_str(&format!("%!{verb}(MISSING)")),
            Some(arg) => {
                let text = format_one(verb, &spec, arg);
                pad(&mut out, &text, &spec, verb);
            }
        }
        next += 1;
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.display()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn read_number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(
            n.unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(d as usize)
                .min(1 << 16),
        );
        chars.next();
    }
    n
}

fn bad_verb(verb: char, arg: &Value) -> String {
    format!("%!{verb}({}={})", arg.type_name(), arg.display())
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> String {
    match verb {
        'v' => arg.display(),
        's' => match spec.precision {
            Some(p) => arg.display().chars().take(p).collect(),
            None => arg.display(),
        },
        'q' => match arg {
            Value::Str(s) => format!("{s:?}"),
            Value::Int(i) => {
                char::from_u32(*i as u32).map_or_else(|| bad_verb(verb, arg), |c| format!("'{c}'"))
            }
            _ => bad_verb(verb, arg),
        },
        't' => match arg {
            Value::Bool(b) => b.to_string(),
            _ => bad_verb(verb, arg),
        },
        'c' => match arg {
            Value::Int(i) => char::from_u32(*i as u32).map_or(String::new(), String::from),
            _ => bad_verb(verb, arg),
        },
        'd' | 'b' | 'o' => match arg {
            Value::Int(i) => sign(*i < 0, spec) + &radix(i.unsigned_abs(), verb, spec),
            _ => bad_verb(verb, arg),
        },
        'x' | 'X' => hex(verb, spec, arg),
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => match arg {
            Value::Float(f) => float(*f, verb, spec),
            _ => bad_verb(verb, arg),
        },
        _ => bad_verb(verb, arg),
    }
}

fn sign(negative: bool, spec: &Spec) -> String {
    if negative {
        "-".into()
    } else if spec.plus {
        "+".into()
    } else if spec.space {
        " ".into()
    } else {
        String::new()
    }
}

fn radix(n: u64, verb: char, spec: &Spec) -> String {
    let digits = match verb {
        'b' => format!("{n:b}"),
        'o' if spec.sharp => format!("0{n:o}"),
        'o' => format!("{n:o}"),
        _ => n.to_string(),
    };
    match spec.precision {
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    }
}

fn hex(verb: char, spec: &Spec, arg: &Value) -> String {
    let upper = verb == 'X';
    let prefix = if spec.sharp {
        if upper {
            "0X"
        } else {
            "0x"
        }
    } else {
        ""
    };
    let text = match arg {
        Value::Int(i) => {
            let digits = format!("{:x}", i.unsigned_abs());
            format!("{}{prefix}{digits}", if *i < 0 { "-" } else { "" })
        }
        Value::Str(s) => {
            let digits: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            format!("{prefix}{digits}")
        }
        _ => return bad_verb(verb, arg),
    };
    if upper {
        text.to_uppercase()
    } else {
        text
    }
}

fn float(f: f64, verb: char, spec: &Spec) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            sign(false, spec) + "Inf"
        } else {
            "-Inf".into()
        };
    }
    let body = match verb {
        'f' | 'F' => format!("{:.*}", spec.precision.unwrap_or(6), f.abs()),
        'e' | 'E' => go_exp(f.abs(), spec.precision.unwrap_or(6)),
        _ => match spec.precision {
            None => format_float_g(f.abs()),
            Some(p) => format_g_precision(f.abs(), p.max(1)),
        },
    };
    let body = if verb.is_ascii_uppercase() {
        body.to_uppercase()
    } else {
        body
    };
    sign(f.is_sign_negative() && f != 0.0, spec) + &body
}

/// `%.Ne`: Go writes at least two exponent digits with a sign.
fn go_exp(f: f64, precision: usize) -> String {
    let s = format!("{f:.precision$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// `%.Ng`: N significant digits, exponent form when the exponent is < -4 or >= N.
fn format_g_precision(f: f64, p: usize) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", p - 1, f);
    let exp: i32 = sci
        .split_once('e')
        .map_or(0, |(_, e)| e.parse().unwrap_or(0));
    if exp < -4 || exp >= p as i32 {
        let s = go_exp(f, p - 1);
        let (m, e) = s.split_once('e').unwrap_or((&s, ""));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!("{m}e{e}")
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let s = format!("{f:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    }
}

fn pad(out: &mut String, text: &str, spec: &Spec, verb: char) {
    let len = text.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(text);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', fill));
        return;
    }
    let numeric = matches!(
        verb,
        'd' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'x' | 'X' | 'b' | 'o'
    );
    if spec.zero && numeric {
        let (sign, digits) = match text.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), &text[1..]),
            _ => (String::new(), text),
        };
        out.push_str(&sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sprintf_like_go() {
        let s = |v: &str| Value::Str(v.into());
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("%s-%d", vec![s("a"), Value::Int(5)], "a-5"),
            ("%5s|%-5s|", vec![s("ab"), s("cd")], "   ab|cd   |"),
            ("%05d", vec![Value::Int(-42)], "-0042"),
            ("%+d", vec![Value::Int(3)], "+3"),
            ("%.2f", vec![Value::Float(1.23456)], "1.23"),
            ("%8.3f", vec![Value::Float(2.5)], "   2.500"),
            ("%e", vec![Value::Float(1234.5678)], "1.234568e+03"),
            ("%g", vec![Value::Float(1e6)], "1e+06"),
            ("%.3g", vec![Value::Float(1234.5678)], "1.23e+03"),
            (
                "%v %v",
                vec![Value::Bool(true), Value::Float(0.5)],
                "true 0.5",
            ),
            ("%q", vec![s("a\"b")], r#""a\"b""#),
            ("%x %X", vec![Value::Int(255), s("hi")], "ff 6869"),
            ("%t", vec![Value::Bool(false)], "false"),
            ("100%%", vec![], "100%"),
            ("%d", vec![s("x")], "%!d(string=x)"),
            ("%d", vec![], "%!d(MISSING)"),
            ("%d", vec![Value::Int(1), Value::Int(2)], "1%!(EXTRA int=2)"),
            ("%.1s", vec![s("abc")], "a"),
        ];
        for (format, args, want) in cases {
            assert_eq!(sprintf(format, &args), want, "{format}");
        }
    }

    #[test]
    fn sprint_spacing() {
        let args = [
            Value::Int(1),
            Value::Int(2),
            Value::Str("a".into()),
            Value::Int(3),
        ];
        assert_eq!(sprint(&args), "1 2a3");
    }
}
