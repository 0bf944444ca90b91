//! ACL 2.0 on the gRPC port, with the users and policies of the remoting port: each call is
//! authenticated by its `authorization` and `x-mq-date-time` headers, then authorized on what
//! its request names, as Java's proxy does (`DefaultAuthorizationContextBuilder`). A refusal
//! is the answer's status UNAUTHORIZED (40100) with Java's message, for authentication and
//! authorization alike, as the proxy answers.

use auth::model::Action;
use auth::Check;
use tonic::Request;

use crate::pb::{self, Code, Status};
use crate::status::status;

const PUB: &[Action] = &[Action::Pub];
const SUB: &[Action] = &[Action::Sub];
const PUB_OR_SUB: &[Action] = &[Action::Pub, Action::Sub];

/// A request and what it asks of the ACL.
pub(crate) trait Guarded {
    /// The request message's full protobuf name: what the whitelists name.
    const RPC: &'static str;
    /// The resources and actions the call needs; empty for a call that only needs a known user
    /// (a producer's heartbeat). `Err` is Java's refusal of a request lacking a name it needs.
    fn checks(&self) -> Result<Vec<Check>, &'static str>;
}

fn topic(r: Option<&pb::Resource>, actions: &'static [Action]) -> Result<Check, &'static str> {
    match r.map(|r| r.name.trim()) {
        Some(name) if !name.is_empty() => Ok(Check::topic(name, actions)),
        _ => Err("topic is null."),
    }
}

fn group(r: Option<&pb::Resource>) -> Result<Check, &'static str> {
    match r.map(|r| r.name.trim()) {
        Some(name) if !name.is_empty() => Ok(Check::group(name, SUB)),
        _ => Err("group is null."),
    }
}

/// A consumer's call about a topic: the group and the topic, both to subscribe.
fn sub(g: Option<&pb::Resource>, t: Option<&pb::Resource>) -> Result<Vec<Check>, &'static str> {
    Ok(vec![group(g)?, topic(t, SUB)?])
}

macro_rules! guarded {
    ($($ty:ident => |$r:ident| $checks:expr;)*) => {
        $(impl Guarded for pb::$ty {
            const RPC: &'static str = concat!("apache.rocketmq.v2.", stringify!($ty));
            fn checks(&self) -> Result<Vec<Check>, &'static str> {
                let $r = self;
                $checks
            }
        })*
    };
}

guarded! {
    QueryRouteRequest => |r| Ok(vec![topic(r.topic.as_ref(), PUB_OR_SUB)?]);
    HeartbeatRequest => |r| match pb::ClientType::try_from(r.client_type) {
        Ok(pb::ClientType::PushConsumer | pb::ClientType::SimpleConsumer | pb::ClientType::PullConsumer) => Ok(vec![group(r.group.as_ref())?]),
        _ => Ok(Vec::new()),
    };
    SendMessageRequest => |r| match r.messages.first() {
        Some(m) => Ok(vec![topic(m.topic.as_ref(), PUB)?]),
        None => Err("message is null."),
    };
    QueryAssignmentRequest => |r| sub(r.group.as_ref(), r.topic.as_ref());
    ReceiveMessageRequest => |r| match &r.message_queue {
        Some(q) => sub(r.group.as_ref(), q.topic.as_ref()),
        None => Err("messageQueue is null."),
    };
    AckMessageRequest => |r| sub(r.group.as_ref(), r.topic.as_ref());
    ForwardMessageToDeadLetterQueueRequest => |r| sub(r.group.as_ref(), r.topic.as_ref());
    EndTransactionRequest => |r| Ok(vec![topic(r.topic.as_ref(), PUB)?]);
    // A producer's termination names no group: nothing to check.
    NotifyClientTerminationRequest => |r| Ok(group(r.group.as_ref()).ok().into_iter().collect());
    ChangeInvisibleDurationRequest => |r| Ok(vec![group(r.group.as_ref())?]);
    RecallMessageRequest => |r| Ok(vec![topic(r.topic.as_ref(), PUB)?]);
}

/// A Telemetry settings command: the topics it publishes to, its group and the topics it
/// subscribes to.
pub(crate) fn settings_checks(s: &pb::Settings) -> Result<Vec<Check>, &'static str> {
    match &s.pub_sub {
        Some(pb::settings::PubSub::Publishing(p)) => p.topics.iter().map(|t| topic(Some(t), PUB)).collect(),
        Some(pb::settings::PubSub::Subscription(sub)) => {
            let mut checks = vec![group(sub.group.as_ref())?];
            for e in &sub.subscriptions {
                checks.push(topic(e.topic.as_ref(), SUB)?);
            }
            Ok(checks)
        }
        None => Err("settings command doesn't have publishing or subscription."),
    }
}

fn unauthorized(message: impl Into<String>) -> Status {
    status(Code::Unauthorized, message)
}

/// The user a call speaks for, authenticated (`None` when ACL is off or the call names none
/// and may be anonymous).
pub(crate) fn authenticate<T>(auth: &auth::Auth, rpc: &str, req: &Request<T>) -> Result<Option<String>, Status> {
    if !auth.enabled() {
        return Ok(None);
    }
    let header = |name: &str| req.metadata().get(name).and_then(|v| v.to_str().ok());
    auth.authenticate_grpc(rpc, header("authorization"), header("x-mq-date-time")).map_err(|e| unauthorized(e.remark))
}

/// Whether `user` may ask for `checks` from the call's address.
pub(crate) fn authorize(
    auth: &auth::Auth,
    rpc: &str,
    user: Option<&str>,
    peer: std::net::SocketAddr,
    checks: Result<Vec<Check>, &'static str>,
) -> Result<(), Status> {
    if !auth.config.authorization_enabled {
        return Ok(());
    }
    let checks = checks.map_err(unauthorized)?;
    auth.authorize(rpc, user, peer.ip(), &checks).map_err(|e| unauthorized(e.remark))
}

/// Authentication, then authorization of a unary call.
pub(crate) fn admit<T: Guarded>(auth: &auth::Auth, req: &Request<T>) -> Result<(), Status> {
    if !auth.enabled() {
        return Ok(());
    }
    let user = authenticate(auth, T::RPC, req)?;
    let peer = req.remote_addr().unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    authorize(auth, T::RPC, user.as_deref(), peer, req.get_ref().checks())
}

/// The protobuf name of a Telemetry command, for whitelists.
pub(crate) const TELEMETRY_RPC: &str = "apache.rocketmq.v2.TelemetryCommand";
