//! The broker's operations driven directly: no socket, no `Channel`. Clients are fakes that
//! record what the broker pushes to them; time is a `ManualClock`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use protocol::body::{ConsumerData, HeartbeatData, SubscriptionData};
use protocol::codes::{perm, pull_flag, response as rs};
use protocol::header::{PullMessageRequestHeader, SendMessageRequestHeader};
use protocol::message::{decode_records, Properties};
use protocol::LanguageCode;
use store::{GetStatus, ManualClock};

use super::clients::ClientInfo;
use super::pull::{PullStart, Pulled};
use super::send::SendRequest;
use super::send_back::SendBack;
use crate::push::{BoxFuture, ClientAnswer, ClientAsk, ClientConn, ClientPush, PushError};
use crate::{Broker, BrokerConfig};

const NOW_MS: i64 = 1_700_000_000_000;

mod pop;
mod timer;
mod transaction;

struct Fixture {
    broker: Arc<Broker>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn broker_with(tune: impl FnOnce(&mut BrokerConfig)) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = BrokerConfig { store_path_root_dir: dir.path().to_path_buf(), listen_port: 10911, ..Default::default() };
    tune(&mut config);
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let broker = Broker::open(config, clock.clone()).await.expect("broker opens");
    Fixture { broker, clock, _dir: dir }
}

async fn broker() -> Fixture {
    broker_with(|_| {}).await
}

fn producer() -> SocketAddr {
    "127.0.0.1:40000".parse().expect("address")
}

fn send_request(topic: &str, properties: &str, body: &'static [u8]) -> SendRequest<'static> {
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: Cow::Owned(topic.to_string()),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        properties: Cow::Owned(properties.to_string()),
        born_timestamp: NOW_MS - 5,
        ..Default::default()
    };
    SendRequest { header, body: Bytes::from_static(body), batch: false, born_host: producer(), auto_create: true }
}

async fn pull_now(b: &Arc<Broker>, topic: &str, offset: i64) -> store::GetResult {
    match b.pull(&PullMessageRequestHeader::for_queue("CG", topic, 0, offset)).await.expect("pull") {
        PullStart::Now(Pulled::Read(r)) => r,
        _ => panic!("a plain pull answers at once"),
    }
}

/// A broker that writes its own trace records (`brokerTraceEnable`, with the trace topic).
async fn traced_broker() -> Fixture {
    broker_with(|c| {
        c.trace_topic_enable = true;
        c.broker_trace_enable = true;
    })
    .await
}

/// The trace topic's messages, each with its record's fields (`protocol::trace`'s format).
fn trace_records(b: &Broker) -> Vec<(protocol::message::MessageRecord, Vec<String>)> {
    let trace = b.store.get("RMQ_SYS_TRACE_TOPIC", 0, 0, 32, &store::AcceptAll).expect("trace topic");
    let records = decode_records(&trace.messages).expect("trace records");
    records
        .into_iter()
        .map(|m| {
            let fields = protocol::trace::decode(&String::from_utf8_lossy(&m.body)).flatten().map(str::to_string).collect();
            (m, fields)
        })
        .collect()
}

/// A broker that can be reopened on its data, as after a crash.
/// The value of the first sample of `family` in the broker's exposition.
pub(super) fn metric(b: &Broker, family: &str) -> Option<String> {
    let text = b.metrics_text();
    text.lines().find(|l| l.starts_with(&format!("{family}{{"))).and_then(|l| l.rsplit(' ').next()).map(str::to_string)
}

pub(super) struct Restartable {
    _dir: tempfile::TempDir,
    config: BrokerConfig,
    clock: Arc<ManualClock>,
}

pub(super) async fn restartable(topic: &str) -> (Restartable, Arc<Broker>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BrokerConfig { store_path_root_dir: dir.path().to_path_buf(), listen_port: 10911, ..Default::default() };
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let b = Broker::open(config.clone(), clock.clone()).await.expect("opens");
    b.topics.ensure_system_topic(topic, 1);
    b.topics.persist();
    (Restartable { _dir: dir, config, clock }, b)
}

impl Restartable {
    /// As after SIGKILL: the store is intact (closed), the offset file never written.
    pub(super) async fn crash_and_reopen(&self, b: Arc<Broker>) -> Arc<Broker> {
        b.store.shutdown().await;
        drop(b);
        Broker::open(self.config.clone(), self.clock.clone()).await.expect("reopens")
    }
}

/// A client connection that records what it is sent and answers asks with `answer_code`.
struct FakeClient {
    id: u64,
    pushes: Mutex<Vec<ClientPush>>,
    asks: Mutex<Vec<ClientAsk>>,
    answer_code: i32,
}

static NEXT_FAKE_ID: AtomicU64 = AtomicU64::new(1_000_000);

impl FakeClient {
    fn new(answer_code: i32) -> Arc<FakeClient> {
        Arc::new(FakeClient { id: NEXT_FAKE_ID.fetch_add(1, Ordering::Relaxed), pushes: Mutex::default(), asks: Mutex::default(), answer_code })
    }

    fn pushes(&self) -> Vec<ClientPush> {
        self.pushes.lock().expect("pushes").clone()
    }
}

