//! One real `sextant` process: its arguments, ports, data directory and log files.
//!
//! Modelled on influxdb3's `tests/server/mod.rs` and tempo's `integration/util/harness.go`:
//! every process gets its own loopback ports and temporary directory, readiness is polled on
//! `/ready`, and the process is killed when the handle is dropped. When a test panics the
//! data directory is kept and the tail of the logs is printed.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use crate::ports::free_loopback_addr;
use crate::ring::RingDescription;
use crate::wait::wait_for;

/// How many log lines a failure report shows per stream.
const LOG_TAIL_LINES: usize = 40;

/// The `sextant` binary under test: `$SEXTANT_BIN`, else `target/debug/sextant`, else
/// `target/release/sextant` of this workspace.
pub fn sextant_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SEXTANT_BIN") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("SEXTANT_BIN={} is not a file", path.display());
    }
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().unwrap_or(manifest_dir);
    for profile in ["debug", "release"] {
        let path = workspace.join("target").join(profile).join("sextant");
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!(
        "the sextant binary was not found in {}/target/{{debug,release}}: run \
         `cargo build -p sextant-server` first, or set SEXTANT_BIN",
        workspace.display()
    )
}

/// What to run: the target, a name for logs and the ring, peers to gossip with and any extra
/// `-flag=value` arguments (appended last, so they win over the harness's defaults).
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub name: String,
    pub target: String,
    pub join_members: Vec<SocketAddr>,
    pub flags: Vec<String>,
}

impl ProcessSpec {
    pub fn new(name: impl Into<String>, target: impl Into<String>) -> Self {
        ProcessSpec {
            name: name.into(),
            target: target.into(),
            join_members: Vec::new(),
            flags: Vec::new(),
        }
    }

    /// Gossip seeds (memberlist addresses of processes already running).
    pub fn join(mut self, members: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.join_members.extend(members);
        self
    }

    /// An extra argument such as `-limits.ingestion-rate=0`.
    pub fn flag(mut self, flag: impl Into<String>) -> Self {
        self.flags.push(flag.into());
        self
    }

    pub fn flags<S: Into<String>>(mut self, flags: impl IntoIterator<Item = S>) -> Self {
        self.flags.extend(flags.into_iter().map(Into::into));
        self
    }
}

/// The loopback addresses one process listens on.
#[derive(Debug, Clone, Copy)]
pub struct ProcessPorts {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub memberlist: SocketAddr,
    pub otlp: SocketAddr,
}

impl ProcessPorts {
    fn allocate() -> Self {
        ProcessPorts {
            http: free_loopback_addr(),
            grpc: free_loopback_addr(),
            memberlist: free_loopback_addr(),
            otlp: free_loopback_addr(),
        }
    }
}

/// The command line of a process: every listen address on its own port, every piece of state
/// under `dir`, then the spec's own flags.
pub fn process_args(spec: &ProcessSpec, ports: &ProcessPorts, dir: &Path) -> Vec<String> {
    let mut args = vec![
        format!("-target={}", spec.target),
        format!("-config.file={}", dir.join("config.yaml").display()),
        format!("-server.http-listen-address={}", ports.http),
        format!("-server.grpc-listen-address={}", ports.grpc),
        format!("-memberlist.bind-address={}", ports.memberlist),
        format!("-distributor.otlp-grpc-listen-address={}", ports.otlp),
        format!("-ingester.wal-dir={}", dir.join("wal").display()),
        format!("-ingester.lifecycler.instance-id={}", spec.name),
        format!("-ingester.lifecycler.instance-addr={}", ports.grpc),
        format!("-ingester.lifecycler.tokens-file-dir={}", dir.display()),
        format!("-storage.filesystem.dir={}", dir.join("blocks").display()),
    ];
    if !spec.join_members.is_empty() {
        let members: Vec<String> = spec.join_members.iter().map(|a| a.to_string()).collect();
        args.push(format!("-memberlist.join-members={}", members.join(",")));
    }
    args.extend(spec.flags.iter().cloned());
    args
}

/// A running (or stopped, between `kill9`/`terminate` and `restart`) `sextant` process.
pub struct SextantProcess {
    spec: ProcessSpec,
    ports: ProcessPorts,
    args: Vec<String>,
    binary: PathBuf,
    dir: Option<TempDir>,
    dir_path: PathBuf,
    child: Option<Child>,
    starts: u32,
    http: reqwest::Client,
}

