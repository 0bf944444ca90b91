//! `apache.rocketmq.v2.MessagingService` over the broker's service layer: each RPC checks
//! and converts its request, calls the same `Broker` operation the remoting processors call
//! (send, pop, ack, change of invisible time, send-back, heartbeats), and converts the answer.
//! Business errors travel in the answer's `Status` with the gRPC status OK, as the Java
//! proxy answers; only Telemetry fails with a gRPC status.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use broker::push::ClientConn;
use broker::service::pop::{PopStart, Popped};
use broker::service::send::{SendRequest, SendStatus};
use broker::service::send_back::SendBack;
use broker::service::transaction::EndTransaction;
use broker::Broker;
use protocol::codes::perm;
use protocol::header::SendMessageRequestHeader;
use protocol::message::decode_records;
use protocol::message_type::MessageType;
use protocol::names;
use protocol::pop::{receipt_handles, AckMessageRequestHeader, PopMessageRequestHeader};
use protocol::LanguageCode;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Streaming};

use crate::convert::{self, duration_ms, resource};
use crate::guard::{self, Guarded};
use crate::handle::Handle;
use crate::pb::messaging_service_server::MessagingService;
use crate::pb::{self, Code, Status};
use crate::renew::Renewals;
use crate::session::{self, GrpcConn, Session, Sessions};
use crate::status::{from_broker, ok, overall, status};

/// Invisible time of a push consumer's messages (`auto_renew`), the Java proxy's default.
const AUTO_RENEW_INVISIBLE_MS: i64 = 60_000;
/// The range a client's invisible time must lie in (the Java proxy's).
const MIN_INVISIBLE_MS: i64 = 10_000;
const MAX_INVISIBLE_MS: i64 = 12 * 3600 * 1000;
/// The range of a receive's long-polling time.
const MIN_POLLING_MS: i64 = 5_000;
const MAX_POLLING_MS: i64 = session::LONG_POLLING_TIMEOUT_MS;
/// A client's request timeout when its settings do not say (the SDKs' default).
const DEFAULT_REQUEST_TIMEOUT_MS: i64 = 3_000;
/// Kept from a receive's deadline for the answer to travel back.
const DEADLINE_MARGIN_MS: i64 = 500;
/// A nacked message (its frame could not be written) is visible again after this.
const NACK_INVISIBLE_MS: i64 = 1_000;
/// The largest body a compressed stored message may inflate to; larger ones go out as stored.
pub(crate) const MAX_INFLATED_BODY: usize = 64 << 20;
/// `ConsumeInitMode.MAX`: a new POP group starts at the end of each queue.
const INIT_MODE_MAX: i32 = 1;

pub struct Service {
    broker: Arc<Broker>,
    sessions: Arc<Sessions>,
    renewals: Arc<Renewals>,
    /// The gRPC port, for routes when a client does not say how it reached us.
    port: u16,
    next_queue: AtomicUsize,
}

impl Service {
    pub fn new(broker: Arc<Broker>, port: u16) -> Service {
        Service { broker, sessions: Arc::new(Sessions::default()), renewals: Arc::new(Renewals::default()), port, next_queue: AtomicUsize::new(0) }
    }

    /// Push consumers' messages being kept invisible; `renew::run` renews them.
    pub fn renewals(&self) -> &Arc<Renewals> {
        &self.renewals
    }

    /// The handle to act on: the renewed one if the broker renews this message for the
    /// client (it no longer does once the client acts), else the client's.
    async fn current_handle(&self, client: &str, group: &str, message_id: &str, text: &str) -> Result<Handle, Status> {
        match self.renewals.take(client, group, message_id).await {
            Some(h) => Ok(h),
            None => self.live_handle(text),
        }
    }
}

/// The `x-mq-client-id` of a call; blank is CLIENT_ID_REQUIRED.
fn client_id<T>(req: &Request<T>) -> Result<String, Status> {
    match req.metadata().get("x-mq-client-id").and_then(|v| v.to_str().ok()).map(str::trim) {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(status(Code::ClientIdRequired, "x-mq-client-id is required")),
    }
}

fn language<T>(req: &Request<T>) -> LanguageCode {
    req.metadata().get("x-mq-language").and_then(|v| v.to_str().ok()).map_or(LanguageCode::OTHER, |l| match l {
        "GO" | "GOLANG" => LanguageCode::from_name("GO"),
        "NODE_JS" | "NODEJS" => LanguageCode::from_name("NODE_JS"),
        other => LanguageCode::from_name(other),
    })
}

