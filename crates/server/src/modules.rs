//! The module table: one row per module with its dependencies and one short init function.
//! Targets (`all`, `write`, `distributor`, `ingester`) expand to per-signal modules.

use std::sync::Arc;

use axum::Router;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_distributor::{Distributor, DistributorOtlpGrpcServer, LogsDistributor};
use sextant_ingester::{
    LogsIngester, LogsIngesterService, LogsShipper, LogsStreamLimits, MetricsIngester,
    LOGS_FLUSH_PATH,
};
use sextant_kit::http::Readiness;
use sextant_kit::overrides::Overrides;
use sextant_kit::service::{BoxError, Module, ModuleTable, Service, ServiceError};
use sextant_kit::tenant::TenantResolver;
use sextant_metrics::promql::{Engine, EngineOptions};
use sextant_model::Signal;
use sextant_querier::api::{prometheus_api_router, ApiState};
use sextant_querier::{loki_api_router, LogsQuerier, LokiApiState, Querier};
use sextant_ring::{GossipKv, Ring};
use tokio_util::sync::CancellationToken;

use crate::adapters;
use crate::config::RootConfig;
use crate::logs_adapters::GrpcLogsIngesterClients;

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
    ingester_metrics_ring: Option<Arc<Ring>>,
    ingester_logs_ring: Option<Arc<Ring>>,
    store: Option<Arc<dyn ObjectStore>>,
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
            ingester_metrics_ring: None,
            ingester_logs_ring: None,
            store: None,
        }
    }

    pub fn gossip(&self) -> Option<Arc<GossipKv>> {
        self.gossip.clone()
    }
}

/// Why the module graph could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Graph(#[from] ServiceError),
    #[error("initialising module {module}: {source}")]
    Module { module: String, source: BoxError },
}

/// Components that run per signal, in the order targets list them.
const COMPONENTS: &[&str] = &["distributor", "ingester", "querier"];

