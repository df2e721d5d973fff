//! Conditions a trace must meet to match a TraceQL query, taken conservatively from the
//! query and checked against the search columns before any trace is decoded.
//!
//! Taken: the `&&`-joined comparisons of every spanset filter that is a stage of the
//! top-level pipeline, or an operand of a top-level spanset `&&` (both sides must be
//! non-empty). Each filter gives one condition: some span meets all of its comparisons.
//! A comparison is `field op literal` (or `literal op field`), `field =~ "re"`, `field !~ "re"`
//! or a lone boolean field, where the field is `name`, `status`, `kind`, `duration`,
//! `rootName`, `rootServiceName`, `traceDuration`, or a `span.`, `resource.` or unscoped
//! attribute. Everything else (`||`, `!`, structural operators, arithmetic, `nil`, events,
//! links) gives no condition. Comparisons follow the evaluator's rules (types must agree;
//! ints and floats compare as numbers; a missing attribute fails); an attribute whose value
//! the columns do not keep (arrays, maps, bytes) may pass anything.

use std::cmp::Ordering;

use regex::Regex;

use crate::traceql::{
    Attribute, AttributeScope, BinaryOp, CmpOp, FieldExpr, Intrinsic, RootExpr, SpanKind,
    SpanStatus, SpansetExpr, SpansetOp, Stage, Static, TraceqlQuery,
};

use super::search::tags::{kind_of, status_of};
use super::search::{ColValue, SpanRow, TracesSearchColumns, NONE};

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttrScope {
    Span,
    Resource,
    /// Span first, then resource (`.x`).
    Any,
}

/// A field the columns can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Field {
    SpanName,
    Status,
    Kind,
    Duration,
    RootName,
    RootService,
    TraceDuration,
    Attr { scope: AttrScope, name: String },
}

impl Field {
    /// The field of a TraceQL attribute, when the columns keep it.
    pub(super) fn from_attribute(a: &Attribute) -> Option<Field> {
        use Intrinsic as I;
        Some(match a {
            Attribute::Intrinsic(I::Name | I::SpanName) => Field::SpanName,
            Attribute::Intrinsic(I::Status | I::SpanStatus) => Field::Status,
            Attribute::Intrinsic(I::Kind | I::SpanKind) => Field::Kind,
            Attribute::Intrinsic(I::Duration | I::SpanDuration) => Field::Duration,
            Attribute::Intrinsic(I::RootName | I::TraceScopedRootName) => Field::RootName,
            Attribute::Intrinsic(I::RootServiceName | I::TraceScopedRootService) => {
                Field::RootService
            }
            Attribute::Intrinsic(I::TraceDuration | I::TraceScopedDuration) => Field::TraceDuration,
            Attribute::Named {
                scope,
                parent: false,
                name,
            } => {
                let scope = match scope {
                    AttributeScope::Span => AttrScope::Span,
                    AttributeScope::Resource => AttrScope::Resource,
                    AttributeScope::None => AttrScope::Any,
                    _ => return None,
                };
                Field::Attr {
                    scope,
                    name: name.clone(),
                }
            }
            _ => return None,
        })
    }
}

/// A literal of a comparison.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Status(SpanStatus),
    Kind(SpanKind),
    Duration(i64),
}

#[derive(Debug, Clone)]
enum Test {
    Cmp(CmpOp, Operand),
    /// Full-match regex; `want` false for `!~`.
    Regex {
        re: Regex,
        want: bool,
    },
}

#[derive(Debug, Clone)]
struct Atom {
    field: Field,
    test: Test,
}

/// What every trace matching a query must satisfy: for each condition, some span meets all
/// of its comparisons. The default (no condition) passes every trace with spans.
#[derive(Debug, Clone, Default)]
pub struct TracesPrefilter {
    conditions: Vec<Vec<Atom>>,
}

impl TracesPrefilter {
    /// The conditions certainly required by `query` (none for what is not understood).
    pub fn from_query(query: &TraceqlQuery) -> TracesPrefilter {
        let mut conditions = Vec::new();
        if let RootExpr::Pipeline(p) = &query.expr {
            for stage in &p.stages {
                if let Stage::Spanset(e) = stage {
                    spanset_conditions(e, &mut conditions);
                }
            }
        }
        TracesPrefilter { conditions }
    }

