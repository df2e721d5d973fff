//! Microservices mode on loopback: N ingesters and one distributor in one gossip cluster.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{ProcessSpec, SextantProcess};
use crate::remote_write::RemoteWriteClient;
use crate::ring::{RingDescription, INGESTER_METRICS_RING};

/// How long one process may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `sextant -target=all` (RF=1, 1 s heartbeats) plus `flags`, ready and with its one ingester
/// ACTIVE in the ring: the embedded default as the single-process tests use it.
pub async fn start_single(flags: &[String]) -> Result<SextantProcess> {
    let spec = ProcessSpec::new("all", "all")
        .flags([
            "-ingester.metrics.replication-factor=1",
            "-ingester.lifecycler.heartbeat-period=1s",
        ])
        .flags(flags.iter().cloned());
    let mut process = SextantProcess::spawn(spec)?;
    process.wait_ready(READY_TIMEOUT).await?;
    process
        .wait_for_ring(
            INGESTER_METRICS_RING,
            Duration::from_secs(30),
            "1 ACTIVE ingester",
            |r| r.active_healthy() == 1,
        )
        .await?;
    Ok(process)
}

/// A distributor and its ingesters, killed on drop.
pub struct Cluster {
    pub distributor: SextantProcess,
    pub ingesters: Vec<SextantProcess>,
}

impl Cluster {
    /// Starts `ingesters` ingesters one after another (each joins the memberlist of those
    /// started before it, so ingester 0 is the seed), then a distributor that joins all of them.
    /// `flags` go to every process.
    pub async fn start(ingesters: usize, flags: &[String]) -> Result<Cluster> {
        let mut started: Vec<SextantProcess> = Vec::with_capacity(ingesters);
        for i in 0..ingesters {
            let spec = ProcessSpec::new(format!("ingester-{i}"), "ingester")
                .join(started.iter().map(SextantProcess::memberlist_addr))
                .flags(flags.iter().cloned());
            let mut ingester = SextantProcess::spawn(spec)?;
            ingester
                .wait_ready(READY_TIMEOUT)
                .await
                .with_context(|| format!("start ingester-{i}"))?;
            started.push(ingester);
        }
        let spec = ProcessSpec::new("distributor", "distributor")
            .join(started.iter().map(SextantProcess::memberlist_addr))
            .flags(flags.iter().cloned());
        let mut distributor = SextantProcess::spawn(spec)?;
        distributor
            .wait_ready(READY_TIMEOUT)
            .await
            .context("start the distributor")?;
        Ok(Cluster {
            distributor,
            ingesters: started,
        })
    }

    /// Waits until the distributor sees exactly `n` ingesters in the metrics ring, all ACTIVE
    /// and healthy.
    pub async fn wait_for_active_ingesters(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<RingDescription> {
        self.distributor
            .wait_for_ring(
                INGESTER_METRICS_RING,
                timeout,
                &format!("{n} ACTIVE healthy ingesters"),
                |ring| ring.instances.len() == n && ring.active_healthy() == n,
            )
            .await
    }

    /// `POST <path>` on every ingester (`/ingester/flush`, `/ingester/logs/flush`,
    /// `/ingester/traces/flush`): cut and upload what their heads hold now.
    pub async fn flush_ingesters(&self, path: &str) -> Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        for ingester in &self.ingesters {
            let response = http.post(ingester.url(path)).send().await?;
            let status = response.status();
            anyhow::ensure!(
                status.is_success(),
                "{}: POST {path}: {status} {}",
                ingester.name(),
                response.text().await?
            );
        }
        Ok(())
    }

    /// The distributor's OTLP gRPC listener.
    pub fn otlp_grpc_addr(&self) -> std::net::SocketAddr {
        self.distributor.otlp_grpc_addr()
    }

    /// A client pushing to the distributor.
    pub fn remote_write_client(&self) -> Result<RemoteWriteClient> {
        RemoteWriteClient::new(self.distributor.http_addr())
    }
}
