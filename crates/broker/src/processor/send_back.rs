//! CONSUMER_SEND_MSG_BACK.

use std::sync::Arc;

use protocol::header::Fields;
use protocol::RemotingCommand;

use super::ok;
use crate::error::BrokerResult;
use crate::service::send_back::SendBack;
use crate::Broker;

pub async fn process(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let ext = &req.ext_fields;
    let r = SendBack {
        group: ext.req_str("group")?.to_string(),
        phys_offset: ext.req("offset")?,
        delay_level: ext.opt("delayLevel")?.unwrap_or(0),
        origin_msg_id: ext.raw("originMsgId").map(str::to_string),
        max_reconsume_times: ext.opt("maxReconsumeTimes")?,
        client_version: req.version,
    };
    b.send_back(r).await?;
    Ok(ok(req))
}