impl ClientConn for FakeClient {
    fn id(&self) -> u64 {
        self.id
    }
    fn remote_addr(&self) -> SocketAddr {
        producer()
    }
    fn is_closed(&self) -> bool {
        false
    }
    fn close(&self) {}
    fn push(&self, push: ClientPush) -> BoxFuture<Result<(), PushError>> {
        self.pushes.lock().expect("pushes").push(push);
        Box::pin(async { Ok(()) })
    }
    fn ask(&self, ask: ClientAsk, _timeout: Duration) -> BoxFuture<Result<ClientAnswer, PushError>> {
        self.asks.lock().expect("asks").push(ask);
        let code = self.answer_code;
        Box::pin(async move { Ok(ClientAnswer { code, remark: None, body: Bytes::new() }) })
    }
}

fn consumer_heartbeat(client_id: &str, group: &str, topic: &str) -> HeartbeatData {
    let sub = SubscriptionData { topic: topic.into(), sub_string: "*".into(), sub_version: 1, ..Default::default() };
    let consumer = ConsumerData { group_name: group.into(), subscription_data_set: vec![sub], ..Default::default() };
    HeartbeatData { client_id: client_id.into(), consumer_data_set: vec![consumer], ..Default::default() }
}

fn info(conn: Arc<FakeClient>) -> ClientInfo {
    ClientInfo { conn, language: LanguageCode::JAVA, version: 500 }
}

