//! The answer to a `producer.request(...)` (SEND_REPLY_MESSAGE): pushed to the requesting
//! client's connection (found by the REPLY_TO_CLIENT property) and also stored in the reply
//! topic, as `storeReplyMessageEnable` does by default.

use std::time::Duration;

use protocol::codes::response as rs;
use protocol::message::Properties;

use super::send::{new_message, stored, SendRequest, Sent};
use crate::error::{BrokerError, BrokerResult};
use crate::push::{ClientAsk, ReplyMessage};
use crate::Broker;

const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// How long the requester's client has to take the pushed reply.
const PUSH_TIMEOUT: Duration = Duration::from_secs(3);

impl Broker {
    pub async fn reply(&self, req: &SendRequest<'_>) -> BrokerResult<Sent> {
        let h = &req.header;
        self.check_send(h, req.body.len(), req.auto_create).await?;
        let queue_id = h.queue_id.max(0);
        let mut props = Properties::parse(&h.properties);
        let Some(client_id) = props.get(REPLY_TO_CLIENT).map(str::to_string) else {
            return Err(BrokerError::system(format!("reply message properties[{REPLY_TO_CLIENT}] is null")));
        };
        let Some(requester) = self.clients.producer_channel(&client_id) else {
            return Err(BrokerError::system(format!("push reply message fail, channel of <{client_id}> not found.")));
        };
        let now_ms = self.clock.now_ms();
        props.set(PUSH_REPLY_TIME, now_ms.to_string());
        self.stamp(&mut props);
        let reply = ReplyMessage {
            born_host: req.born_host,
            store_host: self.store_host,
            store_timestamp: now_ms,
            producer_group: h.producer_group.to_string(),
            topic: h.topic.to_string(),
            default_topic: h.default_topic.to_string(),
            default_topic_queue_nums: h.default_topic_queue_nums,
            queue_id,
            sys_flag: h.sys_flag,
            born_timestamp: h.born_timestamp,
            flag: h.flag,
            properties: props.encode(),
            reconsume_times: h.reconsume_times,
            unit_mode: h.unit_mode,
            body: req.body.clone(),
        };
        match requester.ask(ClientAsk::Reply(reply), PUSH_TIMEOUT).await {
            Ok(r) if r.code == rs::SUCCESS => {}
            Ok(r) => return Err(BrokerError::system(format!("push reply message to {client_id} fail: {}", r.remark.unwrap_or_default()))),
            Err(e) => return Err(BrokerError::system(format!("push reply message to {client_id} fail: {e}"))),
        }
        let kind = crate::metrics::message_type(&props);
        let out = new_message(h, queue_id, req.born_host, h.flag, req.body.clone(), props);
        // As the Java broker: the reply was pushed, but the answer reports how storing it went.
        let (put, status) = stored(self.put(vec![out], true).await).inspect_err(|e| tracing::warn!(error = %e, "reply delivered but not stored"))?;
        self.metrics.sent(&h.topic, kind, 1, put.wrote_bytes);
        Ok(Sent { queue_id, put, uniq_key: None, status, recall_handle: None })
    }
}
