//! Lifecycle of long-running components and the module graph that builds them.
//!
//! - [`Service`]: start (returns when ready), stop (flush, leave rings).
//! - [`module`]: the table of modules and target aliases, resolved into a start order.
//! - [`manager`]: starts services in order, stops them in reverse, tracks their states.

pub mod manager;
pub mod module;

use std::fmt;

use futures::future::BoxFuture;
use sextant_model::ErrorKind;

pub use manager::{ServiceManager, ServiceStates};
pub use module::{Module, ModuleTable};

/// Any error a service returns from start or stop.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A long-running component. Object safe: implementations return boxed futures,
/// e.g. `fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> { Box::pin(async move { .. }) }`.
pub trait Service: Send + Sync {
    /// A short name shown on `/services`, usually the module name.
    fn name(&self) -> &str;

    /// Starts the service; the future completes once it is ready to serve. Background work is
    /// spawned by the service itself and runs until `stop`.
    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>>;

    /// Stops background work, flushes and leaves rings. Called once, after a successful start.
    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>>;
}

/// Where a service is in its life, as shown on `/services`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceState {
    New,
    Starting,
    Running,
    Stopping,
    Terminated,
    Failed,
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceState::New => "New",
            ServiceState::Starting => "Starting",
            ServiceState::Running => "Running",
            ServiceState::Stopping => "Stopping",
            ServiceState::Terminated => "Terminated",
            ServiceState::Failed => "Failed",
        })
    }
}

/// Errors of the module graph and of service lifecycles.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("unknown target {0:?}")]
    UnknownTarget(String),
    #[error("module {module:?} depends on unknown module {dep:?}")]
    UnknownDependency {
        module: &'static str,
        dep: &'static str,
    },
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<&'static str>),
    #[error("starting service {service}: {source}")]
    Start { service: String, source: BoxError },
    #[error("stopping service {service}: {source}")]
    Stop { service: String, source: BoxError },
    #[error("stopping service {service}: timed out after {timeout:?}")]
    StopTimeout {
        service: String,
        timeout: std::time::Duration,
    },
}

impl ServiceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::UnknownTarget(_) => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        }
    }
}
