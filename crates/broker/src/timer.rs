//! Timer messages (RocketMQ 5.x): delivered to their topic at a time of the producer's choosing
//! (`TIMER_DELIVER_MS`, or now + `TIMER_DELAY_SEC` / `TIMER_DELAY_MS`).
//!
//! Our design, the transactions' pattern: a timer message is stored in `rmq_sys_wheel_timer`
//! (queue 0, the Java broker's timer topic) with `REAL_TOPIC`/`REAL_QID` and its due time in
//! `TIMER_OUT_MS`; in memory an ordered index (due time, queue offset) → CommitLog offset, about
//! 60 bytes a timer, kept by a store dispatcher ([`TimerDispatcher`]) from the records as they are
//! appended — a master's sends and a replica's copies alike. A task delivers what is due, in due order and in batches, each a copy in its
//! real topic and queue, then journals the batch as delivered: one record in
//! `rmq_sys_wheel_timer_done` (ours) listing `offset:due` pairs. A recall journals the same way.
//! Two progress offsets (the consumer offsets of `CID_SYS_RMQ_TIMER` on the two topics) bound
//! what a restart re-reads: the timer queue from the oldest pending timer, the done journal from
//! the first record naming a timer at or past it. A delivery whose record was not journaled
//! before a crash is delivered again after the restart (docs/guarantees.md §2): never lost.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use protocol::message::{MessageRecord, Properties};
use tokio::sync::Notify;

use crate::journal::{Journal, Settled};
use crate::Broker;

pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
pub const DONE_TOPIC: &str = "rmq_sys_wheel_timer_done";
pub const SYS_GROUP: &str = "CID_SYS_RMQ_TIMER";
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
/// When a timer message entered the timer (on its delivered copy, as Java's).
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
/// A done record's tag.
pub const DONE_TAG: &str = "done";
/// The most timers one delivery round takes.
pub const BATCH: usize = 1024;

#[derive(Default)]
pub struct Wheel {
    /// (due ms, timer queue offset) → CommitLog offset.
    pub by_due: BTreeMap<(i64, i64), i64>,
    /// Pending timer queue offsets (the progress is the smallest).
    offsets: BTreeSet<i64>,
    /// Done records at or past the done progress: done queue offset → the largest timer offset
    /// it names.
    ops: Settled,
}

impl Wheel {
    pub fn insert(&mut self, due: i64, offset: i64, phys: i64) {
        self.by_due.insert((due, offset), phys);
        self.offsets.insert(offset);
    }

    /// Removes timers by (offset, due); returns how many were pending.
    pub fn remove(&mut self, done: &[(i64, i64)]) -> usize {
        done.iter().filter(|(offset, due)| self.offsets.remove(offset) | self.by_due.remove(&(*due, *offset)).is_some()).count()
    }

    /// Takes up to `max` timers due by `now`: (offset, due, phys).
    pub fn take_due(&mut self, now: i64, max: usize) -> Vec<(i64, i64, i64)> {
        let keys: Vec<(i64, i64)> = self.by_due.range(..=(now, i64::MAX)).take(max).map(|(k, _)| *k).collect();
        keys.into_iter().filter_map(|(due, offset)| self.by_due.remove(&(due, offset)).map(|phys| (offset, due, phys))).collect()
    }

    /// Puts back timers a round could not deliver.
    pub fn restore(&mut self, timers: &[(i64, i64, i64)]) {
        for (offset, due, phys) in timers {
            self.by_due.insert((*due, *offset), *phys);
        }
    }

