//! The in-flight table: every message a POP handed out and that is neither acknowledged nor
//! revived yet, with the time it becomes visible again. Pure data (no I/O, no clock): the
//! journal replays into it at start, pops, acks and changes edit it, the reviver takes what
//! is due. It also knows the oldest journal record any live entry still needs, so replay
//! starts there.
//!
//! Messages are kept by pop batch, as the receipt handle names them: (queue, checkpoint
//! offset, pop time) finds the batch, whose few offsets are scanned; a batch has one
//! deadline in the index. So a pop of 32 messages costs one index entry, not 32.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A queue as one group pops it: the topic is the one read (the topic itself, or the group's
/// POP retry topic).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueKey {
    pub group: String,
    pub topic: String,
    pub queue_id: i32,
}

impl QueueKey {
    pub fn new(group: &str, topic: &str, queue_id: i32) -> QueueKey {
        QueueKey { group: group.to_string(), topic: topic.to_string(), queue_id }
    }
}

/// One pop's messages of one queue that are still in flight.
#[derive(Debug, Clone, PartialEq)]
struct Batch {
    offsets: Vec<i64>,
    live: Vec<bool>,
    remaining: usize,
    deadline: i64,
    /// The journal record that created it.
    journal: i64,
}

/// A message whose time ran out, taken from the table by [`Inflight::take_due`].
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub key: Arc<QueueKey>,
    pub offset: i64,
    /// Its handle: the batch's checkpoint offset and pop time.
    pub ck: i64,
    pub pop_time: i64,
    /// The journal record that holds it (so it can be put back if its revive fails).
    pub journal: i64,
}

/// A batch: (queue id, checkpoint offset, pop time).
type BatchKey = (u32, i64, i64);

/// An interned queue: its key and how many batches it has in flight.
type Slot = (Arc<QueueKey>, usize);

#[derive(Default)]
pub struct Inflight {
    ids: HashMap<Arc<QueueKey>, u32>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    batches: HashMap<BatchKey, Batch>,
    due: BTreeSet<(i64, BatchKey)>,
    /// Live batches per journal record (and records held for orderly batches).
    journal_refs: BTreeMap<i64, u32>,
    /// Journal writes under way: the journal's end when each began (its record lands at or
    /// after it), so the replay point does not pass a record whose entries are not in yet.
    pending: BTreeMap<i64, u32>,
    /// Messages in flight.
    len: usize,
}

impl Inflight {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Messages of `group` in flight from `topic` (any queue); walks every batch (metrics).
    pub fn count_of(&self, group: &str, topic: &str) -> usize {
        self.batches
            .iter()
            .filter(|((slot, _, _), _)| self.slots.get(*slot as usize).and_then(Option::as_ref).is_some_and(|(k, _)| k.group == group && k.topic == topic))
            .map(|(_, b)| b.remaining)
            .sum()
    }

    /// Adds the messages of one pop (checkpoint offset `ck`, handles of `pop_time`). Into a
    /// batch of the same handle they are merged.
    pub fn insert(&mut self, key: &QueueKey, ck: i64, offsets: &[i64], pop_time: i64, deadline: i64, journal: i64) {
        if offsets.is_empty() {
            return;
        }
        let id = self.intern(key);
        let bk = (id, ck, pop_time);
        if let Some(b) = self.batches.get_mut(&bk) {
            for &o in offsets {
                match b.offsets.iter().position(|x| *x == o) {
                    Some(i) if b.live[i] => continue,
                    Some(i) => b.live[i] = true,
                    None => {
                        b.offsets.push(o);
                        b.live.push(true);
                    }
                }
                b.remaining += 1;
                self.len += 1;
            }
            return;
        }
        let mut unique = offsets.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let n = unique.len();
        self.batches.insert(bk, Batch { live: vec![true; n], offsets: unique, remaining: n, deadline, journal });
        self.due.insert((deadline, bk));
        self.hold(journal);
        if let Some(slot) = self.slots[id as usize].as_mut() {
            slot.1 += 1;
        }
        self.len += n;
    }

