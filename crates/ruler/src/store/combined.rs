//! Local rule files and stored rule groups together. A namespace that has a local file hides
//! the stored namespace of the same name (even while the file is broken, so a typo never
//! resurrects stale rules) and is read-only through the API.

use std::sync::Arc;

use futures::future::BoxFuture;
use sextant_model::{Signal, TenantId};

use super::{LocalRuleStore, RuleNamespaces, RuleStore};
use crate::error::RulerError;
use crate::rule_file::RuleGroupDesc;

/// A [`LocalRuleStore`] over a writable store (usually an [`super::ObjectRuleStore`]).
#[derive(Clone)]
pub struct CombinedRuleStore {
    local: LocalRuleStore,
    remote: Arc<dyn RuleStore>,
}

impl CombinedRuleStore {
    pub fn new(local: LocalRuleStore, remote: Arc<dyn RuleStore>) -> Self {
        CombinedRuleStore { local, remote }
    }

    async fn is_local(
        &self,
        signal: Signal,
        tenant: &TenantId,
        namespace: &str,
    ) -> Result<bool, RulerError> {
        let local = self.local.namespaces(signal, tenant).await?;
        Ok(local.iter().any(|ns| ns == namespace))
    }

    /// Refuses a change to a local namespace.
    async fn check_writable(
        &self,
        signal: Signal,
        tenant: &TenantId,
        namespace: &str,
    ) -> Result<(), RulerError> {
        if self.is_local(signal, tenant, namespace).await? {
            return Err(RulerError::ReadOnly {
                namespace: namespace.to_string(),
            });
        }
        Ok(())
    }

    async fn list_tenants(&self, signal: Signal) -> Result<Vec<TenantId>, RulerError> {
        let mut tenants = self.remote.list_tenants(signal).await?;
        tenants.extend(self.local.list_tenants(signal).await?);
        tenants.sort();
        tenants.dedup();
        Ok(tenants)
    }

    async fn list_groups(
        &self,
        signal: Signal,
        tenant: &TenantId,
    ) -> Result<RuleNamespaces, RulerError> {
        let mut out = self.remote.list_groups(signal, tenant).await?;
        for namespace in self.local.namespaces(signal, tenant).await? {
            out.remove(&namespace);
        }
        out.extend(self.local.list_groups(signal, tenant).await?);
        Ok(out)
    }

    async fn get_group(
        &self,
        signal: Signal,
        tenant: &TenantId,
        namespace: &str,
        group: &str,
    ) -> Result<RuleGroupDesc, RulerError> {
        if self.is_local(signal, tenant, namespace).await? {
            return self.local.get_group(signal, tenant, namespace, group).await;
        }
        self.remote
            .get_group(signal, tenant, namespace, group)
            .await
    }
}

impl RuleStore for CombinedRuleStore {
    fn list_tenants(&self, signal: Signal) -> BoxFuture<'_, Result<Vec<TenantId>, RulerError>> {
        Box::pin(self.list_tenants(signal))
    }

    fn list_groups<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<RuleNamespaces, RulerError>> {
        Box::pin(self.list_groups(signal, tenant))
    }

    fn get_group<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<RuleGroupDesc, RulerError>> {
        Box::pin(self.get_group(signal, tenant, namespace, group))
    }

    fn put_group<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
        group: &'a RuleGroupDesc,
    ) -> BoxFuture<'a, Result<(), RulerError>> {
        Box::pin(async move {
            self.check_writable(signal, tenant, namespace).await?;
            self.remote
                .put_group(signal, tenant, namespace, group)
                .await
        })
    }

    fn delete_group<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<(), RulerError>> {
        Box::pin(async move {
            self.check_writable(signal, tenant, namespace).await?;
            self.remote
                .delete_group(signal, tenant, namespace, group)
                .await
        })
    }

    fn delete_namespace<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<(), RulerError>> {
        Box::pin(async move {
            self.check_writable(signal, tenant, namespace).await?;
            self.remote
                .delete_namespace(signal, tenant, namespace)
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::super::ObjectRuleStore;
    use super::*;

    fn group(name: &str, expr: &str) -> RuleGroupDesc {
        serde_yaml::from_str(&format!(
            "name: {name}\nrules:\n  - record: r\n    expr: {expr:?}\n"
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn local_namespaces_win_and_are_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let tenant_dir = dir.path().join("metrics/a");
        std::fs::create_dir_all(&tenant_dir).unwrap();
        let file = "groups:\n  - name: local\n    rules:\n      - record: r\n        expr: up\n";
        std::fs::write(tenant_dir.join("shared.yaml"), file).unwrap();
        let remote = Arc::new(ObjectRuleStore::new(Arc::new(InMemory::new())));
        let (m, a, b) = (
            Signal::Metrics,
            TenantId::parse("a").unwrap(),
            TenantId::parse("b").unwrap(),
        );
        remote
            .put_group(m, &a, "shared", &group("stale", "up"))
            .await
            .unwrap();
        remote
            .put_group(m, &b, "api", &group("g", "up"))
            .await
            .unwrap();
        let store = CombinedRuleStore::new(LocalRuleStore::new(dir.path()), remote);

        assert_eq!(store.list_tenants(m).await.unwrap(), [a.clone(), b.clone()]);
        let listed = store.list_groups(m, &a).await.unwrap();
        assert_eq!(listed["shared"].len(), 1);
        assert_eq!(listed["shared"][0].name, "local");
        let stale = store.get_group(m, &a, "shared", "stale").await;
        assert!(matches!(stale, Err(RulerError::GroupNotFound)), "{stale:?}");

        let err = store
            .put_group(m, &a, "shared", &group("x", "up"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        let err = store.delete_namespace(m, &a, "shared").await.unwrap_err();
        assert!(matches!(err, RulerError::ReadOnly { .. }), "{err}");

        // other namespaces go to the object store
        store
            .put_group(m, &a, "api", &group("g", "up"))
            .await
            .unwrap();
        assert_eq!(store.get_group(m, &a, "api", "g").await.unwrap().name, "g");
        store.delete_group(m, &a, "api", "g").await.unwrap();
        assert_eq!(store.list_groups(m, &b).await.unwrap()["api"].len(), 1);
    }
}
