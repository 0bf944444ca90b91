//! `RemotingCommand`: the envelope of every request and response.
//!
//! Layout after the length prefix: `int32 (serializeType << 24 | headerLen)`, header, body.
//! Both header encodings are decoded; responses are written in JSON unless asked
//! otherwise, because the C++ and Go clients understand nothing else.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codes::{flag, version};
use crate::lenient::{Scalar, ScalarVisitor};
use crate::ProtocolError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    #[default]
    Json,
    RocketMq,
}

/// `LanguageCode`, kept as its wire ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanguageCode(pub u8);

const LANGUAGE_NAMES: [&str; 14] = ["JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST", "NODE_JS"];

impl LanguageCode {
    pub const JAVA: LanguageCode = LanguageCode(0);
    pub const CPP: LanguageCode = LanguageCode(1);
    pub const OTHER: LanguageCode = LanguageCode(7);
    pub const RUST: LanguageCode = LanguageCode(12);

    pub fn name(self) -> &'static str {
        LANGUAGE_NAMES.get(self.0 as usize).copied().unwrap_or("OTHER")
    }

    pub fn from_name(name: &str) -> LanguageCode {
        LANGUAGE_NAMES.iter().position(|n| *n == name).map_or(Self::OTHER, |i| LanguageCode(i as u8))
    }
}

pub use crate::ext_fields::ExtFields;

#[derive(Debug, Clone, PartialEq)]
pub struct RemotingCommand {
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: ExtFields,
    pub body: Bytes,
    /// How the header arrived (decode) or is to be written (encode).
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    pub fn request(code: i32) -> Self {
        RemotingCommand {
            code,
            language: LanguageCode::JAVA,
            version: version::CURRENT,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        }
    }

    /// A response to `request`: same opaque, response flag set, JSON header.
    pub fn response_to(request: &RemotingCommand, code: i32) -> Self {
        RemotingCommand { opaque: request.opaque, flag: flag::RESPONSE, ..RemotingCommand::request(code) }
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_ext(mut self, key: &str, value: impl ToString) -> Self {
        self.ext_fields.insert(key, value.to_string());
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & flag::RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & flag::ONEWAY != 0
    }

    /// Decodes a frame whose length prefix has already been removed.
    pub fn decode(frame: Bytes) -> Result<RemotingCommand, ProtocolError> {
        if frame.len() < 4 {
            return Err(ProtocolError::FrameTooSmall(frame.len()));
        }
        let word = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let header_len = (word & 0x00FF_FFFF) as usize;
        if header_len > frame.len() - 4 {
            return Err(ProtocolError::HeaderTooLarge { header: header_len, frame: frame.len() });
        }
        let header = &frame[4..4 + header_len];
        let mut cmd = match (word >> 24) as u8 {
            0 => decode_json_header(header)?,
            1 => decode_binary_header(header)?,
            other => return Err(ProtocolError::UnknownSerializeType(other)),
        };
        cmd.body = frame.slice(4 + header_len..);
        Ok(cmd)
    }

    /// Appends the whole frame, length prefix included, to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        self.encode_head(out);
        out.extend_from_slice(&self.body);
    }

    /// Appends the frame without its body: the length prefix (which counts the body), the
    /// header length word and the header. The body follows on the wire as it is, so a
    /// writer can send it without copying it.
    pub fn encode_head(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u32(0); // length, patched below
        out.put_u32(0); // serialize type and header length, patched below
        let header_start = out.len();
        let type_byte = match self.serialize_type {
            SerializeType::Json => {
                encode_json_header(self, out);
                0u32
            }
            SerializeType::RocketMq => {
                encode_binary_header(self, out);
                1u32
            }
        };
        let header_len = (out.len() - header_start) as u32;
        let length = (out.len() - start - 4 + self.body.len()) as u32;
        out[start..start + 4].copy_from_slice(&length.to_be_bytes());
        out[start + 4..start + 8].copy_from_slice(&((type_byte << 24) | (header_len & 0x00FF_FFFF)).to_be_bytes());
    }

    pub fn encode_to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(64 + self.body.len());
        self.encode(&mut out);
        out.freeze()
    }
}

