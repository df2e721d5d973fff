//! [`GossipTransport`] over the `memberlist` crate (SWIM, UDP gossip plus TCP push/pull).
//!
//! Small deltas ride the gossip packets through memberlist's transmit-limited queue; deltas
//! too large for a UDP packet are sent to every alive member over TCP.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use memberlist::delegate::{CompositeDelegate, NodeDelegate, VoidDelegate};
use memberlist::net::NetTransportOptions;
use memberlist::proto::{MaybeResolvedAddress, NodeId};
use memberlist::queue::TransmitLimitedQueue;
use memberlist::tokio::{TokioSocketAddrResolver, TokioTcp, TokioTcpMemberlist};
use memberlist::{Broadcast, Options};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use super::instrumentation::GossipMetrics;
use super::store::KvStore;
use super::{GossipTransport, MemberStatus, MemberlistConfig};
use crate::error::RingError;

/// Deltas larger than this go over TCP instead of piggybacking on gossip packets.
const MAX_GOSSIP_MESSAGE_BYTES: usize = 1000;
/// Framing memberlist adds around a user message, counted against the packet budget.
const USER_MESSAGE_OVERHEAD: usize = 16;
const RETRANSMIT_MULT: usize = 4;
const REJOIN_PERIOD: Duration = Duration::from_secs(5);
/// How long a message sent over TCP waits for one member to take it.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

type KvDelegateStack = CompositeDelegate<
    NodeId,
    SocketAddr,
    VoidDelegate<NodeId, SocketAddr>,
    VoidDelegate<NodeId, SocketAddr>,
    VoidDelegate<NodeId, SocketAddr>,
    VoidDelegate<NodeId, SocketAddr>,
    KvDelegate,
>;
type Memberlist = TokioTcpMemberlist<NodeId, TokioSocketAddrResolver, KvDelegateStack>;
type Queue = TransmitLimitedQueue<KvBroadcast, Arc<AtomicUsize>>;

#[derive(Debug)]
struct KvBroadcast(Bytes);

impl Broadcast for KvBroadcast {
    type Id = String;
    type Message = Bytes;

    fn id(&self) -> Option<&String> {
        None
    }

    fn invalidates(&self, _other: &Self) -> bool {
        false
    }

    fn message(&self) -> &Bytes {
        &self.0
    }

    fn encoded_len(msg: &Bytes) -> usize {
        msg.len() + USER_MESSAGE_OVERHEAD
    }

    async fn finished(&self) {}

    fn is_unique(&self) -> bool {
        true
    }
}

/// Memberlist callbacks: merge what peers send, hand out queued deltas and the full state.
struct KvDelegate {
    store: Arc<KvStore>,
    queue: Arc<Queue>,
    metrics: Arc<GossipMetrics>,
}

impl KvDelegate {
    fn merge(&self, buf: &[u8], rebroadcast: bool) {
        self.metrics.received(buf.len());
        match self.store.merge_message(buf) {
            Ok(Some(changes)) if rebroadcast && changes.len() <= MAX_GOSSIP_MESSAGE_BYTES => {
                let queue = Arc::clone(&self.queue);
                tokio::spawn(async move { queue.queue_broadcast(KvBroadcast(changes)).await });
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "memberlist: dropping undecodable ring message"),
        }
    }
}

impl NodeDelegate for KvDelegate {
    async fn notify_message(&self, msg: Cow<'_, [u8]>) {
        self.merge(&msg, true);
    }

    async fn broadcast_messages<F>(
        &self,
        limit: usize,
        _encoded_len: F,
    ) -> impl Iterator<Item = Bytes> + Send
    where
        F: Fn(Bytes) -> (usize, Bytes) + Send + Sync + 'static,
    {
        let msgs = self.queue.get_broadcasts(limit).await;
        for msg in msgs.iter() {
            self.metrics.sent(msg.len());
        }
        msgs.into_iter()
    }

