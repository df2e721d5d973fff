//! Rule groups from a local directory (GitOps, e.g. a mounted ConfigMap):
//! `<dir>/<signal>/<tenant>/<namespace>.yaml` (or `.yml`), each a rule file with `groups:`.
//! Read-only. Files are re-read when their modification time or size changes, so every
//! listing sees the directory as it is; a file that does not parse or validate is logged once
//! per change and skipped, the others still load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use sextant_model::{Signal, TenantId};

use super::{RuleNamespaces, RuleStore};
use crate::error::RulerError;
use crate::rule_file::{RuleGroupDesc, RuleGroupsFile};
use crate::validate::validate_namespace;

/// One parsed file, kept while its modification time and size stay the same.
#[derive(Debug, Clone)]
struct CachedFile {
    modified: Option<SystemTime>,
    len: u64,
    /// `None`: the file is broken (already logged).
    groups: Option<Vec<RuleGroupDesc>>,
}

/// Read-only rule groups from a directory of rule files.
#[derive(Debug, Clone)]
pub struct LocalRuleStore {
    dir: PathBuf,
    cache: Arc<Mutex<HashMap<PathBuf, CachedFile>>>,
}

impl LocalRuleStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalRuleStore {
            dir: dir.into(),
            cache: Arc::default(),
        }
    }

    /// The namespaces of `tenant` that come from a file here, valid or not: they hide stored
    /// namespaces of the same name and cannot be written through the API.
    pub async fn namespaces(
        &self,
        signal: Signal,
        tenant: &TenantId,
    ) -> Result<Vec<String>, RulerError> {
        let tenant_dir = self.tenant_dir(signal, tenant);
        run_blocking(move || {
            Ok(rule_files(&tenant_dir)?
                .into_iter()
                .map(|(ns, _)| ns)
                .collect())
        })
        .await
    }

    fn signal_dir(&self, signal: Signal) -> PathBuf {
        self.dir.join(signal.as_str())
    }

    fn tenant_dir(&self, signal: Signal, tenant: &TenantId) -> PathBuf {
        self.signal_dir(signal).join(tenant.as_str())
    }

    async fn list_groups(
        &self,
        signal: Signal,
        tenant: &TenantId,
    ) -> Result<RuleNamespaces, RulerError> {
        let tenant_dir = self.tenant_dir(signal, tenant);
        let cache = Arc::clone(&self.cache);
        run_blocking(move || load_tenant(&tenant_dir, signal, &cache)).await
    }

    async fn list_tenants(&self, signal: Signal) -> Result<Vec<TenantId>, RulerError> {
        let signal_dir = self.signal_dir(signal);
        let cache = Arc::clone(&self.cache);
        run_blocking(move || {
            let mut tenants = Vec::new();
            for (name, path) in sub_dirs(&signal_dir)? {
                let Ok(tenant) = TenantId::parse(&name) else {
                    tracing::warn!(dir = %path.display(), "skipping rule directory: not a valid tenant id");
                    continue;
                };
                if !load_tenant(&path, signal, &cache)?.is_empty() {
                    tenants.push(tenant);
                }
            }
            tenants.sort();
            Ok(tenants)
        })
        .await
    }

    async fn get_group(
        &self,
        signal: Signal,
        tenant: &TenantId,
        namespace: &str,
        group: &str,
    ) -> Result<RuleGroupDesc, RulerError> {
        let mut namespaces = self.list_groups(signal, tenant).await?;
        namespaces
            .remove(namespace)
            .and_then(|groups| groups.into_iter().find(|g| g.name == group))
            .ok_or(RulerError::GroupNotFound)
    }
}

/// Runs directory I/O off the async runtime.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RulerError> + Send + 'static,
) -> Result<T, RulerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RulerError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(e),
        })?
}