    /// Strings every matching trace holds verbatim in its OTLP protobuf encoding (strings
    /// are stored as their UTF-8 bytes): the names of the attributes compared (a missing
    /// attribute fails every comparison) and the string literals compared with `=` to a span
    /// name, a root name, a service name or an attribute. A reader of traces held encoded
    /// skips, without decoding, a trace lacking one of them.
    pub fn required_strings(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for atom in self.conditions.iter().flatten() {
            if let Field::Attr { name, .. } = &atom.field {
                out.push(name.as_str());
            }
            let string_field = matches!(
                atom.field,
                Field::SpanName | Field::RootName | Field::RootService | Field::Attr { .. }
            );
            if let (true, Test::Cmp(CmpOp::Eq, Operand::Str(s))) = (string_field, &atom.test) {
                out.push(s.as_str());
            }
        }
        out.retain(|s| !s.is_empty());
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether the prefilter passes every trace.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// The prefilter with its keys and string comparisons resolved against a block.
    pub(super) fn bind<'a>(&'a self, columns: &TracesSearchColumns) -> BoundPrefilter<'a> {
        let conditions = self
            .conditions
            .iter()
            .map(|atoms| atoms.iter().map(|a| BoundAtom::new(a, columns)).collect())
            .collect();
        BoundPrefilter { conditions }
    }
}

fn spanset_conditions(e: &SpansetExpr, out: &mut Vec<Vec<Atom>>) {
    match e {
        SpansetExpr::Filter(f) => {
            let mut conjuncts = Vec::new();
            collect_conjuncts(f, &mut conjuncts);
            let atoms: Vec<Atom> = conjuncts.into_iter().filter_map(atom).collect();
            if !atoms.is_empty() {
                out.push(atoms);
            }
        }
        SpansetExpr::Op {
            op: SpansetOp::And,
            lhs,
            rhs,
        } => {
            spanset_conditions(lhs, out);
            spanset_conditions(rhs, out);
        }
        SpansetExpr::Op { .. } | SpansetExpr::Pipeline(_) => {}
    }
}

fn collect_conjuncts<'e>(e: &'e FieldExpr, out: &mut Vec<&'e FieldExpr>) {
    match e {
        FieldExpr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => {
            collect_conjuncts(lhs, out);
            collect_conjuncts(rhs, out);
        }
        _ => out.push(e),
    }
}

fn atom(e: &FieldExpr) -> Option<Atom> {
    let (field, test) = match e {
        FieldExpr::Attribute(a) => (a, Test::Cmp(CmpOp::Eq, Operand::Bool(true))),
        FieldExpr::Binary { op, lhs, rhs } => match (op, lhs.as_ref(), rhs.as_ref()) {
            (BinaryOp::Cmp(op), FieldExpr::Attribute(a), FieldExpr::Static(s)) => {
                (a, Test::Cmp(*op, operand(s)?))
            }
            (BinaryOp::Cmp(op), FieldExpr::Static(s), FieldExpr::Attribute(a)) => {
                (a, Test::Cmp(flip(*op), operand(s)?))
            }
            (
                BinaryOp::Regex | BinaryOp::NotRegex,
                FieldExpr::Attribute(a),
                FieldExpr::Static(Static::String(pattern)),
            ) => {
                let re = Regex::new(&format!("^(?s:{pattern})$")).ok()?;
                let want = *op == BinaryOp::Regex;
                (a, Test::Regex { re, want })
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(Atom {
        field: Field::from_attribute(field)?,
        test,
    })
}

fn operand(s: &Static) -> Option<Operand> {
    Some(match s {
        Static::String(s) => Operand::Str(s.clone()),
        Static::Int(i) => Operand::Int(*i),
        Static::Float(f) => Operand::Float(*f),
        Static::Bool(b) => Operand::Bool(*b),
        Static::Status(s) => Operand::Status(*s),
        Static::Kind(k) => Operand::Kind(*k),
        Static::Duration(d) => Operand::Duration(*d),
        Static::Nil => return None,
    })
}

/// `literal op field` as `field op' literal`.
fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Lte => CmpOp::Gte,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Gte => CmpOp::Lte,
        CmpOp::Eq | CmpOp::Neq => op,
    }
}

/// A field's value on one span, as far as the columns know it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    /// Absent: every comparison fails.
    Nil,
    /// A ref into the string dictionary.
    Str(u32),
    /// A ref into the distinct attributes.
    Pair(u32),
    Int(i64),
    Float(f64),
    Bool(bool),
    Status(SpanStatus),
    Kind(SpanKind),
    Duration(i64),
}

