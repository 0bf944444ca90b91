//! Master/slave replication between two `rocketry` processes on loopback: a replica copies
//! the master's CommitLog byte for byte, serves reads, refuses writes, follows its topics,
//! catches up after a SIGKILL, and a SYNC_MASTER answers a send only once a replica holds it.

use std::time::Duration;

use bytes::Bytes;
use client::{Client, ClientError};
use protocol::codes::{request as rq, response as rs};
use protocol::header::PullMessageRequestHeader;
use protocol::message::{decode_records, Properties};
use protocol::RemotingCommand;

mod common;

use common::process::{commitlog_files, free_port, Server};

const TOPIC: &str = "ReplicatedTopic";

fn conf(extra: &str) -> String {
    format!(
        "dashboardEnable=false\nflushDiskType=SYNC_FLUSH\nmappedFileSizeCommitLog=262144\nmaxMessageSize=65536\ndefaultTopicQueueNums=2\n\
         diskCapacityBytes=1099511627776\nhaListenPort={}\nslaveSynchronizeIntervalMs=200\nregisterNameServerPeriod=10000\n{extra}",
        free_port()
    )
}

async fn send(client: &Client, addr: &str, i: usize) -> Result<(), ClientError> {
    let body = Bytes::from(format!("m{i}:{}", "x".repeat(i * 31 % 3000)));
    client.send(addr, TOPIC, (i % 2) as i32, body, Properties::default()).await.map(|_| ())
}

async fn commitlog_end(client: &Client, addr: &str) -> i64 {
    let resp = client.invoke_ok(addr, RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO)).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    v["table"]["commitLogMaxOffset"].as_str().unwrap().parse().unwrap()
}

async fn ha_status(client: &Client, addr: &str) -> serde_json::Value {
    let resp = client.invoke_ok(addr, RemotingCommand::request(rq::GET_BROKER_HA_STATUS)).await.unwrap();
    serde_json::from_slice(&resp.body).unwrap()
}

