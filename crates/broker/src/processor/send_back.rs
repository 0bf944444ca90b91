//! CONSUMER_SEND_MSG_BACK: a consumer could not process a message. It goes to
//! `%RETRY%<group>` with a delay that grows with its reconsume count, or, past the group's
//! max reconsume times (or when asked with a negative delay level), to `%DLQ%<group>`.

use std::sync::Arc;

use protocol::body::TopicConfig;
use protocol::codes::{perm, response as rs};
use protocol::header::Fields;
use protocol::message::{decode_record, prop, Properties};
use protocol::names;
use protocol::{ProtocolError, RemotingCommand};
use rand::Rng;
use store::PutError;

use super::send::created;
use super::{error, ok};
use crate::put::{Outgoing, ORIGIN_MESSAGE_ID};
use crate::Broker;

/// `V3_4_9`: from here on the client's maxReconsumeTimes is honoured.
const VERSION_WITH_MAX_RECONSUME: i32 = 121;

pub async fn process(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let ext = &req.ext_fields;
    let offset: i64 = ext.req("offset")?;
    let group = ext.req_str("group")?;
    let delay_level: i32 = ext.opt("delayLevel")?.unwrap_or(0);
    let Some(config) = b.groups.find_or_create(group) else {
        return Ok(error(req, rs::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group not exist, {group}")));
    };
    let Some(rec) = b.store.read_message(offset).map_err(|e| ProtocolError::BadBody(e.to_string()))? else {
        return Ok(error(req, rs::SYSTEM_ERROR, format!("look message by offset failed, {offset}")));
    };
    let m = decode_record(&rec, false)?;
    let mut props = Properties::parse(&m.properties);
    if props.get(prop::RETRY_TOPIC).is_none() {
        props.set(prop::RETRY_TOPIC, m.topic.clone());
    }
    let origin =
        ext.raw("originMsgId").filter(|s| !s.is_empty()).map(str::to_string).unwrap_or_else(|| props.get(prop::UNIQ_KEY).unwrap_or_default().to_string());
    props.set(ORIGIN_MESSAGE_ID, origin);
    props.remove(prop::DELAY);
    let max_reconsume = match ext.opt::<i32>("maxReconsumeTimes")? {
        Some(max) if req.version >= VERSION_WITH_MAX_RECONSUME => max,
        _ => config.retry_max_times,
    };
    let (topic, queue_id) = if m.reconsume_times >= max_reconsume || delay_level < 0 {
        let dlq = names::dlq_topic(group);
        let t = TopicConfig { topic_name: dlq.clone(), read_queue_nums: 1, write_queue_nums: 1, perm: perm::READ | perm::WRITE, ..Default::default() };
        created(b, b.topics.get_or_create(t));
        (dlq, 0)
    } else {
        let retry = names::retry_topic(group);
        let queues = config.retry_queue_nums.max(1);
        let t =
            TopicConfig { topic_name: retry.clone(), read_queue_nums: queues, write_queue_nums: queues, perm: perm::READ | perm::WRITE, ..Default::default() };
        let t = created(b, b.topics.get_or_create(t));
        let level = if delay_level == 0 { 3 + m.reconsume_times } else { delay_level };
        props.set(prop::DELAY, level.to_string());
        (retry, rand::thread_rng().gen_range(0..t.write_queue_nums.max(1)))
    };
    let out = Outgoing::from_record(&m, topic, queue_id, m.reconsume_times + 1, props);
    match b.put(vec![out], true).await {
        Ok(_) | Err(PutError::FlushDiskTimeout(_)) => Ok(ok(req)),
        Err(e) => Ok(error(req, rs::SYSTEM_ERROR, e.to_string())),
    }
}
