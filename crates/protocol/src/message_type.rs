//! RocketMQ 5.x message types (`TopicMessageType`): what a topic accepts (its `message.type`
//! attribute) and what a message is (judged from its properties), and the property keys
//! RocketMQ reserves for itself (`MessageConst.STRING_HASH_SET`), which a 5.x client sees as
//! system properties rather than user properties.

use crate::body::TopicConfig;
use crate::message::{prop, Properties};

/// `__SHARDINGKEY`: a FIFO message's message group.
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// The properties that give a 5.x timer message its delivery time.
pub const TIMER_KEYS: [&str; 3] = [TIMER_DELIVER_MS, TIMER_DELAY_SEC, TIMER_DELAY_MS];
pub const TRACE_CONTEXT: &str = "TRACE_CONTEXT";
pub const BORN_HOST: &str = "__BORNHOST";
pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
pub const PRODUCER_GROUP: &str = "PGROUP";
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";

/// The keys of `MessageConst.STRING_HASH_SET` (RocketMQ 5.3): properties that are the
/// system's. Others (`__SHARDINGKEY` and `TRACE_CONTEXT` among them) are user properties to a
/// 5.x client, as the Java proxy shows them.
pub const SYSTEM_PROPERTY_KEYS: &[&str] = &[
    "TRACE_ON",
    "MSG_REGION",
    "KEYS",
    "TAGS",
    "WAIT",
    "DELAY",
    "RETRY_TOPIC",
    "REAL_TOPIC",
    "REAL_QID",
    "TRAN_MSG",
    "PGROUP",
    "MIN_OFFSET",
    "MAX_OFFSET",
    "BUYER_ID",
    "ORIGIN_MESSAGE_ID",
    "TRANSFER_FLAG",
    "CORRECTION_FLAG",
    "MQ2_FLAG",
    "RECONSUME_TIME",
    "UNIQ_KEY",
    "MAX_RECONSUME_TIMES",
    "CONSUME_START_TIME",
    "POP_CK",
    "POP_CK_OFFSET",
    "1ST_POP_TIME",
    "TRAN_PREPARED_QUEUE_OFFSET",
    "DUP_INFO",
    "EXTEND_UNIQ_INFO",
    "INSTANCE_ID",
    "CORRELATION_ID",
    "REPLY_TO_CLIENT",
    "TTL",
    "ARRIVE_TIME",
    "PUSH_REPLY_TIME",
    "CLUSTER",
    "MSG_TYPE",
    "INNER_MULTI_QUEUE_OFFSET",
    "TIMER_DELAY_MS",
    "TIMER_DELAY_SEC",
    "TIMER_DELIVER_MS",
    "TIMER_ENQUEUE_MS",
    "TIMER_DEQUEUE_MS",
    "TIMER_ROLL_TIMES",
    "TIMER_OUT_MS",
    "TIMER_DEL_UNIQKEY",
    "TIMER_DELAY_LEVEL",
    "__BORNHOST",
    "BORN_TIMESTAMP",
    "DLQ_ORIGIN_TOPIC",
    "DLQ_ORIGIN_MESSAGE_ID",
    "__CRC32#",
];

pub fn is_system_property(key: &str) -> bool {
    SYSTEM_PROPERTY_KEYS.contains(&key)
}

/// A topic's accepted message type, or a message's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Unspecified,
    Normal,
    Fifo,
    Delay,
    Transaction,
    /// A topic that takes every type.
    Mixed,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Unspecified => "UNSPECIFIED",
            MessageType::Normal => "NORMAL",
            MessageType::Fifo => "FIFO",
            MessageType::Delay => "DELAY",
            MessageType::Transaction => "TRANSACTION",
            MessageType::Mixed => "MIXED",
        }
    }

    pub fn parse(s: &str) -> Option<MessageType> {
        [MessageType::Unspecified, MessageType::Normal, MessageType::Fifo, MessageType::Delay, MessageType::Transaction, MessageType::Mixed]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// What a topic accepts: its `message.type` attribute, NORMAL when it has none.
    pub fn of_topic(topic: &TopicConfig) -> MessageType {
        topic.attributes.get("message.type").and_then(|v| MessageType::parse(v)).unwrap_or(MessageType::Normal)
    }

    /// What a message is, by its properties, in RocketMQ's precedence: a transaction, else a
    /// delay (level or timer), else FIFO (a message group), else normal.
    pub fn of_message(props: &Properties) -> MessageType {
        if props.get(prop::TRAN_MSG).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            MessageType::Transaction
        } else if props.get(prop::DELAY).is_some() || TIMER_KEYS.iter().any(|k| props.get(k).is_some()) {
            MessageType::Delay
        } else if props.get(SHARDING_KEY).is_some() {
            MessageType::Fifo
        } else {
            MessageType::Normal
        }
    }

    /// Whether a topic of this type takes a message of type `message`.
    pub fn accepts(self, message: MessageType) -> bool {
        message != MessageType::Unspecified && (self == MessageType::Mixed || self == message)
    }
}

