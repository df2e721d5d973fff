//! Object storage for Sextant: which store to build from config, where objects live, and the
//! wrappers that add behaviour around `Arc<dyn ObjectStore>`.
//!
//! - [`config`]: `StorageConfig` (the `storage` block) and [`object_store`] that builds the store.
//! - [`keys`]: the ONE place that computes object keys (`<signal>/<tenant>/<block>/<file>`).
//! - [`instrumented`]: `InstrumentedStore`, counting operations, failures, bytes and latency.
//! - [`error`]: `StorageError`, mapped onto `sextant_model::ErrorKind`.
//!
//! Tests run against `object_store::memory::InMemory` and a temp dir: `cargo test -p sextant-storage`;
//! the S3 backend against a real `s3s-fs` server in `tests/tests/s3_e2e.rs` (`make e2e`).

pub mod config;
pub mod error;
pub mod instrumented;
pub mod keys;

pub use config::{object_store, Backend, FilesystemConfig, S3Config, StorageConfig};
pub use error::StorageError;
pub use instrumented::InstrumentedStore;
