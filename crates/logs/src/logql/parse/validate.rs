//! Loki's semantic checks on a parsed tree, with Loki's messages, in Loki's order (a node's
//! own checks, then its children left to right).

use regex::Regex;
use sextant_model::Matcher;

use super::literal::format_float;
use super::ParseError;
use crate::logql::ast::{
    BinaryExpr, Expr, LabelFilter, RangeAggregation, RangeOp, SampleExpr, Stage, VectorAggregation,
    VectorOp,
};

const AT_LEAST_ONE_MATCHER: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// How deeply the tree nests: sample expressions, and label filters inside pipelines.
pub(super) fn depth(expr: &Expr) -> usize {
    match expr {
        Expr::Log(log) => pipeline_depth(&log.pipeline),
        Expr::Sample(sample) => sample_depth(sample),
    }
}

fn sample_depth(expr: &SampleExpr) -> usize {
    1 + match expr {
        SampleExpr::Range(range) => {
            let post = range.range.unwrap.iter().flat_map(|u| &u.post_filters);
            let post = post.map(filter_depth).max().unwrap_or(0);
            post.max(pipeline_depth(&range.range.log.pipeline))
        }
        SampleExpr::Vector(vector) => sample_depth(&vector.expr),
        SampleExpr::Binary(binary) => sample_depth(&binary.lhs).max(sample_depth(&binary.rhs)),
        SampleExpr::Literal(_) | SampleExpr::VectorLiteral(_) => 0,
        SampleExpr::LabelReplace(replace) => sample_depth(&replace.expr),
    }
}

fn pipeline_depth(stages: &[Stage]) -> usize {
    let filters = stages.iter().filter_map(|stage| match stage {
        Stage::LabelFilter(filter) => Some(filter_depth(filter)),
        _ => None,
    });
    filters.max().unwrap_or(0)
}

fn filter_depth(filter: &LabelFilter) -> usize {
    1 + match filter {
        LabelFilter::And(l, r) | LabelFilter::Or(l, r) => filter_depth(l).max(filter_depth(r)),
        _ => 0,
    }
}

pub(super) fn validate(expr: &Expr) -> Result<(), ParseError> {
    match expr {
        Expr::Log(log) => validate_matchers(&log.matchers),
        Expr::Sample(sample) => validate_sample(sample),
    }
}

fn validate_sample(expr: &SampleExpr) -> Result<(), ParseError> {
    match expr {
        SampleExpr::Range(range) => {
            validate_range(range)?;
            validate_matchers(&range.range.log.matchers)
        }
        SampleExpr::Vector(vector) => {
            validate_vector(vector)?;
            validate_sample(&vector.expr)
        }
        SampleExpr::Binary(binary) => {
            validate_binary(binary)?;
            validate_sample(&binary.lhs)?;
            validate_sample(&binary.rhs)
        }
        SampleExpr::Literal(_) | SampleExpr::VectorLiteral(_) => Ok(()),
        SampleExpr::LabelReplace(replace) => {
            Regex::new(&format!("^(?:{})$", replace.regex)).map_err(|e| {
                ParseError::semantic(format!("invalid regex in label_replace: {e}"))
            })?;
            validate_sample(&replace.expr)
        }
    }
}

/// A selector must have a matcher that rejects the empty value, or it would match every
/// stream.
fn validate_matchers(matchers: &[Matcher]) -> Result<(), ParseError> {
    if matchers.iter().any(|m| !m.matches_empty()) {
        Ok(())
    } else {
        Err(ParseError::semantic(AT_LEAST_ONE_MATCHER))
    }
}

fn validate_range(range: &RangeAggregation) -> Result<(), ParseError> {
    let op = range.op;
    match (op, range.param) {
        (RangeOp::QuantileOverTime, None) => {
            return Err(ParseError::semantic(format!(
                "parameter required for operation {op}"
            )))
        }
        (RangeOp::QuantileOverTime, Some(_)) | (_, None) => {}
        (_, Some(param)) => {
            return Err(ParseError::semantic(format!(
                "parameter {} not supported for operation {op}",
                format_float(param)
            )))
        }
    }
    use RangeOp::*;
    if range.grouping.is_some()
        && !matches!(
            op,
            AvgOverTime
                | StddevOverTime
                | StdvarOverTime
                | QuantileOverTime
                | MaxOverTime
                | MinOverTime
                | FirstOverTime
                | LastOverTime
        )
    {
        return Err(ParseError::semantic(format!(
            "grouping not allowed for {op} aggregation"
        )));
    }
    let valid = if range.range.unwrap.is_some() {
        !matches!(op, CountOverTime | BytesOverTime | BytesRate)
    } else {
        matches!(
            op,
            BytesOverTime | BytesRate | CountOverTime | Rate | AbsentOverTime
        )
    };
    if !valid {
        let with = if range.range.unwrap.is_some() {
            "with"
        } else {
            "without"
        };
        return Err(ParseError::semantic(format!(
            "invalid aggregation {op} {with} unwrap"
        )));
    }
    Ok(())
}

fn validate_vector(vector: &VectorAggregation) -> Result<(), ParseError> {
    let op = vector.op;
    let takes_k = matches!(
        op,
        VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk
    );
    match vector.param {
        None if takes_k => Err(ParseError::semantic(format!(
            "parameter required for operation {op}"
        ))),
        Some(k) if takes_k && k.fract() != 0.0 => Err(ParseError::semantic(format!(
            "invalid parameter {op}({},",
            format_float(k)
        ))),
        Some(k) if takes_k && k <= 0.0 => Err(ParseError::semantic(format!(
            "invalid parameter (must be greater than 0) {op}({}",
            format_float(k)
        ))),
        Some(k) if !takes_k => Err(ParseError::semantic(format!(
            "unsupported parameter for operation {op}({},",
            format_float(k)
        ))),
        _ if op == VectorOp::ApproxTopk && vector.grouping.is_some() => Err(ParseError::semantic(
            format!("grouping not allowed for {op} aggregation"),
        )),
        _ if matches!(op, VectorOp::Sort | VectorOp::SortDesc)
            && vector
                .grouping
                .as_ref()
                .is_some_and(|g| !g.labels.is_empty()) =>
        {
            Err(ParseError::semantic(
                "sort and sort_desc doesn't allow grouping by ",
            ))
        }
        _ => Ok(()),
    }
}

/// Set operators need vectors on both sides.
fn validate_binary(binary: &BinaryExpr) -> Result<(), ParseError> {
    use crate::logql::ast::BinaryOp::{And, Or, Unless};
    if !matches!(binary.op, And | Or | Unless) {
        return Ok(());
    }
    for (side, leg) in [("left", &binary.lhs), ("right", &binary.rhs)] {
        if let SampleExpr::Literal(value) = leg {
            return Err(ParseError::semantic(format!(
                "unexpected literal for {side} leg of logical/set binary operation ({}): {value:.6}",
                binary.op
            )));
        }
    }
    Ok(())
}
