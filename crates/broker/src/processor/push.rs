//! What the broker sends to a remoting client: [`RemotingClient`] is a channel as a
//! [`ClientConn`], encoding each push and ask as the request RocketMQ clients expect.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol::body::{self, MessageQueue};
use protocol::codes::request as rq;
use protocol::{LanguageCode, RemotingCommand};
use remoting::{Channel, RemotingError};

use crate::push::{BoxFuture, ClientAnswer, ClientAsk, ClientConn, ClientPush, PushError};

/// A remoting connection, with the language its client declared (C++ clients take some
/// bodies in another shape).
pub struct RemotingClient {
    channel: Arc<Channel>,
    language: LanguageCode,
}

impl RemotingClient {
    pub fn new(channel: Arc<Channel>, language: LanguageCode) -> RemotingClient {
        RemotingClient { channel, language }
    }

    fn encode_push(&self, push: ClientPush) -> RemotingCommand {
        match push {
            ClientPush::ConsumerIdsChanged { group } => RemotingCommand::request(rq::NOTIFY_CONSUMER_IDS_CHANGED).with_ext("consumerGroup", group),
            ClientPush::ResetOffset { topic, group, timestamp, force, offsets } => {
                let body = if self.language == LanguageCode::CPP { offset_list_body(&offsets) } else { offset_table_body(&offsets) };
                RemotingCommand::request(rq::RESET_CONSUMER_CLIENT_OFFSET)
                    .with_ext("topic", topic)
                    .with_ext("group", group)
                    .with_ext("queueId", -1)
                    .with_ext("timestamp", timestamp)
                    .with_ext("isForce", force)
                    .with_body(body)
            }
            ClientPush::CheckTransaction(c) => RemotingCommand::request(rq::CHECK_TRANSACTION_STATE)
                .with_ext("topic", c.topic)
                .with_ext("tranStateTableOffset", c.tran_state_table_offset)
                .with_ext("commitLogOffset", c.commit_log_offset)
                .with_ext("msgId", &c.transaction_id)
                .with_ext("transactionId", c.transaction_id)
                .with_ext("offsetMsgId", c.offset_msg_id)
                .with_ext("bname", c.broker_name)
                .with_body(c.message),
        }
    }
}

fn encode_ask(ask: ClientAsk) -> RemotingCommand {
    match ask {
        ClientAsk::Reply(m) => RemotingCommand::request(rq::PUSH_REPLY_MESSAGE_TO_CLIENT)
            .with_ext("bornHost", m.born_host)
            .with_ext("storeHost", m.store_host)
            .with_ext("storeTimestamp", m.store_timestamp)
            .with_ext("producerGroup", m.producer_group)
            .with_ext("topic", m.topic)
            .with_ext("defaultTopic", m.default_topic)
            .with_ext("defaultTopicQueueNums", m.default_topic_queue_nums)
            .with_ext("queueId", m.queue_id)
            .with_ext("sysFlag", m.sys_flag)
            .with_ext("bornTimestamp", m.born_timestamp)
            .with_ext("flag", m.flag)
            .with_ext("properties", m.properties)
            .with_ext("reconsumeTimes", m.reconsume_times)
            .with_ext("unitMode", m.unit_mode)
            .with_body(m.body),
        ClientAsk::ConsumerRunningInfo { group, client_id, jstack } => RemotingCommand::request(rq::GET_CONSUMER_RUNNING_INFO)
            .with_ext("consumerGroup", group)
            .with_ext("clientId", client_id)
            .with_ext("jstackEnable", jstack),
    }
}

fn push_error(e: RemotingError) -> PushError {
    match e {
        RemotingError::Closed(_) => PushError::Closed,
        RemotingError::Timeout { timeout_ms, .. } => PushError::Timeout(Duration::from_millis(timeout_ms as u64)),
        other => PushError::Other(other.to_string()),
    }
}

impl ClientConn for RemotingClient {
    fn id(&self) -> u64 {
        self.channel.id()
    }

    fn remote_addr(&self) -> SocketAddr {
        self.channel.peer_addr()
    }

    fn is_closed(&self) -> bool {
        self.channel.is_closed()
    }

    fn close(&self) {
        self.channel.close();
    }

    fn push(&self, push: ClientPush) -> BoxFuture<Result<(), PushError>> {
        let (channel, cmd) = (self.channel.clone(), self.encode_push(push));
        Box::pin(async move { channel.oneway(cmd).await.map_err(push_error) })
    }

    fn ask(&self, ask: ClientAsk, timeout: Duration) -> BoxFuture<Result<ClientAnswer, PushError>> {
        let (channel, cmd) = (self.channel.clone(), encode_ask(ask));
        Box::pin(async move {
            let r = channel.invoke(cmd, timeout).await.map_err(push_error)?;
            Ok(ClientAnswer { code: r.code, remark: r.remark, body: r.body })
        })
    }
}

/// ResetOffsetBody: `{"offsetTable":{<MessageQueue>:<offset>,...}}`.
pub(crate) fn offset_table_body(offsets: &[(MessageQueue, i64)]) -> String {
    format!("{{\"offsetTable\":{}}}", body::object_keyed_map(offsets))
}

/// ResetOffsetBodyForC, for C++ clients: `{"offsetTable":[{"topic":..,"brokerName":..,"queueId":..,"offset":..},...]}`.
fn offset_list_body(offsets: &[(MessageQueue, i64)]) -> String {
    let list: Vec<serde_json::Value> =
        offsets.iter().map(|(mq, o)| serde_json::json!({"topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": o})).collect();
    serde_json::json!({ "offsetTable": list }).to_string()
}
