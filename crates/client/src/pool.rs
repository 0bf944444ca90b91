//! Connections by broker or NameServer address, made on first use and replaced once closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::codes::response;
use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, ChannelConfig, Handler, RemotingError};

/// Answers server-initiated requests with REQUEST_CODE_NOT_SUPPORTED.
pub struct IgnoreRequests;

impl Handler for IgnoreRequests {
    fn handle(&self, _channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let resp = RemotingCommand::response_to(&request, response::REQUEST_CODE_NOT_SUPPORTED).with_remark("not supported by this client");
        Box::pin(async move { Some(resp) })
    }
}

/// One connection per address, reopened when it closes.
pub struct ConnectionPool {
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    handler: Arc<dyn Handler>,
    config: ChannelConfig,
    connect_timeout: Duration,
}

impl ConnectionPool {
    pub fn new(handler: Arc<dyn Handler>) -> Self {
        let config = ChannelConfig { idle_timeout: Duration::ZERO, ..ChannelConfig::default() };
        ConnectionPool { channels: Mutex::new(HashMap::new()), handler, config, connect_timeout: Duration::from_secs(3) }
    }

    pub async fn channel(&self, addr: &str) -> Result<Arc<Channel>, RemotingError> {
        if let Some(c) = self.channels.lock().unwrap_or_else(|e| e.into_inner()).get(addr) {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = remoting::connect(addr, self.handler.clone(), self.config.clone(), self.connect_timeout).await?;
        self.channels.lock().unwrap_or_else(|e| e.into_inner()).insert(addr.to_string(), c.clone());
        Ok(c)
    }

    pub async fn invoke(&self, addr: &str, cmd: RemotingCommand, timeout: Duration) -> Result<RemotingCommand, RemotingError> {
        self.channel(addr).await?.invoke(cmd, timeout).await
    }

    pub async fn oneway(&self, addr: &str, cmd: RemotingCommand) -> Result<(), RemotingError> {
        self.channel(addr).await?.oneway(cmd).await
    }

    pub fn close_all(&self) {
        for (_, c) in self.channels.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            c.close();
        }
    }
}

impl Drop for ConnectionPool {
    fn drop(&mut self) {
        self.close_all();
    }
}
