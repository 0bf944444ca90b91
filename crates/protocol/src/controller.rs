//! What brokers, operators and controller nodes say to a Rocketry controller (automatic
//! failover), as pure data. Remoting frames with JSON bodies of our own shape; the request
//! codes are RocketMQ 5's controller codes where the meaning is the same, and ours (1950…)
//! for the Raft messages between controller nodes, whose bodies are openraft's own JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod code {
    /// A master replaces its group's in-sync set (CONTROLLER_ALTER_SYNC_STATE_SET).
    pub const ALTER_IN_SYNC: i32 = 1001;
    /// An operator moves the master (CONTROLLER_ELECT_MASTER).
    pub const ELECT_MASTER: i32 = 1002;
    /// A broker says it is a replica of its group (CONTROLLER_REGISTER_BROKER).
    pub const REGISTER_BROKER: i32 = 1003;
    /// A broker group's master, epoch and in-sync set (CONTROLLER_GET_REPLICA_INFO).
    pub const GET_REPLICA_INFO: i32 = 1004;
    /// The controller nodes and their leader (CONTROLLER_GET_METADATA_INFO).
    pub const GET_METADATA: i32 = 1005;
    /// A broker is alive, and how far its log reaches (BROKER_HEARTBEAT).
    pub const BROKER_HEARTBEAT: i32 = 904;
    /// Raft between controller nodes (ours).
    pub const RAFT_APPEND_ENTRIES: i32 = 1950;
    pub const RAFT_VOTE: i32 = 1951;
    pub const RAFT_INSTALL_SNAPSHOT: i32 = 1952;
}

pub mod status {
    /// The change came from a deposed master or a stale in-sync epoch
    /// (CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH).
    pub const FENCED: i32 = 2001;
    /// This node is not the leader; `leaderAddr` names it when known (CONTROLLER_NOT_LEADER).
    pub const NOT_LEADER: i32 = 2007;
    /// No master could be elected (CONTROLLER_ELECT_MASTER_FAILED).
    pub const ELECT_MASTER_FAILED: i32 = 2012;
    /// Too few controller nodes answer to decide anything (ours).
    pub const NO_QUORUM: i32 = 2099;
}

/// A broker's address book entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerRecord {
    pub cluster: String,
    pub group: String,
    pub broker_id: i64,
    /// Remoting address.
    pub addr: String,
    /// Replication address (`haListenPort`).
    pub ha_addr: String,
}

/// BROKER_HEARTBEAT's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Heartbeat {
    pub broker: BrokerRecord,
    /// The epoch of the broker's last record and where its log ends.
    pub epoch: u32,
    pub end: u64,
    /// The broker counts as gone after this long without a heartbeat.
    pub timeout_ms: u64,
}

/// A broker group as the controller sees it: the answer to registrations, heartbeats and
/// GET_REPLICA_INFO.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupView {
    pub cluster: String,
    pub group: String,
    pub master: Option<i64>,
    pub master_addr: Option<String>,
    pub master_ha_addr: Option<String>,
    pub master_epoch: u32,
    pub in_sync: Vec<i64>,
    pub in_sync_epoch: u32,
    pub replicas: BTreeMap<i64, BrokerRecord>,
    /// Why the group has no master, when it has none.
    pub no_master_reason: Option<String>,
    /// Replicas whose heartbeats the leader sees (empty from a non-leader).
    pub alive: Vec<i64>,
}

/// ALTER_IN_SYNC's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AlterInSync {
    pub group: String,
    pub master: i64,
    pub master_epoch: u32,
    pub in_sync_epoch: u32,
    pub in_sync: Vec<i64>,
}

/// ELECT_MASTER's body: the group, and the broker to make master (none: whoever the rules
/// choose, if the master is gone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ElectMaster {
    pub group: String,
    pub broker_id: Option<i64>,
}

/// GET_REPLICA_INFO's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupQuery {
    pub group: String,
}

/// GET_METADATA's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Metadata {
    pub self_id: u64,
    pub leader_id: Option<u64>,
    pub leader_addr: Option<String>,
    pub term: u64,
    /// Node id → address.
    pub peers: BTreeMap<u64, String>,
    /// Broker groups known.
    pub groups: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_tolerate_missing_fields() {
        let hb = Heartbeat {
            broker: BrokerRecord { cluster: "c".into(), group: "g".into(), broker_id: 2, addr: "a:1".into(), ha_addr: "a:2".into() },
            epoch: 3,
            end: 4096,
            timeout_ms: 3000,
        };
        let text = serde_json::to_string(&hb).unwrap();
        assert!(text.contains("\"brokerId\":2") && text.contains("\"haAddr\""), "{text}");
        assert_eq!(serde_json::from_str::<Heartbeat>(&text).unwrap(), hb);
        let v: GroupView = serde_json::from_str(r#"{"group":"g","master":1}"#).unwrap();
        assert_eq!((v.master, v.master_epoch), (Some(1), 0));
    }
}
