//! Orderly POP: a queue's next messages are not handed out while an earlier one of the last
//! batch is in flight (neither acknowledged nor visible again). The consumer offset stays at
//! the batch's first unacknowledged message, so what is not acknowledged is popped again,
//! in order, after its invisible time; nothing goes through the retry topic. Pure data.

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
}

/// What an orderly ack does to the consumer offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAck {
    /// Commit this offset (the first unacknowledged one, or past the batch).
    Commit(i64),
    /// The handle is of an older pop: nothing changes.
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

    /// Records a pop of `offsets`; returns (offset, times handed out before) for each.
    pub fn popped(&mut self, key: &QueueKey, attempt_id: Option<&str>, pop_time: i64, invisible: i64, offsets: &[i64]) -> Vec<(i64, i32)> {
        let previous = self.batches.remove(key);
        let same_attempt = attempt_id.is_some() && previous.as_ref().is_some_and(|b| b.attempt_id.as_deref() == attempt_id);
        let counts: Vec<i32> = offsets
            .iter()
            .map(|o| {
                let before = previous.as_ref().and_then(|b| b.offsets.iter().position(|p| p == o).map(|i| b.counts[i]));
                match before {
                    Some(c) if same_attempt => c,
                    Some(c) => c + 1,
                    None => 0,
                }
            })
            .collect();
        self.batches.insert(
            key.clone(),
            Batch {
                attempt_id: attempt_id.map(str::to_string),
                pop_time,
                offsets: offsets.to_vec(),
                acked: vec![false; offsets.len()],
                visible_at: vec![pop_time + invisible; offsets.len()],
                counts: counts.clone(),
            },
        );
        offsets.iter().copied().zip(counts).collect()
    }

    /// Acknowledges one message of the queue's batch popped at `pop_time`. Without a batch
    /// (forgotten at a restart) the ack commits past the message.
    pub fn ack(&mut self, key: &QueueKey, offset: i64, pop_time: i64) -> OrderAck {
        let Some(b) = self.batches.get_mut(key) else { return OrderAck::Commit(offset + 1) };
        if b.pop_time != pop_time {
            return OrderAck::Stale;
        }
        let Some(i) = b.offsets.iter().position(|o| *o == offset) else { return OrderAck::NotInBatch };
        b.acked[i] = true;
        match b.acked.iter().position(|a| !a) {
            Some(first) => OrderAck::Commit(b.offsets[first]),
            None => {
                let next = b.offsets.last().map_or(offset, |o| o + 1);
                self.batches.remove(key);
                OrderAck::Commit(next)
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

    /// Forgets a queue's batch (its offset was reset).
    pub fn forget(&mut self, key: &QueueKey) {
        self.batches.remove(key);
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
        assert_eq!(t.popped(&key(), Some("a1"), 1000, 60_000, &[10, 11]), vec![(10, 0), (11, 0)]);
        assert!(t.blocked(&key(), None, 2000));
        assert!(!t.blocked(&key(), Some("a1"), 2000), "the same attempt gets the batch again");
        assert!(!t.blocked(&key(), None, 61_000), "visible again");
        assert_eq!(t.ack(&key(), 10, 999), OrderAck::Stale);
        assert_eq!(t.ack(&key(), 12, 1000), OrderAck::NotInBatch);
        assert_eq!(t.ack(&key(), 11, 1000), OrderAck::Commit(10), "10 is still unacknowledged");
        assert_eq!(t.ack(&key(), 10, 1000), OrderAck::Commit(12));
        assert!(!t.blocked(&key(), None, 2000));
    }

    #[test]
    fn redelivery_counts_grow_except_for_the_same_attempt() {
        let mut t = OrderTable::default();
        t.popped(&key(), Some("a"), 0, 10, &[5, 6]);
        assert_eq!(t.popped(&key(), Some("b"), 20, 10, &[5, 6]), vec![(5, 1), (6, 1)]);
        assert_eq!(t.popped(&key(), Some("b"), 21, 10, &[5, 6]), vec![(5, 1), (6, 1)], "a retried request");
        assert_eq!(t.popped(&key(), None, 40, 10, &[6, 7]), vec![(6, 2), (7, 0)]);
        assert!(t.change(&key(), 6, 40, 1000));
        assert_eq!(t.unblocks_at(&key()), Some(1000));
        assert!(!t.change(&key(), 6, 39, 1000));
    }
}
