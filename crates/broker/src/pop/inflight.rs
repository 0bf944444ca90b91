//! The in-flight table: every message a POP handed out and that is neither acknowledged nor
//! revived yet, with the time it becomes visible again. Pure data (no I/O, no clock): the
//! journal replays into it at start, pops, acks and changes edit it, the reviver takes what
//! is due. It also knows the oldest journal record any live entry still needs, so replay
//! starts there.

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

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    /// When it was handed out (or its invisible time last changed): the handle's popTime,
    /// which an ack must name.
    pop_time: i64,
    /// When it is visible again.
    deadline: i64,
    /// The journal record (revive-queue offset) that created it.
    journal: i64,
}

/// A message whose time ran out, taken from the table by [`Inflight::take_due`].
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub key: Arc<QueueKey>,
    pub offset: i64,
    pub pop_time: i64,
    /// The journal record that holds it (so it can be put back if its revive fails).
    pub journal: i64,
}

/// An interned queue: its key and its messages in flight (offset → entry).
type Slot = (Arc<QueueKey>, BTreeMap<i64, Entry>);

/// Queues are interned: the deadline index and the per-queue maps use a small id, so the
/// hot paths (insert, ack, take) neither hash nor compare strings more than once.
#[derive(Default)]
pub struct Inflight {
    ids: HashMap<Arc<QueueKey>, u32>,
    /// By id: the key and its messages in flight (offset → entry); `None` for a free id.
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    due: BTreeSet<(i64, u32, i64)>,
    /// Live entries per journal record.
    journal_refs: BTreeMap<i64, u32>,
    /// Journal writes under way: the journal's end when each began (its record lands at or
    /// after it), so the replay point does not pass a record whose entries are not in yet.
    pending: BTreeMap<i64, u32>,
    len: usize,
}

impl Inflight {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many of a queue's messages are in flight.
    pub fn count(&self, key: &QueueKey) -> usize {
        self.entries(key).map_or(0, BTreeMap::len)
    }

    fn entries(&self, key: &QueueKey) -> Option<&BTreeMap<i64, Entry>> {
        let id = *self.ids.get(key)?;
        self.slots[id as usize].as_ref().map(|(_, e)| e)
    }

    /// Adds handed-out messages; an entry for the same offset is replaced (the offset was
    /// popped again, after an offset reset).
    pub fn insert(&mut self, key: &QueueKey, offsets: &[i64], pop_time: i64, deadline: i64, journal: i64) {
        for &offset in offsets {
            if let Some(&old) = self.ids.get(key) {
                self.remove(old, offset);
            }
            // Interned after the removal, which may have given the id back.
            let id = self.intern(key);
            if let Some((_, entries)) = self.slots[id as usize].as_mut() {
                entries.insert(offset, Entry { pop_time, deadline, journal });
            }
            self.due.insert((deadline, id, offset));
            self.hold(journal);
            self.len += 1;
        }
    }

    /// Acknowledges a message handed out at `pop_time`: true if it was in flight with that
    /// handle. An ack of an older handle (the invisible time changed since, or it was popped
    /// again) changes nothing.
    pub fn ack(&mut self, key: &QueueKey, offset: i64, pop_time: i64) -> bool {
        let Some(&id) = self.ids.get(key) else { return false };
        if !self.slot_holds(id, offset, pop_time) {
            return false;
        }
        self.remove(id, offset);
        true
    }

    /// Whether a message is in flight under the handle of `pop_time`.
    pub fn holds(&self, key: &QueueKey, offset: i64, pop_time: i64) -> bool {
        self.ids.get(key).is_some_and(|&id| self.slot_holds(id, offset, pop_time))
    }

    fn slot_holds(&self, id: u32, offset: i64, pop_time: i64) -> bool {
        self.slots[id as usize].as_ref().and_then(|(_, e)| e.get(&offset)).is_some_and(|e| e.pop_time == pop_time)
    }

