//! Glue between the components and the ring crate: each component declares the narrow trait
//! it needs; the implementations over gossip, lifecycler and tonic clients live here.

use std::sync::Arc;

use futures::future::BoxFuture;
use sextant_distributor::IngesterClientFactory;
use sextant_ingester::RingMembership;
use sextant_kit::overrides::Overrides;
use sextant_kit::service::{BoxError, Service};
use sextant_proto::ingester::metrics_ingester_client::MetricsIngesterClient;
use sextant_proto::ingester::{
    MetricsLabelsRequest, MetricsMetadataRequest, MetricsPushRequest, MetricsPushResponse,
    MetricsQueryRequest, MetricsSeriesRequest, SeriesLabels,
};
use sextant_proto::prometheus::{MetricMetadata, TimeSeries};
use sextant_querier::IngesterQueryClients;
use sextant_ring::client_pool::ClientPool;
use sextant_ring::{GossipKv, Lifecycler, ReplicationConfig, Ring, TokenRing};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::config::RootConfig;

/// The read side of an ingester ring for `ring_name`.
pub(crate) fn ingester_ring(
    config: &RootConfig,
    ring_name: &str,
    replication_factor: usize,
    kv: Arc<GossipKv>,
) -> Ring {
    let replication = ReplicationConfig {
        replication_factor,
        zone_awareness_enabled: config.ingester.lifecycler.zone_awareness_enabled,
        heartbeat_timeout: config.ingester.lifecycler.heartbeat_timeout,
    };
    Ring::new(ring_name, kv, replication)
}

/// The distributor reads the freshest ring snapshot per push.
pub(crate) fn ring_snapshot(ring: Arc<Ring>) -> Arc<dyn Fn() -> Arc<TokenRing> + Send + Sync> {
    Arc::new(move || ring.token_ring())
}

/// The ingester's ring membership: a lifecycler in `ring_name`, plus the ring for counting.
pub(crate) fn membership(
    config: &RootConfig,
    ring_name: &str,
    kv: Arc<GossipKv>,
    ring: Arc<Ring>,
) -> Result<Arc<dyn RingMembership>, BoxError> {
    let mut lifecycler_config = config.ingester.lifecycler.clone();
    if lifecycler_config.instance_addr.is_empty() {
        lifecycler_config.instance_addr =
            advertised_grpc_address(&config.server.grpc_listen_address);
    }
    let lifecycler = Lifecycler::new(lifecycler_config, ring_name, kv)?;
    Ok(Arc::new(LifecyclerMembership { lifecycler, ring }))
}

/// The gRPC address other processes reach: the listen address, with `0.0.0.0` replaced by
/// this host's first non-loopback IP when one is known.
fn advertised_grpc_address(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("0.0.0.0", port)) | Some(("[::]", port)) => {
            let host = host_ip().unwrap_or_else(|| "127.0.0.1".to_string());
            format!("{host}:{port}")
        }
        _ => listen.to_string(),
    }
}

/// This host's address as its own name resolves (a pod's IP on Kubernetes), if not loopback.
fn host_ip() -> Option<String> {
    use std::net::ToSocketAddrs;
    let name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())?;
    (name.trim(), 0)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .find(|ip| !ip.is_loopback())
        .map(|ip| ip.to_string())
}

struct LifecyclerMembership {
    lifecycler: Lifecycler,
    ring: Arc<Ring>,
}

impl RingMembership for LifecyclerMembership {
    fn join(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move { self.lifecycler.start().await.map_err(Into::into) })
    }

    fn leave(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            self.lifecycler.stop().await;
            Ok(())
        })
    }

    fn healthy_instances(&self) -> usize {
        self.ring.healthy_count()
    }
}

/// One lazily connected tonic client per ingester address.
pub(crate) struct GrpcIngesterClients {
    pool: ClientPool<MetricsIngesterClient<Channel>, tonic::Status>,
}

impl Default for GrpcIngesterClients {
    fn default() -> Self {
        GrpcIngesterClients {
            pool: ClientPool::new(connect_lazily),
        }
    }
}

/// A lazily connected channel to an ingester's gRPC address (metrics and logs clients alike).
pub(crate) fn ingester_channel(addr: &str) -> Result<Channel, tonic::Status> {
    Ok(Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| tonic::Status::internal(format!("bad ingester address {addr}: {e}")))?
        .connect_timeout(std::time::Duration::from_secs(1))
        .tcp_nodelay(true)
        .connect_lazy())
}

/// Largest gRPC message to and from an ingester.
pub(crate) const INGESTER_MAX_MESSAGE_BYTES: usize = 256 << 20;

fn connect_lazily(addr: &str) -> Result<MetricsIngesterClient<Channel>, tonic::Status> {
    Ok(MetricsIngesterClient::new(ingester_channel(addr)?)
        .max_decoding_message_size(INGESTER_MAX_MESSAGE_BYTES)
        .max_encoding_message_size(INGESTER_MAX_MESSAGE_BYTES))
}

impl IngesterClientFactory for GrpcIngesterClients {
    fn push(
        &self,
        addr: &str,
        request: MetricsPushRequest,
    ) -> BoxFuture<'static, Result<MetricsPushResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            let mut client = client?;
            client.push(request).await.map(|r| r.into_inner())
        })
    }
}

