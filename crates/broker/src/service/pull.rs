//! Pulling: checks in the Java broker's order, the subscription's tag filter, offset resets
//! handed to the group's next pull, the store read, and long polling — a pull that finds
//! nothing may park until a message arrives on its queue or its hold time passes.
//!
//! [`Broker::pull`] answers at once or returns a [`Parking`]; the front end decides how a
//! parked request is held (remoting: `Channel::parked`) and when its requester is gone.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use protocol::codes::{perm, pull_flag, response as rs};
use protocol::header::PullMessageRequestHeader;
use protocol::message::java_hash;
use store::{GetResult, GetStatus};
use tokio::time::Instant;

use crate::error::{BrokerError, BrokerResult};
use crate::service::filter::{SubscriptionFilter, Via};
use crate::Broker;

/// A TAG subscription: `*` (everything) or the hash codes of `a || b`.
#[derive(Debug, Clone, PartialEq)]
pub struct TagFilter(Option<BTreeSet<i64>>);

impl TagFilter {
    pub fn parse(expression: Option<&str>) -> TagFilter {
        let expr = expression.unwrap_or("*").trim();
        if expr.is_empty() || expr == "*" {
            return TagFilter(None);
        }
        TagFilter(Some(expr.split("||").map(str::trim).filter(|t| !t.is_empty()).map(|t| java_hash(t) as i64).collect()))
    }

    pub(crate) fn from_codes(codes: &BTreeSet<i32>, sub_string: &str) -> TagFilter {
        if sub_string.trim() == "*" || sub_string.trim().is_empty() {
            return TagFilter(None);
        }
        if codes.is_empty() {
            return TagFilter::parse(Some(sub_string));
        }
        TagFilter(Some(codes.iter().map(|c| *c as i64).collect()))
    }

    pub fn matches(&self, tags_code: i64) -> bool {
        self.0.as_ref().is_none_or(|codes| codes.contains(&tags_code))
    }
}

/// A pull's answer.
#[derive(Debug)]
pub enum Pulled {
    /// What the store found (or did not), mapped to RocketMQ's pull status.
    Read(GetResult),
    /// An admin reset the group's offset of this queue: the consumer adopts `next_begin_offset`
    /// (answered as PULL_OFFSET_MOVED with remark OFFSET_RESET), and its own commit is not applied.
    Reset { next_begin_offset: i64, min_offset: i64, max_offset: i64 },
}

impl Broker {
    /// Which broker of the group the consumer should pull from next (the pull answer's
    /// `suggestWhichBrokerId`), as Java decides it: without `slaveReadEnable` the master;
    /// with it, the group's `whichBrokerWhenConsumeSlowly` for a consumer reading further
    /// behind the CommitLog's end than `accessMessageInMemoryMaxRatio` of memory, else the
    /// group's `brokerId`.
    pub fn suggest_broker_id(&self, group: &str, messages: &bytes::Bytes) -> i64 {
        if !self.config.slave_read_enable {
            return 0;
        }
        let Some(g) = self.groups.get(group) else { return 0 };
        let at = protocol::message::pos::PHYSICAL_OFFSET;
        let Some(first) = messages.get(at..at + 8).map(|b| i64::from_be_bytes(b.try_into().unwrap_or_default())) else { return g.broker_id };
        let in_memory = crate::total_memory_bytes() as f64 * self.config.access_message_in_memory_max_ratio as f64 / 100.0;
        if (self.store.commit_log_max_offset() - first) as f64 > in_memory {
            g.which_broker_when_consume_slowly
        } else {
            g.broker_id
        }
    }
}

/// The result of asking for messages: an answer now, or a pull to hold until one is due.
pub enum PullStart {
    Now(Pulled),
    Park(Parking),
}

/// A pull that found nothing and may wait (`SUSPEND`), holding one of `maxParkedPulls`.
pub struct Parking {
    broker: Arc<Broker>,
    header: PullMessageRequestHeader,
    /// The offset the pull asked for (`header.queue_offset` moves past what the filter skips).
    asked_offset: i64,
    filter: SubscriptionFilter,
    max_msgs: usize,
    hold: Duration,
}

