//! gRPC clients: each client's settings (sent on its Telemetry stream), the stream itself as
//! the broker's [`ClientConn`] to that client, and registration with the broker's client
//! registry as a producer (one group per topic, as the Java proxy) or a consumer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::push::{BoxFuture, ClientAnswer, ClientAsk, ClientConn, ClientPush, PushError};
use broker::service::clients::ClientInfo;
use broker::Broker;
use protocol::body::{ConsumerData, HeartbeatData, ProducerData, SubscriptionData};
use protocol::LanguageCode;
use tokio::sync::{mpsc, oneshot};

use crate::convert::duration;
use crate::pb::{self, Code, Status, TelemetryCommand};
use crate::status::status;

/// The messages one pop answers at most; what the settings tell consumers to ask for.
pub const RECEIVE_BATCH_SIZE: i32 = 32;
/// The longest a receive waits; what the settings tell push consumers.
pub const LONG_POLLING_TIMEOUT_MS: i64 = 20_000;
/// Send attempts of a producer (`grpcClientProducerMaxAttempts`).
const PRODUCER_MAX_ATTEMPTS: i32 = 3;

pub type TelemetrySender = mpsc::Sender<Result<TelemetryCommand, tonic::Status>>;

/// A client's Telemetry stream: how the broker reaches it.
pub struct GrpcConn {
    id: u64,
    peer: SocketAddr,
    closed: AtomicBool,
    stream: Arc<Stream>,
}

/// The sending half of the stream and the commands waiting for the client's answer.
struct Stream {
    tx: Mutex<Option<TelemetrySender>>,
    /// Commands sent that the client answers, by nonce.
    pending: Mutex<HashMap<String, oneshot::Sender<TelemetryCommand>>>,
}

impl GrpcConn {
    pub fn new(peer: SocketAddr, tx: TelemetrySender) -> Arc<GrpcConn> {
        let stream = Arc::new(Stream { tx: Mutex::new(Some(tx)), pending: Mutex::default() });
        Arc::new(GrpcConn { id: remoting::next_conn_id(), peer, closed: AtomicBool::new(false), stream })
    }

    /// An answer from the client to a command the broker sent it (matched by nonce); false
    /// when nothing waits for it (answered late, or never asked).
    pub fn answered(&self, nonce: &str, answer: TelemetryCommand) -> bool {
        let waiter = self.stream.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(nonce);
        waiter.is_some_and(|w| w.send(answer).is_ok())
    }

    /// Sends a command on the stream, waiting for room.
    pub async fn send(&self, cmd: TelemetryCommand) -> Result<(), PushError> {
        self.stream.send(cmd).await
    }

    /// Ends the stream from our side with an error status.
    pub async fn fail(&self, e: tonic::Status) {
        if let Some(tx) = self.stream.sender() {
            let _ = tx.send(Err(e)).await;
        }
        self.close();
    }
}

impl Stream {
    fn sender(&self) -> Option<TelemetrySender> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn send(&self, cmd: TelemetryCommand) -> Result<(), PushError> {
        let tx = self.sender().ok_or(PushError::Closed)?;
        tx.send(Ok(cmd)).await.map_err(|_| PushError::Closed)
    }

    /// Sends a command the client answers and waits up to `timeout` for its answer.
    async fn ask_client(&self, command: pb::telemetry_command::Command, nonce: String, timeout: Duration) -> Result<TelemetryCommand, PushError> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(nonce.clone(), tx);
        let asked = async {
            self.send(TelemetryCommand { status: None, command: Some(command) }).await?;
            rx.await.map_err(|_| PushError::Closed)
        };
        let answer = tokio::time::timeout(timeout, asked).await.unwrap_or(Err(PushError::Timeout(timeout)));
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&nonce);
        answer
    }
}

impl ClientConn for GrpcConn {
    fn id(&self) -> u64 {
        self.id
    }

