//! Wire <-> model conversions.

use sextant_model::{MatchOp, Matcher};

use crate::prometheus::{label_matcher, LabelMatcher};

/// Converts a model matcher to its wire form.
pub fn matcher_to_wire(m: &Matcher) -> LabelMatcher {
    let r#type = match m.op {
        MatchOp::Equal => label_matcher::Type::Eq,
        MatchOp::NotEqual => label_matcher::Type::Neq,
        MatchOp::RegexMatch => label_matcher::Type::Re,
        MatchOp::RegexNoMatch => label_matcher::Type::Nre,
    };
    LabelMatcher {
        r#type: r#type as i32,
        name: m.name.clone(),
        value: m.value.clone(),
    }
}

/// Converts a wire matcher to the model, compiling its regex.
pub fn matcher_from_wire(
    m: &LabelMatcher,
) -> Result<Matcher, sextant_model::matcher::MatcherError> {
    let op = match label_matcher::Type::try_from(m.r#type).unwrap_or(label_matcher::Type::Eq) {
        label_matcher::Type::Eq => MatchOp::Equal,
        label_matcher::Type::Neq => MatchOp::NotEqual,
        label_matcher::Type::Re => MatchOp::RegexMatch,
        label_matcher::Type::Nre => MatchOp::RegexNoMatch,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_roundtrip() {
        for op in [
            MatchOp::Equal,
            MatchOp::NotEqual,
            MatchOp::RegexMatch,
            MatchOp::RegexNoMatch,
        ] {
            let m = Matcher::new(op, "job", "a.*").unwrap();
            assert_eq!(matcher_from_wire(&matcher_to_wire(&m)).unwrap(), m);
        }
    }
}