    /// Acknowledges a message under the handle (`ck`, `pop_time`): true if it was in flight
    /// with that handle. An ack of another handle (the invisible time changed since, or it
    /// was popped again) changes nothing.
    pub fn ack(&mut self, key: &QueueKey, ck: i64, pop_time: i64, offset: i64) -> bool {
        self.ack_all(key, &[(ck, offset, pop_time)]) == 1
    }

    /// Acknowledges (checkpoint offset, offset, pop time) triples of one queue; returns how
    /// many were in flight under their handle.
    pub fn ack_all(&mut self, key: &QueueKey, acks: &[(i64, i64, i64)]) -> usize {
        let Some(&id) = self.ids.get(key) else { return 0 };
        acks.iter().filter(|&&(ck, offset, pop_time)| self.ack_in(id, ck, pop_time, offset)).count()
    }

    fn ack_in(&mut self, id: u32, ck: i64, pop_time: i64, offset: i64) -> bool {
        let bk = (id, ck, pop_time);
        let Some(b) = self.batches.get_mut(&bk) else { return false };
        let Some(i) = b.offsets.iter().position(|o| *o == offset).filter(|i| b.live[*i]) else { return false };
        b.live[i] = false;
        b.remaining -= 1;
        self.len -= 1;
        if b.remaining == 0 {
            self.remove_batch(bk);
        }
        true
    }

    /// Of acks given as (checkpoint offset, offset, pop time), those in flight under their
    /// handle (the queue is looked up once).
    pub fn held(&self, key: &QueueKey, acks: &[(i64, i64, i64)]) -> Vec<(i64, i64, i64)> {
        let Some(&id) = self.ids.get(key) else { return Vec::new() };
        acks.iter()
            .copied()
            .filter(|&(ck, o, pt)| self.batches.get(&(id, ck, pt)).and_then(|b| b.offsets.iter().position(|x| *x == o).map(|i| b.live[i])).unwrap_or(false))
            .collect()
    }

    /// Whether a message is in flight under the handle (`ck`, `pop_time`).
    pub fn holds(&self, key: &QueueKey, ck: i64, pop_time: i64, offset: i64) -> bool {
        !self.held(key, &[(ck, offset, pop_time)]).is_empty()
    }

    fn remove_batch(&mut self, bk: BatchKey) -> Option<Batch> {
        let b = self.batches.remove(&bk)?;
        self.due.remove(&(b.deadline, bk));
        self.release(b.journal);
        let id = bk.0;
        let emptied = match self.slots[id as usize].as_mut() {
            Some(slot) => {
                slot.1 -= 1;
                slot.1 == 0
            }
            None => false,
        };
        if emptied {
            if let Some((key, _)) = self.slots[id as usize].take() {
                self.ids.remove(&*key);
            }
            self.free.push(id);
        }
        Some(b)
    }