pub(super) struct BoundPrefilter<'a> {
    conditions: Vec<Vec<BoundAtom<'a>>>,
}

impl BoundPrefilter<'_> {
    /// Whether trace `t` (a position in the columns) may match.
    pub fn matches(&self, columns: &TracesSearchColumns, t: usize) -> bool {
        let spans = columns.spans_of(t);
        self.conditions.iter().all(|atoms| {
            spans
                .iter()
                .any(|s| atoms.iter().all(|a| a.possible(columns, t, s)))
        })
    }
}

struct BoundAtom<'a> {
    atom: &'a Atom,
    /// The attribute's key ref; `None` when the block has no such key.
    key: Option<u32>,
    /// The test's result for each string of the dictionary (fields holding strings).
    strings: Vec<bool>,
    /// Whether the test may pass for each distinct attribute of the key (attribute fields).
    pairs: Vec<bool>,
}

impl<'a> BoundAtom<'a> {
    fn new(atom: &'a Atom, columns: &TracesSearchColumns) -> BoundAtom<'a> {
        let textual = matches!(
            atom.field,
            Field::SpanName | Field::RootName | Field::RootService | Field::Attr { .. }
        );
        let strings: Vec<bool> = if textual {
            columns
                .strings
                .iter()
                .map(|s| test_str(&atom.test, s))
                .collect()
        } else {
            Vec::new()
        };
        let key = match &atom.field {
            Field::Attr { name, .. } => columns.keys.iter().position(|k| k == name),
            _ => None,
        }
        .map(|k| k as u32);
        let pairs = match key {
            None => Vec::new(),
            Some(key) => columns
                .pairs
                .iter()
                .map(|p| {
                    p.key == key
                        && match p.value {
                            ColValue::Str(s) => strings[s as usize],
                            ColValue::Int(i) => test_scalar(&atom.test, Val::Int(i)),
                            ColValue::Float(f) => test_scalar(&atom.test, Val::Float(f)),
                            ColValue::Bool(b) => test_scalar(&atom.test, Val::Bool(b)),
                            // not kept (arrays, maps, ...): may pass
                            ColValue::Other => true,
                        }
                })
                .collect(),
        };
        BoundAtom {
            atom,
            key,
            strings,
            pairs,
        }
    }

    /// `false` when the test certainly fails on span `s` of trace `t`.
    fn possible(&self, columns: &TracesSearchColumns, t: usize, s: &SpanRow) -> bool {
        match self.value(columns, t, s) {
            Val::Nil => false,
            Val::Str(r) => self.strings[r as usize],
            Val::Pair(p) => self.pairs[p as usize],
            v => test_scalar(&self.atom.test, v),
        }
    }

    fn value(&self, columns: &TracesSearchColumns, t: usize, s: &SpanRow) -> Val {
        let trace = &columns.traces[t];
        let text = |r: u32| if r == NONE { Val::Nil } else { Val::Str(r) };
        match &self.atom.field {
            Field::SpanName => Val::Str(s.name),
            Field::Status => Val::Status(status_of(s.status)),
            Field::Kind => Val::Kind(kind_of(s.kind)),
            Field::Duration => Val::Duration(s.duration_ns as i64),
            Field::RootName => text(trace.root_name),
            Field::RootService => text(trace.root_service),
            Field::TraceDuration => Val::Duration((trace.end_ns - trace.start_ns) as i64),
            Field::Attr { scope, .. } => {
                let Some(key) = self.key else {
                    return Val::Nil;
                };
                let span = || lookup(columns, columns.attrs_of(s.attrs), key);
                let resource_attrs = columns.resources[s.resource as usize].attrs;
                let resource = || lookup(columns, columns.attrs_of(resource_attrs), key);
                // an unscoped attribute is the span's, else the resource's; a value the
                // columns do not keep counts as the span's (the pair table lets it pass)
                match scope {
                    AttrScope::Span => span(),
                    AttrScope::Resource => resource(),
                    AttrScope::Any => match span() {
                        Val::Nil => resource(),
                        v => v,
                    },
                }
            }
        }
    }
}

/// The attribute of `key` among `refs`.
fn lookup(columns: &TracesSearchColumns, refs: &[u32], key: u32) -> Val {
    refs.iter()
        .find(|&&p| columns.pairs[p as usize].key == key)
        .map_or(Val::Nil, |&p| Val::Pair(p))
}

fn test_str(test: &Test, s: &str) -> bool {
    match test {
        Test::Regex { re, want } => re.is_match(s) == *want,
        Test::Cmp(op, Operand::Str(o)) => holds(*op, Some(s.cmp(o.as_str()))),
        Test::Cmp(..) => false,
    }
}

/// The evaluator's comparison of a non-string value with a literal.
fn test_scalar(test: &Test, v: Val) -> bool {
    let Test::Cmp(op, operand) = test else {
        return false; // regexes only match strings
    };
    let equality = matches!(op, CmpOp::Eq | CmpOp::Neq);
    let same = |equal: bool| {
        Some(if equal {
            Ordering::Equal
        } else {
            Ordering::Less
        })
    };
    let ordering = match (v, operand) {
        (Val::Int(a), Operand::Int(b)) => Some(a.cmp(b)),
        (Val::Int(a), Operand::Float(b)) => (a as f64).partial_cmp(b),
        (Val::Float(a), Operand::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Val::Float(a), Operand::Float(b)) => a.partial_cmp(b),
        (Val::Bool(a), Operand::Bool(b)) if equality => Some(a.cmp(b)),
        (Val::Status(a), Operand::Status(b)) if equality => same(a == *b),
        (Val::Kind(a), Operand::Kind(b)) if equality => same(a == *b),
        (Val::Duration(a), Operand::Duration(b)) => Some(a.cmp(b)),
        _ => None,
    };
    holds(*op, ordering)
}

fn holds(op: CmpOp, ordering: Option<Ordering>) -> bool {
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        CmpOp::Eq => ordering == Ordering::Equal,
        CmpOp::Neq => ordering != Ordering::Equal,
        CmpOp::Lt => ordering == Ordering::Less,
        CmpOp::Lte => ordering != Ordering::Greater,
        CmpOp::Gt => ordering == Ordering::Greater,
        CmpOp::Gte => ordering != Ordering::Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceql::parse;

    /// Atoms per condition taken from a query.
    fn shape(query: &str) -> Vec<usize> {
        let prefilter = TracesPrefilter::from_query(&parse(query).unwrap());
        prefilter.conditions.iter().map(Vec::len).collect()
    }

    #[test]
    fn takes_only_what_every_match_needs() {
        let cases: &[(&str, &[usize])] = &[
            (
                r#"{ resource.service.name = "a" && span.http.status_code = 200 }"#,
                &[2],
            ),
            (r#"{ name = "x" }"#, &[1]),
            (r#"{ duration > 1s }"#, &[1]),
            (r#"{ status = error }"#, &[1]),
            (r#"{ "x" = name && 1s < duration && span.ok }"#, &[3]),
            (r#"{ .a =~ "x.*" && .b !~ "y" }"#, &[2]),
            (r#"{ .a = 1 } && { .b = 2 }"#, &[1, 1]),
            (r#"{ .a = 1 } | by(.b) | { .c = 3 }"#, &[1, 1]),
            (r#"{ .a = 1 } | count() > 2"#, &[1]),
            (r#"{ .a = 1 && (.b = 2 || .c = 3) }"#, &[1]),
            (r#"{ .a = 1 || .b = 2 }"#, &[]),
            (r#"{ !(.a = 1) }"#, &[]),
            (r#"{ .a != nil }"#, &[]),
            (r#"{ .a + 1 = 2 }"#, &[]),
            (r#"{ .a = 1 } || { .b = 2 }"#, &[]),
            (r#"{ .a = 1 } >> { .b = 2 }"#, &[]),
            (r#"{ .a = 1 } !> { .b = 2 }"#, &[]),
            (
                r#"{ event.a = 1 && event:name = "e" && link:traceID = "1" }"#,
                &[],
            ),
            (
                r#"{ statusMessage = "m" && instrumentation.a = 1 && parent.a = 1 }"#,
                &[],
            ),
            (r#"{ }"#, &[]),
            (r#"{ true }"#, &[]),
            (r#"{ } | rate()"#, &[]),
        ];
        for (query, want) in cases {
            assert_eq!(shape(query), *want, "{query}");
        }
        assert!(TracesPrefilter::default().is_empty());
        assert!(!TracesPrefilter::from_query(&parse(r#"{ name = "x" }"#).unwrap()).is_empty());
    }
}
