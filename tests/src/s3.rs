//! A real S3 server for tests: `s3s-fs` (a filesystem-backed S3 implementation, installed by
//! `tests/setup-e2e.sh`) on a free loopback port with a fixed access key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use tempfile::TempDir;

use crate::ports::free_loopback_addr;
use crate::wait_for;

pub const ACCESS_KEY: &str = "sextant-e2e";
pub const SECRET_KEY: &str = "sextant-e2e-secret";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// `$S3S_FS_BIN`, else `s3s-fs` on `PATH`, else `~/.cargo/bin/s3s-fs`.
pub fn s3s_fs_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("S3S_FS_BIN") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("s3s-fs"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let in_cargo_home = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cargo/bin/s3s-fs"))
        .into_iter();
    on_path
        .into_iter()
        .chain(in_cargo_home)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!(
                "no s3s-fs binary: run tests/setup-e2e.sh \
                 (cargo install s3s-fs@0.14.1 --locked --features binary) or set S3S_FS_BIN"
            )
        })
}

/// An `s3s-fs` server on a free loopback port, serving `<root>/<bucket>` directories as
/// buckets; killed on drop.
pub struct S3sFs {
    child: Child,
    addr: SocketAddr,
    _root: TempDir,
}

impl S3sFs {
    pub async fn start(bucket: &str) -> Result<Self> {
        let bin = s3s_fs_binary()?;
        let root = tempfile::tempdir()?;
        std::fs::create_dir(root.path().join(bucket))?;
        let addr = free_loopback_addr();
        let child = Command::new(&bin)
            .args(["--host", &addr.ip().to_string()])
            .args(["--port", &addr.port().to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let server = S3sFs {
            child,
            addr,
            _root: root,
        };
        wait_for(STARTUP_TIMEOUT, "s3s-fs to accept connections", || async {
            Ok(tokio::net::TcpStream::connect(addr).await.ok().map(drop))
        })
        .await?;
        Ok(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The directory holding one sub-directory per bucket (objects are plain files there).
    pub fn root(&self) -> &Path {
        self._root.path()
    }

    /// The `-storage.*` flags that point a `sextant` process at `bucket` on this server.
    pub fn storage_flags(&self, bucket: &str) -> Vec<String> {
        vec![
            "-storage.backend=s3".to_string(),
            format!("-storage.s3.endpoint={}", self.endpoint()),
            format!("-storage.s3.bucket={bucket}"),
            format!("-storage.s3.access-key-id={ACCESS_KEY}"),
            format!("-storage.s3.secret-access-key={SECRET_KEY}"),
            "-storage.s3.path-style=true".to_string(),
            "-storage.s3.allow-http=true".to_string(),
        ]
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
