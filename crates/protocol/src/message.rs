//! The stored-message record (one CommitLog entry, and one element of a pull answer),
//! the batch body, the properties string, message ids and the hashes clients rely on.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::ProtocolError;

pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;

/// `MessageSysFlag` bits.
pub mod sys_flag {
    pub const COMPRESSED: i32 = 0x1;
    pub const MULTI_TAGS: i32 = 0x2;
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
    pub const TRANSACTION_MASK: i32 = 0xC;
    pub const BORNHOST_V6: i32 = 0x10;
    pub const STOREHOST_V6: i32 = 0x20;
}

/// Reserved property keys (`MessageConst`).
pub mod prop {
    pub const TAGS: &str = "TAGS";
    pub const KEYS: &str = "KEYS";
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const CLUSTER: &str = "CLUSTER";
    pub const WAIT: &str = "WAIT";
    pub const DELAY: &str = "DELAY";
    pub const TRAN_MSG: &str = "TRAN_MSG";
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
    /// The broker's `regionId`, on every message it stores: a Java consumer's message trace
    /// takes its region from it and drops trace records without one.
    pub const MSG_REGION: &str = "MSG_REGION";
    /// The broker's `traceOn`: "false" tells clients not to trace the message.
    pub const TRACE_SWITCH: &str = "TRACE_ON";
}

/// Byte offsets inside a record that do not depend on the host address family.
pub mod pos {
    pub const TOTAL_SIZE: usize = 0;
    pub const MAGIC: usize = 4;
    pub const BODY_CRC: usize = 8;
    pub const QUEUE_ID: usize = 12;
    pub const FLAG: usize = 16;
    pub const QUEUE_OFFSET: usize = 20;
    pub const PHYSICAL_OFFSET: usize = 28;
    pub const SYS_FLAG: usize = 36;
    pub const BORN_TIMESTAMP: usize = 40;
    pub const BORN_HOST: usize = 48;
}

/// Property strings are prefixed by an int16 length.
pub const PROPERTIES_MAX_BYTES: usize = i16::MAX as usize;
/// Topics in a V2 record are prefixed by an int16 length; V1 allows 127.
pub const TOPIC_MAX_BYTES: usize = i16::MAX as usize;

/// `UtilAll.crc32`: CRC32 masked to a non-negative int.
pub fn crc32(data: &[u8]) -> i32 {
    (crc32fast::hash(data) & 0x7FFF_FFFF) as i32
}

/// Java `String.hashCode` over UTF-16 code units, as tag codes and index keys use it.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(unit as i32))
}

/// The consume-queue tag code of a message: the hash of its TAGS, 0 without tags.
pub fn tags_code(tags: Option<&str>) -> i64 {
    tags.filter(|t| !t.is_empty()).map_or(0, |t| java_hash(t) as i64)
}

fn host_len(sys_flag: i32, v6_bit: i32) -> usize {
    if sys_flag & v6_bit != 0 {
        20
    } else {
        8
    }
}

/// Message properties in order, held in their wire form: `key\u{1}value\u{2}` for each
/// pair, so that parsing a request's properties is one copy and encoding them for the
/// CommitLog none, instead of two allocations per pair each way. A key is held once.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// Exactly the wire form of the pairs in `spans`.
    text: String,
    /// (key start, value start, value end) of each pair in `text`: a key ends one byte
    /// (`\u{1}`) before its value starts, and a `\u{2}` follows each value.
    spans: Vec<(usize, usize, usize)>,
}

impl Properties {
    /// Parses as `MessageDecoder.string2messageProperties` does: pairs with an empty key
    /// or value, and segments shorter than 3 characters, are dropped; of a key given twice
    /// the last value counts (Java fills a map).
    pub fn parse(s: &str) -> Properties {
        let mut p = Properties { text: String::with_capacity(s.len() + 1), spans: Vec::with_capacity(8) };
        for seg in s.split('\u{2}') {
            if seg.chars().nth(2).is_none() {
                continue;
            }
            let Some((k, v)) = seg.split_once('\u{1}') else { continue };
            if k.is_empty() || v.is_empty() {
                continue;
            }
            p.push(k, v);
        }
        if p.has_repeated_key() {
            p = p.without_repeats();
        }
        p
    }

