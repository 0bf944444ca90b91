//! Fields read straight from a stored record's bytes, without decoding the whole record:
//! what the append path and the read path need of records they already hold.

use protocol::message::{pos, sys_flag, MAGIC_V2};

fn i32_at(record: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(record.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(record: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_be_bytes(record.get(at..at + 2)?.try_into().ok()?) as usize)
}

/// The record's sys flag (0 when the bytes are too short to hold one).
pub(crate) fn sys_flag(record: &[u8]) -> i32 {
    i32_at(record, pos::SYS_FLAG).unwrap_or(0)
}

/// The record's properties in their wire form (`k\u{1}v\u{2}`…), found by walking the length
/// fields from the fixed header to the end. `None` when the lengths disagree with the bytes
/// (`record` must be exactly one record) or the properties are not UTF-8.
pub(crate) fn properties(record: &[u8]) -> Option<&str> {
    let flag = i32_at(record, pos::SYS_FLAG)?;
    let host_bytes = |v6_bit: i32| if flag & v6_bit != 0 { 20 } else { 8 };
    // Born host, store timestamp, store host, reconsume times, prepared transaction offset.
    let mut at = pos::BORN_HOST + host_bytes(sys_flag::BORNHOST_V6) + 8 + host_bytes(sys_flag::STOREHOST_V6) + 4 + 8;
    let body_len = usize::try_from(i32_at(record, at)?).ok()?;
    at = at.checked_add(4 + body_len)?;
    let topic_len = if i32_at(record, pos::MAGIC)? == MAGIC_V2 {
        at += 2;
        u16_at(record, at - 2)?
    } else {
        at += 1;
        *record.get(at - 1)? as usize
    };
    at = at.checked_add(topic_len)?;
    let len = u16_at(record, at)?;
    at += 2;
    if at + len != record.len() {
        return None;
    }
    std::str::from_utf8(&record[at..]).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::BytesMut;
    use protocol::message::{decode_record, NewRecord};

    /// A record as the broker encodes it (offsets and store time still zero).
    pub(crate) fn encode(topic: &str, born: &str, store: &str, body: &[u8], properties: &str, flag: i32) -> BytesMut {
        let mut out = BytesMut::new();
        NewRecord {
            topic,
            queue_id: 3,
            flag: 0,
            sys_flag: flag,
            born_timestamp: 1,
            born_host: born.parse().unwrap(),
            store_host: store.parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            properties,
        }
        .encode(&mut out)
        .unwrap();
        out
    }

    #[test]
    fn properties_and_sys_flag_agree_with_the_decoder() {
        let long_topic = "t".repeat(200);
        let cases = [
            ("T", "127.0.0.1:1", "127.0.0.1:2", &b"body"[..], "TAGS\u{1}a\u{2}KEYS\u{1}k1 k2\u{2}", 0),
            (long_topic.as_str(), "[::1]:1", "127.0.0.1:2", &b""[..], "", 0x4),
            ("主题", "127.0.0.1:1", "[::1]:2", &[7u8; 300][..], "é\u{1}ü\u{2}", 0x8),
        ];
        for (topic, born, store, body, props, flag) in cases {
            let rec = encode(topic, born, store, body, props, flag).freeze();
            let m = decode_record(&rec, true).unwrap();
            assert_eq!(properties(&rec), Some(m.properties.as_str()));
            assert_eq!(sys_flag(&rec), m.sys_flag);
            // Cut short or with trailing bytes, it is not one record.
            assert_eq!(properties(&rec[..rec.len() - 1]), None);
            let mut longer = rec.to_vec();
            longer.push(0);
            assert_eq!(properties(&longer), None);
        }
        assert_eq!(properties(&[0u8; 10]), None);
    }
}
