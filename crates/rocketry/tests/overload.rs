//! Overload: thousands of connections and floods of long-polling pulls are served within
//! bounds, and a well-behaved client keeps working meanwhile.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::codes::{request, response as rs};
use protocol::header::PullMessageRequestHeader;
use protocol::message::Properties;
use protocol::RemotingCommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap()
}

/// One request on an open connection; returns the response.
async fn ask(s: &mut TcpStream, cmd: &RemotingCommand) -> RemotingCommand {
    s.write_all(&cmd.encode_to_bytes()).await.unwrap();
    let mut buf = BytesMut::new();
    loop {
        if let Some(frame) = protocol::frame::take_frame(&mut buf, 1 << 20).unwrap() {
            return RemotingCommand::decode(frame).unwrap();
        }
        assert!(s.read_buf(&mut buf).await.unwrap() > 0, "the broker closed a connection");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_connections_are_served_while_others_work() {
    let cluster = common::Cluster::start().await;
    let addr = cluster.broker_addr();
    let client = cluster.client();
    client.send(&addr, "Crowd", 0, Bytes::from_static(b"first"), Properties::default()).await.unwrap();
    let before = rss_kib();

    const N: usize = 5000;
    let mut conns = Vec::with_capacity(N);
    for chunk in 0..N / 500 {
        let mut tasks = Vec::new();
        for _ in 0..500 {
            let addr = addr.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(&addr).await.unwrap();
                let q = RemotingCommand::request(request::GET_MAX_OFFSET).with_ext("topic", "Crowd").with_ext("queueId", 0);
                let r = ask(&mut s, &q).await;
                assert_eq!((r.code, r.ext_fields.get("offset")), (rs::SUCCESS, Some("1")));
                s
            }));
        }
        for t in tasks {
            conns.push(t.await.unwrap_or_else(|e| panic!("connection in chunk {chunk}: {e}")));
        }
    }
    assert_eq!(conns.len(), N);
    let grown = rss_kib().saturating_sub(before);
    eprintln!("{N} open connections: process RSS grew by {grown} KiB ({} B per connection, both ends)", grown * 1024 / N as u64);
    // Both ends live in this process; idle connections must not hold large buffers.
    assert!(grown < (N as u64) * 64, "RSS grew by {grown} KiB for {N} idle connections");

    // With all of them open, a normal client sends and pulls.
    let sent = client.send(&addr, "Crowd", 0, Bytes::from_static(b"second"), Properties::default()).await.unwrap();
    assert_eq!(sent.queue_offset, 1);
    let h = PullMessageRequestHeader::for_queue("crowd", "Crowd", 0, 0);
    let r = client.pull(&addr, &h).await.unwrap();
    assert_eq!(r.messages.iter().map(|m| m.body.clone()).collect::<Vec<_>>(), vec![Bytes::from_static(b"first"), Bytes::from_static(b"second")]);

    // Every one of them still answers.
    let mut tasks = Vec::new();
    for mut s in conns {
        tasks.push(tokio::spawn(async move {
            let q = RemotingCommand::request(request::GET_MAX_OFFSET).with_ext("topic", "Crowd").with_ext("queueId", 0);
            ask(&mut s, &q).await.ext_fields.get("offset").map(str::to_string)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().as_deref(), Some("2"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_long_polls_parks_at_most_max_parked_pulls() {
    let cluster = common::Cluster::start_with(|c| c.max_parked_pulls = 100).await;
    let addr = cluster.broker_addr();
    let client = std::sync::Arc::new(cluster.client());
    client.send(&addr, "Flood", 0, Bytes::from_static(b"m0"), Properties::default()).await.unwrap();
    let broker = cluster.broker.as_ref().unwrap().broker.clone();

    // 1,000 pulls waiting for the next message of queue 0, with a long suspend.
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut pulls = Vec::new();
    for _ in 0..1000 {
        let (client, addr, answered) = (client.clone(), addr.clone(), answered.clone());
        pulls.push(tokio::spawn(async move {
            let h = PullMessageRequestHeader::for_queue("flood", "Flood", 0, 1).long_poll(60_000);
            let r = client.pull(&addr, &h).await.unwrap();
            answered.fetch_add(1, Ordering::AcqRel);
            (r.code, r.messages.len())
        }));
    }
    // Those past the limit are answered at once (no new message); 100 stay parked.
    for _ in 0..600 {
        if answered.load(Ordering::Acquire) >= 900 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answered.load(Ordering::Acquire), 900, "all but the parked ones answered");
    assert_eq!(broker.parked_pulls.load(Ordering::Acquire), 100);

    // Meanwhile sends and a plain pull work; the new message wakes the parked pulls.
    client.send(&addr, "Flood", 0, Bytes::from_static(b"m1"), Properties::default()).await.unwrap();
    let mut found = 0;
    for p in pulls {
        let (code, n) = tokio::time::timeout(Duration::from_secs(30), p).await.expect("every pull answered").unwrap();
        if code == rs::SUCCESS && n == 1 {
            found += 1;
        } else {
            assert_eq!(code, rs::PULL_NOT_FOUND);
        }
    }
    assert_eq!(found, 100, "each parked pull got the new message");
    assert_eq!(broker.parked_pulls.load(Ordering::Acquire), 0);
}

/// A pull asking to be held for an hour is held at most `maxPullHoldMillis`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_is_held_at_most_max_pull_hold_ms() {
    let cluster = common::Cluster::start_with(|c| c.max_pull_hold_ms = 300).await;
    let addr = cluster.broker_addr();
    let client = cluster.client();
    client.send(&addr, "Hold", 0, Bytes::from_static(b"m0"), Properties::default()).await.unwrap();
    let h = PullMessageRequestHeader::for_queue("hold", "Hold", 0, 1).long_poll(3_600_000);
    let r = tokio::time::timeout(Duration::from_secs(20), client.pull(&addr, &h)).await.expect("answered within the cap, not after an hour").unwrap();
    assert_eq!(r.code, rs::PULL_NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_pulls_give_back_their_slots_when_the_connection_closes() {
    let cluster = common::Cluster::start().await;
    let addr = cluster.broker_addr();
    let client = std::sync::Arc::new(cluster.client());
    client.send(&addr, "Gone", 0, Bytes::from_static(b"m0"), Properties::default()).await.unwrap();
    let broker = cluster.broker.as_ref().unwrap().broker.clone();
    let mut pulls = Vec::new();
    for _ in 0..50 {
        let (client, addr) = (client.clone(), addr.clone());
        pulls.push(tokio::spawn(async move {
            let h = PullMessageRequestHeader::for_queue("gone", "Gone", 0, 1).long_poll(60_000);
            client.pull(&addr, &h).await
        }));
    }
    for _ in 0..200 {
        if broker.parked_pulls.load(Ordering::Acquire) == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(broker.parked_pulls.load(Ordering::Acquire), 50);
    // The consumer goes away: its 50 pulls must not hold slots for their 60 s.
    client.close();
    for _ in 0..200 {
        if broker.parked_pulls.load(Ordering::Acquire) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(broker.parked_pulls.load(Ordering::Acquire), 0, "slots given back when the connection closed");
    for p in pulls {
        assert!(p.await.unwrap().is_err(), "the closed client's pulls fail on its side");
    }
}
