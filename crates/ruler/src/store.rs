//! Where rule groups live: [`RuleStore`], with three implementations.
//!
//! - [`ObjectRuleStore`] (`store/object.rs`): object storage, one YAML object per group at
//!   `rules/<tenant>/<namespace>/<group>` (`rules-logs/...` for logs), read and written by the
//!   rules API.
//! - [`LocalRuleStore`] (`store/local.rs`): a directory of rule files for GitOps,
//!   `<dir>/<signal>/<tenant>/<namespace>.yaml`, re-read when a file changes; read-only.
//! - [`CombinedRuleStore`] (`store/combined.rs`): both; a local namespace hides a stored one of
//!   the same name and cannot be changed through the API.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use sextant_model::{Signal, TenantId};

use crate::error::RulerError;
use crate::rule_file::RuleGroupDesc;

mod combined;
mod local;
mod object;

pub use combined::CombinedRuleStore;
pub use local::LocalRuleStore;
pub use object::ObjectRuleStore;

/// A tenant's rule groups of one signal: namespace → groups (in file order for local files,
/// by name for stored groups).
pub type RuleNamespaces = BTreeMap<String, Vec<RuleGroupDesc>>;

/// Storage of rule groups per signal, tenant, namespace and group name. Every method sees one
/// tenant only: there is no way to reach another tenant's groups through a tenant's call.
pub trait RuleStore: Send + Sync {
    /// The tenants that have at least one rule group for `signal`.
    fn list_tenants(&self, signal: Signal) -> BoxFuture<'_, Result<Vec<TenantId>, RulerError>>;

    /// All rule groups of `tenant` for `signal`, by namespace (empty when none).
    fn list_groups<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<RuleNamespaces, RulerError>>;

    /// One group; [`RulerError::GroupNotFound`] when absent.
    fn get_group<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<RuleGroupDesc, RulerError>>;

    /// Creates or replaces the group named `group.name` in `namespace`. The caller validates
    /// the group first ([`crate::validate`]).
    fn put_group<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
        group: &'a RuleGroupDesc,
    ) -> BoxFuture<'a, Result<(), RulerError>>;

    /// Deletes one group; [`RulerError::GroupNotFound`] when absent.
    fn delete_group<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<(), RulerError>>;

    /// Deletes every group of a namespace; [`RulerError::NamespaceNotFound`] when it has none.
    fn delete_namespace<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<(), RulerError>>;
}
