//! CONSUMER_SEND_MSG_BACK.

use std::sync::Arc;

use protocol::RemotingCommand;

use super::ok;
use crate::error::BrokerResult;
use crate::service::send_back::SendBack;
use crate::Broker;

pub async fn send_back(b: &Arc<Broker>, req: &RemotingCommand, r: &SendBack) -> BrokerResult<RemotingCommand> {
    b.send_back(r).await?;
    Ok(ok(req))
}