fn peer<T>(req: &Request<T>) -> SocketAddr {
    req.remote_addr().unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// The time left before a call's `grpc-timeout`, in ms.
fn deadline_ms<T>(req: &Request<T>) -> Option<i64> {
    let v = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: i64 = digits.parse().ok()?;
    Some(match unit {
        "H" => n.saturating_mul(3_600_000),
        "M" => n.saturating_mul(60_000),
        "S" => n.saturating_mul(1000),
        "m" => n,
        "u" => n / 1000,
        "n" => n / 1_000_000,
        _ => return None,
    })
}

fn name(r: &Option<pb::Resource>) -> &str {
    r.as_ref().map_or("", |r| r.name.as_str())
}

fn check_topic(topic: &str) -> Result<(), Status> {
    names::validate_topic(topic).map_err(|e| status(Code::IllegalTopic, e))
}

fn check_group(group: &str) -> Result<(), Status> {
    names::validate_group(group).map_err(|e| status(Code::IllegalConsumerGroup, e))
}

/// Unary answers whose only field besides the payload is a status.
macro_rules! answer {
    ($ty:ident { $($field:ident: $value:expr),* }) => {
        Ok(Response::new(pb::$ty { $($field: $value),* }))
    };
}

type ReceiveStream = Pin<Box<dyn Stream<Item = Result<pb::ReceiveMessageResponse, tonic::Status>> + Send>>;
type TelemetryStream = Pin<Box<dyn Stream<Item = Result<pb::TelemetryCommand, tonic::Status>> + Send>>;

fn receive_status(s: Status) -> pb::ReceiveMessageResponse {
    pb::ReceiveMessageResponse { content: Some(pb::receive_message_response::Content::Status(s)) }
}

/// A receive answered with a status alone.
fn receive_failed(s: Status) -> Result<Response<ReceiveStream>, tonic::Status> {
    let frame: Result<pb::ReceiveMessageResponse, tonic::Status> = Ok(receive_status(s));
    Ok(Response::new(Box::pin(tokio_stream::once(frame))))
}

impl Service {
    /// A unary call admitted by the ACL (when on), and its `x-mq-client-id`.
    fn checked<T: Guarded>(&self, req: &Request<T>) -> Result<String, Status> {
        guard::admit(&self.broker.auth, req)?;
        client_id(req)
    }

    /// A consumer's call about messages of a topic (ack, change of invisible time, forward to
    /// the DLQ): admitted, its client id, group and topic, checked.
    fn consumer_call<'r, T: Guarded>(
        &self,
        req: &Request<T>,
        group: &'r Option<pb::Resource>,
        topic: &'r Option<pb::Resource>,
    ) -> Result<(String, &'r str, &'r str), Status> {
        let client = self.checked(req)?;
        let (group, topic) = (name(group), name(topic));
        check_group(group)?;
        check_topic(topic)?;
        Ok((client, group, topic))
    }

    fn endpoints(&self, asked: Option<&pb::Endpoints>) -> pb::Endpoints {
        match asked {
            Some(e) if !e.addresses.is_empty() => e.clone(),
            _ => pb::Endpoints {
                scheme: pb::AddressScheme::IPv4 as i32,
                addresses: vec![pb::Address { host: self.broker.config.broker_ip1.clone(), port: i32::from(self.port) }],
            },
        }
    }

    fn queue(&self, topic: &str, id: i32, permission: pb::Permission, endpoints: &pb::Endpoints, types: &[i32]) -> pb::MessageQueue {
        pb::MessageQueue {
            topic: Some(resource(topic)),
            id,
            permission: permission as i32,
            broker: Some(pb::Broker { name: self.broker.config.broker_name.clone(), id: 0, endpoints: Some(endpoints.clone()) }),
            accept_message_types: types.to_vec(),
        }
    }

    /// A topic that clients may use: a valid name, not a system topic, existing.
    fn topic(&self, topic: &str) -> Result<protocol::body::TopicConfig, Status> {
        check_topic(topic)?;
        if self.broker.is_system_topic(topic) {
            return Err(status(Code::IllegalTopic, format!("topic {topic} is a system topic")));
        }
        self.broker.topics.get(topic).ok_or_else(|| status(Code::TopicNotFound, format!("topic {topic} does not exist")))
    }

    fn session(&self, client_id: &str) -> Result<Arc<Session>, Status> {
        self.sessions.get(client_id).ok_or_else(|| status(Code::UnrecognizedClientType, "the client has sent no settings (Telemetry) yet"))
    }

    async fn send_one(&self, m: &pb::Message, peer: SocketAddr) -> pb::SendResultEntry {
        match self.try_send(m, peer).await {
            Ok(entry) => entry,
            Err(s) => pb::SendResultEntry { status: Some(s), ..Default::default() },
        }
    }

    async fn try_send(&self, m: &pb::Message, peer: SocketAddr) -> Result<pb::SendResultEntry, Status> {
        let b = &self.broker;
        let msg = convert::incoming(m, peer, b.clock.now_ms(), b.config.max_message_size)?;
        let topic = self.topic(&msg.topic)?;
        let expected = MessageType::of_topic(&topic);
        if !expected.accepts(msg.message_type) {
            return Err(status(
                Code::MessagePropertyConflictWithType,
                format!("TopicMessageType validate failed, the expected type is {}, but actual type is {}", expected.as_str(), msg.message_type.as_str()),
            ));
        }
        let queues = topic.write_queue_nums.max(1);
        // One message group, one queue: what keeps a group's messages in order.
        let queue_id = match &msg.message_group {
            Some(g) => (protocol::message::java_hash(g) as u32 % queues as u32) as i32,
            None => (self.next_queue.fetch_add(1, Ordering::Relaxed) % queues as usize) as i32,
        };
        let header = SendMessageRequestHeader {
            producer_group: msg.topic.as_str().into(),
            topic: msg.topic.as_str().into(),
            default_topic: names::AUTO_CREATE_TOPIC_KEY.into(),
            default_topic_queue_nums: 0,
            queue_id,
            sys_flag: msg.sys_flag,
            born_timestamp: msg.born_timestamp,
            flag: 0,
            properties: msg.props.as_wire().into(),
            reconsume_times: 0,
            unit_mode: false,
            max_reconsume_times: None,
            batch: false,
            broker_name: None,
        };
        let req = SendRequest { header, body: msg.body.clone(), batch: false, born_host: peer, auto_create: false };
        let sent = b.send(&req).await.map_err(|e| from_broker(&e))?;
        // As the Java proxy: a stored message that is less durable or replicated than asked.
        let s = match sent.status {
            SendStatus::Ok => ok(),
            SendStatus::FlushDiskTimeout => status(Code::MasterPersistenceTimeout, "stored, but not flushed within syncFlushTimeout"),
            SendStatus::FlushSlaveTimeout => status(Code::SlavePersistenceTimeout, "stored, but the replicas did not confirm it within slaveTimeout"),
            SendStatus::SlaveNotAvailable => status(Code::HaNotAvailable, "stored, but too few replicas are in sync to confirm it"),
        };
        Ok(pb::SendResultEntry {
            status: Some(s),
            message_id: msg.message_id.clone(),
            transaction_id: msg.message_id,
            offset: sent.put.first_queue_offset,
            recall_handle: sent.recall_handle.unwrap_or_default(),
        })
    }

    /// How long a receive may wait: what it asks, else the await time the client's settings
    /// gave, else its deadline less half its request timeout (the Java proxy's rule); within
    /// 5..20 s and the deadline.
    fn polling_ms(&self, r: &pb::ReceiveMessageRequest, client: &str, deadline: Option<i64>) -> Result<i64, Status> {
        let session = self.sessions.get(client);
        let settings = session.as_ref().map(|s| &s.settings);
        let from_settings = settings.and_then(|s| match &s.pub_sub {
            Some(pb::settings::PubSub::Subscription(sub)) => sub.long_polling_timeout.as_ref().map(duration_ms),
            _ => None,
        });
        let request_timeout = settings.and_then(|s| s.request_timeout.as_ref()).map_or(DEFAULT_REQUEST_TIMEOUT_MS, duration_ms);
        let asked =
            r.long_polling_timeout.as_ref().map(duration_ms).or(from_settings).or_else(|| deadline.map(|d| d - request_timeout / 2)).unwrap_or(MAX_POLLING_MS);
        let mut poll = asked.clamp(MIN_POLLING_MS, MAX_POLLING_MS);
        if let Some(left) = deadline {
            if left < MIN_POLLING_MS {
                return Err(status(Code::IllegalPollingTime, format!("the call's deadline ({left} ms) leaves less than {MIN_POLLING_MS} ms to poll")));
            }
            poll = poll.min(left - DEADLINE_MARGIN_MS);
        }
        Ok(poll)
    }

    /// Checks a receive and makes its pop request.
    fn pop_request(&self, r: &pb::ReceiveMessageRequest, client: &str, deadline: Option<i64>) -> Result<PopMessageRequestHeader, Status> {
        let group = name(&r.group);
        check_group(group)?;
        let topic = name(&r.message_queue.as_ref().and_then(|q| q.topic.clone())).to_string();
        self.topic(&topic)?;
        if r.batch_size < 1 {
            return Err(status(Code::BadRequest, format!("batch size {} must be positive", r.batch_size)));
        }
        let invisible = if r.auto_renew {
            AUTO_RENEW_INVISIBLE_MS
        } else {
            let ms = r.invisible_duration.as_ref().map(duration_ms).unwrap_or(-1);
            if !(MIN_INVISIBLE_MS..=MAX_INVISIBLE_MS).contains(&ms) {
                return Err(status(Code::IllegalInvisibleTime, format!("invisible duration must be in [{MIN_INVISIBLE_MS}, {MAX_INVISIBLE_MS}] ms, was {ms}")));
            }
            ms
        };
        let poll = self.polling_ms(r, client, deadline)?;
        let (exp_type, exp) = match &r.filter_expression {
            Some(f) if f.r#type == pb::FilterType::Sql as i32 => ("SQL92", f.expression.clone()),
            Some(f) if !f.expression.trim().is_empty() => ("TAG", f.expression.clone()),
            _ => ("TAG", "*".to_string()),
        };
        let order = self.broker.groups.get(group).is_some_and(|g| g.consume_message_orderly);
        Ok(PopMessageRequestHeader {
            consumer_group: group.to_string(),
            topic,
            queue_id: -1,
            max_msg_nums: r.batch_size.min(session::RECEIVE_BATCH_SIZE),
            invisible_time: invisible,
            poll_time: poll,
            born_time: self.broker.clock.now_ms(),
            init_mode: INIT_MODE_MAX,
            exp_type: Some(exp_type.to_string()),
            exp: Some(exp),
            order,
            attempt_id: r.attempt_id.clone(),
        })
    }

    async fn ack_one(&self, client: &str, group: &str, topic: &str, e: &pb::AckMessageEntry) -> pb::AckMessageResultEntry {
        let s = match self.current_handle(client, group, &e.message_id, &e.receipt_handle).await {
            Err(s) => s,
            Ok(h) => match self.broker.ack(&AckMessageRequestHeader::for_handle(group, topic, &h.info, None)).await {
                Ok(()) => ok(),
                Err(err) => from_broker(&err),
            },
        };
        pb::AckMessageResultEntry { message_id: e.message_id.clone(), receipt_handle: e.receipt_handle.clone(), status: Some(s) }
    }

    /// A handle this broker gave out whose invisible time has not passed.
    fn live_handle(&self, text: &str) -> Result<Handle, Status> {
        let h = Handle::parse(text).ok_or_else(|| status(Code::InvalidReceiptHandle, "receipt handle is malformed"))?;
        if h.info.broker_name != self.broker.config.broker_name {
            return Err(status(Code::InvalidReceiptHandle, format!("receipt handle is of broker {}", h.info.broker_name)));
        }
        if h.expires_at() <= self.broker.clock.now_ms() {
            return Err(status(Code::InvalidReceiptHandle, "receipt handle is expired"));
        }
        Ok(h)
    }
}

