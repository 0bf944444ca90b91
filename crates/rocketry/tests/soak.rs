//! A bounded soak, run by `bench/soak.sh` (ignored in `cargo test`): producers at a fixed
//! rate and long-polling consumers run against a `rocketry standalone` that is restarted
//! every so often, alternately with SIGKILL and SIGTERM. Every message carries its sender
//! and sequence number; at the end every acknowledged message must have been consumed (no
//! loss), in order per queue, and duplicates may come only from sends whose answer was lost.
//!
//! Settings (environment): ROCKETRY_SOAK_SECS (1800), ROCKETRY_SOAK_RATE (2000 msgs/s in
//! all), ROCKETRY_SOAK_RESTART_SECS (60), ROCKETRY_SOAK_FLUSH (ASYNC_FLUSH or SYNC_FLUSH).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use client::Client;
use common::process::Server;
use protocol::codes::response as rs;
use protocol::header::PullMessageRequestHeader;
use protocol::message::Properties;

const SENDERS: i32 = 4;
const TOPIC: &str = "SoakTopic";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn body(sender: i32, seq: u64) -> Bytes {
    let pad = "s".repeat((seq as usize * 31 + sender as usize * 7) % 900);
    Bytes::from(format!("{sender}:{seq}:{pad}"))
}

#[derive(Default)]
struct Tally {
    /// Per sender: acknowledged sequence numbers.
    acked: Vec<Vec<u64>>,
    /// Per queue (= sender): sequence numbers in the order consumed.
    consumed: Vec<Vec<u64>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a long soak; run bench/soak.sh"]
async fn soak() {
    let secs = setting("ROCKETRY_SOAK_SECS", 1800);
    let rate = setting("ROCKETRY_SOAK_RATE", 2000).max(SENDERS as u64);
    let restart_every = Duration::from_secs(setting("ROCKETRY_SOAK_RESTART_SECS", 60).max(5));
    let flush = std::env::var("ROCKETRY_SOAK_FLUSH").unwrap_or_else(|_| "ASYNC_FLUSH".into());
    let tmp = tempfile::tempdir().unwrap();
    let conf = format!("flushDiskType={flush}\nmappedFileSizeCommitLog=67108864\ndefaultTopicQueueNums={SENDERS}\ndiskCapacityBytes=1099511627776\n");
    let mut server = Server::new(tmp.path(), &conf);
    server.start();
    let (namesrv, broker) = (server.namesrv(), server.broker());
    let client = Arc::new(Client::new(vec![namesrv.clone()]));
    for _ in 0..200 {
        if client.send(&broker, TOPIC, 0, Bytes::from_static(b"init"), Properties::default()).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tally = Arc::new(Mutex::new(Tally { acked: vec![Vec::new(); SENDERS as usize], consumed: vec![Vec::new(); SENDERS as usize] }));
    let (producing, consuming) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicBool::new(true)));
    let unknown = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    let mut tasks = Vec::new();
    for sender in 0..SENDERS {
        let (client, broker, tally, producing, unknown) = (client.clone(), broker.clone(), tally.clone(), producing.clone(), unknown.clone());
        let interval = Duration::from_nanos(1_000_000_000 * SENDERS as u64 / rate);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq = 0u64;
            while producing.load(Ordering::Acquire) {
                tick.tick().await;
                let mut p = Properties::default();
                p.set("KEYS", format!("{sender}-{seq}"));
                match client.send(&broker, TOPIC, sender, body(sender, seq), p).await {
                    Ok(_) => {
                        tally.lock().unwrap().acked[sender as usize].push(seq);
                        seq += 1;
                    }
                    // Unknown outcome (the broker went away): send the same seq again.
                    Err(_) => {
                        unknown.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    for queue in 0..SENDERS {
        let (client, broker, tally, consuming) = (client.clone(), broker.clone(), tally.clone(), consuming.clone());
        tasks.push(tokio::spawn(async move {
            let mut offset = 0;
            while consuming.load(Ordering::Acquire) {
                let h = PullMessageRequestHeader::for_queue("soak", TOPIC, queue, offset).long_poll(1000);
                let r = match client.pull(&broker, &h).await {
                    Ok(r) => r,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let mut seqs = Vec::new();
                for m in &r.messages {
                    seqs.extend(common::process::checked_seq(m, queue, body));
                }
                tally.lock().unwrap().consumed[queue as usize].extend(seqs);
                if r.code == rs::SUCCESS || r.code == rs::PULL_OFFSET_MOVED {
                    offset = r.header.next_begin_offset;
                }
            }
        }));
    }

    let (mut kills, mut stops) = (0, 0);
    let deadline = started + Duration::from_secs(secs);
    while Instant::now() + restart_every < deadline {
        tokio::time::sleep(restart_every).await;
        if (kills + stops) % 2 == 0 {
            server.kill();
            kills += 1;
        } else {
            server.stop();
            stops += 1;
        }
        server.start();
        let t = tally.lock().unwrap();
        eprintln!(
            "soak: {:>5}s, restart {} ({kills} SIGKILL, {stops} SIGTERM), {} acked, {} consumed",
            started.elapsed().as_secs(),
            kills + stops,
            t.acked.iter().map(Vec::len).sum::<usize>(),
            t.consumed.iter().map(Vec::len).sum::<usize>()
        );
    }
    tokio::time::sleep(deadline.saturating_duration_since(Instant::now())).await;
    producing.store(false, Ordering::Release);
    // Let the consumers catch up with everything acknowledged, then stop them.
    let catch_up = Instant::now() + Duration::from_secs(120);
    loop {
        let done = {
            let t = tally.lock().unwrap();
            (0..SENDERS as usize).all(|q| t.acked[q].last().is_none_or(|last| t.consumed[q].contains(last)))
        };
        if done || Instant::now() > catch_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    consuming.store(false, Ordering::Release);
    for t in tasks {
        t.await.unwrap();
    }
    server.stop();

    let t = tally.lock().unwrap();
    let (mut acked, mut consumed, mut lost, mut duplicates) = (0, 0, 0, 0);
    for q in 0..SENDERS as usize {
        let mut count: HashMap<u64, u32> = HashMap::new();
        let mut max = 0;
        for s in &t.consumed[q] {
            assert!(*s >= max, "queue {q}: seq {s} consumed after {max}");
            max = max.max(*s);
            *count.entry(*s).or_default() += 1;
        }
        duplicates += count.values().map(|c| (c - 1) as u64).sum::<u64>();
        lost += t.acked[q].iter().filter(|s| !count.contains_key(s)).count();
        acked += t.acked[q].len();
        consumed += t.consumed[q].len();
    }
    let unknown = unknown.load(Ordering::Relaxed);
    let summary = serde_json::json!({"seconds": started.elapsed().as_secs(), "flush": flush, "rate": rate, "restarts_sigkill": kills,
        "restarts_sigterm": stops, "acked": acked, "consumed": consumed, "lost": lost, "duplicates": duplicates, "sends_with_unknown_outcome": unknown});
    eprintln!("soak summary: {summary}");
    assert_eq!(lost, 0, "acknowledged messages lost: {summary}");
    assert!(duplicates <= unknown, "more duplicates than sends whose answer was lost: {summary}");
    assert!(acked > 0, "{summary}");
}
