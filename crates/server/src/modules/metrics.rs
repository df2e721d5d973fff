//! The metrics modules: the `ingester-metrics` ring, and the distributor, ingester and
//! querier of metrics (remote write, the Prometheus API).

use std::sync::Arc;

use sextant_distributor::Distributor;
use sextant_ingester::MetricsIngester;
use sextant_kit::service::Service;
use sextant_metrics::promql::{Engine, EngineOptions};
use sextant_model::Signal;
use sextant_querier::api::{prometheus_api_router, ApiState};
use sextant_querier::Querier;

use super::{init_error, init_ring, Context, InitError};
use crate::adapters;

pub(super) fn init_ingester_metrics_ring(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let rf = ctx.config.ingester.metrics.replication_factor;
    let ring = init_ring(ctx, "ingester-metrics", rf)?;
    ctx.ingester_rings.insert(Signal::Metrics, ring);
    Ok(None)
}

pub(super) fn init_distributor_metrics(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx.ingester_ring("distributor-metrics", Signal::Metrics)?;
    let overrides = ctx.tenant_overrides("distributor-metrics")?;
    let distributor = Arc::new(Distributor::new(
        ctx.config.distributor.clone(),
        ctx.tenants(),
        overrides,
        adapters::ring_snapshot(ring),
        Arc::new(adapters::GrpcIngesterClients::default()),
        &mut ctx.registry,
    ));
    ctx.http_routes.push(distributor.router());
    Ok(None)
}

pub(super) fn init_ingester_metrics(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let kv = ctx.gossip_kv("ingester-metrics")?;
    let ring = ctx.ingester_ring("ingester-metrics", Signal::Metrics)?;
    let overrides = ctx.tenant_overrides("ingester-metrics")?;
    let store = ctx.object_store("ingester-metrics")?;
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

pub(super) fn init_querier_metrics(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx.ingester_ring("querier-metrics", Signal::Metrics)?;
    let store = ctx.object_store("querier-metrics")?;
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
        ctx.tenants(),
        config.prometheus_api,
    );
    ctx.http_routes.push(prometheus_api_router(state));
    if !config.ruler_address.is_empty() && !ctx.runs_component("ruler") {
        ctx.http_routes
            .push(sextant_querier::ruler_proxy_router(&config.ruler_address));
    }
    Ok(None)
}