/// Aliases of targets, as in Cortex/Loki/Tempo.
const ALIASES: &[(&str, &[&str])] = &[
    ("all", &["distributor", "ingester", "querier"]),
    ("write", &["distributor", "ingester"]),
    ("read", &["querier"]),
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
                init: init_ingester_metrics_ring,
            },
            Module {
                name: "distributor-metrics",
                deps: &["runtime-config", "ring-ingester-metrics"],
                init: init_distributor_metrics,
            },
            Module {
                name: "ingester-metrics",
                deps: &["runtime-config", "ring-ingester-metrics", "storage"],
                init: init_ingester_metrics,
            },
            Module {
                name: "querier-metrics",
                deps: &["ring-ingester-metrics", "storage"],
                init: init_querier_metrics,
            },
            Module {
                name: "ring-ingester-logs",
                deps: &["memberlist-kv"],
                init: init_ingester_logs_ring,
            },
            Module {
                name: "distributor-logs",
                deps: &["runtime-config", "ring-ingester-logs"],
                init: init_distributor_logs,
            },
            Module {
                name: "ingester-logs",
                deps: &["runtime-config", "ring-ingester-logs", "storage"],
                init: init_ingester_logs,
            },
            Module {
                name: "querier-logs",
                deps: &["ring-ingester-logs", "storage"],
                init: init_querier_logs,
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
                    "{target} (available in this release: all, write, read, distributor, ingester, querier)"
                ))
                .into())
            }
        };
        for component in components {
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

fn init_ingester_metrics_ring(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let kv = ctx
        .gossip
        .clone()
        .ok_or_else(|| missing("ring-ingester-metrics", "memberlist-kv"))?;
    let rf = ctx.config.ingester.metrics.replication_factor;
    let ring = Arc::new(adapters::ingester_ring(
        &ctx.config,
        "ingester-metrics",
        rf,
        kv,
    ));
    ctx.rings.push((
        "ingester-metrics".to_string(),
        ctx.config.ingester.lifecycler.heartbeat_timeout,
    ));
    ctx.ingester_metrics_ring = Some(ring);
    Ok(None)
}

fn init_ingester_logs_ring(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let kv = ctx
        .gossip
        .clone()
        .ok_or_else(|| missing("ring-ingester-logs", "memberlist-kv"))?;
    let rf = ctx.config.ingester.logs.replication_factor;
    let ring = Arc::new(adapters::ingester_ring(
        &ctx.config,
        "ingester-logs",
        rf,
        kv,
    ));
    ctx.rings.push((
        "ingester-logs".to_string(),
        ctx.config.ingester.lifecycler.heartbeat_timeout,
    ));
    ctx.ingester_logs_ring = Some(ring);
    Ok(None)
}

fn init_ingester_logs(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let kv = ctx
        .gossip
        .clone()
        .ok_or_else(|| missing("ingester-logs", "memberlist-kv"))?;
    let ring = ctx
        .ingester_logs_ring
        .clone()
        .ok_or_else(|| missing("ingester-logs", "ring-ingester-logs"))?;
    let membership = adapters::membership(&ctx.config, "ingester-logs", kv, ring)
        .map_err(|e| init_error("ingester-logs", e))?;
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| missing("ingester-logs", "storage"))?;
    let overrides = ctx
        .overrides
        .clone()
        .ok_or_else(|| missing("ingester-logs", "runtime-config"))?;
    let config = ctx.config.ingester.clone();
    let limits = LogsStreamLimits::new(
        overrides,
        membership.clone(),
        config.logs.replication_factor,
    );
    let ingester = Arc::new(
        LogsIngester::new(
            std::path::Path::new(&config.wal_dir),
            config.logs.db_template(),
        )
        .with_stream_limits(limits),
    );
    ctx.grpc_routes.add_service(ingester.grpc_service());
    let shipper = LogsShipper::new(
        ingester.clone(),
        config.logs.clone(),
        store,
        &config.lifecycler.instance_id,
        &mut ctx.registry,
    );
    // `/ingester/flush` belongs to the metrics ingester when this process runs one
    let runs_metrics_ingester = ctx.config.signals.contains(&Signal::Metrics)
        && ctx.config.targets().iter().any(|t| {
            *t == "ingester"
                || ALIASES
                    .iter()
                    .any(|(alias, components)| alias == t && components.contains(&"ingester"))
        });
    let flush_paths: &[&str] = match runs_metrics_ingester {
        true => &[LOGS_FLUSH_PATH],
        false => &[LOGS_FLUSH_PATH, "/ingester/flush"],
    };
    ctx.http_routes.push(shipper.router(flush_paths));
    // the shipper starts after the WAL replay and stops before the ingester leaves the ring
    let lifecycle = Arc::new(LogsIngesterService::new(
        ingester,
        membership,
        ctx.readiness.register("ingester-logs"),
        config.logs.wal_fsync_interval,
    ));
    Ok(Some(Arc::new(adapters::Sequence::new(
        "ingester-logs",
        vec![lifecycle, shipper.service()],
    ))))
}

fn init_distributor_logs(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx
        .ingester_logs_ring
        .clone()
        .ok_or_else(|| missing("distributor-logs", "ring-ingester-logs"))?;
    let overrides = ctx
        .overrides
        .clone()
        .ok_or_else(|| missing("distributor-logs", "runtime-config"))?;
    let distributor = Arc::new(LogsDistributor::new(
        ctx.config.distributor.clone(),
        TenantResolver::new(ctx.config.multitenancy_enabled),
        overrides,
        adapters::ring_snapshot(ring),
        Arc::new(GrpcLogsIngesterClients::default()),
        &mut ctx.registry,
    ));
    ctx.http_routes.push(distributor.clone().router());
    // OTLP logs over gRPC on their own listener, bound when the module starts.
    let otlp = DistributorOtlpGrpcServer::new(
        "distributor-logs",
        ctx.config.distributor.otlp_grpc_listen_address.clone(),
        tonic::service::Routes::new(distributor.otlp_grpc_service()),
    );
    Ok(Some(Arc::new(otlp)))
}

