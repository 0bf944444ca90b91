//! Delay levels, consumer send-back to the retry topic, and the dead-letter queue.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use client::Client;
use protocol::codes::{request as rq, response as rs};
use protocol::header::PullMessageRequestHeader;
use protocol::message::{prop, MessageRecord, Properties};
use protocol::RemotingCommand;

fn pull(topic: &str, queue_id: i32, offset: i64) -> PullMessageRequestHeader {
    PullMessageRequestHeader::for_queue("retry_check", topic, queue_id, offset)
}

/// Waits until a message shows up at offset 0 of the topic's queue 0.
async fn first_message(client: &Client, addr: &str, topic: &str, within: Duration) -> MessageRecord {
    let end = Instant::now() + within;
    loop {
        if let Ok(r) = client.pull(addr, &pull(topic, 0, 0)).await {
            if let Some(m) = r.messages.into_iter().next() {
                return m;
            }
        }
        assert!(Instant::now() < end, "nothing arrived in {topic}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_levels_retry_and_dead_letters() {
    let cluster = common::Cluster::start_with(|c| {
        c.delay_levels = broker::put::DelayLevels::parse(&"1s ".repeat(18)).unwrap();
    })
    .await;
    let addr = cluster.broker_addr();
    let client = cluster.client();

    // A delayed message is not there at once, and arrives after its delay.
    let mut p = Properties::default();
    p.set(prop::DELAY, "2");
    p.set("user", "kept");
    let sent_at = Instant::now();
    client.send(&addr, "DelayTopic", 0, Bytes::from_static(b"later"), p).await.unwrap();
    let r = client.pull(&addr, &pull("DelayTopic", 0, 0)).await.unwrap();
    assert_ne!(r.code, rs::SUCCESS, "not delivered before its time");
    let m = first_message(&client, &addr, "DelayTopic", Duration::from_secs(15)).await;
    assert!(sent_at.elapsed() >= Duration::from_millis(900), "delivered after its delay");
    assert_eq!(&m.body[..], b"later");
    let props = Properties::parse(&m.properties);
    assert_eq!(props.get("user"), Some("kept"));
    // Delivered with its markers, as the Java broker does: MessageExt.getDelayTimeLevel() is 2.
    assert_eq!((props.get(prop::DELAY), props.get("REAL_TOPIC"), props.get("REAL_QID")), (Some("2"), Some("DelayTopic"), Some("0")));

    // Send back once: it goes to %RETRY% with reconsume count 1 after a delay.
    let back = |offset: i64| {
        RemotingCommand::request(rq::CONSUMER_SEND_MSG_BACK)
            .with_ext("offset", offset)
            .with_ext("group", "retry_group")
            .with_ext("delayLevel", 0)
            .with_ext("maxReconsumeTimes", 1)
    };
    assert_eq!(client.invoke(&addr, back(m.physical_offset)).await.unwrap().code, rs::SUCCESS);
    let retried = first_message(&client, &addr, "%RETRY%retry_group", Duration::from_secs(15)).await;
    assert_eq!(retried.reconsume_times, 1);
    assert_eq!(&retried.body[..], b"later");
    let rp = Properties::parse(&retried.properties);
    assert_eq!(rp.get(prop::RETRY_TOPIC), Some("DelayTopic"));
    // The looked-up message's msgId (its offset msgId), as the Java broker sets it.
    assert_eq!(rp.get("ORIGIN_MESSAGE_ID"), Some(m.msg_id().as_str()));

    // Past maxReconsumeTimes it goes to the DLQ, at once.
    assert_eq!(client.invoke(&addr, back(retried.physical_offset)).await.unwrap().code, rs::SUCCESS);
    let dead = first_message(&client, &addr, "%DLQ%retry_group", Duration::from_secs(5)).await;
    assert_eq!(&dead.body[..], b"later");
    assert_eq!(dead.reconsume_times, 2);
    assert_eq!(Properties::parse(&dead.properties).get(prop::RETRY_TOPIC), Some("DelayTopic"));

    // A bad offset is an error, not a crash.
    let r = client.invoke(&addr, back(123_456_789)).await.unwrap();
    assert_eq!(r.code, rs::SYSTEM_ERROR);
}

/// Delay progress is saved at a clean shutdown: messages released just before a restart are
/// not released again after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_delayed_messages_are_not_released_again_after_a_clean_restart() {
    let mut cluster = common::Cluster::start_with(|c| {
        c.delay_levels = broker::put::DelayLevels::parse(&"1s ".repeat(18)).unwrap();
    })
    .await;
    let addr = cluster.broker_addr();
    let client = cluster.client();
    for i in 0..20 {
        let mut p = Properties::default();
        p.set(prop::DELAY, "1");
        client.send(&addr, "DelayRestart", 0, Bytes::from(format!("d-{i}")), p).await.unwrap();
    }
    let count = |r: &client::PullResult| r.messages.len();
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let r = client.pull(&addr, &pull("DelayRestart", 0, 0)).await.unwrap();
        if count(&r) == 20 {
            break;
        }
        assert!(Instant::now() < end, "not all released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // At once, inside the scheduler's one-second save interval.
    cluster.restart_broker().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = client.pull(&addr, &pull("DelayRestart", 0, 0)).await.unwrap();
    let bodies: Vec<String> = r.messages.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(bodies.len(), 20, "released once each: {bodies:?}");
}