/// Writes the JSON header the way fastjson orders it (keys sorted), with strings escaped as
/// serde_json escapes them. Written by hand: this runs for every answer.
fn encode_json_header(cmd: &RemotingCommand, out: &mut BytesMut) {
    let mut num = [0u8; 20];
    out.extend_from_slice(b"{\"code\":");
    out.extend_from_slice(fmt_int(&mut num, cmd.code as i64));
    out.extend_from_slice(b",\"extFields\":{");
    for (i, (k, v)) in cmd.ext_fields.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        json_str(out, k);
        out.put_u8(b':');
        json_str(out, v);
    }
    out.extend_from_slice(b"},\"flag\":");
    out.extend_from_slice(fmt_int(&mut num, cmd.flag as i64));
    out.extend_from_slice(b",\"language\":");
    json_str(out, cmd.language.name());
    out.extend_from_slice(b",\"opaque\":");
    out.extend_from_slice(fmt_int(&mut num, cmd.opaque as i64));
    if let Some(remark) = &cmd.remark {
        out.extend_from_slice(b",\"remark\":");
        json_str(out, remark);
    }
    out.extend_from_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    out.extend_from_slice(fmt_int(&mut num, cmd.version as i64));
    out.put_u8(b'}');
}

/// Decimal digits of `v` in `buf`.
fn fmt_int(buf: &mut [u8; 20], v: i64) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// A JSON string: quotes, backslashes and control characters escaped; everything else as is.
fn json_str(out: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    // Almost every string needs no escape: one table lookup per byte finds the first that does.
    let Some(first) = bytes.iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\') else {
        out.extend_from_slice(bytes);
        out.put_u8(b'"');
        return;
    };
    out.extend_from_slice(&bytes[..first]);
    let mut start = first;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.put_u8(b'"');
}

impl Scalar {
    /// As text, the way `Value::to_string` would print it (strings unquoted).
    fn into_text(self) -> Option<String> {
        match self {
            Scalar::Null => None,
            Scalar::Int(i) => Some(i.to_string()),
            Scalar::UInt(u) => Some(u.to_string()),
            Scalar::Float(f) => Some(serde_json::Number::from_f64(f).map_or_else(|| "null".to_string(), |n| n.to_string())),
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Str(s) | Scalar::Other(s) => Some(s),
        }
    }

    /// An integer header field; strings holding a number are accepted, as fastjson does.
    fn int(self, field: &'static str) -> Result<Option<i64>, ProtocolError> {
        match self {
            Scalar::Null => Ok(None),
            Scalar::Int(i) => Ok(Some(i)),
            Scalar::Str(s) => s.trim().parse().map(Some).map_err(|_| ProtocolError::BadField { field, value: s }),
            other => Err(ProtocolError::BadField { field, value: other.into_text().unwrap_or_default() }),
        }
    }
}

/// The keys of a JSON header that mean something to us; others are skipped unread.
enum HeaderKey {
    Code,
    Version,
    Opaque,
    Flag,
    Language,
    Remark,
    ExtFields,
    Other,
}

