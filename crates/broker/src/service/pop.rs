//! POP consumption (RocketMQ 5.x): the broker hands out messages that stay invisible for a
//! while, the client acknowledges each, and what is not acknowledged in time comes back
//! through the group's POP retry topic (`crate::pop`). Checks, codes and remarks follow
//! the Java broker's `PopMessageProcessor`, `AckMessageProcessor`,
//! `ChangeInvisibleTimeProcessor` and `NotificationProcessor`, where this says otherwise.
//!
//! A pop's answer (`Popped`) says where each message was read (the offset strings of
//! [`OffsetInfo`]); the Java client builds each message's receipt handle from them, except
//! for messages read from the retry topic, which go out with their handle (`POP_CK`) set and
//! their topic rewritten to the one the consumer asked for, as the Java broker does.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::codes::{perm, response as rs};
use protocol::message::{decode_records, queue_offsets, NewRecord, Properties};
use protocol::pop::{
    pop_retry_topic, AckMessageRequestHeader, BatchAckMessageRequestBody, ChangeInvisibleTimeResponseHeader, ExtraInfo, NotificationRequestHeader, OffsetInfo,
    PopMessageRequestHeader, PopMessageResponseHeader, RetryFlag, ANY_QUEUE, ORDER_REVIVE_QID, POP_CK,
};
use protocol::ProtocolError;
use rand::Rng;
use store::GetStatus;
use tokio::time::Instant;

use crate::error::{BrokerError, BrokerResult};
use crate::pop::inflight::QueueKey;
use crate::pop::journal::Record;
use crate::pop::order::OrderAck;
use crate::service::filter::{SubscriptionFilter, Via};
use crate::Broker;

/// The most messages one pop may ask for (the Java broker's limit).
pub const MAX_POP_NUMS: i32 = 32;
/// The revive queue id of every non-orderly handle: this broker journals in one queue.
const REVIVE_QID: i32 = 0;
/// A pop that arrives this long after its own deadline is answered POLLING_TIMEOUT at once.
const TIMEOUT_TOO_MUCH_MS: i64 = 500;

/// What a pop hands out, and the header that describes it.
#[derive(Debug, Default)]
pub struct Popped {
    pub header: PopMessageResponseHeader,
    /// Concatenated stored records (retry-topic ones rewritten).
    pub body: Bytes,
    pub count: usize,
    /// Nothing found and the request could not wait: too many are waiting already.
    pub polling_full: bool,
}

pub enum PopStart {
    Now(Popped),
    Park(PopParking),
}

/// A pop that found nothing and may wait for an arrival until its poll time passes,
/// holding one of `maxParkedPulls` (pulls and pops share them).
pub struct PopParking {
    broker: Arc<Broker>,
    header: PopMessageRequestHeader,
    filter: SubscriptionFilter,
    until: Instant,
}

