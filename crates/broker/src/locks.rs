//! Queue locks for orderly consumption (`RebalanceLockManager`): a queue belongs to one
//! client of a group until that client unlocks it or stops renewing for 60 s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use protocol::body::MessageQueue;

/// `rocketmq.broker.rebalance.lockMaxLiveTime`.
pub const LOCK_MAX_LIVE: Duration = Duration::from_secs(60);

/// A group's locked queues: the holder's client id and when it last locked each.
type GroupLocks = HashMap<MessageQueue, (String, Instant)>;

#[derive(Default)]
pub struct LockTable {
    groups: Mutex<HashMap<String, GroupLocks>>,
}

impl LockTable {
    /// Locks what is free, expired or already this client's; returns what it holds now.
    pub fn lock(&self, group: &str, client_id: &str, queues: &[MessageQueue], now: Instant) -> Vec<MessageQueue> {
        let mut g = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let table = g.entry(group.to_string()).or_default();
        let mut granted = Vec::new();
        for mq in queues {
            let free = match table.get(mq) {
                None => true,
                Some((owner, at)) => owner == client_id || now.duration_since(*at) > LOCK_MAX_LIVE,
            };
            if free {
                table.insert(mq.clone(), (client_id.to_string(), now));
                granted.push(mq.clone());
            }
        }
        granted
    }

    /// Whether no queue of the group is held (`isLockAllExpired`): a group holding locks
    /// consumes orderly, and its retries go to the DLQ at once.
    pub fn all_expired(&self, group: &str, now: Instant) -> bool {
        let g = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        g.get(group).is_none_or(|table| table.values().all(|(_, at)| now.duration_since(*at) > LOCK_MAX_LIVE))
    }

    pub fn unlock(&self, group: &str, client_id: &str, queues: &[MessageQueue]) {
        let mut g = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(table) = g.get_mut(group) {
            for mq in queues {
                if table.get(mq).is_some_and(|(owner, _)| owner == client_id) {
                    table.remove(mq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(id: i32) -> MessageQueue {
        MessageQueue { topic: "T".into(), broker_name: "b".into(), queue_id: id }
    }

    #[test]
    fn locks_expire_and_belong_to_one_client() {
        let t = LockTable::default();
        let now = Instant::now();
        assert_eq!(t.lock("g", "c1", &[mq(0), mq(1)], now).len(), 2);
        assert!(t.lock("g", "c2", &[mq(0)], now + Duration::from_secs(30)).is_empty());
        assert_eq!(t.lock("g", "c2", &[mq(0)], now + Duration::from_secs(61)), vec![mq(0)]);
        t.unlock("g", "c1", &[mq(1)]);
        assert_eq!(t.lock("g", "c2", &[mq(1)], now), vec![mq(1)]);
        assert!(!t.all_expired("g", now + Duration::from_secs(60)));
        assert!(t.all_expired("g", now + Duration::from_secs(122)), "c2 took queue 0 at 61 s");
        assert!(t.all_expired("other", now));
    }
}
