//! Test helpers the push paths of every signal share: a fixed ring, in-memory ingesters with
//! scripted answers, the distributor under test (`Setup`), and OTLP gRPC requests carrying a
//! tenant.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::Rng;
use sextant_kit::overrides::Overrides;
use sextant_kit::tenant::TenantResolver;
use sextant_model::TenantLimits;
use sextant_ring::{InstanceDesc, InstanceState, ReplicationConfig, RingDesc, TokenRing};

use crate::config::DistributorConfig;
use crate::metrics_push::RingSnapshot;
use crate::push_common::now_ms;

/// `n` ACTIVE, healthy instances `<prefix>-1`, `<prefix>-2`, ... at `<prefix>-<i>:9095`, instance
/// `i` holding `tokens(i)` (sorted), RF 3.
pub(crate) fn test_ring(
    n: usize,
    prefix: &str,
    mut tokens: impl FnMut(usize) -> Vec<u32>,
) -> Arc<TokenRing> {
    let now = now_ms();
    let mut desc = RingDesc::default();
    for i in 1..=n {
        let id = format!("{prefix}-{i}");
        let instance = InstanceDesc {
            id: id.clone(),
            addr: format!("{prefix}-{i}:9095"),
            zone: String::new(),
            state: InstanceState::Active,
            tokens: tokens(i),
            heartbeat_ms: now,
            registered_ms: now,
        };
        desc.instances.insert(id, instance);
    }
    let config = ReplicationConfig {
        replication_factor: 3,
        ..ReplicationConfig::default()
    };
    Arc::new(TokenRing::new(&desc, config))
}

/// 128 random tokens, sorted and deduplicated.
pub(crate) fn random_tokens(rng: &mut StdRng) -> Vec<u32> {
    let mut tokens: Vec<u32> = (0..128).map(|_| rng.random()).collect();
    tokens.sort_unstable();
    tokens.dedup();
    tokens
}

/// The distributor config of the tests: defaults, with a short remote timeout.
pub(crate) fn test_config() -> DistributorConfig {
    DistributorConfig {
        remote_timeout: Duration::from_millis(200),
        ..DistributorConfig::default()
    }
}

/// An OTLP gRPC request with `x-scope-orgid: <org>` when `org` is given.
pub(crate) fn with_org<T>(message: T, org: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(org) = org {
        request
            .metadata_mut()
            .insert("x-scope-orgid", org.parse().unwrap());
    }
    request
}

/// In-memory ingesters whose answers are scripted per address with one signal's behaviours
/// `B` (`B::default()` where none is given); they record every request `Q` they are given.
pub(crate) struct ScriptedIngesters<B, Q> {
    pub behaviour: HashMap<String, B>,
    pub received: Mutex<Vec<(String, Q)>>,
}

impl<B: Copy + Default, Q> ScriptedIngesters<B, Q> {
    /// Records `request` as sent to `addr` and returns how `addr` answers it.
    pub(crate) fn take(&self, addr: &str, request: Q) -> B {
        self.received.lock().push((addr.to_string(), request));
        self.behaviour.get(addr).copied().unwrap_or_default()
    }

    pub(crate) fn push_count(&self) -> usize {
        self.received.lock().len()
    }
}

/// What a scripted ingester answers: a response, a failure, or nothing ever.
pub(crate) enum Answer<R> {
    Respond(R),
    Fail(tonic::Code, &'static str),
    Hang,
}

impl<R: Send + 'static> Answer<R> {
    pub(crate) fn into_future(self) -> BoxFuture<'static, Result<R, tonic::Status>> {
        match self {
            Answer::Respond(response) => Box::pin(async move { Ok(response) }),
            Answer::Fail(code, message) => {
                Box::pin(async move { Err(tonic::Status::new(code, message)) })
            }
            Answer::Hang => Box::pin(futures::future::pending()),
        }
    }
}

/// A distributor under test: `instances` instances on the ring, the first ones answering as
/// `behaviour` says (`B`, one signal's behaviours), the config, limits and tenancy.
pub(crate) struct Setup<B> {
    pub instances: usize,
    /// Behaviour of instance 1, 2, ...; the others answer as `B::default()`.
    pub behaviour: Vec<B>,
    pub config: DistributorConfig,
    pub limits: TenantLimits,
    pub multitenancy: bool,
}

impl<B> Default for Setup<B> {
    fn default() -> Self {
        Setup {
            instances: 3,
            behaviour: Vec::new(),
            config: test_config(),
            limits: TenantLimits::default(),
            multitenancy: false,
        }
    }
}

