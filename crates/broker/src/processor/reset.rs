//! INVOKE_BROKER_TO_RESET_OFFSET (222): reset a group's offsets of a topic to a timestamp.

use std::sync::Arc;

use protocol::RemotingCommand;

use super::ok;
use super::push::offset_table_body;
use crate::error::BrokerResult;
use crate::service::reset::ResetOffset;
use crate::Broker;

pub fn reset_offset(b: &Arc<Broker>, req: &RemotingCommand, r: &ResetOffset) -> BrokerResult<RemotingCommand> {
    let offsets = b.reset_offset(r)?;
    Ok(ok(req).with_body(offset_table_body(&offsets)))
}
