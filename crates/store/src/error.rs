use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("store directory {0} is locked by another process")]
    Locked(PathBuf),
}

impl StoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { path: path.into(), source }
    }
}

/// Why a put was not (fully) acknowledged.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PutError {
    #[error("message illegal: {0}")]
    MessageIllegal(String),
    #[error("store is not available: {0}")]
    ServiceUnavailable(String),
    /// Stored, but the flush did not finish within `syncFlushTimeout`.
    #[error("flush to disk timed out")]
    FlushDiskTimeout(crate::PutResult),
    #[error("store I/O failed: {0}")]
    Io(String),
    /// The append queue stayed full for longer than the configured wait: flow control.
    #[error("{0}")]
    Busy(String),
}