    pub fn next_due(&self) -> Option<i64> {
        self.by_due.keys().next().map(|k| k.0)
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// A done record names timers in due order, not offset order: it is needed by a restart
    /// until the timer progress passes the largest offset it names.
    fn journaled(&mut self, op_offset: i64, done: &[(i64, i64)]) {
        if let Some(max) = done.iter().map(|d| d.0).max() {
            self.ops.insert(op_offset, max);
        }
    }

    /// (timer progress, done progress); done records before the done progress are dropped.
    fn progress(&mut self, timer_end: i64, done_end: i64) -> (i64, i64) {
        self.ops.progress(self.offsets.first().copied(), timer_end, done_end)
    }
}

#[derive(Default)]
pub struct TimerState {
    wheel: Mutex<Wheel>,
    /// An earlier timer arrived: the delivery task looks again.
    pub(crate) wake: Notify,
    /// Timer messages and done records being written; the progress updates' order.
    pub(crate) journal: Journal,
    /// Delivered timers and how late (ms), for runtime info.
    pub(crate) delivered: std::sync::atomic::AtomicU64,
    pub(crate) last_lateness_ms: std::sync::atomic::AtomicI64,
    /// The last round delivered nothing and failed some: the store refuses puts for now.
    failing: std::sync::atomic::AtomicBool,
    /// The dispatcher indexes what is appended (from the first `replay_timers` on: before it,
    /// recovery's re-dispatch of records the replay reads anyway, from the progress offsets).
    live: std::sync::atomic::AtomicBool,
}

impl TimerState {
    pub fn wheel(&self) -> MutexGuard<'_, Wheel> {
        self.wheel.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The store dispatcher that keeps the wheel: every timer message appended to the timer topic
/// is indexed, and every done record's timers taken out, as the master writes them and as a
/// replica copies them (so a replica's wheel is current when it takes over).
pub struct TimerDispatcher(pub Arc<TimerState>);

impl store::Dispatcher for TimerDispatcher {
    fn name(&self) -> &'static str {
        "timer wheel"
    }

    fn dispatch(&self, batch: &[store::DispatchRequest<'_>]) -> Result<(), store::StoreError> {
        let state = &self.0;
        if !state.live.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let mut ours = batch.iter().filter(|r| r.topic == TIMER_TOPIC || r.topic == DONE_TOPIC).peekable();
        if ours.peek().is_none() {
            return Ok(());
        }
        let mut wheel = state.wheel();
        let first_due = wheel.next_due();
        let mut unreadable = 0;
        for r in ours {
            if r.topic == TIMER_TOPIC {
                match r.properties().and_then(|p| protocol::message::property_in(p, TIMER_OUT_MS)).and_then(|d| d.parse().ok()) {
                    Some(due) => wheel.insert(due, r.queue_offset, r.phys_offset),
                    None => unreadable += 1,
                }
            } else {
                let done = protocol::message::decode_record(&bytes::Bytes::copy_from_slice(r.record), false).ok().and_then(|m| decode_done(&m.body));
                match done {
                    // The done records' bookkeeping for the progress is the master's
                    // (`journal_timers_done`, `replay_timers`): a replica keeps no progress.
                    Some(done) => {
                        wheel.remove(&done);
                    }
                    None => unreadable += 1,
                }
            }
        }
        let earlier = wheel.next_due().is_some_and(|d| first_due.is_none_or(|f| d < f));
        drop(wheel);
        if unreadable > 0 {
            tracing::warn!(unreadable, "timer records without a due time or a readable done list: not indexed");
        }
        if earlier {
            state.wake.notify_one();
        }
        Ok(())
    }
}

/// A done record's body: `offset:due` pairs joined by `,`.
pub fn encode_done(done: &[(i64, i64)]) -> String {
    done.iter().map(|(o, d)| format!("{o}:{d}")).collect::<Vec<_>>().join(",")
}

pub fn decode_done(body: &[u8]) -> Option<Vec<(i64, i64)>> {
    let text = std::str::from_utf8(body).ok()?;
    text.split(',')
        .map(|pair| {
            let (o, d) = pair.split_once(':')?;
            Some((o.trim().parse().ok()?, d.trim().parse().ok()?))
        })
        .collect()
}

/// A timer message's due time, as its record says.
pub fn due_of(m: &MessageRecord) -> Option<i64> {
    Properties::parse(&m.properties).get(TIMER_OUT_MS)?.parse().ok()
}

impl Broker {
    /// Stores a timer message in the timer topic until `due`.
    pub(crate) async fn put_timer(
        &self,
        mut m: crate::put::NewMessage,
        due: i64,
        wait_flush: bool,
    ) -> crate::error::BrokerResult<(store::PutResult, crate::service::send::SendStatus)> {
        let topic = m.topic.clone();
        m.redirect(TIMER_TOPIC, 0);
        m.props.set(TIMER_OUT_MS, due.to_string());
        // The timer topic exists from the start (`replay_timers`); its store time is the
        // enqueue time, so TIMER_ENQUEUE_MS is written only on the delivered copy.
        // Indexed by `TimerDispatcher` as it is appended.
        let _floor = self.timers.journal.records.enter(self.store.max_offset(TIMER_TOPIC, 0));
        let stored = crate::service::send::stored(self.put_unparked(vec![m], wait_flush).await)?;
        self.metrics.timers(&topic, false, 1);
        Ok(stored)
    }

