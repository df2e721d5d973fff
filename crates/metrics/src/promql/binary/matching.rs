//! Vector matching: `on`/`ignoring`, `group_left`/`group_right`, fill modifiers, and the
//! set operators (Prometheus's `VectorBinop`, `resultMetric`, `VectorAnd/Or/Unless`).

use hashbrown::{HashMap, HashSet};
use promql_parser::parser::token::{TokenType, T_LAND, T_LOR};
use promql_parser::parser::{BinModifier, LabelModifier, VectorMatchCardinality};
use sextant_model::Labels;

use super::super::value::{EvalError, Sample, Vector};
use super::labels::{
    drop_metadata, filtered, hash_all, is_metadata_label, match_labels, prometheus_string,
    set_label, signature,
};
use super::{changes_metric_schema, elem, StepCtx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
}

/// The matching rules of one binary expression.
pub(super) struct Matching<'a> {
    pub card: Card,
    /// `on(...)` (true) or `ignoring(...)` (false, also the default).
    pub on: bool,
    pub names: &'a [String],
    /// Labels copied from the "one" side (`group_left(...)`/`group_right(...)`).
    pub include: &'a [String],
    pub fill_lhs: Option<f64>,
    pub fill_rhs: Option<f64>,
}

impl<'a> Matching<'a> {
    pub(super) fn new(modifier: Option<&'a BinModifier>) -> Self {
        let mut m = Matching {
            card: Card::OneToOne,
            on: false,
            names: &[],
            include: &[],
            fill_lhs: None,
            fill_rhs: None,
        };
        let Some(modifier) = modifier else { return m };
        match &modifier.matching {
            Some(LabelModifier::Include(ls)) => (m.on, m.names) = (true, &ls.labels),
            Some(LabelModifier::Exclude(ls)) => m.names = &ls.labels,
            None => {}
        }
        match &modifier.card {
            VectorMatchCardinality::ManyToOne(ls) => {
                (m.card, m.include) = (Card::ManyToOne, &ls.labels)
            }
            VectorMatchCardinality::OneToMany(ls) => {
                (m.card, m.include) = (Card::OneToMany, &ls.labels)
            }
            VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany => {}
        }
        m.fill_lhs = modifier.fill_values.lhs;
        m.fill_rhs = modifier.fill_values.rhs;
        m
    }

    fn signature(&self, labels: &Labels) -> u64 {
        signature(labels, self.on, self.names)
    }
}

/// `and`, `or`, `unless`: elements pass through unchanged.
pub(super) fn set_operation(op: TokenType, lhs: Vector, rhs: Vector, m: &Matching<'_>) -> Vector {
    match op.id() {
        T_LAND => {
            if lhs.is_empty() || rhs.is_empty() {
                return Vec::new();
            }
            let right: HashSet<u64> = rhs.iter().map(|s| m.signature(&s.metric)).collect();
            lhs.into_iter()
                .filter(|s| right.contains(&m.signature(&s.metric)))
                .collect()
        }
        T_LOR => {
            if lhs.is_empty() || rhs.is_empty() {
                return if lhs.is_empty() { rhs } else { lhs };
            }
            let left: HashSet<u64> = lhs.iter().map(|s| m.signature(&s.metric)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|s| !left.contains(&m.signature(&s.metric))),
            );
            out
        }
        _ => {
            if lhs.is_empty() || rhs.is_empty() {
                return lhs;
            }
            let right: HashSet<u64> = rhs.iter().map(|s| m.signature(&s.metric)).collect();
            lhs.into_iter()
                .filter(|s| !right.contains(&m.signature(&s.metric)))
                .collect()
        }
    }
}

/// State of one `vector_binop` call.
struct Binop<'a, 'c, 'm> {
    op: TokenType,
    m: &'m Matching<'a>,
    return_bool: bool,
    ctx: &'m mut StepCtx<'c>,
    /// Matched signatures; for many-to-one, the result label hashes seen per signature.
    matched: HashMap<u64, HashSet<u64>>,
    out: Vector,
}

