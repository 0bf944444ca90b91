//! The POP journal: every change to the in-flight table is a small record in the revive
//! topic (`rmq_sys_REVIVE_LOG_<cluster>`, queue 0) of the CommitLog, so it is exactly as
//! durable as messages are under the flush mode, and a replica that copies the CommitLog
//! copies it too. At start the records from the replay point on are read back into the
//! table. The body is our own JSON (the Java broker's CK/ACK bodies are not a wire format).

use serde::{Deserialize, Serialize};

use super::inflight::{Inflight, QueueKey};
use super::order::{OrderAck, OrderTable};

/// The group under which the replay point is kept in the offset table (as the Java broker
/// keeps its revive progress).
pub const REVIVE_GROUP: &str = "CID_RMQ_SYS_REVIVE_GROUP";

/// The most offsets one record holds (a batch ack's cap; a pop hands out at most 32).
pub const MAX_OFFSETS_PER_RECORD: usize = 1024;
/// The most offsets one checkpoint holds.
pub const MAX_OFFSETS_PER_CHECKPOINT: usize = 64;

pub fn revive_topic(cluster: &str) -> String {
    format!("{}{cluster}", protocol::names::REVIVE_LOG_TOPIC_PREFIX)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Record {
    /// Messages handed out from checkpoint offset `s`: visible again at `pt + it`; the pop
    /// moved the group's offset to `nb`.
    #[serde(rename = "ck")]
    Checkpoint { g: String, t: String, q: i32, s: i64, pt: i64, it: i64, o: Vec<i64>, nb: i64 },
    /// Messages acknowledged or revived: (checkpoint offset, offset, popTime) of each handle.
    #[serde(rename = "ack")]
    Ack { g: String, t: String, q: i32, a: Vec<(i64, i64, i64)> },
    /// A message's invisible time changed: its handle (checkpoint `s`, pop time `old`) is
    /// replaced by one of its own offset and `pt`, visible again at `pt + it`.
    #[serde(rename = "chg")]
    Change { g: String, t: String, q: i32, o: i64, s: i64, old: i64, pt: i64, it: i64 },
    /// An orderly pop: the queue's batch, with each offset's earlier deliveries.
    #[serde(rename = "ock")]
    OrderCheckpoint { g: String, t: String, q: i32, pt: i64, it: i64, o: Vec<(i64, i32)>, a: Option<String> },
    /// An orderly message acknowledged (the handle's popTime `pt`).
    #[serde(rename = "oack")]
    OrderAck { g: String, t: String, q: i32, o: i64, pt: i64 },
    /// An orderly message's invisible time changed: visible again at `at`.
    #[serde(rename = "ochg")]
    OrderChange { g: String, t: String, q: i32, o: i64, pt: i64, at: i64 },
    /// An admin reset the group's offset of the queue to `o` (taken by a pop): it holds
    /// against the records before it, and forgets the queue's orderly batch.
    #[serde(rename = "reset")]
    Reset { g: String, t: String, q: i32, o: i64 },
}

/// What replaying a record asks of the broker's other state.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    Nothing,
    /// Move the group's offset of the queue forward to this.
    Offset(QueueKey, i64),
    /// Set the group's offset of the queue to this, backwards too.
    Reset(QueueKey, i64),
}

