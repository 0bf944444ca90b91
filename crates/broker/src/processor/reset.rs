//! INVOKE_BROKER_TO_RESET_OFFSET (222): reset a group's offsets of a topic to a timestamp.

use std::sync::Arc;

use protocol::header::Fields;
use protocol::RemotingCommand;

use super::ok;
use super::push::offset_table_body;
use crate::error::BrokerResult;
use crate::service::reset::ResetOffset;
use crate::Broker;

pub fn reset_offset(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let ext = &req.ext_fields;
    let r = ResetOffset {
        topic: ext.req_str("topic")?.to_string(),
        group: ext.req_str("group")?.to_string(),
        timestamp: ext.req("timestamp")?,
        force: ext.raw("isForce").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        queue_id: ext.opt("queueId")?,
        offset: ext.opt::<i64>("offset")?.filter(|o| *o != -1),
    };
    let offsets = b.reset_offset(&r)?;
    Ok(ok(req).with_body(offset_table_body(&offsets)))
}
