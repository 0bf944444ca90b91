//! Turning a message into CommitLog records: UNIQ_KEY and CLUSTER, delay levels (the
//! message is parked in SCHEDULE_TOPIC_XXXX until due), encoding, and the store put.
//! Shared by sends, consumer send-backs and the delay scheduler.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::message::{hex_upper, prop, sys_flag, tags_code, NewRecord, Properties};
use store::{EncodedRecord, PutError, PutMessage, PutResult};

use crate::Broker;

pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
pub const REAL_TOPIC: &str = "REAL_TOPIC";
pub const REAL_QID: &str = "REAL_QID";
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";

/// A message on its way into the store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub topic: String,
    pub queue_id: i32,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub reconsume_times: i32,
    pub body: Bytes,
    pub props: Properties,
    /// A committed transactional message's half message (CommitLog offset), else 0.
    pub prepared_transaction_offset: i64,
}

/// Where a parked message really goes, from its `REAL_TOPIC` and `REAL_QID`, left in place
/// (`None` without a topic; queue 0 if its queue cannot be read).
pub fn real_of(props: &Properties) -> Option<(String, i32)> {
    let topic = props.get(REAL_TOPIC)?.to_string();
    Some((topic, props.get(REAL_QID).and_then(|q| q.parse().ok()).unwrap_or(0)))
}

/// `real_of`, and takes `REAL_TOPIC` and `REAL_QID` out of the properties.
pub fn take_real(props: &mut Properties) -> Option<(String, i32)> {
    let real = real_of(props)?;
    props.remove(REAL_TOPIC);
    props.remove(REAL_QID);
    Some(real)
}

impl NewMessage {
    /// Parks the message in `topic` and `queue_id`, keeping its own in `REAL_TOPIC` and
    /// `REAL_QID` (delay levels, timers, half messages).
    pub fn redirect(&mut self, topic: &str, queue_id: i32) {
        self.props.set(REAL_TOPIC, &self.topic);
        self.props.set(REAL_QID, self.queue_id.to_string());
        self.topic = topic.to_string();
        self.queue_id = queue_id;
    }

    /// One of the broker's own journal records (POP's, transactions' ops): queue 0 of `topic`,
    /// tagged `tag`.
    pub fn journal(topic: &str, tag: &str, body: Bytes, born_host: SocketAddr, now_ms: i64) -> NewMessage {
        let mut props = Properties::default();
        props.set(prop::TAGS, tag);
        NewMessage {
            topic: topic.to_string(),
            queue_id: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp: now_ms,
            born_host,
            reconsume_times: 0,
            body,
            props,
            prepared_transaction_offset: 0,
        }
    }

    /// A stored record on its way to another topic and queue (retry, DLQ, delay release),
    /// keeping its body, flags and born information.
    pub fn from_record(m: &protocol::message::MessageRecord, topic: String, queue_id: i32, reconsume_times: i32, props: Properties) -> NewMessage {
        NewMessage {
            topic,
            queue_id,
            flag: m.flag,
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: m.born_host,
            reconsume_times,
            body: m.body.clone(),
            props,
            prepared_transaction_offset: 0,
        }
    }
}

/// `messageDelayLevel`: level n (1-based) waits `levels[n-1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DelayLevels(pub Vec<Duration>);

