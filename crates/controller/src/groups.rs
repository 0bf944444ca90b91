//! The controller's replicated state: for each broker group, its replicas, which one is the
//! master, the master epoch, and the in-sync set (the replicas that may become master without
//! losing an acknowledged message). It changes only through [`Command`]s applied in the Raft
//! log's order, so every controller node holds the same state: pure data, no clock (the
//! leader measures liveness and writes what it saw into the command), no I/O.
//!
//! Rules (RocketMQ 5's controller model, ours where noted):
//! * An election keeps a live master (unless an operator names another broker). Otherwise the
//!   new master is a live member of the in-sync set, the one whose log reaches furthest (by
//!   epoch, then offset; the lower broker id on a tie). The master epoch goes up by one and the
//!   in-sync set becomes the new master alone: the others rejoin once they have caught up with
//!   it (their logs may hold a tail the new master lacks, which they must truncate first).
//! * With no live in-sync member the group has no master, unless the election allows an
//!   unclean master (any live replica; acknowledged messages may be lost): the outcome says why.
//! * A change of the in-sync set comes from the master of the current epoch, based on the
//!   current in-sync epoch; anything else is fenced (a deposed master cannot shrink the set).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One broker group (`brokerName`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub cluster: String,
    pub replicas: BTreeMap<i64, Replica>,
    pub master: Option<i64>,
    pub master_epoch: u32,
    pub in_sync: BTreeSet<i64>,
    pub in_sync_epoch: u32,
}

/// Where a replica is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// Remoting address.
    pub addr: String,
    /// Replication address.
    pub ha_addr: String,
}

/// What a broker reported of its log: the epoch of its last record and where its log ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Progress {
    pub epoch: u32,
    pub end: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A broker says it is a replica of `group` at `addr`.
    Register { cluster: String, group: String, broker_id: i64, addr: String, ha_addr: String },
    /// Choose the master of `group`, given which replicas the leader saw alive and how far
    /// their logs reach; `designated` is an operator's choice (a switchover).
    Elect { group: String, alive: BTreeMap<i64, Progress>, designated: Option<i64>, unclean: bool },
    /// The master of `master_epoch` replaces the in-sync set based on `in_sync_epoch`.
    AlterInSync { group: String, master: i64, master_epoch: u32, in_sync_epoch: u32, in_sync: BTreeSet<i64> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Registered {
        master: Option<i64>,
        master_epoch: u32,
    },
    Elected {
        master: i64,
        master_epoch: u32,
        in_sync_epoch: u32,
    },
    /// The master is alive: no election.
    MasterAlive {
        master: i64,
        master_epoch: u32,
    },
    /// No replica may become master; the group has none.
    NoMaster {
        reason: String,
    },
    InSyncChanged {
        in_sync_epoch: u32,
    },
    Refused {
        reason: String,
    },
}

/// Every broker group, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Groups {
    pub groups: BTreeMap<String, Group>,
}

fn refused(reason: impl Into<String>) -> Outcome {
    Outcome::Refused { reason: reason.into() }
}

impl Groups {
    pub fn apply(&mut self, cmd: &Command) -> Outcome {
        match cmd {
            Command::Register { cluster, group, broker_id, addr, ha_addr } => {
                if *broker_id < 0 {
                    return refused(format!("broker id {broker_id} is negative"));
                }
                let g = self.groups.entry(group.clone()).or_insert_with(|| Group { cluster: cluster.clone(), ..Default::default() });
                if g.cluster != *cluster {
                    return refused(format!("{group} belongs to cluster {}, not {cluster}", g.cluster));
                }
                g.replicas.insert(*broker_id, Replica { addr: addr.clone(), ha_addr: ha_addr.clone() });
                Outcome::Registered { master: g.master, master_epoch: g.master_epoch }
            }
            Command::Elect { group, alive, designated, unclean } => {
                let Some(g) = self.groups.get_mut(group) else { return refused(format!("no broker group {group}")) };
                elect(g, alive, *designated, *unclean)
            }
            Command::AlterInSync { group, master, master_epoch, in_sync_epoch, in_sync } => {
                let Some(g) = self.groups.get_mut(group) else { return refused(format!("no broker group {group}")) };
                if g.master != Some(*master) || g.master_epoch != *master_epoch {
                    return refused(format!(
                        "broker {master} of epoch {master_epoch} is not the master of {group} (broker {:?}, epoch {})",
                        g.master, g.master_epoch
                    ));
                }
                if g.in_sync_epoch != *in_sync_epoch {
                    return refused(format!("in-sync epoch {in_sync_epoch} is stale (now {})", g.in_sync_epoch));
                }
                if !in_sync.contains(master) {
                    return refused("the in-sync set must hold the master");
                }
                if let Some(stranger) = in_sync.iter().find(|id| !g.replicas.contains_key(id)) {
                    return refused(format!("broker {stranger} is not a replica of {group}"));
                }
                g.in_sync = in_sync.clone();
                g.in_sync_epoch += 1;
                Outcome::InSyncChanged { in_sync_epoch: g.in_sync_epoch }
            }
        }
    }
}

