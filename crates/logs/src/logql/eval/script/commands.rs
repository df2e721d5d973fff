//! Reading a `.logqltest` script into commands (see the format notes in the shared test
//! data: `clear`, `load` with stream lines, `eval instant|range` with expectations).

use sextant_model::Labels;

use crate::logql::parse::{parse_prom_duration_ms, unquote};

const NS_PER_MS: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Command {
    Clear,
    Load(Vec<LoadLine>),
    Eval(Eval),
    Invalid {
        line: usize,
        text: String,
        reason: String,
    },
}

/// One `load` line: entries on one stream.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LoadLine {
    pub labels: Labels,
    /// The line text, `{{.i}}` not yet substituted.
    pub line: String,
    pub start_ns: i64,
    pub step_ns: i64,
    pub count: i64,
    pub metadata: Labels,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Eval {
    pub line: usize,
    pub query: String,
    pub time: EvalTime,
    pub expect: Expect,
    pub ordered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum EvalTime {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

/// A series' labels and one value per step (`None`: no point).
pub(super) type Row = (Labels, Vec<Option<f64>>);

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expect {
    Empty,
    Fail(FailCheck),
    Scalar(f64),
    Series(Vec<Row>),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum FailCheck {
    Any,
    Contains(String),
    Regex(String),
}

/// Cuts a `#` comment that is not inside `"…"` or `` `…` ``.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None if c == '#' => return line[..i].trim_end(),
            None => {}
        }
    }
    line.trim_end()
}

pub(super) fn parse_script(text: &str) -> Vec<Command> {
    // Comment-only lines vanish; blank lines end blocks.
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
        .map(|(i, l)| (i + 1, strip_comment(l)))
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, line) = lines[i];
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        let block_end = (i + 1..lines.len())
            .find(|&j| lines[j].1.trim().is_empty() || !lines[j].1.starts_with([' ', '\t']))
            .unwrap_or(lines.len());
        let body: Vec<&str> = lines[i + 1..block_end]
            .iter()
            .map(|(_, l)| l.trim())
            .collect();
        let result = match line.split_whitespace().next() {
            Some("clear") => Ok(Command::Clear),
            Some("load") => body
                .iter()
                .map(|l| parse_load_line(l))
                .collect::<Result<Vec<_>, _>>()
                .map(Command::Load),
            Some("eval") => parse_eval(line_no, line, &body).map(Command::Eval),
            _ => Err("unknown command".to_string()),
        };
        commands.push(result.unwrap_or_else(|reason| Command::Invalid {
            line: line_no,
            text: line.to_string(),
            reason,
        }));
        i = block_end;
    }
    commands
}

fn duration_ns(text: &str) -> Result<i64, String> {
    parse_prom_duration_ms(text)?
        .checked_mul(NS_PER_MS)
        .ok_or_else(|| format!("duration {text} out of range"))
}

/// A small cursor over one line of a script.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, prefix: &str) -> bool {
        self.skip_space();
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn word(&mut self) -> &'a str {
        self.skip_space();
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || c == ']')
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    /// `"…"` or `` `…` ``; with `escapes`, Go escapes apply in `"…"`.
    fn quoted(&mut self, escapes: bool) -> Result<String, String> {
        self.skip_space();
        let quote = self.rest.chars().next().ok_or("expected a quoted string")?;
        if quote != '"' && quote != '`' {
            return Err(format!("expected a quoted string at {:?}", self.rest));
        }
        let body = &self.rest[1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' && quote == '"' && escapes {
                escaped = true;
            } else if c == quote {
                end = Some(i);
                break;
            }
        }
        let end = end.ok_or("unterminated string")?;
        self.rest = &body[end + 1..];
        let raw = &body[..end];
        if escapes && quote == '"' {
            unquote(raw)
        } else {
            Ok(raw.to_string())
        }
    }

    /// A label name, possibly quoted.
    fn label_name(&mut self) -> Result<String, String> {
        self.skip_space();
        if self.rest.starts_with('"') {
            return self.quoted(true);
        }
        let end = self
            .rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return Err(format!("expected a label name at {:?}", self.rest));
        }
        let (name, rest) = self.rest.split_at(end);
        self.rest = rest;
        Ok(name.to_string())
    }

    /// `{a="b", c="d"}`.
    fn label_set(&mut self) -> Result<Labels, String> {
        if !self.eat("{") {
            return Err("expected '{'".to_string());
        }
        let mut pairs = Vec::new();
        while !self.eat("}") {
            let name = self.label_name()?;
            if !self.eat("=") {
                return Err(format!("expected '=' after {name}"));
            }
            pairs.push((name, self.quoted(true)?));
            self.eat(",");
        }
        Ok(Labels::from_pairs(pairs))
    }
}