impl<'de> serde::Deserialize<'de> for HeaderKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HeaderKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a header field name")
            }
            fn visit_str<E>(self, v: &str) -> Result<HeaderKey, E> {
                Ok(match v {
                    "code" => HeaderKey::Code,
                    "version" => HeaderKey::Version,
                    "opaque" => HeaderKey::Opaque,
                    "flag" => HeaderKey::Flag,
                    "language" => HeaderKey::Language,
                    "remark" => HeaderKey::Remark,
                    "extFields" => HeaderKey::ExtFields,
                    _ => HeaderKey::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// `extFields`: an object whose values are kept as text (nulls dropped), or null. Keys and
/// values are appended straight into the fields' one text buffer.
struct ExtFieldsIn(ExtFields);

impl<'de> serde::Deserialize<'de> for ExtFieldsIn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ExtFieldsIn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("extFields as an object")
            }
            fn visit_unit<E>(self) -> Result<ExtFieldsIn, E> {
                Ok(ExtFieldsIn(ExtFields::new()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ExtFieldsIn, A::Error> {
                let mut fields = ExtFields::with_capacity(map.size_hint().unwrap_or(16), 256);
                loop {
                    let key = fields.text_mut().len();
                    if map.next_key_seed(AppendText(fields.text_mut()))?.is_none() {
                        break;
                    }
                    let value = fields.text_mut().len();
                    if map.next_value_seed(AppendText(fields.text_mut()))? {
                        fields.push_span(key, value);
                    } else {
                        fields.truncate_text(key);
                    }
                }
                fields.dedup();
                Ok(ExtFieldsIn(fields))
            }
        }
        d.deserialize_any(V)
    }
}

/// Appends a JSON value to a string as text, as `Scalar::into_text` gives it (strings are
/// appended straight, without a `String` of their own); answers false for null, which appends
/// nothing.
struct AppendText<'a>(&'a mut String);

impl AppendText<'_> {
    fn append(self, value: Scalar) -> bool {
        match value.into_text() {
            Some(text) => {
                self.0.push_str(&text);
                true
            }
            None => false,
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for AppendText<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for AppendText<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        self.0.push_str(v);
        Ok(true)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_none<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<bool, E> {
        Ok(self.append(ScalarVisitor.visit_i64(v)?))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<bool, E> {
        Ok(self.append(ScalarVisitor.visit_u64(v)?))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<bool, E> {
        Ok(self.append(ScalarVisitor.visit_f64(v)?))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(self.append(ScalarVisitor.visit_bool(v)?))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        Ok(self.append(ScalarVisitor.visit_map(map)?))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        Ok(self.append(ScalarVisitor.visit_seq(seq)?))
    }
}

/// A JSON header, read field by field straight into the command (no intermediate tree).
struct JsonHeaderIn {
    code: Scalar,
    version: Scalar,
    opaque: Scalar,
    flag: Scalar,
    language: Scalar,
    remark: Scalar,
    ext_fields: ExtFields,
}

impl<'de> serde::Deserialize<'de> for JsonHeaderIn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonHeaderIn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the header as a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonHeaderIn, A::Error> {
                let mut h = JsonHeaderIn {
                    code: Scalar::Null,
                    version: Scalar::Null,
                    opaque: Scalar::Null,
                    flag: Scalar::Null,
                    language: Scalar::Null,
                    remark: Scalar::Null,
                    ext_fields: ExtFields::new(),
                };
                // A repeated key: the last one counts.
                while let Some(key) = map.next_key::<HeaderKey>()? {
                    match key {
                        HeaderKey::Code => h.code = map.next_value()?,
                        HeaderKey::Version => h.version = map.next_value()?,
                        HeaderKey::Opaque => h.opaque = map.next_value()?,
                        HeaderKey::Flag => h.flag = map.next_value()?,
                        HeaderKey::Language => h.language = map.next_value()?,
                        HeaderKey::Remark => h.remark = map.next_value()?,
                        HeaderKey::ExtFields => h.ext_fields = map.next_value::<ExtFieldsIn>()?.0,
                        HeaderKey::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
}

fn decode_json_header(header: &[u8]) -> Result<RemotingCommand, ProtocolError> {
    match crate::json_fast::decode(header) {
        Some(cmd) => Ok(cmd),
        None => decode_json_header_serde(header),
    }
}

/// Whether the fast JSON header reader, where it answers, reads `header` as serde does
/// (for the property test and the fuzz target).
#[doc(hidden)]
pub fn json_readers_agree(header: &[u8]) -> bool {
    match crate::json_fast::decode(header) {
        None => true,
        Some(fast) => decode_json_header_serde(header).is_ok_and(|slow| slow == fast && slow.language == fast.language),
    }
}

fn decode_json_header_serde(header: &[u8]) -> Result<RemotingCommand, ProtocolError> {
    let h: JsonHeaderIn = serde_json::from_slice(header).map_err(|e| ProtocolError::BadJsonHeader(e.to_string()))?;
    let to_i32 = |v: i64, field: &'static str| i32::try_from(v).map_err(|_| ProtocolError::BadField { field, value: v.to_string() });
    let code = h.code.int("code")?.ok_or(ProtocolError::MissingField("code"))?;
    let mut cmd = RemotingCommand::request(to_i32(code, "code")?);
    cmd.version = to_i32(h.version.int("version")?.unwrap_or(0), "version")?;
    cmd.opaque = to_i32(h.opaque.int("opaque")?.unwrap_or(0), "opaque")?;
    cmd.flag = to_i32(h.flag.int("flag")?.unwrap_or(0), "flag")?;
    cmd.language = match h.language {
        Scalar::Str(s) => LanguageCode::from_name(&s),
        Scalar::Int(n) if n >= 0 => LanguageCode(n.min(255) as u8),
        Scalar::UInt(_) => LanguageCode(255),
        Scalar::Int(_) | Scalar::Float(_) => LanguageCode(7),
        _ => LanguageCode::OTHER,
    };
    cmd.remark = match h.remark {
        Scalar::Str(s) => Some(s),
        _ => None,
    };
    cmd.ext_fields = h.ext_fields;
    cmd.serialize_type = SerializeType::Json;
    Ok(cmd)
}

/// Fixed part of the binary header: code, language, version, opaque, flag, remark length.
const BINARY_FIXED_LEN: usize = 2 + 1 + 2 + 4 + 4 + 4;

fn encode_binary_header(cmd: &RemotingCommand, out: &mut BytesMut) {
    out.put_i16(cmd.code as i16);
    out.put_u8(cmd.language.0);
    out.put_i16(cmd.version as i16);
    out.put_i32(cmd.opaque);
    out.put_i32(cmd.flag);
    match &cmd.remark {
        Some(r) => {
            out.put_i32(r.len() as i32);
            out.extend_from_slice(r.as_bytes());
        }
        None => out.put_i32(0),
    }
    let len_pos = out.len();
    out.put_i32(0);
    for (k, v) in cmd.ext_fields.iter() {
        out.put_i16(k.len() as i16);
        out.extend_from_slice(k.as_bytes());
        out.put_i32(v.len() as i32);
        out.extend_from_slice(v.as_bytes());
    }
    let ext_len = (out.len() - len_pos - 4) as i32;
    out[len_pos..len_pos + 4].copy_from_slice(&ext_len.to_be_bytes());
}

/// A bounds-checked reader over a byte slice; every read fails cleanly past the end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(ProtocolError::BadBinaryHeader("truncated"))?;
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
    fn len(&mut self, v: i32) -> Result<usize, ProtocolError> {
        usize::try_from(v).map_err(|_| ProtocolError::BadBinaryHeader("negative length"))
    }
    fn string(&mut self, n: usize) -> Result<String, ProtocolError> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| ProtocolError::BadBinaryHeader("string is not UTF-8"))
    }
}

fn decode_binary_header(header: &[u8]) -> Result<RemotingCommand, ProtocolError> {
    if header.len() < BINARY_FIXED_LEN {
        return Err(ProtocolError::BadBinaryHeader("shorter than the fixed part"));
    }
    let mut r = Reader { buf: header, pos: 0 };
    let mut cmd = RemotingCommand::request(r.i16()? as i32);
    cmd.language = LanguageCode(r.take(1)?[0]);
    cmd.version = r.i16()? as i32;
    cmd.opaque = r.i32()?;
    cmd.flag = r.i32()?;
    let remark_len = r.i32().and_then(|v| r.len(v))?;
    if remark_len > 0 {
        cmd.remark = Some(r.string(remark_len)?);
    }
    if r.pos < header.len() {
        let ext_len = r.i32().and_then(|v| r.len(v))?;
        let ext = r.take(ext_len)?;
        let mut er = Reader { buf: ext, pos: 0 };
        while er.pos < ext.len() {
            let kl = er.i16().and_then(|v| er.len(v as i32))?;
            let key = er.string(kl)?;
            let vl = er.i32().and_then(|v| er.len(v))?;
            let value = er.string(vl)?;
            // Appended, then repeats resolved once (the last value wins, as a map's put):
            // an insert per field looks the key up each time, quadratic in the field count.
            cmd.ext_fields.push(&key, &value);
        }
        cmd.ext_fields.dedup();
    }
    cmd.serialize_type = SerializeType::RocketMq;
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RemotingCommand {
        RemotingCommand::request(310).with_ext("a", "group").with_ext("b", "Topic").with_remark("héllo").with_body(&b"body"[..])
    }

    #[test]
    fn json_round_trip() {
        let cmd = sample();
        let bytes = cmd.encode_to_bytes();
        let back = RemotingCommand::decode(bytes.slice(4..)).unwrap();
        assert_eq!(back, cmd);
    }

    #[test]
    fn binary_round_trip() {
        let mut cmd = sample();
        cmd.serialize_type = SerializeType::RocketMq;
        let bytes = cmd.encode_to_bytes();
        assert_eq!(bytes[4], 1);
        let back = RemotingCommand::decode(bytes.slice(4..)).unwrap();
        assert_eq!(back, cmd);
    }

    #[test]
    fn json_tolerates_foreign_shapes() {
        let header = br#"{"code":"34","language":"CPP","opaque":3,"extFields":{"n":5,"b":true,"x":null,"Signature":""}}"#;
        let mut frame = BytesMut::new();
        frame.put_u32(header.len() as u32);
        frame.extend_from_slice(header);
        let cmd = RemotingCommand::decode(frame.freeze()).unwrap();
        assert_eq!(cmd.code, 34);
        assert_eq!(cmd.language, LanguageCode(1));
        assert_eq!(cmd.ext_fields.get("n"), Some("5"));
        assert_eq!(cmd.ext_fields.get("b"), Some("true"));
        assert!(!cmd.ext_fields.contains_key("x"));
    }

    fn decode_json(header: &[u8]) -> Result<RemotingCommand, ProtocolError> {
        let mut frame = BytesMut::new();
        frame.put_u32(header.len() as u32);
        frame.extend_from_slice(header);
        RemotingCommand::decode(frame.freeze())
    }

    #[test]
    fn json_fields_of_odd_shapes() {
        let cmd = decode_json(br#"{"zzz":[1,{"a":2}],"code":11,"language":9,"remark":7,"version":"  5 ","flag":null,"extFields":{"o":{"k":[1,2]},"a":[true],"f":1.5,"big":18446744073709551615,"s":"\u00e9\n"},"code":12}"#).unwrap();
        assert_eq!((cmd.code, cmd.version, cmd.flag), (12, 5, 0), "the last of a repeated key counts");
        assert_eq!(cmd.language, LanguageCode(9));
        assert_eq!(cmd.remark, None, "a remark that is not a string is no remark");
        let f = |k: &str| cmd.ext_fields.get(k);
        assert_eq!(
            (f("o"), f("a"), f("f"), f("big"), f("s")),
            (Some(r#"{"k":[1,2]}"#), Some("[true]"), Some("1.5"), Some("18446744073709551615"), Some("é\n"))
        );
        assert!(decode_json(br#"{"code":1,"extFields":null}"#).unwrap().ext_fields.is_empty());
    }

    #[test]
    fn json_header_errors_name_the_field() {
        assert!(matches!(decode_json(br#"{"opaque":1}"#), Err(ProtocolError::MissingField("code"))));
        assert!(matches!(decode_json(br#"{"code":null}"#), Err(ProtocolError::MissingField("code"))));
        assert!(matches!(decode_json(br#"{"code":"x1"}"#), Err(ProtocolError::BadField { field: "code", .. })));
        assert!(matches!(decode_json(br#"{"code":1,"opaque":1.5}"#), Err(ProtocolError::BadField { field: "opaque", .. })));
        assert!(matches!(decode_json(br#"{"code":1,"flag":4294967296}"#), Err(ProtocolError::BadField { field: "flag", .. })));
        assert!(matches!(decode_json(br#"{"code":1,"version":[1]}"#), Err(ProtocolError::BadField { field: "version", .. })));
        assert!(matches!(decode_json(br#"{"code":1,"extFields":[1]}"#), Err(ProtocolError::BadJsonHeader(_))));
        assert!(matches!(decode_json(br#"[1,2]"#), Err(ProtocolError::BadJsonHeader(_))));
        assert!(matches!(decode_json(br#"{"code":1"#), Err(ProtocolError::BadJsonHeader(_))));
        assert!(matches!(decode_json(br#"{"code":1} trailing"#), Err(ProtocolError::BadJsonHeader(_))));
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let mut out = BytesMut::new();
        for s in ["", "plain é €", "q\"b\\n\nr\rt\tb\u{8}f\u{c}", "\u{1}UNIQ\u{2}\u{1f}x", "end\""] {
            out.clear();
            json_str(&mut out, s);
            assert_eq!(std::str::from_utf8(&out).unwrap(), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn rejects_header_longer_than_frame() {
        let mut frame = BytesMut::new();
        frame.put_u32(100);
        frame.extend_from_slice(b"{}");
        assert!(matches!(RemotingCommand::decode(frame.freeze()), Err(ProtocolError::HeaderTooLarge { .. })));
    }
}
