//! Auto-renewal of push consumers' messages (the Java proxy's `DefaultReceiptHandleManager`):
//! a push consumer receives with `auto_renew` and no invisible time, so the broker hands its
//! messages out for 60 s and keeps extending that while the client works on them, up to
//! `MAX_RENEW_MS` in all. The client acks, nacks or forwards with the handle it was given; the
//! current one is swapped in. When the client goes away its messages become visible again at
//! once rather than when their time runs out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::Broker;
use protocol::pop::AckMessageRequestHeader;

use crate::handle::Handle;

/// Renew this long before the invisible time runs out.
const RENEW_AHEAD_MS: i64 = 10_000;
/// The invisible time each renewal asks for, in turn; the last repeats.
const SCHEDULE_MS: [i64; 6] = [60_000, 180_000, 300_000, 600_000, 1_800_000, 3_600_000];
/// Renewal stops this long after the message was received (the proxy's `renewMaxTimeMillis`).
const MAX_RENEW_MS: i64 = 3 * 3600 * 1000;
/// How often due renewals are looked for.
const TICK: Duration = Duration::from_secs(1);
/// A message given back (its client went away, or it was renewed for `MAX_RENEW_MS`: the
/// client is stuck) is visible again after this.
const GIVE_BACK_INVISIBLE_MS: i64 = 1_000;

/// (client id, group, message id).
type Key = (String, String, String);
type Entries = Vec<(Key, Arc<Renewal>)>;

struct Renewal {
    topic: String,
    received_at: i64,
    /// The current handle and how often it was renewed. Held across a renewal, so a client
    /// that finishes meanwhile gets the renewed handle, not the one the renewal replaced.
    current: tokio::sync::Mutex<(Handle, usize)>,
}

#[derive(Default)]
pub struct Renewals {
    table: Mutex<HashMap<Key, Arc<Renewal>>>,
}

fn key(client: &str, group: &str, message_id: &str) -> Key {
    (client.to_string(), group.to_string(), message_id.to_string())
}

impl Renewals {
    pub fn insert(&self, client: &str, group: &str, topic: &str, message_id: &str, handle: Handle, now: i64) {
        let r = Renewal { topic: topic.to_string(), received_at: now, current: tokio::sync::Mutex::new((handle, 0)) };
        self.lock().insert(key(client, group, message_id), Arc::new(r));
    }

    /// The current handle of a renewed message, forgotten: the client is done with it.
    pub async fn take(&self, client: &str, group: &str, message_id: &str) -> Option<Handle> {
        let r = self.lock().remove(&key(client, group, message_id))?;
        let current = r.current.lock().await;
        Some(current.0.clone())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Renewal>>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes out the entries `pick` chooses.
    fn remove_where(&self, pick: impl Fn(&Key, &Renewal) -> bool) -> Entries {
        let mut t = self.lock();
        let keys: Vec<Key> = t.iter().filter(|(k, r)| pick(k, r)).map(|(k, _)| k.clone()).collect();
        keys.into_iter().filter_map(|k| t.remove(&k).map(|r| (k, r))).collect()
    }

    /// Makes taken-out messages visible again soon (the proxy nacks them), so they are
    /// delivered again rather than left invisible under handles no client has.
    async fn give_back(broker: &Broker, entries: Entries) {
        for ((_, group, _), r) in entries {
            let current = r.current.lock().await;
            let change = AckMessageRequestHeader::for_handle(&group, &r.topic, &current.0.info, Some(GIVE_BACK_INVISIBLE_MS));
            let _ = broker.change_invisible_time(&change).await;
        }
    }

    /// A client went away: its messages become visible again soon.
    pub async fn release_client(&self, broker: &Broker, client: &str) {
        Self::give_back(broker, self.remove_where(|k, _| k.0 == client)).await;
    }

    /// Renews what is due; drops what can no longer be renewed (acked meanwhile, or past
    /// `MAX_RENEW_MS`, when it is left to come back when its time runs out).
    pub(crate) async fn renew_due(&self, broker: &Broker) {
        let now = broker.clock.now_ms();
        // Renewed as long as allowed: given back.
        Self::give_back(broker, self.remove_where(|_, r| now.saturating_sub(r.received_at) >= MAX_RENEW_MS)).await;
        let candidates: Entries = self.lock().iter().map(|(k, r)| (k.clone(), r.clone())).collect();
        for (k, r) in candidates {
            let mut current = r.current.lock().await;
            let (handle, n) = (current.0.clone(), current.1);
            if handle.expires_at().saturating_sub(broker.clock.now_ms()) > RENEW_AHEAD_MS || !self.lock().contains_key(&k) {
                continue;
            }
            let invisible = SCHEDULE_MS[n.min(SCHEDULE_MS.len() - 1)];
            let change = AckMessageRequestHeader::for_handle(&k.1, &r.topic, &handle.info, Some(invisible));
            match broker.change_invisible_time(&change).await {
                Ok(answer) => *current = (Handle { info: handle.info.changed(&answer), commit_log_offset: handle.commit_log_offset }, n + 1),
                Err(e) => {
                    tracing::debug!(error = %e, message = %k.2, "a push consumer's message could not be renewed");
                    self.lock().remove(&k);
                }
            }
        }
    }
}
/// Renews due messages until the server stops.
pub async fn run(broker: Arc<Broker>, renewals: Arc<Renewals>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        renewals.renew_due(&broker).await;
    }
}