fn elect(g: &mut Group, alive: &BTreeMap<i64, Progress>, designated: Option<i64>, unclean: bool) -> Outcome {
    let eligible = |id: &i64| g.replicas.contains_key(id) && alive.contains_key(id) && (unclean || g.in_sync.contains(id));
    let chosen = match designated {
        Some(id) if !eligible(&id) => {
            return refused(format!("broker {id} cannot be master: it must be a live replica{}", if unclean { "" } else { " in the in-sync set" }));
        }
        Some(id) if g.master == Some(id) => return Outcome::MasterAlive { master: id, master_epoch: g.master_epoch },
        Some(id) => id,
        None => {
            if let Some(m) = g.master.filter(|m| alive.contains_key(m)) {
                return Outcome::MasterAlive { master: m, master_epoch: g.master_epoch };
            }
            // Furthest log first; on a tie the lower broker id.
            let best = alive.iter().filter(|(id, _)| eligible(id)).max_by(|(a_id, a), (b_id, b)| a.cmp(b).then(b_id.cmp(a_id)));
            match best {
                Some((id, _)) => *id,
                None => {
                    let reason = if g.in_sync.is_empty() {
                        "the in-sync set is empty".to_string()
                    } else {
                        format!("no member of the in-sync set {:?} is alive", g.in_sync)
                    };
                    g.master = None;
                    return Outcome::NoMaster { reason };
                }
            }
        }
    };
    g.master = Some(chosen);
    g.master_epoch += 1;
    g.in_sync = BTreeSet::from([chosen]);
    g.in_sync_epoch += 1;
    Outcome::Elected { master: chosen, master_epoch: g.master_epoch, in_sync_epoch: g.in_sync_epoch }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(s: &mut Groups, id: i64) {
        let cmd = Command::Register { cluster: "c".into(), group: "g".into(), broker_id: id, addr: format!("127.0.0.1:{id}"), ha_addr: String::new() };
        assert!(matches!(s.apply(&cmd), Outcome::Registered { .. }));
    }

    fn alive(list: &[(i64, u32, u64)]) -> BTreeMap<i64, Progress> {
        list.iter().map(|&(id, epoch, end)| (id, Progress { epoch, end })).collect()
    }

    fn elect(s: &mut Groups, list: &[(i64, u32, u64)]) -> Outcome {
        s.apply(&Command::Elect { group: "g".into(), alive: alive(list), designated: None, unclean: false })
    }

    fn alter(s: &mut Groups, master: i64, master_epoch: u32, in_sync_epoch: u32, set: &[i64]) -> Outcome {
        let cmd = Command::AlterInSync { group: "g".into(), master, master_epoch, in_sync_epoch, in_sync: set.iter().copied().collect() };
        s.apply(&cmd)
    }

    #[test]
    fn the_first_election_needs_an_unclean_start_or_a_known_in_sync_set() {
        let mut s = Groups::default();
        for id in 1..=3 {
            register(&mut s, id);
        }
        // No one is in sync yet: the first master is chosen as an unclean election (every log is empty).
        assert!(matches!(elect(&mut s, &[(1, 0, 0)]), Outcome::NoMaster { .. }));
        let first = s.apply(&Command::Elect { group: "g".into(), alive: alive(&[(1, 0, 0), (2, 0, 0)]), designated: None, unclean: true });
        assert_eq!(first, Outcome::Elected { master: 1, master_epoch: 1, in_sync_epoch: 1 });
        assert_eq!(elect(&mut s, &[(1, 1, 10), (2, 1, 10)]), Outcome::MasterAlive { master: 1, master_epoch: 1 });
    }

    #[test]
    fn the_furthest_live_in_sync_replica_becomes_master_and_a_deposed_master_is_fenced() {
        let mut s = Groups::default();
        for id in 1..=3 {
            register(&mut s, id);
        }
        s.apply(&Command::Elect { group: "g".into(), alive: alive(&[(1, 0, 0)]), designated: None, unclean: true });
        assert_eq!(alter(&mut s, 1, 1, 1, &[1, 2, 3]), Outcome::InSyncChanged { in_sync_epoch: 2 });
        // Master 1 is gone; 3 reaches further than 2.
        assert_eq!(elect(&mut s, &[(2, 1, 500), (3, 1, 700)]), Outcome::Elected { master: 3, master_epoch: 2, in_sync_epoch: 3 });
        assert_eq!(s.groups["g"].in_sync, BTreeSet::from([3]));
        // The old master comes back and tries to change the set: fenced.
        assert!(matches!(alter(&mut s, 1, 1, 2, &[1]), Outcome::Refused { .. }));
        // The new master's change must be based on the current in-sync epoch.
        assert!(matches!(alter(&mut s, 3, 2, 2, &[3, 1]), Outcome::Refused { .. }));
        assert!(matches!(alter(&mut s, 3, 2, 3, &[1]), Outcome::Refused { .. }), "without the master");
        assert!(matches!(alter(&mut s, 3, 2, 3, &[3, 9]), Outcome::Refused { .. }), "a stranger");
        assert_eq!(alter(&mut s, 3, 2, 3, &[3, 1]), Outcome::InSyncChanged { in_sync_epoch: 4 });
        // Master 3 and replica 1 lost: 2 is alive but was never put back in sync.
        let Outcome::NoMaster { reason } = elect(&mut s, &[(2, 1, 500)]) else { panic!() };
        assert!(reason.contains("alive"), "{reason}");
        assert_eq!(s.groups["g"].master, None);
        // 1 returns: it is in sync, so it is elected.
        assert_eq!(elect(&mut s, &[(1, 2, 900), (2, 1, 500)]), Outcome::Elected { master: 1, master_epoch: 3, in_sync_epoch: 5 });
    }

    #[test]
    fn an_operator_may_move_the_master_to_a_live_in_sync_replica_only() {
        let mut s = Groups::default();
        for id in 1..=2 {
            register(&mut s, id);
        }
        s.apply(&Command::Elect { group: "g".into(), alive: alive(&[(1, 0, 0)]), designated: None, unclean: true });
        let switch =
            |s: &mut Groups, id| s.apply(&Command::Elect { group: "g".into(), alive: alive(&[(1, 1, 5), (2, 1, 5)]), designated: Some(id), unclean: false });
        assert!(matches!(switch(&mut s, 2), Outcome::Refused { .. }), "2 is not in sync yet");
        alter(&mut s, 1, 1, 1, &[1, 2]);
        assert_eq!(switch(&mut s, 2), Outcome::Elected { master: 2, master_epoch: 2, in_sync_epoch: 3 });
        assert_eq!(switch(&mut s, 2), Outcome::MasterAlive { master: 2, master_epoch: 2 });
    }

    #[test]
    fn commands_survive_serialization() {
        let cmd = Command::Elect { group: "g".into(), alive: alive(&[(1, 2, 3)]), designated: Some(1), unclean: false };
        let text = serde_json::to_string(&cmd).unwrap();
        assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), cmd);
        let mut s = Groups::default();
        register(&mut s, 4);
        assert_eq!(serde_json::from_str::<Groups>(&serde_json::to_string(&s).unwrap()).unwrap(), s);
    }
}
