//! VIEW_MESSAGE_BY_ID (by CommitLog offset) and QUERY_MESSAGE (by key or unique key).

use std::sync::Arc;

use bytes::BytesMut;
use protocol::header::Fields;
use protocol::RemotingCommand;

use super::ok;
use crate::error::BrokerResult;
use crate::Broker;

pub fn view_by_offset(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(b.view_message(req.ext_fields.req("offset")?)?))
}

pub fn by_key(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let ext = &req.ext_fields;
    let (topic, key) = (ext.req_str("topic")?, ext.req_str("key")?);
    let (max, begin, end) = (ext.req("maxNum")?, ext.req("beginTimestamp")?, ext.req("endTimestamp")?);
    let found = b.query_by_key(topic, key, max, begin, end, ext.flag("_UNIQUE_KEY_QUERY"))?;
    let mut body = BytesMut::new();
    for rec in &found.records {
        body.extend_from_slice(rec);
    }
    Ok(ok(req)
        .with_ext("indexLastUpdateTimestamp", found.index_last_update_ms)
        .with_ext("indexLastUpdatePhyoffset", found.index_last_update_phys_offset)
        .with_body(body.freeze()))
}
