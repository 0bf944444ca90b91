//! Consumer offsets and queue offsets: QUERY/UPDATE_CONSUMER_OFFSET, GET_MAX_OFFSET,
//! GET_MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME.

use std::sync::Arc;

use protocol::codes::response as rs;
use protocol::header::Fields;
use protocol::{ProtocolError, RemotingCommand};
use store::BoundaryType;

use super::{error, ok};
use crate::Broker;

fn topic_queue(req: &RemotingCommand) -> Result<(&str, i32), ProtocolError> {
    Ok((req.ext_fields.req_str("topic")?, req.ext_fields.req("queueId")?))
}

pub fn query_offset(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    let (topic, queue_id) = topic_queue(req)?;
    if let Some(offset) = b.offsets.query(group, topic, queue_id) {
        return Ok(ok(req).with_ext("offset", offset));
    }
    let zero_if_not_found = req.ext_fields.raw("setZeroIfNotFound").is_none_or(|v| v.eq_ignore_ascii_case("true"));
    // A young queue whose first message is still present starts a new group at 0.
    if zero_if_not_found && b.store.min_offset(topic, queue_id) <= 0 && b.store.max_offset(topic, queue_id) > 0 {
        return Ok(ok(req).with_ext("offset", 0));
    }
    Ok(error(req, rs::QUERY_NOT_FOUND, "Not found, maybe this group consumer boot first"))
}

pub fn update_offset(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    let (topic, queue_id) = topic_queue(req)?;
    let offset: i64 = req.ext_fields.req("commitOffset")?;
    b.offsets.commit(group, topic, queue_id, offset);
    Ok(ok(req))
}

pub fn max_offset(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let (topic, queue_id) = topic_queue(req)?;
    Ok(ok(req).with_ext("offset", b.store.max_offset(topic, queue_id)))
}

pub fn min_offset(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let (topic, queue_id) = topic_queue(req)?;
    Ok(ok(req).with_ext("offset", b.store.min_offset(topic, queue_id)))
}

pub fn search_offset(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let (topic, queue_id) = topic_queue(req)?;
    let timestamp: i64 = req.ext_fields.req("timestamp")?;
    let boundary = match req.ext_fields.raw("boundaryType") {
        Some(t) if t.eq_ignore_ascii_case("upper") => BoundaryType::Upper,
        _ => BoundaryType::Lower,
    };
    match b.store.offset_by_time(topic, queue_id, timestamp, boundary) {
        Ok(offset) => Ok(ok(req).with_ext("offset", offset)),
        Err(e) => Ok(error(req, rs::SYSTEM_ERROR, e.to_string())),
    }
}

pub fn earliest_store_time(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let (topic, queue_id) = topic_queue(req)?;
    match b.store.earliest_store_time(topic, queue_id) {
        Ok(t) => Ok(ok(req).with_ext("timestamp", t.unwrap_or(-1))),
        Err(e) => Ok(error(req, rs::SYSTEM_ERROR, e.to_string())),
    }
}
