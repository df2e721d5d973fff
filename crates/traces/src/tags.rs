//! Tag autocomplete over traces held in memory (Tempo's `/api/v2/search/tags` and
//! `/api/v2/search/tag/<tag>/values`): pure functions over a [`Trace`], shared by the
//! ingester's head, the block writer and the querier.
//!
//! ```text
//! let mut names = TraceTagNames::new(TraceTagScope::parse_filter("span")?, limit);
//! names.add_trace(&trace);                     // attribute keys per scope, sorted, unique
//! let tag = TraceTag::parse("resource.service.name")?;
//! let mut values = TraceTagValues::new(limit);
//! values.add_trace(&trace, &tag, Some(&eval)); // typed values, only of the spans `eval` matches
//! ```
//!
//! Values carry Tempo's types and texts: `string`, `int`, `float` (Go's `%g`), `bool`,
//! `duration` (Go's `time.Duration` text, `1.5s`), `status` (`ok`, `error`, `unset`) and
//! `kind` (`server`, `client`, ...). Array attributes give one value per element; map and
//! bytes attributes give none.

mod values;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use sextant_model::ErrorKind;
use sextant_proto::otlp::common::v1::KeyValue;

use crate::model::Trace;

pub use values::{TraceTag, TraceTagValue, TraceTagValues};

/// Why a tag request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceTagError {
    #[error("invalid scope {0:?}: expected one of resource, span, event, link, instrumentation, intrinsic, or none")]
    Scope(String),
    #[error("invalid tag {tag:?}: {reason}")]
    Tag { tag: String, reason: String },
}

impl TraceTagError {
    /// Always the client's mistake.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

/// The scopes of attribute names (intrinsics are not collected: the API lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TraceTagScope {
    Resource,
    Span,
    Event,
    Link,
    Instrumentation,
}

impl TraceTagScope {
    /// Every scope, in the order responses list them.
    pub const ALL: [TraceTagScope; 5] = [
        TraceTagScope::Resource,
        TraceTagScope::Span,
        TraceTagScope::Event,
        TraceTagScope::Link,
        TraceTagScope::Instrumentation,
    ];

    /// The scope's name in TraceQL and in Tempo's responses.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceTagScope::Resource => "resource",
            TraceTagScope::Span => "span",
            TraceTagScope::Event => "event",
            TraceTagScope::Link => "link",
            TraceTagScope::Instrumentation => "instrumentation",
        }
    }

    /// The scopes a request's `scope` parameter asks for: empty or `all` for every scope,
    /// `intrinsic` for none (intrinsics are a fixed list), else that one scope.
    pub fn parse_filter(scope: &str) -> Result<Vec<TraceTagScope>, TraceTagError> {
        match scope {
            "" | "all" => Ok(TraceTagScope::ALL.to_vec()),
            "intrinsic" => Ok(Vec::new()),
            s => TraceTagScope::ALL
                .into_iter()
                .find(|c| c.as_str() == s)
                .map(|c| vec![c])
                .ok_or_else(|| TraceTagError::Scope(s.to_owned())),
        }
    }
}

/// Attribute names collected from traces, per scope, up to a limit of names in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceTagNames {
    names: BTreeMap<TraceTagScope, BTreeSet<String>>,
    /// At most this many names in all (0: no limit).
    limit: usize,
    count: usize,
}

impl TraceTagNames {
    /// Collects names of the given scopes, at most `limit` in all (0: no limit).
    pub fn new(scopes: Vec<TraceTagScope>, limit: usize) -> TraceTagNames {
        TraceTagNames {
            names: scopes.into_iter().map(|s| (s, BTreeSet::new())).collect(),
            limit,
            count: 0,
        }
    }

    /// Whether the limit is reached (nothing more is added).
    pub fn is_full(&self) -> bool {
        self.limit != 0 && self.count >= self.limit
    }

    /// Adds one name of a scope (ignored when the scope was not asked for or the limit is
    /// reached).
    pub fn add(&mut self, scope: TraceTagScope, name: &str) {
        if self.is_full() {
            return;
        }
        if let Some(set) = self.names.get_mut(&scope) {
            if !set.contains(name) {
                set.insert(name.to_owned());
                self.count += 1;
            }
        }
    }

    /// Adds the attribute names of every span of a trace.
    pub fn add_trace(&mut self, trace: &Trace) {
        let mut add_all = |scope, attributes: &[KeyValue]| {
            for kv in attributes {
                self.add(scope, &kv.key);
            }
        };
        for rs in &trace.resource_spans {
            if let Some(r) = &rs.resource {
                add_all(TraceTagScope::Resource, &r.attributes);
            }
            for ss in &rs.scope_spans {
                if let Some(scope) = &ss.scope {
                    add_all(TraceTagScope::Instrumentation, &scope.attributes);
                }
                for span in &ss.spans {
                    add_all(TraceTagScope::Span, &span.attributes);
                    for e in &span.events {
                        add_all(TraceTagScope::Event, &e.attributes);
                    }
                    for l in &span.links {
                        add_all(TraceTagScope::Link, &l.attributes);
                    }
                }
            }
        }
    }

    /// The names per scope asked for, in [`TraceTagScope::ALL`] order (empty scopes
    /// included), each sorted.
    pub fn scopes(&self) -> Vec<(TraceTagScope, Vec<String>)> {
        self.names
            .iter()
            .map(|(scope, names)| (*scope, names.iter().cloned().collect()))
            .collect()
    }

    /// How many names were collected.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}