impl Drop for Parking {
    fn drop(&mut self) {
        self.broker.parked_pulls.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Parking {
    /// Waits for a message on the queue (or an offset reset) until the hold time passes, or
    /// until `gone` resolves (nobody will read the answer), and answers with what is there.
    /// Arrivals the filter does not keep are stepped over while waiting (the answer's next
    /// offset says how far), so only a match ends the wait early.
    pub async fn wait(mut self, gone: impl Future<Output = ()>) -> BrokerResult<Pulled> {
        let b = self.broker.clone();
        let deadline = Instant::now() + self.hold;
        let notifier = b.store.arrivals().notifier(&self.header.topic, self.header.queue_id);
        tokio::pin!(gone);
        loop {
            let notified = notifier.notified();
            tokio::pin!(notified);
            // Register before re-reading, so an arrival in between still wakes us.
            notified.as_mut().enable();
            if let Some(reset) = b.offset_reset(&self.header) {
                return Ok(reset);
            }
            // The subscription may have changed while waiting (a heartbeat): what was stepped
            // over under the old filter is read again under the new one, as the Java broker
            // runs a held pull again from its offset.
            let current = b.check_pull(&self.header)?;
            if !current.same_as(&self.filter) {
                self.filter = current;
                self.header.queue_offset = self.asked_offset;
            }
            let mut result = b.read(&self.header, self.max_msgs, &self.filter).await?;
            // Step over what the filter does not keep, reading on from past it.
            while result.status == GetStatus::NoMatchedMessage && result.next_begin_offset > self.header.queue_offset && Instant::now() < deadline {
                self.header.queue_offset = result.next_begin_offset;
                result = b.read(&self.header, self.max_msgs, &self.filter).await?;
                if result.status == GetStatus::OffsetOverflowOne {
                    result.status = GetStatus::NoMatchedMessage;
                    break;
                }
            }
            let waiting = result.status == GetStatus::NoMatchedMessage || nothing_yet(result.status, self.header.queue_offset);
            if !waiting || Instant::now() >= deadline {
                return Ok(b.answer(&self.header, result));
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => {}
                // Give the slot back now.
                _ = &mut gone => return Ok(b.answer(&self.header, result)),
            }
        }
    }
}

/// Whether a pull found nothing yet where a message will come: at the queue's end, or at
/// offset 0 of a queue that has never had a message (Java answers both PULL_NOT_FOUND and
/// holds them; answered at once, an empty queue's consumer pulls again at once, forever).
fn nothing_yet(status: GetStatus, offset: i64) -> bool {
    status == GetStatus::OffsetOverflowOne || (matches!(status, GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue) && offset == 0)
}

impl Broker {
    /// PULL_MESSAGE / LITE_PULL_MESSAGE: reads what is there, or returns a [`Parking`] when
    /// nothing is and the request may wait.
    pub async fn pull(self: &Arc<Self>, h: &PullMessageRequestHeader) -> BrokerResult<PullStart> {
        let filter = self.check_pull(h)?;
        if let Some(reset) = self.offset_reset(h) {
            return Ok(PullStart::Now(reset));
        }
        if h.sys_flag & pull_flag::COMMIT_OFFSET != 0 && h.commit_offset >= 0 {
            self.offsets.commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
        }
        let max_msgs = h.max_msg_nums.max(1) as usize;
        let result = self.read(h, max_msgs, &filter).await?;
        let suspend = h.sys_flag & pull_flag::SUSPEND != 0;
        if !suspend || !nothing_yet(result.status, h.queue_offset) {
            return Ok(PullStart::Now(self.answer(h, result)));
        }
        let hold = if self.config.long_polling_enable {
            Duration::from_millis((h.suspend_timeout_ms.max(0) as u64).min(self.config.max_pull_hold_ms))
        } else {
            Duration::from_millis(self.config.short_polling_time_ms)
        };
        if self.parked_pulls.fetch_add(1, Ordering::AcqRel) >= self.config.max_parked_pulls {
            // Over the cap: answered at once.
            self.parked_pulls.fetch_sub(1, Ordering::AcqRel);
            return Ok(PullStart::Now(self.answer(h, result)));
        }
        Ok(PullStart::Park(Parking { broker: self.clone(), header: h.clone(), asked_offset: h.queue_offset, filter, max_msgs, hold }))
    }

    /// Counts what a pull hands out (the runtime info's get totals, the metrics) and where
    /// the group pulls next.
    fn answer(&self, h: &PullMessageRequestHeader, result: GetResult) -> Pulled {
        if result.status == GetStatus::Found {
            self.stats.get_total.fetch_add(result.message_count as u64, Ordering::Relaxed);
            // Java counts what is read of a topic, not of retry or dead-letter topics.
            if !protocol::names::is_group_topic(&h.topic) {
                self.metrics.consumed(&h.topic, &h.consumer_group, false, result.message_count as u64, result.messages.len() as u64);
            }
        }
        self.metrics.pulled(&h.consumer_group, &h.topic, h.queue_id, result.next_begin_offset);
        Pulled::Read(result)
    }

    fn offset_reset(&self, h: &PullMessageRequestHeader) -> Option<Pulled> {
        let reset = self.offsets.take_reset(&h.consumer_group, &h.topic, h.queue_id)?;
        let (min, max) = (self.store.min_offset(&h.topic, h.queue_id), self.store.max_offset(&h.topic, h.queue_id));
        Some(Pulled::Reset { next_begin_offset: reset, min_offset: min, max_offset: max })
    }

    /// Reads from the page cache on this task; an answer that needs the disk is read on the
    /// blocking pool instead, so a cold backlog neither stalls the runtime's workers nor is
    /// limited to one disk read per worker.
    async fn read(self: &Arc<Self>, h: &PullMessageRequestHeader, max_msgs: usize, filter: &SubscriptionFilter) -> BrokerResult<GetResult> {
        let started = std::time::Instant::now();
        let result = self.read_queue(&h.topic, h.queue_id, h.queue_offset, max_msgs, filter).await;
        self.stats.puts.get(started.elapsed());
        result
    }

    /// A queue's messages from `offset` (pulls and pops): from the page cache on this task,
    /// else on the blocking pool.
    pub(crate) async fn read_queue(
        self: &Arc<Self>,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msgs: usize,
        filter: &SubscriptionFilter,
    ) -> BrokerResult<GetResult> {
        if let Some(r) = self.store.get_cached(topic, queue_id, offset, max_msgs, &self.read_filter(topic, filter))? {
            return Ok(r);
        }
        let (b, topic, filter) = (self.clone(), topic.to_string(), filter.clone());
        let read = tokio::task::spawn_blocking(move || b.store.get(&topic, queue_id, offset, max_msgs, &b.read_filter(&topic, &filter)));
        Ok(read.await.map_err(|e| BrokerError::system(format!("store read failed: {e}")))??)
    }

    /// Broker, group, topic, queue and subscription checks, in the Java broker's order.
    fn check_pull(&self, h: &PullMessageRequestHeader) -> BrokerResult<SubscriptionFilter> {
        if self.runtime.permission() & perm::READ == 0 {
            return Err(BrokerError::no_permission(format!("the broker[{}] pulling message is forbidden", self.config.broker_ip1)));
        }
        let Some(group) = self.groups.find_or_create(&h.consumer_group) else {
            return Err(BrokerError::new(rs::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group [{}] does not exist", h.consumer_group)));
        };
        if !group.consume_enable {
            return Err(BrokerError::no_permission(format!("subscription group no permission, {}", h.consumer_group)));
        }
        let Some(topic) = self.topics.get(&h.topic) else {
            return Err(BrokerError::new(
                rs::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please! {}", h.topic, protocol::names::APPLY_TOPIC_TIP),
            ));
        };
        if topic.perm & perm::READ == 0 {
            return Err(BrokerError::no_permission(format!("the topic[{}] pulling message is forbidden", h.topic)));
        }
        if h.queue_id < 0 || h.queue_id >= topic.read_queue_nums {
            return Err(BrokerError::invalid(format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}]",
                h.queue_id, h.topic, topic.read_queue_nums
            )));
        }
        if h.sys_flag & pull_flag::SUBSCRIPTION != 0 {
            return self.subscription_filter(h.expression_type.as_deref(), h.subscription.as_deref(), None, Via::Pull);
        }
        let Some(sub) = self.clients.subscription(&h.consumer_group, &h.topic) else {
            return Err(BrokerError::new(rs::SUBSCRIPTION_NOT_EXIST, "the consumer's subscription not exist"));
        };
        if sub.sub_version < h.sub_version {
            return Err(BrokerError::new(rs::SUBSCRIPTION_NOT_LATEST, "the consumer's subscription not latest"));
        }
        // A heartbeat's SQL92 that does not compile: Java's answer (its filter data was never
        // built), with why.
        self.subscription_filter(sub.expression_type.as_deref(), Some(&sub.sub_string), Some(&sub.code_set), Via::Pull).map_err(|e| match e.code {
            rs::SUBSCRIPTION_PARSE_FAILED => BrokerError::new(
                rs::FILTER_DATA_NOT_EXIST,
                format!("The broker's consumer filter data is not exist!Your expression may be wrong! {}", e.remark),
            ),
            _ => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_filter() {
        let f = TagFilter::parse(Some("TagA || TagB"));
        assert!(f.matches(java_hash("TagA") as i64));
        assert!(!f.matches(java_hash("TagC") as i64));
        assert!(TagFilter::parse(Some("*")).matches(12345));
    }
}
