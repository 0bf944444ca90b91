//! Typed custom headers. On the wire a header is the command's `extFields`: a flat map
//! of strings. [`Fields`] reads them with clear errors; each struct here knows its names.

use std::borrow::Cow;
use std::str::FromStr;

use crate::command::ExtFields;
use crate::ProtocolError;

/// Typed access to `extFields`, naming the field in every error.
pub trait Fields {
    fn raw(&self, name: &str) -> Option<&str>;

    fn req_str(&self, name: &'static str) -> Result<&str, ProtocolError> {
        req_str(self.raw(name), name)
    }

    fn req<T: FromStr>(&self, name: &'static str) -> Result<T, ProtocolError> {
        req(self.raw(name), name)
    }

    fn opt<T: FromStr>(&self, name: &'static str) -> Result<Option<T>, ProtocolError> {
        opt(self.raw(name), name)
    }

    /// Java's `Boolean.parseBoolean`: anything but "true" (any case) is false.
    fn flag(&self, name: &str) -> bool {
        flag(self.raw(name))
    }
}

// What `Fields` does with a field's value once found, for decoders that find them all in
// one pass.
fn req_str<'a>(v: Option<&'a str>, name: &'static str) -> Result<&'a str, ProtocolError> {
    v.ok_or(ProtocolError::MissingField(name))
}

fn req<T: FromStr>(v: Option<&str>, name: &'static str) -> Result<T, ProtocolError> {
    let v = req_str(v, name)?;
    v.trim().parse().map_err(|_| ProtocolError::BadField { field: name, value: v.to_string() })
}

fn opt<T: FromStr>(v: Option<&str>, name: &'static str) -> Result<Option<T>, ProtocolError> {
    match v {
        None | Some("") | Some("null") => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| ProtocolError::BadField { field: name, value: v.to_string() }),
    }
}