/// Waits until `f` holds, at most 20 s.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn bodies(client: &Client, addr: &str, queue_id: i32) -> Vec<String> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let h = PullMessageRequestHeader::for_queue("ReplicaReader", TOPIC, queue_id, offset);
        let r = client.pull_raw(addr, &h).await.unwrap();
        if r.code != rs::SUCCESS {
            return out;
        }
        out.extend(decode_records(&r.records).unwrap().into_iter().map(|m| String::from_utf8(m.body.to_vec()).unwrap()));
        offset = r.header.next_begin_offset;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_follows_its_master_and_a_sync_master_waits_for_it() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut master = Server::new(mdir.path(), &conf("brokerRole=SYNC_MASTER\nslaveTimeout=3000\n"));
    let client = master.start_ready().await;
    let maddr = master.broker();
    common::process::one_queue_topic(&client, &maddr, "Probe").await;
    client
        .create_topic(&maddr, &protocol::body::TopicConfig { topic_name: TOPIC.into(), read_queue_nums: 2, write_queue_nums: 2, perm: 6, ..Default::default() })
        .await
        .unwrap();

    // No replica yet: stored, but SLAVE_NOT_AVAILABLE at once.
    match send(&client, &maddr, 0).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, rs::SLAVE_NOT_AVAILABLE),
        other => panic!("{other:?}"),
    }

    let mut slave = Server::broker_only(sdir.path(), &conf("brokerRole=SLAVE\nbrokerId=1\n"), &master.namesrv());
    slave.start();
    let saddr = slave.broker();
    slave.wait_ready(&client).await;
    until("the replica is connected and in sync", || async { ha_status(&client, &maddr).await["inSyncSlaveNums"] == 1 }).await;

    // With the replica: every send is confirmed by it.
    for i in 1..200 {
        send(&client, &maddr, i).await.unwrap();
    }
    assert_eq!(commitlog_end(&client, &saddr).await, commitlog_end(&client, &maddr).await, "a confirmed send is on the replica");
    let status = ha_status(&client, &maddr).await;
    assert_eq!(status["master"], true);
    assert_eq!(status["haConnectionInfo"][0]["slaveAckOffset"].as_i64(), Some(commitlog_end(&client, &maddr).await));
    let replica_view = ha_status(&client, &saddr).await;
    assert_eq!(replica_view["master"], false);
    assert!(replica_view["haClientRuntimeInfo"]["masterAddr"].as_str().unwrap().ends_with(&master_ha_port(&mdir)));

    // `rocketry admin haStatus`, as mqadmin prints it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rocketry"))
        .args(["admin", "haStatus", "-n", &master.namesrv(), "-c", "DefaultCluster"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("#InSyncSlaveNum\t1") && text.contains("OK"), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rocketry"))
        .args(["admin", "--json", "haStatus", "-n", &master.namesrv(), "-b", &saddr])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[&saddr]["master"], false, "{v}");

    // The replica serves the same messages, and refuses writes.
    for q in 0..2 {
        let on_master = bodies(&client, &maddr, q).await;
        assert_eq!(on_master.len(), 100);
        assert_eq!(bodies(&client, &saddr, q).await, on_master);
    }
    match send(&client, &saddr, 1000).await {
        Err(ClientError::Server { code, remark }) => assert!(code == rs::SERVICE_NOT_AVAILABLE && remark.contains("replica"), "{code} {remark}"),
        other => panic!("{other:?}"),
    }
    // Topics, groups and offsets are changed on the master.
    let refused = client
        .create_topic(
            &saddr,
            &protocol::body::TopicConfig { topic_name: "OnReplica".into(), read_queue_nums: 1, write_queue_nums: 1, perm: 6, ..Default::default() },
        )
        .await;
    assert!(matches!(&refused, Err(ClientError::Server { code, remark }) if *code == rs::SYSTEM_ERROR && remark.contains("master broker")), "{refused:?}");
    // Topics made on the master follow.
    client
        .create_topic(
            &maddr,
            &protocol::body::TopicConfig { topic_name: "MadeLater".into(), read_queue_nums: 3, write_queue_nums: 3, perm: 6, ..Default::default() },
        )
        .await
        .unwrap();
    until("the replica has the new topic", || async {
        let resp = client.invoke(&saddr, RemotingCommand::request(rq::GET_ALL_TOPIC_CONFIG)).await.unwrap();
        String::from_utf8_lossy(&resp.body).contains("MadeLater")
    })
    .await;

    // A topic the master deletes goes from the replica, queues included; made again, the
    // replica serves the new topic's messages, not the old one's.
    let recreated = protocol::body::TopicConfig { topic_name: "Recreated".into(), read_queue_nums: 1, write_queue_nums: 1, perm: 6, ..Default::default() };
    let read_recreated = |addr: String| {
        let client = &client;
        async move {
            // Not there yet (or no more): nothing read.
            let Ok(r) = client.pull_raw(&addr, &PullMessageRequestHeader::for_queue("ReplicaReader", "Recreated", 0, 0)).await else { return Vec::new() };
            if r.code != rs::SUCCESS {
                return Vec::new();
            }
            decode_records(&r.records).unwrap().into_iter().map(|m| String::from_utf8(m.body.to_vec()).unwrap()).collect::<Vec<_>>()
        }
    };
    client.create_topic(&maddr, &recreated).await.unwrap();
    for i in 0..3 {
        client.send(&maddr, "Recreated", 0, Bytes::from(format!("old{i}")), Properties::default()).await.unwrap();
    }
    until("the replica serves the topic", || async { read_recreated(saddr.clone()).await.len() == 3 }).await;
    let del = client.invoke(&maddr, RemotingCommand::request(rq::DELETE_TOPIC_IN_BROKER).with_ext("topic", "Recreated")).await.unwrap();
    assert_eq!(del.code, rs::SUCCESS, "{:?}", del.remark);
    let queues = sdir.path().join("data/consumequeue/Recreated");
    until("the replica drops the topic's queues", || async { !queues.exists() }).await;
    client.create_topic(&maddr, &recreated).await.unwrap();
    for i in 0..2 {
        client.send(&maddr, "Recreated", 0, Bytes::from(format!("new{i}")), Properties::default()).await.unwrap();
    }
    assert_eq!(read_recreated(maddr.clone()).await, ["new0", "new1"]);
    until("the replica serves the new topic", || async { read_recreated(saddr.clone()).await == ["new0", "new1"] }).await;

    // A replica killed mid-stream catches up from where it was.
    slave.kill();
    match send(&client, &maddr, 200).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, rs::SLAVE_NOT_AVAILABLE),
        other => panic!("{other:?}"),
    }
    slave.start();
    slave.wait_ready(&client).await;
    until("the replica is back in sync", || async { ha_status(&client, &maddr).await["inSyncSlaveNums"] == 1 }).await;
    for i in 201..260 {
        send(&client, &maddr, i).await.unwrap();
    }
    assert_eq!(commitlog_end(&client, &saddr).await, commitlog_end(&client, &maddr).await);
    master.stop();
    slave.stop();
    assert_eq!(commitlog_files(sdir.path()), commitlog_files(mdir.path()), "the replica's CommitLog is the master's, byte for byte");
}

