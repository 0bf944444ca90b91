//! POP consumption (RocketMQ 5.x) on the wire: the request and response headers of
//! POP_MESSAGE, ACK_MESSAGE, CHANGE_MESSAGE_INVISIBLETIME, NOTIFICATION and POLLING_INFO, the
//! receipt handle ("extraInfo", the `POP_CK` property) and the offset strings of a pop's
//! answer, and the JSON bodies of BATCH_ACK_MESSAGE, QUERY_ASSIGNMENT and
//! SET_MESSAGE_REQUEST_MODE. The layouts are the Java client's (`ExtraInfoUtil`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::command::ExtFields;
use crate::header::Fields;
use crate::message::{property_in, MessageRecord};
use crate::ProtocolError;

/// The queue id of a POP that takes from any queue, and of an assignment that means "any
/// queue of this broker".
pub const ANY_QUEUE: i32 = -1;
/// The revive queue id that marks an orderly pop's handle (`KeyBuilder.POP_ORDER_REVIVE_QUEUE`).
pub const ORDER_REVIVE_QID: i32 = 999;
pub const RETRY_PREFIX: &str = "%RETRY%";
/// `POP_CK`: the property that carries a message's receipt handle.
pub const POP_CK: &str = "POP_CK";
/// The longest bit set one batch-ack entry may carry: offsets up to 64 Ki past its
/// checkpoint (a pop's messages can lie apart when a filter skips others).
pub const MAX_BIT_SET_BYTES: usize = 8 * 1024;
/// The most offsets one batch-ack entry may acknowledge.
pub const MAX_BATCH_ACK_OFFSETS: usize = 1024;

/// Where a popped message was read: its topic, or one of the group's POP retry topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RetryFlag {
    /// The topic itself ("0").
    Normal,
    /// `%RETRY%{group}_{topic}` ("1").
    V1,
    /// `%RETRY%{group}+{topic}` ("2").
    V2,
}

impl RetryFlag {
    /// As `ExtraInfoUtil.getRetry`: from the name of the topic read.
    pub fn of_topic(topic: &str) -> RetryFlag {
        match topic.strip_prefix(RETRY_PREFIX) {
            Some(rest) if rest.contains('+') => RetryFlag::V2,
            Some(_) => RetryFlag::V1,
            None => RetryFlag::Normal,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RetryFlag::Normal => "0",
            RetryFlag::V1 => "1",
            RetryFlag::V2 => "2",
        }
    }

    pub fn parse(s: &str) -> Option<RetryFlag> {
        match s {
            "0" => Some(RetryFlag::Normal),
            "1" => Some(RetryFlag::V1),
            "2" => Some(RetryFlag::V2),
            _ => None,
        }
    }

    /// The topic a handle's message lives in, given the topic the consumer knows it by.
    pub fn real_topic(self, topic: &str, group: &str) -> String {
        match self {
            RetryFlag::Normal => topic.to_string(),
            RetryFlag::V1 => pop_retry_topic(topic, group),
            RetryFlag::V2 => format!("{RETRY_PREFIX}{group}+{topic}"),
        }
    }
}

/// The topic a queue key's topic stands for: the original of a POP retry topic of `group`
/// (either naming), else the topic itself.
pub fn original_topic(topic: &str, group: &str) -> String {
    let rest = topic.strip_prefix(RETRY_PREFIX).and_then(|r| r.strip_prefix(group));
    match rest.and_then(|r| r.strip_prefix('_').or_else(|| r.strip_prefix('+'))) {
        Some(original) if !original.is_empty() => original.to_string(),
        _ => topic.to_string(),
    }
}

/// `%RETRY%{group}_{topic}`: where a POP group's unacknowledged messages come back.
pub fn pop_retry_topic(topic: &str, group: &str) -> String {
    format!("{RETRY_PREFIX}{group}_{topic}")
}

