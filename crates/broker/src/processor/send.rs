//! SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE.

use std::sync::Arc;

use protocol::body::TopicConfig;
use protocol::codes::{perm, request as rq, response as rs};
use protocol::header::{SendMessageRequestHeader, SendMessageResponseHeader};
use protocol::message::{decode_batch, prop, push_offset_msg_id, Properties};
use protocol::names::{self, RETRY_GROUP_TOPIC_PREFIX};
use protocol::{ProtocolError, RemotingCommand};
use rand::Rng;
use remoting::Channel;
use store::PutError;

use super::error;
use crate::put::Outgoing;
use crate::Broker;

/// Properties that ask for features this broker does not offer yet (5.x timers); refusing
/// them is better than delivering such a message at the wrong time.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("TIMER_DELIVER_MS", "timer messages are not supported by this broker yet"),
    ("TIMER_DELAY_SEC", "timer messages are not supported by this broker yet"),
    ("TIMER_DELAY_MS", "timer messages are not supported by this broker yet"),
];

pub async fn process(b: &Arc<Broker>, ch: &Arc<Channel>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let v2 = req.code != rq::SEND_MESSAGE;
    let h = SendMessageRequestHeader::decode(&req.ext_fields, v2)?;
    let batch = req.code == rq::SEND_BATCH_MESSAGE;
    let topic = match check(b, req, &h) {
        Ok(t) => t,
        Err(resp) => return Ok(resp),
    };
    let queue_id = if h.queue_id < 0 { rand::thread_rng().gen_range(0..topic.write_queue_nums.max(1)) } else { h.queue_id };
    let born_host = ch.peer_addr();
    let outgoing = |flag, body, props| Outgoing {
        topic: h.topic.to_string(),
        queue_id,
        flag,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host,
        reconsume_times: h.reconsume_times,
        body,
        props,
    };
    let mut msgs: Vec<Outgoing> = if batch {
        if h.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
            return Ok(error(req, rs::MESSAGE_ILLEGAL, "batch request does not support retry group"));
        }
        match decode_batch(&req.body, b.config.max_batch_messages) {
            Ok(items) => items.into_iter().map(|i| outgoing(i.flag, i.body, Properties::parse(&i.properties))).collect(),
            Err(e) => return Ok(error(req, rs::MESSAGE_ILLEGAL, e.to_string())),
        }
    } else {
        vec![outgoing(h.flag, req.body.clone(), Properties::parse(&h.properties))]
    };
    if msgs.is_empty() {
        return Ok(error(req, rs::MESSAGE_ILLEGAL, "empty batch"));
    }
    for Outgoing { props, .. } in &msgs {
        if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| props.get(k).is_some_and(|v| v != "0" && v != "-1")) {
            return Ok(error(req, rs::MESSAGE_ILLEGAL, *why));
        }
        if batch && props.get(prop::DELAY).is_some_and(|v| v != "0") {
            return Ok(error(req, rs::MESSAGE_ILLEGAL, "a batch cannot carry delay levels"));
        }
        if props.get(prop::TRAN_MSG) == Some("true") {
            return Ok(error(req, rs::NO_PERMISSION, format!("the broker[{}] sending transaction message is forbidden", b.config.broker_name)));
        }
    }
    let mut queue_id = queue_id;
    if !batch && h.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        if let Some((dlq, qid)) = dead_letter_target(b, &h) {
            queue_id = qid;
            for m in &mut msgs {
                // Into the DLQ: the delay that asked for a retry no longer applies.
                m.props.remove(prop::DELAY);
                if m.props.get(prop::RETRY_TOPIC).is_none() {
                    m.props.set(prop::RETRY_TOPIC, &h.topic);
                }
                (m.topic, m.queue_id) = (dlq.clone(), qid);
            }
        }
    }
    let wait_flush = msgs.iter().all(|m| m.props.get(prop::WAIT) != Some("false"));
    let uniq_of_first = if batch { None } else { msgs[0].props.get(prop::UNIQ_KEY).map(str::to_string) };
    let (code, put) = match b.put(msgs, wait_flush).await {
        Ok(r) => (rs::SUCCESS, r),
        Err(PutError::FlushDiskTimeout(r)) => (rs::FLUSH_DISK_TIMEOUT, r),
        Err(e) => return Ok(put_error(req, e)),
    };
    let mut msg_id = String::with_capacity(put.phys_offsets.len() * 57);
    for (i, offset) in put.phys_offsets.iter().enumerate() {
        if i > 0 {
            msg_id.push(',');
        }
        push_offset_msg_id(&mut msg_id, b.store_host, *offset);
    }
    let header = SendMessageResponseHeader { msg_id, queue_id, queue_offset: put.first_queue_offset, transaction_id: uniq_of_first };
    let mut resp = RemotingCommand::response_to(req, code);
    header.encode(&mut resp.ext_fields, &b.config.region_id, b.config.trace_on);
    Ok(resp)
}

