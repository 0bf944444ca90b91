//! POP consumption's state: the in-flight table ([`inflight`]) and its journal
//! ([`journal`]), orderly batches ([`order`]), each group's consume mode ([`modes`]), and the
//! reviver, which gives back what was not acknowledged in time: a copy goes to the group's
//! POP retry topic `%RETRY%{group}_{topic}` (same message id, reconsume count + 1), or to
//! `%DLQ%{group}` past the group's `retryMaxTimes`. The operations are in
//! `service/pop.rs`.
//!
//! Durability: a pop answers only once its checkpoint record is stored (as durable as a
//! message under the flush mode); an ack answers once its record is stored. At start the
//! journal is replayed from the oldest record a live entry needs (kept in the offset table
//! as the offset of [`journal::REVIVE_GROUP`]), and each checkpoint also moves its group's
//! offset, so a crash neither loses what was handed out nor hands out again what the
//! offset file had not caught up with yet.

pub mod inflight;
pub mod journal;
pub mod modes;
pub mod order;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use protocol::message::{decode_record, prop, Properties};
use store::PutError;
use tokio::sync::Notify;

use crate::put::NewMessage;
use crate::Broker;
use inflight::{Due, Inflight, QueueKey};
use journal::Record;

/// `1ST_POP_TIME`: when a revived message was first popped.
pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
/// How many due messages the reviver gives back per round.
const REVIVE_BATCH: usize = 256;
/// An orderly batch visible again this long, and not popped since, is forgotten.
const ORDER_BATCH_IDLE_MS: i64 = 60_000;
/// The reviver looks for due messages at least this often.
const REVIVE_POLL: Duration = Duration::from_millis(200);

pub struct PopState {
    pub inflight: Mutex<Inflight>,
    pub order: Mutex<order::OrderTable>,
    pub modes: modes::RequestModes,
    pub revive_topic: String,
    /// Queues a pop is reading now: a second pop of the same queue skips it (as the Java
    /// broker's queue lock), so two pops never hand out the same message.
    busy: Mutex<HashSet<QueueKey>>,
    /// Wakes the reviver early (a shorter deadline was added).
    pub(crate) wake_reviver: Notify,
    /// Wakes parked orderly pops when a batch is acknowledged.
    pub(crate) order_released: Notify,
    /// Parked pops per (topic, group, queue id asked), for POLLING_INFO.
    waiting: Mutex<HashMap<(String, String, i32), usize>>,
}

impl PopState {
    pub fn new(root: &std::path::Path, cluster: &str) -> std::io::Result<PopState> {
        Ok(PopState {
            inflight: Mutex::default(),
            order: Mutex::default(),
            modes: modes::RequestModes::load(root)?,
            revive_topic: journal::revive_topic(cluster),
            busy: Mutex::default(),
            wake_reviver: Notify::new(),
            order_released: Notify::new(),
            waiting: Mutex::default(),
        })
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, Inflight> {
        self.inflight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages of `group` in flight from `topic`.
    pub fn inflight_of(&self, group: &str, topic: &str) -> usize {
        self.table().count_of(group, topic)
    }

    pub(crate) fn orders(&self) -> MutexGuard<'_, order::OrderTable> {
        self.order.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a parked pop in (`delta` 1) or out (-1).
    pub(crate) fn count_waiting(&self, topic: &str, group: &str, queue_id: i32, delta: isize) {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let key = (topic.to_string(), group.to_string(), queue_id);
        let n = w.entry(key.clone()).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            w.remove(&key);
        }
    }

    pub(crate) fn waiting(&self, topic: &str, group: &str, queue_id: i32) -> usize {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).get(&(topic.to_string(), group.to_string(), queue_id)).copied().unwrap_or(0)
    }

    /// Takes a queue for one pop; `None` if another pop is reading it.
    pub(crate) fn try_lock(&self, key: QueueKey) -> Option<QueueLock<'_>> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if !busy.insert(key.clone()) {
            return None;
        }
        Some(QueueLock { state: self, key })
    }
}

/// A queue taken by one pop, given back when dropped (also when the pop is cancelled).
pub(crate) struct QueueLock<'a> {
    state: &'a PopState,
    pub key: QueueKey,
}

impl Drop for QueueLock<'_> {
    fn drop(&mut self) {
        self.state.busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}

