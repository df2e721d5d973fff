//! Signal-free process plumbing shared by every Sextant component. Nothing here knows about
//! metrics, logs or traces.
//!
//! - [`config`]: command-line flags and YAML loading (defaults < file < flags, errors name the
//!   YAML path), `-print.config` rendering. Precedence tests in `config/precedence_test.rs`.
//! - [`service`]: the [`Service`](service::Service) lifecycle trait, the module table that
//!   resolves targets into a start order, and the manager that starts and stops services.
//! - [`http`]: operational endpoints (`/ready`, `/metrics`, `/services`, `/config`), readiness
//!   flags and a graceful `serve`.
//! - [`error`]: [`ApiError`](error::ApiError) and the one mapping of error kinds onto HTTP
//!   statuses and gRPC codes.
//! - [`tenant`]: the tenant of a request (`X-Scope-OrgID`).
//! - [`overrides`]: per-tenant limits from the runtime overrides file, reloaded periodically.
//! - [`logging`]: the tracing subscriber.
//!
//! Errors: [`config::ConfigError`] (config, overrides, logging) and
//! [`service::ServiceError`] (module graph, lifecycle). Tests: `cargo test -p sextant-kit`.

pub mod config;
pub mod error;
pub mod http;
pub mod logging;
pub mod overrides;
pub mod service;
pub mod tenant;

pub use error::ApiError;