    /// Takes the messages of whole batches whose time has come, at least `max` unless fewer
    /// are due.
    pub fn take_due(&mut self, now: i64, max: usize) -> Vec<Due> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(&(deadline, bk)) = self.due.first() else { break };
            if deadline > now {
                break;
            }
            let key = self.slots[bk.0 as usize].as_ref().map(|(k, _)| k.clone());
            match (key, self.remove_batch(bk)) {
                (Some(key), Some(b)) => {
                    self.len -= b.remaining;
                    for (o, live) in b.offsets.iter().zip(&b.live) {
                        if *live {
                            out.push(Due { key: key.clone(), offset: *o, ck: bk.1, pop_time: bk.2, journal: b.journal });
                        }
                    }
                }
                // Not reachable while the index and the maps agree; never loop on it.
                _ => {
                    self.due.remove(&(deadline, bk));
                }
            }
        }
        out
    }

    /// When the next batch comes due.
    pub fn next_deadline(&self) -> Option<i64> {
        self.due.first().map(|(d, _)| *d)
    }

    /// Keeps the replay point at or before a journal record something still needs (a batch,
    /// an orderly batch), until [`Inflight::release`].
    pub fn hold(&mut self, journal: i64) {
        *self.journal_refs.entry(journal).or_default() += 1;
    }

    pub fn release(&mut self, journal: i64) {
        if let Some(n) = self.journal_refs.get_mut(&journal) {
            *n -= 1;
            if *n == 0 {
                self.journal_refs.remove(&journal);
            }
        }
    }

    /// Marks a journal write as under way; `journal_end` is the journal's end offset now.
    pub fn begin_write(&mut self, journal_end: i64) {
        *self.pending.entry(journal_end).or_default() += 1;
    }

    pub fn end_write(&mut self, journal_end: i64) {
        if let Some(n) = self.pending.get_mut(&journal_end) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(&journal_end);
            }
        }
    }

    /// The first journal record a replay must read: the oldest one a live entry or a write
    /// under way needs, else `journal_end` (nothing is needed).
    pub fn replay_from(&self, journal_end: i64) -> i64 {
        let live = self.journal_refs.keys().next().copied().unwrap_or(journal_end);
        let pending = self.pending.keys().next().copied().unwrap_or(journal_end);
        live.min(pending).min(journal_end)
    }

    fn intern(&mut self, key: &QueueKey) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let key = Arc::new(key.clone());
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.slots[id as usize] = Some((key.clone(), 0));
        self.ids.insert(key, id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> QueueKey {
        QueueKey::new("g", "t", 0)
    }

    #[test]
    fn acks_need_the_current_handle() {
        let mut t = Inflight::default();
        t.insert(&key(), 5, &[5, 6], 1000, 61_000, 0);
        assert_eq!(t.len(), 2);
        assert!(!t.ack(&key(), 5, 999, 5), "another handle's pop time");
        assert!(!t.ack(&key(), 4, 1000, 5), "another checkpoint");
        assert!(t.ack(&key(), 5, 1000, 5));
        assert!(!t.ack(&key(), 5, 1000, 5), "a double ack changes nothing");
        assert_eq!(t.len(), 1);
        assert!(t.holds(&key(), 5, 1000, 6));
        assert!(t.ack(&key(), 5, 1000, 6));
        assert!(t.is_empty() && t.next_deadline().is_none());
    }

    #[test]
    fn due_batches_come_out_in_deadline_order() {
        let mut t = Inflight::default();
        t.insert(&key(), 1, &[1], 0, 300, 0);
        t.insert(&key(), 2, &[2, 3], 0, 100, 1);
        t.insert(&QueueKey::new("g", "u", 1), 9, &[9], 0, 200, 2);
        t.ack(&key(), 2, 0, 3);
        assert_eq!(t.next_deadline(), Some(100));
        let due = t.take_due(250, 10);
        assert_eq!(due.iter().map(|d| (d.offset, d.ck)).collect::<Vec<_>>(), vec![(2, 2), (9, 9)], "the acked offset 3 is not due");
        assert_eq!(t.len(), 1);
        assert!(t.take_due(299, 10).is_empty());
        assert_eq!(t.take_due(300, 10).len(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn replay_starts_at_the_oldest_record_still_needed() {
        let mut t = Inflight::default();
        assert_eq!(t.replay_from(7), 7, "nothing in flight: nothing to replay");
        t.insert(&key(), 1, &[1, 2], 0, 100, 3);
        t.insert(&key(), 3, &[3], 0, 100, 5);
        assert_eq!(t.replay_from(7), 3);
        t.ack(&key(), 1, 0, 1);
        assert_eq!(t.replay_from(7), 3, "record 3 still holds offset 2");
        t.ack(&key(), 1, 0, 2);
        assert_eq!(t.replay_from(7), 5);
        t.begin_write(4);
        assert_eq!(t.replay_from(7), 4, "a write under way may land at 4");
        t.end_write(4);
        t.hold(2);
        assert_eq!(t.replay_from(7), 2, "held for an orderly batch");
        t.release(2);
        // Popped again (an offset reset): a new batch beside the old one.
        t.insert(&key(), 3, &[3], 50, 200, 6);
        assert_eq!(t.len(), 2);
        assert!(t.holds(&key(), 3, 50, 3) && t.holds(&key(), 3, 0, 3));
        assert_eq!(t.take_due(200, 10).len(), 2);
        assert!(t.is_empty() && t.next_deadline().is_none());
        assert_eq!(t.replay_from(7), 7);
    }
}