/// Permission, topic and queue checks (`msgCheck`), auto-creating the topic when allowed.
/// The answer to a put that stored nothing.
pub(crate) fn put_error(req: &RemotingCommand, e: PutError) -> RemotingCommand {
    match e {
        PutError::MessageIllegal(m) => error(req, rs::MESSAGE_ILLEGAL, m),
        PutError::ServiceUnavailable(m) => error(req, rs::SERVICE_NOT_AVAILABLE, m),
        PutError::Io(m) => error(req, rs::SYSTEM_ERROR, format!("store write failed: {m}")),
        PutError::Busy(m) => error(req, rs::SYSTEM_BUSY, m),
        // Stored after all; callers that can say so handle it before.
        PutError::FlushDiskTimeout(_) => error(req, rs::FLUSH_DISK_TIMEOUT, "flush to disk timed out"),
    }
}

pub(crate) fn check(b: &Broker, req: &RemotingCommand, h: &SendMessageRequestHeader) -> Result<TopicConfig, RemotingCommand> {
    if b.config.broker_permission & perm::WRITE == 0 {
        return Err(error(req, rs::NO_PERMISSION, format!("the broker[{}] sending message is forbidden", b.config.broker_ip1)));
    }
    if req.body.len() > b.config.max_message_size {
        return Err(error(req, rs::MESSAGE_ILLEGAL, format!("the message body size over max value, MAX: {}", b.config.max_message_size)));
    }
    names::validate_topic(&h.topic).map_err(|m| error(req, rs::INVALID_PARAMETER, m))?;
    names::validate_group(&h.producer_group).map_err(|m| error(req, rs::INVALID_PARAMETER, m))?;
    if names::NOT_ALLOWED_SEND_TOPICS.contains(&&*h.topic) {
        return Err(error(req, rs::NO_PERMISSION, format!("Sending message to topic[{}] is forbidden.", h.topic)));
    }
    let topic = match b.topics.get(&h.topic) {
        Some(t) => Some(t),
        None if h.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) => {
            let t =
                TopicConfig { topic_name: h.topic.to_string(), read_queue_nums: 1, write_queue_nums: 1, perm: perm::READ | perm::WRITE, ..Default::default() };
            Some(created(b, b.topics.get_or_create(t)))
        }
        None if b.config.auto_create_topic_enable => b.topics.create_from_default(&h.topic, &h.default_topic, h.default_topic_queue_nums).inspect(|t| {
            tracing::info!(topic = %t.topic_name, queues = t.write_queue_nums, "topic auto-created on send");
            b.register_now.notify_one();
        }),
        None => None,
    };
    let Some(topic) = topic else {
        return Err(error(req, rs::TOPIC_NOT_EXIST, format!("topic[{}] not exist, apply first please!", h.topic)));
    };
    if topic.perm & perm::WRITE == 0 {
        return Err(error(req, rs::NO_PERMISSION, format!("the topic[{}] sending message is forbidden", h.topic)));
    }
    if h.queue_id >= topic.write_queue_nums {
        return Err(error(
            req,
            rs::INVALID_PARAMETER,
            format!("request queueId[{}] is illegal, topic {} has {} write queues", h.queue_id, h.topic, topic.write_queue_nums),
        ));
    }
    Ok(topic)
}

pub(crate) fn created(b: &Broker, (topic, new): (TopicConfig, bool)) -> TopicConfig {
    if new {
        b.register_now.notify_one();
    }
    topic
}

/// A retry re-send past its group's max reconsume times goes to `%DLQ%<group>`.
fn dead_letter_target(b: &Broker, h: &SendMessageRequestHeader) -> Option<(String, i32)> {
    let group = h.topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX)?;
    let max = h.max_reconsume_times.unwrap_or_else(|| b.groups.get(group).map_or(16, |g| g.retry_max_times));
    if h.reconsume_times < max {
        return None;
    }
    let dlq = names::dlq_topic(group);
    let t = TopicConfig { topic_name: dlq.clone(), read_queue_nums: 1, write_queue_nums: 1, perm: perm::READ | perm::WRITE, ..Default::default() };
    created(b, b.topics.get_or_create(t));
    Some((dlq, 0))
}