fn parse_load_line(text: &str) -> Result<LoadLine, String> {
    let mut c = Cursor { rest: text };
    let labels = c.label_set()?;
    let line = c.quoted(false)?;
    if !c.eat("@") {
        return Err("expected '@ <time>'".to_string());
    }
    let start_ns = duration_ns(c.word())?;
    let (mut step_ns, mut count, mut metadata) = (0, 1, Vec::new());
    while c.eat("[") {
        if c.eat("repeat") {
            c.eat("every");
            step_ns = duration_ns(c.word())?;
            c.eat("for");
            count = c
                .word()
                .parse()
                .map_err(|e| format!("bad repeat count: {e}"))?;
        } else if c.eat("metadata") {
            c.skip_space();
            while !c.rest.starts_with(']') && !c.rest.is_empty() {
                let name = c.label_name()?;
                if !c.eat("=") {
                    return Err(format!("expected '=' after metadata {name}"));
                }
                metadata.push((name, c.quoted(true)?));
                c.skip_space();
            }
        } else {
            return Err(format!("unknown load option at {:?}", c.rest));
        }
        if !c.eat("]") {
            return Err("expected ']'".to_string());
        }
    }
    c.skip_space();
    if !c.rest.is_empty() {
        return Err(format!("unexpected text {:?}", c.rest));
    }
    Ok(LoadLine {
        labels,
        line,
        start_ns,
        step_ns,
        count,
        metadata: Labels::from_pairs(metadata),
    })
}

fn parse_eval(line_no: usize, line: &str, body: &[&str]) -> Result<Eval, String> {
    let mut c = Cursor {
        rest: line.trim_start().strip_prefix("eval").unwrap_or(line),
    };
    let time = if c.eat("instant") {
        c.eat("at");
        EvalTime::Instant(duration_ns(c.word())?)
    } else if c.eat("range") {
        c.eat("from");
        let start = duration_ns(c.word())?;
        c.eat("to");
        let end = duration_ns(c.word())?;
        c.eat("step");
        let step = duration_ns(c.word())?;
        EvalTime::Range { start, end, step }
    } else {
        return Err("expected 'instant' or 'range'".to_string());
    };
    let query = c.rest.trim().to_string();
    let mut ordered = false;
    let mut expect = None;
    let mut series = Vec::new();
    for line in body {
        if let Some(check) = line.strip_prefix("expect fail") {
            let check = check.trim();
            expect = Some(Expect::Fail(
                if let Some(msg) = check.strip_prefix("msg:") {
                    FailCheck::Contains(msg.trim().to_string())
                } else if let Some(re) = check.strip_prefix("regex:") {
                    FailCheck::Regex(re.trim().to_string())
                } else {
                    FailCheck::Any
                },
            ));
        } else if *line == "expect empty" {
            expect = Some(Expect::Empty);
        } else if *line == "expect ordered" {
            ordered = true;
        } else if line.starts_with("skip ") {
            // Upstream skips value checks on one of its execution paths; we have one path.
        } else if line.starts_with('{') {
            series.push(parse_series(line)?);
        } else {
            let value = parse_value(line).ok_or_else(|| format!("bad expectation {line:?}"))?;
            expect = Some(Expect::Scalar(value));
        }
    }
    let expect = match expect {
        Some(expect) => expect,
        None if !series.is_empty() => Expect::Series(series),
        None => return Err("the eval has no expectation".to_string()),
    };
    Ok(Eval {
        line: line_no,
        query,
        time,
        expect,
        ordered,
    })
}

