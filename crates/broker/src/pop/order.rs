//! Orderly POP: a queue's next messages are not handed out while an earlier one of the last
//! batch is in flight (neither acknowledged nor visible again). The consumer offset stays at
//! the batch's first unacknowledged message, so what is not acknowledged is popped again,
//! in order, after its invisible time; nothing goes through the retry topic. Pure data.
//! Each batch remembers the journal record that made it, so the journal's replay point stays
//! at or before it while the batch lives (the broker holds that record in the in-flight
//! table's journal references).

use std::collections::HashMap;

use super::inflight::QueueKey;

#[derive(Debug, Clone)]
struct Batch {
    attempt_id: Option<String>,
    pop_time: i64,
    offsets: Vec<i64>,
    acked: Vec<bool>,
    /// When each offset is visible again (its invisible time may be changed one by one).
    visible_at: Vec<i64>,
    /// How many times each offset was handed out before this batch.
    counts: Vec<i32>,
    /// The journal record of the pop that made it.
    journal: i64,
}

/// What an orderly ack does to the consumer offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAck {
    /// Commit this offset (the first unacknowledged one, or past the batch); `released` is
    /// the journal record of a batch now fully acknowledged.
    Commit { next: i64, released: Option<i64> },
    /// The handle is of an older pop, or the queue has no batch (forgotten by a reset):
    /// nothing changes.
    Stale,
    /// The offset is not in the queue's batch.
    NotInBatch,
}

#[derive(Default)]
pub struct OrderTable {
    batches: HashMap<QueueKey, Batch>,
}

impl OrderTable {
    /// Whether a pop of the queue must wait: a message of the last batch is in flight. A
    /// retry of the same pop (the same attempt id) is not blocked and gets the batch again.
    pub fn blocked(&self, key: &QueueKey, attempt_id: Option<&str>, now: i64) -> bool {
        let Some(b) = self.batches.get(key) else { return false };
        if attempt_id.is_some() && b.attempt_id.as_deref() == attempt_id {
            return false;
        }
        b.acked.iter().zip(&b.visible_at).any(|(acked, at)| !acked && now < *at)
    }

    /// (offset, times handed out before) for each offset of a pop about to be recorded.
    pub fn counts(&self, key: &QueueKey, attempt_id: Option<&str>, offsets: &[i64]) -> Vec<(i64, i32)> {
        let previous = self.batches.get(key);
        let same_attempt = attempt_id.is_some() && previous.as_ref().is_some_and(|b| b.attempt_id.as_deref() == attempt_id);
        offsets
            .iter()
            .map(|o| {
                let before = previous.as_ref().and_then(|b| b.offsets.iter().position(|p| p == o).map(|i| b.counts[i]));
                let count = match before {
                    Some(c) if same_attempt => c,
                    Some(c) => c.saturating_add(1),
                    None => 0,
                };
                (*o, count)
            })
            .collect()
    }

    /// Records a pop (live, or read back from the journal record `journal`) with the counts
    /// [`OrderTable::counts`] gave; returns the journal record of the batch it replaces.
    pub fn popped(&mut self, key: &QueueKey, attempt_id: Option<&str>, pop_time: i64, invisible: i64, counts: &[(i64, i32)], journal: i64) -> Option<i64> {
        let batch = Batch {
            attempt_id: attempt_id.map(str::to_string),
            pop_time,
            offsets: counts.iter().map(|(o, _)| *o).collect(),
            acked: vec![false; counts.len()],
            visible_at: vec![pop_time.saturating_add(invisible); counts.len()],
            counts: counts.iter().map(|(_, c)| *c).collect(),
            journal,
        };
        self.batches.insert(key.clone(), batch).map(|old| old.journal)
    }

    /// Acknowledges one message of the queue's batch popped at `pop_time`.
    pub fn ack(&mut self, key: &QueueKey, offset: i64, pop_time: i64) -> OrderAck {
        let Some(b) = self.batches.get_mut(key) else { return OrderAck::Stale };
        if b.pop_time != pop_time {
            return OrderAck::Stale;
        }
        let Some(i) = b.offsets.iter().position(|o| *o == offset) else { return OrderAck::NotInBatch };
        b.acked[i] = true;
        match b.acked.iter().position(|a| !a) {
            Some(first) => OrderAck::Commit { next: b.offsets[first], released: None },
            None => {
                let next = b.offsets.last().map_or(offset, |o| o.saturating_add(1));
                let released = self.batches.remove(key).map(|b| b.journal);
                OrderAck::Commit { next, released }
            }
        }
    }

