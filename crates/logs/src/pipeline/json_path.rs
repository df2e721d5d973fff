//! Extraction paths of `| json name="expr"`: `a.b`, `a[0]`, `a["b c"]`, `["a"].b`, with the
//! token rules and goyacc-style messages of Loki's `jsonexpr` (`syntax error: unexpected DOT,
//! expecting FIELD`).

use super::json::PathStep;
use super::PipelineError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Field(String),
    Str(String),
    Index(usize),
    Dot,
    Lsb,
    Rsb,
}

impl Tok {
    fn name(tok: Option<&Tok>) -> &'static str {
        match tok {
            None => "$end",
            Some(Tok::Field(_)) => "FIELD",
            Some(Tok::Str(_)) => "STRING",
            Some(Tok::Index(_)) => "INDEX",
            Some(Tok::Dot) => "DOT",
            Some(Tok::Lsb) => "LSB",
            Some(Tok::Rsb) => "RSB",
        }
    }
}

/// Parses an extraction path.
pub(crate) fn parse(expr: &str) -> Result<Vec<PathStep>, PipelineError> {
    let invalid = |reason: String| PipelineError::InvalidExpression {
        expr: expr.to_owned(),
        reason,
    };
    let tokens = lex(expr).map_err(invalid)?;
    steps(&tokens).map_err(|msg| invalid(format!("syntax error: {msg}")))
}

fn lex(expr: &str) -> Result<Vec<Tok>, String> {
    let mut tokens = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {}
            '[' => tokens.push(Tok::Lsb),
            ']' => tokens.push(Tok::Rsb),
            '.' => tokens.push(Tok::Dot),
            '0'..='9' => {
                let mut digits = String::from(c);
                while let Some(&d) = chars.peek() {
                    match d {
                        '0'..='9' => digits.push(d),
                        '.' => return Err("cannot use float as array index".into()),
                        ' ' | '\t' | '\n' | ']' => break,
                        other => return Err(format!("non-integer value: {other}")),
                    }
                    chars.next();
                }
                let index = digits
                    .parse()
                    .map_err(|_| format!("invalid index {digits}"))?;
                tokens.push(Tok::Index(index));
            }
            'a'..='z' | 'A'..='Z' | '_' => {
                let mut field = String::from(c);
                while let Some(&d) = chars
                    .peek()
                    .filter(|d| d.is_ascii_alphanumeric() || **d == '_')
                {
                    field.push(d);
                    chars.next();
                }
                tokens.push(Tok::Field(field));
            }
            // a string ends at a quote or, as upstream lexes it, at `]`
            '"' => {
                let text: String = chars
                    .by_ref()
                    .take_while(|d| *d != '"' && *d != ']')
                    .collect();
                tokens.push(Tok::Str(text));
            }
            other => return Err(format!("unexpected char {other}")),
        }
    }
    Ok(tokens)
}

fn steps(tokens: &[Tok]) -> Result<Vec<PathStep>, String> {
    let mut out = Vec::new();
    let mut it = tokens.iter().peekable();
    let unexpected = |tok: Option<&Tok>, expecting: &str| {
        let name = Tok::name(tok);
        if expecting.is_empty() {
            format!("unexpected {name}")
        } else {
            format!("unexpected {name}, expecting {expecting}")
        }
    };
    match it.next() {
        Some(Tok::Field(f)) => out.push(PathStep::Key(f.clone())),
        Some(Tok::Lsb) => out.push(bracket(&mut it, &unexpected)?),
        other => return Err(unexpected(other, "LSB or FIELD")),
    }
    while let Some(tok) = it.next() {
        match tok {
            Tok::Dot => match it.next() {
                Some(Tok::Field(f)) => out.push(PathStep::Key(f.clone())),
                other => return Err(unexpected(other, "FIELD")),
            },
            Tok::Lsb => out.push(bracket(&mut it, &unexpected)?),
            other => return Err(unexpected(Some(other), "")),
        }
    }
    Ok(out)
}

/// `"key"]` or `0]` after a `[`.
fn bracket<'t>(
    it: &mut impl Iterator<Item = &'t Tok>,
    unexpected: &impl Fn(Option<&Tok>, &str) -> String,
) -> Result<PathStep, String> {
    let step = match it.next() {
        Some(Tok::Str(s)) => PathStep::Key(s.clone()),
        Some(Tok::Index(i)) => PathStep::Index(*i),
        other => return Err(unexpected(other, "STRING or INDEX")),
    };
    match it.next() {
        Some(Tok::Rsb) => Ok(step),
        other => Err(unexpected(other, "RSB")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PathStep {
        PathStep::Key(k.into())
    }

    #[test]
    fn parses_paths() {
        let cases: Vec<(&str, Vec<PathStep>)> = vec![
            ("app", vec![key("app")]),
            ("pod.uuid", vec![key("pod"), key("uuid")]),
            (r#"pod["uuid"]"#, vec![key("pod"), key("uuid")]),
            (r#"["pod"]["uuid"]"#, vec![key("pod"), key("uuid")]),
            (r#"["pod"].uuid"#, vec![key("pod"), key("uuid")]),
            (r#"["field with space"]"#, vec![key("field with space")]),
            (r#"["field with ÜFT8👌"]"#, vec![key("field with ÜFT8👌")]),
            (
                "pod.deployment.params[0]",
                vec![
                    key("pod"),
                    key("deployment"),
                    key("params"),
                    PathStep::Index(0),
                ],
            ),
            (r#"pod[""]"#, vec![key("pod"), key("")]),
            ("a[ 12 ]", vec![key("a"), PathStep::Index(12)]),
        ];
        for (expr, want) in cases {
            assert_eq!(parse(expr).unwrap(), want, "{expr}");
        }
    }

    /// Loki's TestJSONExpressionParserFailures, plus lexer errors.
    #[test]
    fn rejects_like_loki() {
        let cases = [
            ("field with space", "syntax error: unexpected FIELD"),
            (
                r#""pod"]"#,
                "syntax error: unexpected STRING, expecting LSB or FIELD",
            ),
            (r#"["pod""#, "syntax error: unexpected $end, expecting RSB"),
            (
                r#"["pod""uuid"]"#,
                "syntax error: unexpected STRING, expecting RSB",
            ),
            ("pod..uuid", "syntax error: unexpected DOT, expecting FIELD"),
            (
                "user[",
                "syntax error: unexpected $end, expecting STRING or INDEX",
            ),
            ("", "syntax error: unexpected $end, expecting LSB or FIELD"),
            (
                "a[x]",
                "syntax error: unexpected FIELD, expecting STRING or INDEX",
            ),
            ("a[1.5]", "cannot use float as array index"),
            ("a-b", "unexpected char -"),
        ];
        for (expr, want) in cases {
            let err = parse(expr).unwrap_err().to_string();
            assert_eq!(err, format!("cannot parse expression [{expr}]: {want}"));
        }
    }
}
