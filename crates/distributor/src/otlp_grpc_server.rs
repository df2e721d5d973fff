//! The OTLP gRPC listener (`distributor.otlp_grpc_listen_address`, 4317 by default) as a
//! service: it binds on start (failing the start, with the YAML path named, when the address is
//! taken), serves the gRPC routes it was given until stop, then drains.

use std::net::SocketAddr;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use sextant_kit::service::{BoxError, Service};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;

/// Serves OTLP gRPC services (`LogsService`, `TraceService`) on their own address.
pub struct DistributorOtlpGrpcServer {
    name: String,
    listen_address: String,
    routes: Mutex<Option<Routes>>,
    running: Mutex<Option<Running>>,
    local_addr: Mutex<Option<SocketAddr>>,
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl DistributorOtlpGrpcServer {
    /// `name` is shown on `/services`; `listen_address` is `host:port` (port 0 picks one).
    pub fn new(name: impl Into<String>, listen_address: impl Into<String>, routes: Routes) -> Self {
        DistributorOtlpGrpcServer {
            name: name.into(),
            listen_address: listen_address.into(),
            routes: Mutex::new(Some(routes)),
            running: Mutex::new(None),
            local_addr: Mutex::new(None),
        }
    }

    /// The bound address, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.local_addr.lock()
    }

    async fn start_inner(&self) -> Result<(), BoxError> {
        let routes = self
            .routes
            .lock()
            .take()
            .ok_or("the OTLP gRPC server was already started")?;
        let listener = TcpListener::bind(&self.listen_address).await.map_err(|e| {
            format!(
                "distributor.otlp_grpc_listen_address: cannot listen on {}: {e}",
                self.listen_address
            )
        })?;
        let local = listener.local_addr()?;
        *self.local_addr.lock() = Some(local);
        let (stop, stopped) = oneshot::channel::<()>();
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stopped.await;
                }),
        );
        *self.running.lock() = Some(Running { stop, task });
        tracing::info!(addr = %local, "otlp grpc listening");
        Ok(())
    }

    async fn stop_inner(&self) -> Result<(), BoxError> {
        let Some(running) = self.running.lock().take() else {
            return Ok(());
        };
        let _ = running.stop.send(());
        running.task.await??;
        Ok(())
    }
}

impl Service for DistributorOtlpGrpcServer {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(self.start_inner())
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(self.stop_inner())
    }
}