/// Pops for a receive and writes its frames: a status, the messages, the delivery time.
/// What cannot be written (the client went away) is made visible again soon.
/// With `renew`, the messages are kept invisible for the client until it acts on them.
async fn receive(
    broker: Arc<Broker>,
    h: PopMessageRequestHeader,
    renew: Option<(Arc<Renewals>, String)>,
    tx: mpsc::Sender<Result<pb::ReceiveMessageResponse, tonic::Status>>,
) {
    let popped = match broker.pop(&h).await {
        Ok(PopStart::Now(p)) => Ok(p),
        Ok(PopStart::Park(parking)) => {
            let gone = tx.clone();
            parking.wait(async move { gone.closed().await }).await
        }
        Err(e) => Err(e),
    };
    let popped: Popped = match popped {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(Ok(receive_status(from_broker(&e)))).await;
            return;
        }
    };
    if popped.count == 0 {
        let s =
            if popped.polling_full { status(Code::TooManyRequests, "too many receives are waiting") } else { status(Code::MessageNotFound, "no new message") };
        let _ = tx.send(Ok(receive_status(s))).await;
        return;
    }
    let records = match decode_records(&popped.body) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "a popped batch could not be read back");
            let _ = tx.send(Ok(receive_status(status(Code::InternalServerError, "the popped messages could not be read")))).await;
            return;
        }
    };
    let handles = match receipt_handles(&popped.header, &broker.config.broker_name, &records) {
        Ok(hs) => hs,
        Err(e) => {
            tracing::error!(error = %e, "a popped batch has no handles");
            let _ = tx.send(Ok(receive_status(status(Code::InternalServerError, "the popped messages have no receipt handles")))).await;
            return;
        }
    };
    let mut sent = tx.send(Ok(receive_status(ok()))).await.is_ok();
    for (r, info) in records.iter().zip(handles) {
        let handle = Handle { info, commit_log_offset: Some(r.physical_offset) };
        if sent {
            let m = convert::outgoing(r, &h.topic, Some(handle.encode()), r.reconsume_times.saturating_add(1), MAX_INFLATED_BODY);
            let message_id = m.system_properties.as_ref().map(|s| s.message_id.clone()).unwrap_or_default();
            let frame = pb::ReceiveMessageResponse { content: Some(pb::receive_message_response::Content::Message(m)) };
            sent = tx.send(Ok(frame)).await.is_ok();
            if sent {
                if let Some((renewals, client)) = &renew {
                    renewals.insert(client, &h.consumer_group, &h.topic, &message_id, handle, broker.clock.now_ms());
                }
                continue;
            }
        }
        // Not delivered: visible again soon rather than after its whole invisible time.
        let nack = AckMessageRequestHeader::for_handle(&h.consumer_group, &h.topic, &handle.info, Some(NACK_INVISIBLE_MS));
        if let Err(e) = broker.change_invisible_time(&nack).await {
            tracing::debug!(error = %e, "an undelivered message could not be made visible again");
        }
    }
    if sent {
        let at = convert::timestamp(broker.clock.now_ms());
        let _ = tx.send(Ok(pb::ReceiveMessageResponse { content: Some(pb::receive_message_response::Content::DeliveryTimestamp(at)) })).await;
    }
}

