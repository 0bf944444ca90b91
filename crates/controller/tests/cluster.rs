//! Three controller nodes on loopback: a leader is elected, brokers register and heartbeat
//! through any node (followers point at the leader), a lost master is replaced by a live in-sync
//! replica; with one node down elections still work, with two down nothing is decided and the
//! answer says why (no split brain).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use controller::{ControllerConfig, ControllerHandle};
use protocol::controller::{code, status, AlterInSync, BrokerRecord, GroupView, Heartbeat, Metadata};
use protocol::RemotingCommand;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(id: u64, peers: &BTreeMap<u64, String>, dir: &std::path::Path) -> ControllerHandle {
    let config = ControllerConfig {
        self_id: id,
        peers: peers.clone(),
        store_dir: dir.join(format!("n{id}")),
        scan_interval: Duration::from_millis(100),
        elect_unclean: false,
        raft_heartbeat: Duration::from_millis(50),
    };
    controller::start(config).await.unwrap()
}

struct Caller {
    pool: client::ConnectionPool,
}

impl Caller {
    async fn call(&self, addr: &str, code: i32, body: &impl serde::Serialize) -> RemotingCommand {
        let cmd = RemotingCommand::request(code).with_body(serde_json::to_vec(body).unwrap());
        self.pool.invoke(addr, cmd, Duration::from_secs(10)).await.unwrap()
    }