    /// Linear in the number of pairs, however many a (hostile) message carries.
    fn has_repeated_key(&self) -> bool {
        let n = self.spans.len();
        if n <= 16 {
            return (1..n).any(|i| (0..i).any(|j| self.key_at(i) == self.key_at(j)));
        }
        let mut seen = std::collections::HashSet::with_capacity(n);
        (0..n).any(|i| !seen.insert(self.key_at(i)))
    }

    /// Each key once, where it first appeared, with the value it was given last.
    fn without_repeats(&self) -> Properties {
        let last: std::collections::HashMap<&str, &str> = self.iter().collect();
        let mut out = Properties { text: String::with_capacity(self.text.len()), spans: Vec::with_capacity(last.len()) };
        let mut written = std::collections::HashSet::with_capacity(last.len());
        for (k, _) in self.iter() {
            if written.insert(k) {
                out.push(k, last[k]);
            }
        }
        out
    }

    fn key_at(&self, i: usize) -> &str {
        let (k, v, _) = self.spans[i];
        &self.text[k..v - 1]
    }

    fn value_at(&self, i: usize) -> &str {
        let (_, v, e) = self.spans[i];
        &self.text[v..e]
    }

    fn position(&self, key: &str) -> Option<usize> {
        (0..self.spans.len()).find(|&i| self.key_at(i) == key)
    }

    fn push(&mut self, key: &str, value: &str) {
        let k = self.text.len();
        self.text.push_str(key);
        self.text.push('\u{1}');
        let v = self.text.len();
        self.text.push_str(value);
        let e = self.text.len();
        self.text.push('\u{2}');
        self.spans.push((k, v, e));
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        (0..self.spans.len()).map(|i| (self.key_at(i), self.value_at(i)))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.value_at(i))
    }

    /// Sets `key` to `value`: in place when the key is held, else appended.
    pub fn set(&mut self, key: &str, value: impl AsRef<str>) {
        let value = value.as_ref();
        match self.position(key) {
            Some(i) => self.rewrite(i, Some(value)),
            None => self.push(key, value),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.position(key)?;
        let old = self.value_at(i).to_string();
        self.rewrite(i, None);
        Some(old)
    }

    /// Writes the pairs anew, pair `at` with `value` instead (or without it, for None).
    fn rewrite(&mut self, at: usize, value: Option<&str>) {
        let mut new = Properties { text: String::with_capacity(self.text.len() + value.map_or(0, str::len)), spans: Vec::with_capacity(self.spans.len()) };
        for (i, (k, v)) in self.iter().enumerate() {
            match (i == at, value) {
                (false, _) => new.push(k, v),
                (true, Some(value)) => new.push(k, value),
                (true, None) => {}
            }
        }
        *self = new;
    }

    /// The wire form: `k\u{1}v\u{2}` for every pair, the trailing separator included.
    pub fn as_wire(&self) -> &str {
        &self.text
    }

    /// The wire form, owned.
    pub fn encode(&self) -> String {
        self.text.clone()
    }

    /// Space-separated KEYS, as the index uses them.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.get(prop::KEYS).unwrap_or("").split(' ').filter(|k| !k.is_empty())
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The offset message id: hex of store IP, store port and CommitLog offset.
pub fn offset_msg_id(store_host: SocketAddr, commit_log_offset: i64) -> String {
    let mut id = String::with_capacity(56);
    push_offset_msg_id(&mut id, store_host, commit_log_offset);
    id
}

/// Appends the offset message id to `out` (a batch's ids go into one string).
pub fn push_offset_msg_id(out: &mut String, store_host: SocketAddr, commit_log_offset: i64) {
    match store_host.ip() {
        IpAddr::V4(ip) => push_hex_upper(out, &ip.octets()),
        IpAddr::V6(ip) => push_hex_upper(out, &ip.octets()),
    }
    push_hex_upper(out, &(store_host.port() as i32).to_be_bytes());
    push_hex_upper(out, &commit_log_offset.to_be_bytes());
}

/// Decodes an offset message id (32 hex chars for IPv4, 56 for IPv6).
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddr, i64)> {
    let raw = hex_decode(id)?;
    let ip_len = match raw.len() {
        16 => 4,
        28 => 16,
        _ => return None,
    };
    let ip: IpAddr =
        if ip_len == 4 { Ipv4Addr::from(<[u8; 4]>::try_from(&raw[..4]).ok()?).into() } else { Ipv6Addr::from(<[u8; 16]>::try_from(&raw[..16]).ok()?).into() };
    let port = i32::from_be_bytes(raw[ip_len..ip_len + 4].try_into().ok()?);
    let offset = i64::from_be_bytes(raw[ip_len + 4..].try_into().ok()?);
    Some((SocketAddr::new(ip, u16::try_from(port).ok()?), offset))
}