    fn remote_addr(&self) -> SocketAddr {
        self.peer
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // Dropping the sender ends the response stream once what is queued is sent.
        self.stream.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn push(&self, push: ClientPush) -> BoxFuture<Result<(), PushError>> {
        let r = match push {
            // The producer runs its checker and answers with EndTransaction (SERVER_CHECK).
            ClientPush::CheckTransaction(c) => {
                let stream = self.stream.clone();
                return Box::pin(async move {
                    let record = protocol::message::decode_record(&c.message, false).map_err(|e| PushError::Other(e.to_string()))?;
                    let message = crate::convert::outgoing(&record, &c.topic, None, 1, crate::service::MAX_INFLATED_BODY);
                    let command = pb::telemetry_command::Command::RecoverOrphanedTransactionCommand(pb::RecoverOrphanedTransactionCommand {
                        message: Some(message),
                        transaction_id: c.transaction_id,
                    });
                    stream.send(TelemetryCommand { status: None, command: Some(command) }).await
                });
            }
            // 5.x consumers do not rebalance on notice: push consumers ask for their
            // assignment every few seconds, simple consumers pop from every queue.
            ClientPush::ConsumerIdsChanged { .. } => Ok(()),
            ClientPush::ResetOffset { .. } => Err(PushError::Other("a gRPC client cannot reset offsets (POP consumers take the group's offset)".into())),
        };
        Box::pin(async move { r })
    }

    fn ask(&self, ask: ClientAsk, timeout: Duration) -> BoxFuture<Result<ClientAnswer, PushError>> {
        let conn = self.stream.clone();
        Box::pin(async move {
            match ask {
                ClientAsk::Reply(_) => Err(PushError::Other("5.x gRPC clients have no request-reply".into())),
                // What a 5.x SDK can tell: its threads' stack traces, asked for on its stream
                // (the Java proxy relays the same; without jstack there is nothing to ask).
                ClientAsk::ConsumerRunningInfo { jstack, .. } => {
                    let mut info = serde_json::json!({ "properties": {}, "subscriptionSet": [], "mqTable": {}, "statusTable": {} });
                    if jstack {
                        let nonce = format!("{:016x}", rand::random::<u64>());
                        let cmd = pb::telemetry_command::Command::PrintThreadStackTraceCommand(pb::PrintThreadStackTraceCommand { nonce: nonce.clone() });
                        let answer = conn.ask_client(cmd, nonce, timeout).await?;
                        if answer.status.as_ref().is_some_and(|s| s.code != Code::Ok as i32) {
                            let why = answer.status.map(|s| s.message).unwrap_or_default();
                            return Ok(ClientAnswer { code: protocol::codes::response::SYSTEM_ERROR, remark: Some(why), body: Default::default() });
                        }
                        if let Some(pb::telemetry_command::Command::ThreadStackTrace(t)) = answer.command {
                            info["jstack"] = serde_json::Value::String(t.thread_stack_trace.unwrap_or_default());
                        }
                    }
                    Ok(ClientAnswer { code: protocol::codes::response::SUCCESS, remark: None, body: serde_json::to_vec(&info).unwrap_or_default().into() })
                }
            }
        })
    }
}

/// What a client told us on its Telemetry stream, and the stream.
#[derive(Clone)]
pub struct Session {
    pub settings: pb::Settings,
    pub conn: Arc<GrpcConn>,
    pub language: LanguageCode,
}

impl Session {
    pub fn client_type(&self) -> Option<pb::ClientType> {
        self.settings.client_type.and_then(|t| pb::ClientType::try_from(t).ok())
    }

    /// The consumer group of a consumer.
    pub fn group(&self) -> Option<&str> {
        match &self.settings.pub_sub {
            Some(pb::settings::PubSub::Subscription(s)) => s.group.as_ref().map(|g| g.name.as_str()),
            _ => None,
        }
    }