/// The master's replication port, from its broker.conf.
fn master_ha_port(dir: &tempfile::TempDir) -> String {
    let text = std::fs::read_to_string(dir.path().join("broker.conf")).unwrap();
    let port = text.lines().find_map(|l| l.strip_prefix("haListenPort=")).unwrap();
    format!(":{port}")
}

/// listenPort + 1 taken by something else: a broker still starts (the replication port moves
/// to a free one, which replicas learn from the NameServer); a haListenPort set in broker.conf
/// that is taken stops the start, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_default_replication_port_moves_a_set_one_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path(), "dashboardEnable=false\ndiskCapacityBytes=1099511627776\n");
    let _squatter = std::net::TcpListener::bind(("0.0.0.0", server.br + 1));
    let client = server.start_ready().await;
    client.close();
    server.stop();
    let log = std::fs::read_to_string(dir.path().join("rocketry.log")).unwrap();
    assert!(log.contains("replication port listenPort + 1 is taken"), "{log}");

    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path(), &format!("dashboardEnable=false\ndiskCapacityBytes=1099511627776\nhaListenPort={port}\n"));
    server.start();
    for _ in 0..100 {
        if !server.is_running() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!server.is_running(), "started on a taken haListenPort");
    let log = std::fs::read_to_string(dir.path().join("rocketry.log")).unwrap();
    assert!(log.contains("haListenPort"), "{log}");
}

/// `rocketry standalone --controller-port`: a one-node controller in the process, which its
/// broker follows (elected master), and which `rocketry admin` reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_embeds_a_controller() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, br, cport) = (free_port(), free_port(), free_port());
    std::fs::write(dir.path().join("broker.conf"), "dashboardEnable=false\ndiskCapacityBytes=1099511627776\nbrokerHeartbeatInterval=200\n").unwrap();
    let log = std::fs::File::create(dir.path().join("rocketry.log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rocketry"))
        .args(["standalone", "--grpc-port", "0", "--namesrv-port", &ns.to_string(), "--broker-port", &br.to_string(), "--controller-port", &cport.to_string()])
        .arg("-c")
        .arg(dir.path().join("broker.conf"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let client = Client::new(vec![format!("127.0.0.1:{ns}")]);
    let addr = format!("127.0.0.1:{br}");
    until("the embedded controller made the broker master", || async {
        client
            .create_topic(
                &addr,
                &protocol::body::TopicConfig { topic_name: TOPIC.into(), read_queue_nums: 2, write_queue_nums: 2, perm: 6, ..Default::default() },
            )
            .await
            .is_ok()
            && send(&client, &addr, 1).await.is_ok()
    })
    .await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rocketry"))
        .args(["admin", "--json", "getSyncStateSet", "-a", &format!("127.0.0.1:{cport}"), "-b", "broker-a"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!((v["broker-a"]["master"].as_i64(), v["broker-a"]["masterEpoch"].as_i64()), (Some(1), Some(1)), "{v}");
    client.close();
    let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}