fn flag(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

impl Fields for ExtFields {
    fn raw(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// `SendMessageRequestHeader`, decoded from either the long names (code 10) or the
/// single-letter names of `SendMessageRequestHeaderV2` (codes 310, 320, 325). Decoded, its
/// strings borrow from the command's fields (a send reads them once).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SendMessageRequestHeader<'a> {
    pub producer_group: Cow<'a, str>,
    pub topic: Cow<'a, str>,
    pub default_topic: Cow<'a, str>,
    pub default_topic_queue_nums: i32,
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    pub properties: Cow<'a, str>,
    pub reconsume_times: i32,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
    pub batch: bool,
    pub broker_name: Option<Cow<'a, str>>,
}

/// The fields of a send header: their long names (code 10), and in the same order the
/// single letters `a` to `n` of `SendMessageRequestHeaderV2`.
const SEND_FIELDS: [&str; 14] = [
    "producerGroup",
    "topic",
    "defaultTopic",
    "defaultTopicQueueNums",
    "queueId",
    "sysFlag",
    "bornTimestamp",
    "flag",
    "properties",
    "reconsumeTimes",
    "unitMode",
    "maxReconsumeTimes",
    "batch",
    "brokerName",
];

impl<'a> SendMessageRequestHeader<'a> {
    pub fn decode(ext: &'a ExtFields, v2: bool) -> Result<Self, ProtocolError> {
        // One pass over the fields, not a lookup per name: this runs for every send.
        let mut f: [Option<&'a str>; 14] = [None; 14];
        for (k, v) in ext.iter() {
            let i = if v2 {
                match k.as_bytes() {
                    [c @ b'a'..=b'n'] => (c - b'a') as usize,
                    _ => continue,
                }
            } else {
                match SEND_FIELDS.iter().position(|n| *n == k) {
                    Some(i) => i,
                    None => continue,
                }
            };
            f[i] = Some(v);
        }
        // The name an error gives: the one on the wire.
        const SHORT: [&str; 14] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"];
        let n = |i: usize| if v2 { SHORT[i] } else { SEND_FIELDS[i] };
        Ok(SendMessageRequestHeader {
            producer_group: req_str(f[0], n(0))?.into(),
            topic: req_str(f[1], n(1))?.into(),
            default_topic: f[2].unwrap_or("TBW102").into(),
            default_topic_queue_nums: opt(f[3], n(3))?.unwrap_or(4),
            queue_id: req(f[4], n(4))?,
            sys_flag: opt(f[5], n(5))?.unwrap_or(0),
            born_timestamp: req(f[6], n(6))?,
            flag: opt(f[7], n(7))?.unwrap_or(0),
            properties: f[8].unwrap_or("").into(),
            reconsume_times: opt(f[9], n(9))?.unwrap_or(0),
            unit_mode: flag(f[10]),
            max_reconsume_times: opt(f[11], n(11))?,
            batch: flag(f[12]),
            broker_name: f[13].filter(|s| !s.is_empty()).map(Cow::Borrowed),
        })
    }

    /// Writes the V2 (single-letter) form, as the Java client does for codes 310 and 320.
    pub fn encode_v2(&self, ext: &mut ExtFields) {
        ext.insert("a", &*self.producer_group);
        ext.insert("b", &*self.topic);
        ext.insert("c", &*self.default_topic);
        ext.insert("d", self.default_topic_queue_nums.to_string());
        ext.insert("e", self.queue_id.to_string());
        ext.insert("f", self.sys_flag.to_string());
        ext.insert("g", self.born_timestamp.to_string());
        ext.insert("h", self.flag.to_string());
        ext.insert("i", &*self.properties);
        ext.insert("j", self.reconsume_times.to_string());
        ext.insert("k", self.unit_mode.to_string());
        if let Some(m) = self.max_reconsume_times {
            ext.insert("l", m.to_string());
        }
        ext.insert("m", self.batch.to_string());
    }
}

/// `SendMessageResponseHeader`. Every `@CFNotNull` field is always written.
#[derive(Debug, Clone, PartialEq)]
pub struct SendMessageResponseHeader {
    pub msg_id: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub transaction_id: Option<String>,
    /// A timer message's recall handle (RocketMQ 5.3).
    pub recall_handle: Option<String>,
}

impl SendMessageResponseHeader {
    pub fn encode(&self, ext: &mut ExtFields, region: &str, trace_on: bool) {
        ext.reserve(6, 96 + self.msg_id.len() + self.transaction_id.as_ref().map_or(0, String::len) + region.len());
        ext.insert("msgId", &self.msg_id);
        ext.insert_display("queueId", self.queue_id);
        ext.insert_display("queueOffset", self.queue_offset);
        if let Some(t) = &self.transaction_id {
            ext.insert("transactionId", t);
        }
        if let Some(r) = &self.recall_handle {
            ext.insert("recallHandle", r);
        }
        ext.insert(crate::message::prop::MSG_REGION, region);
        ext.insert_display(crate::message::prop::TRACE_SWITCH, trace_on);
    }

    pub fn decode(ext: &ExtFields) -> Result<Self, ProtocolError> {
        Ok(SendMessageResponseHeader {
            msg_id: ext.req_str("msgId")?.to_string(),
            queue_id: ext.req("queueId")?,
            queue_offset: ext.req("queueOffset")?,
            transaction_id: ext.raw("transactionId").map(str::to_string),
            recall_handle: ext.raw("recallHandle").map(str::to_string),
        })
    }
}

/// `PullMessageRequestHeader` (codes 11 and 361).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PullMessageRequestHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub max_msg_nums: i32,
    pub sys_flag: i32,
    pub commit_offset: i64,
    pub suspend_timeout_ms: i64,
    pub subscription: Option<String>,
    pub sub_version: i64,
    pub expression_type: Option<String>,
    pub max_msg_bytes: Option<i32>,
}

impl PullMessageRequestHeader {
    /// A plain pull of up to 32 messages of every tag from `queue_id` at `offset`.
    pub fn for_queue(group: impl Into<String>, topic: impl Into<String>, queue_id: i32, offset: i64) -> Self {
        PullMessageRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            queue_offset: offset,
            max_msg_nums: 32,
            sys_flag: crate::codes::pull_flag::SUBSCRIPTION,
            subscription: Some("*".into()),
            ..Default::default()
        }
    }

    /// The same pull held by the broker up to `suspend_ms` while there is nothing new (long
    /// polling); 0 leaves it a plain pull.
    pub fn long_poll(mut self, suspend_ms: i64) -> Self {
        if suspend_ms > 0 {
            self.sys_flag |= crate::codes::pull_flag::SUSPEND;
            self.suspend_timeout_ms = suspend_ms;
        }
        self
    }

    pub fn decode(ext: &ExtFields) -> Result<Self, ProtocolError> {
        Ok(PullMessageRequestHeader {
            consumer_group: ext.req_str("consumerGroup")?.to_string(),
            topic: ext.req_str("topic")?.to_string(),
            queue_id: ext.req("queueId")?,
            queue_offset: ext.req("queueOffset")?,
            max_msg_nums: ext.req("maxMsgNums")?,
            sys_flag: ext.req("sysFlag")?,
            commit_offset: ext.opt("commitOffset")?.unwrap_or(0),
            suspend_timeout_ms: ext.opt("suspendTimeoutMillis")?.unwrap_or(0),
            subscription: ext.raw("subscription").map(str::to_string),
            sub_version: ext.opt("subVersion")?.unwrap_or(0),
            expression_type: ext.raw("expressionType").map(str::to_string),
            max_msg_bytes: ext.opt("maxMsgBytes")?,
        })
    }

    pub fn encode(&self, ext: &mut ExtFields) {
        ext.insert("consumerGroup", &self.consumer_group);
        ext.insert("topic", &self.topic);
        ext.insert("queueId", self.queue_id.to_string());
        ext.insert("queueOffset", self.queue_offset.to_string());
        ext.insert("maxMsgNums", self.max_msg_nums.to_string());
        ext.insert("sysFlag", self.sys_flag.to_string());
        ext.insert("commitOffset", self.commit_offset.to_string());
        ext.insert("suspendTimeoutMillis", self.suspend_timeout_ms.to_string());
        if let Some(s) = &self.subscription {
            ext.insert("subscription", s.clone());
        }
        ext.insert("subVersion", self.sub_version.to_string());
        if let Some(t) = &self.expression_type {
            ext.insert("expressionType", t.clone());
        }
    }
}

/// `PullMessageResponseHeader`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PullMessageResponseHeader {
    pub suggest_which_broker_id: i64,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
}