pub fn hex_upper(raw: &[u8]) -> String {
    let mut s = String::with_capacity(raw.len() * 2);
    push_hex_upper(&mut s, raw);
    s
}

fn push_hex_upper(out: &mut String, raw: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(raw.len() * 2);
    for b in raw {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xF) as usize] as char);
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

fn put_host(out: &mut BytesMut, host: SocketAddr) {
    match host.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.put_i32(host.port() as i32);
}

/// What a new record is made of; the store fills in queue offset, physical offset and
/// store timestamp when it appends (see [`patch_record`]).
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub properties: &'a str,
}

impl NewRecord<'_> {
    /// The sys flag with the address-family bits set from the hosts.
    fn effective_sys_flag(&self) -> i32 {
        let mut f = self.sys_flag & !(sys_flag::BORNHOST_V6 | sys_flag::STOREHOST_V6);
        if self.born_host.is_ipv6() {
            f |= sys_flag::BORNHOST_V6;
        }
        if self.store_host.is_ipv6() {
            f |= sys_flag::STOREHOST_V6;
        }
        f
    }

    pub fn encoded_len(&self) -> usize {
        let f = self.effective_sys_flag();
        let topic_len_bytes = if self.topic.len() > 127 { 2 } else { 1 };
        4 + 4
            + 4
            + 4
            + 4
            + 8
            + 8
            + 4
            + 8
            + host_len(f, sys_flag::BORNHOST_V6)
            + 8
            + host_len(f, sys_flag::STOREHOST_V6)
            + 4
            + 8
            + 4
            + self.body.len()
            + topic_len_bytes
            + self.topic.len()
            + 2
            + self.properties.len()
    }

    /// Appends the record in CommitLog layout with zeroed offsets and store timestamp.
    pub fn encode(&self, out: &mut BytesMut) -> Result<usize, ProtocolError> {
        if self.properties.len() > PROPERTIES_MAX_BYTES {
            return Err(ProtocolError::BadMessage("properties exceed 32767 bytes"));
        }
        if self.topic.len() > TOPIC_MAX_BYTES {
            return Err(ProtocolError::BadMessage("topic too long"));
        }
        let len = self.encoded_len();
        let f = self.effective_sys_flag();
        let v2 = self.topic.len() > 127;
        out.reserve(len);
        out.put_i32(len as i32);
        out.put_i32(if v2 { MAGIC_V2 } else { MAGIC_V1 });
        out.put_i32(crc32(self.body));
        out.put_i32(self.queue_id);
        out.put_i32(self.flag);
        out.put_i64(0); // queue offset
        out.put_i64(0); // physical offset
        out.put_i32(f);
        out.put_i64(self.born_timestamp);
        put_host(out, self.born_host);
        out.put_i64(0); // store timestamp
        put_host(out, self.store_host);
        out.put_i32(self.reconsume_times);
        out.put_i64(self.prepared_transaction_offset);
        out.put_i32(self.body.len() as i32);
        out.extend_from_slice(self.body);
        if v2 {
            out.put_i16(self.topic.len() as i16);
        } else {
            out.put_u8(self.topic.len() as u8);
        }
        out.extend_from_slice(self.topic.as_bytes());
        out.put_i16(self.properties.len() as i16);
        out.extend_from_slice(self.properties.as_bytes());
        Ok(len)
    }
}

