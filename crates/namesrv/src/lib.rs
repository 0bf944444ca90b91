//! The NameServer: brokers register their topics here; clients ask it for routes.
//! All state is in [`routes::RouteTable`]; [`server`] maps request codes onto it.

#![forbid(unsafe_code)]

pub mod config;
pub mod kv;
pub mod routes;
pub mod server;

pub use server::{start, NamesrvConfig, NamesrvHandle};