    async fn local_state(&self, _join: bool) -> Bytes {
        let state = self.store.full_state();
        self.metrics.sent(state.len());
        state
    }

    async fn merge_remote_state(&self, buf: &[u8], _join: bool) {
        self.merge(buf, false);
    }
}

/// The memberlist-backed transport.
pub(crate) struct MemberlistTransport {
    memberlist: Memberlist,
    store: Arc<KvStore>,
    queue: Arc<Queue>,
    metrics: Arc<GossipMetrics>,
    runtime: tokio::runtime::Handle,
    name: String,
}

impl MemberlistTransport {
    pub(crate) async fn start(
        config: &MemberlistConfig,
        store: Arc<KvStore>,
        registry: &mut Registry,
        cancel: CancellationToken,
    ) -> Result<Self, RingError> {
        let name = node_name(config);
        let metrics = Arc::new(GossipMetrics::register(registry));
        let num_nodes = Arc::new(AtomicUsize::new(1));
        let queue = Arc::new(TransmitLimitedQueue::new(
            RETRANSMIT_MULT,
            Arc::clone(&num_nodes),
        ));
        let delegate =
            CompositeDelegate::<NodeId, SocketAddr>::new().with_node_delegate(KvDelegate {
                store: Arc::clone(&store),
                queue: Arc::clone(&queue),
                metrics: Arc::clone(&metrics),
            });
        let memberlist = Memberlist::with_delegate(
            delegate,
            transport_options(config, &name).await?,
            options(config),
        )
        .await
        .map_err(|e| RingError::Gossip(format!("start memberlist: {e}")))?;
        tracing::info!(node = %name, advertise = %memberlist.advertise_address(), "memberlist started");
        let transport = Self {
            memberlist,
            store,
            queue,
            metrics,
            runtime: tokio::runtime::Handle::current(),
            name,
        };
        transport
            .spawn_join(config.join_members.clone(), cancel.clone())
            .await;
        transport.spawn_member_count(num_nodes, cancel);
        Ok(transport)
    }

    /// Joins the seeds now; when none answers, keeps retrying in the background.
    async fn spawn_join(&self, seeds: Vec<String>, cancel: CancellationToken) {
        if seeds.is_empty() || join_seeds(&self.memberlist, &seeds).await > 0 {
            return;
        }
        let memberlist = self.memberlist.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(REJOIN_PERIOD) => {}
                }
                if join_seeds(&memberlist, &seeds).await > 0 {
                    return;
                }
            }
        });
    }

    fn spawn_member_count(&self, num_nodes: Arc<AtomicUsize>, cancel: CancellationToken) {
        let memberlist = self.memberlist.clone();
        let metrics = Arc::clone(&self.metrics);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let n = memberlist.num_online_members().await;
                num_nodes.store(n, Ordering::Relaxed);
                metrics.members.set(n as i64);
            }
        });
    }
}

impl GossipTransport for MemberlistTransport {
    fn broadcast(&self, msg: Bytes) {
        if msg.len() <= MAX_GOSSIP_MESSAGE_BYTES {
            let queue = Arc::clone(&self.queue);
            self.runtime
                .spawn(async move { queue.queue_broadcast(KvBroadcast(msg)).await });
            return;
        }
        let memberlist = self.memberlist.clone();
        let metrics = Arc::clone(&self.metrics);
        self.runtime.spawn(async move {
            send_to_members(&memberlist, &metrics, msg, "send ring delta").await;
        });
    }

