//! Rule groups in object storage: one YAML object per group (keys in `sextant_storage::keys`).

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sextant_model::{Signal, TenantId};
use sextant_storage::keys;

use super::{RuleNamespaces, RuleStore};
use crate::error::RulerError;
use crate::rule_file::RuleGroupDesc;

/// How many group objects are fetched at once when listing a tenant's groups.
const GET_CONCURRENCY: usize = 16;

/// Rule groups stored in an object store (the rules API writes here).
#[derive(Debug, Clone)]
pub struct ObjectRuleStore {
    bucket: Arc<dyn ObjectStore>,
}

impl ObjectRuleStore {
    pub fn new(bucket: Arc<dyn ObjectStore>) -> Self {
        ObjectRuleStore { bucket }
    }

    async fn list_tenants(&self, signal: Signal) -> Result<Vec<TenantId>, RulerError> {
        let listing = self
            .bucket
            .list_with_delimiter(Some(&keys::rules_root(signal)))
            .await?;
        let mut tenants: Vec<TenantId> = listing
            .common_prefixes
            .iter()
            .filter_map(last_part)
            .filter_map(|name| TenantId::parse(&name).ok())
            .collect();
        tenants.sort();
        Ok(tenants)
    }

    async fn list_groups(
        &self,
        signal: Signal,
        tenant: &TenantId,
    ) -> Result<RuleNamespaces, RulerError> {
        let prefix = keys::rules_tenant_prefix(signal, tenant);
        let objects: Vec<_> = self.bucket.list(Some(&prefix)).try_collect().await?;
        let keyed: Vec<(String, Path)> = objects
            .into_iter()
            .filter_map(|meta| {
                let namespace = namespace_of(&prefix_parts(&meta.location, &prefix)?)?;
                Some((namespace, meta.location))
            })
            .collect();
        let fetched: Vec<(String, RuleGroupDesc)> = futures::stream::iter(keyed)
            .map(|(namespace, key)| async move {
                let group = self.read_group(&key).await?;
                Ok::<_, RulerError>((namespace, group))
            })
            .buffered(GET_CONCURRENCY)
            .try_collect()
            .await?;
        let mut out = RuleNamespaces::new();
        for (namespace, group) in fetched {
            out.entry(namespace).or_default().push(group);
        }
        for groups in out.values_mut() {
            groups.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(out)
    }

    async fn read_group(&self, key: &Path) -> Result<RuleGroupDesc, RulerError> {
        let bytes = self.bucket.get(key).await?.bytes().await?;
        serde_yaml::from_slice(&bytes).map_err(|e| RulerError::Corrupt {
            key: key.to_string(),
            message: e.to_string(),
        })
    }

    async fn get_group(
        &self,
        signal: Signal,
        tenant: &TenantId,
        namespace: &str,
        group: &str,
    ) -> Result<RuleGroupDesc, RulerError> {
        let key = keys::rule_group_key(signal, tenant, namespace, group);
        match self.read_group(&key).await {
            Err(RulerError::ObjectStore(object_store::Error::NotFound { .. })) => {
                Err(RulerError::GroupNotFound)
            }
            other => other,
        }
    }

    async fn put_group(
        &self,
        signal: Signal,
        tenant: &TenantId,
        namespace: &str,
        group: &RuleGroupDesc,
    ) -> Result<(), RulerError> {
        let key = keys::rule_group_key(signal, tenant, namespace, &group.name);
        let yaml = serde_yaml::to_string(group).map_err(|e| RulerError::BadYaml(e.to_string()))?;
        self.bucket.put(&key, PutPayload::from(yaml)).await?;
        tracing::debug!(%signal, %tenant, namespace, group = %group.name, "stored rule group");
        Ok(())
    }

    async fn delete_group(
        &self,
        signal: Signal,
        tenant: &TenantId,
        namespace: &str,
        group: &str,
    ) -> Result<(), RulerError> {
        let key = keys::rule_group_key(signal, tenant, namespace, group);
        // Some stores (S3) report success for a missing key: look first.
        match self.bucket.head(&key).await {
            Err(object_store::Error::NotFound { .. }) => return Err(RulerError::GroupNotFound),
            other => other?,
        };
        match self.bucket.delete(&key).await {
            Err(object_store::Error::NotFound { .. }) => Err(RulerError::GroupNotFound),
            other => Ok(other?),
        }
    }

    async fn delete_namespace(
        &self,
        signal: Signal,
        tenant: &TenantId,
        namespace: &str,
    ) -> Result<(), RulerError> {
        let prefix = keys::rules_namespace_prefix(signal, tenant, namespace);
        let objects: Vec<_> = self.bucket.list(Some(&prefix)).try_collect().await?;
        if objects.is_empty() {
            return Err(RulerError::NamespaceNotFound);
        }
        for meta in objects {
            match self.bucket.delete(&meta.location).await {
                Err(object_store::Error::NotFound { .. }) | Ok(()) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// The decoded last part of a key.
fn last_part(path: &Path) -> Option<String> {
    path.parts()
        .next_back()
        .and_then(|p| keys::decode_key_part(p.as_ref()))
}

/// The raw parts of `key` below `prefix`.
fn prefix_parts(key: &Path, prefix: &Path) -> Option<Vec<String>> {
    key.prefix_match(prefix)
        .map(|rest| rest.map(|p| p.as_ref().to_string()).collect())
}

/// The namespace of a group key's parts below the tenant prefix (`[namespace, group]`); other
/// shapes are not group objects.
fn namespace_of(parts: &[String]) -> Option<String> {
    match parts {
        [namespace, _group] => keys::decode_key_part(namespace),
        _ => None,
    }
}

impl RuleStore for ObjectRuleStore {
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
        Box::pin(self.put_group(signal, tenant, namespace, group))
    }

    fn delete_group<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<(), RulerError>> {
        Box::pin(self.delete_group(signal, tenant, namespace, group))
    }

    fn delete_namespace<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<(), RulerError>> {
        Box::pin(self.delete_namespace(signal, tenant, namespace))
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    fn group(name: &str, expr: &str) -> RuleGroupDesc {
        serde_yaml::from_str(&format!(
            "name: {name:?}\nrules:\n  - record: r\n    expr: {expr:?}\n"
        ))
        .unwrap()
    }

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[tokio::test]
    async fn put_get_list_delete() {
        let store = ObjectRuleStore::new(Arc::new(InMemory::new()));
        let (a, b) = (tenant("a"), tenant("b"));
        let m = Signal::Metrics;
        store
            .put_group(m, &a, "ns1", &group("g2", "up"))
            .await
            .unwrap();
        store
            .put_group(m, &a, "ns1", &group("g1", "up"))
            .await
            .unwrap();
        store
            .put_group(m, &a, "a/b", &group("x/y", "up"))
            .await
            .unwrap();
        store
            .put_group(m, &b, "ns1", &group("g1", "down"))
            .await
            .unwrap();
        store
            .put_group(Signal::Logs, &b, "l", &group("g", "x"))
            .await
            .unwrap();

        assert_eq!(
            store.list_tenants(m).await.unwrap(),
            vec![a.clone(), b.clone()]
        );
        assert_eq!(
            store.list_tenants(Signal::Logs).await.unwrap(),
            vec![b.clone()]
        );
        let listed = store.list_groups(m, &a).await.unwrap();
        let names: Vec<(&str, Vec<&str>)> = listed
            .iter()
            .map(|(ns, gs)| (ns.as_str(), gs.iter().map(|g| g.name.as_str()).collect()))
            .collect();
        assert_eq!(names, [("a/b", vec!["x/y"]), ("ns1", vec!["g1", "g2"])]);
        // tenant b's group of the same name is its own
        let got = store.get_group(m, &b, "ns1", "g1").await.unwrap();
        assert_eq!(got.rules[0].expr, "down");
        assert!(store
            .list_groups(Signal::Logs, &a)
            .await
            .unwrap()
            .is_empty());

        store.delete_group(m, &a, "ns1", "g2").await.unwrap();
        let missing = store.delete_group(m, &a, "ns1", "g2").await;
        assert!(
            matches!(missing, Err(RulerError::GroupNotFound)),
            "{missing:?}"
        );
        let missing = store.get_group(m, &a, "ns1", "g2").await;
        assert!(
            matches!(missing, Err(RulerError::GroupNotFound)),
            "{missing:?}"
        );

        store.delete_namespace(m, &a, "ns1").await.unwrap();
        let missing = store.delete_namespace(m, &a, "ns1").await;
        assert!(
            matches!(missing, Err(RulerError::NamespaceNotFound)),
            "{missing:?}"
        );
        let left = store.list_groups(m, &a).await.unwrap();
        assert_eq!(left.keys().collect::<Vec<_>>(), ["a/b"]);
        assert_eq!(store.list_groups(m, &b).await.unwrap()["ns1"].len(), 1);
    }

    /// The filesystem backend (the default) keeps escaped names apart and gives them back.
    #[tokio::test]
    async fn odd_names_round_trip_on_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let store = ObjectRuleStore::new(Arc::new(fs));
        let (m, a) = (Signal::Metrics, tenant("a"));
        let names = [("a/b", "x/y"), ("50%", "g 1"), ("..", "."), ("ns", "é|*?")];
        for (namespace, name) in names {
            store
                .put_group(m, &a, namespace, &group(name, "up"))
                .await
                .unwrap();
        }
        let listed = store.list_groups(m, &a).await.unwrap();
        for (namespace, name) in names {
            assert_eq!(listed[namespace][0].name, name, "{namespace}");
            let got = store.get_group(m, &a, namespace, name).await.unwrap();
            assert_eq!(got.name, name);
        }
        assert_eq!(store.list_tenants(m).await.unwrap(), vec![a.clone()]);
        store.delete_namespace(m, &a, "a/b").await.unwrap();
        assert_eq!(store.list_groups(m, &a).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn corrupt_object_is_an_error_naming_the_key() {
        let bucket = Arc::new(InMemory::new());
        let key = keys::rule_group_key(Signal::Metrics, &tenant("a"), "ns", "g");
        bucket.put(&key, PutPayload::from("name: [")).await.unwrap();
        let store = ObjectRuleStore::new(bucket);
        let err = store
            .list_groups(Signal::Metrics, &tenant("a"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("rules/a/ns/g"), "{err}");
    }
}
