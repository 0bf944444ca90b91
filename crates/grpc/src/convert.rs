//! Messages between the v2 model and the stored record, both ways, with the Java proxy's
//! validation of what a client sends (its `GrpcValidator` and `SendMessageActivity` rules).

use std::io::Read;
use std::net::SocketAddr;

use bytes::Bytes;
use md5::{Digest as _, Md5};
use protocol::message::{hex_upper, prop, sys_flag, MessageRecord, Properties};
use protocol::message_type::{self as mt, MessageType};

use crate::pb::{self, Code, Status};
use crate::status::status;

/// Bytes of a user's properties, tag and keys together (`maxUserPropertySize`, 16 KiB).
pub const MAX_PROPERTIES_BYTES: usize = 16 * 1024;
/// User properties per message (`userPropertyMaxNum`).
pub const MAX_USER_PROPERTIES: usize = 128;
/// A message group's bytes (`maxMessageGroupSize`).
pub const MAX_MESSAGE_GROUP_BYTES: usize = 64;
/// The longest a transactional message may wait for its first check-back (the proxy's limit).
pub const MAX_TRANSACTION_RECOVERY_SECS: i64 = 3600;
/// How far ahead a delivery time may lie (`maxDelayTimeMills`, one day).
pub const MAX_DELIVERY_AHEAD_MS: i64 = 24 * 3600 * 1000;

/// A message to store, from a client's v2 message.
#[derive(Debug)]
pub struct Incoming {
    pub topic: String,
    pub props: Properties,
    pub body: Bytes,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub message_id: String,
    pub message_type: MessageType,
    pub message_group: Option<String>,
}