/// A receipt handle as the Java client builds it and sends it back in acks and changes:
/// `ckQueueOffset popTime invisibleTime reviveQid retryFlag brokerName queueId [queueOffset]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraInfo {
    pub ck_queue_offset: i64,
    pub pop_time: i64,
    pub invisible_time: i64,
    pub revive_qid: i32,
    pub retry: RetryFlag,
    pub broker_name: String,
    pub queue_id: i32,
    pub queue_offset: Option<i64>,
}

impl ExtraInfo {
    /// Reads a handle. Unlike the Java broker (which fails with the exception's text), every
    /// malformed handle is one clear error naming what is wrong.
    pub fn parse(s: &str) -> Result<ExtraInfo, ProtocolError> {
        let bad = |why: &str| ProtocolError::BadField { field: "extraInfo", value: format!("{s} ({why})") };
        let parts: Vec<&str> = s.split(' ').collect();
        if parts.len() < 7 {
            return Err(bad("fewer than 7 fields"));
        }
        let num = |i: usize| parts[i].parse::<i64>().map_err(|_| bad("a field is not a number"));
        Ok(ExtraInfo {
            ck_queue_offset: num(0)?,
            pop_time: num(1)?,
            invisible_time: num(2)?,
            revive_qid: i32::try_from(num(3)?).map_err(|_| bad("reviveQid out of range"))?,
            retry: RetryFlag::parse(parts[4]).ok_or_else(|| bad("retry flag is not 0, 1 or 2"))?,
            broker_name: parts[5].to_string(),
            queue_id: i32::try_from(num(6)?).map_err(|_| bad("queueId out of range"))?,
            queue_offset: if parts.len() > 7 && !parts[7].is_empty() { Some(num(7)?) } else { None },
        })
    }

    pub fn is_order(&self) -> bool {
        self.revive_qid == ORDER_REVIVE_QID
    }

    /// The handle after a change of invisible time answered `r`: the message's own offset
    /// becomes its checkpoint offset, as the Java client builds it.
    pub fn changed(&self, r: &ChangeInvisibleTimeResponseHeader) -> ExtraInfo {
        let offset = self.queue_offset.unwrap_or(self.ck_queue_offset);
        ExtraInfo { ck_queue_offset: offset, pop_time: r.pop_time, invisible_time: r.invisible_time, revive_qid: r.revive_qid, ..self.clone() }
    }

    pub fn encode(&self) -> String {
        let mut s = format!(
            "{} {} {} {} {} {} {}",
            self.ck_queue_offset,
            self.pop_time,
            self.invisible_time,
            self.revive_qid,
            self.retry.as_str(),
            self.broker_name,
            self.queue_id
        );
        if let Some(o) = self.queue_offset {
            let _ = write!(s, " {o}");
        }
        s
    }
}

/// The per-queue strings of a pop's answer: `startOffsetInfo` (`flag queueId startOffset`),
/// `msgOffsetInfo` (`flag queueId o1,o2,…`) and, for an orderly pop, `orderCountInfo`
/// (`flag queueId minCount` and `flag qo{queueId}%{offset} count`); entries joined by `;`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OffsetInfo {
    pub start: String,
    pub msgs: String,
    pub order_counts: String,
}

impl OffsetInfo {
    /// Adds one queue's part of the answer.
    pub fn add_queue(&mut self, retry: RetryFlag, queue_id: i32, start_offset: i64, offsets: &[i64]) {
        sep(&mut self.start);
        let _ = write!(self.start, "{} {queue_id} {start_offset}", retry.as_str());
        sep(&mut self.msgs);
        let _ = write!(self.msgs, "{} {queue_id} ", retry.as_str());
        for (i, o) in offsets.iter().enumerate() {
            if i > 0 {
                self.msgs.push(',');
            }
            let _ = write!(self.msgs, "{o}");
        }
    }

    /// Adds an orderly queue's delivery counts: one entry per offset seen before, then the
    /// queue's smallest count.
    pub fn add_order_counts(&mut self, retry: RetryFlag, queue_id: i32, counts: &[(i64, i32)]) {
        for (offset, count) in counts.iter().filter(|(_, c)| *c > 0) {
            sep(&mut self.order_counts);
            let _ = write!(self.order_counts, "{} qo{queue_id}%{offset} {count}", retry.as_str());
        }
        sep(&mut self.order_counts);
        let min = counts.iter().map(|(_, c)| *c).min().unwrap_or(0);
        let _ = write!(self.order_counts, "{} {queue_id} {min}", retry.as_str());
    }

