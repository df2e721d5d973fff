//! Functions over label sets: `label_replace`, `label_join`, `sort_by_label(_desc)`.

use std::cell::RefCell;
use std::cmp::Ordering;

use regex::Regex;
use sextant_model::METRIC_NAME;

use crate::promql::value::{EvalError, Vector};

use super::{first_vector, str_arg, with_label, FnArg};

/// Prometheus's UTF-8 label name rule: any non-empty valid UTF-8 text. Invalid bytes written
/// as `\xNN` escapes reach here as U+FFFD (see `parse/escapes.rs`).
fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('\u{fffd}')
}

thread_local! {
    /// The last `label_replace` pattern: it is compiled once per query, not once per step.
    static LAST_REGEX: RefCell<Option<(String, Regex)>> = const { RefCell::new(None) };
}

/// The anchored, dot-matches-newline regex of `label_replace`.
fn compile_anchored(pattern: &str) -> Result<Regex, EvalError> {
    LAST_REGEX.with(|cache| {
        if let Some((p, re)) = cache.borrow().as_ref() {
            if p == pattern {
                return Ok(re.clone());
            }
        }
        let re = Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
            EvalError::Execution(format!(
                "invalid regular expression in label_replace(): {pattern}"
            ))
        })?;
        *cache.borrow_mut() = Some((pattern.to_string(), re.clone()));
        Ok(re)
    })
}

/// `label_replace(v, dst, replacement, src, regex)`.
pub(super) fn label_replace(args: Vec<FnArg>) -> Result<Vector, EvalError> {
    let (dst, repl, src, pattern) = (
        str_arg(&args, 1).to_string(),
        str_arg(&args, 2).to_string(),
        str_arg(&args, 3).to_string(),
        str_arg(&args, 4).to_string(),
    );
    let re = compile_anchored(&pattern)?;
    if !is_valid_label_name(&dst) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut v = first_vector(args);
    for s in &mut v {
        let src_val = s.metric.get(&src).unwrap_or("");
        let Some(caps) = re.captures(src_val) else {
            continue;
        };
        let mut res = String::new();
        caps.expand(&repl, &mut res);
        s.metric = with_label(&s.metric, &dst, &res);
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    Ok(v)
}

/// `label_join(v, dst, separator, src...)`.
pub(super) fn label_join(args: Vec<FnArg>) -> Result<Vector, EvalError> {
    let dst = str_arg(&args, 1).to_string();
    let sep = str_arg(&args, 2).to_string();
    let srcs: Vec<String> = (3..args.len())
        .map(|i| str_arg(&args, i).to_string())
        .collect();
    if let Some(bad) = srcs.iter().find(|s| !is_valid_label_name(s)) {
        return Err(EvalError::Execution(format!(
            "invalid source label name in label_join(): {bad}"
        )));
    }
    if !is_valid_label_name(&dst) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut v = first_vector(args);
    for s in &mut v {
        let joined = srcs
            .iter()
            .map(|l| s.metric.get(l).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&sep);
        s.metric = with_label(&s.metric, &dst, &joined);
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    Ok(v)
}

/// `sort_by_label(v, label...)`: natural order of the given labels' values, then the whole
/// label set; `_desc` reverses both.
pub(super) fn sort_by_label(args: Vec<FnArg>, descending: bool) -> Vector {
    let labels: Vec<String> = (1..args.len())
        .map(|i| str_arg(&args, i).to_string())
        .collect();
    let mut v = first_vector(args);
    v.sort_by(|a, b| {
        let ord = labels
            .iter()
            .map(|l| {
                let (x, y) = (a.metric.get(l).unwrap_or(""), b.metric.get(l).unwrap_or(""));
                if x == y {
                    Ordering::Equal
                } else if natural_less(x, y) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.metric.cmp(&b.metric));
        if descending {
            ord.reverse()
        } else {
            ord
        }
    });
    v
}

/// Splits into runs of ASCII digits and runs of everything else.
fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut digit = None;
    for (i, c) in s.char_indices() {
        let d = c.is_ascii_digit();
        if digit.is_some_and(|prev| prev != d) {
            out.push(&s[start..i]);
            start = i;
        }
        digit = Some(d);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Natural order (`facette/natsort.Compare`): digit runs compare as integers.
fn natural_less(a: &str, b: &str) -> bool {
    let (ca, cb) = (chunks(a), chunks(b));
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else {
            return false;
        };
        let equal = match (x.parse::<i64>(), y.parse::<i64>()) {
            (Ok(xi), Ok(yi)) if xi != yi => return xi < yi,
            (Ok(_), Ok(_)) => true,
            _ if x == y => true,
            _ => return x < y,
        };
        if equal {
            if i == ca.len() - 1 {
                return true;
            }
            if i == cb.len() - 1 {
                return false;
            }
        }
    }
    false
}

#[cfg(test)]
#[path = "labels_tests.rs"]
mod tests;
