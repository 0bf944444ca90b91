//! Long-polling wake-ups: a pull that finds nothing parks on its queue's `Notify`, and the
//! appender wakes the queues a batch wrote to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

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

    pub(crate) fn notify(&self, topic: &str, queue_id: i32) {
        // Woken after the map's lock is released: `Notify` takes a lock of its own.
        let notify = self.waiters.lock().unwrap_or_else(|e| e.into_inner()).get(&(topic.to_string(), queue_id)).cloned();
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }
}