    /// Parses `startOffsetInfo` as the client does: key `flag@queueId` → start offset.
    pub fn parse_start(s: &str) -> Result<BTreeMap<String, i64>, ProtocolError> {
        let mut out = BTreeMap::new();
        for (key, value) in entries(s, "startOffsetInfo")? {
            let v = value.parse().map_err(|_| ProtocolError::BadField { field: "startOffsetInfo", value: s.to_string() })?;
            out.insert(key, v);
        }
        Ok(out)
    }

    /// Parses `msgOffsetInfo`: key `flag@queueId` → the offsets in order.
    pub fn parse_msgs(s: &str) -> Result<BTreeMap<String, Vec<i64>>, ProtocolError> {
        let mut out = BTreeMap::new();
        for (key, value) in entries(s, "msgOffsetInfo")? {
            let offsets = value.split(',').map(|o| o.parse()).collect::<Result<Vec<i64>, _>>();
            out.insert(key, offsets.map_err(|_| ProtocolError::BadField { field: "msgOffsetInfo", value: s.to_string() })?);
        }
        Ok(out)
    }
}

fn sep(s: &mut String) {
    if !s.is_empty() {
        s.push(';');
    }
}

fn entries<'s>(s: &'s str, field: &'static str) -> Result<Vec<(String, &'s str)>, ProtocolError> {
    s.split(';')
        .filter(|e| !e.is_empty())
        .map(|e| {
            let parts: Vec<&str> = e.split(' ').collect();
            match parts[..] {
                [flag, queue, value] => Ok((format!("{flag}@{queue}"), value)),
                _ => Err(ProtocolError::BadField { field, value: s.to_string() }),
            }
        })
        .collect()
}

/// The receipt handle of each message of a pop's answer, as the Java client builds them: its
/// `POP_CK` property if the broker set one (a retried message), else from the answer's offset
/// strings (the n-th message of a queue gets the n-th offset listed for it). `broker_name` is
/// the name the client knows the broker by. An answer that lists no offsets for a message's
/// queue is an error.
pub fn receipt_handles(h: &PopMessageResponseHeader, broker_name: &str, records: &[MessageRecord]) -> Result<Vec<ExtraInfo>, ProtocolError> {
    let starts = OffsetInfo::parse_start(&h.info.start)?;
    let offsets = OffsetInfo::parse_msgs(&h.info.msgs)?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    records
        .iter()
        .map(|m| {
            if let Some(ck) = property_in(&m.properties, POP_CK) {
                return ExtraInfo::parse(ck);
            }
            let retry = RetryFlag::of_topic(&m.topic);
            let key = format!("{}@{}", retry.as_str(), m.queue_id);
            let missing = || ProtocolError::BadField { field: "msgOffsetInfo", value: format!("no offsets for {key}") };
            let i = seen.entry(key.clone()).or_default();
            let offset = *offsets.get(&key).and_then(|o| o.get(*i)).ok_or_else(missing)?;
            *i += 1;
            Ok(ExtraInfo {
                ck_queue_offset: *starts.get(&key).ok_or_else(missing)?,
                pop_time: h.pop_time,
                invisible_time: h.invisible_time,
                revive_qid: h.revive_qid,
                retry,
                broker_name: broker_name.to_string(),
                queue_id: m.queue_id,
                queue_offset: Some(offset),
            })
        })
        .collect()
}

/// `PopMessageRequestHeader` (code 200050).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PopMessageRequestHeader {
    pub consumer_group: String,
    pub topic: String,
    /// [`ANY_QUEUE`] (any negative value) pops from every readable queue.
    pub queue_id: i32,
    pub max_msg_nums: i32,
    pub invisible_time: i64,
    /// How long the request may wait for a message (long polling); 0 answers at once.
    pub poll_time: i64,
    /// The client's clock when it sent the request.
    pub born_time: i64,
    /// `ConsumeInitMode`: 0 MIN (a new group starts at the queue's first message), 1 MAX.
    pub init_mode: i32,
    pub exp_type: Option<String>,
    pub exp: Option<String>,
    pub order: bool,
    pub attempt_id: Option<String>,
}

