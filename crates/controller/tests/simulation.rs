//! A deterministic simulation of a broker group under failover: the controller's election and
//! in-sync rules (`controller::Groups`) and the replicas' truncation to the point their log
//! shares with the new master's (`store::epoch::EpochLog::consistent_point`) — the real code —
//! driven by seeded schedules of sends, replication delays, crashes, partitions and restarts.
//!
//! The model: a log is a list of values (one offset each). A SYNC_MASTER acknowledges a value
//! once every other member of the in-sync set holds it (and there is at least one); a value that
//! cannot be acknowledged stays in the master's log unacknowledged (the client was told
//! otherwise). After every step:
//! * every acknowledged value is in the master's log, at the offset it was given;
//! * every replica that has reconciled with the master holds a prefix of the master's log;
//! * a master epoch has one master.
//!
//! It fails if elections may pick a replica outside the in-sync set (an acknowledged value goes
//! missing) or if a returning replica keeps its tail instead of cutting it at the consistent
//! point (it stops being a prefix of the master's log): both were tried.

use std::collections::{BTreeMap, BTreeSet};

use controller::{Command, Groups, Outcome, Progress};
use store::epoch::EpochLog;

const GROUP: &str = "broker-a";

struct Node {
    id: i64,
    /// Running and reachable by the controller and the other brokers.
    up: bool,
    /// Running but cut off (its clients still reach it): it may append, nobody copies it.
    partitioned: bool,
    log: Vec<u64>,
    epochs: EpochLog,
    /// Its log was compared with the current master's and cut to their shared part.
    reconciled: bool,
    /// The master epoch it last acted in as master.
    served_epoch: Option<u32>,
}

struct Sim {
    seed: u64,
    nodes: Vec<Node>,
    controller: Groups,
    /// Acknowledged values and their offsets.
    acked: BTreeMap<u64, usize>,
    /// Values appended by the master of that epoch, not yet acknowledged: (offset, value).
    pending: Vec<(usize, u64)>,
    next_value: u64,
    masters_by_epoch: BTreeMap<u32, i64>,
    stats: Stats,
}

#[derive(Default, Debug)]
struct Stats {
    elections: usize,
    truncated_records: usize,
    acked: usize,
    no_master: usize,
}

fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut controller = Groups::default();
        let nodes: Vec<Node> = (1..=3)
            .map(|id| Node { id, up: true, partitioned: false, log: Vec::new(), epochs: EpochLog::default(), reconciled: false, served_epoch: None })
            .collect();
        for n in &nodes {
            controller.apply(&Command::Register {
                cluster: "c".into(),
                group: GROUP.into(),
                broker_id: n.id,
                addr: format!("10.0.0.{}:10911", n.id),
                ha_addr: String::new(),
            });
        }
        let mut sim = Sim {
            seed: seed.max(1),
            nodes,
            controller,
            acked: BTreeMap::new(),
            pending: Vec::new(),
            next_value: 1,
            masters_by_epoch: BTreeMap::new(),
            stats: Stats::default(),
        };
        // The group's first master: every log is empty, so any broker may be it.
        sim.elect(true);
        sim
    }

    fn roll(&mut self, n: u64) -> u64 {
        rng(&mut self.seed) % n
    }

    fn node(&mut self, id: i64) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.id == id).expect("node")
    }

    fn master(&self) -> Option<i64> {
        self.controller.groups[GROUP].master
    }

    fn master_epoch(&self) -> u32 {
        self.controller.groups[GROUP].master_epoch
    }

    /// The controller's view: who is alive (heartbeats reach it) and how far their logs reach.
    fn alive(&self) -> BTreeMap<i64, Progress> {
        self.nodes
            .iter()
            .filter(|n| n.up && !n.partitioned)
            .map(|n| (n.id, Progress { epoch: n.epochs.last().map_or(0, |e| e.epoch), end: n.log.len() as u64 }))
            .collect()
    }

    fn elect(&mut self, unclean: bool) {
        let cmd = Command::Elect { group: GROUP.into(), alive: self.alive(), designated: None, unclean };
        match self.controller.apply(&cmd) {
            Outcome::Elected { master, master_epoch, .. } => {
                self.stats.elections += 1;
                assert!(self.masters_by_epoch.insert(master_epoch, master).is_none(), "seed {}: two masters of epoch {master_epoch}", self.seed);
                let n = self.node(master);
                let end = n.log.len() as u64;
                n.epochs.begin(master_epoch, end).expect("a new epoch starts at the new master's end");
                n.reconciled = true;
                n.served_epoch = Some(master_epoch);
                // Whatever the old master appended and no in-sync replica confirmed stays
                // unacknowledged; everyone else compares logs with the new master again.
                self.pending.clear();
                for other in self.nodes.iter_mut().filter(|o| o.id != master) {
                    other.reconciled = false;
                }
            }
            Outcome::MasterAlive { .. } => {}
            Outcome::NoMaster { .. } => self.stats.no_master += 1,
            other => panic!("seed {}: unexpected election outcome {other:?}", self.seed),
        }
    }

    /// A client's send to whoever believes it is master and is running.
    fn send(&mut self) {
        let value = self.next_value;
        self.next_value += 1;
        let epoch = self.master_epoch();
        let current = self.master();
        // A partitioned old master still takes sends from the clients that reach it.
        let target = self.nodes.iter().position(|n| n.up && (Some(n.id) == current && !n.partitioned || n.partitioned && n.served_epoch.is_some()));
        let Some(i) = target else { return };
        let n = &mut self.nodes[i];
        n.log.push(value);
        if Some(n.id) == current && !n.partitioned && n.served_epoch == Some(epoch) {
            self.pending.push((n.log.len() - 1, value));
        }
    }

    /// A replica of the current master copies up to `k` records (after reconciling).
    fn replicate(&mut self, who: usize, k: usize) {
        let Some(m) = self.master() else { return };
        let Some(mi) = self.nodes.iter().position(|n| n.id == m && n.up && !n.partitioned) else { return };
        if who == mi || !self.nodes[who].up || self.nodes[who].partitioned {
            return;
        }
        let (mlog, mepochs) = (self.nodes[mi].log.clone(), self.nodes[mi].epochs.clone());
        let seed = self.seed;
        let r = &mut self.nodes[who];
        if !r.reconciled {
            let point = r.epochs.consistent_point(r.log.len() as u64, &mepochs, mlog.len() as u64).unwrap_or(0) as usize;
            self.stats.truncated_records += r.log.len().saturating_sub(point);
            r.log.truncate(point);
            r.epochs.truncate(point as u64);
            r.reconciled = true;
            r.served_epoch = None;
        }
        assert_eq!(r.log[..], mlog[..r.log.len()], "seed {seed}: replica {} is not a prefix of master {m} after reconciling", r.id);
        let end = (r.log.len() + k).min(mlog.len());
        r.log.extend_from_slice(&mlog[r.log.len()..end]);
        // Its epochs are the master's up to where its copy reaches.
        let entries: Vec<_> = mepochs.entries().iter().copied().filter(|e| (e.start as usize) < end || e.start == 0).collect();
        r.epochs = EpochLog::new(entries).expect("a prefix of valid epochs");
    }

    /// The master confirms what every in-sync replica holds, and grows or shrinks the set.
    fn master_duties(&mut self) {
        let Some(m) = self.master() else { return };
        let Some(mi) = self.nodes.iter().position(|n| n.id == m && n.up && !n.partitioned) else { return };
        let group = self.controller.groups[GROUP].clone();
        let others: Vec<i64> = group.in_sync.iter().copied().filter(|id| *id != m).collect();
        if !others.is_empty() {
            let held = others.iter().map(|id| self.nodes.iter().find(|n| n.id == *id).filter(|n| n.reconciled).map_or(0, |n| n.log.len())).min().unwrap_or(0);
            let (done, rest): (Vec<_>, Vec<_>) = self.pending.iter().partition(|(offset, _)| *offset < held);
            for (offset, value) in done {
                self.acked.insert(value, offset);
                self.stats.acked += 1;
            }
            self.pending = rest;
        }
        // A replica joins once it holds everything acknowledged so far and the current epoch's
        // start: then any member of the set may become master without losing an acknowledged
        // message (acknowledgements wait for every member).
        let frontier = self.acked.values().max().map_or(0, |o| o + 1);
        let epoch_start = self.nodes[mi].epochs.last().map_or(0, |e| e.start as usize);
        let mut set = group.in_sync.clone();
        for n in &self.nodes {
            let caught_up = n.up && !n.partitioned && n.reconciled && n.log.len() >= frontier.max(epoch_start);
            if n.id != m && caught_up {
                set.insert(n.id);
            }
            if n.id != m && (!n.up || n.partitioned) {
                set.remove(&n.id);
            }
        }
        if set != group.in_sync {
            let cmd =
                Command::AlterInSync { group: GROUP.into(), master: m, master_epoch: group.master_epoch, in_sync_epoch: group.in_sync_epoch, in_sync: set };
            assert!(matches!(self.controller.apply(&cmd), Outcome::InSyncChanged { .. }), "seed {}: the master's change was refused", self.seed);
        }
    }

    /// A deposed master that is cut off tries to shrink the set: it must be fenced.
    fn stale_master_meddles(&mut self) {
        let group = self.controller.groups[GROUP].clone();
        for n in self.nodes.iter().filter(|n| n.partitioned && n.up) {
            if let Some(epoch) = n.served_epoch.filter(|e| *e < group.master_epoch) {
                let cmd = Command::AlterInSync {
                    group: GROUP.into(),
                    master: n.id,
                    master_epoch: epoch,
                    in_sync_epoch: group.in_sync_epoch,
                    in_sync: BTreeSet::from([n.id]),
                };
                assert!(matches!(self.controller.apply(&cmd), Outcome::Refused { .. }), "seed {}: a deposed master changed the in-sync set", self.seed);
            }
        }
    }

    fn check(&self) {
        let Some(m) = self.master() else { return };
        let master = self.nodes.iter().find(|n| n.id == m).expect("master");
        if !master.up {
            return;
        }
        for (value, offset) in &self.acked {
            assert_eq!(master.log.get(*offset), Some(value), "seed {}: acknowledged value {value} at {offset} is not in master {m}'s log", self.seed);
        }
        for n in self.nodes.iter().filter(|n| n.id != m && n.up && n.reconciled) {
            assert!(n.log.len() <= master.log.len() && n.log[..] == master.log[..n.log.len()], "seed {}: replica {} diverges from master {m}", self.seed, n.id);
        }
    }

    fn step(&mut self) {
        match self.roll(100) {
            0..=39 => self.send(),
            40..=74 => {
                let who = self.roll(3) as usize;
                let k = 1 + self.roll(4) as usize;
                self.replicate(who, k);
            }
            75..=86 => self.master_duties(),
            87..=88 => {
                // A crash: the node loses nothing it wrote (its log is flushed), but is down.
                let who = self.roll(3) as usize;
                if self.nodes.iter().filter(|n| n.up).count() > 1 {
                    self.nodes[who].up = false;
                    self.nodes[who].partitioned = false;
                }
            }
            89 => {
                // A partition: the node keeps running, cut off from the controller and the others.
                let who = self.roll(3) as usize;
                if self.nodes[who].up {
                    self.nodes[who].partitioned = true;
                }
            }
            90..=94 => {
                // A restart or a healed partition: it rejoins as a replica.
                let who = self.roll(3) as usize;
                let n = &mut self.nodes[who];
                if !n.up || n.partitioned {
                    n.up = true;
                    n.partitioned = false;
                    n.reconciled = false;
                }
            }
            _ => {
                // The controller notices a lost master and elects.
                let master_lost = self.master().is_none_or(|m| self.nodes.iter().any(|n| n.id == m && (!n.up || n.partitioned)));
                if master_lost {
                    self.elect(false);
                }
            }
        }
        self.stale_master_meddles();
        self.check();
    }
}

#[test]
fn acknowledged_messages_survive_failovers_and_returning_masters_truncate() {
    let mut total = Stats::default();
    for seed in 1..=300u64 {
        let mut sim = Sim::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for _ in 0..600 {
            sim.step();
        }
        total.elections += sim.stats.elections;
        total.truncated_records += sim.stats.truncated_records;
        total.acked += sim.stats.acked;
        total.no_master += sim.stats.no_master;
    }
    // The schedules did exercise what the invariants are about.
    assert!(total.elections > 600, "{total:?}");
    assert!(total.truncated_records > 100, "{total:?}");
    assert!(total.acked > 10_000, "{total:?}");
    assert!(total.no_master > 0, "{total:?}");
}
