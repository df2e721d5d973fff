//! topk bottomk limitk limit_ratio: up to k input elements per group pass through
//! (Prometheus's `aggregationK`).

use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use promql_parser::parser::token::{TokenType, T_BOTTOMK, T_LIMITK, T_LIMIT_RATIO, T_TOPK};

use super::super::binary::labels::{go_format_g, hash_all};
use super::super::binary::StepCtx;
use super::super::value::{EvalError, Sample, Vector};
use super::Grouping;

/// The largest float that converts to an int64 without overflow (Prometheus's `maxInt64`).
const MAX_INT64: f64 = 9_223_372_036_854_774_784.0;

/// Aggregates `input` keeping up to `param` elements (or a `param` ratio) per group. For
/// topk the result of each group is sorted descending, for bottomk ascending.
pub(super) fn aggregate_k(
    op: TokenType,
    input: Vector,
    grouping: &Grouping,
    param: f64,
    ctx: &mut StepCtx<'_>,
) -> Result<Vector, EvalError> {
    let limit = match Limit::new(op, param, input.len(), ctx)? {
        Some(limit) => limit,
        None => return Ok(Vec::new()),
    };
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut heaps: Vec<Vec<Sample>> = Vec::new();
    for s in input {
        let gi = match index.entry(grouping.key(&s.metric)) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                heaps.push(Vec::new());
                *e.insert(heaps.len() - 1)
            }
        };
        limit.offer(op, &mut heaps[gi], s, ctx);
    }
    let mut out = Vector::new();
    for mut heap in heaps {
        match op.id() {
            T_TOPK => sort_by_less(&mut heap, |a, b| top_less(b, a)),
            T_BOTTOMK => sort_by_less(&mut heap, |a, b| bottom_less(b, a)),
            _ => {}
        }
        out.extend(heap);
    }
    Ok(out)
}

/// How many elements a group keeps.
enum Limit {
    K(usize),
    Ratio(f64),
}

impl Limit {
    /// Validates the parameter; `None` means the result is empty at this step.
    fn new(
        op: TokenType,
        param: f64,
        len: usize,
        ctx: &mut StepCtx<'_>,
    ) -> Result<Option<Limit>, EvalError> {
        if op.id() == T_LIMIT_RATIO {
            if param.is_nan() {
                return Err(EvalError::Execution("Ratio value is NaN".into()));
            }
            if param == 0.0 {
                return Ok(None);
            }
            let capped = param.clamp(-1.0, 1.0);
            if capped != param {
                ctx.annotations.warn(format!(
                    "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}",
                    go_format_g(param, 6),
                    go_format_g(capped, 6)
                ));
            }
            return Ok(Some(Limit::Ratio(capped)));
        }
        if param.is_nan() {
            return Err(EvalError::Execution("Parameter value is NaN".into()));
        }
        if param < 1.0 {
            return Ok(None);
        }
        if param >= MAX_INT64 {
            return Err(EvalError::Execution(format!(
                "Scalar value {} overflows int64",
                go_format_g(param, 21)
            )));
        }
        Ok(Some(Limit::K((param as usize).min(len))))
    }

    /// Offers one input element to its group's heap.
    fn offer(&self, op: TokenType, heap: &mut Vec<Sample>, s: Sample, ctx: &mut StepCtx<'_>) {
        let k = match *self {
            Limit::K(k) => k,
            Limit::Ratio(r) => {
                if add_ratio_sample(r, &s) {
                    heap.push(s);
                    let last = heap.len() - 1;
                    up(heap, last, top_less);
                }
                return;
            }
        };
        let less: fn(&Sample, &Sample) -> bool = match op.id() {
            T_TOPK => top_less,
            T_BOTTOMK => bottom_less,
            _ => top_less,
        };
        if op.id() != T_LIMITK && s.h.is_some() {
            ctx.annotations.info(format!(
                "PromQL info: ignored histogram in {op} aggregation"
            ));
            return;
        }
        if heap.len() < k {
            heap.push(s);
            let last = heap.len() - 1;
            up(heap, last, less);
            return;
        }
        if op.id() == T_LIMITK {
            return;
        }
        // The heap root is the element to beat: the smallest for topk, largest for bottomk.
        let root = heap[0].f;
        let better = if op.id() == T_TOPK {
            root < s.f
        } else {
            root > s.f
        };
        if better || (root.is_nan() && !s.f.is_nan()) {
            heap[0] = s;
            if k > 1 {
                fix(heap, 0, less);
            }
        }
    }
}

/// Prometheus's `vectorByValueHeap.Less`: NaN is smallest.
fn top_less(a: &Sample, b: &Sample) -> bool {
    a.f.is_nan() || a.f < b.f
}

/// Prometheus's `vectorByReverseValueHeap.Less`: larger values first, NaN before all.
fn bottom_less(a: &Sample, b: &Sample) -> bool {
    a.f.is_nan() || a.f > b.f
}

/// Go's `container/heap` sift-up.
fn up(h: &mut [Sample], mut j: usize, less: fn(&Sample, &Sample) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `container/heap` sift-down; true when the element moved.
fn down(h: &mut [Sample], i0: usize, less: fn(&Sample, &Sample) -> bool) -> bool {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && less(&h[j1 + 1], &h[j1]) {
            j = j1 + 1;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

/// Go's `heap.Fix`.
fn fix(h: &mut [Sample], i: usize, less: fn(&Sample, &Sample) -> bool) {
    if !down(h, i, less) {
        up(h, i, less);
    }
}

/// Sorts with a "less" that need not be a strict order (NaN compares less both ways):
/// insertion sort, as Go's sort does for short inputs; a total order for long ones.
fn sort_by_less(v: &mut [Sample], less: impl Fn(&Sample, &Sample) -> bool) {
    if v.len() <= 12 {
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && less(&v[j], &v[j - 1]) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    v.sort_by(|a, b| match (less(a, b), less(b, a)) {
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => std::cmp::Ordering::Equal,
    });
}

/// Prometheus's `HashRatioSampler`: a deterministic offset in [0, 1) from the labels; a
/// positive ratio keeps offsets below it, a negative one offsets at or above `1 + ratio`.
fn add_ratio_sample(ratio: f64, s: &Sample) -> bool {
    let offset = hash_all(&s.metric) as f64 / u64::MAX as f64;
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}
