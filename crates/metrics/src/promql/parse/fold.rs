//! Folding a duration expression (`26m+4m`, `2m*(10+5)`, `min_of(step()+1, 1h)`) to a number
//! of seconds. Plain numbers are seconds; `step()` and `range()` come from the query.

use super::lexer::{Kind, Token};

/// What `step()` and `range()` evaluate to, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct FoldContext {
    pub step_ms: i64,
    pub range_ms: i64,
}

/// Evaluates `tokens` (all of them) as a duration expression, in seconds.
pub(super) fn fold(src: &str, tokens: &[Token], ctx: FoldContext) -> Result<f64, String> {
    let mut p = Folder {
        src,
        tokens,
        pos: 0,
        ctx,
    };
    let value = p.expr()?;
    match p.peek() {
        None => Ok(value),
        Some(t) => Err(format!(
            "unexpected {:?} in duration expression",
            t.text(src)
        )),
    }
}

struct Folder<'a> {
    src: &'a str,
    tokens: &'a [Token],
    pos: usize,
    ctx: FoldContext,
}

impl Folder<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let hit = self.peek().is_some_and(|t| t.is_punct(self.src, p));
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), String> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(format!("expected {p:?} in duration expression"))
        }
    }

    /// Additive level: `a + b - c`.
    fn expr(&mut self) -> Result<f64, String> {
        let mut value = self.term()?;
        loop {
            if self.eat_punct("+") {
                value += self.term()?;
            } else if self.eat_punct("-") {
                value -= self.term()?;
            } else {
                return Ok(value);
            }
        }
    }

    /// Multiplicative level: `a * b / c % d`.
    fn term(&mut self) -> Result<f64, String> {
        let mut value = self.unary()?;
        loop {
            if self.eat_punct("*") {
                value *= self.unary()?;
            } else if self.eat_punct("/") {
                let divisor = self.unary()?;
                if divisor == 0.0 {
                    return Err("division by zero in duration expression".into());
                }
                value /= divisor;
            } else if self.eat_punct("%") {
                let divisor = self.unary()?;
                if divisor == 0.0 {
                    return Err("modulo by zero in duration expression".into());
                }
                value %= divisor;
            } else {
                return Ok(value);
            }
        }
    }

    /// Unary signs bind looser than `^`, as in PromQL (`-2^2` is -4).
    fn unary(&mut self) -> Result<f64, String> {
        if self.eat_punct("-") {
            return Ok(-self.unary()?);
        }
        if self.eat_punct("+") {
            return self.unary();
        }
        self.power()
    }

    /// `^` is right-associative.
    fn power(&mut self) -> Result<f64, String> {
        let base = self.primary()?;
        if self.eat_punct("^") {
            let exponent = self.unary()?;
            return Ok(base.powf(exponent));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, String> {
        let Some(token) = self.peek() else {
            return Err("unexpected end of duration expression".into());
        };
        self.pos += 1;
        match token.kind {
            Kind::Number => literal_seconds(token.text(self.src)),
            Kind::Punct if token.text(self.src) == "(" => {
                let value = self.expr()?;
                self.expect_punct(")")?;
                Ok(value)
            }
            Kind::Ident => self.call(&token.text(self.src).to_ascii_lowercase()),
            _ => Err(format!(
                "unexpected {:?} in duration expression",
                token.text(self.src)
            )),
        }
    }

    fn call(&mut self, name: &str) -> Result<f64, String> {
        self.expect_punct("(")?;
        let value = match name {
            "step" => self.ctx.step_ms as f64 / 1000.0,
            "range" => self.ctx.range_ms as f64 / 1000.0,
            "min_of" | "max_of" => {
                let a = self.expr()?;
                self.expect_punct(",")?;
                let b = self.expr()?;
                if name == "min_of" {
                    a.min(b)
                } else {
                    a.max(b)
                }
            }
            _ => {
                return Err(format!(
                    "unexpected function {name:?} in duration expression"
                ))
            }
        };
        self.expect_punct(")")?;
        Ok(value)
    }
}

/// A number (seconds; decimal, exponent or hex) or a duration literal like `1h30m`.
pub(super) fn literal_seconds(text: &str) -> Result<f64, String> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16)
            .map(|v| v as f64)
            .map_err(|_| format!("bad number {text:?}"));
    }
    if let Ok(v) = text.parse::<f64>() {
        return Ok(v);
    }
    duration_ms(text).map(|ms| ms as f64 / 1000.0)
}

/// A Prometheus duration literal (`1y2w3d4h5m6s7ms`, units in that order) in milliseconds.
fn duration_ms(text: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let bad = || format!("not a valid duration string: {text:?}");
    if text.is_empty() {
        return Err(bad());
    }
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        let after = &rest[digits..];
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &after[..unit_len];
        let index = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(bad)?;
        let (_, scale) = UNITS[next_unit + index];
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        next_unit += index + 1;
        rest = &after[unit_len..];
    }
    Ok(total)
}

/// Milliseconds written as a duration literal promql-parser accepts (`1h30m`, `1500ms`);
/// every component stays small enough for its `u32` fields.
pub(super) fn format_duration_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let mut rest = ms.unsigned_abs();
    if rest == 0 {
        return "0s".into();
    }
    let mut out = String::from(sign);
    for (unit, scale) in [("h", 3_600_000u64), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        let n = rest / scale;
        rest %= scale;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn fold_str(src: &str, step_ms: i64) -> Result<f64, String> {
        fold(
            src,
            &tokenize(src),
            FoldContext {
                step_ms,
                range_ms: 10_000,
            },
        )
    }

    #[test]
    fn folds_duration_arithmetic() {
        let cases = [
            ("26m+4m", 1800.0),
            ("60*30", 1800.0),
            ("2m*(10+5)", 1800.0),
            ("24m+((1.5*2m)+2m)", 1740.0),
            ("-5m+35m", 1800.0),
            ("1h/2", 1800.0),
            ("1h30m % 1h", 1800.0),
            ("30m1s-30m1s % 1m", 1800.0),
            ("((((8 - 2) / 3) * 7s) % 4) + 8000ms", 10.0),
            ("-2 ^ 2", -4.0),
            ("2 ^ 3 ^ 2", 512.0),
            ("1+(STep()-5)*2", 11.0),
            ("max_of(min_of(step()+1,1h),1ms)", 11.0),
            ("range()", 10.0),
            ("0x10", 16.0),
            ("1e3", 1000.0),
        ];
        for (src, want) in cases {
            let got = fold_str(src, 10_000);
            assert_eq!(got, Ok(want), "{src}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration_expression() {
        for src in [
            "", "1 +", "foo()", "(1", "1m / 0", "5x", "1 2", "5s1m", "rate(x)",
        ] {
            assert!(fold_str(src, 0).is_err(), "{src}");
        }
    }

    #[test]
    fn formats_durations() {
        let cases = [
            (0, "0s"),
            (1_500, "1s500ms"),
            (90_000, "1m30s"),
            (-3_600_000, "-1h"),
            (1, "1ms"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_duration_ms(ms), want);
        }
    }
}
