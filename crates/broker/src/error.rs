//! [`BrokerError`]: the one error of the broker's operations. It carries the RocketMQ
//! response code and remark a client understands; each front end turns it into its own
//! answer in one place (remoting: `processor::error`).

use protocol::codes::response as rs;
use protocol::ProtocolError;
use store::{PutError, StoreError};

/// An operation that did not succeed: the response code and remark the client is given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{remark} (code {code})")]
pub struct BrokerError {
    pub code: i32,
    pub remark: String,
    /// The request's header or body could not be read (a [`ProtocolError`]): the front end
    /// logs such refusals, which a client may otherwise repeat unnoticed.
    pub unreadable_request: bool,
}

pub type BrokerResult<T> = Result<T, BrokerError>;

impl BrokerError {
    pub fn new(code: i32, remark: impl Into<String>) -> BrokerError {
        BrokerError { code, remark: remark.into(), unreadable_request: false }
    }

    pub fn system(remark: impl Into<String>) -> BrokerError {
        BrokerError::new(rs::SYSTEM_ERROR, remark)
    }

    pub fn no_permission(remark: impl Into<String>) -> BrokerError {
        BrokerError::new(rs::NO_PERMISSION, remark)
    }

    pub fn illegal(remark: impl Into<String>) -> BrokerError {
        BrokerError::new(rs::MESSAGE_ILLEGAL, remark)
    }

    pub fn invalid(remark: impl Into<String>) -> BrokerError {
        BrokerError::new(rs::INVALID_PARAMETER, remark)
    }
}

/// A request whose header or body cannot be read: SYSTEM_ERROR with the reason, as the
/// broker always answered such requests.
impl From<ProtocolError> for BrokerError {
    fn from(e: ProtocolError) -> BrokerError {
        BrokerError { unreadable_request: true, ..BrokerError::system(e.to_string()) }
    }
}

/// An ACL refusal: its code (NO_PERMISSION for authentication and authorization) and remark.
impl From<auth::AuthError> for BrokerError {
    fn from(e: auth::AuthError) -> BrokerError {
        BrokerError::new(e.code, e.remark)
    }
}

impl From<StoreError> for BrokerError {
    fn from(e: StoreError) -> BrokerError {
        BrokerError::system(format!("store read failed: {e}"))
    }
}

/// A put that stored nothing. (`FlushDiskTimeout` stored the message; operations that can
/// say so answer it as a result, not through this.)
impl From<PutError> for BrokerError {
    fn from(e: PutError) -> BrokerError {
        match e {
            PutError::MessageIllegal(m) => BrokerError::illegal(m),
            PutError::ServiceUnavailable(m) => BrokerError::new(rs::SERVICE_NOT_AVAILABLE, m),
            PutError::Io(m) => BrokerError::system(format!("store write failed: {m}")),
            PutError::Busy(m) => BrokerError::new(rs::SYSTEM_BUSY, m),
            PutError::FlushDiskTimeout(_) => BrokerError::new(rs::FLUSH_DISK_TIMEOUT, "flush to disk timed out"),
            PutError::FlushSlaveTimeout(_) => BrokerError::new(rs::FLUSH_SLAVE_TIMEOUT, "replicas did not confirm in time"),
            PutError::SlaveNotAvailable(_) => BrokerError::new(rs::SLAVE_NOT_AVAILABLE, "not enough replicas in sync"),
            PutError::InSyncReplicasNotEnough => BrokerError::system("in-sync replicas not enough"),
        }
    }
}