    /// Sends to the first node that answers as the leader, following NOT_LEADER.
    async fn leader_call(&self, peers: &[String], code: i32, body: &impl serde::Serialize) -> RemotingCommand {
        for _ in 0..100 {
            for addr in peers {
                let cmd = RemotingCommand::request(code).with_body(serde_json::to_vec(body).unwrap());
                if let Ok(resp) = self.pool.invoke(addr, cmd, Duration::from_secs(10)).await {
                    if resp.code != status::NOT_LEADER {
                        return resp;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no leader answered");
    }
}

fn record(id: i64) -> BrokerRecord {
    BrokerRecord {
        cluster: "DefaultCluster".into(),
        group: "broker-a".into(),
        broker_id: id,
        addr: format!("127.0.0.1:{}", 10_000 + id),
        ha_addr: format!("127.0.0.1:{}", 20_000 + id),
    }
}

fn heartbeat(id: i64, epoch: u32, end: u64) -> Heartbeat {
    Heartbeat { broker: record(id), epoch, end, timeout_ms: 600 }
}

fn view(resp: &RemotingCommand) -> GroupView {
    assert_eq!(resp.code, 0, "{:?}", resp.remark);
    serde_json::from_slice(&resp.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_cluster_elects_masters_and_refuses_without_a_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let peers: BTreeMap<u64, String> = (0..3).map(|id| (id, format!("127.0.0.1:{}", free_port()))).collect();
    let addrs: Vec<String> = peers.values().cloned().collect();
    let mut nodes: BTreeMap<u64, ControllerHandle> = BTreeMap::new();
    for id in 0..3 {
        nodes.insert(id, start(id, &peers, dir.path()).await);
    }
    let c = Caller { pool: client::ConnectionPool::new(Arc::new(client::IgnoreRequests)) };

    // Every node knows the leader.
    let mut leader = None;
    for _ in 0..100 {
        let m: Metadata = serde_json::from_slice(&c.call(&addrs[0], code::GET_METADATA, &()).await.body).unwrap();
        if let Some(l) = m.leader_id {
            leader = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let leader = leader.expect("a leader");
    let follower = (0..3).find(|id| *id != leader).unwrap();
    let refused = c.call(&peers[&follower], code::BROKER_HEARTBEAT, &heartbeat(1, 0, 0)).await;
    assert_eq!(refused.code, status::NOT_LEADER);
    assert_eq!(refused.ext_fields.get("leaderAddr"), Some(peers[&leader].as_str()));

    // Three replicas heartbeat; the group never had a master, so the first is chosen freely.
    let mut v = GroupView::default();
    for _ in 0..100 {
        for id in 1..=3 {
            v = view(&c.leader_call(&addrs, code::BROKER_HEARTBEAT, &heartbeat(id, 0, 0)).await);
        }
        if v.master.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = v.master.expect("a first master");
    assert_eq!((v.master_epoch, v.in_sync.clone()), (1, vec![first]));
    assert_eq!(v.master_ha_addr, Some(record(first).ha_addr));

    // The master puts the others in sync; a stale in-sync epoch is fenced.
    let all: Vec<i64> = vec![1, 2, 3];
    let alter = AlterInSync { group: "broker-a".into(), master: first, master_epoch: 1, in_sync_epoch: v.in_sync_epoch, in_sync: all.clone() };
    let v = view(&c.leader_call(&addrs, code::ALTER_IN_SYNC, &alter).await);
    assert_eq!(v.in_sync, all);
    assert_eq!(c.leader_call(&addrs, code::ALTER_IN_SYNC, &alter).await.code, status::FENCED);

    // The master stops; the others go on: the one whose log reaches furthest is elected.
    let others: Vec<i64> = all.iter().copied().filter(|id| *id != first).collect();
    let (behind, ahead) = (others[0], others[1]);
    let mut v = GroupView::default();
    for _ in 0..100 {
        c.leader_call(&addrs, code::BROKER_HEARTBEAT, &heartbeat(behind, 1, 500)).await;
        v = view(&c.leader_call(&addrs, code::BROKER_HEARTBEAT, &heartbeat(ahead, 1, 900)).await);
        if v.master != Some(first) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((v.master, v.master_epoch), (Some(ahead), 2));

    // One controller node lost (the leader): a new leader, and elections still work.
    nodes.remove(&leader).unwrap().shutdown().await;
    let live: Vec<String> = addrs.iter().filter(|a| **a != peers[&leader]).cloned().collect();
    let mut v = GroupView::default();
    for _ in 0..100 {
        // Only `behind` is alive now; it was not put back in sync after the election.
        v = view(&c.leader_call(&live, code::BROKER_HEARTBEAT, &heartbeat(behind, 1, 500)).await);
        if v.master.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(v.master, None, "{v:?}");
    assert!(v.no_master_reason.as_deref().is_some_and(|r| r.contains("in-sync")), "{v:?}");
    // While nothing changes, the scans do not write the same failed election again and again.
    let last_index = || nodes.values().map(|n| n.controller.raft.metrics().borrow().last_log_index.unwrap_or(0)).max().unwrap_or(0);
    let before = last_index();
    for _ in 0..15 {
        c.leader_call(&live, code::BROKER_HEARTBEAT, &heartbeat(behind, 1, 500)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(last_index() <= before + 1, "the Raft log grew from {before} to {} with nothing changed", last_index());
    // An operator may not make an out-of-sync replica master.
    let elect = protocol::controller::ElectMaster { group: "broker-a".into(), broker_id: Some(behind) };
    assert_eq!(c.leader_call(&live, code::ELECT_MASTER, &elect).await.code, status::ELECT_MASTER_FAILED);

    // Two controller nodes lost: nothing is decided, and the answer says why.
    let second = *nodes.keys().next().unwrap();
    nodes.remove(&second).unwrap().shutdown().await;
    let last = nodes.values().next().unwrap();
    let addr = last.controller.config.self_addr().to_string();
    let mut answer = RemotingCommand::request(0);
    for _ in 0..50 {
        answer = c.call(&addr, code::REGISTER_BROKER, &record(4)).await;
        if answer.code == status::NO_QUORUM || answer.code == status::NOT_LEADER {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answer.code == status::NO_QUORUM || answer.code == status::NOT_LEADER, "{} {:?}", answer.code, answer.remark);
    for node in nodes.into_values() {
        node.shutdown().await;
    }
}