/// How long a querier waits for one ingester's answer before counting it as failed.
const INGESTER_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A request that gives up after [`INGESTER_QUERY_TIMEOUT`].
pub(crate) fn with_timeout<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(INGESTER_QUERY_TIMEOUT);
    request
}

impl IngesterQueryClients for GrpcIngesterClients {
    fn query_stream(
        &self,
        addr: &str,
        request: MetricsQueryRequest,
    ) -> BoxFuture<'static, Result<Vec<TimeSeries>, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            let mut stream = client?
                .query_stream(with_timeout(request))
                .await?
                .into_inner();
            let mut series = Vec::new();
            while let Some(batch) = stream.message().await? {
                series.extend(batch.series);
            }
            Ok(series)
        })
    }

    fn label_names(
        &self,
        addr: &str,
        request: MetricsLabelsRequest,
    ) -> BoxFuture<'static, Result<Vec<String>, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            Ok(client?
                .label_names(with_timeout(request))
                .await?
                .into_inner()
                .values)
        })
    }

    fn label_values(
        &self,
        addr: &str,
        request: MetricsLabelsRequest,
    ) -> BoxFuture<'static, Result<Vec<String>, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            Ok(client?
                .label_values(with_timeout(request))
                .await?
                .into_inner()
                .values)
        })
    }

    fn series(
        &self,
        addr: &str,
        request: MetricsSeriesRequest,
    ) -> BoxFuture<'static, Result<Vec<SeriesLabels>, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            Ok(client?
                .series(with_timeout(request))
                .await?
                .into_inner()
                .series)
        })
    }

    fn metadata(
        &self,
        addr: &str,
        request: MetricsMetadataRequest,
    ) -> BoxFuture<'static, Result<Vec<MetricMetadata>, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            Ok(client?
                .metadata(with_timeout(request))
                .await?
                .into_inner()
                .metadata)
        })
    }
}

/// Reloads the runtime overrides file in the background.
pub(crate) struct OverridesService {
    overrides: Overrides,
    cancel: CancellationToken,
}

impl OverridesService {
    pub(crate) fn new(overrides: Overrides) -> Self {
        OverridesService {
            overrides,
            cancel: CancellationToken::new(),
        }
    }
}

impl Service for OverridesService {
    fn name(&self) -> &str {
        "runtime-config"
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            self.overrides.spawn_reloader(self.cancel.clone());
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            self.cancel.cancel();
            Ok(())
        })
    }
}

/// The gossip member: leaves the cluster last, after the rings were left.
pub(crate) struct GossipService(pub Arc<GossipKv>);

impl Service for GossipService {
    fn name(&self) -> &str {
        "memberlist-kv"
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move { Ok(()) })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            self.0.leave().await;
            Ok(())
        })
    }
}

/// Several services as one: started in order, stopped in reverse order.
pub(crate) struct Sequence {
    name: String,
    services: Vec<Arc<dyn Service>>,
}

impl Sequence {
    pub(crate) fn new(name: &str, services: Vec<Arc<dyn Service>>) -> Self {
        Sequence {
            name: name.to_string(),
            services,
        }
    }
}

impl Service for Sequence {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            for service in &self.services {
                service.start().await?;
            }
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            let mut first_error = None;
            for service in self.services.iter().rev() {
                if let Err(e) = service.stop().await {
                    tracing::warn!(service = service.name(), error = %e, "stopping failed");
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        })
    }
}

/// A component's place in its own ring (`compactor-<signal>`, `ruler-<signal>`): joins on
/// start (ACTIVE after `join_after`), leaves on stop, so that the others take over its share.
pub(crate) struct RingMemberService {
    name: String,
    lifecycler: Lifecycler,
}

impl RingMemberService {
    /// A lifecycler in `ring_name` from `config`, its address defaulting to this process's
    /// advertised gRPC address (an id in the ring; nothing dials it).
    pub(crate) fn new(
        root: &RootConfig,
        mut config: sextant_ring::LifecyclerConfig,
        ring_name: &str,
        kv: Arc<GossipKv>,
    ) -> Result<Self, BoxError> {
        if config.instance_addr.is_empty() {
            config.instance_addr = advertised_grpc_address(&root.server.grpc_listen_address);
        }
        Ok(RingMemberService {
            name: format!("{ring_name}-lifecycler"),
            lifecycler: Lifecycler::new(config, ring_name, kv)?,
        })
    }

    pub(crate) fn instance_id(&self) -> &str {
        self.lifecycler.instance_id()
    }
}

impl Service for RingMemberService {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move { self.lifecycler.start().await.map_err(Into::into) })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            self.lifecycler.stop().await;
            Ok(())
        })
    }
}

/// The read side of a component ring (RF 1) with that component's heartbeat timeout.
pub(crate) fn component_ring(
    ring_name: &str,
    lifecycler: &sextant_ring::LifecyclerConfig,
    kv: Arc<GossipKv>,
) -> Ring {
    let replication = ReplicationConfig {
        replication_factor: 1,
        zone_awareness_enabled: false,
        heartbeat_timeout: lifecycler.heartbeat_timeout,
    };
    Ring::new(ring_name, kv, replication)
}