impl<B: Copy + Default> Setup<B> {
    /// Builds a distributor with `new` (the arguments every distributor's constructor takes
    /// before its registry) over `ring`, whose instance `i` is at `addr(i)`.
    pub(crate) fn assemble<D, Q>(
        self,
        ring: Arc<TokenRing>,
        addr: impl Fn(usize) -> String,
        new: impl FnOnce(
            DistributorConfig,
            TenantResolver,
            Overrides,
            RingSnapshot,
            Arc<ScriptedIngesters<B, Q>>,
        ) -> D,
    ) -> (Arc<D>, Arc<ScriptedIngesters<B, Q>>) {
        let ingesters = Arc::new(ScriptedIngesters {
            behaviour: (self.behaviour.into_iter().enumerate())
                .map(|(i, behaviour)| (addr(i + 1), behaviour))
                .collect(),
            received: Mutex::new(Vec::new()),
        });
        let snapshot: RingSnapshot = Arc::new(move || ring.clone());
        let distributor = new(
            self.config,
            TenantResolver::new(self.multitenancy),
            Overrides::fixed(self.limits),
            snapshot,
            ingesters.clone(),
        );
        (Arc::new(distributor), ingesters)
    }
}

/// What an OTLP export should answer.
#[derive(Debug)]
pub(crate) enum Want {
    /// OK, with this many records refused and a partial-success message containing `message`.
    Partial {
        rejected: i64,
        message: &'static str,
    },
    /// This code, with a message containing this text.
    Status(tonic::Code, &'static str),
}

/// Asserts that the export `answer` of the case `name` is `want`; `partial` reads the refused
/// count and message of a response's partial success. Throttling answers must carry
/// `RetryInfo`, and only they.
pub(crate) fn assert_export<R: std::fmt::Debug>(
    name: &str,
    answer: Result<tonic::Response<R>, tonic::Status>,
    want: &Want,
    partial: impl FnOnce(R) -> (i64, String),
) {
    match (answer, want) {
        (Ok(response), Want::Partial { rejected, message }) => {
            let (got_rejected, got_message) = partial(response.into_inner());
            assert_eq!(got_rejected, *rejected, "{name}");
            assert!(got_message.contains(message), "{name}: {got_message}");
        }
        (Err(status), Want::Status(code, message)) => {
            assert_eq!(status.code(), *code, "{name}: {status:?}");
            assert!(status.message().contains(message), "{name}: {status:?}");
            let retry_info = b"type.googleapis.com/google.rpc.RetryInfo";
            let has_retry_info = status
                .details()
                .windows(retry_info.len())
                .any(|w| w == retry_info);
            let throttled = *code == tonic::Code::ResourceExhausted;
            assert_eq!(has_retry_info, throttled, "{name}: RetryInfo");
        }
        (answer, want) => panic!("{name}: got {answer:?}, want {want:?}"),
    }
}

/// An ingester push request, as the scripted ingesters read its tenant.
pub(crate) trait TenantOf {
    fn tenant_of(&self) -> &str;
}

impl TenantOf for sextant_proto::ingester::MetricsPushRequest {
    fn tenant_of(&self) -> &str {
        &self.tenant
    }
}

impl TenantOf for sextant_proto::ingester::LogsPushRequest {
    fn tenant_of(&self) -> &str {
        &self.tenant
    }
}

impl TenantOf for sextant_proto::ingester::TracesPushRequest {
    fn tenant_of(&self) -> &str {
        &self.tenant
    }
}

impl<B, Q: TenantOf> ScriptedIngesters<B, Q> {
    /// The tenant of every push, in the order they were given.
    pub(crate) fn tenants(&self) -> Vec<String> {
        let received = self.received.lock();
        received
            .iter()
            .map(|(_, r)| r.tenant_of().to_string())
            .collect()
    }
}

/// Starts an OTLP gRPC server with `routes` on a free loopback port; returns it and its
/// `http://` endpoint.
pub(crate) async fn start_otlp_server(
    routes: tonic::service::Routes,
) -> (crate::DistributorOtlpGrpcServer, String) {
    use sextant_kit::service::Service;
    let server = crate::DistributorOtlpGrpcServer::new("otlp-grpc", "127.0.0.1:0", routes);
    server.start().await.unwrap();
    let endpoint = format!("http://{}", server.local_addr().unwrap());
    (server, endpoint)
}
