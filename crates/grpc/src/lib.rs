//! RocketMQ 5.x's gRPC protocol (`apache.rocketmq.v2.MessagingService`), served by the broker
//! itself on `grpcServerPort`: the official 5.x SDKs (Java, Go, Python, Node.js) need no
//! proxy. A front end like `broker::processor` is for remoting: every RPC converts its request
//! and calls the broker's service layer (`broker::service`), never the broker's state.
//!
//! | file | what |
//! |---|---|
//! | `service` | the RPCs |
//! | `session` | clients' settings, their Telemetry streams as the broker's `ClientConn` |
//! | `convert` | v2 messages to stored properties and back, with the proxy's validation |
//! | `handle` | receipt handles |
//! | `renew` | push consumers' messages kept invisible while they work on them |
//! | `guard` | ACL 2.0: each call authenticated and authorized |
//! | `status` | broker errors as v2 `Code`s |
//! | `server` | the listener |
//! | `tls` | TLS and plaintext on one port |

pub mod convert;
mod guard;
pub mod handle;
pub mod renew;
pub mod server;
pub mod service;
pub mod session;
pub mod status;
pub mod tls;

pub use server::{start, GrpcServer};

#[cfg(test)]
mod tests;

/// The messages and service generated from `proto/messaging.proto`.
pub mod pb {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("apache.rocketmq.v2");
}
