//! Tokio transport for [`RemotingCommand`] frames, used by the NameServer, the Broker
//! and the client alike: every connection is a [`Channel`] that both sends requests
//! (matched to responses by opaque) and serves the peer's requests through a
//! [`Handler`]. The server adds an accept loop with a connection limit.

mod channel;
mod server;

pub use channel::{connect, BoxFuture, Channel, ChannelConfig, Handler, RemotingError};
pub use server::{serve, Connections, ServerConfig};

pub use protocol::RemotingCommand;
