//! Transactions across a SIGKILL: a half message left undecided is still undecided after the
//! restart (and can be committed, once), a committed one is not delivered again, a rolled-back
//! one never. Driven with raw requests: the Rust client has no transactional producer.

mod common;

use std::time::Duration;

use bytes::Bytes;
use client::{Client, SendResult};
use protocol::codes::request as rq;
use protocol::header::PullMessageRequestHeader;
use protocol::message::{decode_offset_msg_id, sys_flag, Properties};
use protocol::RemotingCommand;

use common::process::Server;

const CONF: &str =
    "mappedFileSizeCommitLog=1048576\nmaxMessageSize=65536\ndiskCapacityBytes=1099511627776\nflushConsumerOffsetInterval=60000\nflushDiskType=SYNC_FLUSH\n";
const TOPIC: &str = "TxCrash";
const GROUP: &str = "TxCrashGroup";

async fn half(client: &Client, addr: &str, body: &str) -> SendResult {
    let mut props = Properties::default();
    props.set("TRAN_MSG", "true");
    props.set("PGROUP", GROUP);
    client.send(addr, TOPIC, 0, Bytes::from(body.to_string()), props).await.unwrap()
}

async fn end(client: &Client, addr: &str, sent: &SendResult, decision: i32) -> RemotingCommand {
    let (_, commit_log_offset) = decode_offset_msg_id(&sent.offset_msg_id).expect("an offset message id");
    let cmd = RemotingCommand::request(rq::END_TRANSACTION)
        .with_ext("producerGroup", GROUP)
        .with_ext("tranStateTableOffset", sent.queue_offset)
        .with_ext("commitLogOffset", commit_log_offset)
        .with_ext("commitOrRollback", decision)
        .with_ext("fromTransactionCheck", false)
        .with_ext("msgId", &sent.msg_id);
    client.invoke(addr, cmd).await.unwrap()
}

async fn bodies(client: &Client, addr: &str) -> Vec<String> {
    common::process::read_queue(client, addr, TOPIC, 0).await.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::new(tmp.path(), CONF);
    let client = server.start_ready().await;
    let addr = server.broker();
    common::process::one_queue_topic(&client, &addr, TOPIC).await;
    let committed = half(&client, &addr, "committed").await;
    let rolled_back = half(&client, &addr, "rolled-back").await;
    let open = half(&client, &addr, "open").await;
    assert_eq!(end(&client, &addr, &committed, sys_flag::TRANSACTION_COMMIT).await.code, 0);
    assert_eq!(end(&client, &addr, &rolled_back, sys_flag::TRANSACTION_ROLLBACK).await.code, 0);
    assert_eq!(bodies(&client, &addr).await, ["committed"]);
    let client = server.crash_and_restart(&client).await;
    assert_eq!(bodies(&client, &addr).await, ["committed"], "nothing decided changed; the open one still invisible");
    assert_ne!(end(&client, &addr, &committed, sys_flag::TRANSACTION_COMMIT).await.code, 0, "committed before the crash: not again");
    assert_ne!(end(&client, &addr, &rolled_back, sys_flag::TRANSACTION_COMMIT).await.code, 0, "rolled back before the crash: never");
    assert_eq!(end(&client, &addr, &open, sys_flag::TRANSACTION_COMMIT).await.code, 0, "undecided across the crash: can be committed");
    assert_eq!(bodies(&client, &addr).await, ["committed", "open"]);
}

/// SIGKILL while decisions stream in: afterwards every transaction is decided again (as
/// producers answering check-backs would); each committed message is in its topic exactly once,
/// no rolled-back one ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_stream_of_decisions_loses_and_duplicates_nothing() {
    const N: usize = 300;
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::new(tmp.path(), CONF);
    let client = std::sync::Arc::new(server.start_ready().await);
    let addr = server.broker();
    common::process::one_queue_topic(&client, &addr, TOPIC).await;
    let mut halves = Vec::new();
    for i in 0..N {
        halves.push(half(&client, &addr, &format!("m{i:03}")).await);
    }
    let decide = |client: std::sync::Arc<Client>, halves: Vec<SendResult>| {
        let addr = addr.clone();
        async move {
            let mut decided = 0;
            for (i, h) in halves.iter().enumerate() {
                let d = if i % 2 == 0 { sys_flag::TRANSACTION_COMMIT } else { sys_flag::TRANSACTION_ROLLBACK };
                let (_, phys) = decode_offset_msg_id(&h.offset_msg_id).unwrap();
                let cmd = RemotingCommand::request(rq::END_TRANSACTION)
                    .with_ext("producerGroup", GROUP)
                    .with_ext("tranStateTableOffset", h.queue_offset)
                    .with_ext("commitLogOffset", phys)
                    .with_ext("commitOrRollback", d)
                    .with_ext("fromTransactionCheck", true);
                if client.invoke(&addr, cmd).await.is_ok() {
                    decided += 1;
                }
            }
            decided
        }
    };
    let stream = tokio::spawn(decide(client.clone(), halves.clone()));
    // Kill once some decisions are in (the topic grows), while the rest stream in.
    for _ in 0..400 {
        if client.pull_raw(&addr, &PullMessageRequestHeader::for_queue("probe", TOPIC, 0, 0)).await.map(|r| r.header.max_offset).unwrap_or(0) >= 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    let before = stream.await.unwrap();
    assert!(before < N, "the kill came before all decisions ({before})");
    let client = std::sync::Arc::new(server.crash_and_restart(&client).await);
    decide(client.clone(), halves).await;
    let mut got = bodies(&client, &addr).await;
    got.sort();
    let want: Vec<String> = (0..N).step_by(2).map(|i| format!("m{i:03}")).collect();
    assert_eq!(got, want, "every committed message once, no rolled-back one");
}
