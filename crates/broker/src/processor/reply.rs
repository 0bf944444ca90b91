//! SEND_REPLY_MESSAGE(_V2): the answer to a `producer.request(...)`. The broker pushes it to
//! the requesting client's connection (PUSH_REPLY_MESSAGE_TO_CLIENT, found by the
//! REPLY_TO_CLIENT property) and also stores it in the reply topic.

use std::sync::Arc;
use std::time::Duration;

use protocol::codes::{request as rq, response as rs};
use protocol::header::{SendMessageRequestHeader, SendMessageResponseHeader};
use protocol::message::{offset_msg_id, Properties};
use protocol::{ProtocolError, RemotingCommand};
use remoting::Channel;

use super::error;
use super::send::{check, put_error};
use crate::put::{now_ms, Outgoing};
use crate::Broker;

const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// How long the requester's client has to take the pushed reply.
const PUSH_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn process(b: &Arc<Broker>, ch: &Arc<Channel>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let h = SendMessageRequestHeader::decode(&req.ext_fields, req.code == rq::SEND_REPLY_MESSAGE_V2)?;
    if let Err(resp) = check(b, req, &h) {
        return Ok(resp);
    }
    let queue_id = h.queue_id.max(0);
    let mut props = Properties::parse(&h.properties);
    let Some(client_id) = props.get(REPLY_TO_CLIENT).map(str::to_string) else {
        return Ok(error(req, rs::SYSTEM_ERROR, format!("reply message properties[{REPLY_TO_CLIENT}] is null")));
    };
    let Some(requester) = b.clients.producer_channel(&client_id) else {
        return Ok(error(req, rs::SYSTEM_ERROR, format!("push reply message fail, channel of <{client_id}> not found.")));
    };
    props.set(PUSH_REPLY_TIME, now_ms().to_string());
    let push = RemotingCommand::request(rq::PUSH_REPLY_MESSAGE_TO_CLIENT)
        .with_ext("bornHost", ch.peer_addr())
        .with_ext("storeHost", b.store_host)
        .with_ext("storeTimestamp", now_ms())
        .with_ext("producerGroup", &h.producer_group)
        .with_ext("topic", &h.topic)
        .with_ext("defaultTopic", &h.default_topic)
        .with_ext("defaultTopicQueueNums", h.default_topic_queue_nums)
        .with_ext("queueId", queue_id)
        .with_ext("sysFlag", h.sys_flag)
        .with_ext("bornTimestamp", h.born_timestamp)
        .with_ext("flag", h.flag)
        .with_ext("properties", props.encode())
        .with_ext("reconsumeTimes", h.reconsume_times)
        .with_ext("unitMode", h.unit_mode)
        .with_body(req.body.clone());
    match requester.invoke(push, PUSH_TIMEOUT).await {
        Ok(r) if r.code == rs::SUCCESS => {}
        Ok(r) => return Ok(error(req, rs::SYSTEM_ERROR, format!("push reply message to {client_id} fail: {}", r.remark.unwrap_or_default()))),
        Err(e) => return Ok(error(req, rs::SYSTEM_ERROR, format!("push reply message to {client_id} fail: {e}"))),
    }
    // Delivered; also kept in the reply topic, as storeReplyMessageEnable does by default.
    let out = Outgoing {
        topic: h.topic.to_string(),
        queue_id,
        flag: h.flag,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: ch.peer_addr(),
        reconsume_times: h.reconsume_times,
        body: req.body.clone(),
        props,
    };
    // As the Java broker: the reply was pushed, but the answer reports how storing it went.
    let (code, r) = match b.put(vec![out], true).await {
        Ok(r) => (rs::SUCCESS, r),
        Err(store::PutError::FlushDiskTimeout(r)) => (rs::FLUSH_DISK_TIMEOUT, r),
        Err(e) => {
            tracing::warn!(error = %e, "reply delivered but not stored");
            return Ok(put_error(req, e));
        }
    };
    let (msg_id, queue_offset) = (offset_msg_id(b.store_host, r.phys_offsets[0]), r.first_queue_offset);
    let mut resp = RemotingCommand::response_to(req, code);
    SendMessageResponseHeader { msg_id, queue_id, queue_offset, transaction_id: None }.encode(&mut resp.ext_fields, &b.config.region_id, b.config.trace_on);
    Ok(resp)
}