/// A timer message's recall handle (RocketMQ 5.3's `RecallMessageHandle.HandleV1`): URL-safe
/// base64 of `v1 topic brokerName timestamp uniqKey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallHandle {
    pub topic: String,
    pub broker_name: String,
    pub timestamp: String,
    pub message_id: String,
}

impl RecallHandle {
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let raw = format!("v1 {} {} {} {}", self.topic, self.broker_name, self.timestamp, self.message_id);
        base64::engine::general_purpose::URL_SAFE.encode(raw)
    }

    /// As Java: "recall handle is invalid" for anything else.
    pub fn decode(s: &str) -> Result<RecallHandle, String> {
        use base64::Engine as _;
        let invalid = || "recall handle is invalid".to_string();
        let raw = base64::engine::general_purpose::URL_SAFE.decode(s.trim()).map_err(|_| invalid())?;
        let text = String::from_utf8(raw).map_err(|_| invalid())?;
        let items: Vec<&str> = text.split(' ').collect();
        if items.len() < 5 || items[0] != "v1" {
            return Err(invalid());
        }
        Ok(RecallHandle { topic: items[1].into(), broker_name: items[2].into(), timestamp: items[3].into(), message_id: items[4].into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        let mut p = Properties::default();
        for (k, v) in pairs {
            p.set(k, v);
        }
        p
    }

    #[test]
    fn a_message_type_follows_rocketmq_precedence() {
        assert_eq!(MessageType::of_message(&props(&[])), MessageType::Normal);
        assert_eq!(MessageType::of_message(&props(&[(SHARDING_KEY, "g")])), MessageType::Fifo);
        // A FIFO message with a delivery time is a delay message.
        assert_eq!(MessageType::of_message(&props(&[(SHARDING_KEY, "g"), (TIMER_DELIVER_MS, "1")])), MessageType::Delay);
        assert_eq!(MessageType::of_message(&props(&[(prop::DELAY, "3")])), MessageType::Delay);
        assert_eq!(MessageType::of_message(&props(&[(prop::TRAN_MSG, "true"), (prop::DELAY, "3")])), MessageType::Transaction);
    }

    #[test]
    fn a_recall_handle_reads_back() {
        let h = RecallHandle { topic: "T".into(), broker_name: "broker-a".into(), timestamp: "1700000000000".into(), message_id: "U1".into() };
        assert_eq!(RecallHandle::decode(&h.encode()), Ok(h));
        assert!(RecallHandle::decode("not base64!").is_err());
        assert!(RecallHandle::decode("djIgVCBiIDEgVQ==").is_err(), "v2 is not a version");
    }

    #[test]
    fn a_topic_takes_its_own_type_or_all_when_mixed() {
        let mut t = TopicConfig::default();
        assert_eq!(MessageType::of_topic(&t), MessageType::Normal);
        t.attributes.insert("message.type".into(), "FIFO".into());
        assert_eq!(MessageType::of_topic(&t), MessageType::Fifo);
        assert!(MessageType::Fifo.accepts(MessageType::Fifo));
        assert!(!MessageType::Fifo.accepts(MessageType::Normal));
        assert!(MessageType::Mixed.accepts(MessageType::Transaction));
        assert!(!MessageType::Mixed.accepts(MessageType::Unspecified));
    }
}
