//! What the broker sends to a connected client, behind [`ClientConn`]: a remoting channel
//! implements it today (`processor::push`), a gRPC Telemetry stream later. The client
//! registry (`clients`) stores these, never a transport's connection type, so operations
//! that push (consumer-id changes, offset resets, replies, running info; transaction
//! check-backs next) do not know which front end the client came through.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use protocol::body::MessageQueue;

/// A future the broker can hold across tasks.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// A client connection as the broker's operations see it.
pub trait ClientConn: Send + Sync + 'static {
    /// Unique among live connections of this process.
    fn id(&self) -> u64;
    fn remote_addr(&self) -> SocketAddr;
    fn is_closed(&self) -> bool;
    fn close(&self);
    /// Sends without waiting for an answer (RocketMQ's oneway pushes).
    fn push(&self, push: ClientPush) -> BoxFuture<Result<(), PushError>>;
    /// Sends and waits up to `timeout` for the client's answer.
    fn ask(&self, ask: ClientAsk, timeout: Duration) -> BoxFuture<Result<ClientAnswer, PushError>>;
}

/// One-way notices to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientPush {
    /// The members of a consumer group changed: rebalance now (NOTIFY_CONSUMER_IDS_CHANGED).
    ConsumerIdsChanged { group: String },
    /// Reposition the group's queues of a topic (RESET_CONSUMER_CLIENT_OFFSET).
    ResetOffset { topic: String, group: String, timestamp: i64, force: bool, offsets: Vec<(MessageQueue, i64)> },
    /// Ask a producer how its transaction ended (CHECK_TRANSACTION_STATE); it answers with
    /// END_TRANSACTION (over gRPC: RecoverOrphanedTransactionCommand, EndTransaction).
    CheckTransaction(Box<CheckTransaction>),
}

/// A transaction's check-back: which half message, and the message as its producer sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckTransaction {
    pub topic: String,
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    /// The message's UNIQ_KEY (remoting sends it as both `msgId` and `transactionId`).
    pub transaction_id: String,
    pub offset_msg_id: String,
    pub broker_name: String,
    /// One stored record: the message in its real topic and queue, at the half message's offsets.
    pub message: Bytes,
}

/// Requests to a client that it answers.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientAsk {
    /// The answer to a `request(...)` the client made (PUSH_REPLY_MESSAGE_TO_CLIENT).
    Reply(ReplyMessage),
    /// The consumer's running state (GET_CONSUMER_RUNNING_INFO), relayed to an admin.
    ConsumerRunningInfo { group: String, client_id: String, jstack: bool },
}

/// A reply message on its way to the requester, with its store-side fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyMessage {
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub store_timestamp: i64,
    pub producer_group: String,
    pub topic: String,
    pub default_topic: String,
    pub default_topic_queue_nums: i32,
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    /// Properties in RocketMQ's wire form.
    pub properties: String,
    pub reconsume_times: i32,
    pub unit_mode: bool,
    pub body: Bytes,
}

/// A client's answer: its response code, remark and body.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientAnswer {
    pub code: i32,
    pub remark: Option<String>,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the client's connection is closed")]
    Closed,
    #[error("the client did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Other(String),
}