impl DelayLevels {
    /// Parses "1s 5s 10s 30s 1m 2m … 2h" (units s, m, h, d).
    pub fn parse(text: &str) -> Result<DelayLevels, String> {
        let levels = text
            .split_whitespace()
            .map(|t| {
                // The unit is the last character, which need not be one byte.
                let unit_at = t.char_indices().last().map_or(0, |(i, _)| i);
                let (num, unit) = t.split_at(unit_at);
                let n: u64 = num.parse().map_err(|_| format!("`{t}` is not a delay like 10s"))?;
                let scale = match unit {
                    "s" => 1,
                    "m" => 60,
                    "h" => 3600,
                    "d" => 86400,
                    _ => return Err(format!("`{t}` has no unit s, m, h or d")),
                };
                let secs = n.checked_mul(scale).ok_or_else(|| format!("`{t}` is too long a delay"))?;
                Ok(Duration::from_secs(secs))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if levels.is_empty() {
            return Err("no delay levels".into());
        }
        Ok(DelayLevels(levels))
    }

    pub fn max_level(&self) -> i32 {
        self.0.len() as i32
    }

    pub fn delay(&self, level: i32) -> Duration {
        self.0[(level.clamp(1, self.max_level()) - 1) as usize]
    }
}

/// Recovery's tag codes: a record in the schedule topic gets its due time (store time plus its
/// level's delay), as the appender gave it; any other its TAGS hash. Without this, delayed
/// messages re-dispatched after a crash would be due at once.
#[derive(Debug, Clone)]
pub struct DelayTagCode(pub DelayLevels);

impl store::TagCodeRule for DelayTagCode {
    fn tag_code(&self, topic: &str, properties: &Properties, store_timestamp_ms: i64) -> i64 {
        if topic != SCHEDULE_TOPIC {
            return store::TagsHash.tag_code(topic, properties, store_timestamp_ms);
        }
        let level = properties.get(prop::DELAY).and_then(|d| d.parse::<i32>().ok()).unwrap_or(1);
        store_timestamp_ms + self.0.delay(level).as_millis() as i64
    }
}

impl Default for DelayLevels {
    fn default() -> Self {
        DelayLevels::parse("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h").unwrap_or(DelayLevels(vec![Duration::from_secs(1)]))
    }
}

/// Whether a put stored its records: it did, or they are stored but less durable or less
/// replicated than asked (FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE).
pub(crate) fn was_stored(result: &Result<PutResult, PutError>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => e.stored().is_some(),
    }
}

impl Broker {
    /// Stores messages of one topic and queue (a batch shares them), answering once they
    /// are as durable as the flush mode promises.
    pub async fn put(&self, msgs: Vec<NewMessage>, wait_flush: bool) -> Result<PutResult, PutError> {
        self.put_parking(msgs, wait_flush, true).await
    }

    /// Stores messages as they are: a DELAY level does not park them (a delayed message that
    /// has come due keeps DELAY, REAL_TOPIC and REAL_QID, as Java's
    /// `ScheduleMessageService.messageTimeUp` stores it; a half message keeps its level for
    /// when it is committed; what goes to the check-max topic stays there).
    pub(crate) async fn put_unparked(&self, msgs: Vec<NewMessage>, wait_flush: bool) -> Result<PutResult, PutError> {
        self.put_parking(msgs, wait_flush, false).await
    }

    /// Stores one of the broker's own records (POP's journal): no UNIQ_KEY, no CLUSTER, not
    /// in the key index, no delay; answered once as durable as the flush mode promises.
    pub(crate) async fn put_internal(&self, msg: NewMessage) -> Result<PutResult, PutError> {
        self.check_in_sync()?;
        let result = self.store.put(self.internal(&msg)?).await;
        self.replicated(result, true).await
    }

    /// One of the broker's own records, ready for the store: not in the key index.
    fn internal(&self, msg: &NewMessage) -> Result<PutMessage, PutError> {
        let mut record = self.encode(msg, None)?;
        record.keys.clear();
        Ok(PutMessage { topic: msg.topic.clone(), queue_id: msg.queue_id, records: vec![record], wait_flush: true })
    }

    /// Controller mode: a SYNC_MASTER whose in-sync set is too small stores nothing.
    fn check_in_sync(&self) -> Result<(), PutError> {
        if self.config.enable_controller_mode && self.runtime.role() == crate::runtime::BrokerRole::SyncMaster && !self.ha.enough_in_sync() {
            return Err(PutError::InSyncReplicasNotEnough);
        }
        Ok(())
    }