/// A journal write under way; ends it in the table when dropped (also on cancellation),
/// unless `finish` ended it under a lock already held.
struct Write<'a> {
    state: &'a PopState,
    journal_end: i64,
    ended: bool,
}

impl Write<'_> {
    fn finish(mut self, table: &mut Inflight) {
        table.end_write(self.journal_end);
        self.ended = true;
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.state.table().end_write(self.journal_end);
        }
    }
}

impl Broker {
    /// Stores a journal record; `then` runs with the table locked once it is stored (given
    /// the record's journal offset), so the replay point never passes it unseen.
    pub(crate) async fn journal<T>(&self, record: &Record, then: impl FnOnce(&mut Inflight, i64) -> T) -> Result<T, PutError> {
        let pop = &self.pop;
        let journal_end = {
            let mut t = pop.table();
            let end = self.store.max_offset(&pop.revive_topic, 0);
            t.begin_write(end);
            end
        };
        let write = Write { state: pop, journal_end, ended: false };
        let body = Bytes::from(serde_json::to_vec(record).unwrap_or_default());
        let msg = NewMessage::journal(&pop.revive_topic, record.tag(), body, self.store_host, self.clock.now_ms());
        let stored = match self.put_internal(msg).await {
            Ok(r) => r,
            Err(e) => match e.stored() {
                Some(r) => r.clone(),
                None => return Err(e),
            },
        };
        // The write ends after its entries are in, under the same lock.
        let mut table = pop.table();
        let out = then(&mut table, stored.first_queue_offset);
        write.finish(&mut table);
        Ok(out)
    }

    /// Reads the journal back into the in-flight table (at start).
    pub(crate) fn replay_pop_journal(&self) -> Result<(), store::StoreError> {
        let topic = self.pop.revive_topic.clone();
        self.topics.ensure_system_topic(&topic, 1);
        let from = self.offsets.query(journal::REVIVE_GROUP, &topic, 0).unwrap_or(0).max(self.store.min_offset(&topic, 0));
        let (mut records, mut bad) = (0u64, 0u64);
        let mut orders = self.pop.orders();
        let mut table = self.pop.table();
        let unreadable = self.each_record(&topic, from, |m| match serde_json::from_slice::<Record>(&m.body) {
            Ok(r) if r.is_sane() => {
                match r.replay(&mut table, &mut orders, m.queue_offset) {
                    journal::Replayed::Offset(key, next) => {
                        // Never past the queue's end.
                        let next = next.min(self.store.max_offset(&key.topic, key.queue_id));
                        if self.offsets.query(&key.group, &key.topic, key.queue_id).is_none_or(|o| o < next) {
                            self.offsets.commit(&key.group, &key.topic, key.queue_id, next);
                        }
                    }
                    journal::Replayed::Reset(key, to) => {
                        self.offsets.commit(&key.group, &key.topic, key.queue_id, to.min(self.store.max_offset(&key.topic, key.queue_id)));
                    }
                    journal::Replayed::Nothing => {}
                }
                records += 1;
            }
            _ => bad += 1,
        })?;
        bad += unreadable;
        if records > 0 || bad > 0 {
            tracing::info!(records, unreadable = bad, in_flight = table.len(), "POP journal replayed");
        }
        Ok(())
    }

    /// Moves the journal's replay point on (saved with the offsets).
    fn save_replay_point(&self) {
        let topic = &self.pop.revive_topic;
        let from = self.pop.table().replay_from(self.store.max_offset(topic, 0));
        if self.offsets.query(journal::REVIVE_GROUP, topic, 0) != Some(from) {
            self.offsets.commit(journal::REVIVE_GROUP, topic, 0, from);
        }
    }

