#![allow(clippy::print_stdout)] // -print.config and -help write to stdout by design

//! The process lifecycle: flags and config, logging, module init, HTTP and gRPC servers,
//! services started in dependency order and stopped in reverse on SIGTERM/SIGINT or
//! `/ingester/shutdown`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use sextant_kit::config::{self, ConfigArgs, ConfigError};
use sextant_kit::http::{ops_router, serve, OpsState};
use sextant_kit::logging::{self, LogFormat};
use sextant_kit::service::ServiceManager;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;

use crate::config::RootConfig;
use crate::modules::{self, Context};

const USAGE: &str =
    "usage: sextant [-target=all|write|distributor|ingester] [-signals=metrics,logs,traces]
               [-config.file=<yaml>] [-config.expand-env] [-print.config]
               [-<yaml.path>=<value> ...]   e.g. -ingester.metrics.replication-factor=3

Every YAML path of the configuration can be set as a flag: dots separate blocks, dashes
stand for underscores. Precedence: defaults < config file < flags.";

/// Entry point of the binary; returns the process exit code.
pub fn main(args: Vec<String>) -> ExitCode {
    let (config, args) = match load_config(args) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if args.print_config {
        print!("{}", config::to_yaml(&config));
        return ExitCode::SUCCESS;
    }
    let format = match config.server.log_format.as_str() {
        "json" => LogFormat::Json,
        _ => LogFormat::Logfmt,
    };
    if let Err(e) = logging::init(&config.server.log_level, format) {
        eprintln!("server.log_level: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "sextant failed");
            ExitCode::FAILURE
        }
    }
}

/// Parses flags and loads the config, printing errors and usage; `Err` carries the exit code.
pub fn load_config(args: Vec<String>) -> Result<(RootConfig, ConfigArgs), ExitCode> {
    let args = match config::parse_args(args) {
        Ok(args) => args,
        Err(ConfigError::Help) => {
            println!(
                "{USAGE}\n\nflags and their defaults:\n{}",
                config::usage::<RootConfig>()
            );
            return Err(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return Err(ExitCode::from(2));
        }
    };
    let config: RootConfig = match config::load(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return Err(ExitCode::from(2));
        }
    };
    if let Err(e) = config.validate() {
        eprintln!("invalid configuration: {e}");
        return Err(ExitCode::from(2));
    }
    Ok((config, args))
}

/// Runs the configured modules until a shutdown is requested, then stops them in reverse.
pub async fn run(config: RootConfig) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());

    let table = modules::table();
    let targets = config.targets();
    let names = modules::modules_for(&table, &targets, &config.signals)?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let config_yaml: Arc<str> = config::to_yaml(&config).into();
    let http_addr = config.server.http_listen_address.clone();
    let grpc_addr = config.server.grpc_listen_address.clone();
    let stop_timeout = config.server.graceful_shutdown_timeout;

    let mut ctx = Context::new(config, shutdown.clone());
    let mut services = table.init(&names, &mut ctx)?;
    services.extend(ctx.otlp_grpc_server());
    let manager = ServiceManager::new(services, stop_timeout);

    let gossip = ctx.gossip();
    let Context {
        registry,
        readiness,
        http_routes,
        grpc_routes,
        rings,
        ..
    } = ctx;
    let ops = OpsState {
        readiness,
        registry: Arc::new(registry),
        services: manager.states(),
        config_yaml,
    };
    let mut router = ops_router(ops);
    if let Some(kv) = gossip {
        let mut pages = sextant_ring::http::RingHttpState::new(kv);
        for (name, timeout) in rings {
            pages = pages.with_ring(&name, timeout);
        }
        router = router.merge(sextant_ring::http::ring_router(pages));
    }
    for routes in http_routes {
        router = router.merge(routes);
    }

    let servers_stop = CancellationToken::new();
    let http_listener = TcpListener::bind(&http_addr)
        .await
        .with_context(|| format!("server.http_listen_address: cannot listen on {http_addr}"))?;
    let grpc_listener = TcpListener::bind(&grpc_addr)
        .await
        .with_context(|| format!("server.grpc_listen_address: cannot listen on {grpc_addr}"))?;
    tracing::info!(http = %http_addr, grpc = %grpc_addr, modules = ?names, "sextant starting");
    let http_task = tokio::spawn(serve(http_listener, router, servers_stop.clone()));
    let grpc_task = tokio::spawn(serve_grpc(grpc_listener, grpc_routes, servers_stop.clone()));

    let started = manager.start_all().await;
    if let Err(e) = &started {
        tracing::error!(error = %e, "start failed; stopping what was started");
    } else {
        tracing::info!("sextant started");
        shutdown.cancelled().await;
        tracing::info!("shutting down");
    }
    for error in manager.stop_all().await {
        tracing::error!(error = %error, "stop failed");
    }
    servers_stop.cancel();
    let _ = tokio::time::timeout(stop_timeout, async {
        let _ = http_task.await;
        let _ = grpc_task.await;
    })
    .await;
    tracing::info!("sextant stopped");
    started.map_err(Into::into)
}

async fn serve_grpc(
    listener: TcpListener,
    routes: tonic::service::RoutesBuilder,
    stop: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    // the builder's `tcp_nodelay` only applies to listeners tonic binds itself: without it an
    // answer sent as several HTTP/2 frames waits ~40 ms for the peer's delayed ACK (Nagle)
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await })
        .await
}

fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "received signal"),
            _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "received signal"),
        }
        shutdown.cancel();
    });
}
