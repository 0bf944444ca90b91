//! The RocketMQ remoting protocol as pure data: frames, [`RemotingCommand`] with both
//! header encodings, request/response codes, typed custom headers, JSON bodies and the
//! stored-message layout. Nothing here performs I/O, so every decoder can be fuzzed.

#![forbid(unsafe_code)]

pub mod body;
pub mod code_names;
pub mod codes;
pub mod command;
pub mod controller;
pub mod error;
pub mod ext_fields;
pub mod frame;
pub mod ha;
pub mod header;
mod json_fast;
mod lenient;
pub mod message;
pub mod message_type;
pub mod names;
pub mod pop;
pub mod trace;

pub use command::{LanguageCode, RemotingCommand, SerializeType};
pub use error::ProtocolError;
