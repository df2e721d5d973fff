//! `CompactorError`, the one error type of this crate, mapped onto [`ErrorKind`].

use sextant_model::ErrorKind;
use sextant_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    #[error("invalid compactor config: {0}")]
    Config(String),
    #[error("{operation} ({signal} of tenant {tenant}): {source}")]
    Storage {
        operation: &'static str,
        signal: &'static str,
        tenant: String,
        #[source]
        source: StorageError,
    },
    #[error("reading the meta of {signal} block {block_id}: {reason}")]
    Meta {
        signal: &'static str,
        block_id: String,
        reason: String,
    },
    #[error("merging {signal} blocks into {block_id}: {reason}")]
    Merge {
        signal: &'static str,
        block_id: String,
        reason: String,
    },
    #[error("background task failed: {0}")]
    Task(String),
}

impl CompactorError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CompactorError::Config(_) => ErrorKind::BadRequest,
            CompactorError::Storage { source, .. } => source.kind(),
            CompactorError::Meta { .. } | CompactorError::Merge { .. } => ErrorKind::Internal,
            CompactorError::Task(_) => ErrorKind::Internal,
        }
    }
}

/// Wraps a storage failure with what was being done.
pub(crate) fn storage_error<'a>(
    operation: &'static str,
    signal: sextant_model::Signal,
    tenant: &'a sextant_model::TenantId,
) -> impl FnOnce(StorageError) -> CompactorError + 'a {
    move |source| CompactorError::Storage {
        operation,
        signal: signal.as_str(),
        tenant: tenant.to_string(),
        source,
    }
}