impl SextantProcess {
    /// Allocates ports and a data directory, writes a minimal config file (everything else is
    /// given as flags) and starts the process. Call [`SextantProcess::wait_ready`] next.
    pub fn spawn(spec: ProcessSpec) -> Result<Self> {
        let binary = sextant_binary()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("sextant-e2e-{}-", spec.name))
            .tempdir()
            .context("create the process's data dir")?;
        let dir_path = dir.path().to_path_buf();
        std::fs::write(
            dir_path.join("config.yaml"),
            "# written by sextant-e2e; the settings are given as flags\n{}\n",
        )?;
        let ports = ProcessPorts::allocate();
        let args = process_args(&spec, &ports, &dir_path);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut process = SextantProcess {
            spec,
            ports,
            args,
            binary,
            dir: Some(dir),
            dir_path,
            child: None,
            starts: 0,
            http,
        };
        process.start()?;
        Ok(process)
    }

    fn start(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("{} is already running", self.name());
        }
        self.starts += 1;
        let stdout = self.open_log("stdout.log")?;
        let stderr = self.open_log("stderr.log")?;
        let child = Command::new(&self.binary)
            .args(&self.args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawn {} {:?}", self.binary.display(), self.args))?;
        self.child = Some(child);
        Ok(())
    }

    /// Opens a log file for appending and marks which start of the process follows.
    fn open_log(&self, file: &str) -> Result<File> {
        let path = self.dir_path.join(file);
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        writeln!(
            f,
            "==== sextant-e2e: start #{} of {} ====",
            self.starts,
            self.name()
        )?;
        Ok(f)
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn ports(&self) -> &ProcessPorts {
        &self.ports
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.ports.http
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.ports.grpc
    }

    pub fn memberlist_addr(&self) -> SocketAddr {
        self.ports.memberlist
    }

    /// The OTLP gRPC listener (`-distributor.otlp-grpc-listen-address`), served by processes
    /// that run the distributor with the logs signal.
    pub fn otlp_grpc_addr(&self) -> SocketAddr {
        self.ports.otlp
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir_path
    }

    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// `http://<http address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.ports.http, path)
    }

    /// Whether the process is still running (reaps it if it exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_))) | Some(Err(_)) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// Polls `GET /ready` until it answers 200. Fails at once, with the log tail, if the
    /// process exits meanwhile.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let url = self.url("/ready");
        let http = self.http.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited()? {
                bail!(
                    "{} exited with {status} before it was ready\n{}",
                    self.name(),
                    self.logs_tail()
                );
            }
            let ready = http.get(&url).timeout(Duration::from_secs(2)).send().await;
            if matches!(&ready, Ok(r) if r.status().as_u16() == 200) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let last = match ready {
                    Ok(r) => format!(
                        "status {}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ),
                    Err(e) => e.to_string(),
                };
                bail!(
                    "{} not ready after {timeout:?} (last: {last})\n{}",
                    self.name(),
                    self.logs_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The exit status if the process has exited (and reaps it).
    fn exited(&mut self) -> Result<Option<ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} is not running", self.spec.name);
        };
        let status = child.try_wait()?;
        if status.is_some() {
            self.child = None;
        }
        Ok(status)
    }

    /// SIGKILL: no flush, no ring leave; the WAL is all that survives.
    pub fn kill9(&mut self) -> Result<()> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| anyhow!("{} is not running", self.spec.name))?;
        child.kill().context("send SIGKILL")?;
        child.wait().context("reap the killed process")?;
        Ok(())
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit and returns its status.
    pub async fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let pid = match self.child.as_ref() {
            Some(child) => child.id(),
            None => bail!("{} is not running", self.name()),
        };
        let kill = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        if !kill.success() {
            bail!("`kill -TERM {pid}` failed: {kill}");
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited()? {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} still running {timeout:?} after SIGTERM\n{}",
                    self.name(),
                    self.logs_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the stopped process again with the same arguments, ports and data directory.
    /// Call [`SextantProcess::wait_ready`] next.
    /// Adds gossip seeds for the next starts. A process restarted after every member it joined
    /// at first was restarted too must join one still running (as a Kubernetes pod joins the
    /// gossip Service, which lists every member); else the restarted members form a cluster of
    /// their own, which the others find only if one of their probes of a dead member's address
    /// happens to reach its successor there.
    pub fn join_also(&mut self, members: impl IntoIterator<Item = SocketAddr>) {
        self.spec.join_members.extend(members);
        self.args = process_args(&self.spec, &self.ports, &self.dir_path);
    }

    pub fn restart(&mut self) -> Result<()> {
        if self.is_running() {
            bail!(
                "{} is still running; kill9 or terminate it first",
                self.name()
            );
        }
        self.start()
    }

    /// The last lines of stdout and stderr (of every start so far).
    pub fn logs_tail(&self) -> String {
        let mut out = format!(
            "---- {} (data dir {}) ----\n",
            self.name(),
            self.dir_path.display()
        );
        for file in ["stdout.log", "stderr.log"] {
            let text = std::fs::read_to_string(self.dir_path.join(file)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(LOG_TAIL_LINES);
            out.push_str(&format!(
                "-- {file} (last {} lines) --\n",
                lines.len() - from
            ));
            for line in &lines[from..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// `GET /ring/<name>?format=json`.
    pub async fn ring(&self, name: &str) -> Result<RingDescription> {
        let url = self.url(&format!("/ring/{name}?format=json"));
        let response = self.http.get(&url).send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {body}");
        }
        serde_json::from_str(&body).with_context(|| format!("parse ring JSON {body}"))
    }

    /// Waits until the ring `name` as seen by this process satisfies `check`.
    pub async fn wait_for_ring(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        check: impl Fn(&RingDescription) -> bool,
    ) -> Result<RingDescription> {
        let last = std::sync::Mutex::new(None::<RingDescription>);
        let waited = wait_for(timeout, what, || {
            let last = &last;
            let check = &check;
            async move {
                let ring = self.ring(name).await?;
                let ok = check(&ring);
                *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(ring.clone());
                Ok(ok.then_some(ring))
            }
        })
        .await;
        waited.with_context(|| {
            let last = last.lock().unwrap_or_else(|e| e.into_inner()).take();
            format!(
                "last ring {name} seen by {}: {last:?}\n{}",
                self.name(),
                self.logs_tail()
            )
        })
    }

    /// `GET /metrics` as text.
    pub async fn metrics_text(&self) -> Result<String> {
        let response = self.http.get(self.url("/metrics")).send().await?;
        let status = response.status();
        if !status.is_success() {
            bail!("GET /metrics: {status}");
        }
        Ok(response.text().await?)
    }
}

impl Drop for SextantProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.logs_tail());
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!(
                    "kept the data dir of {} at {}",
                    self.spec.name,
                    kept.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_put_every_address_and_dir_in_place_and_spec_flags_last() {
        let ports = ProcessPorts {
            http: "127.0.0.1:1".parse().unwrap(),
            grpc: "127.0.0.1:2".parse().unwrap(),
            memberlist: "127.0.0.1:3".parse().unwrap(),
            otlp: "127.0.0.1:4".parse().unwrap(),
        };
        let spec = ProcessSpec::new("ingester-1", "ingester")
            .join([
                "127.0.0.1:10".parse().unwrap(),
                "127.0.0.1:11".parse().unwrap(),
            ])
            .flag("-limits.ingestion-rate=0");
        let args = process_args(&spec, &ports, Path::new("/d"));
        let expected = [
            "-target=ingester",
            "-config.file=/d/config.yaml",
            "-server.http-listen-address=127.0.0.1:1",
            "-server.grpc-listen-address=127.0.0.1:2",
            "-memberlist.bind-address=127.0.0.1:3",
            "-distributor.otlp-grpc-listen-address=127.0.0.1:4",
            "-ingester.wal-dir=/d/wal",
            "-ingester.lifecycler.instance-id=ingester-1",
            "-ingester.lifecycler.instance-addr=127.0.0.1:2",
            "-ingester.lifecycler.tokens-file-dir=/d",
            "-storage.filesystem.dir=/d/blocks",
            "-memberlist.join-members=127.0.0.1:10,127.0.0.1:11",
            "-limits.ingestion-rate=0",
        ];
        assert_eq!(args, expected);
    }

    #[test]
    fn no_join_flag_without_members() {
        let ports = ProcessPorts::allocate();
        let args = process_args(&ProcessSpec::new("a", "all"), &ports, Path::new("/d"));
        assert!(!args
            .iter()
            .any(|a| a.starts_with("-memberlist.join-members")));
    }
}
