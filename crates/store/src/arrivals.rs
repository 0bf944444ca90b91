//! Long-polling wake-ups: a pull that finds nothing parks on its queue's `Notify`, and the
//! appender wakes the queues a batch wrote to (and the readers of any queue of their topic).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The queue id under which readers of any queue of a topic wait.
pub const ANY_QUEUE: i32 = -1;

/// Wakes long-polling readers when a queue grows.
#[derive(Default)]
pub struct Arrivals {
    waiters: Mutex<HashMap<(String, i32), Arc<Notify>>>,
}

impl Arrivals {
    pub fn notifier(&self, topic: &str, queue_id: i32) -> Arc<Notify> {
        let mut map = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((topic.to_string(), queue_id)).or_default().clone()
    }

    /// Wakes the readers of the queue, and those of the whole topic (queue id -1: a POP of
    /// any queue).
    pub(crate) fn notify(&self, topic: &str, queue_id: i32) {
        // Woken after the map's lock is released: `Notify` takes a lock of its own.
        let (queue, any) = {
            let map = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            let mut key = (topic.to_string(), queue_id);
            let queue = map.get(&key).cloned();
            key.1 = ANY_QUEUE;
            (queue, map.get(&key).cloned())
        };
        for n in [queue, any].into_iter().flatten() {
            n.notify_waiters();
        }
    }
}