impl PullMessageResponseHeader {
    pub fn encode(&self, ext: &mut ExtFields) {
        ext.insert("suggestWhichBrokerId", self.suggest_which_broker_id.to_string());
        ext.insert("nextBeginOffset", self.next_begin_offset.to_string());
        ext.insert("minOffset", self.min_offset.to_string());
        ext.insert("maxOffset", self.max_offset.to_string());
    }

    pub fn decode(ext: &ExtFields) -> Result<Self, ProtocolError> {
        Ok(PullMessageResponseHeader {
            suggest_which_broker_id: ext.opt("suggestWhichBrokerId")?.unwrap_or(0),
            next_begin_offset: ext.req("nextBeginOffset")?,
            min_offset: ext.req("minOffset")?,
            max_offset: ext.req("maxOffset")?,
        })
    }
}

/// `RegisterBrokerRequestHeader` (code 103).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegisterBrokerRequestHeader {
    pub broker_name: String,
    pub broker_addr: String,
    pub cluster_name: String,
    pub ha_server_addr: String,
    pub broker_id: i64,
    pub heartbeat_timeout_ms: Option<i64>,
    pub compressed: bool,
    pub body_crc32: i32,
}

impl RegisterBrokerRequestHeader {
    pub fn decode(ext: &ExtFields) -> Result<Self, ProtocolError> {
        Ok(RegisterBrokerRequestHeader {
            broker_name: ext.req_str("brokerName")?.to_string(),
            broker_addr: ext.req_str("brokerAddr")?.to_string(),
            cluster_name: ext.req_str("clusterName")?.to_string(),
            ha_server_addr: ext.raw("haServerAddr").unwrap_or("").to_string(),
            broker_id: ext.req("brokerId")?,
            heartbeat_timeout_ms: ext.opt("heartbeatTimeoutMillis")?,
            compressed: ext.flag("compressed"),
            body_crc32: ext.opt("bodyCrc32")?.unwrap_or(0),
        })
    }

    pub fn encode(&self, ext: &mut ExtFields) {
        ext.insert("brokerName", &self.broker_name);
        ext.insert("brokerAddr", &self.broker_addr);
        ext.insert("clusterName", &self.cluster_name);
        ext.insert("haServerAddr", &self.ha_server_addr);
        ext.insert("brokerId", self.broker_id.to_string());
        if let Some(t) = self.heartbeat_timeout_ms {
            ext.insert("heartbeatTimeoutMillis", t.to_string());
        }
        ext.insert("compressed", self.compressed.to_string());
        ext.insert("bodyCrc32", self.body_crc32.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_header_v2_round_trip() {
        let h = SendMessageRequestHeader {
            producer_group: "pg".into(),
            topic: "t".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 2,
            born_timestamp: 1_700_000_000_000,
            properties: "TAGS\u{1}a\u{2}".into(),
            max_reconsume_times: Some(3),
            ..Default::default()
        };
        let mut ext = ExtFields::new();
        h.encode_v2(&mut ext);
        assert_eq!(SendMessageRequestHeader::decode(&ext, true).unwrap(), h);
        // The same fields under their long names (code 10), with one the header does not know.
        let long: ExtFields = ext.iter().map(|(k, v)| (SEND_FIELDS[(k.as_bytes()[0] - b'a') as usize], v)).chain([("zzz", "1")]).collect();
        assert_eq!(long.get("queueId"), Some("2"));
        assert_eq!(SendMessageRequestHeader::decode(&long, false).unwrap(), h);
        assert_eq!(SendMessageRequestHeader::decode(&long, true), Err(ProtocolError::MissingField("a")));
        let flags: ExtFields = [("a", "pg"), ("b", "t"), ("e", "1"), ("g", "5"), ("k", "TRUE"), ("m", "yes"), ("n", "bn"), ("d", "null")].into_iter().collect();
        let f = SendMessageRequestHeader::decode(&flags, true).unwrap();
        assert_eq!((f.unit_mode, f.batch, f.broker_name.as_deref(), f.default_topic_queue_nums), (true, false, Some("bn"), 4));
    }

    #[test]
    fn errors_name_the_field() {
        let mut ext = ExtFields::new();
        ext.insert("producerGroup", "pg");
        assert_eq!(SendMessageRequestHeader::decode(&ext, false), Err(ProtocolError::MissingField("topic")));
        let mut ext = ExtFields::new();
        ext.insert("a", "pg");
        assert_eq!(SendMessageRequestHeader::decode(&ext, true), Err(ProtocolError::MissingField("b")));
        ext.insert("b", "t");
        ext.insert("e", "x");
        assert!(matches!(SendMessageRequestHeader::decode(&ext, true), Err(ProtocolError::BadField { field: "e", .. })));
    }
}