#[tokio::test]
async fn a_sent_message_is_pulled_back_with_the_clocks_store_time() {
    let f = broker().await;
    let b = &f.broker;
    let sent = b.send(&send_request("TopicA", "TAGS\u{1}a\u{2}UNIQ_KEY\u{1}U1\u{2}", b"hello")).await.expect("sent");
    assert_eq!((sent.queue_id, sent.put.first_queue_offset, sent.status), (0, 0, crate::service::send::SendStatus::Ok));
    assert_eq!(sent.uniq_key.as_deref(), Some("U1"), "the answer's transactionId");
    let got = pull_now(b, "TopicA", 0).await;
    assert_eq!(got.status, GetStatus::Found);
    let records = decode_records(&got.messages).expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(&records[0].body[..], b"hello");
    assert_eq!(records[0].store_timestamp, NOW_MS, "the store stamps the clock's time");
    assert_eq!(records[0].born_host, producer());
    assert_eq!(b.stats.get_total.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn failed_checks_are_errors_with_the_java_codes() {
    let f = broker_with(|c| c.auto_create_topic_enable = false).await;
    let b = &f.broker;
    let e = b.send(&send_request("Missing", "", b"x")).await.expect_err("no such topic");
    assert_eq!(e.code, rs::TOPIC_NOT_EXIST);
    assert!(e.remark.contains("Missing"), "{e}");
    let e = b.send(&send_request("bad topic!", "", b"x")).await.expect_err("bad name");
    assert_eq!(e.code, rs::INVALID_PARAMETER);
    let e = b.send(&send_request("SCHEDULE_TOPIC_XXXX", "", b"x")).await.expect_err("system topic");
    assert_eq!(e.code, rs::NO_PERMISSION);
    b.topics.ensure_system_topic("TopicT", 1);
    let e = b.send(&send_request("TopicT", "TIMER_DELAY_SEC\u{1}-1\u{2}", b"x")).await.expect_err("a negative delay");
    assert_eq!(e.code, rs::MESSAGE_ILLEGAL);
    let e = b.send(&send_request("TopicT", "TIMER_DELAY_SEC\u{1}999999999\u{2}", b"x")).await.expect_err("past timerMaxDelaySec");
    assert!(e.remark.contains("max delay"), "{e}");
    let e = b.query_consumer_offset("CG", "TopicT", 0, false).expect_err("nothing committed");
    assert_eq!(e.code, rs::QUERY_NOT_FOUND);
}

#[tokio::test]
async fn a_new_groups_offset_is_decided_as_the_java_5_broker_decides_it() {
    let f = broker().await;
    let b = &f.broker;
    b.topics.ensure_system_topic("TopicO", 2);
    // ConsumerManageProcessor.queryConsumerOffset: no entry and setZeroIfNotFound=false is
    // QUERY_NOT_FOUND at once; otherwise 0 only when the queue's first message is in memory
    // (checkInMemByConsumeOffset), which an empty or unknown queue has not.
    let not_found = |r: crate::BrokerResult<i64>| r.map_err(|e| (e.code, e.remark));
    let maybe_zero = (rs::QUERY_NOT_FOUND, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first".to_string());
    let never_zero = (rs::QUERY_NOT_FOUND, "Not found, do not set to zero, maybe this group boot first".to_string());
    for (topic, queue_id) in [("TopicO", 0), ("TopicO", 1), ("NoSuchTopic", 0)] {
        assert_eq!(not_found(b.query_consumer_offset("CG", topic, queue_id, true)), Err(maybe_zero.clone()), "{topic} {queue_id}");
        assert_eq!(not_found(b.query_consumer_offset("CG", topic, queue_id, false)), Err(never_zero.clone()), "{topic} {queue_id}");
    }
    b.send(&send_request("TopicO", "", b"first")).await.expect("sent");
    assert_eq!(b.query_consumer_offset("CG", "TopicO", 0, true), Ok(0), "a young queue starts a new group at 0");
    assert_eq!(not_found(b.query_consumer_offset("CG", "TopicO", 0, false)), Err(never_zero));
    assert_eq!(not_found(b.query_consumer_offset("CG", "TopicO", 1, true)), Err(maybe_zero), "still empty");
    b.commit_consumer_offset("CG", "TopicO", 1, 0);
    assert_eq!(b.query_consumer_offset("CG", "TopicO", 1, false), Ok(0), "a stored 0 is an offset");
}

#[tokio::test]
async fn a_pending_server_side_reset_is_the_groups_offset_until_a_pull_takes_it() {
    let f = broker().await;
    let b = &f.broker;
    for body in [b"1", b"2", b"3"] {
        b.send(&send_request("TopicX", "", body)).await.expect("sent");
    }
    b.groups.find_or_create("CG").expect("group");
    b.commit_consumer_offset("CG", "TopicX", 0, 3);
    let reset = super::reset::ResetOffset { topic: "TopicX".into(), group: "CG".into(), timestamp: 0, force: true, queue_id: None, offset: None };
    b.reset_offset(&reset).expect("reset");
    // ConsumerOffsetManager.queryOffset answers the pending reset, and UPDATE_CONSUMER_OFFSET
    // does not overwrite it ("Offset has been previously reset").
    b.commit_consumer_offset("CG", "TopicX", 0, 3);
    assert_eq!(b.query_consumer_offset("CG", "TopicX", 0, false), Ok(0));
    let PullStart::Now(Pulled::Reset { next_begin_offset, .. }) = b.pull(&PullMessageRequestHeader::for_queue("CG", "TopicX", 0, 3)).await.expect("pull")
    else {
        panic!("the pull takes the reset")
    };
    assert_eq!(next_begin_offset, 0);
    b.commit_consumer_offset("CG", "TopicX", 0, 2);
    assert_eq!(b.query_consumer_offset("CG", "TopicX", 0, false), Ok(2), "commits count again");
}

#[tokio::test]
async fn queue_offsets_and_times_of_empty_and_unknown_queues_are_javas() {
    let f = broker().await;
    let b = &f.broker;
    b.topics.ensure_system_topic("TopicS", 1);
    for (topic, queue_id) in [("TopicS", 0), ("NoSuchTopic", 3)] {
        assert_eq!((b.min_offset(topic, queue_id), b.max_offset(topic, queue_id)), (0, 0));
        assert_eq!(b.earliest_store_time(topic, queue_id), Ok(-1));
        for boundary in [store::BoundaryType::Lower, store::BoundaryType::Upper] {
            assert_eq!(b.offset_by_time(topic, queue_id, NOW_MS, boundary), Ok(0));
        }
    }
    // Stored at t, t and t + 10.
    for (i, at) in [NOW_MS, NOW_MS, NOW_MS + 10].into_iter().enumerate() {
        f.clock.set(at);
        b.send(&send_request("TopicS", "", b"m")).await.expect("sent");
        assert_eq!(b.max_offset("TopicS", 0), i as i64 + 1);
    }
    assert_eq!(b.earliest_store_time("TopicS", 0), Ok(NOW_MS));
    // ConsumeQueue.getOffsetInQueueByTime: LOWER is the first stored at or after the time (the
    // max offset past the last), UPPER the last stored at or before it (the min before the first).
    let cases = [(NOW_MS - 1, 0, 0), (NOW_MS, 0, 1), (NOW_MS + 5, 2, 1), (NOW_MS + 10, 2, 2), (NOW_MS + 100, 3, 2)];
    for (at, lower, upper) in cases {
        let by = |boundary| b.offset_by_time("TopicS", 0, at, boundary).expect("offset");
        assert_eq!((by(store::BoundaryType::Lower), by(store::BoundaryType::Upper)), (lower, upper), "at {}", at - NOW_MS);
    }
}

#[tokio::test]
async fn broker_permission_changes_while_serving() {
    let f = broker().await;
    let b = &f.broker;
    b.send(&send_request("TopicP", "", b"1")).await.expect("writable at first");
    let version = b.topics.snapshot().data_version.counter;
    let read_only = [("brokerPermission".to_string(), perm::READ.to_string())].into();
    b.update_config(&read_only).expect("permission updated");
    assert_eq!(b.runtime.permission(), perm::READ);
    assert!(b.topics.snapshot().data_version.counter > version, "a new data version: the NameServers take the topics again");
    let e = b.send(&send_request("TopicP", "", b"2")).await.expect_err("read only");
    assert_eq!(e.code, rs::NO_PERMISSION);
    assert_eq!(pull_now(b, "TopicP", 0).await.status, GetStatus::Found, "reads go on");
    assert!(b.config_properties().contains(&format!("brokerPermission={}", perm::READ)));
    // Refused keys change nothing, not even the accepted ones beside them.
    let mixed = [("brokerPermission".to_string(), "6".to_string()), ("listenPort".to_string(), "1".to_string())].into();
    let e = b.update_config(&mixed).expect_err("listenPort is fixed");
    assert!(e.remark.contains("listenPort"), "{e}");
    assert_eq!(b.runtime.permission(), perm::READ);
    let bad = [("brokerPermission".to_string(), "x".to_string())].into();
    assert_eq!(b.update_config(&bad).expect_err("not a number").code, rs::INVALID_PARAMETER);
}

#[tokio::test]
async fn a_delayed_message_is_due_by_the_clock() {
    let f = broker().await;
    let b = &f.broker;
    f.clock.set(NOW_MS + 60_000);
    b.send(&send_request("TopicD", "DELAY\u{1}2\u{2}", b"later")).await.expect("sent");
    // Level 2 is 5 s: parked in the schedule topic with its due time as the tag code.
    let entries = b.store.queue_entries(crate::put::SCHEDULE_TOPIC, 1, 0, 10).expect("schedule queue");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].3, NOW_MS + 60_000 + 5_000);
}

#[tokio::test]
async fn a_released_delayed_message_keeps_its_delay_real_topic_and_real_qid() {
    let f = broker().await;
    let b = &f.broker;
    b.send(&send_request("TopicD", "TAGS\u{1}a\u{2}DELAY\u{1}2\u{2}UNIQ_KEY\u{1}U1\u{2}", b"later")).await.expect("sent");
    crate::schedule::deliver_all_due(b).await;
    assert_eq!(b.max_offset("TopicD", 0), 0, "not due before its 5 s");
    f.clock.set(NOW_MS + 5_000);
    crate::schedule::deliver_all_due(b).await;
    let got = pull_now(b, "TopicD", 0).await;
    let m = &decode_records(&got.messages).expect("records")[0];
    assert_eq!((&m.body[..], m.topic.as_str(), m.queue_id), (&b"later"[..], "TopicD", 0));
    // As the Java broker delivers it (ScheduleMessageService.messageTimeUp keeps the parked
    // record's properties string), so MessageExt.getDelayTimeLevel() is 2 on the consumer.
    let props = Properties::parse(&m.properties);
    for (key, value) in [("DELAY", "2"), ("REAL_TOPIC", "TopicD"), ("REAL_QID", "0"), ("TAGS", "a"), ("UNIQ_KEY", "U1")] {
        assert_eq!(props.get(key), Some(value), "{key} in {props:?}");
    }
    // Its DELAY does not park it again.
    crate::schedule::deliver_all_due(b).await;
    assert_eq!(b.max_offset(crate::put::SCHEDULE_TOPIC, 1), 1);
    assert_eq!(b.max_offset("TopicD", 0), 1);
}

#[tokio::test]
async fn a_send_back_is_retried_with_the_java_brokers_properties() {
    let f = broker().await;
    let b = &f.broker;
    let sent = b.send(&send_request("TopicR", "TAGS\u{1}a\u{2}UNIQ_KEY\u{1}U1\u{2}WAIT\u{1}true\u{2}", b"retry me")).await.expect("sent");
    let original_id = protocol::message::offset_msg_id(b.store_host, sent.put.phys_offsets[0]);
    let back = SendBack { group: "CG".into(), phys_offset: sent.put.phys_offsets[0], delay_level: 0, max_reconsume_times: None, client_version: 500 };
    b.send_back(&back).await.expect("to the retry topic");
    // Reconsumed 0 times: level 3 (10 s).
    f.clock.set(NOW_MS + 9_999);
    crate::schedule::deliver_all_due(b).await;
    assert_eq!(b.max_offset("%RETRY%CG", 0), 0);
    f.clock.set(NOW_MS + 10_000);
    crate::schedule::deliver_all_due(b).await;
    let got = pull_now(b, "%RETRY%CG", 0).await;
    let m = &decode_records(&got.messages).expect("records")[0];
    assert_eq!((&m.body[..], m.reconsume_times), (&b"retry me"[..], 1));
    let props = Properties::parse(&m.properties);
    // AbstractSendMessageProcessor.consumerSendMsgBack: RETRY_TOPIC, WAIT=false, DELAY, and
    // ORIGIN_MESSAGE_ID = the looked-up message's (offset) msgId; parking adds REAL_*.
    let expected = [
        ("RETRY_TOPIC", "TopicR"),
        ("ORIGIN_MESSAGE_ID", original_id.as_str()),
        ("DELAY", "3"),
        ("WAIT", "false"),
        ("REAL_TOPIC", "%RETRY%CG"),
        ("REAL_QID", "0"),
        ("TAGS", "a"),
        ("UNIQ_KEY", "U1"),
    ];
    for (key, value) in expected {
        assert_eq!(props.get(key), Some(value), "{key} in {props:?}");
    }
    // Failed again: the origin stays the first message's; parked at the next level.
    b.send_back(&SendBack { phys_offset: m.physical_offset, ..back }).await.expect("retried again");
    let parked = b.store.get(crate::put::SCHEDULE_TOPIC, 3, 0, 1, &|_| true).expect("level 4");
    let m = &decode_records(&parked.messages).expect("records")[0];
    let props = Properties::parse(&m.properties);
    assert_eq!((props.get("ORIGIN_MESSAGE_ID"), props.get("DELAY"), m.reconsume_times), (Some(original_id.as_str()), Some("4"), 2));
}

#[tokio::test]
async fn a_parked_pull_wakes_when_a_message_arrives_and_ends_when_its_client_goes() {
    let f = broker().await;
    let b = &f.broker;
    b.send(&send_request("TopicL", "", b"first")).await.expect("sent");
    let mut h = PullMessageRequestHeader::for_queue("CG", "TopicL", 0, 1).long_poll(30_000);
    h.sys_flag |= pull_flag::SUSPEND;
    let PullStart::Park(parking) = b.pull(&h).await.expect("pull") else { panic!("nothing there: parks") };
    assert_eq!(b.parked_pulls.load(Ordering::Acquire), 1);
    let waiting = tokio::spawn(parking.wait(std::future::pending()));
    tokio::task::yield_now().await;
    b.send(&send_request("TopicL", "", b"wake")).await.expect("sent");
    let Pulled::Read(r) = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("woken").expect("task").expect("pull") else {
        panic!("no reset")
    };
    assert_eq!((r.status, r.message_count), (GetStatus::Found, 1));
    assert_eq!(b.parked_pulls.load(Ordering::Acquire), 0, "the slot is given back");
    // At the end of the queue again: a client that goes away ends the wait at once.
    h.queue_offset = 2;
    let PullStart::Park(parking) = b.pull(&h).await.expect("pull") else { panic!("parks again") };
    let Pulled::Read(r) = parking.wait(async {}).await.expect("pull") else { panic!("no reset") };
    assert_eq!(r.status, GetStatus::OffsetOverflowOne);
    assert_eq!(b.parked_pulls.load(Ordering::Acquire), 0);
}

#[tokio::test]
async fn a_pull_at_offset_zero_of_a_queue_that_never_had_a_message_parks_as_javas() {
    let f = broker().await;
    let b = &f.broker;
    b.send(&send_request("TopicE", "", b"on queue 0")).await.expect("sent");
    // Queue 1 has never had a message: Java answers PULL_NOT_FOUND and holds it; answered at
    // once, the official client pulls again at once, for as long as the queue stays empty.
    let mut h = PullMessageRequestHeader::for_queue("CG", "TopicE", 1, 0).long_poll(30_000);
    h.sys_flag |= pull_flag::SUSPEND;
    let PullStart::Park(parking) = b.pull(&h).await.expect("pull") else { panic!("an empty queue at offset 0 parks") };
    let waiting = tokio::spawn(parking.wait(std::future::pending()));
    tokio::task::yield_now().await;
    let mut wake = send_request("TopicE", "", b"wake");
    wake.header.queue_id = 1;
    b.send(&wake).await.expect("sent");
    let Pulled::Read(r) = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("woken").expect("task").expect("pull") else {
        panic!("no reset")
    };
    assert_eq!((r.status, r.message_count), (GetStatus::Found, 1));
    // Past offset 0 an empty queue is answered at once (PULL_OFFSET_MOVED).
    h.queue_id = 2;
    assert!(matches!(b.pull(&h).await.expect("pull"), PullStart::Park(_)));
    h.queue_offset = 5;
    assert!(matches!(b.pull(&h).await.expect("pull"), PullStart::Now(_)));
}

#[tokio::test]
async fn heartbeats_register_consumers_make_the_retry_topic_and_tell_members_of_changes() {
    let f = broker().await;
    let b = &f.broker;
    let (first, second) = (FakeClient::new(rs::SUCCESS), FakeClient::new(rs::SUCCESS));
    b.heartbeat(&consumer_heartbeat("c1", "CG", "TopicH"), info(first.clone()));
    let retry = b.topics.get("%RETRY%CG").expect("retry topic made by the heartbeat");
    assert_eq!((retry.read_queue_nums, retry.write_queue_nums, retry.perm), (1, 1, perm::READ | perm::WRITE));
    b.heartbeat(&consumer_heartbeat("c2", "CG", "TopicH"), info(second.clone()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let changed = ClientPush::ConsumerIdsChanged { group: "CG".into() };
    assert!(first.pushes().contains(&changed), "the first member hears of the second");
    assert!(second.pushes().contains(&changed));
    assert_eq!(b.consumer_ids("CG").expect("members"), vec!["c1".to_string(), "c2".to_string()]);
    let before = first.pushes().len();
    b.connection_closed(second.id);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(first.pushes().len(), before + 1, "and of its leaving");
    assert_eq!(b.consumer_ids("CG").expect("members"), vec!["c1".to_string()]);
}

#[tokio::test]
async fn a_send_back_past_max_reconsume_times_goes_to_a_one_queue_dlq() {
    let f = broker().await;
    let b = &f.broker;
    let sent = b.send(&send_request("TopicR", "", b"poison")).await.expect("sent");
    let back =
        |delay_level| SendBack { group: "CG".into(), phys_offset: sent.put.phys_offsets[0], delay_level, max_reconsume_times: Some(0), client_version: 500 };
    b.send_back(&back(-1)).await.expect("to the DLQ");
    let dlq = b.topics.get("%DLQ%CG").expect("DLQ topic");
    assert_eq!((dlq.read_queue_nums, dlq.write_queue_nums), (1, 1));
    let got = b.store.get("%DLQ%CG", 0, 0, 1, &|_| true).expect("read");
    let m = &decode_records(&got.messages).expect("records")[0];
    assert_eq!(&m.body[..], b"poison");
    let props = Properties::parse(&m.properties);
    let original_id = protocol::message::offset_msg_id(b.store_host, sent.put.phys_offsets[0]);
    for (key, value) in [("RETRY_TOPIC", "TopicR"), ("DELAY", "0"), ("WAIT", "false"), ("ORIGIN_MESSAGE_ID", original_id.as_str())] {
        assert_eq!(props.get(key), Some(value), "{key} in {props:?}");
    }
    assert_eq!(m.reconsume_times, 1);
    let e = b.send_back(&SendBack { phys_offset: 1 << 40, ..back(0) }).await.expect_err("no message there");
    assert_eq!(e.code, rs::SYSTEM_ERROR);
}

#[tokio::test]
async fn a_resent_retry_goes_to_the_dlq_only_past_max_reconsume_times() {
    let f = broker().await;
    let b = &f.broker;
    b.topics.ensure_retry_topic("CG", 1);
    // The Java client's own resend when a send-back failed: reconsumeTimes already counts it.
    let resend = |reconsume_times| {
        let mut r = send_request("%RETRY%CG", "DELAY\u{1}5\u{2}RETRY_TOPIC\u{1}TopicR\u{2}", b"x");
        (r.header.reconsume_times, r.header.max_reconsume_times) = (reconsume_times, Some(2));
        r
    };
    b.send(&resend(2)).await.expect("retried");
    assert_eq!(b.max_offset(crate::put::SCHEDULE_TOPIC, 4), 1, "parked for its retry, not dead yet");
    b.send(&resend(3)).await.expect("dead");
    let got = b.store.get("%DLQ%CG", 0, 0, 1, &|_| true).expect("read");
    let m = &decode_records(&got.messages).expect("records")[0];
    // SendMessageProcessor.handleRetryAndDLQ: DELAY -1 into the DLQ.
    assert_eq!(Properties::parse(&m.properties).get("DELAY"), Some("-1"));
    // A group that holds queue locks consumes orderly: its re-sends are dead at once.
    let mq = protocol::body::MessageQueue { topic: "TopicR".into(), broker_name: "b".into(), queue_id: 0 };
    b.locks.lock("CG", "c1", &[mq], std::time::Instant::now());
    b.send(&resend(0)).await.expect("dead");
    assert_eq!(b.max_offset("%DLQ%CG", 0), 2);
}

#[tokio::test]
async fn a_client_side_reset_is_pushed_to_each_member() {
    let f = broker_with(|c| c.use_server_side_reset_offset = false).await;
    let b = &f.broker;
    b.send(&send_request("TopicX", "", b"1")).await.expect("sent");
    b.send(&send_request("TopicX", "", b"2")).await.expect("sent");
    let client = FakeClient::new(rs::SUCCESS);
    b.heartbeat(&consumer_heartbeat("c1", "CG", "TopicX"), info(client.clone()));
    for q in 0..4 {
        b.commit_consumer_offset("CG", "TopicX", q, if q == 0 { 2 } else { 0 });
    }
    let reset = super::reset::ResetOffset { topic: "TopicX".into(), group: "CG".into(), timestamp: 0, force: true, queue_id: None, offset: None };
    let offsets = b.reset_offset(&reset).expect("reset");
    assert_eq!(offsets[0].1, 0, "queue 0 goes back to its first message");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let pushed = client.pushes().into_iter().find_map(|p| match p {
        ClientPush::ResetOffset { offsets, force, .. } => Some((offsets, force)),
        _ => None,
    });
    assert_eq!(pushed, Some((offsets, true)));
}

#[tokio::test]
async fn a_reply_is_asked_of_the_requester_and_stored() {
    let f = broker().await;
    let b = &f.broker;
    let requester = FakeClient::new(rs::SUCCESS);
    let hb = HeartbeatData { client_id: "requester-1".into(), producer_data_set: vec![Default::default()], ..Default::default() };
    b.heartbeat(&hb, info(requester.clone()));
    let reply_topic = format!("{}_REPLY_TOPIC", b.config.broker_cluster_name);
    let sent = b.reply(&send_request(&reply_topic, "REPLY_TO_CLIENT\u{1}requester-1\u{2}", b"answer")).await.expect("replied");
    assert_eq!(sent.put.first_queue_offset, 0);
    let asks = requester.asks.lock().expect("asks").clone();
    let [ClientAsk::Reply(m)] = &asks[..] else { panic!("one reply pushed: {asks:?}") };
    assert_eq!((&m.body[..], m.store_timestamp), (&b"answer"[..], NOW_MS));
    let refused = FakeClient::new(rs::SYSTEM_ERROR);
    let hb = HeartbeatData { client_id: "requester-2".into(), producer_data_set: vec![Default::default()], ..Default::default() };
    b.heartbeat(&hb, info(refused));
    let e = b.reply(&send_request(&reply_topic, "REPLY_TO_CLIENT\u{1}requester-2\u{2}", b"x")).await.expect_err("refused");
    assert_eq!(e.code, rs::SYSTEM_ERROR);
    let e = b.reply(&send_request(&reply_topic, "REPLY_TO_CLIENT\u{1}nobody\u{2}", b"x")).await.expect_err("unknown");
    assert!(e.remark.contains("nobody"), "{e}");
}

#[tokio::test]
async fn a_delayed_message_recovered_after_a_crash_keeps_its_due_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BrokerConfig { store_path_root_dir: dir.path().to_path_buf(), listen_port: 10911, ..Default::default() };
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let b = Broker::open(config.clone(), clock.clone()).await.expect("broker opens");
    b.send(&send_request("TopicC", "DELAY\u{1}3\u{2}", b"in 10 s")).await.expect("sent");
    let before = b.store.queue_entries(crate::put::SCHEDULE_TOPIC, 2, 0, 10).expect("schedule queue");
    assert_eq!(before[0].3, NOW_MS + 10_000);
    b.store.shutdown().await;
    drop(b);
    // As after a crash that lost the consume queues: recovery re-dispatches from the CommitLog.
    std::fs::remove_dir_all(dir.path().join("consumequeue")).expect("queues removed");
    for marker in ["checkpoint", "clean_shutdown"] {
        let _ = std::fs::remove_file(dir.path().join(marker));
    }
    std::fs::write(dir.path().join("abort"), b"").expect("abort marker");
    let b = Broker::open(config, clock).await.expect("broker recovers");
    let after = b.store.queue_entries(crate::put::SCHEDULE_TOPIC, 2, 0, 10).expect("schedule queue");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].3, NOW_MS + 10_000, "due at its store time plus level 3's 10 s, not at once");
    b.store.shutdown().await;
}

