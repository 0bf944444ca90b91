//! A pair of journal topics read back at a start from two progress offsets (kept as a system
//! group's consumer offsets): records that wait for something (half messages, timers) and the
//! records that settle them (transaction ops, timer done records). Transactions and timers
//! share this part: the write floors, the settling records by offset, and how the progress
//! offsets move.

use std::collections::BTreeMap;
use std::sync::Mutex;

use protocol::message::{decode_records, MessageRecord};
use store::AcceptAll;

use crate::Broker;

/// Offsets of a journal topic whose records are being written and not yet in memory: a
/// progress offset may not pass them (the record would not be read back after a restart).
/// Each writer registers the topic's end before its put, and leaves once its record is in
/// memory.
#[derive(Default)]
pub struct Floors(Mutex<BTreeMap<i64, usize>>);

impl Floors {
    pub fn enter(&self, at: i64) -> Floor<'_> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(at).or_default() += 1;
        Floor { floors: self, at }
    }

    /// `end`, held back to the lowest offset being written.
    fn limit(&self, end: i64) -> i64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).keys().next().map_or(end, |f| (*f).min(end))
    }
}

/// One writer's floor, left when dropped.
pub struct Floor<'a> {
    floors: &'a Floors,
    at: i64,
}

impl Drop for Floor<'_> {
    fn drop(&mut self) {
        let mut m = self.floors.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.at) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.at);
            }
        }
    }
}

/// Settling records at or past the settling progress: settling record offset → the largest
/// waiting-record offset it settles.
#[derive(Default)]
pub struct Settled(BTreeMap<i64, i64>);

impl Settled {
    pub fn insert(&mut self, op_offset: i64, settles: i64) {
        self.0.insert(op_offset, settles);
    }

    /// The progress pair: the first waiting record still pending (or `end`), never past `end`;
    /// and the first settling record that settles one at or past it (or `op_end`). Those
    /// before it are dropped: a restart reads no waiting record they settle.
    pub fn progress(&mut self, first_pending: Option<i64>, end: i64, op_end: i64) -> (i64, i64) {
        let waiting = first_pending.map_or(end, |p| p.min(end));
        while let Some((&op, &settles)) = self.0.first_key_value() {
            if settles >= waiting {
                return (waiting, op);
            }
            self.0.remove(&op);
        }
        (waiting, op_end)
    }
}

/// A journal pair's writes in flight, and the lock that orders its progress updates.
#[derive(Default)]
pub struct Journal {
    /// Waiting records being written.
    pub(crate) records: Floors,
    /// Settling records being written.
    pub(crate) ops: Floors,
    progress: Mutex<()>,
}

impl Broker {
    /// Calls `f` on each record of a journal topic's queue 0 from `from` to its end (at a
    /// start); returns how many could not be decoded (skipped, with a warning).
    pub(crate) fn each_record(&self, topic: &str, from: i64, mut f: impl FnMut(&MessageRecord)) -> Result<u64, store::StoreError> {
        let end = self.store.max_offset(topic, 0);
        let (mut offset, mut unreadable) = (from, 0);
        while offset < end {
            let got = self.store.get(topic, 0, offset, 64, &AcceptAll)?;
            if got.message_count == 0 {
                offset = got.next_begin_offset.max(offset + 1);
                continue;
            }
            match decode_records(&got.messages) {
                Ok(records) => records.iter().for_each(&mut f),
                Err(e) => {
                    tracing::warn!(topic, offset, error = %e, "unreadable records skipped");
                    unreadable += got.message_count as u64;
                }
            }
            offset = got.next_begin_offset;
        }
        Ok(unreadable)
    }

    /// Moves `group`'s progress offsets on `[records, ops]` topics forward. `progress` gets
    /// the two topics' ends, held back to the writes in flight, and returns the pair; the
    /// settling progress is held back again (a settling record being written is not in memory
    /// yet, so the first one there may lie past it).
    pub(crate) fn advance_journal(&self, journal: &Journal, group: &str, topics: [&str; 2], progress: impl FnOnce(i64, i64) -> (i64, i64)) {
        let _one = journal.progress.lock().unwrap_or_else(|e| e.into_inner());
        let ends = topics.map(|t| self.store.max_offset(t, 0));
        let (waiting, op) = progress(journal.records.limit(ends[0]), journal.ops.limit(ends[1]));
        for (topic, at) in [(topics[0], waiting), (topics[1], journal.ops.limit(op))] {
            if self.offsets.query(group, topic, 0).is_none_or(|o| o < at) {
                self.offsets.commit(group, topic, 0, at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_stops_at_a_write_in_flight_before_dropping_what_settles_past_it() {
        // A waiting record is being written at 10 (the end, held back), 11 is settled by the
        // op at 5, 12 still waits: the op settling 11 must stay, or a restart reading from 10
        // would take 11 as waiting again.
        let mut s = Settled::default();
        s.insert(5, 11);
        s.insert(6, 12);
        assert_eq!(s.progress(Some(12), 10, 7), (10, 5));
        // Nothing in flight: 11 is behind the first pending, its op can go.
        assert_eq!(s.progress(Some(12), 13, 7), (12, 6));
        assert_eq!(s.progress(None, 13, 7), (13, 7));
    }

    #[test]
    fn floors_hold_an_end_back_until_every_writer_leaves() {
        let f = Floors::default();
        assert_eq!(f.limit(100), 100);
        let a = f.enter(40);
        let b = f.enter(40);
        let c = f.enter(70);
        assert_eq!(f.limit(100), 40);
        drop(a);
        assert_eq!(f.limit(100), 40);
        drop(b);
        assert_eq!(f.limit(100), 70);
        assert_eq!(f.limit(50), 50);
        drop(c);
        assert_eq!(f.limit(100), 100);
    }
}