fn parse_series(line: &str) -> Result<Row, String> {
    let mut c = Cursor { rest: line };
    let labels = c.label_set()?;
    let mut values = Vec::new();
    for word in c.rest.split_whitespace() {
        values.extend(expand_value(word).ok_or_else(|| format!("bad value {word:?}"))?);
    }
    Ok((labels, values))
}

/// `_`, a number, or an expansion `a+bxn` / `a-bxn` / `axn` (n+1 values).
fn expand_value(word: &str) -> Option<Vec<Option<f64>>> {
    if word == "_" {
        return Some(vec![None]);
    }
    if let Some(value) = parse_value(word) {
        return Some(vec![Some(value)]);
    }
    let (head, times) = word.rsplit_once('x')?;
    let times: usize = times.parse().ok()?;
    let split = head
        .char_indices()
        .skip(1)
        .find(|(i, c)| (*c == '+' || *c == '-') && !head[..*i].ends_with(['e', 'E']))
        .map(|(i, _)| i);
    let (start, delta) = match split {
        Some(i) => (parse_value(&head[..i])?, parse_value(&head[i..])?),
        None => (parse_value(head)?, 0.0),
    };
    Some(
        (0..=times)
            .map(|k| Some(start + delta * k as f64))
            .collect(),
    )
}

fn parse_value(word: &str) -> Option<f64> {
    match word {
        "NaN" => Some(f64::NAN),
        "Inf" | "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => word.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_script() {
        let script = r#"
# comment
clear
load
  {app="foo", env="prod"} "level=info # not a comment" @ 10s [repeat every 10s for 6]
  {app="bar"} `{"a":1}` @ 0s [metadata detected_level="error" "odd key"="x"]   # trailing

eval instant at 60s sum by (app) (count_over_time({app=~"foo|bar"}[1m]))
  {app="foo"} 6
eval range from 0 to 60s step 30s count_over_time({app="foo"}[30s]) # trailing
  {app="foo"} _ 1+2x1
eval instant at 1m 1 + 2
  3
eval instant at 1m rate({a="b"}[1m])
  expect fail msg: parsing \"\": invalid
"#;
        let commands = parse_script(script);
        assert_eq!(commands.len(), 6, "{commands:#?}");
        assert_eq!(commands[0], Command::Clear);
        let Command::Load(load) = &commands[1] else {
            panic!("{:?}", commands[1])
        };
        assert_eq!(load[0].line, "level=info # not a comment");
        assert_eq!(
            (load[0].start_ns, load[0].step_ns, load[0].count),
            (10_000_000_000, 10_000_000_000, 6)
        );
        assert_eq!(load[1].line, r#"{"a":1}"#);
        assert_eq!(load[1].metadata.get("odd key"), Some("x"));
        let Command::Eval(eval) = &commands[3] else {
            panic!("{:?}", commands[3])
        };
        assert_eq!(eval.query, r#"count_over_time({app="foo"}[30s])"#);
        assert_eq!(
            eval.expect,
            Expect::Series(vec![(
                Labels::from_pairs([("app", "foo")]),
                vec![None, Some(1.0), Some(3.0)]
            )])
        );
        let Command::Eval(eval) = &commands[4] else {
            panic!()
        };
        assert_eq!(eval.expect, Expect::Scalar(3.0));
        let Command::Eval(eval) = &commands[5] else {
            panic!()
        };
        assert_eq!(
            eval.expect,
            Expect::Fail(FailCheck::Contains(r#"parsing \"\": invalid"#.into()))
        );
    }

    #[test]
    fn value_expansions() {
        let cases: &[(&str, Vec<Option<f64>>)] = &[
            ("_", vec![None]),
            ("1e3", vec![Some(1000.0)]),
            ("-Inf", vec![Some(f64::NEG_INFINITY)]),
            ("1+2x2", vec![Some(1.0), Some(3.0), Some(5.0)]),
            ("5-1x1", vec![Some(5.0), Some(4.0)]),
            ("2x2", vec![Some(2.0), Some(2.0), Some(2.0)]),
            ("-1+1x1", vec![Some(-1.0), Some(0.0)]),
        ];
        for (word, want) in cases {
            assert_eq!(expand_value(word).as_ref(), Some(want), "{word}");
        }
    }
}
