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
    /// TLS for every connection, when set.
    tls: Option<remoting::tls::ClientTls>,
    /// Every request signed as `AclClientRPCHook` signs, when set.
    credentials: Option<Credentials>,
}

/// An ACL 2.0 user's access key and secret key.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Credentials {
    /// Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({})", self.access_key)
    }
}

impl ConnectionPool {
    pub fn new(handler: Arc<dyn Handler>) -> Self {
        let config = ChannelConfig { idle_timeout: Duration::ZERO, ..ChannelConfig::default() };
        ConnectionPool { channels: Mutex::new(HashMap::new()), handler, config, connect_timeout: Duration::from_secs(3), tls: None, credentials: None }
    }

    /// Connections made from here on use TLS (`None`: plaintext).
    pub fn set_tls(&mut self, tls: Option<remoting::tls::ClientTls>) {
        self.tls = tls;
    }

    pub async fn channel(&self, addr: &str) -> Result<Arc<Channel>, RemotingError> {
        if let Some(c) = self.channels.lock().unwrap_or_else(|e| e.into_inner()).get(addr) {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = remoting::connect_with(addr, self.handler.clone(), self.config.clone(), self.connect_timeout, self.tls.as_ref()).await?;
        self.channels.lock().unwrap_or_else(|e| e.into_inner()).insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// Requests from here on are signed with `credentials` (`None`: not signed).
    pub fn set_credentials(&mut self, credentials: Option<Credentials>) {
        self.credentials = credentials;
    }

    fn sign(&self, cmd: &mut RemotingCommand) {
        if let Some(c) = &self.credentials {
            auth::sign::sign_request(&mut cmd.ext_fields, &cmd.body, cmd.version, &c.access_key, &c.secret_key, None);
        }
    }

    pub async fn invoke(&self, addr: &str, mut cmd: RemotingCommand, timeout: Duration) -> Result<RemotingCommand, RemotingError> {
        self.sign(&mut cmd);
        self.channel(addr).await?.invoke(cmd, timeout).await
    }

    pub async fn oneway(&self, addr: &str, mut cmd: RemotingCommand) -> Result<(), RemotingError> {
        self.sign(&mut cmd);
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