    /// RECALL_MESSAGE (370): cancels a pending timer message by its recall handle; returns its
    /// message id. Checks and remarks as the Java broker's `RecallMessageProcessor`; a message
    /// not pending (delivered, recalled, or never sent) is refused, which Java cannot tell.
    pub async fn recall(&self, topic: &str, handle: &str) -> crate::error::BrokerResult<String> {
        use crate::error::BrokerError;
        use protocol::codes::response as rs;
        use protocol::codes::response::ILLEGAL_OPERATION;
        if self.runtime.permission() & protocol::codes::perm::WRITE == 0 {
            return Err(BrokerError::new(rs::SERVICE_NOT_AVAILABLE, "recall failed, broker service not available"));
        }
        if self.topics.get(topic).is_none() {
            return Err(BrokerError::new(rs::TOPIC_NOT_EXIST, format!("recall failed, the topic[{topic}] not exist")));
        }
        let h = protocol::message_type::RecallHandle::decode(handle).map_err(|e| BrokerError::new(ILLEGAL_OPERATION, e))?;
        if h.topic != topic {
            return Err(BrokerError::new(ILLEGAL_OPERATION, "recall failed, topic not match"));
        }
        if h.broker_name != self.config.broker_name {
            return Err(BrokerError::new(ILLEGAL_OPERATION, "recall failed, broker service not available"));
        }
        let due: i64 = h.timestamp.parse().unwrap_or(-1);
        let left = due.saturating_sub(self.clock.now_ms());
        if left <= 0 || left >= self.config.timer_max_delay_sec.saturating_mul(1000) {
            return Err(BrokerError::new(ILLEGAL_OPERATION, "recall failed, timestamp invalid"));
        }
        let candidates: Vec<(i64, i64)> = self.timers.wheel().by_due.range((due, i64::MIN)..=(due, i64::MAX)).map(|(k, phys)| (k.1, *phys)).collect();
        for (offset, phys) in candidates {
            let Some(raw) = self.store.read_message(phys)? else { continue };
            let Ok(m) = protocol::message::decode_record(&raw, false) else { continue };
            let props = Properties::parse(&m.properties);
            if props.get(crate::put::REAL_TOPIC) == Some(topic) && props.get(protocol::message::prop::UNIQ_KEY) == Some(h.message_id.as_str()) {
                // Taken out first, so a delivery round cannot deliver it meanwhile.
                if self.timers.wheel().by_due.remove(&(due, offset)).is_none() {
                    break;
                }
                if let Err(e) = self.journal_timers_done(&[(offset, due)]).await {
                    // Not recalled after all: it stays pending.
                    self.timers.wheel().restore(&[(offset, due, phys)]);
                    return Err(BrokerError::system(format!("recall failed: {e}")));
                }
                return Ok(h.message_id);
            }
        }
        Err(BrokerError::new(ILLEGAL_OPERATION, "recall failed, the message is not pending (delivered, recalled, or never sent)"))
    }

    /// Reads pending timers back at start (module docs).
    pub(crate) fn replay_timers(&self) -> Result<(), store::StoreError> {
        // From here on the dispatcher indexes what is appended; what it indexes twice with the
        // replay below is the same entry.
        self.timers.live.store(true, std::sync::atomic::Ordering::Release);
        for topic in [TIMER_TOPIC, DONE_TOPIC] {
            self.topics.ensure_system_topic(topic, 1);
        }
        let timer_start = self.offsets.query(SYS_GROUP, TIMER_TOPIC, 0).unwrap_or(0).max(self.store.min_offset(TIMER_TOPIC, 0));
        let mut wheel = self.timers.wheel();
        let mut unreadable = 0u64;
        self.each_record(TIMER_TOPIC, timer_start, |m| match due_of(m) {
            Some(due) => wheel.insert(due, m.queue_offset, m.physical_offset),
            None => unreadable += 1,
        })?;
        let done_start = self.offsets.query(SYS_GROUP, DONE_TOPIC, 0).unwrap_or(0).max(self.store.min_offset(DONE_TOPIC, 0));
        self.each_record(DONE_TOPIC, done_start, |m| match decode_done(&m.body) {
            Some(done) => {
                wheel.remove(&done);
                wheel.journaled(m.queue_offset, &done);
            }
            None => unreadable += 1,
        })?;
        let pending = wheel.len();
        drop(wheel);
        if pending > 0 || unreadable > 0 {
            tracing::info!(pending, unreadable, "timer messages read back");
        }
        self.advance_timer_progress();
        Ok(())
    }

