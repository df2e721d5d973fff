//! Sextant's domain vocabulary, shared by every other crate. No I/O, no async, no internal
//! dependencies.
//!
//! - [`tenant`]: tenant ids and the default tenant.
//! - [`signal`]: metrics, logs, traces.
//! - [`labels`]: label sets and the name rules of Prometheus.
//! - [`matcher`]: label matchers (`=`, `!=`, `=~`, `!~`).
//! - [`time`]: millisecond timestamps and ranges.
//! - [`limits`]: per-tenant limits (the runtime overrides file holds these).
//! - [`error`]: the closed set of error kinds every crate maps its errors onto.

pub mod duration;
pub mod error;
pub mod labels;
pub mod limits;
pub mod matcher;
pub mod signal;
pub mod tenant;
pub mod time;

pub use error::ErrorKind;
pub use labels::{Label, Labels, METRIC_NAME};
pub use limits::TenantLimits;
pub use matcher::{MatchOp, Matcher};
pub use signal::Signal;
pub use tenant::TenantId;
pub use time::TimeRange;
