//! `RemotingCommand`: the envelope of every request and response.
//!
//! Layout after the length prefix: `int32 (serializeType << 24 | headerLen)`, header, body.
//! Both header encodings are decoded; responses are written in JSON unless asked
//! otherwise, because the C++ and Go clients understand nothing else.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::Value;

use crate::codes::{flag, version};
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

const LANGUAGE_NAMES: [&str; 14] = [
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST", "NODE_JS",
];

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

pub type ExtFields = HashMap<String, String>;

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
        self.ext_fields.insert(key.to_string(), value.to_string());
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

#[derive(Serialize)]
struct JsonHeaderOut<'a> {
    code: i32,
    #[serde(rename = "extFields")]
    ext_fields: &'a ExtFields,
    flag: i32,
    language: &'a str,
    opaque: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type: &'static str,
    version: i32,
}

fn encode_json_header(cmd: &RemotingCommand, out: &mut BytesMut) {
    let header = JsonHeaderOut {
        code: cmd.code,
        ext_fields: &cmd.ext_fields,
        flag: cmd.flag,
        language: cmd.language.name(),
        opaque: cmd.opaque,
        remark: cmd.remark.as_deref(),
        serialize_type: "JSON",
        version: cmd.version,
    };
    // Serializing plain strings and integers into memory cannot fail.
    let _ = serde_json::to_writer(out.writer(), &header);
}

fn json_int(value: &Value, field: &'static str) -> Result<i64, ProtocolError> {
    match value {
        Value::Number(n) => n.as_i64().ok_or(ProtocolError::BadField { field, value: n.to_string() }),
        Value::String(s) => s.trim().parse().map_err(|_| ProtocolError::BadField { field, value: s.clone() }),
        other => Err(ProtocolError::BadField { field, value: other.to_string() }),
    }
}

fn decode_json_header(header: &[u8]) -> Result<RemotingCommand, ProtocolError> {
    let value: Value = serde_json::from_slice(header).map_err(|e| ProtocolError::BadJsonHeader(e.to_string()))?;
    let Value::Object(mut map) = value else {
        return Err(ProtocolError::BadJsonHeader("header is not a JSON object".into()));
    };
    let int_field = |name: &'static str, default: Option<i64>| -> Result<i64, ProtocolError> {
        match map.get(name) {
            Some(Value::Null) | None => default.ok_or(ProtocolError::MissingField(name)),
            Some(v) => json_int(v, name),
        }
    };
    let to_i32 = |v: i64, field: &'static str| i32::try_from(v).map_err(|_| ProtocolError::BadField { field, value: v.to_string() });
    let mut cmd = RemotingCommand::request(to_i32(int_field("code", None)?, "code")?);
    cmd.version = to_i32(int_field("version", Some(0))?, "version")?;
    cmd.opaque = to_i32(int_field("opaque", Some(0))?, "opaque")?;
    cmd.flag = to_i32(int_field("flag", Some(0))?, "flag")?;
    cmd.language = match map.get("language") {
        Some(Value::String(s)) => LanguageCode::from_name(s),
        Some(Value::Number(n)) => LanguageCode(n.as_u64().unwrap_or(7).min(255) as u8),
        _ => LanguageCode::OTHER,
    };
    cmd.remark = match map.remove("remark") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    // Taken apart, not copied: the keys and strings move into ext_fields.
    match map.remove("extFields") {
        Some(Value::Object(fields)) => {
            cmd.ext_fields.reserve(fields.len());
            for (k, v) in fields {
                let value = match v {
                    Value::String(s) => s,
                    Value::Null => continue,
                    other => other.to_string(),
                };
                cmd.ext_fields.insert(k, value);
            }
        }
        Some(Value::Null) | None => {}
        Some(_) => return Err(ProtocolError::BadJsonHeader("extFields is not an object".into())),
    }
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
    for (k, v) in &cmd.ext_fields {
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
            cmd.ext_fields.insert(key, value);
        }
    }
    cmd.serialize_type = SerializeType::RocketMq;
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RemotingCommand {
        RemotingCommand::request(310)
            .with_ext("a", "group")
            .with_ext("b", "Topic")
            .with_remark("héllo")
            .with_body(&b"body"[..])
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
        assert_eq!(cmd.ext_fields.get("n").map(String::as_str), Some("5"));
        assert_eq!(cmd.ext_fields.get("b").map(String::as_str), Some("true"));
        assert!(!cmd.ext_fields.contains_key("x"));
    }

    #[test]
    fn rejects_header_longer_than_frame() {
        let mut frame = BytesMut::new();
        frame.put_u32(100);
        frame.extend_from_slice(b"{}");
        assert!(matches!(RemotingCommand::decode(frame.freeze()), Err(ProtocolError::HeaderTooLarge { .. })));
    }
}
