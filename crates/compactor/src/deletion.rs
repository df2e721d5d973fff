//! Deletions on request: whole tenants (all signals, Mimir's API) and log entries by
//! selector and time range (Loki's API), applied by compactor passes and reported, not
//! silently queued.
//!
//! - `tenant`: [`mark_tenant_for_deletion`], [`tenant_deletion_status`],
//!   [`tenant_marked_for_deletion`] and the pass [`delete_marked_tenants`].
//! - `requests`: stored [`LogDeletionRequest`]s and the pass [`process_log_deletions`].
//! - `api`: [`deletion_router`] with `POST /compactor/delete_tenant`,
//!   `GET /compactor/delete_tenant_status` and `POST|GET|DELETE /loki/api/v1/delete`.
//!
//! Tests: `cargo test -p sextant-compactor deletion::` (in-memory bucket, real logs blocks,
//! the router through `oneshot`).

mod api;
mod requests;
mod tenant;

#[cfg(test)]
mod tests;

pub use api::{deletion_router, CompactorDeletionState};
pub use requests::{
    delete_log_deletion_request, list_log_deletion_requests, list_log_deletion_tenants,
    process_log_deletions, put_log_deletion_request, validate_deletion_query, LogDeletionOutcome,
    LogDeletionRequest, LogDeletionStatus, DEFAULT_DELETE_REQUEST_CANCEL_PERIOD,
};
pub use tenant::{
    delete_marked_tenants, mark_tenant_for_deletion, tenant_deletion_status,
    tenant_marked_for_deletion, TenantDeletionOutcome, TenantDeletionStatus,
};
