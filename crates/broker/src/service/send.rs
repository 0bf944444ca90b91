//! Sending: permission, topic and queue checks (`msgCheck`), auto-creation, the retry topic's
//! way to the dead-letter queue, and the store put. Used by SEND_MESSAGE(_V2),
//! SEND_BATCH_MESSAGE and, for its checks, SEND_REPLY_MESSAGE.

use std::net::SocketAddr;

use bytes::Bytes;
use protocol::body::TopicConfig;
use protocol::codes::{perm, response as rs};
use protocol::header::SendMessageRequestHeader;
use protocol::message::{decode_batch, prop, Properties};
use protocol::message_type::RecallHandle;
use protocol::names::{self, RETRY_GROUP_TOPIC_PREFIX};
use rand::Rng;
use store::{PutError, PutResult};

use crate::error::{BrokerError, BrokerResult};
use crate::put::NewMessage;
use crate::Broker;

/// A send: one message, or a batch in RocketMQ's batch encoding (`header.batch`).
pub struct SendRequest<'a> {
    pub header: SendMessageRequestHeader<'a>,
    /// The message body, or the encoded batch.
    pub body: Bytes,
    pub batch: bool,
    /// The producer's address, stored as the messages' born host.
    pub born_host: SocketAddr,
    /// A missing topic may be created from the default topic (`autoCreateTopicEnable`):
    /// remoting sends; never over gRPC, where a missing topic is TOPIC_NOT_FOUND.
    pub auto_create: bool,
}

/// What was stored.
#[derive(Debug)]
pub struct Sent {
    pub queue_id: i32,
    pub put: PutResult,
    /// The UNIQ_KEY of a single message, or of the batch (the request's properties).
    pub uniq_key: Option<String>,
    /// Stored; how durable and replicated (Java's `SendStatus`).
    pub status: SendStatus,
    /// A timer message's recall handle.
    pub recall_handle: Option<String>,
}

impl Broker {
    /// What the broker writes on every message it takes, over the client's values, as Java's
    /// `AbstractSendMessageProcessor` does: its region and trace switch.
    pub(crate) fn stamp(&self, props: &mut Properties) {
        props.set(prop::MSG_REGION, &self.config.region_id);
        props.set(prop::TRACE_SWITCH, if self.config.trace_on { "true" } else { "false" });
    }