    /// Gives back one due message: a copy into the POP retry topic (or the DLQ), then an ack
    /// record. A message no longer in the store is dropped from the table.
    async fn revive(self: &Arc<Self>, due: &Due) -> Result<(), PutError> {
        let key = &due.key;
        // A read that may need the disk: on the blocking pool.
        let (b, topic, queue_id, offset) = (self.clone(), key.topic.clone(), key.queue_id, due.offset);
        let read = tokio::task::spawn_blocking(move || -> Result<Option<Bytes>, store::StoreError> {
            match b.store.queue_entries(&topic, queue_id, offset, 1)?.first() {
                Some(&(o, phys, _, _)) if o == offset => b.store.read_message(phys),
                _ => Ok(None),
            }
        });
        let record = read.await.map_err(|e| PutError::Io(e.to_string()))?.map_err(|e| PutError::Io(e.to_string()))?;
        if let Some(m) = record.and_then(|r| decode_record(&r, false).ok()) {
            let mut props = Properties::parse(&m.properties);
            if m.reconsume_times == 0 || props.get(FIRST_POP_TIME).is_none() {
                props.set(FIRST_POP_TIME, due.pop_time.to_string());
            }
            let max = self.groups.get(&key.group).map_or(16, |g| g.retry_max_times);
            let dead_letter = m.reconsume_times >= max;
            let topic = if dead_letter {
                // Where it came from, as a send-back into the DLQ keeps it.
                if props.get(prop::RETRY_TOPIC).is_none() {
                    props.set(prop::RETRY_TOPIC, protocol::pop::original_topic(&key.topic, &key.group));
                }
                self.topics.ensure_dlq_topic(&key.group).topic_name
            } else if key.topic.starts_with(protocol::pop::RETRY_PREFIX) {
                key.topic.clone()
            } else {
                let retry = protocol::pop::pop_retry_topic(&key.topic, &key.group);
                self.topics.ensure_system_topic(&retry, 1);
                retry
            };
            let copy = NewMessage::from_record(&m, topic, 0, m.reconsume_times.saturating_add(1), props);
            let traced = self.config.broker_trace_enable.then(|| copy.clone());
            match self.put(vec![copy], false).await {
                Ok(_) | Err(PutError::FlushDiskTimeout(_) | PutError::FlushSlaveTimeout(_) | PutError::SlaveNotAvailable(_)) => {
                    if dead_letter {
                        self.metrics.dead_lettered(&key.group, &protocol::pop::original_topic(&key.topic, &key.group), 1);
                    }
                    if let Some(copy) = traced {
                        let event = if dead_letter { crate::trace::Event::DeadLetter } else { crate::trace::Event::Retry };
                        self.trace(event, &key.group, &copy).await;
                    }
                }
                // The copy can never be stored (it grew past a limit): dropped, not retried forever.
                Err(PutError::MessageIllegal(why)) => {
                    tracing::error!(
                        group = key.group,
                        topic = key.topic,
                        offset = due.offset,
                        why,
                        "a message due again cannot be copied to its retry topic; dropped"
                    );
                }
                Err(e) => return Err(e),
            }
        } else {
            tracing::warn!(
                group = key.group,
                topic = key.topic,
                queue_id = key.queue_id,
                offset = due.offset,
                "a message in flight is no longer stored; dropped"
            );
        }
        let ack = Record::Ack { g: key.group.clone(), t: key.topic.clone(), q: key.queue_id, a: vec![(due.ck, due.offset, due.pop_time)] };
        self.journal(&ack, |_, _| ()).await
    }
}

impl Broker {
    /// One round of the reviver: gives back up to a batch of due messages (a failed one is
    /// due again in a second) and moves the replay point on. Returns how many were due.
    pub async fn revive_due(self: &Arc<Self>) -> usize {
        let now = self.clock.now_ms();
        let due = self.pop.table().take_due(now, REVIVE_BATCH);
        let mut failed = Vec::new();
        for d in &due {
            if let Err(e) = self.revive(d).await {
                tracing::warn!(group = d.key.group, topic = d.key.topic, offset = d.offset, error = %e, "revive failed; retried in a second");
                failed.push(d);
            }
        }
        if !failed.is_empty() {
            let mut t = self.pop.table();
            for d in failed {
                t.insert(&d.key, d.ck, &[d.offset], d.pop_time, now + 1000, d.journal);
            }
        }
        // Orderly batches left visible again for a while and not popped since give back their
        // hold on the journal's replay point.
        let idle = self.pop.orders().forget_idle(now - ORDER_BATCH_IDLE_MS);
        if !idle.is_empty() {
            let mut t = self.pop.table();
            for j in idle {
                t.release(j);
            }
        }
        self.save_replay_point();
        due.len()
    }
}

/// The reviver: gives back what is due, and keeps the journal's replay point current.
pub(crate) async fn run_reviver(broker: Arc<Broker>) {
    loop {
        if broker.revive_due().await >= REVIVE_BATCH {
            continue;
        }
        let wait = broker.pop.table().next_deadline().map_or(REVIVE_POLL, |d| Duration::from_millis((d - broker.clock.now_ms()).clamp(1, 200) as u64));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = broker.pop.wake_reviver.notified() => {}
        }
    }
}