impl Drop for PopParking {
    fn drop(&mut self) {
        let h = &self.header;
        self.broker.pop.count_waiting(&h.topic, &h.consumer_group, h.queue_id, -1);
        self.broker.parked_pulls.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PopParking {
    /// Pops again on each arrival in the topic or its retry topic (or an orderly batch's
    /// release) until something is found, the poll time passes, or `gone` resolves.
    pub async fn wait(self, gone: impl Future<Output = ()>) -> BrokerResult<Popped> {
        let (b, h) = (&self.broker, &self.header);
        let arrivals = b.store.arrivals();
        let (topic, retry) = (arrivals.notifier(&h.topic, ANY_QUEUE), arrivals.notifier(&pop_retry_topic(&h.topic, &h.consumer_group), ANY_QUEUE));
        tokio::pin!(gone);
        loop {
            let (a, r, o) = (topic.notified(), retry.notified(), b.pop.order_released.notified());
            tokio::pin!(a, r, o);
            a.as_mut().enable();
            r.as_mut().enable();
            // Only an orderly pop waits for a batch's release.
            if h.order {
                o.as_mut().enable();
            }
            let popped = b.pop_once(h, &self.filter).await?;
            if popped.count > 0 || Instant::now() >= self.until {
                return Ok(popped);
            }
            // An orderly queue may unblock by time alone.
            let recheck = if h.order { Duration::from_millis(200) } else { Duration::from_secs(3600) };
            tokio::select! {
                _ = &mut a => {}
                _ = &mut r => {}
                _ = &mut o, if h.order => {}
                _ = tokio::time::sleep(recheck) => {}
                _ = tokio::time::sleep_until(self.until) => {}
                _ = &mut gone => return Ok(popped),
            }
        }
    }
}

/// One pop's request, filter and time, the same for every queue it reads.
struct Pass<'a> {
    h: &'a PopMessageRequestHeader,
    filter: &'a SubscriptionFilter,
    pop_time: i64,
}

/// What one pop collects across queues.
struct Collect {
    body: BytesMut,
    count: usize,
    rest: i64,
    info: OffsetInfo,
}

impl Broker {
    /// POP_MESSAGE: hands out up to `maxMsgNums` messages of one queue or of all, or
    /// returns a [`PopParking`] when none is there and the request may wait.
    pub async fn pop(self: &Arc<Self>, h: &PopMessageRequestHeader) -> BrokerResult<PopStart> {
        let filter = self.check_pop(h)?;
        let popped = self.pop_once(h, &filter).await?;
        let now = self.clock.now_ms();
        let remaining = self.born_time(h.born_time).saturating_add(h.poll_time).saturating_sub(now);
        if popped.count > 0 || h.poll_time <= 0 || remaining <= 50 {
            return Ok(PopStart::Now(popped));
        }
        if self.pop.waiting(&h.topic, &h.consumer_group, h.queue_id) >= self.config.pop_polling_size {
            return Ok(PopStart::Now(Popped { polling_full: true, ..popped }));
        }
        if self.parked_pulls.fetch_add(1, Ordering::AcqRel) >= self.config.max_parked_pulls {
            self.parked_pulls.fetch_sub(1, Ordering::AcqRel);
            return Ok(PopStart::Now(Popped { polling_full: true, ..popped }));
        }
        let hold = Duration::from_millis((remaining as u64).min(self.config.max_pull_hold_ms));
        self.pop.count_waiting(&h.topic, &h.consumer_group, h.queue_id, 1);
        Ok(PopStart::Park(PopParking { broker: self.clone(), header: h.clone(), filter, until: Instant::now() + hold }))
    }

    /// A request's born time; 0 (not sent) is now.
    fn born_time(&self, born_time: i64) -> i64 {
        if born_time == 0 {
            self.clock.now_ms()
        } else {
            born_time
        }
    }

    /// The Java broker's checks, in its order, plus bounds it does not check.
    fn check_pop(&self, h: &PopMessageRequestHeader) -> BrokerResult<SubscriptionFilter> {
        let ip = &self.config.broker_ip1;
        if self.clock.now_ms().saturating_sub(self.born_time(h.born_time)).saturating_sub(h.poll_time) > TIMEOUT_TOO_MUCH_MS {
            return Err(BrokerError::new(rs::POLLING_TIMEOUT, format!("the broker[{ip}] pop message is timeout too much")));
        }
        if self.runtime.permission() & perm::READ == 0 {
            return Err(BrokerError::no_permission(format!("the broker[{ip}] pop message is forbidden")));
        }
        if h.max_msg_nums > MAX_POP_NUMS {
            return Err(BrokerError::invalid(format!("the broker[{ip}] pop message's num is greater than {MAX_POP_NUMS}")));
        }
        self.check_readable_queue(&h.topic, h.queue_id, "peeking")?;
        self.check_consume_group(&h.consumer_group)?;
        // Bounds the Java broker does not check, after its checks.
        if h.max_msg_nums < 1 {
            return Err(BrokerError::invalid(format!("the broker[{ip}] pop message's num must be at least 1")));
        }
        self.check_invisible_time(h.invisible_time)?;
        self.subscription_filter(h.exp_type.as_deref(), h.exp.as_deref(), None, Via::Pop)
    }

