//! The traces modules: the `ingester-traces` ring, and the distributor (OTLP traces), ingester
//! and querier (the Tempo API) of traces.

use std::sync::Arc;

use sextant_distributor::TracesDistributor;
use sextant_ingester::{
    TracesIngester, TracesIngesterLimits, TracesIngesterService, TracesShipper, TRACES_FLUSH_PATH,
};
use sextant_kit::service::Service;
use sextant_kit::tenant::TenantResolver;
use sextant_querier::{tempo_api_router, TempoApiState, TracesQuerier};

use super::{init_error, init_ring, missing, Context, InitError};
use crate::adapters;
use crate::traces_adapters::GrpcTracesIngesterClients;

pub(super) fn init_ingester_traces_ring(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let rf = ctx.config.ingester.traces.replication_factor;
    ctx.ingester_traces_ring = Some(init_ring(ctx, "ingester-traces", rf)?);
    Ok(None)
}

pub(super) fn init_ingester_traces(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let kv = ctx
        .gossip
        .clone()
        .ok_or_else(|| missing("ingester-traces", "memberlist-kv"))?;
    let ring = ctx
        .ingester_traces_ring
        .clone()
        .ok_or_else(|| missing("ingester-traces", "ring-ingester-traces"))?;
    let membership = adapters::membership(&ctx.config, "ingester-traces", kv, ring)
        .map_err(|e| init_error("ingester-traces", e))?;
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| missing("ingester-traces", "storage"))?;
    let overrides = ctx
        .overrides
        .clone()
        .ok_or_else(|| missing("ingester-traces", "runtime-config"))?;
    let config = ctx.config.ingester.clone();
    let limits = TracesIngesterLimits::new(
        overrides,
        Some(membership.clone()),
        config.traces.replication_factor,
    );
    let ingester = Arc::new(TracesIngester::new(
        std::path::Path::new(&config.wal_dir),
        &config.traces,
        limits,
        &mut ctx.registry,
    ));
    ctx.grpc_routes.add_service(ingester.grpc_service());
    let shipper = TracesShipper::new(
        ingester.clone(),
        config.traces.clone(),
        store,
        &config.lifecycler.instance_id,
        &mut ctx.registry,
    );
    ctx.http_routes.push(shipper.router(&[TRACES_FLUSH_PATH]));
    // the shipper starts after the WAL replay and stops before the ingester leaves the ring
    let lifecycle = Arc::new(TracesIngesterService::new(
        ingester,
        membership,
        ctx.readiness.register("ingester-traces"),
        config.traces.wal_fsync_interval,
    ));
    Ok(Some(Arc::new(adapters::Sequence::new(
        "ingester-traces",
        vec![lifecycle, shipper.service()],
    ))))
}

pub(super) fn init_distributor_traces(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx
        .ingester_traces_ring
        .clone()
        .ok_or_else(|| missing("distributor-traces", "ring-ingester-traces"))?;
    let overrides = ctx
        .overrides
        .clone()
        .ok_or_else(|| missing("distributor-traces", "runtime-config"))?;
    let distributor = Arc::new(TracesDistributor::new(
        ctx.config.distributor.clone(),
        TenantResolver::new(ctx.config.multitenancy_enabled),
        overrides,
        adapters::ring_snapshot(ring),
        Arc::new(GrpcTracesIngesterClients::default()),
        &mut ctx.registry,
    ));
    ctx.http_routes.push(distributor.clone().router());
    ctx.otlp_grpc_routes
        .add_service(distributor.otlp_grpc_service());
    ctx.otlp_grpc_used = true;
    Ok(None)
}

pub(super) fn init_querier_traces(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx
        .ingester_traces_ring
        .clone()
        .ok_or_else(|| missing("querier-traces", "ring-ingester-traces"))?;
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| missing("querier-traces", "storage"))?;
    let querier = TracesQuerier::new(
        adapters::ring_snapshot(ring),
        Arc::new(GrpcTracesIngesterClients::default()),
        &mut ctx.registry,
    )
    .with_blocks(&ctx.config.querier, store, &mut ctx.registry);
    let state = TempoApiState::new(
        Arc::new(querier),
        TenantResolver::new(ctx.config.multitenancy_enabled),
    );
    ctx.http_routes.push(tempo_api_router(state));
    Ok(None)
}