    pub(crate) fn advance_timer_progress(&self) {
        self.advance_journal(&self.timers.journal, SYS_GROUP, [TIMER_TOPIC, DONE_TOPIC], |timer_end, done_end| {
            self.timers.wheel().progress(timer_end, done_end)
        });
    }

    /// Journals timers as done (delivered or recalled).
    pub(crate) async fn journal_timers_done(&self, done: &[(i64, i64)]) -> Result<(), store::PutError> {
        let body = encode_done(done);
        let m = crate::put::NewMessage::journal(DONE_TOPIC, DONE_TAG, body.into(), self.store_host, self.clock.now_ms());
        let _floor = self.timers.journal.ops.enter(self.store.max_offset(DONE_TOPIC, 0));
        // Taken out of the wheel by `TimerDispatcher` as it is appended.
        let put = self.put_internal(m).await?;
        self.timers.wheel().journaled(put.first_queue_offset, done);
        self.advance_timer_progress();
        Ok(())
    }

    /// One delivery round: up to `BATCH` due timers copied into their topics, then journaled.
    /// Returns how many were delivered.
    pub async fn deliver_due_timers(&self) -> usize {
        let now = self.clock.now_ms();
        let due = self.timers.wheel().take_due(now, BATCH);
        if due.is_empty() {
            return 0;
        }
        let mut round = Round::default();
        // One put per topic and queue: a burst due at once goes into the CommitLog at its own
        // append rate, not one message at a time.
        let mut groups: BTreeMap<(String, i32), Vec<(DueTimer, crate::put::NewMessage)>> = BTreeMap::new();
        for &k in &due {
            if let Some(m) = round.copy(self, k, now) {
                groups.entry((m.topic.clone(), m.queue_id)).or_default().push((k, m));
            }
        }
        for ((topic, queue_id), items) in groups {
            let (keys, msgs): (Vec<DueTimer>, Vec<crate::put::NewMessage>) = items.into_iter().unzip();
            let traced = self.config.broker_trace_enable.then(|| msgs.clone());
            let put = self.put_unparked(msgs, false).await;
            if put.is_ok() {
                for m in traced.iter().flatten() {
                    self.trace(crate::trace::Event::Delivered, "", m).await;
                }
            }
            if round.settle(&keys, put, &topic, queue_id) {
                // Refused as a group (one record, or their total size): one at a time, so only
                // what the store refuses on its own is dropped. The copies are made again here
                // rather than cloned before every group's put.
                for k in keys {
                    if let Some(m) = round.copy(self, k, now) {
                        let put = self.put_unparked(vec![m], false).await;
                        round.settle(&[k], put, &topic, queue_id);
                    }
                }
            }
        }
        let Round { delivered, failed, by_topic } = round;
        for (topic, n) in by_topic {
            self.metrics.timers(&topic, true, n);
        }
        if !failed.is_empty() {
            self.timers.failing.store(delivered.is_empty(), std::sync::atomic::Ordering::Relaxed);
        }
        self.timers.wheel().restore(&failed);
        if !delivered.is_empty() {
            if let Err(e) = self.journal_timers_done(&delivered).await {
                // Delivered but not journaled: a restart delivers them again.
                tracing::warn!(error = %e, "delivered timers could not be journaled");
                self.timers.wheel().remove(&delivered);
            }
            self.timers.delivered.fetch_add(delivered.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if let Some(&(_, due_ms)) = delivered.last() {
                self.timers.last_lateness_ms.store(now.saturating_sub(due_ms), std::sync::atomic::Ordering::Relaxed);
            }
        }
        delivered.len()
    }

    /// The copy of a due timer message for its real topic and queue; None when it cannot be
    /// read or its topic is gone.
    fn timer_copy(&self, phys: i64, due: i64, now: i64) -> Result<Option<crate::put::NewMessage>, ()> {
        let raw = match self.store.read_message(phys) {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                tracing::warn!(phys, "a due timer message is gone (retention); dropped");
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(phys, error = %e, "a due timer message could not be read; trying again");
                return Err(());
            }
        };
        let Ok(m) = protocol::message::decode_record(&raw, false) else {
            tracing::warn!(phys, "a due timer message cannot be decoded; dropped");
            return Ok(None);
        };
        let mut props = Properties::parse(&m.properties);
        // As Java's delivered copy: REAL_TOPIC and REAL_QID stay (its properties are written
        // before they are cleared), and it says when it entered the timer (the timer record's
        // store time, so nothing more is stored per timer) and left it.
        let Some((topic, queue_id)) = crate::put::real_of(&props) else { return Ok(None) };
        props.set(TIMER_OUT_MS, due.to_string());
        props.set(TIMER_ENQUEUE_MS, m.store_timestamp.to_string());
        props.set(TIMER_DEQUEUE_MS, now.to_string());
        if self.topics.get(&topic).is_none() {
            tracing::warn!(%topic, "a due timer message's topic is gone; dropped");
            return Ok(None);
        }
        Ok(Some(crate::put::NewMessage::from_record(&m, topic, queue_id, m.reconsume_times, props)))
    }
}

/// A due timer: (timer queue offset, due ms, CommitLog offset).
type DueTimer = (i64, i64, i64);

/// What a delivery round made of its due timers: delivered (or dropped: settled) and failed
/// (tried again).
#[derive(Default)]
struct Round {
    delivered: Vec<(i64, i64)>,
    failed: Vec<DueTimer>,
    /// Delivered by topic (metrics).
    by_topic: BTreeMap<String, u64>,
}

impl Round {
    /// The copy of a due timer for its topic; one that is gone or unreadable is settled here.
    fn copy(&mut self, broker: &Broker, k: DueTimer, now: i64) -> Option<crate::put::NewMessage> {
        match broker.timer_copy(k.2, k.1, now) {
            Ok(Some(m)) => Some(m),
            // Gone (retention), or its topic deleted: dropped, with a warning.
            Ok(None) => {
                self.delivered.push((k.0, k.1));
                None
            }
            // Not readable now: tried again.
            Err(()) => {
                self.failed.push(k);
                None
            }
        }
    }

