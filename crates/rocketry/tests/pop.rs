//! POP over the wire, with our client speaking the raw protocol: the codes of bad requests,
//! long polling, orderly POP with failures and a consumer restart (no order violation), and
//! SIGKILL with messages in flight (none lost; the unacknowledged come back, counted).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use client::{Client, ClientError, Popped};
use protocol::codes::{request as rq, response as rs};
use protocol::message::Properties;
use protocol::pop::{ExtraInfo, PopMessageRequestHeader};
use protocol::RemotingCommand;

use common::process::Server;

const BROKER: &str = "broker-a";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn pop_header(group: &str, topic: &str, queue_id: i32, max: i32, invisible: i64, poll: i64) -> PopMessageRequestHeader {
    PopMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        max_msg_nums: max,
        invisible_time: invisible,
        poll_time: poll,
        born_time: now_ms(),
        init_mode: 0,
        ..Default::default()
    }
}

fn body_of(p: &Popped) -> String {
    String::from_utf8_lossy(&p.message.body).to_string()
}

async fn send_to(client: &Client, addr: &str, topic: &str, queue_id: i32, body: String) {
    client.send(addr, topic, queue_id, Bytes::from(body), Properties::default()).await.unwrap();
}

fn code_of(r: Result<impl std::fmt::Debug, ClientError>) -> i32 {
    match r {
        Err(ClientError::Server { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_java_codes_and_a_waiting_pop_wakes_on_arrival() {
    let c = common::Cluster::start().await;
    let (client, addr) = (c.client(), c.broker_addr());
    send_to(&client, &addr, "PopWire", 0, "first".into()).await;
    let got = client.pop(&addr, BROKER, &pop_header("wire", "PopWire", -1, 32, 30_000, 0)).await.unwrap();
    assert_eq!(got.messages.iter().map(body_of).collect::<Vec<_>>(), ["first"]);
    let handle = got.messages[0].handle.clone();

    // An empty queue and no wait: POLLING_TIMEOUT, never PULL_NOT_FOUND.
    let empty = client.pop(&addr, BROKER, &pop_header("wire", "PopWire", -1, 32, 30_000, 0)).await.unwrap();
    assert_eq!((empty.code, empty.messages.len()), (rs::POLLING_TIMEOUT, 0));
    // A pop that waits gets what arrives meanwhile.
    let waiting = {
        let (client, addr) = (c.client(), addr.clone());
        tokio::spawn(async move { client.pop(&addr, BROKER, &pop_header("wire", "PopWire", -1, 32, 30_000, 10_000)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_at = Instant::now();
    send_to(&client, &addr, "PopWire", 1, "second".into()).await;
    let woken = waiting.await.unwrap().unwrap();
    assert_eq!(woken.messages.iter().map(body_of).collect::<Vec<_>>(), ["second"]);
    assert!(sent_at.elapsed() < Duration::from_secs(5), "woken by the arrival, not the poll time");

    assert_eq!(code_of(client.pop(&addr, BROKER, &pop_header("wire", "PopWire", -1, 33, 30_000, 0)).await), rs::INVALID_PARAMETER);
    assert_eq!(code_of(client.pop(&addr, BROKER, &pop_header("wire", "NoSuchTopic", -1, 1, 30_000, 0)).await), rs::TOPIC_NOT_EXIST);
    assert_eq!(code_of(client.pop(&addr, BROKER, &pop_header("wire", "PopWire", 99, 1, 30_000, 0)).await), rs::INVALID_PARAMETER);
    let mut late = pop_header("wire", "PopWire", -1, 1, 30_000, 1000);
    late.born_time -= 10_000;
    let too_late = client.pop(&addr, BROKER, &late).await.unwrap();
    assert_eq!((too_late.code, too_late.header.pop_time), (rs::POLLING_TIMEOUT, 0), "timeout too much: refused, with a zeroed header");

    let beyond = ExtraInfo { queue_offset: Some(99), ..handle.clone() };
    assert_eq!(code_of(client.ack(&addr, "wire", "PopWire", &beyond).await), rs::NO_MESSAGE);
    let no_queue = ExtraInfo { queue_id: 77, ..handle.clone() };
    assert_eq!(code_of(client.ack(&addr, "wire", "PopWire", &no_queue).await), rs::MESSAGE_ILLEGAL);
    let malformed = RemotingCommand::request(rq::ACK_MESSAGE)
        .with_ext("consumerGroup", "wire")
        .with_ext("topic", "PopWire")
        .with_ext("queueId", 0)
        .with_ext("offset", 0)
        .with_ext("extraInfo", "0 not-a-time");
    assert_eq!(client.invoke(&addr, malformed).await.unwrap().code, rs::SYSTEM_ERROR);
    client.ack(&addr, "wire", "PopWire", &handle).await.unwrap();
    client.ack(&addr, "wire", "PopWire", &handle).await.expect("a double ack answers OK");
    assert_eq!(code_of(client.change_invisible_time(&addr, "wire", "PopWire", &handle, 5000).await), rs::NO_MESSAGE);

    let mode = |topic: &str| {
        RemotingCommand::request(rq::SET_MESSAGE_REQUEST_MODE)
            .with_body(format!(r#"{{"consumerGroup":"wire","mode":"POP","popShareQueueNum":0,"topic":"{topic}"}}"#).into_bytes())
    };
    assert_eq!(client.invoke(&addr, mode("%RETRY%wire")).await.unwrap().code, rs::NO_PERMISSION);
    assert_eq!(client.invoke(&addr, mode("Nope")).await.unwrap().code, rs::TOPIC_NOT_EXIST);
    assert_eq!(client.invoke(&addr, mode("PopWire")).await.unwrap().code, rs::SUCCESS);
    let unknown = RemotingCommand::request(rq::BATCH_ACK_MESSAGE);
    assert_eq!(client.invoke(&addr, unknown).await.unwrap().code, rs::NO_MESSAGE, "an empty batch ack");
    let notification = RemotingCommand::request(rq::NOTIFICATION)
        .with_ext("consumerGroup", "wire")
        .with_ext("topic", "PopWire")
        .with_ext("queueId", -1)
        .with_ext("pollTime", 0)
        .with_ext("bornTime", now_ms());
    let n = client.invoke(&addr, notification).await.unwrap();
    assert_eq!((n.code, n.ext_fields.get("hasMsg")), (rs::SUCCESS, Some("false")));
}

/// Three keys, each on its own queue, five messages each. The consumer fails about a third of
/// what it gets (no ack), and is replaced by a new one (new connections) halfway. Whenever a
/// message is handed out, every earlier message of its queue has been acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderly_pop_keeps_queue_order_across_redeliveries_and_a_consumer_restart() {
    let c = common::Cluster::start().await;
    let addr = c.broker_addr();
    let producer = c.client();
    for seq in 0..5 {
        for key in 0..3 {
            send_to(&producer, &addr, "PopOrder", key, format!("{key}:{seq}")).await;
        }
    }
    let mut acked: BTreeMap<i32, BTreeSet<i32>> = BTreeMap::new();
    let mut deliveries = 0;
    let mut seed = 0x9E37_79B9u64;
    let mut client = c.client();
    let end = Instant::now() + Duration::from_secs(60);
    while acked.values().map(BTreeSet::len).sum::<usize>() < 15 {
        assert!(Instant::now() < end, "not all acknowledged: {acked:?}");
        if deliveries == 12 {
            client.close();
            client = c.client();
        }
        let mut h = pop_header("ordered", "PopOrder", -1, 3, 1000, 0);
        h.order = true;
        let got = client.pop(&addr, BROKER, &h).await.unwrap();
        if got.messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(got.header.revive_qid, 999);
        // Within a batch a queue's messages come in order; after a failure the consumer
        // acknowledges nothing more of that queue (as an orderly consumer does).
        let mut batch: BTreeMap<i32, BTreeSet<i32>> = BTreeMap::new();
        let mut failed: BTreeSet<i32> = BTreeSet::new();
        for p in &got.messages {
            deliveries += 1;
            let (key, seq) = body_of(p).split_once(':').map(|(k, s)| (k.parse::<i32>().unwrap(), s.parse::<i32>().unwrap())).unwrap();
            let done = acked.entry(key).or_default();
            let before = batch.entry(key).or_default();
            assert!((0..seq).all(|s| done.contains(&s) || before.contains(&s)), "{key}:{seq} handed out before its predecessors were acknowledged: {done:?}");
            before.insert(seq);
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if !seed.is_multiple_of(3) && !failed.contains(&key) {
                client.ack(&addr, "ordered", "PopOrder", &p.handle).await.unwrap();
                done.insert(seq);
            } else {
                failed.insert(key);
            }
        }
    }
    assert!(deliveries > 15, "some failures were redelivered ({deliveries} deliveries)");
}

const CRASH_CONF: &str = "mappedFileSizeCommitLog=1048576\nmaxMessageSize=65536\ndiskCapacityBytes=1099511627776\nflushConsumerOffsetInterval=60000\n";

/// Pops until `within` passes; returns body → reconsume times of each delivery.
async fn drain(client: &Client, addr: &str, within: Duration) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let end = Instant::now() + within;
    while Instant::now() < end {
        let got = client.pop(addr, BROKER, &pop_header("crash", "PopCrash", -1, 32, 60_000, 500)).await.unwrap();
        for p in got.messages {
            out.push((body_of(&p), p.message.reconsume_times));
            client.ack(addr, "crash", "PopCrash", &p.handle).await.unwrap();
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_the_unacknowledged_come_back_and_the_acknowledged_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::new(tmp.path(), CRASH_CONF);
    let client = server.start_ready().await;
    let addr = server.broker();
    for i in 0..20 {
        send_to(&client, &addr, "PopCrash", i % 4, format!("m{i:02}")).await;
    }
    let mut in_flight = Vec::new();
    while in_flight.len() < 20 {
        let got = client.pop(&addr, BROKER, &pop_header("crash", "PopCrash", -1, 8, 3000, 1000)).await.unwrap();
        in_flight.extend(got.messages);
    }
    let mut unacked = BTreeSet::new();
    for (i, p) in in_flight.iter().enumerate() {
        if i % 2 == 0 {
            client.ack(&addr, "crash", "PopCrash", &p.handle).await.unwrap();
        } else {
            unacked.insert(body_of(p));
        }
    }
    // The offsets were never written (flushConsumerOffsetInterval is a minute): only the
    // journal knows how far the group got.
    let client = server.crash_and_restart(&client).await;
    for i in 20..25 {
        send_to(&client, &addr, "PopCrash", i % 4, format!("m{i:02}")).await;
    }
    let got = drain(&client, &addr, Duration::from_secs(8)).await;
    let mut want: Vec<(String, i32)> = unacked.iter().map(|b| (b.clone(), 1)).collect();
    want.extend((20..25).map(|i| (format!("m{i:02}"), 0)));
    want.sort();
    let mut got = got;
    got.sort();
    assert_eq!(got, want, "the 10 unacknowledged once more (reconsume 1), the 5 new once, nothing acknowledged again");
}