impl PopMessageRequestHeader {
    /// Reads the header; a missing `bornTime` is 0, which the broker takes as its own now
    /// (as the Java broker fills it in).
    pub fn decode(ext: &ExtFields) -> Result<Self, ProtocolError> {
        let born_time = ext.opt::<i64>("bornTime")?.unwrap_or(0);
        Ok(PopMessageRequestHeader {
            consumer_group: ext.req_str("consumerGroup")?.to_string(),
            topic: ext.req_str("topic")?.to_string(),
            queue_id: ext.req::<i32>("queueId")?.max(ANY_QUEUE),
            max_msg_nums: ext.req("maxMsgNums")?,
            invisible_time: ext.req("invisibleTime")?,
            poll_time: ext.req("pollTime")?,
            born_time,
            init_mode: ext.req("initMode")?,
            exp_type: ext.raw("expType").filter(|s| !s.is_empty()).map(str::to_string),
            exp: ext.raw("exp").filter(|s| !s.is_empty()).map(str::to_string),
            order: ext.flag("order"),
            attempt_id: ext.raw("attemptId").filter(|s| !s.is_empty()).map(str::to_string),
        })
    }

    pub fn encode(&self, ext: &mut ExtFields) {
        ext.insert("consumerGroup", &self.consumer_group);
        ext.insert("topic", &self.topic);
        ext.insert_display("queueId", self.queue_id);
        ext.insert_display("maxMsgNums", self.max_msg_nums);
        ext.insert_display("invisibleTime", self.invisible_time);
        ext.insert_display("pollTime", self.poll_time);
        ext.insert_display("bornTime", self.born_time);
        ext.insert_display("initMode", self.init_mode);
        if let Some(t) = &self.exp_type {
            ext.insert("expType", t);
        }
        if let Some(e) = &self.exp {
            ext.insert("exp", e);
        }
        ext.insert("order", if self.order { "true" } else { "false" });
        if let Some(a) = &self.attempt_id {
            ext.insert("attemptId", a);
        }
    }
}

/// `PopMessageResponseHeader`: written on every answer to a pop, errors included (zeros), as
/// the Java broker does; the client reads it whatever the code.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PopMessageResponseHeader {
    pub pop_time: i64,
    pub invisible_time: i64,
    pub revive_qid: i32,
    pub rest_num: i64,
    pub info: OffsetInfo,
    pub order: bool,
}

impl PopMessageResponseHeader {
    pub fn encode(&self, ext: &mut ExtFields) {
        ext.insert_display("popTime", self.pop_time);
        ext.insert_display("invisibleTime", self.invisible_time);
        ext.insert_display("reviveQid", self.revive_qid);
        ext.insert_display("restNum", self.rest_num);
        ext.insert("startOffsetInfo", &self.info.start);
        ext.insert("msgOffsetInfo", &self.info.msgs);
        if self.order {
            ext.insert("orderCountInfo", &self.info.order_counts);
        }
    }

    pub fn decode(ext: &ExtFields) -> Result<Self, ProtocolError> {
        Ok(PopMessageResponseHeader {
            pop_time: ext.req("popTime")?,
            invisible_time: ext.req("invisibleTime")?,
            revive_qid: ext.req("reviveQid")?,
            rest_num: ext.req("restNum")?,
            info: OffsetInfo {
                start: ext.raw("startOffsetInfo").unwrap_or("").to_string(),
                msgs: ext.raw("msgOffsetInfo").unwrap_or("").to_string(),
                order_counts: ext.raw("orderCountInfo").unwrap_or("").to_string(),
            },
            order: ext.raw("orderCountInfo").is_some(),
        })
    }
}