/// Fills the fields only known at append time into an encoded record.
pub fn patch_record(record: &mut [u8], queue_offset: i64, physical_offset: i64, store_timestamp: i64) {
    record[pos::QUEUE_OFFSET..pos::QUEUE_OFFSET + 8].copy_from_slice(&queue_offset.to_be_bytes());
    record[pos::PHYSICAL_OFFSET..pos::PHYSICAL_OFFSET + 8].copy_from_slice(&physical_offset.to_be_bytes());
    let f = i32::from_be_bytes(record[pos::SYS_FLAG..pos::SYS_FLAG + 4].try_into().unwrap_or_default());
    let at = pos::BORN_HOST + host_len(f, sys_flag::BORNHOST_V6);
    record[at..at + 8].copy_from_slice(&store_timestamp.to_be_bytes());
}

/// A decoded record. `body` shares the buffer it was decoded from.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub total_size: i32,
    pub magic: i32,
    pub body_crc: i32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: Bytes,
    pub topic: String,
    pub properties: String,
}

impl MessageRecord {
    pub fn msg_id(&self) -> String {
        offset_msg_id(self.store_host, self.physical_offset)
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(ProtocolError::BadMessage("truncated record"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn i16(&mut self) -> Result<i16, ProtocolError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().unwrap_or_default()))
    }
    fn i32(&mut self) -> Result<i32, ProtocolError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }
    fn i64(&mut self) -> Result<i64, ProtocolError> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }
    fn len_i32(&mut self) -> Result<usize, ProtocolError> {
        usize::try_from(self.i32()?).map_err(|_| ProtocolError::BadMessage("negative length"))
    }
    fn host(&mut self, v6: bool) -> Result<SocketAddr, ProtocolError> {
        let ip: IpAddr = if v6 {
            Ipv6Addr::from(<[u8; 16]>::try_from(self.take(16)?).unwrap_or_default()).into()
        } else {
            Ipv4Addr::from(<[u8; 4]>::try_from(self.take(4)?).unwrap_or_default()).into()
        };
        let port = self.i32()?;
        Ok(SocketAddr::new(ip, port as u16))
    }
    fn string(&mut self, n: usize) -> Result<String, ProtocolError> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| ProtocolError::BadMessage("string is not UTF-8"))
    }
}

/// Decodes the record at the start of `buf`. With `check_crc`, a body whose CRC does
/// not match is an error.
pub fn decode_record(buf: &Bytes, check_crc: bool) -> Result<MessageRecord, ProtocolError> {
    let mut c = Cursor { buf, pos: 0 };
    let total_size = c.i32()?;
    let size = usize::try_from(total_size).map_err(|_| ProtocolError::BadMessage("negative size"))?;
    if size > buf.len() || size < pos::BORN_HOST {
        return Err(ProtocolError::BadMessage("size does not fit the buffer"));
    }
    c.buf = &buf[..size];
    let magic = c.i32()?;
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return Err(ProtocolError::BadMessage("bad magic code"));
    }
    let body_crc = c.i32()?;
    let queue_id = c.i32()?;
    let flag = c.i32()?;
    let queue_offset = c.i64()?;
    let physical_offset = c.i64()?;
    let sys_flag = c.i32()?;
    let born_timestamp = c.i64()?;
    let born_host = c.host(sys_flag & sys_flag::BORNHOST_V6 != 0)?;
    let store_timestamp = c.i64()?;
    let store_host = c.host(sys_flag & sys_flag::STOREHOST_V6 != 0)?;
    let reconsume_times = c.i32()?;
    let prepared_transaction_offset = c.i64()?;
    let body_len = c.len_i32()?;
    let body_start = c.pos;
    let body_bytes = c.take(body_len)?;
    if check_crc && crc32(body_bytes) != body_crc {
        return Err(ProtocolError::BadMessage("body CRC mismatch"));
    }
    let body = buf.slice(body_start..body_start + body_len);
    let topic_len = if magic == MAGIC_V2 { c.i16()? as u16 as usize } else { c.take(1)?[0] as usize };
    let topic = c.string(topic_len)?;
    let props_len = c.i16()? as u16 as usize;
    let properties = c.string(props_len)?;
    if c.pos != size {
        return Err(ProtocolError::BadMessage("size disagrees with the fields"));
    }
    Ok(MessageRecord {
        total_size,
        magic,
        body_crc,
        queue_id,
        flag,
        queue_offset,
        physical_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body,
        topic,
        properties,
    })
}

