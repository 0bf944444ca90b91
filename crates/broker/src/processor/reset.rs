//! INVOKE_BROKER_TO_RESET_OFFSET (222): reset a group's offsets of a topic to a timestamp.
//!
//! Two ways, chosen by `useServerSideResetOffset` as in the Java broker:
//! - server side (default, RocketMQ 5): the broker commits the new offsets and hands them to
//!   the group's next pulls (OFFSET_RESET);
//! - client side (RocketMQ 4): the broker works out the offsets and pushes them to every online
//!   client of the group with RESET_CONSUMER_CLIENT_OFFSET (220); each client repositions its
//!   queues and commits the offsets itself.

use std::sync::Arc;

use protocol::body::{self, MessageQueue};
use protocol::codes::{request, response as rs};
use protocol::header::Fields;
use protocol::{LanguageCode, ProtocolError, RemotingCommand};

use super::admin::mq;
use super::{error, ok};
use crate::Broker;

/// Clients older than V3_0_7_SNAPSHOT (its MQVersion ordinal) cannot take a pushed reset.
const MIN_CLIENT_VERSION: i32 = 28;

pub fn reset_offset(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let ext = &req.ext_fields;
    let topic = ext.req_str("topic")?;
    let group = ext.req_str("group")?;
    let timestamp: i64 = ext.req("timestamp")?;
    let Some(config) = b.topics.get(topic) else {
        return Ok(error(req, rs::TOPIC_NOT_EXIST, format!("[reset-offset] reset offset failed, no topic in this broker. topic={topic}")));
    };
    if !b.config.use_server_side_reset_offset {
        let force = ext.raw("isForce").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        return Ok(push_to_clients(b, req, topic, group, timestamp, force, config.write_queue_nums));
    }
    let queue_id: i32 = ext.opt("queueId")?.unwrap_or(-1);
    let offset: Option<i64> = ext.opt("offset")?.filter(|o: &i64| *o != -1);
    if b.groups.get(group).is_none() {
        return Ok(error(req, rs::SUBSCRIPTION_GROUP_NOT_EXIST, format!("Group {group} does not exist")));
    }
    let mut offsets = Vec::new();
    let queues: Vec<i32> = if queue_id >= 0 { vec![queue_id] } else { (0..config.read_queue_nums).collect() };
    for q in queues {
        let target = match offset.filter(|_| queue_id >= 0) {
            Some(o) => {
                let (min, max) = (b.store.min_offset(topic, q), b.store.max_offset(topic, q));
                if o < min || o > max {
                    return Ok(error(req, rs::SYSTEM_ERROR, format!("Target offset {o} not in consume queue range [{min}-{max}]")));
                }
                o
            }
            None => match offset_at(b, topic, q, timestamp) {
                Ok(o) => o,
                Err(e) => return Ok(error(req, rs::SYSTEM_ERROR, e)),
            },
        };
        b.offsets.assign_reset(group, topic, q, target);
        offsets.push((mq(b, topic, q), target));
    }
    // Parked pulls of the topic re-check now rather than at their timeout.
    for (mq, _) in &offsets {
        b.store.arrivals().notifier(topic, mq.queue_id).notify_waiters();
    }
    tracing::info!(topic, group, timestamp, "consumer offsets reset on the broker");
    Ok(ok(req).with_body(offset_table_body(&offsets)))
}

/// The queue offset of the first message stored at or after `timestamp`; a negative timestamp
/// means "now", the queue's max offset.
fn offset_at(b: &Broker, topic: &str, queue_id: i32, timestamp: i64) -> Result<i64, String> {
    if timestamp < 0 {
        return Ok(b.store.max_offset(topic, queue_id));
    }
    b.store.offset_by_time(topic, queue_id, timestamp, store::BoundaryType::Lower).map_err(|e| e.to_string())
}

/// ResetOffsetBody: `{"offsetTable":{<MessageQueue>:<offset>,...}}`.
fn offset_table_body(offsets: &[(MessageQueue, i64)]) -> String {
    format!("{{\"offsetTable\":{}}}", body::object_keyed_map(offsets))
}

/// ResetOffsetBodyForC, for C++ clients: `{"offsetTable":[{"topic":..,"brokerName":..,"queueId":..,"offset":..},...]}`.
fn offset_list_body(offsets: &[(MessageQueue, i64)]) -> String {
    let list: Vec<serde_json::Value> =
        offsets.iter().map(|(mq, o)| serde_json::json!({"topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": o})).collect();
    serde_json::json!({ "offsetTable": list }).to_string()
}

/// The RocketMQ 4 reset: a queue moves back to the timestamp's offset, and forward only when
/// `force`; the result goes to every online client of the group.
fn push_to_clients(b: &Broker, req: &RemotingCommand, topic: &str, group: &str, timestamp: i64, force: bool, queues: i32) -> RemotingCommand {
    let mut offsets = Vec::new();
    for q in 0..queues {
        let Some(consumed) = b.offsets.query(group, topic, q) else {
            return error(req, rs::SYSTEM_ERROR, format!("THe consumer group <{group}> not exist"));
        };
        let target = match offset_at(b, topic, q, timestamp) {
            Ok(o) => o.max(0),
            Err(e) => return error(req, rs::SYSTEM_ERROR, e),
        };
        offsets.push((mq(b, topic, q), if force || target < consumed { target } else { consumed }));
    }
    let clients = b.clients.consumer_group(group).map(|g| g.channels).unwrap_or_default();
    if clients.is_empty() {
        return error(
            req,
            rs::CONSUMER_NOT_ONLINE,
            format!("Consumer not online, so can not reset offset, Group: {group} Topic: {topic} Timestamp: {timestamp}"),
        );
    }
    if let Some(old) = clients.values().find(|c| c.version < MIN_CLIENT_VERSION) {
        return error(req, rs::SYSTEM_ERROR, format!("the client does not support this feature. version={}", old.version));
    }
    for client in clients.into_values() {
        let body = if client.language == LanguageCode::CPP { offset_list_body(&offsets) } else { offset_table_body(&offsets) };
        let push = RemotingCommand::request(request::RESET_CONSUMER_CLIENT_OFFSET)
            .with_ext("topic", topic)
            .with_ext("group", group)
            .with_ext("queueId", -1)
            .with_ext("timestamp", timestamp)
            .with_ext("isForce", force)
            .with_body(body);
        tokio::spawn(async move {
            match client.channel.oneway(push).await {
                Ok(()) => tracing::info!(client = %client.client_id, "[reset-offset] pushed to the client"),
                Err(e) => tracing::warn!(client = %client.client_id, error = %e, "[reset-offset] push to the client failed"),
            }
        });
    }
    tracing::info!(topic, group, timestamp, force, "consumer offsets reset pushed to the group's clients");
    ok(req).with_body(offset_table_body(&offsets))
}