    pub fn publishing_topics(&self) -> Vec<&str> {
        match &self.settings.pub_sub {
            Some(pb::settings::PubSub::Publishing(p)) => p.topics.iter().map(|t| t.name.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// The sessions of connected gRPC clients, by client id.
#[derive(Default)]
pub struct Sessions {
    /// Shared: a receive or heartbeat looks a client's settings up without copying them.
    by_client: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    pub fn get(&self, client_id: &str) -> Option<Arc<Session>> {
        self.by_client.lock().unwrap_or_else(|e| e.into_inner()).get(client_id).cloned()
    }

    pub fn insert(&self, client_id: &str, session: Session) {
        self.by_client.lock().unwrap_or_else(|e| e.into_inner()).insert(client_id.to_string(), Arc::new(session));
    }

    /// Forgets a client's session if it is still the one on stream `conn_id`.
    pub fn remove(&self, client_id: &str, conn_id: u64) -> Option<Arc<Session>> {
        let mut map = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(client_id).is_some_and(|s| s.conn.id == conn_id) {
            return map.remove(client_id);
        }
        None
    }
}

/// Checks a client's settings: a producer names valid topics, a consumer a valid group.
pub fn check_settings(s: &pb::Settings) -> Result<(), Status> {
    match &s.pub_sub {
        Some(pb::settings::PubSub::Publishing(p)) => {
            for t in &p.topics {
                protocol::names::validate_topic(&t.name).map_err(|e| status(Code::IllegalTopic, e))?;
            }
            Ok(())
        }
        Some(pb::settings::PubSub::Subscription(sub)) => {
            let group = sub.group.as_ref().map(|g| g.name.as_str()).unwrap_or("");
            protocol::names::validate_group(group).map_err(|e| status(Code::IllegalConsumerGroup, e))?;
            for e in &sub.subscriptions {
                let topic = e.topic.as_ref().map(|t| t.name.as_str()).unwrap_or("");
                protocol::names::validate_topic(topic).map_err(|e| status(Code::IllegalTopic, e))?;
            }
            Ok(())
        }
        None => Err(status(Code::BadRequest, "there is no publishing or subscription data in settings")),
    }
}

/// Registers a client with the broker, as a heartbeat: producers under each topic they
/// publish to, consumers under their group with their subscriptions.
pub fn register(broker: &Broker, client_id: &str, s: &Session) {
    let mut hb = HeartbeatData { client_id: client_id.to_string(), ..Default::default() };
    match &s.settings.pub_sub {
        Some(pb::settings::PubSub::Publishing(p)) => {
            hb.producer_data_set = p.topics.iter().map(|t| ProducerData { group_name: t.name.clone() }).collect();
        }
        Some(pb::settings::PubSub::Subscription(sub)) => {
            let consume_type = if s.client_type() == Some(pb::ClientType::PushConsumer) { "CONSUME_PASSIVELY" } else { "CONSUME_ACTIVELY" };
            let subscription_data_set = sub
                .subscriptions
                .iter()
                .map(|e| {
                    let (kind, text) = match &e.expression {
                        Some(x) if x.r#type == pb::FilterType::Sql as i32 => ("SQL92", x.expression.clone()),
                        Some(x) => ("TAG", x.expression.clone()),
                        None => ("TAG", "*".to_string()),
                    };
                    let tags_set = if kind == "TAG" && text.trim() != "*" {
                        text.split("||").map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
                    } else {
                        Default::default()
                    };
                    SubscriptionData {
                        topic: e.topic.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
                        sub_string: text,
                        code_set: tags_set_codes(&tags_set),
                        tags_set,
                        sub_version: 0,
                        expression_type: Some(kind.to_string()),
                        class_filter_mode: false,
                    }
                })
                .collect();
            hb.consumer_data_set = vec![ConsumerData {
                group_name: sub.group.as_ref().map(|g| g.name.clone()).unwrap_or_default(),
                consume_type: Some(consume_type.into()),
                message_model: Some("CLUSTERING".into()),
                consume_from_where: Some("CONSUME_FROM_LAST_OFFSET".into()),
                subscription_data_set,
                unit_mode: false,
            }];
        }
        None => return,
    }
    let conn: Arc<dyn ClientConn> = s.conn.clone();
    broker.heartbeat(&hb, ClientInfo { conn, language: s.language, version: protocol::codes::version::CURRENT });
}

fn tags_set_codes(tags: &std::collections::BTreeSet<String>) -> std::collections::BTreeSet<i32> {
    tags.iter().map(|t| protocol::message::java_hash(t)).collect()
}

/// The settings the broker answers a client with: the client's own, with what the server
/// decides filled in (the Java proxy's `GrpcClientSettingsManager`). Every SDK needs the
/// answer and its retry policy to start.
pub fn merged(broker: &Broker, s: &pb::Settings) -> pb::Settings {
    let mut out = s.clone();
    out.metric = Some(pb::Metric { on: false, endpoints: None });
    match &mut out.pub_sub {
        Some(pb::settings::PubSub::Publishing(p)) => {
            out.backoff_policy = Some(pb::RetryPolicy {
                max_attempts: PRODUCER_MAX_ATTEMPTS,
                strategy: Some(pb::retry_policy::Strategy::ExponentialBackoff(pb::ExponentialBackoff {
                    initial: Some(duration(10)),
                    max: Some(duration(1000)),
                    multiplier: 2.0,
                })),
            });
            p.max_body_size = i32::try_from(broker.config.max_message_size).unwrap_or(i32::MAX);
            p.validate_message_type = true;
        }
        Some(pb::settings::PubSub::Subscription(sub)) => {
            let group = sub.group.as_ref().map(|g| g.name.as_str()).unwrap_or("");
            let config = broker.groups.get(group).unwrap_or_default();
            out.backoff_policy = Some(pb::RetryPolicy {
                max_attempts: config.retry_max_times.saturating_add(1),
                strategy: Some(pb::retry_policy::Strategy::CustomizedBackoff(pb::CustomizedBackoff {
                    next: broker.delay_levels.0.iter().map(|d| duration(d.as_millis() as i64)).collect(),
                })),
            });
            sub.fifo = Some(config.consume_message_orderly);
            sub.receive_batch_size = Some(RECEIVE_BATCH_SIZE);
            sub.long_polling_timeout = Some(duration(LONG_POLLING_TIMEOUT_MS));
        }
        None => {}
    }
    out
}

/// A settings answer on the Telemetry stream.
pub fn settings_command(settings: pb::Settings) -> TelemetryCommand {
    TelemetryCommand { status: Some(crate::status::ok()), command: Some(pb::telemetry_command::Command::Settings(settings)) }
}
