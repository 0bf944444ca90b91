//! The RPCs driven directly (no socket) over a broker with a `ManualClock`: the answers the
//! SDKs depend on, the proxy's codes for bad requests, and auto-renewal.

use std::sync::Arc;

use broker::{Broker, BrokerConfig};
use bytes::Bytes;
use protocol::body::{SubscriptionGroupConfig, TopicConfig};
use store::ManualClock;
use tokio_stream::StreamExt;
use tonic::Request;

use crate::convert::{duration, resource};
use crate::pb::messaging_service_server::MessagingService;
use crate::pb::{self, Code};
use crate::service::Service;

const NOW_MS: i64 = 1_700_000_000_000;

struct Fixture {
    service: Service,
    broker: Arc<Broker>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(configure: impl FnOnce(&mut BrokerConfig)) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = BrokerConfig { store_path_root_dir: dir.path().to_path_buf(), ..Default::default() };
    configure(&mut config);
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let broker = Broker::open(config, clock.clone()).await.expect("broker opens");
    for (name, kind) in [("T", None), ("F", Some("FIFO")), ("D", Some("DELAY"))] {
        let mut t = TopicConfig { topic_name: name.into(), read_queue_nums: 2, write_queue_nums: 2, ..Default::default() };
        if let Some(k) = kind {
            t.attributes.insert("message.type".into(), k.into());
        }
        broker.topics.upsert(t);
    }
    broker.groups.upsert(SubscriptionGroupConfig { group_name: "G".into(), ..Default::default() });
    Fixture { service: Service::new(broker.clone(), 8081), broker, clock, _dir: dir }
}

fn req<T>(body: T) -> Request<T> {
    let mut r = Request::new(body);
    r.metadata_mut().insert("x-mq-client-id", "client-1".parse().expect("header"));
    r
}

fn code(s: &Option<pb::Status>) -> i32 {
    s.as_ref().map_or(-1, |s| s.code)
}

fn message(topic: &str, id: &str, group: Option<&str>) -> pb::Message {
    pb::Message {
        topic: Some(resource(topic)),
        user_properties: Default::default(),
        system_properties: Some(pb::SystemProperties {
            tag: Some("A".into()),
            message_id: id.into(),
            message_group: group.map(str::to_string),
            ..Default::default()
        }),
        body: Bytes::from_static(b"body"),
    }
}

async fn send(f: &Fixture, m: pb::Message) -> pb::SendMessageResponse {
    f.service.send_message(req(pb::SendMessageRequest { messages: vec![m] })).await.expect("answered").into_inner()
}

