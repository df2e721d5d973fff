//! The errors of the ingester's block shipping (metrics, logs and traces).

use sextant_logs::db::LogsDbError;
use sextant_metrics::block::BlockError;
use sextant_metrics::db::DbError;
use sextant_model::ErrorKind;
use sextant_storage::StorageError;
use sextant_traces::block::TracesBlockError;
use sextant_traces::db::TracesDbError;

#[derive(Debug, thiserror::Error)]
pub enum IngesterError {
    #[error("cutting a block for tenant {tenant}: {source}")]
    Cut {
        tenant: String,
        #[source]
        source: BlockError,
    },
    #[error("uploading block {block_id} of tenant {tenant}: {source}")]
    Upload {
        tenant: String,
        block_id: String,
        #[source]
        source: StorageError,
    },
    #[error("truncating the head of tenant {tenant}: {source}")]
    Truncate {
        tenant: String,
        #[source]
        source: DbError,
    },
    #[error("{operation} for the logs of tenant {tenant}: {source}")]
    LogsDb {
        tenant: String,
        operation: &'static str,
        #[source]
        source: LogsDbError,
    },
    #[error("{operation} for the traces of tenant {tenant}: {source}")]
    TracesDb {
        tenant: String,
        operation: &'static str,
        #[source]
        source: TracesDbError,
    },
    #[error("writing a traces block for tenant {tenant}: {source}")]
    TracesBlock {
        tenant: String,
        #[source]
        source: TracesBlockError,
    },
    #[error("updating the {signal} bucket index of tenant {tenant}: {source}")]
    BucketIndex {
        tenant: String,
        signal: &'static str,
        #[source]
        source: StorageError,
    },
    #[error("background task failed: {0}")]
    Task(String),
}

impl IngesterError {
    /// Storage being down is retried on the next tick: unavailable; the rest are internal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IngesterError::Upload { .. } | IngesterError::BucketIndex { .. } => {
                ErrorKind::Unavailable
            }
            IngesterError::Cut { .. }
            | IngesterError::Truncate { .. }
            | IngesterError::LogsDb { .. }
            | IngesterError::TracesDb { .. }
            | IngesterError::TracesBlock { .. }
            | IngesterError::Task(_) => ErrorKind::Internal,
        }
    }
}