/// `AckMessageRequestHeader` (200051) and `ChangeInvisibleTimeRequestHeader` (200053, with
/// `invisible_time`): `topic` is the real topic (a POP retry topic for a retried message),
/// `offset` the message's queue offset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AckMessageRequestHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    pub extra_info: String,
    pub offset: i64,
    pub invisible_time: Option<i64>,
}

impl AckMessageRequestHeader {
    /// The ack (or, with `invisible_time`, the change) of the message a handle names, for a
    /// consumer that popped it from `topic` (the handle says whether it came from the retry
    /// topic).
    pub fn for_handle(group: &str, topic: &str, handle: &ExtraInfo, invisible_time: Option<i64>) -> AckMessageRequestHeader {
        AckMessageRequestHeader {
            consumer_group: group.to_string(),
            topic: handle.retry.real_topic(topic, group),
            queue_id: handle.queue_id,
            extra_info: handle.encode(),
            offset: handle.queue_offset.unwrap_or(handle.ck_queue_offset),
            invisible_time,
        }
    }

    pub fn decode(ext: &ExtFields, change: bool) -> Result<Self, ProtocolError> {
        Ok(AckMessageRequestHeader {
            consumer_group: ext.req_str("consumerGroup")?.to_string(),
            topic: ext.req_str("topic")?.to_string(),
            queue_id: ext.req("queueId")?,
            extra_info: ext.req_str("extraInfo")?.to_string(),
            offset: ext.req("offset")?,
            invisible_time: if change { Some(ext.req("invisibleTime")?) } else { None },
        })
    }

    pub fn encode(&self, ext: &mut ExtFields) {
        ext.insert("consumerGroup", &self.consumer_group);
        ext.insert("topic", &self.topic);
        ext.insert_display("queueId", self.queue_id);
        ext.insert("extraInfo", &self.extra_info);
        ext.insert_display("offset", self.offset);
        if let Some(t) = self.invisible_time {
            ext.insert_display("invisibleTime", t);
        }
    }
}

/// `ChangeInvisibleTimeResponseHeader`: the client builds the new handle from these.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChangeInvisibleTimeResponseHeader {
    pub pop_time: i64,
    pub invisible_time: i64,
    pub revive_qid: i32,
}

impl ChangeInvisibleTimeResponseHeader {
    pub fn encode(&self, ext: &mut ExtFields) {
        ext.insert_display("popTime", self.pop_time);
        ext.insert_display("invisibleTime", self.invisible_time);
        ext.insert_display("reviveQid", self.revive_qid);
    }

    pub fn decode(ext: &ExtFields) -> Result<Self, ProtocolError> {
        Ok(ChangeInvisibleTimeResponseHeader { pop_time: ext.req("popTime")?, invisible_time: ext.req("invisibleTime")?, revive_qid: ext.req("reviveQid")? })
    }
}

/// `NotificationRequestHeader` (200054): is there something to pop? `PollingInfoRequestHeader`
/// (200055) is its first three fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotificationRequestHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    pub poll_time: i64,
    pub born_time: i64,
    pub order: bool,
    pub attempt_id: Option<String>,
}

impl NotificationRequestHeader {
    /// Reads NOTIFICATION's header, or POLLING_INFO's (`polling_info`: no poll or born time).
    pub fn decode(ext: &ExtFields, polling_info: bool) -> Result<Self, ProtocolError> {
        let (poll_time, born_time) = if polling_info { (0, 0) } else { (ext.req("pollTime")?, ext.opt::<i64>("bornTime")?.unwrap_or(0)) };
        Ok(NotificationRequestHeader {
            consumer_group: ext.req_str("consumerGroup")?.to_string(),
            topic: ext.req_str("topic")?.to_string(),
            queue_id: ext.req::<i32>("queueId")?.max(ANY_QUEUE),
            poll_time,
            born_time,
            order: ext.flag("order"),
            attempt_id: ext.raw("attemptId").filter(|s| !s.is_empty()).map(str::to_string),
        })
    }
}

