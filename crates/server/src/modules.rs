//! The module table: one row per module with its dependencies and one short init function.
//! Targets (`all`, `write`, `distributor`, `ingester`) expand to per-signal modules.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_distributor::DistributorOtlpGrpcServer;
use sextant_ingester::{HeadService, RingMembership, WalHeads};
use sextant_kit::http::Readiness;
use sextant_kit::overrides::Overrides;
use sextant_kit::service::{BoxError, Module, ModuleTable, Service, ServiceError};
use sextant_kit::tenant::TenantResolver;
use sextant_model::Signal;
use sextant_ring::{GossipKv, Ring};
use tokio_util::sync::CancellationToken;

use crate::adapters;
use crate::config::RootConfig;

mod backend;
mod logs;
mod metrics;
mod traces;

/// What init functions build and share. Filled in dependency order.
pub struct Context {
    pub config: RootConfig,
    pub registry: Registry,
    pub readiness: Readiness,
    /// Cancelled to stop the whole process (signals, `/ingester/shutdown`).
    pub shutdown: CancellationToken,
    pub http_routes: Vec<Router>,
    pub grpc_routes: tonic::service::RoutesBuilder,
    /// Rings this process reads or joins (name, heartbeat timeout), for `/ring`.
    pub rings: Vec<(String, std::time::Duration)>,
    overrides: Option<Overrides>,
    gossip: Option<Arc<GossipKv>>,
    /// The `ingester-<signal>` rings, once their module ran.
    ingester_rings: HashMap<Signal, Arc<Ring>>,
    store: Option<Arc<dyn ObjectStore>>,
    /// OTLP gRPC services of every signal's distributor, served together on
    /// `distributor.otlp_grpc_listen_address`.
    otlp_grpc_routes: tonic::service::RoutesBuilder,
    otlp_grpc_used: bool,
}

impl Context {
    pub fn new(config: RootConfig, shutdown: CancellationToken) -> Self {
        Context {
            config,
            registry: Registry::default(),
            readiness: Readiness::new(),
            shutdown,
            http_routes: Vec::new(),
            grpc_routes: tonic::service::RoutesBuilder::default(),
            rings: Vec::new(),
            overrides: None,
            gossip: None,
            ingester_rings: HashMap::new(),
            store: None,
            otlp_grpc_routes: tonic::service::RoutesBuilder::default(),
            otlp_grpc_used: false,
        }
    }

    /// The OTLP gRPC listener serving what the distributors registered, if any did: started
    /// after every module, stopped before them.
    pub fn otlp_grpc_server(&mut self) -> Option<Arc<dyn Service>> {
        if !self.otlp_grpc_used {
            return None;
        }
        self.otlp_grpc_used = false;
        let routes = std::mem::take(&mut self.otlp_grpc_routes).routes();
        Some(Arc::new(DistributorOtlpGrpcServer::new(
            "distributor-otlp-grpc",
            self.config.distributor.otlp_grpc_listen_address.clone(),
            routes,
        )))
    }

    pub fn gossip(&self) -> Option<Arc<GossipKv>> {
        self.gossip.clone()
    }

    /// Who a request belongs to (`X-Scope-OrgID`, or `anonymous` without multi-tenancy).
    fn tenants(&self) -> TenantResolver {
        TenantResolver::new(self.config.multitenancy_enabled)
    }

    /// This process's membership of the `ingester-<signal>` ring, for `module`.
    fn ring_membership(
        &self,
        module: &str,
        signal: Signal,
    ) -> Result<Arc<dyn RingMembership>, InitError> {
        let kv = self.gossip_kv(module)?;
        let ring = self.ingester_ring(module, signal)?;
        adapters::membership(&self.config, &format!("ingester-{signal}"), kv, ring)
            .map_err(|e| init_error(module, e))
    }

    /// A WAL-backed ingester as one service named `module`: its heads (replay, ring, fsync
    /// timer; ready flag `module`) start first, then its block shipper, which stops before the
    /// heads leave the ring.
    fn heads_then_shipper<H: WalHeads>(
        &mut self,
        module: &str,
        heads: Arc<H>,
        membership: Arc<dyn RingMembership>,
        fsync_interval: std::time::Duration,
        shipper: Arc<dyn Service>,
    ) -> Arc<dyn Service> {
        let ready = self.readiness.register(module);
        let lifecycle = Arc::new(HeadService::new(heads, membership, ready, fsync_interval));
        Arc::new(adapters::Sequence::new(module, vec![lifecycle, shipper]))
    }

