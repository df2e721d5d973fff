//! The errors of the ruler, mapped onto [`ErrorKind`] in one place ([`RulerError::kind`]).

use std::path::PathBuf;

use sextant_model::ErrorKind;

use crate::template::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum RulerError {
    /// A rule group or namespace failed validation; the message names the group and rule.
    #[error("{0}")]
    Invalid(String),
    /// A request body or stored object is not a rule group in YAML.
    #[error("unable to decode rule group: {0}")]
    BadYaml(String),
    /// A label or annotation template failed to parse or render.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The namespace comes from the local rule directory, which the API cannot change.
    #[error("namespace {namespace:?} is loaded from the local rule directory and is read-only: change its file instead")]
    ReadOnly { namespace: String },
    #[error("group does not exist")]
    GroupNotFound,
    #[error("group namespace does not exist")]
    NamespaceNotFound,
    #[error("no rule groups found")]
    NoRuleGroups,
    /// A stored rule group object could not be decoded.
    #[error("corrupt rule group {key}: {message}")]
    Corrupt { key: String, message: String },
    #[error("reading rule directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
}

impl RulerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RulerError::Invalid(_)
            | RulerError::BadYaml(_)
            | RulerError::Template(_)
            | RulerError::ReadOnly { .. } => ErrorKind::BadRequest,
            RulerError::GroupNotFound
            | RulerError::NamespaceNotFound
            | RulerError::NoRuleGroups => ErrorKind::NotFound,
            RulerError::Corrupt { .. } | RulerError::Io { .. } | RulerError::ObjectStore(_) => {
                ErrorKind::Internal
            }
        }
    }
}

impl From<RulerError> for sextant_kit::error::ApiError {
    fn from(err: RulerError) -> Self {
        sextant_kit::error::ApiError::new(err.kind(), err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let cases = [
            (RulerError::Invalid("x".into()), ErrorKind::BadRequest),
            (
                RulerError::ReadOnly {
                    namespace: "n".into(),
                },
                ErrorKind::BadRequest,
            ),
            (RulerError::GroupNotFound, ErrorKind::NotFound),
            (RulerError::NoRuleGroups, ErrorKind::NotFound),
            (
                RulerError::Corrupt {
                    key: "k".into(),
                    message: "m".into(),
                },
                ErrorKind::Internal,
            ),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind, "{err}");
        }
    }
}
