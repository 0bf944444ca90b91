//! The broker's operations, between the wire and the broker's state.
//!
//! Each operation is a method on [`Broker`] that takes a typed request and returns
//! `Result<_, BrokerError>`: no remoting types, so every front end (the remoting codecs in
//! `processor/` today, gRPC next) calls the same code. One file per area:
//!
//! | file | operations |
//! |---|---|
//! | `send` | send (single and batch), the shared send checks |
//! | `reply` | request-reply answers, pushed to the requester and stored |
//! | `send_back` | a consumer's failed message to its retry topic or DLQ |
//! | `pull` | pull with long polling ([`pull::Parking`]) |
//! | `filter` | a subscription's filter: tags, or SQL92 compiled once per expression |
//! | `offsets` | consumer offsets, queue min/max, offset by time |
//! | `query` | messages by offset and by key |
//! | `clients` | heartbeats, unregistering, group members, running info |
//! | `reset` | offset resets, on the broker or pushed to clients |
//! | `admin` | topics, groups, stats, runtime info and config |
//! | `pop` | POP: pop with long polling ([`pop::PopParking`]), ack, batch ack, change of invisible time, notification |
//! | `transaction` | half messages, END_TRANSACTION, check-backs |
//! | `assignment` | queue assignment by the broker, each group's consume mode (PULL or POP) |

pub mod admin;
pub mod assignment;
pub mod clients;
pub mod filter;
pub mod offsets;
pub mod pop;
pub mod pull;
pub mod query;
pub mod reply;
pub mod reset;
pub mod send;
pub mod send_back;
pub mod transaction;

#[cfg(test)]
mod tests;
