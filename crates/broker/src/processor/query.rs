//! VIEW_MESSAGE_BY_ID (by CommitLog offset) and QUERY_MESSAGE (by key or unique key).

use std::sync::Arc;

use bytes::BytesMut;
use protocol::RemotingCommand;

use super::ok;
use crate::error::BrokerResult;
use crate::Broker;

pub fn view_by_offset(b: &Arc<Broker>, req: &RemotingCommand, phys_offset: i64) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(b.view_message(phys_offset)?))
}

/// `range_ms`: the store times to search, inclusive.
pub fn by_key(b: &Arc<Broker>, req: &RemotingCommand, topic: &str, key: &str, max: i64, range_ms: (i64, i64), unique: bool) -> BrokerResult<RemotingCommand> {
    let found = b.query_by_key(topic, key, max, range_ms.0, range_ms.1, unique)?;
    let mut body = BytesMut::new();
    for rec in &found.records {
        body.extend_from_slice(rec);
    }
    Ok(ok(req)
        .with_ext("indexLastUpdateTimestamp", found.index_last_update_ms)
        .with_ext("indexLastUpdatePhyoffset", found.index_last_update_phys_offset)
        .with_body(body.freeze()))
}