    /// Whether this process's targets include `component` (directly or through an alias).
    fn runs_component(&self, component: &str) -> bool {
        self.config.targets().iter().any(|t| {
            *t == component
                || ALIASES
                    .iter()
                    .any(|(alias, components)| alias == t && components.contains(&component))
        })
    }

    /// What `module` needs from `memberlist-kv`.
    fn gossip_kv(&self, module: &str) -> Result<Arc<GossipKv>, InitError> {
        self.gossip
            .clone()
            .ok_or_else(|| missing(module, "memberlist-kv"))
    }

    /// What `module` needs from `storage`.
    fn object_store(&self, module: &str) -> Result<Arc<dyn ObjectStore>, InitError> {
        self.store.clone().ok_or_else(|| missing(module, "storage"))
    }

    /// What `module` needs from `runtime-config`.
    fn tenant_overrides(&self, module: &str) -> Result<Overrides, InitError> {
        self.overrides
            .clone()
            .ok_or_else(|| missing(module, "runtime-config"))
    }

    /// The `ingester-<signal>` ring `module` needs.
    fn ingester_ring(&self, module: &str, signal: Signal) -> Result<Arc<Ring>, InitError> {
        self.ingester_rings
            .get(&signal)
            .cloned()
            .ok_or_else(|| missing(module, &format!("ring-ingester-{signal}")))
    }
}

/// Why the module graph could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Graph(#[from] ServiceError),
    /// `reason` is shown in the message (not chained as a source, which would print it twice).
    #[error("initialising module {module}: {reason}")]
    Module { module: String, reason: BoxError },
}

/// Components, in the order targets list them. Most run per signal (`querier-logs`); the
/// compactor and the ruler are one module each, for every signal configured.
const COMPONENTS: &[&str] = &["distributor", "ingester", "querier", "compactor", "ruler"];

/// Aliases of targets, as in Cortex/Loki/Tempo.
const ALIASES: &[(&str, &[&str])] = &[
    (
        "all",
        &["distributor", "ingester", "querier", "compactor", "ruler"],
    ),
    ("write", &["distributor", "ingester"]),
    ("read", &["querier"]),
    ("backend", &["compactor", "ruler"]),
];

/// The table. Dependencies point at modules started earlier and stopped later.
pub fn table() -> ModuleTable<Context, InitError> {
    ModuleTable::new(
        vec![
            Module {
                name: "runtime-config",
                deps: &[],
                init: init_runtime_config,
            },
            Module {
                name: "memberlist-kv",
                deps: &[],
                init: init_memberlist,
            },
            Module {
                name: "storage",
                deps: &[],
                init: init_storage,
            },
            Module {
                name: "ring-ingester-metrics",
                deps: &["memberlist-kv"],
                init: metrics::init_ingester_metrics_ring,
            },
            Module {
                name: "distributor-metrics",
                deps: &["runtime-config", "ring-ingester-metrics"],
                init: metrics::init_distributor_metrics,
            },
            Module {
                name: "ingester-metrics",
                deps: &["runtime-config", "ring-ingester-metrics", "storage"],
                init: metrics::init_ingester_metrics,
            },
            Module {
                name: "querier-metrics",
                deps: &["ring-ingester-metrics", "storage"],
                init: metrics::init_querier_metrics,
            },
            Module {
                name: "ring-ingester-logs",
                deps: &["memberlist-kv"],
                init: logs::init_ingester_logs_ring,
            },
            Module {
                name: "distributor-logs",
                deps: &["runtime-config", "ring-ingester-logs"],
                init: logs::init_distributor_logs,
            },
            Module {
                name: "ingester-logs",
                deps: &["runtime-config", "ring-ingester-logs", "storage"],
                init: logs::init_ingester_logs,
            },
            Module {
                name: "querier-logs",
                deps: &["ring-ingester-logs", "storage"],
                init: logs::init_querier_logs,
            },
            Module {
                name: "ring-ingester-traces",
                deps: &["memberlist-kv"],
                init: traces::init_ingester_traces_ring,
            },
            Module {
                name: "distributor-traces",
                deps: &["runtime-config", "ring-ingester-traces"],
                init: traces::init_distributor_traces,
            },
            Module {
                name: "ingester-traces",
                deps: &["runtime-config", "ring-ingester-traces", "storage"],
                init: traces::init_ingester_traces,
            },
            Module {
                name: "querier-traces",
                deps: &["ring-ingester-traces", "storage"],
                init: traces::init_querier_traces,
            },
            Module {
                name: "compactor",
                deps: &["memberlist-kv", "runtime-config", "storage"],
                init: backend::init_compactor,
            },
            Module {
                name: "ruler",
                deps: &["memberlist-kv", "storage"],
                init: backend::init_ruler,
            },
        ],
        Vec::new(),
    )
}