#[tonic::async_trait]
impl MessagingService for Service {
    async fn query_route(&self, req: Request<pb::QueryRouteRequest>) -> Result<Response<pb::QueryRouteResponse>, tonic::Status> {
        if let Err(s) = self.checked(&req) {
            return answer!(QueryRouteResponse { status: Some(s), message_queues: vec![] });
        }
        let r = req.get_ref();
        let topic_name = name(&r.topic);
        let topic = match self.topic(topic_name) {
            Ok(t) => t,
            Err(s) => return answer!(QueryRouteResponse { status: Some(s), message_queues: vec![] }),
        };
        let endpoints = self.endpoints(r.endpoints.as_ref());
        let types = accepted_types(&topic);
        let broker_perm = self.broker.runtime.permission();
        let readable = topic.perm & broker_perm & perm::READ != 0;
        let writable = topic.perm & broker_perm & perm::WRITE != 0;
        let queues = (0..topic.read_queue_nums.max(topic.write_queue_nums))
            .map(|i| {
                let p = match (readable && i < topic.read_queue_nums, writable && i < topic.write_queue_nums) {
                    (true, true) => pb::Permission::ReadWrite,
                    (true, false) => pb::Permission::Read,
                    (false, true) => pb::Permission::Write,
                    (false, false) => pb::Permission::None,
                };
                self.queue(topic_name, i, p, &endpoints, &types)
            })
            .collect();
        answer!(QueryRouteResponse { status: Some(ok()), message_queues: queues })
    }

