use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::channel::{Channel, ChannelConfig, Handler};

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
    live: Mutex<HashMap<u64, Arc<Channel>>>,
}

impl Connections {
    pub fn close_all(&self) {
        let live: Vec<_> = self.live.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, c)| c).collect();
        for c in live {
            c.close();
        }
    }

    /// Ends every connection gently (`Channel::finish`): answers already queued are written,
    /// then each side is shut; waits up to `grace` for peers to close, then closes the rest.
    pub async fn finish_all(&self, grace: Duration) {
        let live: Vec<Arc<Channel>> = self.live.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
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
        self.live.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Accepts connections until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, handler: Arc<dyn Handler>, config: ServerConfig, connections: Arc<Connections>) {
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
        match Channel::spawn(stream, handler.clone(), config.channel.clone()) {
            Ok(channel) => {
                connections.live.lock().unwrap_or_else(|e| e.into_inner()).insert(channel.id(), channel.clone());
                let connections = connections.clone();
                tokio::spawn(async move {
                    channel.closed().await;
                    connections.live.lock().unwrap_or_else(|e| e.into_inner()).remove(&channel.id());
                    drop(permit);
                });
            }
            Err(e) => tracing::debug!(error = %e, "connection dropped before setup"),
        }
    }
}