    /// Under SYNC_MASTER a stored put (that waits for its store) waits for its replicas too
    /// (`inSyncReplicas`): FLUSH_SLAVE_TIMEOUT when they do not confirm it within
    /// `slaveTimeout` (over a FLUSH_DISK_TIMEOUT, as Java), SLAVE_NOT_AVAILABLE at once when
    /// too few are in sync to wait for (Java 4.x's answer; 5.3.3 waits out the timeout).
    async fn replicated(&self, result: Result<PutResult, PutError>, wait: bool) -> Result<PutResult, PutError> {
        if !wait || self.runtime.role() != crate::runtime::BrokerRole::SyncMaster {
            return result;
        }
        let put = match &result {
            Ok(r) | Err(PutError::FlushDiskTimeout(r)) => r,
            Err(_) => return result,
        };
        let end = put.phys_offsets.first().map_or(0, |p| *p as u64) + put.wrote_bytes;
        match self.ha.confirm(end, self.store.commit_log_max_offset() as u64).await {
            // Confirmed while this broker was master: a master deposed meanwhile does not say so.
            Ok(()) if self.config.enable_controller_mode && self.runtime.role() != crate::runtime::BrokerRole::SyncMaster => {
                Err(PutError::FlushSlaveTimeout(put.clone()))
            }
            Ok(()) => result,
            Err(crate::ha::Unconfirmed::NotAvailable) => Err(PutError::SlaveNotAvailable(put.clone())),
            Err(crate::ha::Unconfirmed::Timeout) => Err(PutError::FlushSlaveTimeout(put.clone())),
        }
    }

    async fn put_parking(&self, msgs: Vec<NewMessage>, wait_flush: bool, park: bool) -> Result<PutResult, PutError> {
        self.check_in_sync()?;
        let (put, count) = self.prepared(msgs, wait_flush, park)?;
        let started = std::time::Instant::now();
        let result = self.store.put(put).await;
        self.finished(result, count, started, wait_flush).await
    }

    /// A message put between two of the broker's own records (`put_internal`'s), all appended
    /// in one write and flush, in this order: a crash keeps the first, the first two, or all
    /// three. Once one is refused, the ones after it are too. The message is put as
    /// [`Broker::put`] puts it; `after` is left out when None. Transactions' commits.
    pub(crate) async fn put_between(
        &self,
        before: NewMessage,
        msgs: Vec<NewMessage>,
        after: Option<NewMessage>,
    ) -> Result<(PutResult, Result<PutResult, PutError>, Option<Result<PutResult, PutError>>), PutError> {
        self.check_in_sync()?;
        let mut puts = vec![self.internal(&before)?];
        let (put, count) = self.prepared(msgs, true, true)?;
        puts.push(put);
        if let Some(a) = &after {
            puts.push(self.internal(a)?);
        }
        let started = std::time::Instant::now();
        let mut results = self.store.put_all(puts).await.into_iter();
        // Stored but less durable than asked (a flush timeout) is stored: the records after it
        // may be in the log too.
        let first =
            results.next().unwrap_or_else(|| Err(PutError::ServiceUnavailable("store is shut down".into()))).or_else(|e| e.stored().cloned().ok_or(e))?;
        let main = results.next().unwrap_or_else(|| Err(PutError::ServiceUnavailable("store is shut down".into())));
        let last = results.next();
        // Waiting for replicas on the message covers the record before it.
        let main = self.finished(main, count, started, true).await;
        Ok((first, main, last))
    }

    /// Messages made ready for the store: UNIQ_KEY and CLUSTER set, a delayed one parked
    /// (`park`), encoded. Also how many they are.
    fn prepared(&self, mut msgs: Vec<NewMessage>, wait_flush: bool, park: bool) -> Result<(PutMessage, u64), PutError> {
        for m in &mut msgs {
            if m.props.get(prop::UNIQ_KEY).is_none() {
                m.props.set(prop::UNIQ_KEY, next_uniq_key(self.store_host.ip(), self.clock.now_ms()));
            }
            m.props.set(prop::CLUSTER, &self.config.broker_cluster_name);
        }
        let deliver_at = if park { self.park_if_delayed(&mut msgs) } else { None };
        let first = msgs.first().ok_or_else(|| PutError::MessageIllegal("no message".into()))?;
        let (topic, queue_id) = (first.topic.clone(), first.queue_id);
        let records = msgs.iter().map(|m| self.encode(m, deliver_at)).collect::<Result<Vec<_>, _>>()?;
        let count = records.len() as u64;
        Ok((PutMessage { topic, queue_id, records, wait_flush }, count))
    }

