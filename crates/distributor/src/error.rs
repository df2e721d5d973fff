//! The distributor's errors and their kinds.

use sextant_model::ErrorKind;

/// Why a push failed. The message is what the client reads.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DistributorError {
    pub kind: ErrorKind,
    /// A stable id such as `err-sextant-tenant-max-ingestion-rate`, when there is one.
    pub id: Option<&'static str>,
    pub message: String,
}

impl DistributorError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DistributorError {
            kind,
            id: None,
            message: message.into(),
        }
    }

    pub fn with_id(kind: ErrorKind, id: &'static str, message: impl Into<String>) -> Self {
        DistributorError {
            kind,
            id: Some(id),
            message: message.into(),
        }
    }
}

impl From<DistributorError> for sextant_kit::error::ApiError {
    fn from(e: DistributorError) -> Self {
        sextant_kit::error::ApiError {
            kind: e.kind,
            id: e.id,
            message: e.message,
        }
    }
}