fn bad(code: Code, message: impl Into<String>) -> Status {
    status(code, message)
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Checks a client's message and turns it into stored properties, as the Java proxy does
/// (§5.1 of shared/grpc.md). `max_body` is the broker's `maxMessageSize`.
pub fn incoming(m: &pb::Message, peer: SocketAddr, now_ms: i64, max_body: usize) -> Result<Incoming, Status> {
    let topic = m.topic.as_ref().map(|t| t.name.clone()).unwrap_or_default();
    protocol::names::validate_topic(&topic).map_err(|e| bad(Code::IllegalTopic, e))?;
    let Some(sys) = m.system_properties.as_ref() else {
        return Err(bad(Code::BadRequest, "the message has no system properties"));
    };
    if sys.message_id.trim().is_empty() {
        return Err(bad(Code::IllegalMessageId, "message id cannot be blank"));
    }
    if has_control(&sys.message_id) {
        return Err(bad(Code::IllegalMessageId, "message id cannot contain control characters"));
    }
    if m.body.is_empty() {
        return Err(bad(Code::MessageBodyEmpty, "message body cannot be empty"));
    }
    if m.body.len() > max_body {
        return Err(bad(Code::MessageBodyTooLarge, format!("message body cannot exceed {max_body} bytes")));
    }
    let mut size = 0usize;
    let mut props = Properties::default();
    if m.user_properties.len() > MAX_USER_PROPERTIES {
        return Err(bad(Code::MessagePropertiesTooLarge, format!("a message cannot have more than {MAX_USER_PROPERTIES} user properties")));
    }
    // In key order: the stored form does not depend on the map's iteration order.
    let mut user: Vec<(&String, &String)> = m.user_properties.iter().collect();
    user.sort();
    for (k, v) in user {
        if k.is_empty() || v.is_empty() {
            return Err(bad(Code::IllegalMessagePropertyKey, "a property's key and value cannot be empty"));
        }
        if mt::is_system_property(k) {
            return Err(bad(Code::IllegalMessagePropertyKey, format!("property is used by system: {k}")));
        }
        if has_control(k) || has_control(v) {
            return Err(bad(Code::IllegalMessagePropertyKey, format!("property {k} cannot contain control characters")));
        }
        size += k.len() + v.len();
        props.set(k, v);
    }
    if let Some(tag) = sys.tag.as_deref().filter(|t| !t.is_empty()) {
        if tag.trim().is_empty() || tag.contains('|') || has_control(tag) {
            return Err(bad(Code::IllegalMessageTag, "tag cannot be blank, contain '|' or control characters"));
        }
        size += tag.len();
        props.set(prop::TAGS, tag);
    }
    if !sys.keys.is_empty() {
        for k in &sys.keys {
            if k.trim().is_empty() || has_control(k) {
                return Err(bad(Code::IllegalMessageKey, "a key cannot be blank or contain control characters"));
            }
            size += k.len();
        }
        props.set(prop::KEYS, sys.keys.join(" "));
    }
    if size > MAX_PROPERTIES_BYTES {
        return Err(bad(Code::MessagePropertiesTooLarge, format!("the properties, tag and keys cannot exceed {MAX_PROPERTIES_BYTES} bytes")));
    }
    props.set(prop::UNIQ_KEY, &sys.message_id);
    let message_group = sys.message_group.clone();
    if let Some(g) = &message_group {
        if g.trim().is_empty() || g.len() >= MAX_MESSAGE_GROUP_BYTES || has_control(g) {
            return Err(bad(
                Code::IllegalMessageGroup,
                format!("message group must be non-blank, under {MAX_MESSAGE_GROUP_BYTES} bytes, without control characters"),
            ));
        }
        props.set(mt::SHARDING_KEY, g);
    }
    if let Some(at) = &sys.delivery_timestamp {
        let ms = timestamp_ms(at);
        if ms > now_ms.saturating_add(MAX_DELIVERY_AHEAD_MS) {
            return Err(bad(Code::IllegalDeliveryTime, format!("delivery time cannot be more than {MAX_DELIVERY_AHEAD_MS} ms ahead")));
        }
        props.set(mt::TIMER_DELIVER_MS, ms.to_string());
    }
    if let Some(t) = sys.trace_context.as_deref().filter(|t| !t.is_empty()) {
        if has_control(t) {
            return Err(bad(Code::BadRequest, "trace context cannot contain control characters"));
        }
        props.set(mt::TRACE_CONTEXT, t);
    }
    let mut flag = 0;
    if sys.message_type == pb::MessageType::Transaction as i32 {
        flag |= sys_flag::TRANSACTION_PREPARED;
        props.set(prop::TRAN_MSG, "true");
        if let Some(d) = &sys.orphaned_transaction_recovery_duration {
            let secs = duration_ms(d) / 1000;
            if !(0..=MAX_TRANSACTION_RECOVERY_SECS).contains(&secs) {
                return Err(bad(Code::BadRequest, format!("the transaction recovery duration must be within {MAX_TRANSACTION_RECOVERY_SECS} s")));
            }
            if secs > 0 {
                props.set(mt::CHECK_IMMUNITY_TIME_IN_SECONDS, secs.to_string());
            }
        }
    }
    if sys.body_encoding == pb::Encoding::Gzip as i32 {
        flag |= sys_flag::COMPRESSED;
    }
    // The producer group of a 5.x producer is its topic (transaction check-backs find it so).
    props.set(mt::PRODUCER_GROUP, &topic);
    let born_host = if sys.born_host.is_empty() || has_control(&sys.born_host) { peer.to_string() } else { sys.born_host.clone() };
    props.set(mt::BORN_HOST, born_host);
    let born_timestamp = sys.born_timestamp.as_ref().map_or(now_ms, timestamp_ms);
    props.set(mt::BORN_TIMESTAMP, born_timestamp.to_string());
    if sys.delivery_attempt.is_some_and(|a| a > 0) {
        props.set(mt::RECONSUME_TIME, sys.delivery_attempt.unwrap_or(0).to_string());
    }
    let message_type = MessageType::of_message(&props);
    Ok(Incoming { topic, props, body: m.body.clone(), sys_flag: flag, born_timestamp, message_id: sys.message_id.clone(), message_type, message_group })
}

/// A stored message as a v2 message. `topic` is the topic the consumer asked for (a retried
/// message is read from the retry topic); `max_inflated` bounds a compressed body's size once
/// inflated.
pub fn outgoing(r: &MessageRecord, topic: &str, receipt_handle: Option<String>, delivery_attempt: i32, max_inflated: usize) -> pb::Message {
    let props = Properties::parse(&r.properties);
    let body = if r.sys_flag & sys_flag::COMPRESSED != 0 {
        // Sent inflated: Node's SDK only gunzips, and v4 producers compress with zlib.
        inflate(&r.body, max_inflated).unwrap_or_else(|| r.body.clone())
    } else {
        r.body.clone()
    };
    let mut user_properties = std::collections::HashMap::new();
    for (k, v) in props.iter() {
        if !mt::is_system_property(k) {
            user_properties.insert(k.to_string(), v.to_string());
        }
    }
    let message_type = pb_type(MessageType::of_message(&props));
    let born_host = props.get(mt::BORN_HOST).map(str::to_string).unwrap_or_else(|| r.born_host.to_string());
    let sys = pb::SystemProperties {
        tag: props.get(prop::TAGS).map(str::to_string),
        keys: props.keys().map(str::to_string).collect(),
        message_id: props.get(prop::UNIQ_KEY).map(str::to_string).unwrap_or_else(|| r.msg_id()),
        body_digest: Some(pb::Digest { r#type: pb::DigestType::Md5 as i32, checksum: hex_upper(&Md5::digest(&body)) }),
        body_encoding: pb::Encoding::Identity as i32,
        message_type: message_type as i32,
        born_timestamp: Some(timestamp(r.born_timestamp)),
        born_host,
        store_timestamp: Some(timestamp(r.store_timestamp)),
        store_host: r.store_host.to_string(),
        delivery_timestamp: props.get(mt::TIMER_DELIVER_MS).and_then(|v| v.parse().ok()).map(timestamp),
        receipt_handle,
        queue_id: r.queue_id,
        queue_offset: Some(r.queue_offset),
        invisible_duration: None,
        delivery_attempt: Some(delivery_attempt),
        message_group: props.get(mt::SHARDING_KEY).map(str::to_string),
        trace_context: props.get(mt::TRACE_CONTEXT).map(str::to_string),
        orphaned_transaction_recovery_duration: None,
        dead_letter_queue: None,
    };
    pb::Message { topic: Some(resource(topic)), user_properties, system_properties: Some(sys), body }
}

/// A zlib or gzip body inflated, if it is one and fits in `max` bytes.
fn inflate(body: &[u8], max: usize) -> Option<Bytes> {
    let mut out = Vec::new();
    let limit = (max as u64).saturating_add(1);
    let read = if body.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(body).take(limit).read_to_end(&mut out)
    } else {
        flate2::read::ZlibDecoder::new(body).take(limit).read_to_end(&mut out)
    };
    (read.is_ok() && out.len() <= max).then(|| Bytes::from(out))
}

pub fn resource(name: &str) -> pb::Resource {
    pb::Resource { resource_namespace: String::new(), name: name.to_string() }
}

pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

pub fn timestamp_ms(t: &prost_types::Timestamp) -> i64 {
    t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos) / 1_000_000)
}