    async fn heartbeat(&self, req: Request<pb::HeartbeatRequest>) -> Result<Response<pb::HeartbeatResponse>, tonic::Status> {
        let s = self.checked(&req).and_then(|id| {
            let session = self.session(&id)?;
            session::register(&self.broker, &id, &session);
            Ok(ok())
        });
        answer!(HeartbeatResponse { status: Some(s.unwrap_or_else(|s| s)) })
    }

    async fn send_message(&self, req: Request<pb::SendMessageRequest>) -> Result<Response<pb::SendMessageResponse>, tonic::Status> {
        let corrupted = |why: &str| {
            let s = status(Code::MessageCorrupted, why);
            answer!(SendMessageResponse { status: Some(s.clone()), entries: vec![pb::SendResultEntry { status: Some(s), ..Default::default() }] })
        };
        if let Err(s) = self.checked(&req) {
            return answer!(SendMessageResponse { status: Some(s.clone()), entries: vec![pb::SendResultEntry { status: Some(s), ..Default::default() }] });
        }
        let peer = peer(&req);
        let r = req.into_inner();
        let Some(first) = r.messages.first() else { return corrupted("no message to send") };
        if r.messages.iter().any(|m| name(&m.topic) != name(&first.topic)) {
            return corrupted("the messages of one send must have one topic");
        }
        let mut entries = Vec::with_capacity(r.messages.len());
        for m in &r.messages {
            entries.push(self.send_one(m, peer).await);
        }
        let s = overall(entries.iter().filter_map(|e| e.status.as_ref()));
        answer!(SendMessageResponse { status: Some(s), entries: entries })
    }