    fn members(&self) -> BoxFuture<'_, Vec<MemberStatus>> {
        Box::pin(async move {
            self.memberlist
                .members()
                .await
                .iter()
                .map(|m| MemberStatus {
                    name: m.id().to_string(),
                    addr: m.address().to_string(),
                    state: m.state().to_string(),
                })
                .collect()
        })
    }

    fn node_name(&self) -> String {
        self.name.clone()
    }

    fn leave(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // This node's last changes (its instances' `Left` tombstones) may still wait in the
            // gossip queue, which stops with memberlist: unsent, the others would keep those
            // instances as unhealthy members. Hand the whole state to every member over TCP.
            let state = self.store.full_state();
            send_to_members(
                &self.memberlist,
                &self.metrics,
                state,
                "hand over the ring state",
            )
            .await;
            if let Err(error) = self.memberlist.leave(Duration::from_secs(5)).await {
                tracing::warn!(%error, "memberlist: leave");
            }
            if let Err(error) = self.memberlist.shutdown().await {
                tracing::warn!(%error, "memberlist: shutdown");
            }
        })
    }
}

/// Sends `msg` to every other online member over TCP, one by one, giving each
/// [`SEND_TIMEOUT`]; failures are logged (`what` names the message) and skipped.
async fn send_to_members(memberlist: &Memberlist, metrics: &GossipMetrics, msg: Bytes, what: &str) {
    let me = memberlist.advertise_address().to_owned();
    for member in memberlist.online_members().await {
        if *member.address() == me {
            continue;
        }
        metrics.sent(msg.len());
        let sent = tokio::time::timeout(
            SEND_TIMEOUT,
            memberlist.send_reliable(member.address(), msg.clone()),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::debug!(%error, peer = %member.address(), "memberlist: {what}")
            }
            Err(_) => tracing::debug!(peer = %member.address(), "memberlist: {what}: timed out"),
        }
    }
}

/// Resolves every seed (all addresses of a DNS name) and joins them; returns the successes.
async fn join_seeds(memberlist: &Memberlist, seeds: &[String]) -> usize {
    let me = *memberlist.advertise_address();
    let mut addrs = Vec::new();
    for seed in seeds {
        match tokio::net::lookup_host(seed.as_str()).await {
            Ok(found) => addrs.extend(found.filter(|a| *a != me)),
            Err(error) => tracing::warn!(%error, seed = %seed, "memberlist: resolve seed"),
        }
    }
    if addrs.is_empty() {
        return 0;
    }
    // One by one: `join_many`'s future is not `Send`.
    let mut joined = 0;
    for addr in addrs {
        match memberlist.join(MaybeResolvedAddress::Resolved(addr)).await {
            Ok(_) => joined += 1,
            Err(error) => tracing::warn!(%error, peer = %addr, "memberlist: join"),
        }
    }
    if joined > 0 {
        tracing::info!(joined, "memberlist: joined cluster");
    }
    joined
}

fn options(config: &MemberlistConfig) -> Options {
    Options::lan()
        .with_gossip_interval(config.gossip_interval)
        .with_push_pull_interval(config.push_pull_interval)
}

async fn transport_options(
    config: &MemberlistConfig,
    name: &str,
) -> Result<NetTransportOptions<NodeId, TokioSocketAddrResolver, TokioTcp>, RingError> {
    let id =
        NodeId::new(name).map_err(|e| RingError::Config(format!("node_name {name:?}: {e}")))?;
    let bind: SocketAddr = config.bind_address.parse().map_err(|e| {
        RingError::Config(format!(
            "memberlist.bind_address {:?}: {e}",
            config.bind_address
        ))
    })?;
    let mut opts = NetTransportOptions::new(id);
    opts.add_bind_address(bind);
    if !config.advertise_address.is_empty() {
        let advertise = tokio::net::lookup_host(config.advertise_address.as_str())
            .await
            .ok()
            .and_then(|mut found| found.next())
            .ok_or_else(|| {
                RingError::Config(format!(
                    "memberlist.advertise_address {:?} does not resolve",
                    config.advertise_address
                ))
            })?;
        opts = opts.with_advertise_address(advertise);
    }
    Ok(opts)
}

/// The configured name, or the hostname plus a random suffix.
fn node_name(config: &MemberlistConfig) -> String {
    if !config.node_name.is_empty() {
        return config.node_name.clone();
    }
    let host = crate::lifecycler::hostname();
    format!("{host}-{:08x}", rand::random::<u32>())
}