async fn receive(f: &Fixture, invisible_ms: Option<i64>, auto_renew: bool) -> Vec<pb::ReceiveMessageResponse> {
    let r = pb::ReceiveMessageRequest {
        group: Some(resource("G")),
        message_queue: Some(pb::MessageQueue { topic: Some(resource("T")), id: -1, ..Default::default() }),
        filter_expression: Some(pb::FilterExpression { r#type: pb::FilterType::Tag as i32, expression: "*".into() }),
        batch_size: 32,
        invisible_duration: invisible_ms.map(duration),
        auto_renew,
        long_polling_timeout: Some(duration(5_000)),
        attempt_id: None,
    };
    let stream = f.service.receive_message(req(r)).await.expect("answered").into_inner();
    stream.map(|x| x.expect("frame")).collect().await
}

fn messages(frames: &[pb::ReceiveMessageResponse]) -> Vec<pb::Message> {
    frames
        .iter()
        .filter_map(|f| match &f.content {
            Some(pb::receive_message_response::Content::Message(m)) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn handle(m: &pb::Message) -> String {
    m.system_properties.as_ref().and_then(|s| s.receipt_handle.clone()).expect("handle")
}

#[tokio::test]
async fn routes_carry_queues_permissions_and_message_types() {
    let f = fixture().await;
    let route = |topic: &str| pb::QueryRouteRequest { topic: Some(resource(topic)), endpoints: None };
    let r = f.service.query_route(req(route("F"))).await.expect("answered").into_inner();
    assert_eq!(code(&r.status), Code::Ok as i32);
    assert_eq!(r.message_queues.len(), 2);
    let q = &r.message_queues[0];
    assert_eq!((q.permission, q.accept_message_types.clone()), (pb::Permission::ReadWrite as i32, vec![pb::MessageType::Fifo as i32]));
    assert_eq!(q.broker.as_ref().map(|b| (b.name.as_str(), b.id)), Some(("broker-a", 0)));
    // Missing: not found, and not created. A system topic: illegal.
    let r = f.service.query_route(req(route("Nope"))).await.expect("answered").into_inner();
    assert_eq!(code(&r.status), Code::TopicNotFound as i32);
    assert!(f.broker.topics.get("Nope").is_none());
    let r = f.service.query_route(req(route("TBW102"))).await.expect("answered").into_inner();
    assert_eq!(code(&r.status), Code::IllegalTopic as i32);
    // No client id: refused in the body.
    let r = f.service.query_route(Request::new(route("T"))).await.expect("answered").into_inner();
    assert_eq!(code(&r.status), Code::ClientIdRequired as i32);
}

#[tokio::test]
async fn sends_are_checked_against_the_topics_message_type() {
    let f = fixture().await;
    let ok = send(&f, message("T", "id-1", None)).await;
    assert_eq!(code(&ok.status), Code::Ok as i32);
    assert_eq!(ok.entries[0].message_id, "id-1");
    let fifo_on_normal = send(&f, message("T", "id-2", Some("g"))).await;
    assert_eq!(code(&fifo_on_normal.status), Code::MessagePropertyConflictWithType as i32);
    let normal_on_fifo = send(&f, message("F", "id-3", None)).await;
    assert_eq!(code(&normal_on_fifo.status), Code::MessagePropertyConflictWithType as i32);
    assert_eq!(code(&send(&f, message("F", "id-4", Some("g"))).await.status), Code::Ok as i32);
    // One message group, one queue.
    let queue = |r: &pb::SendMessageResponse| r.entries[0].offset;
    let (a, b) = (send(&f, message("F", "id-5", Some("g"))).await, send(&f, message("F", "id-6", Some("g"))).await);
    assert_eq!((queue(&a), queue(&b)), (1, 2));
    let missing = send(&f, message("Nope", "id-7", None)).await;
    assert_eq!(code(&missing.status), Code::TopicNotFound as i32);
    assert!(f.broker.topics.get("Nope").is_none(), "never auto-created over gRPC");
    let delayed = |topic: &str| {
        let mut m = message(topic, "id-8", None);
        m.system_properties.as_mut().expect("sys").delivery_timestamp = Some(crate::convert::timestamp(NOW_MS + 1_000));
        m
    };
    assert_eq!(code(&send(&f, delayed("T")).await.status), Code::MessagePropertyConflictWithType as i32);
    // A DELAY topic takes it: waiting for its time, not in the topic yet.
    assert_eq!(code(&send(&f, delayed("D")).await.status), Code::Ok as i32);
    assert_eq!(f.broker.store.max_offset("D", 0) + f.broker.store.max_offset("D", 1), 0);
    assert_eq!(f.broker.timers.wheel().len(), 1);
    let empty = f.service.send_message(req(pb::SendMessageRequest { messages: vec![] })).await.expect("answered").into_inner();
    assert_eq!((code(&empty.status), empty.entries.len()), (Code::MessageCorrupted as i32, 1), "at least one entry, always");
}

#[tokio::test]
async fn receive_ack_and_change_of_invisible_duration() {
    let f = fixture().await;
    for i in 0..3 {
        send(&f, message("T", &format!("id-{i}"), None)).await;
    }
    assert_eq!(
        receive(&f, Some(5_000), false).await.first().and_then(|x| x.content.clone()),
        Some(pb::receive_message_response::Content::Status(crate::status::status(
            Code::IllegalInvisibleTime,
            "invisible duration must be in [10000, 43200000] ms, was 5000"
        )))
    );
    let frames = receive(&f, Some(30_000), false).await;
    // Status first, then the messages, then the delivery time.
    assert!(matches!(frames.first().and_then(|x| x.content.as_ref()), Some(pb::receive_message_response::Content::Status(s)) if s.code == Code::Ok as i32));
    assert!(matches!(frames.last().and_then(|x| x.content.as_ref()), Some(pb::receive_message_response::Content::DeliveryTimestamp(_))));
    let got = messages(&frames);
    assert_eq!(got.len(), 3);
    let ack = |m: &pb::Message, h: String| pb::AckMessageRequest {
        group: Some(resource("G")),
        topic: Some(resource("T")),
        entries: vec![pb::AckMessageEntry { message_id: m.system_properties.as_ref().expect("sys").message_id.clone(), receipt_handle: h }],
    };
    let r = f.service.ack_message(req(ack(&got[0], handle(&got[0])))).await.expect("answered").into_inner();
    assert_eq!(code(&r.status), Code::Ok as i32);
    let r = f.service.ack_message(req(ack(&got[0], "garbage".into()))).await.expect("answered").into_inner();
    assert_eq!(code(&r.status), Code::InvalidReceiptHandle as i32);
    // Made visible again at once, under a new handle that acks it.
    let change = |m: &pb::Message, h: String, ms: i64| pb::ChangeInvisibleDurationRequest {
        group: Some(resource("G")),
        topic: Some(resource("T")),
        receipt_handle: h,
        invisible_duration: Some(duration(ms)),
        message_id: m.system_properties.as_ref().expect("sys").message_id.clone(),
    };
    let r = f.service.change_invisible_duration(req(change(&got[1], handle(&got[1]), 10_000))).await.expect("answered").into_inner();
    assert_eq!(code(&r.status), Code::Ok as i32);
    assert_ne!(r.receipt_handle, handle(&got[1]));
    // The old handle names nothing in flight now: push consumers stop on 40013.
    let again = f.service.change_invisible_duration(req(change(&got[1], handle(&got[1]), 10_000))).await.expect("answered").into_inner();
    assert_eq!(code(&again.status), Code::InvalidReceiptHandle as i32);
    let r = f.service.ack_message(req(ack(&got[1], r.receipt_handle))).await.expect("answered").into_inner();
    assert_eq!(code(&r.status), Code::Ok as i32);
    // An expired handle is refused.
    f.clock.set(NOW_MS + 31_000);
    let r = f.service.ack_message(req(ack(&got[2], handle(&got[2])))).await.expect("answered").into_inner();
    assert_eq!(code(&r.status), Code::InvalidReceiptHandle as i32);
}

#[tokio::test(start_paused = true)]
async fn a_push_consumers_messages_are_renewed_until_acked_with_the_first_handle() {
    let f = fixture().await;
    send(&f, message("T", "id-r", None)).await;
    let got = messages(&receive(&f, None, true).await);
    assert_eq!(got.len(), 1);
    let first = handle(&got[0]);
    let h = crate::handle::Handle::parse(&first).expect("handle");
    assert_eq!(h.info.invisible_time, 60_000);
    // 55 s on: due (10 s ahead), renewed for a minute more.
    f.clock.set(NOW_MS + 55_000);
    f.service.renewals().renew_due(&f.broker).await;
    f.clock.set(NOW_MS + 90_000);
    // The message is still invisible: nothing to receive.
    assert!(messages(&receive_now(&f).await).is_empty());
    // The client acks with the handle it got first; the renewed one is acked.
    let r = f
        .service
        .ack_message(req(pb::AckMessageRequest {
            group: Some(resource("G")),
            topic: Some(resource("T")),
            entries: vec![pb::AckMessageEntry { message_id: "id-r".into(), receipt_handle: first }],
        }))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(code(&r.status), Code::Ok as i32);
    assert!(f.service.renewals().is_empty());
    f.clock.set(NOW_MS + 10 * 60_000);
    f.broker.revive_due().await;
    assert!(messages(&receive_now(&f).await).is_empty(), "acked: never delivered again");
}

/// A receive with the shortest deadline; it waits (in paused tokio time) when nothing is there.
async fn receive_now(f: &Fixture) -> Vec<pb::ReceiveMessageResponse> {
    let r = pb::ReceiveMessageRequest {
        group: Some(resource("G")),
        message_queue: Some(pb::MessageQueue { topic: Some(resource("T")), id: -1, ..Default::default() }),
        filter_expression: None,
        batch_size: 32,
        invisible_duration: Some(duration(30_000)),
        auto_renew: false,
        long_polling_timeout: Some(duration(5_000)),
        attempt_id: None,
    };
    let mut request = req(r);
    request.metadata_mut().insert("grpc-timeout", "5500m".parse().expect("header"));
    let stream = f.service.receive_message(request).await.expect("answered").into_inner();
    stream.map(|x| x.expect("frame")).collect().await
}

mod malformed {
    use proptest::prelude::*;
    use prost::Message as _;

    use super::*;

    proptest! {
        /// Whatever bytes a client sends as a message, checking them answers a status or
        /// converts them; it never panics. Decoded messages are mutated a little too, so
        /// field values get past the decoder.
        #[test]
        fn any_send_request_is_answered(bytes in proptest::collection::vec(any::<u8>(), 0..512), flip in any::<usize>()) {
            let peer = "127.0.0.1:1".parse().expect("address");
            if let Ok(r) = pb::SendMessageRequest::decode(&bytes[..]) {
                for m in &r.messages {
                    let _ = crate::convert::incoming(m, peer, NOW_MS, 4 << 20);
                }
            }
            let mut m = message("T", "id", Some("g"));
            let mut encoded = m.encode_to_vec();
            if !encoded.is_empty() {
                let i = flip % encoded.len();
                encoded[i] ^= 0xff;
            }
            if let Ok(decoded) = pb::Message::decode(&encoded[..]) {
                m = decoded;
                let _ = crate::convert::incoming(&m, peer, NOW_MS, 4 << 20);
            }
        }

        #[test]
        fn any_receipt_handle_is_parsed_or_refused(text in "[0-9 a-z%_-]{0,80}") {
            if let Some(h) = crate::handle::Handle::parse(&text) {
                prop_assert_eq!(crate::handle::Handle::parse(&h.encode()), Some(h));
            }
        }
    }
}

/// A request signed as the 5.x SDKs sign: `authorization` over `x-mq-date-time`.
fn signed<T>(body: T, user: &str, secret: &str) -> Request<T> {
    let mut r = req(body);
    let date = "20261207T101500Z";
    let sig = auth::sign::grpc_signature_hex(secret, date);
    let header = format!("MQv2-HMAC-SHA1 Credential={user}, SignedHeaders=x-mq-date-time, Signature={sig}");
    r.metadata_mut().insert("x-mq-date-time", date.parse().expect("header"));
    r.metadata_mut().insert("authorization", header.parse().expect("header"));
    r
}

#[tokio::test]
async fn with_acl_on_each_call_is_authenticated_and_authorized() {
    let f = fixture_with(|c| {
        c.authentication_enabled = true;
        c.authorization_enabled = true;
        c.init_authentication_user = Some(r#"{"username":"root","password":"rootpw"}"#.into());
    })
    .await;
    let users = &f.broker.auth.metadata;
    users.create_user(true, Some("alice"), auth::model::UserInfo { password: Some("alicepw".into()), ..Default::default() }).expect("user");
    let entry = |resource: &str, action: &str| auth::model::PolicyEntryInfo {
        resource: Some(resource.into()),
        actions: Some(vec![action.into()]),
        source_ips: None,
        decision: Some("Allow".into()),
    };
    let acl = auth::model::AclInfo {
        subject: Some("User:alice".into()),
        policies: Some(vec![auth::model::PolicyInfo { policy_type: None, entries: Some(vec![entry("Topic:T", "Pub"), entry("Group:G", "Sub")]) }]),
    };
    users.upsert_acl(None, Some(acl)).expect("acl");
    let send_as = |m: pb::Message, user: &str, secret: &str| signed(pb::SendMessageRequest { messages: vec![m] }, user, secret);
    let answer = |r: Result<tonic::Response<pb::SendMessageResponse>, tonic::Status>| r.expect("answered").into_inner().status.expect("status");

    let ok = answer(f.service.send_message(send_as(message("T", "m1", None), "alice", "alicepw")).await);
    assert_eq!(ok.code, Code::Ok as i32, "{ok:?}");
    for (request, why) in [
        (send_as(message("T", "m2", None), "alice", "wrong"), "check signature failed."),
        (send_as(message("T", "m3", None), "bob", "x"), "User:bob is not found."),
        (req(pb::SendMessageRequest { messages: vec![message("T", "m4", None)] }), "username cannot be null."),
        (send_as(message("F", "m5", Some("g")), "alice", "alicepw"), "User:alice has no permission to access Topic:F"),
    ] {
        let refused = answer(f.service.send_message(request).await);
        assert_eq!(refused.code, Code::Unauthorized as i32, "{refused:?}");
        assert!(refused.message.contains(why), "{} should say {why}", refused.message);
    }
    let root = answer(f.service.send_message(send_as(message("F", "m6", Some("g")), "root", "rootpw")).await);
    assert_eq!(root.code, Code::Ok as i32, "a super user may send anywhere: {root:?}");
    // A consumer's call needs its group and topic: alice may not read T (Pub only).
    let assignment =
        |user: &str, secret: &str| signed(pb::QueryAssignmentRequest { topic: Some(resource("T")), group: Some(resource("G")), endpoints: None }, user, secret);
    let refused = f.service.query_assignment(assignment("alice", "alicepw")).await.expect("answered").into_inner();
    assert_eq!(code(&refused.status), Code::Unauthorized as i32, "{refused:?}");
    let allowed = f.service.query_assignment(assignment("root", "rootpw")).await.expect("answered").into_inner();
    assert_eq!(code(&allowed.status), Code::Ok as i32, "{allowed:?}");
    // A blank topic is refused with Java's words before anything else.
    let blank = f
        .service
        .query_route(signed(pb::QueryRouteRequest { topic: Some(resource(" ")), endpoints: None }, "root", "rootpw"))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!((code(&blank.status), blank.status.map(|s| s.message)), (Code::Unauthorized as i32, Some("topic is null.".to_string())));
}
