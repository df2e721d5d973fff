//! The `storage` config block and the store it describes.

mod s3;

use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};

pub use self::s3::S3Config;
use crate::StorageError;

/// Which object store holds blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A directory on local disk (single node, or a shared volume).
    #[default]
    Filesystem,
    /// In process memory: tests and throwaway runs; lost on exit.
    Memory,
    /// An S3-compatible bucket (`storage.s3`).
    S3,
}

/// The `storage` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: Backend,
    pub filesystem: FilesystemConfig,
    pub s3: S3Config,
}

/// `storage.filesystem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesystemConfig {
    /// Root directory of all objects; created when missing.
    pub dir: String,
}

impl Default for FilesystemConfig {
    fn default() -> Self {
        FilesystemConfig {
            dir: "./data/blocks".to_string(),
        }
    }
}

/// Builds the store described by `config`.
pub fn object_store(config: &StorageConfig) -> Result<Arc<dyn ObjectStore>, StorageError> {
    match config.backend {
        Backend::Memory => Ok(Arc::new(InMemory::new())),
        Backend::Filesystem => {
            let dir = PathBuf::from(&config.filesystem.dir);
            std::fs::create_dir_all(&dir).map_err(|source| StorageError::CreateDir {
                dir: dir.clone(),
                source,
            })?;
            Ok(Arc::new(LocalFileSystem::new_with_prefix(&dir)?))
        }
        Backend::S3 => Ok(Arc::new(config.s3.build()?)),
    }
}

#[cfg(test)]
mod tests {
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    #[test]
    fn config_yaml() {
        let c: StorageConfig = serde_yaml::from_str("backend: memory\n").unwrap();
        assert_eq!(c.backend, Backend::Memory);
        assert_eq!(c.filesystem.dir, "./data/blocks");
        assert!(serde_yaml::from_str::<StorageConfig>("backend: s4\n").is_err());
        assert!(serde_yaml::from_str::<StorageConfig>("filesystem: {directory: x}\n").is_err());
    }

    #[tokio::test]
    async fn filesystem_store_creates_its_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/blocks");
        let config = StorageConfig {
            backend: Backend::Filesystem,
            filesystem: FilesystemConfig {
                dir: dir.display().to_string(),
            },
            ..StorageConfig::default()
        };
        let store = object_store(&config).unwrap();
        let key = object_store::path::Path::from("metrics/t/b/meta.json");
        store
            .put(&key, PutPayload::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(dir.join("metrics/t/b/meta.json")).unwrap(),
            b"{}"
        );
    }

    #[test]
    fn filesystem_dir_that_is_a_file_fails() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let config = StorageConfig {
            backend: Backend::Filesystem,
            filesystem: FilesystemConfig {
                dir: file.path().display().to_string(),
            },
            ..StorageConfig::default()
        };
        assert!(matches!(
            object_store(&config),
            Err(StorageError::CreateDir { .. })
        ));
    }
}
