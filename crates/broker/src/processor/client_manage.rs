//! HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP, CHECK_CLIENT_CONFIG.

use std::sync::Arc;

use protocol::body::{self, ConsumerIdList, HeartbeatData};
use protocol::RemotingCommand;
use remoting::Channel;

use super::ok;
use super::push::RemotingClient;
use crate::error::BrokerResult;
use crate::service::clients::ClientInfo;
use crate::Broker;

pub fn heartbeat(b: &Arc<Broker>, ch: &Arc<Channel>, req: &RemotingCommand, hb: &HeartbeatData) -> BrokerResult<RemotingCommand> {
    let conn = Arc::new(RemotingClient::new(ch.clone(), req.language));
    b.heartbeat(hb, ClientInfo { conn, language: req.language, version: req.version });
    Ok(ok(req))
}

pub fn unregister(
    b: &Arc<Broker>,
    ch: &Channel,
    req: &RemotingCommand,
    producer_group: Option<&str>,
    consumer_group: Option<&str>,
) -> BrokerResult<RemotingCommand> {
    b.unregister_client(ch.id(), producer_group, consumer_group);
    Ok(ok(req))
}

pub fn consumer_list(b: &Arc<Broker>, req: &RemotingCommand, group: &str) -> BrokerResult<RemotingCommand> {
    let ids = b.consumer_ids(group)?;
    Ok(ok(req).with_body(body::encode(&ConsumerIdList { consumer_id_list: ids })))
}

/// A consumer's SQL92 subscription is compiled here as a pull would compile it: a refusal
/// makes the Java consumer's start fail with the reason.
pub fn check_client_config(b: &Arc<Broker>, req: &RemotingCommand, expression_type: Option<&str>, expression: Option<&str>) -> BrokerResult<RemotingCommand> {
    b.subscription_filter(expression_type, expression, None, crate::service::filter::Via::Pull)?;
    Ok(ok(req))
}