/// Decodes a pull answer: concatenated records.
pub fn decode_records(buf: &Bytes) -> Result<Vec<MessageRecord>, ProtocolError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let rec = decode_record(&buf.slice(at..), false)?;
        at += rec.total_size as usize;
        out.push(rec);
    }
    Ok(out)
}

/// One inner message of a SEND_BATCH_MESSAGE body.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    pub flag: i32,
    pub body: Bytes,
    pub properties: String,
}

/// Decodes a batch body (`MessageDecoder.encodeMessages`), refusing more than `max_items`.
pub fn decode_batch(buf: &Bytes, max_items: usize) -> Result<Vec<BatchItem>, ProtocolError> {
    let mut items = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        if items.len() >= max_items {
            return Err(ProtocolError::BadMessage("too many messages in batch"));
        }
        let mut c = Cursor { buf: &buf[at..], pos: 0 };
        let size = c.len_i32()?;
        if size > buf.len() - at || size < 4 + 4 + 4 + 4 + 4 + 2 {
            return Err(ProtocolError::BadMessage("batch record size does not fit"));
        }
        c.buf = &buf[at..at + size];
        let _magic = c.i32()?;
        let _crc = c.i32()?;
        let flag = c.i32()?;
        let body_len = c.len_i32()?;
        let body_start = at + c.pos;
        c.take(body_len)?;
        let props_len = c.i16()? as u16 as usize;
        let properties = c.string(props_len)?;
        if c.pos != size {
            return Err(ProtocolError::BadMessage("batch record size disagrees with its fields"));
        }
        items.push(BatchItem { flag, body: buf.slice(body_start..body_start + body_len), properties });
        at += size;
    }
    Ok(items)
}

/// Encodes a batch body as the Java producer does.
pub fn encode_batch(items: &[BatchItem], out: &mut BytesMut) {
    for item in items {
        let size = 4 + 4 + 4 + 4 + 4 + item.body.len() + 2 + item.properties.len();
        out.put_i32(size as i32);
        out.put_i32(0);
        out.put_i32(0);
        out.put_i32(item.flag);
        out.put_i32(item.body.len() as i32);
        out.extend_from_slice(&item.body);
        out.put_i16(item.properties.len() as i16);
        out.extend_from_slice(item.properties.as_bytes());
    }
}

/// A property's value read straight from a properties string (`k\u{1}v\u{2}…`), as
/// [`Properties::parse`] would give it (the last of repeated keys; an empty value is absent),
/// without building the map.
pub fn property_in<'a>(raw: &'a str, key: &str) -> Option<&'a str> {
    let (bytes, k) = (raw.as_bytes(), key.as_bytes());
    if k.is_empty() || k.contains(&1) || k.contains(&2) {
        return property_in_segments(raw, key);
    }
    // Each place the key begins a segment (at the start or after a separator) and is followed by
    // the key-value separator; the value runs to the next separator. SQL92 filters look up a few
    // keys per message this way, on the pull path and the append path.
    let mut found = None;
    for at in memchr::memmem::find_iter(bytes, k) {
        let after = at + k.len();
        if (at == 0 || bytes[at - 1] == 2) && bytes.get(after) == Some(&1) {
            let end = memchr::memchr(2, &bytes[after + 1..]).map_or(bytes.len(), |i| after + 1 + i);
            if end > after + 1 {
                found = Some(&raw[after + 1..end]);
            }
        }
    }
    found
}

/// The (key, value) pairs of a properties string as stored, in order, those with an empty
/// value left out (as [`property_in`] reads them).
pub fn property_pairs(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    raw.split('\u{2}').filter_map(|seg| seg.split_once('\u{1}')).filter(|(_, v)| !v.is_empty())
}

/// [`property_in`] by splitting every segment: for keys with separator characters in them.
fn property_in_segments<'a>(raw: &'a str, key: &str) -> Option<&'a str> {
    property_pairs(raw).filter(|(k, _)| *k == key).last().map(|(_, v)| v)
}