    /// An invisible time is at least 1 ms and at most `popMaxInvisibleTimeMs`.
    fn check_invisible_time(&self, invisible: i64) -> BrokerResult<()> {
        let max = self.config.pop_max_invisible_time_ms;
        if invisible < 1 || invisible > max {
            return Err(BrokerError::invalid(format!("invisibleTime {invisible} ms is out of range [1, {max}] (popMaxInvisibleTimeMs)")));
        }
        Ok(())
    }

    fn check_readable_queue(&self, topic: &str, queue_id: i32, verb: &str) -> BrokerResult<()> {
        let Some(t) = self.topics.get(topic) else {
            return Err(BrokerError::new(rs::TOPIC_NOT_EXIST, format!("topic[{topic}] not exist, apply first please! {}", protocol::names::APPLY_TOPIC_TIP)));
        };
        if t.perm & perm::READ == 0 {
            return Err(BrokerError::no_permission(format!("the topic[{topic}] {verb} message is forbidden")));
        }
        if queue_id >= t.read_queue_nums {
            return Err(BrokerError::invalid(format!("queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{}]", t.read_queue_nums)));
        }
        Ok(())
    }

    fn check_consume_group(&self, group: &str) -> BrokerResult<()> {
        let Some(g) = self.groups.find_or_create(group) else {
            return Err(BrokerError::new(rs::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group [{group}] does not exist")));
        };
        if !g.consume_enable {
            return Err(BrokerError::no_permission(format!("subscription group no permission, {group}")));
        }
        Ok(())
    }

    /// One pass over the queues: the retry topic first one time in five (orderly pops never
    /// read it), then the topic, then the retry topic if the batch is not full.
    pub(crate) async fn pop_once(self: &Arc<Self>, h: &PopMessageRequestHeader, filter: &SubscriptionFilter) -> BrokerResult<Popped> {
        let pop_time = self.clock.now_ms();
        let in_flight = self.pop.table().len();
        if !h.order && in_flight >= self.config.pop_max_inflight_messages {
            return Err(BrokerError::new(
                rs::SYSTEM_BUSY,
                format!("{in_flight} messages are in flight (popMaxInflightMessages): acknowledge some, or wait for their invisible time to pass"),
            ));
        }
        let retry_topic = pop_retry_topic(&h.topic, &h.consumer_group);
        let retry_first = !h.order && rand::thread_rng().gen_range(0..100) < self.config.pop_from_retry_probability;
        let mut out = Collect { body: BytesMut::new(), count: 0, rest: 0, info: OffsetInfo::default() };
        let mut passes: Vec<(&str, i32)> = Vec::with_capacity(3);
        if retry_first {
            passes.push((&retry_topic, ANY_QUEUE));
        }
        passes.push((&h.topic, h.queue_id));
        if !retry_first && !h.order {
            passes.push((&retry_topic, ANY_QUEUE));
        }
        for (topic, queue_id) in passes {
            if topic == retry_topic && !retry_first && out.count >= h.max_msg_nums as usize {
                break;
            }
            let before = (out.count, out.body.len());
            let popped = self.pop_topic(topic, queue_id, &Pass { h, filter, pop_time }, &mut out).await;
            let (count, bytes) = (out.count - before.0, out.body.len() - before.1);
            self.metrics.consumed(&h.topic, &h.consumer_group, topic == retry_topic, count as u64, bytes as u64);
            if let Err(e) = popped {
                // What was handed out (and recorded) so far still goes out.
                if out.count == 0 {
                    return Err(e);
                }
                tracing::warn!(topic, group = h.consumer_group, error = %e, "pop cut short; answering what it found");
                break;
            }
        }
        if out.count > 0 {
            self.stats.get_total.fetch_add(out.count as u64, Ordering::Relaxed);
        }
        let header = PopMessageResponseHeader {
            pop_time,
            invisible_time: h.invisible_time,
            revive_qid: if h.order { ORDER_REVIVE_QID } else { REVIVE_QID },
            rest_num: out.rest,
            info: out.info,
            order: h.order,
        };
        Ok(Popped { header, body: out.body.freeze(), count: out.count, polling_full: false })
    }

    async fn pop_topic(self: &Arc<Self>, topic: &str, queue_id: i32, pass: &Pass<'_>, out: &mut Collect) -> BrokerResult<()> {
        let Some(config) = self.topics.get(topic) else { return Ok(()) };
        let n = config.read_queue_nums.max(0);
        if queue_id >= 0 {
            return self.pop_queue(topic, queue_id, pass, out).await;
        }
        let start = if n > 0 { rand::thread_rng().gen_range(0..n) } else { 0 };
        for i in 0..n {
            self.pop_queue(topic, (start + i) % n, pass, out).await?;
        }
        Ok(())
    }

    async fn pop_queue(self: &Arc<Self>, topic: &str, queue_id: i32, pass: &Pass<'_>, out: &mut Collect) -> BrokerResult<()> {
        let &Pass { h, filter, pop_time } = pass;
        let key = QueueKey::new(&h.consumer_group, topic, queue_id);
        let max_offset = self.store.max_offset(topic, queue_id);
        let Some(_lock) = self.pop.try_lock(key.clone()) else {
            let offset = self.offsets.query(&h.consumer_group, topic, queue_id).unwrap_or(0);
            out.rest += (max_offset - offset).max(0);
            return Ok(());
        };
        // Decided under the orderly batches' lock, so an ack that ends the queue's batch is
        // either seen (not blocked) with its commit, or not at all (blocked).
        let (mut offset, reset) = {
            let mut orders = self.pop.orders();
            if h.order && orders.blocked(&key, h.attempt_id.as_deref(), pop_time) {
                return Ok(());
            }
            let (offset, reset) = self.pop_offset(&key, h.init_mode);
            if let Some(old) = reset.then(|| orders.forget(&key)).flatten() {
                self.pop.table().release(old);
            }
            (offset, reset)
        };
        if reset {
            // Journaled, so the records before it do not move the offset forward again at a restart.
            let record = Record::Reset { g: key.group.clone(), t: topic.to_string(), q: queue_id, o: offset };
            self.journal(&record, |_, _| ()).await.map_err(|e| BrokerError::system(format!("the offset reset could not be recorded: {e}")))?;
        }
        let wanted = h.max_msg_nums as usize - out.count.min(h.max_msg_nums as usize);
        if wanted == 0 {
            out.rest += (max_offset - offset).max(0);
            return Ok(());
        }
        let mut got = self.read_queue(topic, queue_id, offset, wanted, filter).await?;
        if matches!(got.status, GetStatus::OffsetTooSmall | GetStatus::OffsetOverflowBadly) {
            offset = got.next_begin_offset;
            self.offsets.commit(&key.group, topic, queue_id, offset);
            got = self.read_queue(topic, queue_id, offset, wanted, filter).await?;
        }
        if got.message_count > 0 {
            let offsets = queue_offsets(&got.messages);
            let retry = RetryFlag::of_topic(topic);
            if h.order {
                let attempt = h.attempt_id.as_deref();
                let counts = self.pop.orders().counts(&key, attempt, &offsets);
                let record = Record::OrderCheckpoint {
                    g: key.group.clone(),
                    t: topic.to_string(),
                    q: queue_id,
                    pt: pop_time,
                    it: h.invisible_time,
                    o: counts.clone(),
                    a: h.attempt_id.clone(),
                };
                let journal = self
                    .journal(&record, |table, journal| {
                        table.hold(journal);
                        journal
                    })
                    .await
                    .map_err(|e| BrokerError::system(format!("the pop could not be recorded: {e}")))?;
                let replaced = self.pop.orders().popped(&key, attempt, pop_time, h.invisible_time, &counts, journal);
                if let Some(old) = replaced {
                    self.pop.table().release(old);
                }
                out.info.add_order_counts(retry, queue_id, &counts);
            } else {
                let record = Record::Checkpoint {
                    g: key.group.clone(),
                    t: topic.to_string(),
                    q: queue_id,
                    s: offset,
                    pt: pop_time,
                    it: h.invisible_time,
                    o: offsets.clone(),
                    nb: got.next_begin_offset,
                };
                let deadline = pop_time.saturating_add(h.invisible_time);
                let next = got.next_begin_offset;
                let offsets_table = &self.offsets;
                self.journal(&record, |table, journal| {
                    table.insert(&key, offset, &offsets, pop_time, deadline, journal);
                    offsets_table.commit(&key.group, topic, queue_id, next);
                })
                .await
                .map_err(|e| BrokerError::system(format!("the pop could not be recorded: {e}")))?;
                self.pop.wake_reviver.notify_one();
            }
            out.info.add_queue(retry, queue_id, offset, &offsets);
            if retry == RetryFlag::Normal {
                out.body.extend_from_slice(&got.messages);
            } else {
                self.rewrite_retried(&got.messages, h, offset, pop_time, &mut out.body)?;
            }
            out.count += offsets.len();
        } else if got.next_begin_offset > offset && matches!(got.status, GetStatus::NoMatchedMessage | GetStatus::Found) {
            // Only messages the filter skips: the group moves past them.
            self.offsets.commit(&key.group, topic, queue_id, got.next_begin_offset);
        }
        out.rest += (max_offset - got.next_begin_offset.max(offset)).max(0);
        Ok(())
    }

    /// Where the group pops a queue next: an admin's pending reset, the committed offset,
    /// or, for a new group, the first message (`initMode` MIN, and always in a retry topic),
    /// the queue's first message if still in memory, else its last message (the Java broker's
    /// start). A new group's start is committed.
    /// Returns the offset and whether it is an admin's reset.
    fn pop_offset(&self, key: &QueueKey, init_mode: i32) -> (i64, bool) {
        if let Some(reset) = self.offsets.take_reset(&key.group, &key.topic, key.queue_id) {
            return (reset, true);
        }
        if let Some(o) = self.offsets.query(&key.group, &key.topic, key.queue_id) {
            return (o, false);
        }
        let (min, max) = (self.store.min_offset(&key.topic, key.queue_id), self.store.max_offset(&key.topic, key.queue_id));
        let start = if init_mode == 0 || key.topic.starts_with(protocol::pop::RETRY_PREFIX) {
            min
        } else if min <= 0 && self.first_message_in_memory(&key.topic, key.queue_id) {
            0
        } else {
            (max - 1).max(min).max(0)
        };
        self.offsets.commit(&key.group, &key.topic, key.queue_id, start);
        (start, false)
    }

    /// Messages read from a retry topic go out under the topic the consumer asked for, with
    /// their receipt handle set (the client cannot build it: it knows no retry topic).
    fn rewrite_retried(&self, records: &Bytes, h: &PopMessageRequestHeader, start: i64, pop_time: i64, out: &mut BytesMut) -> BrokerResult<()> {
        let decoded = decode_records(records).map_err(|e| BrokerError::system(format!("a stored message cannot be read: {e}")))?;
        for m in decoded {
            let mut props = Properties::parse(&m.properties);
            if props.get(POP_CK).is_none() {
                let handle = ExtraInfo {
                    ck_queue_offset: start,
                    pop_time,
                    invisible_time: h.invisible_time,
                    revive_qid: REVIVE_QID,
                    retry: RetryFlag::of_topic(&m.topic),
                    broker_name: self.config.broker_name.clone(),
                    queue_id: m.queue_id,
                    queue_offset: Some(m.queue_offset),
                };
                props.set(POP_CK, handle.encode());
            }
            let at = out.len();
            NewRecord {
                topic: &h.topic,
                queue_id: m.queue_id,
                flag: m.flag,
                sys_flag: m.sys_flag,
                born_timestamp: m.born_timestamp,
                born_host: m.born_host,
                store_host: m.store_host,
                reconsume_times: m.reconsume_times,
                prepared_transaction_offset: m.prepared_transaction_offset,
                body: &m.body,
                properties: props.as_wire(),
            }
            .encode(out)
            .map_err(|e| BrokerError::system(format!("a retried message cannot be re-encoded: {e}")))?;
            protocol::message::patch_record(&mut out[at..], m.queue_offset, m.physical_offset, m.store_timestamp);
        }
        Ok(())
    }

    /// ACK_MESSAGE. As the Java broker, an ack of a message no longer in flight (acked
    /// already, revived, or under another handle) answers SUCCESS and changes nothing.
    pub async fn ack(&self, h: &AckMessageRequestHeader) -> BrokerResult<()> {
        let handle = self.check_ack(h, false)?;
        let key = QueueKey::new(&h.consumer_group, &h.topic, h.queue_id);
        if handle.is_order() {
            return self.ack_orderly(&key, h.offset, handle.pop_time).await;
        }
        self.ack_offsets(&key, &[(handle.ck_queue_offset, h.offset, handle.pop_time)]).await
    }

    /// Acks of (checkpoint offset, offset, pop time): those in flight under that handle.
    async fn ack_offsets(&self, key: &QueueKey, acks: &[(i64, i64, i64)]) -> BrokerResult<()> {
        let held = self.pop.table().held(key, acks);
        if held.is_empty() {
            return Ok(());
        }
        let record = Record::Ack { g: key.group.clone(), t: key.topic.clone(), q: key.queue_id, a: held.clone() };
        self.journal(&record, |table, _| {
            table.ack_all(key, &held);
        })
        .await
        .map_err(|e| BrokerError::system(format!("the ack could not be recorded: {e}")))
    }

    /// An orderly ack: the batch and the group's offset change together, under the batches'
    /// lock (two acks of one batch cannot commit out of order), then the ack is journaled.
    async fn ack_orderly(&self, key: &QueueKey, offset: i64, pop_time: i64) -> BrokerResult<()> {
        let acked = {
            let mut orders = self.pop.orders();
            let acked = orders.ack(key, offset, pop_time);
            if let OrderAck::Commit { next, released } = acked {
                if let Some(j) = released {
                    self.pop.table().release(j);
                }
                let behind = self.offsets.query(&key.group, &key.topic, key.queue_id).is_none_or(|c| c < next);
                if behind && !self.offsets.has_reset(&key.group, &key.topic, key.queue_id) {
                    self.offsets.commit(&key.group, &key.topic, key.queue_id, next);
                }
            }
            acked
        };
        match acked {
            OrderAck::Commit { .. } => {
                let record = Record::OrderAck { g: key.group.clone(), t: key.topic.clone(), q: key.queue_id, o: offset, pt: pop_time };
                self.journal(&record, |_, _| ()).await.map_err(|e| BrokerError::system(format!("the ack could not be recorded: {e}")))?;
                self.pop.order_released.notify_waiters();
                Ok(())
            }
            OrderAck::Stale => Ok(()),
            OrderAck::NotInBatch => {
                Err(BrokerError::new(rs::MESSAGE_ILLEGAL, format!("offset is illegal, key:{}@{}@{}, commit:{offset}", key.topic, key.group, key.queue_id)))
            }
        }
    }

    /// The checks an ack and a change make, in the Java broker's order; returns the handle.
    fn check_ack(&self, h: &AckMessageRequestHeader, change: bool) -> BrokerResult<ExtraInfo> {
        let Some(t) = self.topics.get(&h.topic) else {
            return Err(BrokerError::new(
                rs::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please! {}", h.topic, protocol::names::APPLY_TOPIC_TIP),
            ));
        };
        if h.queue_id < 0 || h.queue_id >= t.read_queue_nums {
            return Err(BrokerError::new(
                rs::MESSAGE_ILLEGAL,
                format!("queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}]", h.queue_id, h.topic, t.read_queue_nums),
            ));
        }
        let (min, max) = (self.store.min_offset(&h.topic, h.queue_id), self.store.max_offset(&h.topic, h.queue_id));
        if h.offset < min || h.offset > max || (change && h.offset == max) {
            return Err(BrokerError::new(rs::NO_MESSAGE, format!("offset is illegal, key:{}@{}, commit:{}, store:{min}~{max}", h.topic, h.queue_id, h.offset)));
        }
        ExtraInfo::parse(&h.extra_info).map_err(BrokerError::from)
    }

    /// CHANGE_MESSAGE_INVISIBLETIME: the message stays (or becomes) invisible until now +
    /// `invisibleTime`, under a new handle (popTime now; the client builds it from the
    /// answer with the message's own offset as its checkpoint offset). An ack with the new
    /// handle works (the Java 5.3.3 broker can lose it, apache/rocketmq#9583). Unlike the
    /// Java broker, a message no longer in flight under this handle is not made in flight
    /// again: the answer is NO_MESSAGE (its invisible time passed and it was revived, or it
    /// was acknowledged).
    pub async fn change_invisible_time(&self, h: &AckMessageRequestHeader) -> BrokerResult<ChangeInvisibleTimeResponseHeader> {
        let handle = self.check_ack(h, true)?;
        let invisible = h.invisible_time.unwrap_or(0);
        self.check_invisible_time(invisible)?;
        let key = QueueKey::new(&h.consumer_group, &h.topic, h.queue_id);
        let now = self.clock.now_ms();
        if handle.is_order() {
            let at = now.saturating_add(invisible);
            if self.pop.orders().change(&key, h.offset, handle.pop_time, at) {
                let record = Record::OrderChange { g: key.group.clone(), t: key.topic.clone(), q: key.queue_id, o: h.offset, pt: handle.pop_time, at };
                self.journal(&record, |_, _| ()).await.map_err(|e| BrokerError::system(format!("the change could not be recorded: {e}")))?;
            }
            return Ok(ChangeInvisibleTimeResponseHeader {
                pop_time: handle.pop_time,
                invisible_time: now.saturating_add(invisible).saturating_sub(handle.pop_time),
                revive_qid: ORDER_REVIVE_QID,
            });
        }
        // A new handle must differ from the old, or an ack of the old one would take the new.
        let pop_time = now.max(handle.pop_time.saturating_add(1));
        let ck = handle.ck_queue_offset;
        if !self.pop.table().holds(&key, ck, handle.pop_time, h.offset) {
            return Err(BrokerError::new(rs::NO_MESSAGE, "the message is not in flight under this handle (acknowledged, or its invisible time passed)"));
        }
        let record = Record::Change {
            g: key.group.clone(),
            t: key.topic.clone(),
            q: key.queue_id,
            o: h.offset,
            s: ck,
            old: handle.pop_time,
            pt: pop_time,
            it: invisible,
        };
        let changed = self
            .journal(&record, |table, journal| {
                // Acked or revived while the record was written: nothing to change.
                table.ack(&key, ck, handle.pop_time, h.offset) && {
                    table.insert(&key, h.offset, &[h.offset], pop_time, pop_time.saturating_add(invisible), journal);
                    true
                }
            })
            .await
            .map_err(|e| BrokerError::system(format!("the change could not be recorded: {e}")))?;
        if !changed {
            // Acked or taken by the reviver while the record was written: a replay must not
            // bring it back under the new handle (the reviver's ack names the old one).
            let undo = Record::Ack { g: key.group.clone(), t: key.topic.clone(), q: key.queue_id, a: vec![(h.offset, h.offset, pop_time)] };
            if let Err(e) = self.journal(&undo, |_, _| ()).await {
                tracing::warn!(error = %e, "could not record the undone change of invisible time");
            }
            return Err(BrokerError::new(rs::NO_MESSAGE, "the message is not in flight under this handle (acknowledged, or its invisible time passed)"));
        }
        self.pop.wake_reviver.notify_one();
        Ok(ChangeInvisibleTimeResponseHeader { pop_time, invisible_time: invisible, revive_qid: handle.revive_qid })
    }

    /// BATCH_ACK_MESSAGE: each entry acknowledges offsets of one pop batch. An empty body is
    /// NO_MESSAGE; an orderly entry's offset outside its batch is MESSAGE_ILLEGAL (the other
    /// acks still apply).
    pub async fn batch_ack(&self, body: &BatchAckMessageRequestBody) -> BrokerResult<()> {
        if body.acks.is_empty() {
            return Err(BrokerError::new(rs::NO_MESSAGE, "no ack in the request"));
        }
        let mut failed = None;
        for ack in &body.acks {
            let retry = RetryFlag::parse(&ack.retry).ok_or_else(|| BrokerError::from(ProtocolError::BadField { field: "retry", value: ack.retry.clone() }))?;
            let topic = retry.real_topic(&ack.topic, &ack.consumer_group);
            let key = QueueKey::new(&ack.consumer_group, &topic, ack.queue_id);
            let offsets = ack.offsets().map_err(BrokerError::from)?;
            if ack.revive_queue_id == ORDER_REVIVE_QID {
                for o in offsets {
                    if let Err(e) = self.ack_orderly(&key, o, ack.pop_time).await {
                        failed = Some(e);
                    }
                }
            } else {
                let acks: Vec<(i64, i64, i64)> = offsets.into_iter().map(|o| (ack.start_offset, o, ack.pop_time)).collect();
                self.ack_offsets(&key, &acks).await?;
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// NOTIFICATION: whether a pop would find something, waiting up to `pollTime` for it.
    pub async fn notification(&self, h: &NotificationRequestHeader, gone: impl Future<Output = ()>) -> BrokerResult<bool> {
        self.check_notification(h)?;
        let until = Instant::now() + Duration::from_millis((h.poll_time.max(0) as u64).min(self.config.max_pull_hold_ms));
        let arrivals = self.store.arrivals();
        let (topic, retry) = (arrivals.notifier(&h.topic, ANY_QUEUE), arrivals.notifier(&pop_retry_topic(&h.topic, &h.consumer_group), ANY_QUEUE));
        tokio::pin!(gone);
        loop {
            let (a, r) = (topic.notified(), retry.notified());
            tokio::pin!(a, r);
            a.as_mut().enable();
            r.as_mut().enable();
            if self.has_message(h) || Instant::now() >= until {
                return Ok(self.has_message(h));
            }
            tokio::select! {
                _ = &mut a => {}
                _ = &mut r => {}
                _ = tokio::time::sleep_until(until) => {}
                _ = &mut gone => return Ok(false),
            }
        }
    }

    fn check_notification(&self, h: &NotificationRequestHeader) -> BrokerResult<()> {
        if self.runtime.permission() & perm::READ == 0 {
            return Err(BrokerError::no_permission(format!("the broker[{}] peeking message is forbidden", self.config.broker_ip1)));
        }
        self.check_readable_queue(&h.topic, h.queue_id, "peeking")?;
        self.check_consume_group(&h.consumer_group)
    }

    fn has_message(&self, h: &NotificationRequestHeader) -> bool {
        let now = self.clock.now_ms();
        let ready = |topic: &str, queue_id: i32| {
            let key = QueueKey::new(&h.consumer_group, topic, queue_id);
            if h.order && self.pop.orders().blocked(&key, h.attempt_id.as_deref(), now) {
                return false;
            }
            let offset = self.offsets.query(&h.consumer_group, topic, queue_id).unwrap_or_else(|| self.store.min_offset(topic, queue_id));
            self.store.max_offset(topic, queue_id) > offset
        };
        let queues = |topic: &str, queue_id: i32| -> Vec<i32> {
            match (queue_id, self.topics.get(topic)) {
                (q, Some(_)) if q >= 0 => vec![q],
                (_, Some(t)) => (0..t.read_queue_nums).collect(),
                (_, None) => Vec::new(),
            }
        };
        let retry = pop_retry_topic(&h.topic, &h.consumer_group);
        queues(&h.topic, h.queue_id).into_iter().any(|q| ready(&h.topic, q)) || (!h.order && queues(&retry, ANY_QUEUE).into_iter().any(|q| ready(&retry, q)))
    }

    /// POLLING_INFO: how many pops of the group wait on the topic and queue id (-1: those
    /// that asked for any queue).
    pub fn polling_info(&self, h: &NotificationRequestHeader) -> BrokerResult<i32> {
        self.check_notification(h)?;
        Ok(self.pop.waiting(&h.topic, &h.consumer_group, h.queue_id) as i32)
    }
}
