//! Tokio transport for [`RemotingCommand`] frames, used by the NameServer, the Broker
//! and the client alike: every connection is a [`Channel`] that both sends requests
//! (matched to responses by opaque) and serves the peer's requests through a
//! [`Handler`]. The server adds an accept loop with a connection limit; [`tls`] puts TLS
//! under either side.

#![forbid(unsafe_code)]

mod channel;
pub mod metrics;
pub mod properties;
pub mod security;
mod server;
pub mod tls;

pub use channel::{connect, connect_with, next_conn_id, Addrs, BoxFuture, Channel, ChannelConfig, Handler, RemotingError, StreamRead};
pub use server::{serve, serve_with, Acceptor, Connections, PlainTcp, ServerConfig};

pub use protocol::RemotingCommand;