/// Expands targets and signals into module names: `write` + `metrics` → `distributor-metrics`,
/// `ingester-metrics`. Signals without a module in this release are reported, not fatal.
pub fn modules_for(
    table: &ModuleTable<Context, InitError>,
    targets: &[&str],
    signals: &[Signal],
) -> Result<Vec<String>, InitError> {
    let mut modules = Vec::new();
    for target in targets {
        let components: Vec<&str> = match ALIASES.iter().find(|(alias, _)| alias == target) {
            Some((_, components)) => components.to_vec(),
            None if COMPONENTS.contains(target) => vec![*target],
            None => {
                return Err(ServiceError::UnknownTarget(format!(
                    "{target} (available in this release: all, write, read, backend, distributor, ingester, querier, compactor, ruler)"
                ))
                .into())
            }
        };
        for component in components {
            if table.module(component).is_some() {
                modules.push(component.to_string());
                continue;
            }
            for signal in signals {
                let name = format!("{component}-{signal}");
                if table.module(&name).is_some() {
                    modules.push(name);
                } else {
                    tracing::warn!(
                        component,
                        signal = signal.as_str(),
                        "signal not available in this release for this component"
                    );
                }
            }
        }
    }
    modules.dedup();
    if modules.is_empty() {
        return Err(ServiceError::UnknownTarget(format!(
            "{} with signals {:?}: nothing to run",
            targets.join(","),
            signals.iter().map(|s| s.as_str()).collect::<Vec<_>>()
        ))
        .into());
    }
    Ok(modules)
}

fn init_runtime_config(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let overrides = Overrides::new(
        ctx.config.limits.clone(),
        &ctx.config.runtime_config,
        &mut ctx.registry,
    )
    .map_err(|e| init_error("runtime-config", e))?;
    ctx.overrides = Some(overrides.clone());
    Ok(Some(Arc::new(adapters::OverridesService::new(overrides))))
}

fn init_memberlist(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let config = ctx.config.memberlist.clone();
    let registry = &mut ctx.registry;
    let kv = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(GossipKv::start(&config, registry))
    })
    .map_err(|e| init_error("memberlist-kv", e))?;
    ctx.gossip = Some(kv.clone());
    Ok(Some(Arc::new(adapters::GossipService(kv))))
}

fn init_storage(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let store =
        sextant_storage::object_store(&ctx.config.storage).map_err(|e| init_error("storage", e))?;
    let store: Arc<dyn ObjectStore> = Arc::new(sextant_storage::InstrumentedStore::new(
        store,
        &mut ctx.registry,
    ));
    ctx.store = Some(store);
    Ok(None)
}

/// The ring `name` (read by this process, joined by its ingesters), listed on `/ring`.
fn init_ring(
    ctx: &mut Context,
    name: &str,
    replication_factor: usize,
) -> Result<Arc<Ring>, InitError> {
    let kv = ctx.gossip_kv(&format!("ring-{name}"))?;
    let ring = Arc::new(adapters::ingester_ring(
        &ctx.config,
        name,
        replication_factor,
        kv,
    ));
    ctx.rings.push((
        name.to_string(),
        ctx.config.ingester.lifecycler.heartbeat_timeout,
    ));
    Ok(ring)
}

fn missing(module: &str, dependency: &str) -> InitError {
    InitError::Module {
        module: module.to_string(),
        reason: format!("module {dependency} was not initialised").into(),
    }
}

fn init_error(module: &str, e: impl Into<BoxError>) -> InitError {
    InitError::Module {
        module: module.to_string(),
        reason: e.into(),
    }
}