/// One entry of `BatchAckMessageRequestBody`: the acks of one pop batch of one queue, as a
/// bit set over offsets from `start_offset`. Short and long field names are accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAck {
    #[serde(rename = "c", alias = "consumerGroup")]
    pub consumer_group: String,
    /// The topic the consumer knows (not the retry topic: `retry` says which).
    #[serde(rename = "t", alias = "topic")]
    pub topic: String,
    #[serde(rename = "r", alias = "retry")]
    pub retry: String,
    #[serde(rename = "so", alias = "startOffset")]
    pub start_offset: i64,
    #[serde(rename = "q", alias = "queueId")]
    pub queue_id: i32,
    #[serde(rename = "rq", alias = "reviveQueueId")]
    pub revive_queue_id: i32,
    #[serde(rename = "pt", alias = "popTime")]
    pub pop_time: i64,
    #[serde(rename = "it", alias = "invisibleTime")]
    pub invisible_time: i64,
    /// Java's `BitSet.toByteArray()` in base64: bit i is offset `start_offset + i`.
    #[serde(rename = "b", alias = "bitSet")]
    pub bit_set: String,
}

impl BatchAck {
    /// The acknowledged offsets; an unreadable bit set, one longer than
    /// [`MAX_BIT_SET_BYTES`] or with more than [`MAX_BATCH_ACK_OFFSETS`] bits set is an error.
    pub fn offsets(&self) -> Result<Vec<i64>, ProtocolError> {
        use base64::Engine as _;
        let bad = || ProtocolError::BadField { field: "bitSet", value: self.bit_set.chars().take(64).collect() };
        if self.bit_set.len() > MAX_BIT_SET_BYTES * 4 / 3 + 4 {
            return Err(bad());
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(self.bit_set.as_bytes()).map_err(|_| bad())?;
        let mut out = Vec::new();
        for (i, byte) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    let offset = self.start_offset.checked_add((i * 8 + bit) as i64).ok_or_else(bad)?;
                    out.push(offset);
                    if out.len() > MAX_BATCH_ACK_OFFSETS {
                        return Err(bad());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Encodes offsets (each at or after `start_offset`) as the bit set.
    pub fn encode_offsets(start_offset: i64, offsets: &[i64]) -> String {
        use base64::Engine as _;
        let mut bytes = Vec::new();
        for o in offsets {
            let i = (o - start_offset).max(0) as usize;
            if bytes.len() <= i / 8 {
                bytes.resize(i / 8 + 1, 0u8);
            }
            bytes[i / 8] |= 1 << (i % 8);
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchAckMessageRequestBody {
    pub broker_name: String,
    pub acks: Vec<BatchAck>,
}

/// `QueryAssignmentRequestBody` (code 400).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryAssignmentRequestBody {
    pub topic: String,
    pub consumer_group: String,
    pub client_id: String,
    pub strategy_name: String,
    pub message_model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedQueue {
    pub broker_name: String,
    pub queue_id: i32,
    pub topic: String,
}

/// `MessageQueueAssignment`: a queue and how it is consumed ("PULL" or "POP").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueueAssignment {
    pub message_queue: AssignedQueue,
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryAssignmentResponseBody {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message_queue_assignments: Option<Vec<MessageQueueAssignment>>,
}

/// `SetMessageRequestModeRequestBody` (code 401), also one entry of
/// `messageRequestMode.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetMessageRequestModeRequestBody {
    pub topic: String,
    pub consumer_group: String,
    /// "PULL" or "POP".
    pub mode: String,
    pub pop_share_queue_num: i32,
}

impl Default for SetMessageRequestModeRequestBody {
    fn default() -> Self {
        SetMessageRequestModeRequestBody { topic: String::new(), consumer_group: String::new(), mode: "PULL".into(), pop_share_queue_num: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_info_round_trips_the_java_layout() {
        let s = "1200 1700000000000 60000 3 0 broker-a 3 1201";
        let e = ExtraInfo::parse(s).expect("parses");
        assert_eq!((e.ck_queue_offset, e.pop_time, e.invisible_time, e.revive_qid), (1200, 1_700_000_000_000, 60000, 3));
        assert_eq!((e.retry, e.broker_name.as_str(), e.queue_id, e.queue_offset), (RetryFlag::Normal, "broker-a", 3, Some(1201)));
        assert_eq!(e.encode(), s);
        assert!(ExtraInfo::parse("1 2 3").is_err());
        assert!(ExtraInfo::parse("1 2 3 4 9 b 0 5").is_err(), "retry flag 9");
        assert!(ExtraInfo::parse("x 2 3 4 0 b 0 5").is_err());
        assert_eq!(ExtraInfo::parse("1 2 3 4 1 b 0").expect("7 fields").queue_offset, None);
    }

    #[test]
    fn retry_topics() {
        assert_eq!(RetryFlag::of_topic("%RETRY%g_t"), RetryFlag::V1);
        assert_eq!(RetryFlag::of_topic("%RETRY%g+t"), RetryFlag::V2);
        assert_eq!(RetryFlag::of_topic("t"), RetryFlag::Normal);
        assert_eq!(RetryFlag::V1.real_topic("t", "g"), "%RETRY%g_t");
        assert_eq!(RetryFlag::V2.real_topic("t", "g"), "%RETRY%g+t");
        assert_eq!(original_topic("%RETRY%g_t", "g"), "t");
        assert_eq!(original_topic("%RETRY%g+t", "g"), "t");
        assert_eq!(original_topic("t", "g"), "t");
    }

    #[test]
    fn offset_info_is_what_the_client_parses() {
        let mut info = OffsetInfo::default();
        info.add_queue(RetryFlag::Normal, 3, 1200, &[1200, 1201, 1205]);
        info.add_queue(RetryFlag::V1, 0, 57, &[57]);
        assert_eq!(info.start, "0 3 1200;1 0 57");
        assert_eq!(info.msgs, "0 3 1200,1201,1205;1 0 57");
        assert_eq!(OffsetInfo::parse_start(&info.start).expect("start")["1@0"], 57);
        assert_eq!(OffsetInfo::parse_msgs(&info.msgs).expect("msgs")["0@3"], vec![1200, 1201, 1205]);
        let mut order = OffsetInfo::default();
        order.add_order_counts(RetryFlag::Normal, 3, &[(1200, 1), (1201, 1)]);
        assert_eq!(order.order_counts, "0 qo3%1200 1;0 qo3%1201 1;0 3 1");
        let mut first = OffsetInfo::default();
        first.add_order_counts(RetryFlag::Normal, 3, &[(1200, 0)]);
        assert_eq!(first.order_counts, "0 3 0");
    }

    #[test]
    fn batch_ack_bit_set_is_javas_byte_order() {
        // BitSet {0, 2, 9}.toByteArray() = [0b101, 0b10].
        let b = BatchAck::encode_offsets(100, &[100, 102, 109]);
        let ack = BatchAck {
            consumer_group: "g".into(),
            topic: "t".into(),
            retry: "0".into(),
            start_offset: 100,
            queue_id: 0,
            revive_queue_id: 0,
            pop_time: 1,
            invisible_time: 2,
            bit_set: b.clone(),
        };
        assert_eq!(b, "BQI=");
        assert_eq!(ack.offsets().expect("offsets"), vec![100, 102, 109]);
        let json = r#"{"acks":[{"c":"g","t":"t","r":"0","so":100,"q":0,"rq":0,"pt":1,"it":2,"b":"BQI="}],"brokerName":"b"}"#;
        let body: BatchAckMessageRequestBody = serde_json::from_str(json).expect("short names");
        assert_eq!(body.acks[0], ack);
        let huge = BatchAck { bit_set: "/".repeat(1 << 20), ..ack.clone() };
        assert!(huge.offsets().is_err(), "too long a bit set");
        let many = BatchAck { bit_set: BatchAck::encode_offsets(0, &(0..2000).collect::<Vec<_>>()), ..ack.clone() };
        assert!(many.offsets().is_err(), "too many offsets");
        let overflow = BatchAck { start_offset: i64::MAX, ..ack };
        assert!(overflow.offsets().is_err(), "an offset past i64");
    }
}
