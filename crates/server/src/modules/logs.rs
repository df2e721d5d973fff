//! The logs modules: the `ingester-logs` ring, and the distributor, ingester and querier of
//! logs (Loki's push and query APIs).

use std::sync::Arc;

use sextant_distributor::LogsDistributor;
use sextant_ingester::{LogsIngester, LogsShipper, LogsStreamLimits, LOGS_FLUSH_PATH};
use sextant_kit::service::Service;
use sextant_model::Signal;
use sextant_querier::{loki_api_router, LogsQuerier, LokiApiState};

use super::{init_ring, Context, InitError};
use crate::adapters;
use crate::logs_adapters::GrpcLogsIngesterClients;

pub(super) fn init_ingester_logs_ring(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let rf = ctx.config.ingester.logs.replication_factor;
    let ring = init_ring(ctx, "ingester-logs", rf)?;
    ctx.ingester_rings.insert(Signal::Logs, ring);
    Ok(None)
}

pub(super) fn init_ingester_logs(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let membership = ctx.ring_membership("ingester-logs", Signal::Logs)?;
    let store = ctx.object_store("ingester-logs")?;
    let overrides = ctx.tenant_overrides("ingester-logs")?;
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
    let runs_metrics_ingester =
        ctx.config.signals.contains(&Signal::Metrics) && ctx.runs_component("ingester");
    let flush_paths: &[&str] = match runs_metrics_ingester {
        true => &[LOGS_FLUSH_PATH],
        false => &[LOGS_FLUSH_PATH, "/ingester/flush"],
    };
    ctx.http_routes.push(shipper.router(flush_paths));
    Ok(Some(ctx.heads_then_shipper(
        "ingester-logs",
        ingester,
        membership,
        config.logs.wal_fsync_interval,
        shipper.service(),
    )))
}

pub(super) fn init_distributor_logs(
    ctx: &mut Context,
) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx.ingester_ring("distributor-logs", Signal::Logs)?;
    let overrides = ctx.tenant_overrides("distributor-logs")?;
    let distributor = Arc::new(LogsDistributor::new(
        ctx.config.distributor.clone(),
        ctx.tenants(),
        overrides,
        adapters::ring_snapshot(ring),
        Arc::new(GrpcLogsIngesterClients::default()),
        &mut ctx.registry,
    ));
    ctx.http_routes.push(distributor.clone().router());
    // OTLP logs over gRPC on the shared OTLP listener (bound once every module is built)
    ctx.otlp_grpc_routes
        .add_service(distributor.otlp_grpc_service());
    ctx.otlp_grpc_used = true;
    Ok(None)
}

pub(super) fn init_querier_logs(ctx: &mut Context) -> Result<Option<Arc<dyn Service>>, InitError> {
    let ring = ctx.ingester_ring("querier-logs", Signal::Logs)?;
    let store = ctx.object_store("querier-logs")?;
    let querier = LogsQuerier::new(
        adapters::ring_snapshot(ring),
        Arc::new(GrpcLogsIngesterClients::default()),
        &mut ctx.registry,
    )
    .with_blocks(&ctx.config.querier, store, &mut ctx.registry);
    let state = LokiApiState::new(
        Arc::new(querier),
        ctx.tenants(),
        ctx.config.querier.loki_api.clone(),
    );
    ctx.http_routes.push(loki_api_router(state));
    Ok(None)
}
