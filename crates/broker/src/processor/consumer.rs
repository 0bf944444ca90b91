//! Consumer offsets and queue offsets: QUERY/UPDATE_CONSUMER_OFFSET, GET_MAX_OFFSET,
//! GET_MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME.

use std::sync::Arc;

use protocol::header::Fields;
use protocol::{ProtocolError, RemotingCommand};
use store::BoundaryType;

use super::ok;
use crate::error::BrokerResult;
use crate::Broker;

fn topic_queue(req: &RemotingCommand) -> Result<(&str, i32), ProtocolError> {
    Ok((req.ext_fields.req_str("topic")?, req.ext_fields.req("queueId")?))
}

pub fn query_offset(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    let (topic, queue_id) = topic_queue(req)?;
    let zero_if_not_found = req.ext_fields.raw("setZeroIfNotFound").is_none_or(|v| v.eq_ignore_ascii_case("true"));
    Ok(ok(req).with_ext("offset", b.query_consumer_offset(group, topic, queue_id, zero_if_not_found)?))
}

pub fn update_offset(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    let (topic, queue_id) = topic_queue(req)?;
    b.commit_consumer_offset(group, topic, queue_id, req.ext_fields.req("commitOffset")?);
    Ok(ok(req))
}

pub fn max_offset(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let (topic, queue_id) = topic_queue(req)?;
    Ok(ok(req).with_ext("offset", b.max_offset(topic, queue_id)))
}

pub fn min_offset(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let (topic, queue_id) = topic_queue(req)?;
    Ok(ok(req).with_ext("offset", b.min_offset(topic, queue_id)))
}

pub fn search_offset(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let (topic, queue_id) = topic_queue(req)?;
    let timestamp: i64 = req.ext_fields.req("timestamp")?;
    let boundary = match req.ext_fields.raw("boundaryType") {
        Some(t) if t.eq_ignore_ascii_case("upper") => BoundaryType::Upper,
        _ => BoundaryType::Lower,
    };
    Ok(ok(req).with_ext("offset", b.offset_by_time(topic, queue_id, timestamp, boundary)?))
}

pub fn earliest_store_time(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let (topic, queue_id) = topic_queue(req)?;
    Ok(ok(req).with_ext("timestamp", b.earliest_store_time(topic, queue_id)?))
}
