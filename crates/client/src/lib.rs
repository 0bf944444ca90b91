//! A minimal Rust client: connections by address, and the calls our broker, CLI,
//! tests and benchmark need (routes, send, pull, offsets, topic admin). The full SDK
//! with consumers and rebalancing is its own work.

#![forbid(unsafe_code)]

mod api;
mod controllers;
mod pool;
mod pop;
mod transaction;

pub use api::{Client, ClientError, PullResult, RawPullResult, SendResult};
pub use controllers::Controllers;
pub use pool::{ConnectionPool, Credentials, IgnoreRequests};
pub use pop::{PopResult, Popped};