fn init_querier_logs(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx
        .ingester_logs_ring
        .clone()
        .ok_or_else(|| missing("querier-logs", "ring-ingester-logs"))?;
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| missing("querier-logs", "storage"))?;
    let querier = LogsQuerier::new(
        adapters::ring_snapshot(ring),
        Arc::new(GrpcLogsIngesterClients::default()),
        &mut ctx.registry,
    )
    .with_blocks(&ctx.config.querier, store, &mut ctx.registry);
    let state = LokiApiState::new(
        Arc::new(querier),
        TenantResolver::new(ctx.config.multitenancy_enabled),
        ctx.config.querier.loki_api.clone(),
    );
    ctx.http_routes.push(loki_api_router(state));
    Ok(None)
}

fn init_distributor_metrics(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx
        .ingester_metrics_ring
        .clone()
        .ok_or_else(|| missing("distributor-metrics", "ring-ingester-metrics"))?;
    let overrides = ctx
        .overrides
        .clone()
        .ok_or_else(|| missing("distributor-metrics", "runtime-config"))?;
    let distributor = Arc::new(Distributor::new(
        ctx.config.distributor.clone(),
        TenantResolver::new(ctx.config.multitenancy_enabled),
        overrides,
        adapters::ring_snapshot(ring),
        Arc::new(adapters::GrpcIngesterClients::default()),
        &mut ctx.registry,
    ));
    ctx.http_routes.push(distributor.router());
    Ok(None)
}

fn init_ingester_metrics(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let kv = ctx
        .gossip
        .clone()
        .ok_or_else(|| missing("ingester-metrics", "memberlist-kv"))?;
    let ring = ctx
        .ingester_metrics_ring
        .clone()
        .ok_or_else(|| missing("ingester-metrics", "ring-ingester-metrics"))?;
    let overrides = ctx
        .overrides
        .clone()
        .ok_or_else(|| missing("ingester-metrics", "runtime-config"))?;
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| missing("ingester-metrics", "storage"))?;
    let membership = adapters::membership(&ctx.config, "ingester-metrics", kv, ring)
        .map_err(|e| init_error("ingester-metrics", e))?;
    let ingester = MetricsIngester::new(
        ctx.config.ingester.clone(),
        overrides,
        membership,
        store,
        ctx.readiness.register("ingester-metrics"),
        ctx.shutdown.clone(),
        &mut ctx.registry,
    );
    ctx.grpc_routes.add_service(ingester.grpc_service());
    ctx.http_routes.push(ingester.router());
    // The shipper starts after the WAL replay and stops before the ingester leaves the ring.
    Ok(Some(Arc::new(adapters::Sequence::new(
        "ingester-metrics",
        vec![ingester.service(), ingester.shipper_service()],
    ))))
}

fn init_querier_metrics(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx
        .ingester_metrics_ring
        .clone()
        .ok_or_else(|| missing("querier-metrics", "ring-ingester-metrics"))?;
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| missing("querier-metrics", "storage"))?;
    let config = ctx.config.querier.clone();
    let querier = Querier::new(
        config.clone(),
        adapters::ring_snapshot(ring),
        Arc::new(adapters::GrpcIngesterClients::default()),
        store,
        &mut ctx.registry,
    );
    let state = ApiState::with_config(
        Arc::new(querier),
        Engine::new(EngineOptions::default()),
        TenantResolver::new(ctx.config.multitenancy_enabled),
        config.prometheus_api,
    );
    ctx.http_routes.push(prometheus_api_router(state));
    Ok(None)
}

fn missing(module: &str, dependency: &str) -> InitError {
    InitError::Module {
        module: module.to_string(),
        source: format!("module {dependency} was not initialised").into(),
    }
}

fn init_error(module: &str, e: impl Into<BoxError>) -> InitError {
    InitError::Module {
        module: module.to_string(),
        source: e.into(),
    }
}