pub fn duration(ms: i64) -> prost_types::Duration {
    prost_types::Duration { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

/// A duration in ms; negative durations are kept negative (callers range-check).
pub fn duration_ms(d: &prost_types::Duration) -> i64 {
    d.seconds.saturating_mul(1000).saturating_add(i64::from(d.nanos) / 1_000_000)
}

/// A message type as the 5.x protocol names it (a message is never "mixed" or unspecified:
/// those are normal).
pub(crate) fn pb_type(t: MessageType) -> pb::MessageType {
    match t {
        MessageType::Transaction => pb::MessageType::Transaction,
        MessageType::Delay => pb::MessageType::Delay,
        MessageType::Fifo => pb::MessageType::Fifo,
        MessageType::Normal | MessageType::Mixed | MessageType::Unspecified => pb::MessageType::Normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn message() -> pb::Message {
        pb::Message {
            topic: Some(resource("T")),
            user_properties: [("color".to_string(), "red".to_string())].into_iter().collect(),
            system_properties: Some(pb::SystemProperties {
                tag: Some("TagA".into()),
                keys: vec!["k1".into(), "k2".into()],
                message_id: "01ABCDEF".into(),
                message_group: Some("g1".into()),
                trace_context: Some("00-abc".into()),
                born_timestamp: Some(timestamp(1_700_000_000_123)),
                ..Default::default()
            }),
            body: Bytes::from_static(b"hello"),
        }
    }

    fn sys(m: &mut pb::Message) -> &mut pb::SystemProperties {
        m.system_properties.as_mut().unwrap()
    }

    fn peer() -> SocketAddr {
        "10.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn a_client_message_becomes_stored_properties() {
        let i = incoming(&message(), peer(), 1_700_000_000_000, 4 << 20).unwrap();
        let p = &i.props;
        assert_eq!((p.get("TAGS"), p.get("KEYS"), p.get("UNIQ_KEY")), (Some("TagA"), Some("k1 k2"), Some("01ABCDEF")));
        assert_eq!((p.get("__SHARDINGKEY"), p.get("TRACE_CONTEXT"), p.get("PGROUP")), (Some("g1"), Some("00-abc"), Some("T")));
        assert_eq!((p.get("color"), p.get("__BORNHOST"), p.get("BORN_TIMESTAMP")), (Some("red"), Some("10.0.0.1:5000"), Some("1700000000123")));
        assert_eq!((i.message_type, i.born_timestamp), (MessageType::Fifo, 1_700_000_000_123));
    }

    #[test]
    fn bad_messages_get_the_proxy_codes() {
        let code = |f: &dyn Fn(&mut pb::Message)| {
            let mut m = message();
            f(&mut m);
            incoming(&m, peer(), 1_700_000_000_000, 16).map(|_| ()).map_err(|s| s.code)
        };
        assert_eq!(code(&|_| {}), Ok(()));
        assert_eq!(code(&|m| m.topic = Some(resource("a b"))), Err(Code::IllegalTopic as i32));
        assert_eq!(code(&|m| m.body = Bytes::new()), Err(Code::MessageBodyEmpty as i32));
        assert_eq!(code(&|m| m.body = Bytes::from(vec![0; 17])), Err(Code::MessageBodyTooLarge as i32));
        assert_eq!(code(&|m| sys(m).message_id = " ".into()), Err(Code::IllegalMessageId as i32));
        assert_eq!(code(&|m| sys(m).tag = Some("a|b".into())), Err(Code::IllegalMessageTag as i32));
        assert_eq!(code(&|m| sys(m).keys = vec!["a\u{1}b".into()]), Err(Code::IllegalMessageKey as i32));
        assert_eq!(code(&|m| sys(m).message_group = Some("g".repeat(64))), Err(Code::IllegalMessageGroup as i32));
        assert_eq!(
            code(&|m| sys(m).delivery_timestamp = Some(timestamp(1_700_000_000_000 + MAX_DELIVERY_AHEAD_MS + 1))),
            Err(Code::IllegalDeliveryTime as i32)
        );
        assert_eq!(code(&|m| _ = m.user_properties.insert("UNIQ_KEY".into(), "x".into())), Err(Code::IllegalMessagePropertyKey as i32));
        assert_eq!(code(&|m| _ = m.user_properties.insert("k".into(), "a\u{2}b".into())), Err(Code::IllegalMessagePropertyKey as i32));
        assert_eq!(code(&|m| _ = m.user_properties.insert("big".into(), "x".repeat(MAX_PROPERTIES_BYTES))), Err(Code::MessagePropertiesTooLarge as i32));
        assert_eq!(
            code(&|m| m.user_properties = (0..=MAX_USER_PROPERTIES).map(|i| (format!("k{i}"), "v".to_string())).collect()),
            Err(Code::MessagePropertiesTooLarge as i32)
        );
    }

    fn record(props: &Properties, body: &[u8], sys_flag: i32) -> MessageRecord {
        MessageRecord {
            total_size: 0,
            magic: 0,
            body_crc: 0,
            queue_id: 2,
            flag: 0,
            queue_offset: 9,
            physical_offset: 1000,
            sys_flag,
            born_timestamp: 1_700_000_000_000,
            born_host: "10.0.0.1:5000".parse().unwrap(),
            store_timestamp: 1_700_000_000_010,
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::copy_from_slice(body),
            topic: "%RETRY%g_T".into(),
            properties: props.encode(),
        }
    }

    #[test]
    fn a_stored_message_reads_as_the_proxy_shows_it() {
        let i = incoming(&message(), peer(), 1_700_000_000_000, 4 << 20).unwrap();
        let m = outgoing(&record(&i.props, b"hello", 0), "T", Some("h".into()), 2, 1 << 20);
        let s = m.system_properties.as_ref().unwrap();
        assert_eq!(m.topic.as_ref().unwrap().name, "T");
        assert_eq!((s.tag.as_deref(), s.keys.clone(), s.message_id.as_str()), (Some("TagA"), vec!["k1".to_string(), "k2".to_string()], "01ABCDEF"));
        // MD5 of "hello", upper-case hex.
        assert_eq!(s.body_digest.as_ref().unwrap().checksum, "5D41402ABC4B2A76B9719D911017C592");
        assert_eq!((s.message_type, s.message_group.as_deref(), s.delivery_attempt), (pb::MessageType::Fifo as i32, Some("g1"), Some(2)));
        assert_eq!((s.queue_id, s.queue_offset, s.receipt_handle.as_deref()), (2, Some(9), Some("h")));
        // User properties: the user's, plus what Java does not count as a system key.
        let mut user: Vec<_> = m.user_properties.keys().cloned().collect();
        user.sort();
        assert_eq!(user, ["TRACE_CONTEXT", "__SHARDINGKEY", "color"]);
    }

    #[test]
    fn a_compressed_body_goes_out_inflated_with_its_digest() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"hello").unwrap();
        let m = outgoing(&record(&Properties::default(), &z.finish().unwrap(), sys_flag::COMPRESSED), "T", None, 1, 1 << 20);
        assert_eq!(&m.body[..], b"hello");
        assert_eq!(m.system_properties.unwrap().body_digest.unwrap().checksum, "5D41402ABC4B2A76B9719D911017C592");
        // Over the limit: sent as stored.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&[0; 100]).unwrap();
        let raw = z.finish().unwrap();
        assert_eq!(&outgoing(&record(&Properties::default(), &raw, sys_flag::COMPRESSED), "T", None, 1, 10).body[..], &raw[..]);
    }
}