    pub async fn send(&self, req: &SendRequest<'_>) -> BrokerResult<Sent> {
        let h = &req.header;
        let topic = self.check_send(h, req.body.len(), req.auto_create).await?;
        let queue_id = if h.queue_id < 0 { rand::thread_rng().gen_range(0..topic.write_queue_nums.max(1)) } else { h.queue_id };
        let new_message = |flag, body, text: &str| {
            let mut props = Properties::parse(text);
            self.stamp(&mut props);
            new_message(h, queue_id, req.born_host, flag, body, props)
        };
        let mut msgs: Vec<NewMessage> = if req.batch {
            if h.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                return Err(BrokerError::illegal("batch request does not support retry group"));
            }
            let items = decode_batch(&req.body, self.config.max_batch_messages).map_err(|e| BrokerError::illegal(e.to_string()))?;
            items.into_iter().map(|i| new_message(i.flag, i.body, &i.properties)).collect()
        } else {
            vec![new_message(h.flag, req.body.clone(), &h.properties)]
        };
        if msgs.is_empty() {
            return Err(BrokerError::illegal("empty batch"));
        }
        let now = self.clock.now_ms();
        let (mut due, mut transactional) = (None, false);
        for NewMessage { props, .. } in &msgs {
            // A batch with a transactional message is refused below: past this loop, this is
            // the one message's.
            // A consumer's re-send of a committed message (which keeps TRAN_MSG, as Java's) is
            // no new transaction: Java's exemption for a reconsumed message with a delay level.
            let resent = h.reconsume_times > 0 && props.get(prop::DELAY).and_then(|d| d.parse::<i32>().ok()).is_some_and(|l| l > 0);
            transactional = props.get(prop::TRAN_MSG) == Some("true") && !resent;
            if !transactional {
                due = crate::timer::due_time(props, now, self.config.timer_max_delay_sec.saturating_mul(1000)).map_err(BrokerError::illegal)?;
                if due.is_some() && req.batch {
                    return Err(BrokerError::illegal("a batch cannot carry timer properties"));
                }
                if due.is_some() && !self.config.timer_wheel_enable {
                    return Err(BrokerError::illegal("accurate timer message is not enabled, timerWheelEnable is false"));
                }
            }
            if req.batch && props.get(prop::DELAY).is_some_and(|v| v != "0") {
                return Err(BrokerError::illegal("a batch cannot carry delay levels"));
            }
            if transactional && (req.batch || self.config.reject_transaction_message) {
                let why = if req.batch {
                    "a batch cannot be transactional".to_string()
                } else {
                    format!("the broker[{}] sending transaction message is forbidden", self.config.broker_name)
                };
                return Err(BrokerError::no_permission(why));
            }
            if transactional && protocol::message_type::TIMER_KEYS.iter().any(|k| props.get(k).is_some()) {
                return Err(BrokerError::illegal("a transactional message cannot have a delivery time (TIMER_* properties)"));
            }
        }
        let mut queue_id = queue_id;
        if !req.batch && h.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
            if let Some((dlq, qid)) = self.dead_letter_target(h) {
                self.metrics.dead_lettered(&h.producer_group, &h.topic, msgs.len() as u64);
                queue_id = qid;
                for m in &mut msgs {
                    // Into the DLQ: the delay that asked for a retry no longer applies (Java
                    // writes DELAY -1, which parks nothing).
                    m.props.set(prop::DELAY, "-1");
                    if m.props.get(prop::RETRY_TOPIC).is_none() {
                        m.props.set(prop::RETRY_TOPIC, &h.topic);
                    }
                    (m.topic, m.queue_id) = (dlq.clone(), qid);
                }
            }
        }
        let wait_flush = msgs.iter().all(|m| m.props.get(prop::WAIT) != Some("false"));
        // A batch's is the id the client gave the batch itself (in the request's properties), as
        // Java answers it.
        let uniq_key = if req.batch {
            Properties::parse(&h.properties).get(prop::UNIQ_KEY).map(str::to_string)
        } else {
            msgs[0].props.get(prop::UNIQ_KEY).map(str::to_string)
        };
        // Counted as Java counts a send (when metrics are read at all): under the topic it is
        // stored in (a half message's, a timer's or a delay level's system topic; the header's
        // otherwise — a copy redirected to a DLQ came for a retry topic, and neither is
        // counted), by the first message's type.
        let metric = self.metrics.on().then(|| {
            let delay_level = msgs[0].props.get(prop::DELAY).and_then(|d| d.parse::<i32>().ok()).is_some_and(|l| l > 0);
            let topic: &str = match () {
                _ if transactional => crate::transaction::HALF_TOPIC,
                _ if due.is_some_and(|d| d > now) => crate::timer::TIMER_TOPIC,
                _ if delay_level && !req.batch => crate::put::SCHEDULE_TOPIC,
                _ => &h.topic,
            };
            (topic, crate::metrics::message_type(&msgs[0].props), msgs.len() as u64)
        });
        let mut recall_handle = None;
        let (put, status) = if transactional {
            let m = msgs.pop().ok_or_else(|| BrokerError::illegal("no message"))?;
            self.put_half(m, wait_flush).await?
        } else if let Some(due) = due.filter(|d| *d > now) {
            let m = msgs.pop().ok_or_else(|| BrokerError::illegal("no message"))?;
            if !m.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                recall_handle = uniq_key.as_ref().map(|u| {
                    RecallHandle { topic: m.topic.clone(), broker_name: self.config.broker_name.clone(), timestamp: due.to_string(), message_id: u.clone() }
                        .encode()
                });
            }
            self.put_timer(m, due, wait_flush).await?
        } else {
            stored(self.put(msgs, wait_flush).await)?
        };
        if let Some((topic, kind, count)) = metric {
            self.metrics.sent(topic, kind, count, put.wrote_bytes);
        }
        Ok(Sent { queue_id, put, uniq_key, status, recall_handle })
    }

    /// Permission, size, name and queue checks in the Java broker's order (`msgCheck`),
    /// auto-creating the topic when allowed.
    pub async fn check_send(&self, h: &SendMessageRequestHeader<'_>, body_bytes: usize, auto_create: bool) -> BrokerResult<TopicConfig> {
        if !self.runtime.role().is_master() {
            // Java answers SYSTEM_BUSY "[REJECTREQUEST]"; the clients retry either on another broker.
            return Err(BrokerError::new(
                rs::SERVICE_NOT_AVAILABLE,
                format!("the broker[{}] is a replica (SLAVE) of {}: messages are sent to its master", self.config.broker_addr(), self.config.broker_name),
            ));
        }
        if self.runtime.permission() & perm::WRITE == 0 {
            return Err(BrokerError::no_permission(format!("the broker[{}] sending message is forbidden", self.config.broker_ip1)));
        }
        if body_bytes > self.config.max_message_size {
            return Err(BrokerError::illegal(format!(
                "the message is illegal, maybe msg body or properties length not matched. msg body length limit {}B, msg properties length limit 32KB.",
                self.config.max_message_size
            )));
        }
        names::validate_topic(&h.topic).map_err(BrokerError::invalid)?;
        names::validate_group(&h.producer_group).map_err(BrokerError::invalid)?;
        if names::is_not_allowed_send_topic(&h.topic) {
            return Err(BrokerError::no_permission(format!("Sending message to topic[{}] is forbidden.", h.topic)));
        }
        let topic = match self.topics.get(&h.topic) {
            Some(t) => t,
            None => {
                let created = if h.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                    // As Java's msgCheck: a missing retry topic is made with one queue.
                    Some(self.topics.ensure_system_topic(&h.topic, 1))
                } else if auto_create && self.config.auto_create_topic_enable {
                    self.topics
                        .create_from_default(&h.topic, &h.default_topic, h.default_topic_queue_nums)
                        .inspect(|t| tracing::info!(topic = %t.topic_name, queues = t.write_queue_nums, "topic auto-created on send"))
                } else {
                    None
                };
                let Some(topic) = created else {
                    return Err(BrokerError::new(rs::TOPIC_NOT_EXIST, format!("topic[{}] not exist, apply first please!{}", h.topic, names::APPLY_TOPIC_TIP)));
                };
                // Routed before the answer, as Java registers a topic made on send.
                self.registration.settled(crate::register::SETTLE_WAIT).await;
                topic
            }
        };
        if topic.perm & perm::WRITE == 0 {
            return Err(BrokerError::no_permission(format!("the topic[{}] sending message is forbidden", h.topic)));
        }
        if h.queue_id >= topic.write_queue_nums {
            return Err(BrokerError::invalid(format!(
                "request queueId[{}] is illegal, topic {} has {} write queues",
                h.queue_id, h.topic, topic.write_queue_nums
            )));
        }
        Ok(topic)
    }

    /// A retry re-send past its group's max reconsume times goes to `%DLQ%<group>`, and so
    /// does any of a group that holds queue locks (an orderly consumer gives up on a message
    /// by re-sending it; `handleRetryAndDLQ`).
    fn dead_letter_target(&self, h: &SendMessageRequestHeader) -> Option<(String, i32)> {
        let group = h.topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX)?;
        let max = h.max_reconsume_times.unwrap_or_else(|| self.groups.get(group).map_or(16, |g| g.retry_max_times));
        // Past the max, not at it: the Java client's re-send already counts the failed try.
        if h.reconsume_times <= max && self.locks.all_expired(group, std::time::Instant::now()) {
            return None;
        }
        Some((self.topics.ensure_dlq_topic(group).topic_name, 0))
    }
}

