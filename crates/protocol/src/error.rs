//! [`ProtocolError`]: every way a peer's bytes can be wrong.

use thiserror::Error;

/// Every way a peer's bytes can be wrong. Mapped to a response code (or a closed
/// connection) at the server boundary only.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("frame length {length} exceeds the limit of {limit} bytes")]
    FrameTooLarge { length: usize, limit: usize },
    #[error("frame length {0} is too small to hold a header")]
    FrameTooSmall(usize),
    #[error("header length {header} does not fit in a frame of {frame} bytes")]
    HeaderTooLarge { header: usize, frame: usize },
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    #[error("invalid JSON header: {0}")]
    BadJsonHeader(String),
    #[error("invalid binary header: {0}")]
    BadBinaryHeader(&'static str),
    #[error("missing header field `{0}`")]
    MissingField(&'static str),
    #[error("header field `{field}` has an invalid value `{value}`")]
    BadField { field: &'static str, value: String },
    #[error("invalid message record: {0}")]
    BadMessage(&'static str),
    #[error("invalid body: {0}")]
    BadBody(String),
}
