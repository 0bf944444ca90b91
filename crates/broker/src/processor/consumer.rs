//! Consumer offsets and queue offsets: QUERY/UPDATE_CONSUMER_OFFSET, GET_MAX_OFFSET,
//! GET_MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME.

use std::sync::Arc;

use protocol::RemotingCommand;
use store::BoundaryType;

use super::ok;
use crate::error::BrokerResult;
use crate::Broker;

pub fn query_offset(b: &Arc<Broker>, req: &RemotingCommand, group: &str, topic: &str, queue_id: i32, zero_if_not_found: bool) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_ext("offset", b.query_consumer_offset(group, topic, queue_id, zero_if_not_found)?))
}

pub fn update_offset(b: &Arc<Broker>, req: &RemotingCommand, group: &str, topic: &str, queue_id: i32, offset: i64) -> BrokerResult<RemotingCommand> {
    b.commit_consumer_offset(group, topic, queue_id, offset);
    Ok(ok(req))
}

pub fn max_offset(b: &Arc<Broker>, req: &RemotingCommand, topic: &str, queue_id: i32) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_ext("offset", b.max_offset(topic, queue_id)))
}

pub fn min_offset(b: &Arc<Broker>, req: &RemotingCommand, topic: &str, queue_id: i32) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_ext("offset", b.min_offset(topic, queue_id)))
}

pub fn search_offset(
    b: &Arc<Broker>,
    req: &RemotingCommand,
    topic: &str,
    queue_id: i32,
    timestamp_ms: i64,
    boundary: BoundaryType,
) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_ext("offset", b.offset_by_time(topic, queue_id, timestamp_ms, boundary)?))
}

pub fn earliest_store_time(b: &Arc<Broker>, req: &RemotingCommand, topic: &str, queue_id: i32) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_ext("timestamp", b.earliest_store_time(topic, queue_id)?))
}
