use std::sync::Arc;
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

/// Accepts connections until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, handler: Arc<dyn Handler>, config: ServerConfig) {
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
                tokio::spawn(async move {
                    channel.closed().await;
                    drop(permit);
                });
            }
            Err(e) => tracing::debug!(error = %e, "connection dropped before setup"),
        }
    }
}