/// Arithmetic and comparisons between two vectors.
pub(super) fn vector_binop(
    op: TokenType,
    lhs: Vector,
    rhs: Vector,
    m: &Matching<'_>,
    return_bool: bool,
    ctx: &mut StepCtx<'_>,
) -> Result<Vector, EvalError> {
    let no_fill = m.fill_lhs.is_none() && m.fill_rhs.is_none();
    if (lhs.is_empty() && rhs.is_empty()) || ((lhs.is_empty() || rhs.is_empty()) && no_fill) {
        return Ok(Vec::new());
    }
    // The code below handles one-to-one and many-to-one; one-to-many swaps the sides.
    let (lhs, rhs) = if m.card == Card::OneToMany {
        (rhs, lhs)
    } else {
        (lhs, rhs)
    };
    let right = index_one_side(&rhs, m)?;
    let mut b = Binop {
        op,
        m,
        return_bool,
        ctx,
        matched: HashMap::with_capacity(right.len()),
        out: Vector::with_capacity(lhs.len()),
    };
    for ls in &lhs {
        let sig = m.signature(&ls.metric);
        match (right.get(&sig), m.fill_rhs) {
            (Some(&j), _) => b.apply(ls, &rhs[j], sig)?,
            (None, Some(fill)) => b.apply(ls, &fill_sample(&ls.metric, fill, m), sig)?,
            (None, None) => {}
        }
    }
    if let Some(fill) = m.fill_lhs {
        for rs in &rhs {
            let sig = m.signature(&rs.metric);
            if !b.matched.contains_key(&sig) {
                b.apply(&fill_sample(&rs.metric, fill, m), rs, sig)?;
            }
        }
    }
    Ok(b.out)
}

/// The "one" side by signature; duplicates there make the matching many-to-many.
fn index_one_side(rhs: &Vector, m: &Matching<'_>) -> Result<HashMap<u64, usize>, EvalError> {
    let mut right: HashMap<u64, usize> = HashMap::with_capacity(rhs.len());
    for (i, rs) in rhs.iter().enumerate() {
        let sig = m.signature(&rs.metric);
        if let Some(&j) = right.get(&sig) {
            return Err(duplicate_error(&rs.metric, &rhs[j].metric, m));
        }
        right.insert(sig, i);
    }
    Ok(right)
}

fn duplicate_error(a: &Labels, b: &Labels, m: &Matching<'_>) -> EvalError {
    let side = if m.card == Card::OneToMany {
        "left"
    } else {
        "right"
    };
    let group = prometheus_string(&match_labels(a, m.on, m.names));
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    EvalError::Execution(format!(
        "found duplicate series for the match group {group} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
        prometheus_string(first),
        prometheus_string(second)
    ))
}

fn fill_sample(metric: &Labels, f: f64, m: &Matching<'_>) -> Sample {
    Sample {
        metric: match_labels(metric, m.on, m.names),
        t: 0,
        f,
        h: None,
        drop_name: false,
    }
}

impl Binop<'_, '_, '_> {
    /// Applies the operator to a matched pair (`ls` from the "many" side).
    fn apply(&mut self, ls: &Sample, rs: &Sample, sig: u64) -> Result<(), EvalError> {
        let swapped = self.m.card == Card::OneToMany;
        let (l, r) = if swapped { (rs, ls) } else { (ls, rs) };
        let r = match elem::elem_binop(self.op, l.f, r.f, l.h.as_deref(), r.h.as_deref()) {
            Ok(r) => r,
            Err(anno) => {
                anno.add_to(self.ctx.annotations);
                return Ok(());
            }
        };
        if let Some(note) = r.note {
            note.add_to(self.ctx.annotations);
        }
        let (mut f, mut h) = (r.f, r.h);
        if self.return_bool {
            h = None;
            f = if r.keep { 1.0 } else { 0.0 };
        }
        let mut metric = result_metric(&ls.metric, &rs.metric, self.op, self.m);
        if !self.ctx.delayed_name_removal && self.return_bool {
            metric = drop_metadata(metric);
        }
        self.record_match(sig, &metric)?;
        if !r.keep && !self.return_bool {
            return Ok(());
        }
        self.out.push(Sample {
            metric,
            t: self.ctx.ts,
            f,
            h,
            drop_name: self.return_bool,
        });
        Ok(())
    }

    fn record_match(&mut self, sig: u64, metric: &Labels) -> Result<(), EvalError> {
        if self.m.card == Card::OneToOne {
            if self.matched.insert(sig, HashSet::new()).is_some() {
                return Err(EvalError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            return Ok(());
        }
        if !self
            .matched
            .entry(sig)
            .or_default()
            .insert(hash_all(metric))
        {
            return Err(EvalError::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        Ok(())
    }
}

/// The labels of a result element (Prometheus's `resultMetric`).
fn result_metric(lhs: &Labels, rhs: &Labels, op: TokenType, m: &Matching<'_>) -> Labels {
    let drop_metadata = changes_metric_schema(op);
    let one_to_one = m.card == Card::OneToOne;
    let mut metric = filtered(lhs, |l| {
        let listed = m.names.contains(&l.name);
        !(drop_metadata && is_metadata_label(&l.name)) && (!one_to_one || listed == m.on)
    });
    for name in m.include {
        metric = set_label(metric, name, rhs.get(name).unwrap_or(""));
    }
    metric
}