    /// Settles the timers of one put by its result; true when the store refused several as
    /// one and they are to be put one at a time.
    fn settle(&mut self, keys: &[DueTimer], put: Result<store::PutResult, store::PutError>, topic: &str, queue_id: i32) -> bool {
        match put {
            Ok(_) | Err(store::PutError::FlushDiskTimeout(_) | store::PutError::FlushSlaveTimeout(_) | store::PutError::SlaveNotAvailable(_)) => {
                self.delivered.extend(keys.iter().map(|k| (k.0, k.1)));
                *self.by_topic.entry(topic.to_string()).or_default() += keys.len() as u64;
            }
            Err(store::PutError::MessageIllegal(_)) if keys.len() > 1 => return true,
            Err(store::PutError::MessageIllegal(e)) => {
                tracing::warn!(%topic, queue_id, offset = keys.first().map(|k| k.0), error = %e, "a due timer message the store refuses; dropped");
                self.delivered.extend(keys.iter().map(|k| (k.0, k.1)));
            }
            Err(e) => {
                tracing::warn!(%topic, queue_id, error = %e, "due timer messages could not be delivered; trying again");
                self.failed.extend_from_slice(keys);
            }
        }
        false
    }
}

/// Delivers timers as they fall due until the broker stops.
pub async fn run(broker: Arc<Broker>) {
    loop {
        while broker.deliver_due_timers().await > 0 {}
        let now = broker.clock.now_ms();
        // Sleep until the next due time (at most a second: the clock may be set), or until an
        // earlier timer arrives.
        let wait = broker.timers.wheel().next_due().map_or(1_000, |d| d.saturating_sub(now).clamp(1, 1_000));
        // The store refusing puts (disk full): back off rather than spin.
        let wait = if broker.timers.failing.swap(false, std::sync::atomic::Ordering::Relaxed) { wait.max(500) } else { wait };
        let woken = broker.timers.wake.notified();
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
    }
}

/// Reads a send's timer properties: the due time, or an error text (the Java broker's checks:
/// a number, not negative, within `timerMaxDelaySec`). None: not a timer message.
pub fn due_time(props: &Properties, now: i64, max_delay_ms: i64) -> Result<Option<i64>, String> {
    let num = |key: &str| -> Result<Option<i64>, String> {
        match props.get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| format!("timer message illegal: {key}={v} is not a number")),
        }
    };
    let due = if let Some(sec) = num(protocol::message_type::TIMER_DELAY_SEC)? {
        if sec < 0 {
            return Err(format!("timer message illegal: {} is negative", protocol::message_type::TIMER_DELAY_SEC));
        }
        now.saturating_add(sec.saturating_mul(1000))
    } else if let Some(ms) = num(protocol::message_type::TIMER_DELAY_MS)? {
        if ms < 0 {
            return Err(format!("timer message illegal: {} is negative", protocol::message_type::TIMER_DELAY_MS));
        }
        now.saturating_add(ms)
    } else if let Some(at) = num(protocol::message_type::TIMER_DELIVER_MS)? {
        if at < 0 {
            return Err(format!("timer message illegal: {} is negative", protocol::message_type::TIMER_DELIVER_MS));
        }
        at
    } else {
        return Ok(None);
    };
    if due.saturating_sub(now) > max_delay_ms {
        return Err(format!(
            "timer message illegal, the delay time should not be bigger than the max delay {max_delay_ms}ms; or if set del msg, the delay time should be bigger than the current time"
        ));
    }
    Ok(Some(due))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_follow_the_java_rules() {
        let now = 1_000_000;
        let max = 3 * 24 * 3600 * 1000;
        let p = |k: &str, v: &str| {
            let mut p = Properties::default();
            p.set(k, v);
            p
        };
        assert_eq!(due_time(&Properties::default(), now, max), Ok(None));
        assert_eq!(due_time(&p("TIMER_DELAY_SEC", "5"), now, max), Ok(Some(now + 5_000)));
        assert_eq!(due_time(&p("TIMER_DELAY_MS", "250"), now, max), Ok(Some(now + 250)));
        assert_eq!(due_time(&p("TIMER_DELIVER_MS", "12"), now, max), Ok(Some(12)), "in the past: due at once");
        assert!(due_time(&p("TIMER_DELAY_SEC", "-1"), now, max).is_err());
        assert!(due_time(&p("TIMER_DELIVER_MS", "soon"), now, max).is_err());
        assert!(due_time(&p("TIMER_DELAY_MS", &(max + 1).to_string()), now, max).is_err());
        assert_eq!(decode_done(encode_done(&[(1, 10), (2, 20)]).as_bytes()), Some(vec![(1, 10), (2, 20)]));
        assert_eq!(decode_done(b"1:x"), None);
    }

