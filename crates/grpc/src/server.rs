//! The gRPC listener: binds `grpcServerPort`, serves [`Service`] over HTTP/2 until shut down.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broker::Broker;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::codegen::{http, Context, Future, Pin, Poll, Service as TowerService};
use tonic::server::NamedService;
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
    let tls = crate::tls::server_config(cfg).map_err(std::io::Error::other)?;
    let incoming = ReceiverStream::new(crate::tls::accept(listener, cfg.tls.mode, tls, MAX_PENDING_HANDSHAKES));
    let (shutdown, stop) = oneshot::channel::<()>();
    let router = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .max_concurrent_streams(broker.config.grpc_max_streams_per_connection)
        .add_service(Detached(service));
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

/// The gRPC service with each call run on a task of its own. HTTP/2 drops a call's future
/// when its client resets the stream or its `grpc-timeout` passes; a broker operation must
/// not stop half done there (a transactional or timer send stored but not yet in the
/// broker's memory, an ack journaled but not applied), so only the wait for the answer is
/// dropped. Remoting handlers run on tasks of their own for the same reason.
#[derive(Clone)]
struct Detached<S>(S);

impl<S: NamedService> NamedService for Detached<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> TowerService<http::Request<Body>> for Detached<S>
where
    S: TowerService<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let call = tokio::spawn(self.0.call(request));
        Box::pin(async move {
            match call.await {
                Ok(answer) => answer,
                Err(e) => Ok(tonic::Status::internal(format!("the call failed: {e}")).into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::sync::Notify;

    use super::*;

    /// A call that ends only when told to, and says when it has.
    #[derive(Clone)]
    struct Slow(Arc<Notify>, Arc<AtomicBool>);

    impl TowerService<http::Request<Body>> for Slow {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _request: http::Request<Body>) -> Self::Future {
            let (go, done) = (self.0.clone(), self.1.clone());
            Box::pin(async move {
                go.notified().await;
                done.store(true, Ordering::SeqCst);
                Ok(http::Response::new(Body::empty()))
            })
        }
    }

    #[tokio::test]
    async fn a_call_its_client_gave_up_on_still_runs_to_its_end() {
        let (go, done) = (Arc::new(Notify::new()), Arc::new(AtomicBool::new(false)));
        let mut service = Detached(Slow(go.clone(), done.clone()));
        // The client resets the stream: HTTP/2 drops the call's future.
        drop(service.call(http::Request::new(Body::empty())));
        go.notify_one();
        for _ in 0..500 {
            if done.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the operation stopped with its client");
    }
}