    /// Makes one message of the batch visible again at `visible_at`; false if the handle is
    /// not the batch's.
    pub fn change(&mut self, key: &QueueKey, offset: i64, pop_time: i64, visible_at: i64) -> bool {
        let Some(b) = self.batches.get_mut(key).filter(|b| b.pop_time == pop_time) else { return false };
        let Some(i) = b.offsets.iter().position(|o| *o == offset) else { return false };
        b.visible_at[i] = visible_at;
        true
    }

    /// Forgets a queue's batch (its offset was reset); returns its journal record.
    pub fn forget(&mut self, key: &QueueKey) -> Option<i64> {
        self.batches.remove(key).map(|b| b.journal)
    }

    /// Forgets the batches whose every unacknowledged message has been visible again since
    /// `before` (nobody popped the queue since): returns their journal records, so they stop
    /// holding the replay point. A later pop starts from the group's offset as always; only the
    /// delivery counts of those messages start over.
    pub fn forget_idle(&mut self, before: i64) -> Vec<i64> {
        let idle: Vec<QueueKey> =
            self.batches.iter().filter(|(_, b)| b.acked.iter().zip(&b.visible_at).all(|(acked, at)| *acked || *at <= before)).map(|(k, _)| k.clone()).collect();
        idle.into_iter().filter_map(|k| self.batches.remove(&k)).map(|b| b.journal).collect()
    }

    /// When the queue's block ends, if it is blocked.
    pub fn unblocks_at(&self, key: &QueueKey) -> Option<i64> {
        let b = self.batches.get(key)?;
        b.acked.iter().zip(&b.visible_at).filter(|(a, _)| !**a).map(|(_, at)| *at).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> QueueKey {
        QueueKey::new("g", "t", 1)
    }

    #[test]
    fn a_batch_blocks_until_acked_or_visible_again() {
        let mut t = OrderTable::default();
        assert!(!t.blocked(&key(), None, 0));
        let counts = t.counts(&key(), Some("a1"), &[10, 11]);
        assert_eq!(counts, vec![(10, 0), (11, 0)]);
        assert_eq!(t.popped(&key(), Some("a1"), 1000, 60_000, &counts, 7), None);
        assert!(t.blocked(&key(), None, 2000));
        assert!(!t.blocked(&key(), Some("a1"), 2000), "the same attempt gets the batch again");
        assert!(!t.blocked(&key(), None, 61_000), "visible again");
        assert_eq!(t.ack(&key(), 10, 999), OrderAck::Stale);
        assert_eq!(t.ack(&key(), 12, 1000), OrderAck::NotInBatch);
        assert_eq!(t.ack(&key(), 11, 1000), OrderAck::Commit { next: 10, released: None }, "10 is still unacknowledged");
        assert_eq!(t.ack(&key(), 10, 1000), OrderAck::Commit { next: 12, released: Some(7) });
        assert_eq!(t.ack(&key(), 10, 1000), OrderAck::Stale, "no batch any more");
        assert!(!t.blocked(&key(), None, 2000));
    }

    #[test]
    fn redelivery_counts_grow_except_for_the_same_attempt() {
        let mut t = OrderTable::default();
        let pop = |t: &mut OrderTable, attempt: Option<&str>, at: i64, offsets: &[i64], journal: i64| {
            let counts = t.counts(&key(), attempt, offsets);
            let replaced = t.popped(&key(), attempt, at, 10, &counts, journal);
            (counts, replaced)
        };
        pop(&mut t, Some("a"), 0, &[5, 6], 1);
        assert_eq!(pop(&mut t, Some("b"), 20, &[5, 6], 2), (vec![(5, 1), (6, 1)], Some(1)));
        assert_eq!(pop(&mut t, Some("b"), 21, &[5, 6], 3).0, vec![(5, 1), (6, 1)], "a retried request");
        assert_eq!(pop(&mut t, None, 40, &[6, 7], 4).0, vec![(6, 2), (7, 0)]);
        assert_eq!(t.forget(&key()), Some(4));
        pop(&mut t, None, 40, &[6, 7], 5);
        assert!(t.change(&key(), 6, 40, 1000));
        assert_eq!(t.unblocks_at(&key()), Some(1000));
        assert!(!t.change(&key(), 6, 39, 1000));
        assert!(t.forget_idle(999).is_empty(), "offset 6 is invisible until 1000");
        assert_eq!(t.forget_idle(1000), vec![5]);
        assert!(!t.blocked(&key(), None, 0));
    }
}