    /// A put's result once replicas confirmed it (SYNC_MASTER), counted in the runtime stats.
    async fn finished(&self, result: Result<PutResult, PutError>, count: u64, started: std::time::Instant, wait_flush: bool) -> Result<PutResult, PutError> {
        let result = self.replicated(result, wait_flush).await;
        if was_stored(&result) {
            self.stats.put_total.fetch_add(count, Ordering::Relaxed);
        }
        let wrote = match &result {
            Ok(r) => Some(r.wrote_bytes),
            Err(e) => e.stored().map(|r| r.wrote_bytes),
        };
        self.stats.puts.put(started.elapsed(), wrote);
        result
    }

    /// A single message with a DELAY level goes to SCHEDULE_TOPIC_XXXX, queue level−1,
    /// remembering its real topic and queue; returns when it is due.
    fn park_if_delayed(&self, msgs: &mut [NewMessage]) -> Option<i64> {
        let [m] = msgs else { return None };
        let level: i32 = m.props.get(prop::DELAY).and_then(|d| d.parse().ok()).filter(|l| *l > 0)?;
        let tx = m.sys_flag & sys_flag::TRANSACTION_MASK;
        if tx == sys_flag::TRANSACTION_PREPARED || tx == sys_flag::TRANSACTION_ROLLBACK {
            return None;
        }
        let level = level.min(self.delay_levels.max_level());
        m.props.set(prop::DELAY, level.to_string());
        m.redirect(SCHEDULE_TOPIC, level - 1);
        Some(self.clock.now_ms() + self.delay_levels.delay(level).as_millis() as i64)
    }

    fn encode(&self, m: &NewMessage, deliver_at: Option<i64>) -> Result<EncodedRecord, PutError> {
        let properties = m.props.as_wire();
        let mut bytes = BytesMut::new();
        NewRecord {
            topic: &m.topic,
            queue_id: m.queue_id,
            flag: m.flag,
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: m.born_host,
            store_host: self.store_host,
            reconsume_times: m.reconsume_times,
            prepared_transaction_offset: m.prepared_transaction_offset,
            body: &m.body,
            properties,
        }
        .encode(&mut bytes)
        .map_err(|e| PutError::MessageIllegal(e.to_string()))?;
        let mut keys: Vec<String> = m.props.keys().map(str::to_string).collect();
        if let Some(u) = m.props.get(prop::UNIQ_KEY) {
            keys.push(u.to_string());
        }
        // In the schedule topic the tag code is the delivery time, as in RocketMQ.
        let tags_code = deliver_at.unwrap_or_else(|| tags_code(m.props.get(prop::TAGS)));
        Ok(EncodedRecord { bytes, tags_code, keys })
    }
}

static UNIQ_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A UNIQ_KEY for messages that arrive without one, shaped like client ids.
pub(crate) fn next_uniq_key(ip: IpAddr, now_ms: i64) -> String {
    let ip = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let n = UNIQ_COUNTER.fetch_add(1, Ordering::Relaxed);
    hex_upper(&[&ip[..], &(std::process::id() as u16).to_be_bytes(), &(now_ms as u32).to_be_bytes(), &n.to_be_bytes()].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_levels_parse_like_rocketmq() {
        let d = DelayLevels::default();
        assert_eq!(d.max_level(), 18);
        assert_eq!(d.delay(3), Duration::from_secs(10));
        assert_eq!(d.delay(18), Duration::from_secs(7200));
        assert_eq!(d.delay(99), Duration::from_secs(7200), "clamped to the last level");
        assert!(DelayLevels::parse("1x").is_err());
        assert!(DelayLevels::parse("").is_err());
    }
}
