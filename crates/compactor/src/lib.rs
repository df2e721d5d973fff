//! The compactor: per tenant and signal, merges the blocks ingesters uploaded (three copies at
//! RF=3) into larger ones without replica duplicates, applies retention and deletion requests,
//! downsamples old metrics blocks, and keeps the bucket index. Compactors share the work
//! through the `compactor-<signal>` ring.
//!
//! Modules:
//! - [`config`]: `CompactorConfig`, the `compactor:` block.
//! - [`deletion`]: tenant deletion and Loki's log deletion requests: passes and HTTP API.
//! - [`error`]: `CompactorError`, mapped onto `ErrorKind`.
//! - [`signals`]: `SignalCompaction`, each signal's block files and engine merge.
//! - [`runner`]: one job against the bucket (download, merge off the runtime, upload, mark), the
//!   block I/O helpers other passes reuse, and the cleanup pass.
//! - [`sharding`]: which compactor owns a job or a tenant (`compactor-<signal>` rings).
//! - [`service`]: `Compactor::run_once`, `CompactorService` (the timer) and `/compactor/ring`.
//! - [`instrumentation`]: `sextant_compactor_*` metrics.
//! - [`planner`]: pure planning of one tenant's merges (vertical, horizontal, redundant blocks).
//! - [`retention`]: per-tenant, per-signal (and per-stream) retention: plan, mark, rewrite.
//! - [`downsample`]: 5m/1h copies of old metrics blocks (rules in its doc), after the jobs.
//! - [`passes`]: the standard passes (`Compactor::with_standard_passes`) and the order of a
//!   run; `passes/tests.rs` tests them end to end through `run_once`.

// `CompactorError::Storage` carries a `StorageError` (an `object_store::Error`) with its context:
// errors are rare and off the hot path, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod deletion;
pub mod downsample;
pub mod error;
pub mod instrumentation;
pub mod passes;
pub mod planner;
pub mod retention;
pub mod runner;
pub mod service;
pub mod sharding;
pub mod signals;

pub use config::CompactorConfig;
