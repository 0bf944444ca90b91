//! The accept loop: a connection limit, an [`Acceptor`] that turns a TCP connection into a
//! channel (plain, or TLS later), and the live [`Connections`] a stopping server ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::channel::{BoxFuture, Channel, ChannelConfig, Handler};

/// Turns an accepted TCP connection into a channel: as it is ([`PlainTcp`]), or after a
/// handshake (TLS) over `Channel::spawn_io`. Runs on the connection's own task, so a slow
/// handshake does not hold up the accept loop.
pub trait Acceptor: Send + Sync + 'static {
    fn accept(&self, stream: TcpStream, handler: Arc<dyn Handler>, config: ChannelConfig) -> BoxFuture<std::io::Result<Arc<Channel>>>;
}

/// Plain TCP.
pub struct PlainTcp;

impl Acceptor for PlainTcp {
    fn accept(&self, stream: TcpStream, handler: Arc<dyn Handler>, config: ChannelConfig) -> BoxFuture<std::io::Result<Arc<Channel>>> {
        Box::pin(std::future::ready(Channel::spawn(stream, handler, config)))
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub channel: ChannelConfig,
    /// Connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { channel: ChannelConfig::default(), max_connections: 10_000 }
    }
}

/// The live connections of a server, so a stopping server can close them all.
#[derive(Default)]
pub struct Connections {
    live: Mutex<Live>,
}

#[derive(Default)]
struct Live {
    channels: HashMap<u64, Arc<Channel>>,
    /// Set once the server stops: a connection set up after that (its setup task ran late, or
    /// its handshake ended) is closed instead of served.
    stopping: bool,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new connection in; false, with the channel closed, once the server is stopping.
    fn add(&self, channel: &Arc<Channel>) -> bool {
        let mut live = self.lock();
        if live.stopping {
            drop(live);
            channel.close();
            return false;
        }
        live.channels.insert(channel.id(), channel.clone());
        true
    }

    fn remove(&self, channel: &Channel) {
        self.lock().channels.remove(&channel.id());
    }

    /// Closes every connection now, and any set up from here on.
    pub fn close_all(&self) {
        let live: Vec<_> = {
            let mut live = self.lock();
            live.stopping = true;
            live.channels.drain().map(|(_, c)| c).collect()
        };
        for c in live {
            c.close();
        }
    }

    /// Ends every connection gently (`Channel::finish`): answers already queued are written,
    /// then each side is shut; waits up to `grace` for peers to close, then closes the rest.
    /// A connection set up meanwhile is closed at once.
    pub async fn finish_all(&self, grace: Duration) {
        let live: Vec<Arc<Channel>> = {
            let mut live = self.lock();
            live.stopping = true;
            live.channels.values().cloned().collect()
        };
        for c in &live {
            c.finish();
        }
        let deadline = tokio::time::Instant::now() + grace;
        while live.iter().any(|c| !c.is_closed()) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.close_all();
    }

    pub fn len(&self) -> usize {
        self.lock().channels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Accepts plain TCP connections until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, handler: Arc<dyn Handler>, config: ServerConfig, connections: Arc<Connections>) {
    serve_with(listener, Arc::new(PlainTcp), handler, config, connections).await
}

/// Accepts connections through `acceptor` until the listener fails or the task is dropped.
pub async fn serve_with(listener: TcpListener, acceptor: Arc<dyn Acceptor>, handler: Arc<dyn Handler>, config: ServerConfig, connections: Arc<Connections>) {
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let accepted = acceptor.accept(stream, handler.clone(), config.channel.clone());
        let connections = connections.clone();
        // One task per connection, besides its reader and writer: it sets the connection up,
        // then holds its slot until it closes.
        tokio::spawn(async move {
            let channel = match accepted.await {
                Ok(channel) => channel,
                Err(e) => {
                    tracing::debug!(error = %e, "connection dropped before setup");
                    return;
                }
            };
            if connections.add(&channel) {
                channel.closed().await;
                connections.remove(&channel);
            }
            drop(permit);
        });
    }
}
