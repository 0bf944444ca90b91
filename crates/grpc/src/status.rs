//! The v2 `Status` of an answer: one table from the broker's errors (RocketMQ response codes)
//! to the protocol's `Code`s, as the Java proxy maps them, with clearer codes where the proxy
//! answers INTERNAL_SERVER_ERROR for a client's mistake.

use broker::error::BrokerError;
use protocol::codes::response as rs;

use crate::pb::{Code, Status};

pub fn ok() -> Status {
    Status { code: Code::Ok as i32, message: "OK".into() }
}

pub fn status(code: Code, message: impl Into<String>) -> Status {
    Status { code: code as i32, message: message.into() }
}

pub fn code_of(e: &BrokerError) -> Code {
    match e.code {
        rs::SUCCESS => Code::Ok,
        rs::SYSTEM_BUSY | rs::POLLING_FULL => Code::TooManyRequests,
        rs::REQUEST_CODE_NOT_SUPPORTED => Code::NotImplemented,
        rs::SUBSCRIPTION_GROUP_NOT_EXIST => Code::ConsumerGroupNotFound,
        rs::TOPIC_NOT_EXIST => Code::TopicNotFound,
        rs::FLUSH_DISK_TIMEOUT => Code::MasterPersistenceTimeout,
        rs::NO_PERMISSION => Code::Forbidden,
        rs::MESSAGE_ILLEGAL | rs::INVALID_PARAMETER => Code::BadRequest,
        rs::SUBSCRIPTION_PARSE_FAILED => Code::IllegalFilterExpression,
        _ => Code::InternalServerError,
    }
}

pub fn from_broker(e: &BrokerError) -> Status {
    status(code_of(e), e.remark.clone())
}

/// The status of several entries: the one code if all agree, else MULTIPLE_RESULTS.
pub fn overall<'a>(entries: impl IntoIterator<Item = &'a Status>) -> Status {
    let mut first: Option<&Status> = None;
    for s in entries {
        match first {
            None => first = Some(s),
            Some(f) if f.code != s.code => return status(Code::MultipleResults, "multiple results"),
            Some(_) => {}
        }
    }
    first.cloned().unwrap_or_else(ok)
}
