//! Per-tenant databases of one signal under `<wal_dir>/<signal>/<tenant>/`, opened (and
//! replayed) on first use or at start, at most once each; the logs and the traces ingesters
//! keep their tenants here.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use sextant_model::TenantId;
use tokio::sync::Mutex as AsyncMutex;
use tonic::Status;

/// Every open tenant's database `D`.
pub(crate) struct TenantHeads<D> {
    /// `<wal_dir>/<signal>`: one directory per tenant.
    dir: PathBuf,
    signal: &'static str,
    tenants: RwLock<HashMap<TenantId, Arc<D>>>,
    /// Serialises opening tenants, so a WAL is never opened twice.
    opening: AsyncMutex<()>,
}

impl<D: Send + Sync + 'static> TenantHeads<D> {
    pub(crate) fn new(wal_dir: &Path, signal: &'static str) -> Self {
        TenantHeads {
            dir: wal_dir.join(signal),
            signal,
            tenants: RwLock::new(HashMap::new()),
            opening: AsyncMutex::new(()),
        }
    }

    /// The tenant's database when it is open.
    pub(crate) fn get(&self, tenant: &TenantId) -> Option<Arc<D>> {
        self.tenants.read().get(tenant).cloned()
    }

    /// Every open tenant's database.
    pub(crate) fn all(&self) -> Vec<(TenantId, Arc<D>)> {
        self.tenants
            .read()
            .iter()
            .map(|(t, db)| (t.clone(), db.clone()))
            .collect()
    }

    /// The tenant's database, opened with `open(<its directory>)` on the blocking pool when
    /// it is not open yet.
    pub(crate) async fn open<E: Display + Send + 'static>(
        &self,
        tenant: &TenantId,
        open: impl FnOnce(PathBuf) -> Result<D, E> + Send + 'static,
    ) -> Result<Arc<D>, Status> {
        if let Some(db) = self.get(tenant) {
            return Ok(db);
        }
        let _opening = self.opening.lock().await;
        if let Some(db) = self.get(tenant) {
            return Ok(db);
        }
        let dir = self.dir.join(tenant.as_str());
        let signal = self.signal;
        let db = tokio::task::spawn_blocking(move || open(dir))
            .await
            .map_err(|e| Status::internal(format!("{signal} open task failed: {e}")))?
            .map_err(|e| Status::internal(format!("cannot open the tenant's {signal} WAL: {e}")))?;
        let db = Arc::new(db);
        self.tenants.write().insert(tenant.clone(), db.clone());
        Ok(db)
    }

    /// Fsyncs every open tenant's database with `sync` on the blocking pool; failures are
    /// logged.
    pub(crate) async fn sync_all<E: Display + Send + 'static>(
        &self,
        sync: fn(&D) -> Result<(), E>,
    ) {
        let signal = self.signal;
        for (tenant, db) in self.all() {
            match tokio::task::spawn_blocking(move || sync(&db)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(%tenant, error = %e, "{signal} wal fsync failed"),
                Err(e) => tracing::error!(%tenant, error = %e, "{signal} wal fsync task failed"),
            }
        }
    }

    /// The tenants with a directory on disk, sorted (directories that are not tenant IDs are
    /// skipped with a warning).
    pub(crate) async fn tenants_on_disk(&self) -> Result<Vec<TenantId>, Status> {
        let dir = self.dir.clone();
        let signal = self.signal;
        let names = tokio::task::spawn_blocking(move || subdirectories(&dir))
            .await
            .map_err(|e| Status::internal(format!("{signal} listing task failed: {e}")))?
            .map_err(|e| Status::internal(format!("cannot list the {signal} WAL dir: {e}")))?;
        let mut tenants = Vec::new();
        for name in names {
            match TenantId::parse(&name) {
                Ok(tenant) => tenants.push(tenant),
                Err(_) => {
                    tracing::warn!(signal, dir = %name, "skipping a WAL dir that is not a tenant id")
                }
            }
        }
        Ok(tenants)
    }
}

/// The names of the directories in `dir`, sorted (none when `dir` does not exist yet).
fn subdirectories(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.extend(entry.file_name().to_str().map(str::to_string));
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tenants_are_opened_once_and_listed_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let heads: TenantHeads<PathBuf> = TenantHeads::new(dir.path(), "traces");
        assert!(heads.tenants_on_disk().await.unwrap().is_empty());
        let open = |dir: PathBuf| std::fs::create_dir_all(&dir).map(|()| dir);
        let a = TenantId::parse("a").unwrap();
        let first = heads.open(&a, open).await.unwrap();
        assert_eq!(*first, dir.path().join("traces").join("a"));
        // a second open returns the open one without calling `open`
        let again = heads
            .open(&a, |_| Err::<PathBuf, _>("must not be called"))
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let b = TenantId::parse("b").unwrap();
        let failed = heads.open(&b, |_| Err::<PathBuf, _>("disk full"));
        let status = failed.await.unwrap_err();
        assert!(status.message().contains("disk full"), "{status:?}");
        std::fs::create_dir_all(dir.path().join("traces").join("not a tenant/")).unwrap();
        std::fs::write(dir.path().join("traces").join("file"), b"x").unwrap();
        let on_disk = heads.tenants_on_disk().await.unwrap();
        assert_eq!(on_disk, std::slice::from_ref(&a));
        assert_eq!(heads.all().len(), 1);
        assert!(heads.get(&a).is_some());
    }
}
