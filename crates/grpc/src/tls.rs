//! TLS and plaintext on one port, as the Java proxy serves them: the first byte of a
//! connection tells (a TLS handshake record starts with 0x16; HTTP/2's preface with `P`),
//! under the broker's `tls.server.mode` (permissive by default; enforcing refuses plaintext,
//! disabled never looks), as the proxy's gRPC port follows it. Java and Go SDKs default to
//! TLS and trust any certificate; Python and Node default to plaintext. The certificate is
//! `grpcTlsCertPath`/`grpcTlsKeyPath` (PEM) when configured, else `tls.server.*`'s, else one
//! generated at start, self-signed (the proxy's `tlsTestModeEnable`). ALPN offers `h2`,
//! which gRPC clients require.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use remoting::tls::TlsMode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long a new connection may take to send its first byte and finish a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The gRPC port's TLS under the broker's `tls.*` settings (its mode; self-signed unless a
/// certificate is configured): `grpcTlsCertPath`/`grpcTlsKeyPath` when given, else
/// `tls.server.certPath`/`keyPath`. `None` when TLS is disabled.
pub fn server_config(config: &broker::config::BrokerConfig) -> Result<Option<Arc<ServerConfig>>, String> {
    let cert = remoting::tls::cert_and_key(config.grpc_tls_cert_path.as_deref(), config.grpc_tls_key_path.as_deref(), "grpcTlsCertPath", "grpcTlsKeyPath")?;
    // The 5.x SDKs present no certificate (the Java proxy's gRPC port asks for none): the
    // remoting ports' client-certificate settings do not apply here.
    let settings = remoting::tls::TlsSettings { server_need_client_auth: remoting::tls::NeedClientAuth::None, ..config.tls.clone() };
    settings.server(remoting::tls::default_names(&config.broker_ip1), vec![b"h2".to_vec()], cert)
}

/// A connection, in TLS or in the clear.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        let tcp = match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        };
        TcpConnectInfo { local_addr: tcp.local_addr().ok(), remote_addr: tcp.peer_addr().ok() }
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// Accepts connections, tells TLS from plaintext by the first byte (each connection on its own
/// task, so a slow one holds up no other) and hands them on ready to serve. At most
/// `max_pending` connections may be between accept and ready at once.
pub fn accept(listener: TcpListener, mode: TlsMode, tls: Option<Arc<ServerConfig>>, max_pending: usize) -> mpsc::Receiver<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(64);
    let pending = Arc::new(tokio::sync::Semaphore::new(max_pending.max(1)));
    let mode = if tls.is_some() { mode } else { TlsMode::Disabled };
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            // Until the server stops taking connections (it drops the receiver).
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: wait, as the remoting server does.
                    tracing::warn!(error = %e, "gRPC accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = pending.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "too many gRPC connections in handshake; closed");
                continue;
            };
            let (out, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, ready(tcp, mode, acceptor.as_ref())).await {
                    Ok(Ok(conn)) => {
                        let _ = out.send(Ok(conn)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "gRPC connection refused"),
                    Err(_) => tracing::debug!(%peer, "gRPC connection sent nothing in time; closed"),
                }
            });
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}

async fn ready(tcp: TcpStream, mode: TlsMode, acceptor: Option<&TlsAcceptor>) -> io::Result<Conn> {
    tcp.set_nodelay(true)?;
    match acceptor {
        Some(acceptor) if remoting::tls::is_tls(&tcp, mode).await? => Ok(Conn::Tls(Box::new(acceptor.accept(tcp).await?))),
        _ => Ok(Conn::Plain(tcp)),
    }
}
