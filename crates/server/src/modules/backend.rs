//! The backend modules: the compactor (all signals it runs for, one `compactor-<signal>` ring
//! each) and the ruler (metrics and logs rules, one `ruler-<signal>` ring each).

use std::sync::Arc;

use sextant_compactor::deletion::{deletion_router, CompactorDeletionState};
use sextant_compactor::passes::CompactorTenantLimits;
use sextant_compactor::service::{compactor_router, Compactor, CompactorService};
use sextant_compactor::sharding::{compactor_ring_name, CompactorSharding};
use sextant_kit::service::Service;
use sextant_model::Signal;
use sextant_ruler::api::{rules_router, RulesApiLimits, RulesApiState};
use sextant_ruler::manager::{RulerClients, RulerManager, RulerRing};
use sextant_ruler::store::{CombinedRuleStore, LocalRuleStore, ObjectRuleStore, RuleStore};

use super::{init_error, Context, InitError};
use crate::adapters::{self, RingMemberService};

pub(super) fn init_compactor(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    const MODULE: &str = "compactor";
    let kv = ctx.gossip_kv(MODULE)?;
    let store = ctx.object_store(MODULE)?;
    let mut config = ctx.config.compactor.clone();
    config.ring = process_identity(ctx, config.ring);
    let mut services: Vec<Arc<dyn Service>> = Vec::new();
    let mut shards = Vec::new();
    for signal in ctx.config.signals.clone() {
        let name = compactor_ring_name(signal);
        let ring = Arc::new(adapters::component_ring(&name, &config.ring, kv.clone()));
        ctx.rings
            .push((name.clone(), config.ring.heartbeat_timeout));
        let member = RingMemberService::new(&ctx.config, config.ring.clone(), &name, kv.clone())
            .map_err(|e| init_error(MODULE, e))?;
        shards.push((signal, CompactorSharding::new(ring, member.instance_id())));
        services.push(Arc::new(member));
    }
    let overrides = ctx.tenant_overrides(MODULE)?;
    let limits: CompactorTenantLimits = Arc::new(move |tenant| overrides.limits(tenant));
    let compactor = Compactor::new(config, store, shards, &mut ctx.registry)
        .map_err(|e| init_error(MODULE, e))?
        .with_standard_passes(limits, &mut ctx.registry);
    let compactor = Arc::new(compactor);
    ctx.http_routes.push(compactor_router(compactor.clone()));
    ctx.http_routes
        .push(deletion_router(CompactorDeletionState {
            store: ctx.object_store(MODULE)?,
            tenants: ctx.tenants(),
            signals: ctx.config.signals.clone(),
        }));
    services.push(Arc::new(CompactorService::new(compactor)));
    Ok(Some(Arc::new(adapters::Sequence::new(MODULE, services))))
}

/// A component ring's lifecycler config, its instance id defaulting to this process's
/// ingester id when that is set (one name per process), else to the hostname.
fn process_identity(
    ctx: &Context,
    mut ring: sextant_ring::LifecyclerConfig,
) -> sextant_ring::LifecyclerConfig {
    if ring.instance_id.is_empty() {
        ring.instance_id = ctx.config.ingester.lifecycler.instance_id.clone();
    }
    ring
}

/// The signals that have rules.
const RULE_SIGNALS: [Signal; 2] = [Signal::Metrics, Signal::Logs];

pub(super) fn init_ruler(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    const MODULE: &str = "ruler";
    let kv = ctx.gossip_kv(MODULE)?;
    let bucket = ctx.object_store(MODULE)?;
    let mut config = ctx.config.ruler.clone();
    config.ring = process_identity(ctx, config.ring);
    let own_http = local_http_base(&ctx.config.server.http_listen_address);
    let addresses = [
        (&mut config.query_address, "querier", "ruler.query_address"),
        (
            &mut config.push_address,
            "distributor",
            "ruler.push_address",
        ),
    ];
    for (address, serves_it, key) in addresses {
        if !address.is_empty() {
            continue;
        }
        if !ctx.runs_component(serves_it) {
            let reason = format!(
                "{key} must be set (the base URL of a {serves_it}) when this process runs no {serves_it}"
            );
            return Err(init_error(MODULE, reason));
        }
        address.clone_from(&own_http);
    }
    let mut services: Vec<Arc<dyn Service>> = Vec::new();
    let mut rings = Vec::new();
    for signal in RULE_SIGNALS {
        if !ctx.config.signals.contains(&signal) {
            continue;
        }
        let name = format!("ruler-{signal}");
        let ring = Arc::new(adapters::component_ring(&name, &config.ring, kv.clone()));
        ctx.rings
            .push((name.clone(), config.ring.heartbeat_timeout));
        let member = RingMemberService::new(&ctx.config, config.ring.clone(), &name, kv.clone())
            .map_err(|e| init_error(MODULE, e))?;
        rings.push(RulerRing {
            signal,
            ring,
            instance_id: member.instance_id().to_string(),
        });
        services.push(Arc::new(member));
    }
    let remote: Arc<dyn RuleStore> = Arc::new(ObjectRuleStore::new(bucket));
    let store: Arc<dyn RuleStore> = match config.local_directory.is_empty() {
        true => remote,
        false => Arc::new(CombinedRuleStore::new(
            LocalRuleStore::new(&config.local_directory),
            remote,
        )),
    };
    let clients = RulerClients::http(&config, config.evaluation_interval)
        .map_err(|e| init_error(MODULE, e))?;
    let manager = RulerManager::new(config, store.clone(), clients, rings, &mut ctx.registry)
        .map_err(|e| init_error(MODULE, e))?;
    let manager = Arc::new(manager);
    ctx.http_routes.push(rules_router(RulesApiState {
        store,
        view: manager.clone(),
        tenants: ctx.tenants(),
        limits: RulesApiLimits::default(),
    }));
    services.push(manager);
    Ok(Some(Arc::new(adapters::Sequence::new(MODULE, services))))
}

/// `http://<host>:<port>` of this process's HTTP listener, loopback for a wildcard address.
fn local_http_base(listen: &str) -> String {
    let address = match listen.rsplit_once(':') {
        Some(("0.0.0.0", port)) | Some(("[::]", port)) | Some(("", port)) => {
            format!("127.0.0.1:{port}")
        }
        _ => listen.to_string(),
    };
    format!("http://{address}")
}
