//! Timer messages across a SIGKILL: none pending is lost; one delivered before the crash may
//! come again only if its delivery was not yet journaled (counted, never more than once more).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use client::Client;
use protocol::message::Properties;

use common::process::Server;

const CONF: &str = "mappedFileSizeCommitLog=1048576\nmaxMessageSize=65536\ndiskCapacityBytes=1099511627776\nflushConsumerOffsetInterval=60000\n";
const TOPIC: &str = "TimerCrash";

async fn delivered(client: &Client, addr: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in common::process::read_queue(client, addr, TOPIC, 0).await {
        *counts.entry(String::from_utf8_lossy(&m.body).into_owned()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_timers_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::new(tmp.path(), CONF);
    let client = server.start_ready().await;
    let addr = server.broker();
    common::process::one_queue_topic(&client, &addr, TOPIC).await;
    // Half due at once-ish (before the kill), half after the restart.
    for i in 0..40 {
        let mut props = Properties::default();
        props.set("TIMER_DELAY_MS", if i % 2 == 0 { "300" } else { "2500" });
        client.send(&addr, TOPIC, 0, Bytes::from(format!("t{i:02}")), props).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(delivered(&client, &addr).await.len(), 20, "the early half delivered before the kill");
    let client = server.crash_and_restart(&client).await;
    let mut got = BTreeMap::new();
    for _ in 0..100 {
        got = delivered(&client, &addr).await;
        if got.len() == 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 40, "every timer delivered: {got:?}");
    let repeated: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(got.values().all(|n| *n <= 2), "at most once more, across the crash: {repeated:?}");
    assert!(got.iter().filter(|(k, _)| k[1..].parse::<u32>().unwrap() % 2 == 1).all(|(_, n)| *n == 1), "the late half exactly once");
}