/// The queue offsets of concatenated stored records (a pull's or pop's body), read in
/// place; stops at the first record that does not fit.
pub fn queue_offsets(buf: &[u8]) -> Vec<i64> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + pos::QUEUE_OFFSET + 8 <= buf.len() {
        let size = i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        if size <= 0 || at + size as usize > buf.len() {
            break;
        }
        let q = &buf[at + pos::QUEUE_OFFSET..at + pos::QUEUE_OFFSET + 8];
        out.push(i64::from_be_bytes(q.try_into().unwrap_or_default()));
        at += size as usize;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn property_in_reads_as_parse_does() {
        let raw = "a\u{1}1\u{2}b\u{1}\u{2}a\u{1}2\u{2}c\u{1}x\u{1}y\u{2}";
        let parsed = super::Properties::parse(raw);
        for k in ["a", "b", "c", "d"] {
            assert_eq!(super::property_in(raw, k), parsed.get(k), "{k}");
        }
    }

    proptest::proptest! {
        /// Over strings of short keys and values with separators anywhere, the key search
        /// answers as splitting every segment does.
        #[test]
        fn property_in_finds_what_splitting_finds(raw in "[ab\u{1}\u{2}x]{0,24}", key in "[ab\u{1}x]{0,3}") {
            proptest::prop_assert_eq!(super::property_in(&raw, &key), super::property_in_segments(&raw, &key));
        }
    }

    use super::*;

    fn host(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn record_round_trip_and_patch() {
        let props = "TAGS\u{1}A\u{2}KEYS\u{1}k1 k2\u{2}";
        let rec = NewRecord {
            topic: "TopicTest",
            queue_id: 3,
            flag: 7,
            sys_flag: 0,
            born_timestamp: 11,
            born_host: host("10.0.0.1:5000"),
            store_host: host("[::1]:10911"),
            reconsume_times: 2,
            prepared_transaction_offset: 0,
            body: b"hello",
            properties: props,
        };
        let mut out = BytesMut::new();
        let len = rec.encode(&mut out).unwrap();
        assert_eq!(len, out.len());
        patch_record(&mut out, 42, 1000, 99);
        let d = decode_record(&out.freeze(), true).unwrap();
        assert_eq!((d.queue_offset, d.physical_offset, d.store_timestamp), (42, 1000, 99));
        assert_eq!(d.sys_flag, sys_flag::STOREHOST_V6);
        assert_eq!(&d.body[..], b"hello");
        assert_eq!(d.topic, "TopicTest");
        assert_eq!(d.properties, props);
        assert_eq!(d.store_host, host("[::1]:10911"));
    }

    #[test]
    fn properties_follow_java_rules() {
        let p = Properties::parse("A\u{1}1\u{2}\u{1}x\u{2}B\u{1}\u{2}C\u{1}3\u{2}");
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![("A", "1"), ("C", "3")]);
        assert_eq!(p.encode(), "A\u{1}1\u{2}C\u{1}3\u{2}");
        // A repeated key counts once, with its last value (Java fills a map).
        let mut p = Properties::parse("A\u{1}1\u{2}B\u{1}2\u{2}A\u{1}3");
        assert_eq!((p.get("A"), p.get("B"), p.encode().as_str()), (Some("3"), Some("2"), "A\u{1}3\u{2}B\u{1}2\u{2}"));
        p.set("B", "22");
        p.set("C", "4");
        assert_eq!(p.remove("A").as_deref(), Some("3"));
        assert_eq!((p.get("A"), p.as_wire()), (None, "B\u{1}22\u{2}C\u{1}4\u{2}"));
        assert_eq!(format!("{p:?}"), r#"{"B": "22", "C": "4"}"#);
        // Many pairs, some repeated: each key once, in first-seen order, last value.
        let many: String = (0..1000).map(|i| format!("k{}\u{1}v{i}\u{2}", i % 500)).collect();
        let p = Properties::parse(&many);
        assert_eq!((p.iter().count(), p.get("k0"), p.get("k499"), p.iter().next()), (500, Some("v500"), Some("v999"), Some(("k0", "v500"))));
    }

    #[test]
    fn msg_id_round_trip() {
        let id = offset_msg_id(host("127.0.0.1:10911"), 123456);
        assert_eq!(id.len(), 32);
        assert_eq!(decode_offset_msg_id(&id), Some((host("127.0.0.1:10911"), 123456)));
        assert_eq!(decode_offset_msg_id("zz"), None);
    }

    #[test]
    fn java_hash_matches_string_hash_code() {
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        // "TagA".hashCode() in Java
        assert_eq!(java_hash("TagA"), 2_598_919);
    }
}