impl Record {
    pub fn tag(&self) -> &'static str {
        match self {
            Record::Checkpoint { .. } => "ck",
            Record::Ack { .. } => "ack",
            Record::Change { .. } => "chg",
            Record::OrderCheckpoint { .. } => "ock",
            Record::OrderAck { .. } => "oack",
            Record::OrderChange { .. } => "ochg",
            Record::Reset { .. } => "reset",
        }
    }

    pub fn key(&self) -> QueueKey {
        let (g, t, q) = match self {
            Record::Checkpoint { g, t, q, .. } | Record::Ack { g, t, q, .. } | Record::Change { g, t, q, .. } => (g, t, q),
            Record::OrderCheckpoint { g, t, q, .. } | Record::OrderAck { g, t, q, .. } | Record::OrderChange { g, t, q, .. } => (g, t, q),
            Record::Reset { g, t, q, .. } => (g, t, q),
        };
        QueueKey::new(g, t, *q)
    }

    /// Whether a record read back is one this broker could have written: a checkpoint of at
    /// most a pop's worth of messages, an ack of at most a batch ack's worth.
    pub fn is_sane(&self) -> bool {
        match self {
            Record::Checkpoint { o, it, nb, .. } => o.len() <= MAX_OFFSETS_PER_CHECKPOINT && *it >= 0 && *nb >= 0,
            Record::Ack { a, .. } => a.len() <= MAX_OFFSETS_PER_RECORD,
            Record::Change { it, .. } => *it >= 0,
            Record::OrderCheckpoint { o, it, .. } => o.len() <= MAX_OFFSETS_PER_CHECKPOINT && *it >= 0,
            Record::OrderAck { .. } | Record::OrderChange { .. } => true,
            Record::Reset { o, .. } => *o >= 0,
        }
    }

    /// Applies a record read back at `journal` (its revive-queue offset) as it was applied
    /// live. Returns the offset a checkpoint or an orderly ack moved its group to.
    pub fn replay(&self, table: &mut Inflight, orders: &mut OrderTable, journal: i64) -> Replayed {
        let key = self.key();
        match self {
            Record::Checkpoint { s, pt, it, o, nb, .. } => {
                table.insert(&key, *s, o, *pt, pt.saturating_add(*it), journal);
                return Replayed::Offset(key, *nb);
            }
            Record::OrderCheckpoint { pt, it, o, a, .. } => {
                table.hold(journal);
                if let Some(old) = orders.popped(&key, a.as_deref(), *pt, *it, o, journal) {
                    table.release(old);
                }
            }
            Record::OrderAck { o, pt, .. } => {
                if let OrderAck::Commit { next, released } = orders.ack(&key, *o, *pt) {
                    if let Some(j) = released {
                        table.release(j);
                    }
                    return Replayed::Offset(key, next);
                }
            }
            Record::OrderChange { o, pt, at, .. } => {
                orders.change(&key, *o, *pt, *at);
            }
            Record::Reset { o, .. } => {
                if let Some(j) = orders.forget(&key) {
                    table.release(j);
                }
                return Replayed::Reset(key, *o);
            }
            Record::Ack { a, .. } => {
                for (ck, offset, pop_time) in a {
                    table.ack(&key, *ck, *pop_time, *offset);
                }
            }
            // As it was applied live: only if the old handle was still in flight.
            Record::Change { o, s, old, pt, it, .. } => {
                if table.ack(&key, *s, *old, *o) {
                    table.insert(&key, *o, &[*o], *pt, pt.saturating_add(*it), journal);
                }
            }
        }
        Replayed::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_rebuilds_the_table() {
        let records = [
            Record::Checkpoint { g: "g".into(), t: "t".into(), q: 0, s: 1, pt: 100, it: 50, o: vec![1, 2, 3], nb: 4 },
            Record::Ack { g: "g".into(), t: "t".into(), q: 0, a: vec![(1, 1, 100), (1, 2, 99)] },
            Record::Change { g: "g".into(), t: "t".into(), q: 0, o: 3, s: 1, old: 100, pt: 120, it: 1000 },
        ];
        let (mut table, mut orders) = (Inflight::default(), OrderTable::default());
        let mut moved = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let json = serde_json::to_vec(r).expect("encodes");
            let back: Record = serde_json::from_slice(&json).expect("decodes");
            assert_eq!(&back, r);
            moved.push(back.replay(&mut table, &mut orders, i as i64));
        }
        assert_eq!(moved, vec![Replayed::Offset(QueueKey::new("g", "t", 0), 4), Replayed::Nothing, Replayed::Nothing]);
        let key = QueueKey::new("g", "t", 0);
        assert!(!table.holds(&key, 1, 100, 1), "acked");
        assert!(table.holds(&key, 1, 100, 2), "the ack named another handle");
        assert!(!table.holds(&key, 1, 100, 3), "changed: no longer under the old handle");
        assert!(table.holds(&key, 3, 120, 3), "changed: under its own offset and the new pop time");
        assert_eq!(table.next_deadline(), Some(150));
        assert_eq!(table.replay_from(9), 0);
    }

    #[test]
    fn orderly_batches_are_replayed_and_hold_the_replay_point() {
        let key = QueueKey::new("g", "o", 1);
        let (mut table, mut orders) = (Inflight::default(), OrderTable::default());
        let ock = |pt: i64, o: Vec<(i64, i32)>| Record::OrderCheckpoint { g: "g".into(), t: "o".into(), q: 1, pt, it: 1000, o, a: None };
        let oack = |o: i64, pt: i64| Record::OrderAck { g: "g".into(), t: "o".into(), q: 1, o, pt };
        assert_eq!(ock(10, vec![(5, 0), (6, 0)]).replay(&mut table, &mut orders, 3), Replayed::Nothing);
        assert_eq!(table.replay_from(9), 3, "the batch holds its record");
        assert!(orders.blocked(&key, None, 500));
        assert_eq!(oack(5, 10).replay(&mut table, &mut orders, 4), Replayed::Offset(key.clone(), 6));
        assert_eq!(oack(5, 9).replay(&mut table, &mut orders, 5), Replayed::Nothing, "another pop's handle");
        assert_eq!(oack(6, 10).replay(&mut table, &mut orders, 6), Replayed::Offset(key.clone(), 7));
        assert_eq!(table.replay_from(9), 9, "acknowledged: the record is no longer needed");
        assert!(!orders.blocked(&key, None, 500));
        ock(20, vec![(7, 0)]).replay(&mut table, &mut orders, 7);
        ock(30, vec![(7, 1)]).replay(&mut table, &mut orders, 8);
        assert_eq!(table.replay_from(9), 8, "a batch popped again replaces the old one's hold");
        let reset = Record::Reset { g: "g".into(), t: "o".into(), q: 1, o: 2 };
        assert_eq!(reset.replay(&mut table, &mut orders, 9), Replayed::Reset(key.clone(), 2));
        assert_eq!(table.replay_from(10), 10, "the reset forgot the batch and its hold");
        assert!(!orders.blocked(&key, None, 0));
    }
}
