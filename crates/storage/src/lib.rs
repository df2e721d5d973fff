//! Object storage for Sextant: which store to build from config, where objects live, and the
//! wrappers that add behaviour around `Arc<dyn ObjectStore>`.
//!
//! - [`config`]: `StorageConfig` (the `storage` block) and [`object_store`] that builds the store.
//! - [`bucket_index`]: the per-tenant `bucket-index.json` (read, update, list blocks/tenants).
//! - [`block_id`]: sortable block ids (ULIDs).
//! - [`deletion_requests`]: stored log deletion requests and [`list_log_deletion_requests`]
//!   (written and applied by the compactor, read by queriers to filter at query time).
//! - [`keys`]: the ONE place that computes object keys (`<signal>/<tenant>/<block>/<file>`).
//! - [`instrumented`]: `InstrumentedStore`, counting operations, failures, bytes and latency.
//! - [`error`]: `StorageError`, mapped onto `sextant_model::ErrorKind`.
//!
//! Tests run against `object_store::memory::InMemory` and a temp dir: `cargo test -p sextant-storage`;
//! the S3 backend against a real `s3s-fs` server in `tests/tests/s3_e2e.rs` (`make e2e`).

pub mod block_id;
pub mod bucket_index;
pub mod config;
pub mod deletion_requests;
pub mod error;
pub mod instrumented;
pub mod keys;

pub use block_id::new_block_id;
pub use bucket_index::{
    delete_block, list_blocks, list_partial_blocks, list_tenants, mark_block_for_deletion,
    read_bucket_index, update_bucket_index, BucketBlock, BucketDeletionMark, BucketIndex,
};
pub use config::{object_store, Backend, FilesystemConfig, S3Config, StorageConfig};
pub use deletion_requests::{list_log_deletion_requests, LogDeletionRequest, LogDeletionStatus};
pub use error::StorageError;
pub use instrumented::InstrumentedStore;