/// The sub-directories of `dir` as (name, path); none when `dir` does not exist.
fn sub_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, RulerError> {
    let mut out = Vec::new();
    for entry in read_dir(dir)? {
        let path = entry.path();
        if path.is_dir() {
            if let Some(name) = entry.file_name().to_str() {
                out.push((name.to_string(), path));
            }
        }
    }
    Ok(out)
}

/// The rule files of a tenant directory as (namespace, path), sorted.
fn rule_files(tenant_dir: &Path) -> Result<Vec<(String, PathBuf)>, RulerError> {
    let mut out = Vec::new();
    for entry in read_dir(tenant_dir)? {
        let path = entry.path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        let stem = path.file_stem().and_then(|s| s.to_str());
        if let (true, Some(stem), true) = (is_yaml, stem, path.is_file()) {
            out.push((stem.to_string(), path.clone()));
        }
    }
    out.sort();
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, RulerError> {
    let io_err = |source| RulerError::Io {
        path: dir.to_path_buf(),
        source,
    };
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err(e)),
        Ok(entries) => entries.collect::<Result<_, _>>().map_err(io_err),
    }
}

/// The valid namespaces of one tenant directory, re-reading files that changed and forgetting
/// files that are gone.
fn load_tenant(
    tenant_dir: &Path,
    signal: Signal,
    cache: &Mutex<HashMap<PathBuf, CachedFile>>,
) -> Result<RuleNamespaces, RulerError> {
    let files = rule_files(tenant_dir)?;
    let mut out = RuleNamespaces::new();
    let mut cache = cache.lock();
    cache.retain(|path, _| !path.starts_with(tenant_dir) || files.iter().any(|(_, p)| p == path));
    for (namespace, path) in files {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue; // removed since the listing
        };
        let (modified, len) = (meta.modified().ok(), meta.len());
        let fresh = cache
            .get(&path)
            .is_some_and(|c| c.modified == modified && c.len == len);
        if !fresh {
            let groups = load_file(&path, signal, &namespace);
            let entry = CachedFile {
                modified,
                len,
                groups,
            };
            cache.insert(path.clone(), entry);
        }
        if let Some(groups) = cache.get(&path).and_then(|c| c.groups.clone()) {
            out.insert(namespace, groups);
        }
    }
    Ok(out)
}

/// Reads, parses and validates one rule file; `None` (logged) when it is broken.
fn load_file(path: &Path, signal: Signal, namespace: &str) -> Option<Vec<RuleGroupDesc>> {
    let parsed = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            serde_yaml::from_slice::<RuleGroupsFile>(&bytes).map_err(|e| e.to_string())
        })
        .and_then(|file| {
            validate_namespace(signal, &file.groups)
                .map(|()| file.groups)
                .map_err(|e| e.to_string())
        });
    match parsed {
        Ok(groups) => {
            tracing::info!(file = %path.display(), namespace, groups = groups.len(), "loaded rule file");
            Some(groups)
        }
        Err(error) => {
            tracing::warn!(file = %path.display(), namespace, %error, "skipping broken rule file");
            None
        }
    }
}

fn read_only(namespace: &str) -> RulerError {
    RulerError::ReadOnly {
        namespace: namespace.to_string(),
    }
}

impl RuleStore for LocalRuleStore {
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
        _signal: Signal,
        _tenant: &'a TenantId,
        namespace: &'a str,
        _group: &'a RuleGroupDesc,
    ) -> BoxFuture<'a, Result<(), RulerError>> {
        Box::pin(async move { Err(read_only(namespace)) })
    }

    fn delete_group<'a>(
        &'a self,
        _signal: Signal,
        _tenant: &'a TenantId,
        namespace: &'a str,
        _group: &'a str,
    ) -> BoxFuture<'a, Result<(), RulerError>> {
        Box::pin(async move { Err(read_only(namespace)) })
    }

    fn delete_namespace<'a>(
        &'a self,
        _signal: Signal,
        _tenant: &'a TenantId,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<(), RulerError>> {
        Box::pin(async move { Err(read_only(namespace)) })
    }
}

#[cfg(test)]
mod tests;
