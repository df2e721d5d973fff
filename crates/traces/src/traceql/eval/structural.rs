//! Structural operators between spansets, over the span tree.

use super::index::TraceIndex;
use crate::traceql::SpansetOp;

/// The relation behind a structural operator: `rel(a, b)` holds when `b` is a child
/// (parent, descendant, ancestor, sibling) of `a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Child,
    Parent,
    Descendant,
    Ancestor,
    Sibling,
}

impl Relation {
    /// `rel(a, b) == inverse.rel(b, a)`.
    fn inverse(self) -> Relation {
        match self {
            Relation::Child => Relation::Parent,
            Relation::Parent => Relation::Child,
            Relation::Descendant => Relation::Ancestor,
            Relation::Ancestor => Relation::Descendant,
            Relation::Sibling => Relation::Sibling,
        }
    }
}

/// How an operator uses its relation.
enum Mode {
    /// Right-hand spans related to a left-hand span (`>`).
    Plain,
    /// Right-hand spans related to no left-hand span (`!>`).
    Not,
    /// Both sides' spans taking part in the relation (`&>`).
    Union,
}

fn classify(op: SpansetOp) -> Option<(Relation, Mode)> {
    use SpansetOp as O;
    Some(match op {
        O::Child => (Relation::Child, Mode::Plain),
        O::Parent => (Relation::Parent, Mode::Plain),
        O::Descendant => (Relation::Descendant, Mode::Plain),
        O::Ancestor => (Relation::Ancestor, Mode::Plain),
        O::Sibling => (Relation::Sibling, Mode::Plain),
        O::NotChild => (Relation::Child, Mode::Not),
        O::NotParent => (Relation::Parent, Mode::Not),
        O::NotDescendant => (Relation::Descendant, Mode::Not),
        O::NotAncestor => (Relation::Ancestor, Mode::Not),
        O::NotSibling => (Relation::Sibling, Mode::Not),
        O::UnionChild => (Relation::Child, Mode::Union),
        O::UnionParent => (Relation::Parent, Mode::Union),
        O::UnionDescendant => (Relation::Descendant, Mode::Union),
        O::UnionAncestor => (Relation::Ancestor, Mode::Union),
        O::UnionSibling => (Relation::Sibling, Mode::Union),
        O::And | O::Union => return None,
    })
}

/// Applies a structural operator to the left and right spans (masks over the trace's
/// spans); `None` for `&&` and `||`, which are not structural.
pub(super) fn apply(
    index: &TraceIndex<'_>,
    op: SpansetOp,
    lhs: &[bool],
    rhs: &[bool],
) -> Option<Vec<bool>> {
    let (relation, mode) = classify(op)?;
    let forward = related(index, relation, lhs);
    let result = match mode {
        Mode::Plain => and(rhs, &forward),
        Mode::Not => rhs.iter().zip(&forward).map(|(&r, &x)| r && !x).collect(),
        Mode::Union => {
            let back = related(index, relation.inverse(), rhs);
            let left = and(lhs, &back);
            and(rhs, &forward)
                .iter()
                .zip(&left)
                .map(|(&a, &b)| a || b)
                .collect()
        }
    };
    Some(result)
}

fn and(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(&x, &y)| x && y).collect()
}

/// For every span `b`: whether some span `a` of `from` has `rel(a, b)`.
fn related(index: &TraceIndex<'_>, relation: Relation, from: &[bool]) -> Vec<bool> {
    let spans = &index.spans;
    let n = spans.len();
    match relation {
        Relation::Child => (0..n)
            .map(|b| spans[b].parent.is_some_and(|p| from[p]))
            .collect(),
        Relation::Parent => (0..n)
            .map(|b| spans[b].children.iter().any(|&c| from[c]))
            .collect(),
        Relation::Descendant => (0..n)
            .map(|b| index.ancestors(b).any(|a| from[a]))
            .collect(),
        Relation::Ancestor => {
            let mut out = vec![false; n];
            for a in (0..n).filter(|&a| from[a]) {
                let mut current = spans[a].parent;
                // Stop where an earlier walk already went (also ends parent-ID cycles).
                while let Some(p) = current.filter(|&p| !out[p]) {
                    out[p] = true;
                    current = spans[p].parent;
                }
            }
            out
        }
        Relation::Sibling => {
            let mut per_parent = vec![0usize; n];
            for a in (0..n).filter(|&a| from[a]) {
                if let Some(p) = spans[a].parent {
                    per_parent[p] += 1;
                }
            }
            (0..n)
                .map(|b| {
                    spans[b]
                        .parent
                        .is_some_and(|p| per_parent[p] > usize::from(from[b]))
                })
                .collect()
        }
    }
}