#[tokio::test]
async fn sql92_pulls_need_enable_property_filter_and_skip_what_does_not_match() {
    let sql = |expr: &str| {
        let mut h = PullMessageRequestHeader::for_queue("CG", "TopicS", 0, 0);
        h.subscription = Some(expr.to_string());
        h.expression_type = Some("SQL92".into());
        h
    };
    let off = broker().await;
    off.broker.topics.ensure_system_topic("TopicS", 1);
    let e = off.broker.pull(&sql("a > 1")).await.err().expect("refused");
    assert_eq!((e.code, e.remark.as_str()), (rs::SYSTEM_ERROR, "The broker does not support consumer to filter message by SQL92"));
    let f = broker_with(|c| c.enable_property_filter = true).await;
    let b = &f.broker;
    b.topics.ensure_system_topic("TopicS", 1);
    for (props, body) in [("a\u{1}1\u{2}", b"one" as &'static [u8]), ("a\u{1}2\u{2}", b"two"), ("b\u{1}9\u{2}", b"none"), ("a\u{1}3\u{2}", b"three")] {
        b.send(&send_request("TopicS", props, body)).await.expect("sent");
    }
    let PullStart::Now(Pulled::Read(r)) = b.pull(&sql("a > 1")).await.expect("pull") else { panic!("answered at once") };
    let got: Vec<Bytes> = decode_records(&r.messages).expect("records").into_iter().map(|m| m.body).collect();
    assert_eq!(got, [Bytes::from_static(b"two"), Bytes::from_static(b"three")]);
    assert_eq!(r.next_begin_offset, 4);
    let e = b.pull(&sql("a >")).await.err().expect("does not compile");
    assert_eq!(e.code, rs::SUBSCRIPTION_PARSE_FAILED);
    assert!(e.remark.contains("position 3"), "{}", e.remark);
}

/// The `n` of every message of queue 0 a SQL92 pull with `expr` gets, read to the end.
async fn sql_pulled(b: &Arc<Broker>, topic: &str, expr: &str) -> Vec<Option<String>> {
    let (mut offset, mut got) = (0, Vec::new());
    loop {
        let mut h = PullMessageRequestHeader::for_queue("CG", topic, 0, offset);
        h.subscription = Some(expr.to_string());
        h.expression_type = Some("SQL92".into());
        let PullStart::Now(Pulled::Read(r)) = b.pull(&h).await.expect("pull") else { panic!("answered at once") };
        for m in decode_records(&r.messages).expect("records") {
            got.push(Properties::parse(&m.properties).get("n").map(str::to_string));
        }
        if r.next_begin_offset >= r.max_offset {
            return got;
        }
        offset = r.next_begin_offset;
    }
}

#[tokio::test]
async fn sql92_pulls_judged_by_the_filter_bitmap_get_what_reading_gets() {
    use crate::sql92::bitmap::CHUNK;
    use store::{CqEntry, MessageFilter, Verdict};
    // Room for two chunks of words: the first of three is dropped.
    let on = broker_with(|c| {
        c.enable_property_filter = true;
        c.filter_bit_map_max_bytes = 2 * crate::sql92::bitmap::CHUNK_BYTES;
    })
    .await;
    let off = broker_with(|c| {
        c.enable_property_filter = true;
        c.enable_calc_filter_bit_map = false;
    })
    .await;
    // Message k: n = k % 10, none where k % 7 == 0.
    let n_of = |k: usize| (!k.is_multiple_of(7)).then(|| (k % 10).to_string());
    let send = |b: Arc<Broker>, ks: std::ops::Range<usize>| async move {
        for k in ks {
            let props = n_of(k).map_or("m\u{1}1\u{2}".to_string(), |n| format!("n\u{1}{n}\u{2}"));
            b.send(&send_request("TopicB", &props, b"x")).await.expect("sent");
        }
    };
    let total = 2 * CHUNK + 100;
    for f in [&on, &off] {
        f.broker.topics.ensure_system_topic("TopicB", 1);
        send(f.broker.clone(), 0..5).await;
        // The first pull with "n < 3" takes its slot: what is stored from now on is judged.
        assert_eq!(sql_pulled(&f.broker, "TopicB", "n < 3").await.len(), 2);
        send(f.broker.clone(), 5..total).await;
    }
    for expr in ["n < 3", "n = 5", "n IS NULL", "n BETWEEN 2 AND 4 OR n = 9"] {
        let want = sql_pulled(&off.broker, "TopicB", expr).await;
        assert!(!want.is_empty(), "{expr}");
        assert_eq!(sql_pulled(&on.broker, "TopicB", expr).await, want, "{expr}: the bitmap changes nothing that is kept");
    }
    assert_eq!(on.broker.filter_bitmaps.bytes(), 2 * crate::sql92::bitmap::CHUNK_BYTES, "within filterBitMapMaxBytes");
    assert_eq!(off.broker.filter_bitmaps.bytes(), 0);

    let verdicts = |expr: &str, topic: &str, first: usize, n: usize| {
        let filter = on.broker.subscription_filter(Some("SQL92"), Some(expr), None, super::filter::Via::Pull).expect("compiles");
        let entries = vec![CqEntry { phys_offset: 0, size: 0, tags_code: 0 }; n];
        let mut v = Vec::new();
        on.broker.read_filter("TopicB", &filter).judge(topic, 0, first as i64, &entries, &mut v);
        v
    };
    // Judged at dispatch: kept or dropped without a read.
    let last = 2 * CHUNK;
    let exact: Vec<Verdict> =
        (last..last + 20).map(|k| if n_of(k).is_some_and(|n| n.parse::<u32>().unwrap() < 3) { Verdict::Keep } else { Verdict::Drop }).collect();
    assert_eq!(verdicts("n < 3", "TopicB", last, 20), exact);
    // Before the slot was taken, in a dropped chunk, past the end, of another topic, or an
    // expression whose slot is newer than the words: read and checked.
    assert_eq!(verdicts("n < 3", "TopicB", 0, 5), vec![Verdict::Check; 5]);
    assert_eq!(verdicts("n < 3", "TopicB", CHUNK - 10, 5), vec![Verdict::Check; 5], "the oldest chunk was dropped");
    assert_eq!(verdicts("n < 3", "TopicB", total, 5), vec![Verdict::Check; 5]);
    assert_eq!(verdicts("n < 3", "Other", last, 5), vec![Verdict::Check; 5]);
    assert_eq!(verdicts("n = 7", "TopicB", last, 5), vec![Verdict::Check; 5]);

    // A read that holds a slot which is then given to another expression (33 more take the
    // topic's 32 slots) trusts no word judged after that: the bit means something else there.
    let held_filter = on.broker.subscription_filter(Some("SQL92"), Some("n < 3"), None, super::filter::Via::Pull).expect("compiles");
    let held = on.broker.read_filter("TopicB", &held_filter);
    for i in 0..33 {
        let f = on.broker.subscription_filter(Some("SQL92"), Some(&format!("n = {}", 100 + i)), None, super::filter::Via::Pull).expect("compiles");
        on.broker.read_filter("TopicB", &f);
    }
    send(on.broker.clone(), total..total + 5).await;
    let entries = vec![CqEntry { phys_offset: 0, size: 0, tags_code: 0 }; 5];
    let mut v = Vec::new();
    held.judge("TopicB", 0, total as i64, &entries, &mut v);
    assert_eq!(v, vec![Verdict::Check; 5]);

    // A deleted topic's words go with it.
    on.broker.store.delete_topic("TopicB").await.expect("deleted");
    assert_eq!(on.broker.filter_bitmaps.bytes(), 0);
}

#[tokio::test]
async fn a_parked_sql92_pull_steps_over_arrivals_that_do_not_match() {
    let f = broker_with(|c| c.enable_property_filter = true).await;
    let b = &f.broker;
    b.topics.ensure_system_topic("TopicW", 1);
    b.send(&send_request("TopicW", "a\u{1}first\u{2}", b"first")).await.expect("sent");
    let mut h = PullMessageRequestHeader::for_queue("CG", "TopicW", 0, 1).long_poll(10_000);
    h.subscription = Some("a = 'yes'".into());
    h.expression_type = Some("SQL92".into());
    let PullStart::Park(parking) = b.pull(&h).await.expect("pull") else { panic!("an empty queue parks") };
    let waiting = tokio::spawn(parking.wait(std::future::pending()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.send(&send_request("TopicW", "a\u{1}no\u{2}", b"no")).await.expect("sent");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "a non-matching arrival does not end the wait");
    b.send(&send_request("TopicW", "a\u{1}yes\u{2}", b"yes")).await.expect("sent");
    let Pulled::Read(r) = waiting.await.expect("task").expect("pull") else { panic!("read") };
    let got: Vec<Bytes> = decode_records(&r.messages).expect("records").into_iter().map(|m| m.body).collect();
    assert_eq!(got, [Bytes::from_static(b"yes")]);
    assert_eq!(r.next_begin_offset, 3);
}
