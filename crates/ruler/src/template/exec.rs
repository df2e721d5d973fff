//! Walks the parsed nodes with the template data, writing the output.

use super::funcs;
use super::parse::{Branches, Command, Node, Operand, Pipeline, PREDEFINED_VARS};
use super::value::Value;
use super::{TemplateData, TemplateError};

/// Output longer than this fails the render (a `range` in a `range` over big label sets).
const MAX_OUTPUT: usize = 1 << 20;

pub(super) struct Exec<'a> {
    src: &'a str,
    data: &'a TemplateData<'a>,
    /// Variables in scope, innermost last.
    vars: Vec<(String, Value<'a>)>,
    out: String,
}

impl<'a> Exec<'a> {
    pub(super) fn new(src: &'a str, data: &'a TemplateData<'a>) -> Self {
        let root = Value::Root(data);
        let vars = PREDEFINED_VARS
            .iter()
            .map(|name| {
                let value = match *name {
                    "" => Ok(root.clone()),
                    "labels" => root.field("Labels"),
                    "externalLabels" => root.field("ExternalLabels"),
                    "externalURL" => root.field("ExternalURL"),
                    _ => root.field("Value"),
                };
                (name.to_string(), value.unwrap_or(Value::Nil))
            })
            .collect();
        Exec {
            src,
            data,
            vars,
            out: String::new(),
        }
    }

    pub(super) fn run(mut self, nodes: &[Node]) -> Result<String, TemplateError> {
        self.nodes(nodes, &Value::Root(self.data))?;
        Ok(self.out)
    }

    fn err(&self, pos: usize, message: impl Into<String>) -> TemplateError {
        TemplateError::at(self.src, pos, message)
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value<'a>) -> Result<(), TemplateError> {
        for node in nodes {
            self.node(node, dot)?;
            if self.out.len() > MAX_OUTPUT {
                return Err(self.err(0, format!("output longer than {MAX_OUTPUT} bytes")));
            }
        }
        Ok(())
    }

    fn node(&mut self, node: &Node, dot: &Value<'a>) -> Result<(), TemplateError> {
        match node {
            Node::Text(text) => self.out.push_str(text),
            Node::Action(pipe) => {
                let value = self.pipeline(pipe, dot)?;
                if pipe.vars.is_empty() {
                    self.out.push_str(&value.to_go_string());
                }
            }
            Node::If(branches) => self.branches(branches, dot, false)?,
            Node::With(branches) => self.branches(branches, dot, true)?,
            Node::Range {
                pipe,
                body,
                otherwise,
            } => self.range(pipe, body, otherwise, dot)?,
        }
        Ok(())
    }

    /// Runs the first branch whose condition is true (`with`: with dot set to its value).
    fn branches(
        &mut self,
        node: &Branches,
        dot: &Value<'a>,
        with: bool,
    ) -> Result<(), TemplateError> {
        let scope = self.vars.len();
        let mut ran = false;
        for (cond, body) in &node.branches {
            let value = self.pipeline(cond, dot)?;
            if value.is_true() {
                let inner = if with { value } else { dot.clone() };
                self.nodes(body, &inner)?;
                ran = true;
                break;
            }
        }
        if !ran {
            self.nodes(&node.otherwise, dot)?;
        }
        self.vars.truncate(scope);
        Ok(())
    }

    /// `range` over a label map, in key order; `$k, $v :=` get the key and value.
    fn range(
        &mut self,
        pipe: &Pipeline,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value<'a>,
    ) -> Result<(), TemplateError> {
        let scope = self.vars.len();
        let bare = Pipeline {
            vars: Vec::new(),
            ..pipe.clone()
        };
        let map = match self.pipeline(&bare, dot)? {
            Value::Map(map) => map,
            other => {
                return Err(self.err(
                    pipe.pos,
                    format!("range can't iterate over {}", other.to_go_string()),
                ))
            }
        };
        if map.is_empty() {
            self.nodes(otherwise, dot)?;
        }
        for (key, value) in map {
            let item = Value::Str(value.clone());
            match pipe.vars.as_slice() {
                [v] => self.set_var(v, item.clone(), false),
                [k, v] => {
                    self.set_var(k, Value::Str(key.clone()), pipe.assign);
                    self.set_var(v, item.clone(), pipe.assign);
                }
                _ => {}
            }
            let inner_scope = self.vars.len();
            self.nodes(body, &item)?;
            self.vars.truncate(inner_scope);
        }
        self.vars.truncate(scope);
        Ok(())
    }

    fn set_var(&mut self, name: &str, value: Value<'a>, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = value;
                return;
            }
        }
        self.vars.push((name.to_string(), value));
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Value<'a>) -> Result<Value<'a>, TemplateError> {
        let mut piped: Option<Value<'a>> = None;
        for cmd in &pipe.cmds {
            piped = Some(self.command(cmd, dot, piped)?);
        }
        let value = piped.unwrap_or(Value::Nil);
        if let [name] = pipe.vars.as_slice() {
            self.set_var(name, value.clone(), pipe.assign);
        }
        Ok(value)
    }

    fn command(
        &mut self,
        cmd: &Command,
        dot: &Value<'a>,
        piped: Option<Value<'a>>,
    ) -> Result<Value<'a>, TemplateError> {
        let Some((first, rest)) = cmd.args.split_first() else {
            return Err(self.err(cmd.pos, "missing value for command"));
        };
        if let Operand::Func(name) = first {
            let mut args = Vec::with_capacity(rest.len() + 1);
            for arg in rest {
                args.push(self.operand(cmd.pos, arg, dot)?);
            }
            args.extend(piped);
            return funcs::call(name, args, self.data)
                .map_err(|e| self.err(cmd.pos, format!("error calling {name}: {e}")));
        }
        if !rest.is_empty() || piped.is_some() {
            return Err(self.err(cmd.pos, "can't give argument to non-function"));
        }
        self.operand(cmd.pos, first, dot)
    }

    fn operand(
        &mut self,
        pos: usize,
        operand: &Operand,
        dot: &Value<'a>,
    ) -> Result<Value<'a>, TemplateError> {
        let (base, fields) = match operand {
            Operand::Nil => return Ok(Value::Nil),
            Operand::Bool(b) => return Ok(Value::Bool(*b)),
            Operand::Str(s) => return Ok(Value::Str(s.clone())),
            Operand::Int(n) => return Ok(Value::Int(*n)),
            Operand::Float(f) => return Ok(Value::Float(*f)),
            Operand::Func(name) => {
                return funcs::call(name, Vec::new(), self.data)
                    .map_err(|e| self.err(pos, format!("error calling {name}: {e}")))
            }
            Operand::Dot(fields) => (dot.clone(), fields),
            Operand::Var(name, fields) => (self.var(pos, name)?, fields),
            Operand::Group(pipe, fields) => (self.pipeline(pipe, dot)?, fields),
        };
        fields.iter().try_fold(base, |value, field| {
            value.field(field).map_err(|e| self.err(pos, e))
        })
    }

    fn var(&self, pos: usize, name: &str) -> Result<Value<'a>, TemplateError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.err(pos, format!("undefined variable \"${name}\"")))
    }
}
