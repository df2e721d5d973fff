//! The traces modules: the `ingester-traces` ring, and the distributor (OTLP traces), ingester
//! and querier (the Tempo API) of traces.

use std::sync::Arc;

use sextant_distributor::TracesDistributor;
use sextant_ingester::{TracesIngester, TracesIngesterLimits, TracesShipper, TRACES_FLUSH_PATH};
use sextant_kit::service::Service;
use sextant_model::Signal;
use sextant_querier::tempo_api::tempo_streaming_router;
use sextant_querier::{tempo_api_router, TempoApiState, TracesQuerier};

use super::{init_ring, Context, InitError};
use crate::adapters;
use crate::traces_adapters::GrpcTracesIngesterClients;

pub(super) fn init_ingester_traces_ring(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let rf = ctx.config.ingester.traces.replication_factor;
    let ring = init_ring(ctx, "ingester-traces", rf)?;
    ctx.ingester_rings.insert(Signal::Traces, ring);
    Ok(None)
}

pub(super) fn init_ingester_traces(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let membership = ctx.ring_membership("ingester-traces", Signal::Traces)?;
    let store = ctx.object_store("ingester-traces")?;
    let overrides = ctx.tenant_overrides("ingester-traces")?;
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
    Ok(Some(ctx.heads_then_shipper(
        "ingester-traces",
        ingester,
        membership,
        config.traces.wal_fsync_interval,
        shipper.service(),
    )))
}

pub(super) fn init_distributor_traces(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx.ingester_ring("distributor-traces", Signal::Traces)?;
    let overrides = ctx.tenant_overrides("distributor-traces")?;
    let distributor = Arc::new(TracesDistributor::new(
        ctx.config.distributor.clone(),
        ctx.tenants(),
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
    let ring = ctx.ingester_ring("querier-traces", Signal::Traces)?;
    let store = ctx.object_store("querier-traces")?;
    let querier = TracesQuerier::new(
        adapters::ring_snapshot(ring),
        Arc::new(GrpcTracesIngesterClients::default()),
        &mut ctx.registry,
    )
    .with_blocks(&ctx.config.querier, store, &mut ctx.registry);
    let state = TempoApiState::new(Arc::new(querier), ctx.tenants());
    ctx.http_routes.push(tempo_api_router(state.clone()));
    // Tempo's streaming gRPC search (Grafana's streaming option) on the HTTP port, as Tempo's
    // `stream_over_http_enabled`
    ctx.http_routes.push(tempo_streaming_router(state));
    Ok(None)
}