    async fn query_assignment(&self, req: Request<pb::QueryAssignmentRequest>) -> Result<Response<pb::QueryAssignmentResponse>, tonic::Status> {
        let r = req.get_ref();
        let result = self.checked(&req).and_then(|_| {
            check_group(name(&r.group))?;
            let topic_name = name(&r.topic);
            let topic = self.topic(topic_name)?;
            let readable = topic.perm & self.broker.runtime.permission() & perm::READ != 0 && topic.read_queue_nums > 0;
            if !readable {
                return Err(status(Code::Forbidden, format!("topic {topic_name} has no readable queue")));
            }
            let endpoints = self.endpoints(r.endpoints.as_ref());
            let types = accepted_types(&topic);
            let orderly = self.broker.groups.get(name(&r.group)).is_some_and(|g| g.consume_message_orderly);
            // Orderly: a queue each, so one consumer holds a queue; otherwise the broker
            // hands out from every queue (-1).
            let ids: Vec<i32> = if orderly { (0..topic.read_queue_nums).collect() } else { vec![-1] };
            Ok(ids
                .into_iter()
                .map(|id| pb::Assignment { message_queue: Some(self.queue(topic_name, id, pb::Permission::ReadWrite, &endpoints, &types)) })
                .collect())
        });
        match result {
            Ok(assignments) => answer!(QueryAssignmentResponse { status: Some(ok()), assignments: assignments }),
            Err(s) => answer!(QueryAssignmentResponse { status: Some(s), assignments: vec![] }),
        }
    }

    type ReceiveMessageStream = ReceiveStream;

