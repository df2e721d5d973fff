//! Executes a parsed template against the labels of one entry.

use super::funcs::{self, Env, ARITY_ERROR};
use super::parse::{Arg, Cmd, Node, Pipe, Span};
use super::value::Value;
use super::Context;

/// A failure at a node of the template (Go reports `at <node>` with its position).
#[derive(Debug)]
pub(crate) struct ExecError {
    pub(crate) span: Span,
    pub(crate) msg: String,
}

type ExecResult<T> = Result<T, ExecError>;

fn fail<T>(span: Span, msg: impl Into<String>) -> ExecResult<T> {
    Err(ExecError {
        span,
        msg: msg.into(),
    })
}

/// What `.` is: the label map of the entry, or a value from `range` / `with`.
enum Dot {
    Root,
    Val(Value),
}

pub(crate) struct Exec<'c, 'a> {
    ctx: &'c Context<'a>,
    /// The template source, to quote nodes in errors.
    text: &'c str,
    vars: Vec<(String, Value)>,
}

impl<'c, 'a> Exec<'c, 'a> {
    pub(crate) fn new(ctx: &'c Context<'a>, text: &'c str) -> Self {
        Exec {
            ctx,
            text,
            vars: Vec::new(),
        }
    }

    pub(crate) fn run(&mut self, nodes: &[Node], out: &mut String) -> ExecResult<()> {
        self.walk(nodes, &Dot::Root, out)
    }

