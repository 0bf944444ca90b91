//! VIEW_MESSAGE_BY_ID (by CommitLog offset) and QUERY_MESSAGE (by key or unique key).

use std::sync::Arc;

use bytes::BytesMut;
use protocol::codes::response as rs;
use protocol::header::Fields;
use protocol::{ProtocolError, RemotingCommand};

use super::{error, ok};
use crate::Broker;

/// `defaultQueryMaxNum`: the most messages one key query returns.
const QUERY_MAX_NUM: usize = 32;

pub fn view_by_offset(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let offset: i64 = req.ext_fields.req("offset")?;
    match b.store.read_message(offset) {
        Ok(Some(rec)) => Ok(ok(req).with_body(rec)),
        Ok(None) => Ok(error(req, rs::SYSTEM_ERROR, format!("can not find message by the offset, {offset}"))),
        Err(e) => Ok(error(req, rs::SYSTEM_ERROR, e.to_string())),
    }
}

pub fn by_key(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let ext = &req.ext_fields;
    let topic = ext.req_str("topic")?;
    let key = ext.req_str("key")?;
    let max: i64 = ext.req("maxNum")?;
    let begin: i64 = ext.req("beginTimestamp")?;
    let end: i64 = ext.req("endTimestamp")?;
    let max = if ext.flag("_UNIQUE_KEY_QUERY") { QUERY_MAX_NUM } else { (max.max(1) as usize).min(QUERY_MAX_NUM) };
    let found = match b.store.query_by_key(topic, key, max, begin, end) {
        Ok(f) => f,
        Err(e) => return Ok(error(req, rs::SYSTEM_ERROR, e.to_string())),
    };
    if found.is_empty() {
        return Ok(error(req, rs::QUERY_NOT_FOUND, "can not find message, maybe time range not correct"));
    }
    let mut body = BytesMut::new();
    for rec in found {
        body.extend_from_slice(&rec);
    }
    Ok(ok(req).with_ext("indexLastUpdateTimestamp", now_ms()).with_ext("indexLastUpdatePhyoffset", b.store.commit_log_max_offset()).with_body(body.freeze()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
