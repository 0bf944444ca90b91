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
    // A young queue whose first message is still in memory starts a new group at 0, so a
    // consumer "from last offset" of a new topic misses nothing (RocketMQ's rule).
    if zero_if_not_found && b.store.min_offset(topic, queue_id) <= 0 && first_message_in_memory(b, topic, queue_id) {
        return Ok(ok(req).with_ext("offset", 0));
    }
    Ok(error(req, rs::QUERY_NOT_FOUND, "Not found, maybe this group consumer boot first"))
}

/// Whether the queue's first message lies within the newest `accessMessageInMemoryMaxRatio`
/// percent of physical memory's worth of CommitLog, as RocketMQ estimates the page cache.
fn first_message_in_memory(b: &Broker, topic: &str, queue_id: i32) -> bool {
    let phys = match b.store.queue_entries(topic, queue_id, 0, 1) {
        Ok(first) => match first.first() {
            Some(&(0, phys, _, _)) => phys,
            _ => return false,
        },
        Err(e) => {
            tracing::warn!(topic, queue_id, error = %e, "reading the first consume-queue entry");
            return false;
        }
    };
    let in_memory = crate::total_memory_bytes() as f64 * b.config.access_message_in_memory_max_ratio as f64 / 100.0;
    ((b.store.commit_log_max_offset() - phys) as f64) <= in_memory
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