/// A message of a send (or a reply) on its way into the store.
pub(crate) fn new_message(h: &SendMessageRequestHeader, queue_id: i32, born_host: SocketAddr, flag: i32, body: Bytes, props: Properties) -> NewMessage {
    NewMessage {
        topic: h.topic.to_string(),
        queue_id,
        flag,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host,
        reconsume_times: h.reconsume_times,
        body,
        props,
        prepared_transaction_offset: 0,
    }
}

/// How durable and replicated a stored send is: Java's `SendStatus`, each answered with
/// its response code (the message is stored in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    Ok,
    /// Not flushed within `syncFlushTimeout`.
    FlushDiskTimeout,
    /// Not confirmed by the replicas a SYNC_MASTER waits for within `slaveTimeout`.
    FlushSlaveTimeout,
    /// Too few replicas in sync for a SYNC_MASTER to wait for.
    SlaveNotAvailable,
}

impl SendStatus {
    pub fn code(self) -> i32 {
        match self {
            SendStatus::Ok => rs::SUCCESS,
            SendStatus::FlushDiskTimeout => rs::FLUSH_DISK_TIMEOUT,
            SendStatus::FlushSlaveTimeout => rs::FLUSH_SLAVE_TIMEOUT,
            SendStatus::SlaveNotAvailable => rs::SLAVE_NOT_AVAILABLE,
        }
    }
}

/// A put's result as (what was stored, its status): a put stored but less durable or less
/// replicated than asked still stored the messages, and the client is told so.
pub(crate) fn stored(result: Result<PutResult, PutError>) -> BrokerResult<(PutResult, SendStatus)> {
    match result {
        Ok(r) => Ok((r, SendStatus::Ok)),
        Err(PutError::FlushDiskTimeout(r)) => Ok((r, SendStatus::FlushDiskTimeout)),
        Err(PutError::FlushSlaveTimeout(r)) => Ok((r, SendStatus::FlushSlaveTimeout)),
        Err(PutError::SlaveNotAvailable(r)) => Ok((r, SendStatus::SlaveNotAvailable)),
        Err(e) => Err(e.into()),
    }
}
