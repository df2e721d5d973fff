//! The Go text/template subset behind `line_format` and `label_format`: text and actions with
//! trim markers and comments, pipelines, `if`/`else if`/`else`, `range`, `with`, variables,
//! and Loki's function set (Go builtins, Loki's own functions, the sprig functions Loki
//! enables). Missing labels read as "" (Loki's `missingkey=zero`).

mod decimal;
mod exec;
mod funcs;
mod gotime;
mod parse;
mod printf;
mod value;

/// Where templates read labels from.
pub(crate) trait LabelSource {
    /// A label's value (`__error__` included when set).
    fn label(&self, name: &str) -> Option<&str>;
    /// Every label, for `{{ . }}` and `range .`.
    fn all(&self) -> Vec<(String, String)>;
}

/// What a template runs against.
pub(crate) struct Context<'a> {
    pub(crate) labels: &'a dyn LabelSource,
    /// The current line, for `__line__`.
    pub(crate) line: &'a str,
    /// The entry timestamp, for `__timestamp__`.
    pub(crate) ts_ns: i64,
}

/// A parsed template.
#[derive(Debug)]
pub(crate) struct Template {
    name: String,
    text: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `text`; `name` appears in errors (`template: line:1: …`).
    pub(crate) fn parse(name: &str, text: &str) -> Result<Template, String> {
        Ok(Template {
            name: name.to_owned(),
            text: text.to_owned(),
            nodes: parse::parse(name, text)?,
        })
    }

    /// Renders into `out`; on error `out` holds a partial result. Errors read like Go's:
    /// `template: line:1:2: executing "line" at <.foo>: …`.
    pub(crate) fn execute(&self, ctx: &Context<'_>, out: &mut String) -> Result<(), String> {
        exec::Exec::new(ctx, &self.text)
            .run(&self.nodes, out)
            .map_err(|e| {
                let (start, end) = e.span;
                let before = self.text.get(..start).unwrap_or("");
                let line = 1 + before.matches('\n').count();
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
                let node = self.text.get(start..end).unwrap_or("");
                format!(
                    "template: {name}:{line}:{col}: executing {name:?} at <{node}>: {msg}",
                    name = self.name,
                    msg = e.msg
                )
            })
    }
}

#[cfg(test)]
#[path = "template/template_tests.rs"]
mod tests;
