//! Nothing acknowledged is lost: a SYNC_FLUSH broker is killed with SIGKILL at random
//! moments while senders run; after each restart, and at the end, every acknowledged
//! message is there, in order per queue, with an intact body.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use client::Client;
use protocol::codes::response as rs;
use protocol::header::PullMessageRequestHeader;
use protocol::message::Properties;

const SENDERS: i32 = 4;
const KILLS: usize = 10;
const TOPIC: &str = "CrashTopic";

mod common;

use common::process::Server;

/// What the senders saw acknowledged: sender -> seq -> queue offset.
type Acked = Arc<Mutex<BTreeMap<i32, BTreeMap<u64, i64>>>>;

fn body(sender: i32, seq: u64) -> Bytes {
    // Varying sizes so records straddle segment ends in different places.
    let pad = "x".repeat((seq as usize * 37 + sender as usize * 11) % 700);
    Bytes::from(format!("{sender}:{seq}:{pad}"))
}

async fn wait_ready(client: &Client, broker: &str) {
    for _ in 0..200 {
        if client.route(TOPIC).await.is_ok() && client.query_consumer_offset(broker, "probe", TOPIC, 0).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("broker did not come back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::new(
        tmp.path(),
        "flushDiskType=SYNC_FLUSH\nmappedFileSizeCommitLog=262144\nmaxMessageSize=65536\nmappedFileSizeConsumeQueue=2000\ndefaultTopicQueueNums=4\ndiskCapacityBytes=1099511627776\n",
    );
    server.start();
    let broker = server.broker();
    let acked: Acked = Arc::default();
    let mut next_seq: BTreeMap<i32, u64> = (0..SENDERS).map(|s| (s, 0)).collect();
    // A seeded generator so a failure can be replayed.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut attempted_unacked = 0u64;

    for round in 0..=KILLS {
        let client = Arc::new(Client::new(vec![server.namesrv()]));
        if round == 0 {
            wait_ready_topic(&client, &broker).await;
        }
        wait_ready(&client, &broker).await;
        let mut tasks = Vec::new();
        for sender in 0..SENDERS {
            let (client, broker, acked) = (client.clone(), broker.clone(), acked.clone());
            let start = next_seq[&sender];
            tasks.push(tokio::spawn(async move {
                let mut seq = start;
                loop {
                    let mut p = Properties::default();
                    p.set("KEYS", format!("{sender}-{seq}"));
                    match client.send(&broker, TOPIC, sender, body(sender, seq), p).await {
                        Ok(r) => {
                            acked.lock().unwrap().entry(sender).or_default().insert(seq, r.queue_offset);
                            seq += 1;
                        }
                        // The broker died under us: this seq is unknown, the next round resends it.
                        Err(_) => return (seq, true),
                    }
                    if seq - start >= 500 {
                        return (seq, false);
                    }
                }
            }));
        }
        if round < KILLS {
            tokio::time::sleep(Duration::from_millis(150 + rand() % 600)).await;
            server.kill();
        }
        for (sender, t) in tasks.into_iter().enumerate() {
            let (seq, interrupted) = t.await.unwrap();
            attempted_unacked += interrupted as u64;
            next_seq.insert(sender as i32, seq);
        }
        client.close();
        if round < KILLS {
            server.start();
        }
    }

    let client = Client::new(vec![server.namesrv()]);
    wait_ready(&client, &broker).await;
    let acked = acked.lock().unwrap().clone();
    let mut total_acked = 0;
    let mut duplicates = 0;
    for sender in 0..SENDERS {
        let stored = read_queue(&client, &broker, sender).await;
        // Order per queue: sequence numbers never go backwards. A resend of a message whose
        // acknowledgement the crash swallowed repeats the last one, nothing older.
        let mut seen = BTreeSet::new();
        for (_, seq) in &stored {
            if !seen.insert(*seq) {
                duplicates += 1;
            }
        }
        let seqs: Vec<u64> = stored.iter().map(|(_, s)| *s).collect();
        let mut max = 0;
        for s in &seqs {
            assert!(*s >= max, "sender {sender}: seq {s} after {max}");
            max = max.max(*s);
        }
        let by_offset: BTreeMap<i64, u64> = stored.iter().copied().collect();
        for (seq, offset) in &acked[&sender] {
            total_acked += 1;
            assert_eq!(by_offset.get(offset), Some(seq), "sender {sender}: acknowledged seq {seq} at offset {offset} lost");
        }
    }
    eprintln!("crash test: {KILLS} SIGKILLs, {total_acked} acknowledged, 0 lost, {duplicates} duplicates, {attempted_unacked} sends interrupted");
    assert!(total_acked > 100, "the test sent too little to mean anything: {total_acked}");
}

async fn wait_ready_topic(client: &Client, broker: &str) {
    for _ in 0..200 {
        if client.send(broker, TOPIC, 0, Bytes::from_static(b"init"), Properties::default()).await.is_ok() {
            // The first message is sender 0's "init" record; read_queue skips it.
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("broker did not start");
}

/// Reads a whole queue, checking every body's CRC and content: (queue offset, seq).
async fn read_queue(client: &Client, broker: &str, queue: i32) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let h = PullMessageRequestHeader::for_queue("crash_check", TOPIC, queue, offset);
        let r = client.pull(broker, &h).await.unwrap();
        if r.code != rs::SUCCESS {
            return out;
        }
        for m in &r.messages {
            if let Some(seq) = common::process::checked_seq(m, queue, body) {
                out.push((m.queue_offset, seq));
            }
        }
        offset = r.header.next_begin_offset;
    }
}
