//! TLS and plaintext on one port, as the Java proxy serves them: the first byte of a
//! connection tells (a TLS handshake record starts with 0x16; HTTP/2's preface with `P`).
//! Java and Go SDKs default to TLS and trust any certificate; Python and Node default to
//! plaintext. The certificate is `grpcTlsCertPath`/`grpcTlsKeyPath` (PEM) when configured,
//! else one generated at start, self-signed (the proxy's `tlsTestModeEnable`). ALPN offers
//! `h2`, which gRPC clients require.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long a new connection may take to send its first byte and finish a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE: u8 = 0x16;

/// The server's certificate: from PEM files, or self-signed for `names`.
pub fn server_config(cert_path: Option<&str>, key_path: Option<&str>, names: Vec<String>) -> Result<Arc<ServerConfig>, String> {
    let (certs, key) = match (cert_path, key_path) {
        (Some(c), Some(k)) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
                .map_err(|e| format!("cannot read grpcTlsCertPath {c}: {e}"))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("cannot read grpcTlsCertPath {c}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("grpcTlsCertPath {c} holds no certificate"));
            }
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| format!("cannot read grpcTlsKeyPath {k}: {e}"))?;
            (certs, key)
        }
        (None, None) => {
            let generated = rcgen::generate_simple_self_signed(names).map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der()));
            (vec![generated.cert.der().clone()], key)
        }
        _ => return Err("grpcTlsCertPath and grpcTlsKeyPath go together".into()),
    };
    // ring rather than aws-lc-rs (which needs cmake to build); its lack of post-quantum key
    // exchange is what the deprecation is about, and no RocketMQ SDK offers one.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the gRPC certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
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
pub fn accept(listener: TcpListener, tls: Arc<ServerConfig>, max_pending: usize) -> mpsc::Receiver<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(64);
    let pending = Arc::new(tokio::sync::Semaphore::new(max_pending.max(1)));
    let acceptor = TlsAcceptor::from(tls);
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
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, ready(tcp, &acceptor)).await {
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

async fn ready(tcp: TcpStream, acceptor: &TlsAcceptor) -> io::Result<Conn> {
    tcp.set_nodelay(true)?;
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before sending anything"));
    }
    if first[0] == TLS_HANDSHAKE {
        Ok(Conn::Tls(Box::new(acceptor.accept(tcp).await?)))
    } else {
        Ok(Conn::Plain(tcp))
    }
}

/// Names the self-signed certificate is for: localhost, loopback and the advertised address.
pub fn default_names(broker_ip: &str) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !names.iter().any(|n| n == broker_ip) {
        names.push(broker_ip.to_string());
    }
    names
}