    async fn receive_message(&self, req: Request<pb::ReceiveMessageRequest>) -> Result<Response<ReceiveStream>, tonic::Status> {
        let client = match self.checked(&req) {
            Ok(id) => id,
            Err(s) => return receive_failed(s),
        };
        let deadline = deadline_ms(&req);
        let h = match self.pop_request(req.get_ref(), &client, deadline) {
            Ok(h) => h,
            Err(s) => return receive_failed(s),
        };
        // Small: a client that does not read holds one pop's messages at most.
        let (tx, rx) = mpsc::channel(2);
        let renew = req.get_ref().auto_renew.then(|| (self.renewals.clone(), client));
        tokio::spawn(receive(self.broker.clone(), h, renew, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ack_message(&self, req: Request<pb::AckMessageRequest>) -> Result<Response<pb::AckMessageResponse>, tonic::Status> {
        let r = req.get_ref();
        let (client, group, topic) = match self.consumer_call(&req, &r.group, &r.topic) {
            Ok(checked) => checked,
            Err(s) => return answer!(AckMessageResponse { status: Some(s), entries: vec![] }),
        };
        if r.entries.is_empty() {
            return answer!(AckMessageResponse { status: Some(status(Code::BadRequest, "no entry to acknowledge")), entries: vec![] });
        }
        let mut entries = Vec::with_capacity(r.entries.len());
        for e in &r.entries {
            entries.push(self.ack_one(&client, group, topic, e).await);
        }
        let s = overall(entries.iter().filter_map(|e| e.status.as_ref()));
        answer!(AckMessageResponse { status: Some(s), entries: entries })
    }

    async fn forward_message_to_dead_letter_queue(
        &self,
        req: Request<pb::ForwardMessageToDeadLetterQueueRequest>,
    ) -> Result<Response<pb::ForwardMessageToDeadLetterQueueResponse>, tonic::Status> {
        let r = req.get_ref();
        let result = async {
            let (client, group, topic) = self.consumer_call(&req, &r.group, &r.topic)?;
            let h = self.current_handle(&client, group, &r.message_id, &r.receipt_handle).await?;
            let Some(phys_offset) = h.commit_log_offset else {
                return Err(status(Code::InvalidReceiptHandle, "receipt handle has no CommitLog offset"));
            };
            let back = SendBack {
                group: group.to_string(),
                phys_offset,
                delay_level: -1,
                max_reconsume_times: None,
                client_version: protocol::codes::version::CURRENT,
            };
            self.broker.send_back(&back).await.map_err(|e| from_broker(&e))?;
            self.broker.ack(&AckMessageRequestHeader::for_handle(group, topic, &h.info, None)).await.map_err(|e| from_broker(&e))?;
            Ok(ok())
        }
        .await;
        answer!(ForwardMessageToDeadLetterQueueResponse { status: Some(result.unwrap_or_else(|s| s)) })
    }

    async fn end_transaction(&self, req: Request<pb::EndTransactionRequest>) -> Result<Response<pb::EndTransactionResponse>, tonic::Status> {
        let r = req.get_ref();
        let result = async {
            self.checked(&req)?;
            if r.transaction_id.trim().is_empty() {
                return Err(status(Code::InvalidTransactionId, "transaction id cannot be blank"));
            }
            let topic = name(&r.topic);
            check_topic(topic)?;
            let commit_or_rollback = match pb::TransactionResolution::try_from(r.resolution) {
                Ok(pb::TransactionResolution::Commit) => protocol::message::sys_flag::TRANSACTION_COMMIT,
                Ok(pb::TransactionResolution::Rollback) => protocol::message::sys_flag::TRANSACTION_ROLLBACK,
                // Unknown: the broker checks back later.
                _ => return Ok(ok()),
            };
            // A 5.x producer's group is its topic.
            let Some((offset, phys)) = self.broker.transaction_offsets(topic, &r.transaction_id) else {
                return Err(status(Code::InvalidTransactionId, format!("no undecided transaction {} of topic {topic}", r.transaction_id)));
            };
            let end = EndTransaction {
                producer_group: topic.to_string(),
                tran_state_table_offset: offset,
                commit_log_offset: phys,
                commit_or_rollback,
                from_transaction_check: r.source == pb::TransactionSource::SourceServerCheck as i32,
                msg_id: Some(r.message_id.clone()),
                transaction_id: Some(r.transaction_id.clone()),
            };
            self.broker.end_transaction(&end).await.map_err(|e| from_broker(&e))?;
            Ok(ok())
        }
        .await;
        answer!(EndTransactionResponse { status: Some(result.unwrap_or_else(|s| s)) })
    }

    type TelemetryStream = TelemetryStream;

    async fn telemetry(&self, req: Request<Streaming<pb::TelemetryCommand>>) -> Result<Response<TelemetryStream>, tonic::Status> {
        let id = client_id(&req).map_err(|s| tonic::Status::invalid_argument(s.message))?;
        // The stream's user, authenticated once (its headers are the stream's); each settings
        // command it sends is authorized.
        let user = guard::authenticate(&self.broker.auth, guard::TELEMETRY_RPC, &req);
        let (language, peer) = (language(&req), peer(&req));
        let (tx, rx) = mpsc::channel(16);
        let conn = GrpcConn::new(peer, tx);
        let sessions = self.sessions.clone();
        let ended = (self.broker.clone(), self.renewals.clone(), id.clone(), self.sessions.clone());
        tokio::spawn(async move {
            telemetry(ended.0.clone(), sessions, id, user, language, conn, req.into_inner()).await;
            // Its messages are no one's now, unless the client is still there on another stream
            // (a reconnect, another endpoint): visible again soon.
            if ended.3.get(&ended.2).is_none() {
                ended.1.release_client(&ended.0, &ended.2).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn notify_client_termination(
        &self,
        req: Request<pb::NotifyClientTerminationRequest>,
    ) -> Result<Response<pb::NotifyClientTerminationResponse>, tonic::Status> {
        let s = self.checked(&req).and_then(|id| {
            let session = self.session(&id)?;
            self.unregister(&session);
            self.sessions.remove(&id, session.conn.id());
            Ok(id)
        });
        let s = match s {
            Ok(id) => {
                self.renewals.release_client(&self.broker, &id).await;
                ok()
            }
            Err(s) => s,
        };
        answer!(NotifyClientTerminationResponse { status: Some(s) })
    }

    async fn change_invisible_duration(
        &self,
        req: Request<pb::ChangeInvisibleDurationRequest>,
    ) -> Result<Response<pb::ChangeInvisibleDurationResponse>, tonic::Status> {
        let r = req.get_ref();
        let result = async {
            let (client, group, topic) = self.consumer_call(&req, &r.group, &r.topic)?;
            let ms = r.invisible_duration.as_ref().map(duration_ms).unwrap_or(-1);
            if !(0..=MAX_INVISIBLE_MS).contains(&ms) {
                return Err(status(Code::IllegalInvisibleTime, format!("invisible duration must be in [0, {MAX_INVISIBLE_MS}] ms, was {ms}")));
            }
            let h = self.current_handle(&client, group, &r.message_id, &r.receipt_handle).await?;
            // The broker's shortest invisible time is 1 ms.
            let change = AckMessageRequestHeader::for_handle(group, topic, &h.info, Some(ms.max(1)));
            match self.broker.change_invisible_time(&change).await {
                Ok(answer) => Ok(Handle { info: h.info.changed(&answer), commit_log_offset: h.commit_log_offset }.encode()),
                // Not in flight under this handle: acknowledged, or visible again. Push
                // consumers stop retrying on this code only.
                Err(e) if e.code == protocol::codes::response::NO_MESSAGE => Err(status(Code::InvalidReceiptHandle, e.remark)),
                Err(e) => Err(from_broker(&e)),
            }
        }
        .await;
        match result {
            Ok(handle) => answer!(ChangeInvisibleDurationResponse { status: Some(ok()), receipt_handle: handle }),
            Err(s) => answer!(ChangeInvisibleDurationResponse { status: Some(s), receipt_handle: String::new() }),
        }
    }

    async fn recall_message(&self, req: Request<pb::RecallMessageRequest>) -> Result<Response<pb::RecallMessageResponse>, tonic::Status> {
        let r = req.get_ref();
        let result = async {
            self.checked(&req)?;
            let topic = name(&r.topic);
            let config = self.topic(topic)?;
            // As the Java proxy: only a DELAY topic has messages to recall.
            if !matches!(MessageType::of_topic(&config), MessageType::Delay | MessageType::Mixed) {
                return Err(status(Code::BadRequest, format!("topic {topic} is not a DELAY topic")));
            }
            self.broker.recall(topic, &r.recall_handle).await.map_err(|e| from_broker(&e))
        }
        .await;
        match result {
            Ok(id) => answer!(RecallMessageResponse { status: Some(ok()), message_id: id }),
            Err(s) => answer!(RecallMessageResponse { status: Some(s), message_id: String::new() }),
        }
    }
}

impl Service {
    fn unregister(&self, session: &Session) {
        let conn = session.conn.id();
        for topic in session.publishing_topics() {
            self.broker.unregister_client(conn, Some(topic), None);
        }
        if let Some(group) = session.group() {
            self.broker.unregister_client(conn, None, Some(group));
        }
    }
}

/// The message types a topic's queues accept.
fn accepted_types(topic: &protocol::body::TopicConfig) -> Vec<i32> {
    use pb::MessageType as T;
    match MessageType::of_topic(topic) {
        MessageType::Mixed => vec![T::Normal as i32, T::Fifo as i32, T::Delay as i32, T::Transaction as i32],
        one => vec![crate::convert::pb_type(one) as i32],
    }
}

/// One client's Telemetry stream: every settings command is checked, stored, registered and
/// answered with the merged settings (SDKs wait for that answer to start); the stream's end
/// unregisters the client.
async fn telemetry(
    broker: Arc<Broker>,
    sessions: Arc<Sessions>,
    client_id: String,
    user: Result<Option<String>, Status>,
    language: LanguageCode,
    conn: Arc<GrpcConn>,
    mut inbound: Streaming<pb::TelemetryCommand>,
) {
    while let Some(cmd) = inbound.next().await {
        let cmd = match cmd {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(client = %client_id, error = %e, "telemetry stream failed");
                break;
            }
        };
        match cmd.command {
            Some(pb::telemetry_command::Command::Settings(settings)) => {
                if let Err(s) = session::check_settings(&settings) {
                    conn.fail(tonic::Status::invalid_argument(s.message)).await;
                    break;
                }
                // Refused as the Java proxy refuses a command: a status answer, the stream kept
                // (the client's calls are refused one by one), its settings not taken.
                let admitted = user.clone().and_then(|user| {
                    guard::authorize(&broker.auth, guard::TELEMETRY_RPC, user.as_deref(), conn.remote_addr(), guard::settings_checks(&settings))
                });
                if let Err(s) = admitted {
                    if conn.send(pb::TelemetryCommand { status: Some(s), command: None }).await.is_err() {
                        break;
                    }
                    continue;
                }
                let answer = session::merged(&broker, &settings);
                let s = Session { settings, conn: conn.clone(), language };
                session::register(&broker, &client_id, &s);
                sessions.insert(&client_id, s);
                if conn.send(session::settings_command(answer)).await.is_err() {
                    break;
                }
            }
            Some(pb::telemetry_command::Command::ThreadStackTrace(t)) => {
                let nonce = t.nonce.clone();
                let answer = pb::TelemetryCommand { status: cmd.status, command: Some(pb::telemetry_command::Command::ThreadStackTrace(t)) };
                if !conn.answered(&nonce, answer) {
                    tracing::debug!(client = %client_id, %nonce, "a thread stack trace nobody waits for");
                }
            }
            // Answers to commands the broker does not send yet.
            Some(other) => tracing::debug!(client = %client_id, command = ?other, "telemetry command ignored"),
            None => {}
        }
    }
    conn.close();
    sessions.remove(&client_id, conn.id());
    broker.connection_closed(conn.id());
}
