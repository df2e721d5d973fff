//! The errors of this crate.

use std::path::PathBuf;

use sextant_model::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("creating storage directory {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config: {0}")]
    Config(String),
    #[error("reading storage.s3.secret_access_key_file {path}: {source}")]
    ReadSecret {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt object: {0}")]
    Corrupt(String),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
}

impl StorageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StorageError::ObjectStore(object_store::Error::NotFound { .. }) => ErrorKind::NotFound,
            _ => ErrorKind::Internal,
        }
    }
}
