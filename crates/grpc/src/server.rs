//! The gRPC listener: binds `grpcServerPort`, serves [`Service`] over HTTP/2 until shut down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broker::Broker;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;

use crate::pb::messaging_service_server::MessagingServiceServer;
use crate::service::Service;

/// Connections between accept and their first byte (or TLS handshake) at once.
const MAX_PENDING_HANDSHAKES: usize = 1024;
/// How long a shutdown waits for calls in progress (long polls, Telemetry streams) to end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

pub struct GrpcServer {
    pub local_addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
    renewer: JoinHandle<()>,
}

impl GrpcServer {
    /// Stops accepting, lets calls in progress end for a moment, then drops the rest.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        self.renewer.abort();
        let mut task = self.task;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Binds the broker's gRPC port (0: one the OS picks) and serves, TLS and plaintext alike.
pub async fn start(broker: Arc<Broker>) -> std::io::Result<GrpcServer> {
    let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], broker.config.grpc_server_port))).await?;
    let local_addr = listener.local_addr()?;
    let service = Service::new(broker.clone(), local_addr.port());
    let renewer = tokio::spawn(crate::renew::run(broker.clone(), service.renewals().clone()));
    let service = MessagingServiceServer::new(service)
        .max_decoding_message_size(broker.config.grpc_max_inbound_message_size)
        .max_encoding_message_size(broker.config.grpc_max_inbound_message_size);
    let cfg = &broker.config;
    let names = crate::tls::default_names(&cfg.broker_ip1);
    let tls = crate::tls::server_config(cfg.grpc_tls_cert_path.as_deref(), cfg.grpc_tls_key_path.as_deref(), names).map_err(std::io::Error::other)?;
    let incoming = ReceiverStream::new(crate::tls::accept(listener, tls, MAX_PENDING_HANDSHAKES));
    let (shutdown, stop) = oneshot::channel::<()>();
    let router = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .max_concurrent_streams(broker.config.grpc_max_streams_per_connection)
        .add_service(service);
    let task = tokio::spawn(async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop.await;
            })
            .await
        {
            tracing::error!(error = %e, "the gRPC server stopped");
        }
    });
    Ok(GrpcServer { local_addr, shutdown, task, renewer })
}
