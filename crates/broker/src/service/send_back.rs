//! A consumer could not process a message (CONSUMER_SEND_MSG_BACK). It goes to
//! `%RETRY%<group>` with a delay that grows with its reconsume count, or, past the group's
//! max reconsume times (or when asked with a negative delay level), to `%DLQ%<group>`.

use protocol::codes::response as rs;
use protocol::message::{decode_record, prop, Properties};
use rand::Rng;

use crate::error::{BrokerError, BrokerResult};
use crate::put::{NewMessage, ORIGIN_MESSAGE_ID};
use crate::trace::Event;
use crate::Broker;

/// `V3_4_9`: from here on the client's maxReconsumeTimes is honoured.
const VERSION_WITH_MAX_RECONSUME: i32 = 121;

/// The message at a CommitLog offset, given back by a consumer group.
#[derive(Debug, Clone)]
pub struct SendBack {
    pub group: String,
    pub phys_offset: i64,
    /// 0: the next level for its reconsume count; negative: straight to the DLQ.
    pub delay_level: i32,
    pub max_reconsume_times: Option<i32>,
    /// The client's version (its MQVersion ordinal).
    pub client_version: i32,
}

impl Broker {
    pub async fn send_back(&self, r: &SendBack) -> BrokerResult<()> {
        let group = r.group.as_str();
        let Some(config) = self.groups.find_or_create(group) else {
            return Err(BrokerError::new(rs::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group not exist, {group}")));
        };
        let Some(rec) = self.store.read_message(r.phys_offset)? else {
            return Err(BrokerError::system(format!("look message by offset failed, {}", r.phys_offset)));
        };
        // Java's lookMessageByOffset answers null for a record it cannot decode.
        let m = decode_record(&rec, false).map_err(|_| BrokerError::system(format!("look message by offset failed, {}", r.phys_offset)))?;
        // The copy carries the stored properties plus what the Java broker adds: RETRY_TOPIC,
        // WAIT=false, DELAY (the retry level, or 0 into the DLQ) and ORIGIN_MESSAGE_ID (kept from
        // an earlier retry, else the looked-up message's offset msgId; the header's originMsgId
        // only feeds Java's consume hooks).
        let mut props = Properties::parse(&m.properties);
        if props.get(prop::RETRY_TOPIC).is_none() {
            props.set(prop::RETRY_TOPIC, m.topic.clone());
        }
        props.set(prop::WAIT, "false");
        let origin_topic = props.get(prop::RETRY_TOPIC).unwrap_or(&m.topic).to_string();
        if props.get(ORIGIN_MESSAGE_ID).is_none_or(|id| id.trim().is_empty()) {
            props.set(ORIGIN_MESSAGE_ID, m.msg_id());
        }
        let max_reconsume = match r.max_reconsume_times {
            Some(max) if r.client_version >= VERSION_WITH_MAX_RECONSUME => max,
            _ => config.retry_max_times,
        };
        let dead_letter = m.reconsume_times >= max_reconsume || r.delay_level < 0;
        let (topic, queue_id) = if dead_letter {
            props.set(prop::DELAY, "0");
            (self.topics.ensure_dlq_topic(group).topic_name, 0)
        } else {
            let retry = self.topics.ensure_retry_topic(group, config.retry_queue_nums);
            let level = if r.delay_level == 0 { 3 + m.reconsume_times } else { r.delay_level };
            props.set(prop::DELAY, level.to_string());
            let queue_id = rand::thread_rng().gen_range(0..retry.write_queue_nums.max(1));
            (retry.topic_name, queue_id)
        };
        let out = NewMessage::from_record(&m, topic, queue_id, m.reconsume_times + 1, props);
        let traced = self.config.broker_trace_enable.then(|| out.clone());
        match self.put(vec![out], true).await {
            Ok(_) | Err(store::PutError::FlushDiskTimeout(_) | store::PutError::FlushSlaveTimeout(_) | store::PutError::SlaveNotAvailable(_)) => {
                if dead_letter {
                    self.metrics.dead_lettered(group, &origin_topic, 1);
                }
                if let Some(copy) = traced {
                    self.trace(if dead_letter { Event::DeadLetter } else { Event::Retry }, group, &copy).await;
                }
                Ok(())
            }
            // As the Java broker: any failed put of a send-back is a SYSTEM_ERROR.
            Err(e) => Err(BrokerError::system(e.to_string())),
        }
    }
}
