//! Resetting a group's offsets of a topic to a timestamp (INVOKE_BROKER_TO_RESET_OFFSET).
//!
//! Two ways, chosen by `useServerSideResetOffset` as in the Java broker:
//! - server side (default, RocketMQ 5): the broker commits the new offsets and hands them to
//!   the group's next pulls (OFFSET_RESET);
//! - client side (RocketMQ 4): the broker works out the offsets and pushes them to every online
//!   client of the group ([`ClientPush::ResetOffset`]); each client repositions its queues and
//!   commits the offsets itself.

use protocol::body::MessageQueue;
use protocol::codes::response as rs;

use crate::error::{BrokerError, BrokerResult};
use crate::push::ClientPush;
use crate::Broker;

/// Clients older than V3_0_7_SNAPSHOT (its MQVersion ordinal) cannot take a pushed reset.
const MIN_CLIENT_VERSION: i32 = 28;

#[derive(Debug, Clone)]
pub struct ResetOffset {
    pub topic: String,
    pub group: String,
    /// Milliseconds; negative: now (each queue's max offset).
    pub timestamp: i64,
    /// Client side: move forward too, not only back.
    pub force: bool,
    /// Server side: one queue (else all)...
    pub queue_id: Option<i32>,
    /// ...to this offset (else the timestamp's).
    pub offset: Option<i64>,
}

impl Broker {
    /// Returns the new offset of each queue.
    pub fn reset_offset(&self, r: &ResetOffset) -> BrokerResult<Vec<(MessageQueue, i64)>> {
        if !self.runtime.role().is_master() {
            return Err(BrokerError::system("Can not reset offset in slave broker"));
        }
        let (topic, group) = (r.topic.as_str(), r.group.as_str());
        let Some(config) = self.topics.get(topic) else {
            return Err(BrokerError::new(rs::TOPIC_NOT_EXIST, format!("[reset-offset] reset offset failed, no topic in this broker. topic={topic}")));
        };
        if !self.config.use_server_side_reset_offset {
            return self.push_reset_to_clients(r, config.write_queue_nums);
        }
        if self.groups.get(group).is_none() {
            return Err(BrokerError::new(rs::SUBSCRIPTION_GROUP_NOT_EXIST, format!("Group {group} does not exist")));
        }
        let queues: Vec<i32> = match r.queue_id {
            Some(q) if q >= 0 => vec![q],
            _ => (0..config.read_queue_nums).collect(),
        };
        let mut offsets = Vec::new();
        for q in queues {
            let target = match r.offset.filter(|_| r.queue_id.is_some_and(|q| q >= 0)) {
                Some(o) => {
                    let (min, max) = (self.store.min_offset(topic, q), self.store.max_offset(topic, q));
                    if o < min || o > max {
                        return Err(BrokerError::system(format!("Target offset {o} not in consume queue range [{min}-{max}]")));
                    }
                    o
                }
                None => self.offset_at(topic, q, r.timestamp)?,
            };
            self.offsets.assign_reset(group, topic, q, target);
            offsets.push((self.message_queue(topic, q), target));
        }
        // Parked pulls of the topic re-check now rather than at their timeout.
        for (mq, _) in &offsets {
            self.store.arrivals().notifier(topic, mq.queue_id).notify_waiters();
        }
        tracing::info!(topic, group, timestamp = r.timestamp, "consumer offsets reset on the broker");
        Ok(offsets)
    }

    /// The queue offset of the first message stored at or after `timestamp`; a negative
    /// timestamp means "now", the queue's max offset.
    fn offset_at(&self, topic: &str, queue_id: i32, timestamp: i64) -> BrokerResult<i64> {
        if timestamp < 0 {
            return Ok(self.store.max_offset(topic, queue_id));
        }
        self.offset_by_time(topic, queue_id, timestamp, store::BoundaryType::Lower)
    }

    /// The RocketMQ 4 reset: a queue moves back to the timestamp's offset, and forward only when
    /// `force`; the result goes to every online client of the group.
    fn push_reset_to_clients(&self, r: &ResetOffset, queues: i32) -> BrokerResult<Vec<(MessageQueue, i64)>> {
        let (topic, group, timestamp) = (r.topic.as_str(), r.group.as_str(), r.timestamp);
        let mut offsets = Vec::new();
        for q in 0..queues {
            let Some(consumed) = self.offsets.query(group, topic, q) else {
                return Err(BrokerError::system(format!("THe consumer group <{group}> not exist")));
            };
            let target = self.offset_at(topic, q, timestamp)?.max(0);
            offsets.push((self.message_queue(topic, q), if r.force || target < consumed { target } else { consumed }));
        }
        let clients = self.clients.consumer_group(group).map(|g| g.channels).unwrap_or_default();
        if clients.is_empty() {
            return Err(BrokerError::new(
                rs::CONSUMER_NOT_ONLINE,
                format!("Consumer not online, so can not reset offset, Group: {group} Topic: {topic} Timestamp: {timestamp}"),
            ));
        }
        if let Some(old) = clients.values().find(|c| c.version < MIN_CLIENT_VERSION) {
            return Err(BrokerError::system(format!("the client does not support this feature. version={}", old.version)));
        }
        for client in clients.into_values() {
            let push = ClientPush::ResetOffset { topic: topic.to_string(), group: group.to_string(), timestamp, force: r.force, offsets: offsets.clone() };
            let sent = client.conn.push(push);
            tokio::spawn(async move {
                match sent.await {
                    Ok(()) => tracing::info!(client = %client.client_id, "[reset-offset] pushed to the client"),
                    Err(e) => tracing::warn!(client = %client.client_id, error = %e, "[reset-offset] push to the client failed"),
                }
            });
        }
        tracing::info!(topic, group, timestamp, force = r.force, "consumer offsets reset pushed to the group's clients");
        Ok(offsets)
    }
}