    #[test]
    fn the_wheel_hands_out_in_due_order_and_keeps_its_progress() {
        let mut w = Wheel::default();
        w.insert(300, 0, 1000);
        w.insert(100, 1, 1100);
        w.insert(200, 2, 1200);
        assert_eq!(w.next_due(), Some(100));
        assert_eq!(w.take_due(250, 10), vec![(1, 100, 1100), (2, 200, 1200)]);
        w.remove(&[(1, 100), (2, 200)]);
        w.journaled(0, &[(1, 100), (2, 200)]);
        // Offset 0 is still pending: the timer progress stays at it, and the done record too.
        assert_eq!(w.progress(3, 1), (0, 0));
        w.take_due(300, 10);
        w.remove(&[(0, 300)]);
        w.journaled(1, &[(0, 300)]);
        assert_eq!(w.progress(3, 2), (3, 2));
    }

    #[test]
    fn a_done_record_is_kept_while_any_timer_it_names_is_past_the_progress() {
        // Delivered in due order: offsets 0 and 2, while 1 (due later) is pending.
        let mut w = Wheel::default();
        w.insert(100, 0, 1000);
        w.insert(300, 1, 1100);
        w.insert(150, 2, 1200);
        assert_eq!(w.take_due(200, 10), vec![(0, 100, 1000), (2, 150, 1200)]);
        w.remove(&[(0, 100), (2, 150)]);
        w.journaled(0, &[(0, 100), (2, 150)]);
        // A restart re-reads timers from 1 (so 2 again): it must re-read this record too.
        assert_eq!(w.progress(3, 1), (1, 0));
    }
}