    fn walk(&mut self, nodes: &[Node], dot: &Dot, out: &mut String) -> ExecResult<()> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(pipe) => {
                    let value = self.pipe(pipe, dot)?;
                    if pipe.vars.is_empty() {
                        print(&value, out);
                    }
                }
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let truth = self.pipe(cond, dot)?.truthy();
                    self.walk(if truth { then } else { otherwise }, dot, out)?;
                    self.vars.truncate(mark);
                }
                Node::With {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let value = self.pipe(pipe, dot)?;
                    if value.truthy() {
                        self.walk(body, &Dot::Val(value), out)?;
                    } else {
                        self.walk(otherwise, dot, out)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => self.range(pipe, body, otherwise, dot, out)?,
            }
        }
        Ok(())
    }

    fn range(
        &mut self,
        pipe: &Pipe,
        body: &[Node],
        otherwise: &[Node],
        dot: &Dot,
        out: &mut String,
    ) -> ExecResult<()> {
        let collection = self.commands(&pipe.cmds, dot)?;
        let items: Vec<(Value, Value)> = match collection {
            Value::List(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v))
                .collect(),
            Value::Map(map) => map.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
            Value::Int(n) => (0..n.max(0))
                .map(|i| (Value::Int(i), Value::Int(i)))
                .collect(),
            Value::Nil => Vec::new(),
            other => {
                let span = pipe_span(pipe);
                return fail(
                    span,
                    format!("range can't iterate over {}", other.display()),
                );
            }
        };
        if items.is_empty() {
            return self.walk(otherwise, dot, out);
        }
        for (key, elem) in items {
            let mark = self.vars.len();
            match pipe.vars.as_slice() {
                [] => {}
                [v] => self.vars.push((v.clone(), elem.clone())),
                [k, v, ..] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((v.clone(), elem.clone()));
                }
            }
            self.walk(body, &Dot::Val(elem), out)?;
            self.vars.truncate(mark);
        }
        Ok(())
    }

    /// Evaluates a pipeline and binds its variables.
    fn pipe(&mut self, pipe: &Pipe, dot: &Dot) -> ExecResult<Value> {
        let value = self.commands(&pipe.cmds, dot)?;
        for name in &pipe.vars {
            if pipe.declare {
                self.vars.push((name.clone(), value.clone()));
                continue;
            }
            match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => return fail(pipe_span(pipe), format!("undefined variable: ${name}")),
            }
        }
        Ok(value)
    }

    fn commands(&mut self, cmds: &[Cmd], dot: &Dot) -> ExecResult<Value> {
        let mut piped = None;
        for cmd in cmds {
            piped = Some(self.command(cmd, dot, piped.take())?);
        }
        Ok(piped.unwrap_or(Value::Nil))
    }

    fn command(&mut self, cmd: &Cmd, dot: &Dot, piped: Option<Value>) -> ExecResult<Value> {
        let span = cmd.spans.first().copied().unwrap_or_default();
        let Some(Arg::Func(name)) = cmd.args.first() else {
            if cmd.args.len() > 1 || piped.is_some() {
                let msg = match cmd.args.first() {
                    Some(Arg::Field(path)) if !path.is_empty() => {
                        format!("{} is not a method but has arguments", path.join("."))
                    }
                    _ => format!("can't give argument to non-function {}", self.node(span)),
                };
                return fail(span, msg);
            }
            return match cmd.args.first() {
                Some(arg) => self.arg(arg, span, dot),
                None => Ok(Value::Nil),
            };
        };
        if name == "and" || name == "or" {
            return self.logical(name == "and", cmd, piped, dot);
        }
        let mut args = Vec::with_capacity(cmd.args.len());
        for (arg, arg_span) in cmd.args.iter().zip(&cmd.spans).skip(1) {
            args.push(self.arg(arg, *arg_span, dot)?);
        }
        args.extend(piped);
        self.call(name, args, cmd, span)
    }

    fn call(&self, name: &str, args: Vec<Value>, cmd: &Cmd, span: Span) -> ExecResult<Value> {
        let env = Env {
            line: self.ctx.line,
            ts_ns: self.ctx.ts_ns,
        };
        funcs::call(name, args, &env, cmd.regex.as_ref()).or_else(|e| {
            let msg = match e.strip_prefix(ARITY_ERROR) {
                Some(counts) => format!("wrong number of args for {name}: {counts}"),
                None => format!("error calling {name}: {e}"),
            };
            fail(span, msg)
        })
    }

    /// `and` / `or` evaluate their arguments lazily and return the deciding one.
    fn logical(
        &mut self,
        and: bool,
        cmd: &Cmd,
        piped: Option<Value>,
        dot: &Dot,
    ) -> ExecResult<Value> {
        let name = if and { "and" } else { "or" };
        if cmd.args.len() < 2 && piped.is_none() {
            let span = cmd.spans.first().copied().unwrap_or_default();
            return fail(
                span,
                format!("wrong number of args for {name}: want at least 1 got 0"),
            );
        }
        let mut last = Value::Nil;
        for (arg, span) in cmd.args.iter().zip(&cmd.spans).skip(1) {
            last = self.arg(arg, *span, dot)?;
            if last.truthy() != and {
                return Ok(last);
            }
        }
        Ok(piped.unwrap_or(last))
    }

    fn arg(&mut self, arg: &Arg, span: Span, dot: &Dot) -> ExecResult<Value> {
        Ok(match arg {
            Arg::Field(path) => self.fields(dot, path, span)?,
            Arg::Var(name, path) => {
                if name.is_empty() {
                    self.fields(&Dot::Root, path, span)?
                } else {
                    let Some(value) = self
                        .vars
                        .iter()
                        .rev()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                    else {
                        return fail(span, format!("undefined variable: ${name}"));
                    };
                    self.fields(&Dot::Val(value), path, span)?
                }
            }
            Arg::Func(name) => {
                let cmd = Cmd {
                    args: vec![Arg::Func(name.clone())],
                    spans: vec![span],
                    regex: None,
                };
                self.command(&cmd, dot, None)?
            }
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
            Arg::Sub(pipe, path) => {
                let value = self.commands(&pipe.cmds, dot)?;
                self.fields(&Dot::Val(value), path, span)?
            }
        })
    }

    /// `.a.b` from `dot`: labels at the root (a missing one is ""), map keys below.
    fn fields(&self, dot: &Dot, path: &[String], span: Span) -> ExecResult<Value> {
        let (base, rest) = match (dot, path.split_first()) {
            (Dot::Root, None) => return Ok(self.root_map()),
            (Dot::Root, Some((first, rest))) => {
                let value = self.ctx.labels.label(first).unwrap_or("");
                (Value::Str(value.to_owned()), rest)
            }
            (Dot::Val(v), _) => (v.clone(), path),
        };
        field_chain(base, rest).or_else(|msg| fail(span, msg))
    }

    fn root_map(&self) -> Value {
        let mut pairs = self.ctx.labels.all();
        pairs.sort();
        Value::Map(pairs.into_iter().map(|(k, v)| (k, Value::Str(v))).collect())
    }

    fn node(&self, span: Span) -> &str {
        self.text.get(span.0..span.1).unwrap_or("")
    }
}

fn pipe_span(pipe: &Pipe) -> Span {
    pipe.cmds
        .first()
        .and_then(|c| c.spans.first())
        .copied()
        .unwrap_or_default()
}

fn field_chain(mut value: Value, path: &[String]) -> Result<Value, String> {
    for name in path {
        value = match value {
            Value::Map(entries) => entries
                .into_iter()
                .find(|(k, _)| k == name)
                .map_or(Value::Nil, |(_, v)| v),
            Value::Nil => return Err(format!("nil pointer evaluating interface {{}}.{name}")),
            other => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    other.type_name()
                ))
            }
        };
    }
    Ok(value)
}

/// How an action prints its value; Go shows a missing value as `<no value>`.
fn print(value: &Value, out: &mut String) {
    match value {
        Value::Nil => out.push_str("<no value>"),
        v => v.write_to(out),
    }
}