    /// Removes an entry; a queue left with none gives its id back.
    fn remove(&mut self, id: u32, offset: i64) -> Option<Entry> {
        let (key, entries) = self.slots[id as usize].as_mut()?;
        let e = entries.remove(&offset)?;
        if entries.is_empty() {
            self.ids.remove(&**key);
            self.slots[id as usize] = None;
            self.free.push(id);
        }
        self.due.remove(&(e.deadline, id, offset));
        self.release(e.journal);
        self.len -= 1;
        Some(e)
    }

    /// Takes up to `max` entries whose time has come.
    pub fn take_due(&mut self, now: i64, max: usize) -> Vec<Due> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(&(deadline, id, offset)) = self.due.first() else { break };
            if deadline > now {
                break;
            }
            let key = self.slots[id as usize].as_ref().map(|(k, _)| k.clone());
            match (key, self.remove(id, offset)) {
                (Some(key), Some(e)) => out.push(Due { key, offset, pop_time: e.pop_time, journal: e.journal }),
                // Not reachable while the index and the maps agree; never loop on it.
                _ => {
                    self.due.remove(&(deadline, id, offset));
                }
            }
        }
        out
    }

    /// When the next entry comes due.
    pub fn next_deadline(&self) -> Option<i64> {
        self.due.first().map(|(d, _, _)| *d)
    }

    /// Keeps the replay point at or before a journal record something else still needs (an
    /// orderly batch), until [`Inflight::release`].
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
        self.slots[id as usize] = Some((key.clone(), BTreeMap::new()));
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
        t.insert(&key(), &[5, 6], 1000, 61_000, 0);
        assert_eq!(t.len(), 2);
        assert!(!t.ack(&key(), 5, 999), "another handle's pop time");
        assert!(t.ack(&key(), 5, 1000));
        assert!(!t.ack(&key(), 5, 1000), "a double ack changes nothing");
        assert_eq!(t.len(), 1);
        assert!(t.holds(&key(), 6, 1000));
    }

    #[test]
    fn due_entries_come_out_in_deadline_order() {
        let mut t = Inflight::default();
        t.insert(&key(), &[1], 0, 300, 0);
        t.insert(&key(), &[2], 0, 100, 1);
        t.insert(&QueueKey::new("g", "u", 1), &[9], 0, 200, 2);
        assert_eq!(t.next_deadline(), Some(100));
        let due = t.take_due(250, 10);
        assert_eq!(due.iter().map(|d| d.offset).collect::<Vec<_>>(), vec![2, 9]);
        assert_eq!(t.len(), 1);
        assert!(t.take_due(299, 10).is_empty());
        assert_eq!(t.take_due(300, 10).len(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn replay_starts_at_the_oldest_record_still_needed() {
        let mut t = Inflight::default();
        assert_eq!(t.replay_from(7), 7, "nothing in flight: nothing to replay");
        t.insert(&key(), &[1, 2], 0, 100, 3);
        t.insert(&key(), &[3], 0, 100, 5);
        assert_eq!(t.replay_from(7), 3);
        t.ack(&key(), 1, 0);
        assert_eq!(t.replay_from(7), 3, "record 3 still holds offset 2");
        t.ack(&key(), 2, 0);
        assert_eq!(t.replay_from(7), 5);
        t.begin_write(4);
        assert_eq!(t.replay_from(7), 4, "a write under way may land at 4");
        t.end_write(4);
        // Popped again (an offset reset): the new record replaces the old entry, the queue's
        // only one.
        t.insert(&key(), &[3], 50, 200, 6);
        assert_eq!(t.replay_from(7), 6);
        assert_eq!(t.len(), 1);
        assert!(t.holds(&key(), 3, 50));
        assert_eq!(t.take_due(200, 10).len(), 1);
        assert!(t.is_empty() && t.next_deadline().is_none());
    }
}
