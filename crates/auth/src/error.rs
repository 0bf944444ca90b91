/// A refusal as the client sees it: a RocketMQ response code and its remark (Java's texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{remark} (code {code})")]
pub struct AuthError {
    pub code: i32,
    pub remark: String,
}

/// `ResponseCode.NO_PERMISSION`: every authentication and authorization failure.
pub use protocol::codes::response::NO_PERMISSION;
use protocol::codes::response::{INVALID_PARAMETER, SYSTEM_ERROR};

impl AuthError {
    pub fn denied(remark: impl Into<String>) -> AuthError {
        AuthError { code: NO_PERMISSION, remark: remark.into() }
    }

    pub fn invalid(remark: impl Into<String>) -> AuthError {
        AuthError { code: INVALID_PARAMETER, remark: remark.into() }
    }

    pub fn system(remark: impl Into<String>) -> AuthError {
        AuthError { code: SYSTEM_ERROR, remark: remark.into() }
    }
}

pub type AuthResult<T> = Result<T, AuthError>;
