//! HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP, CHECK_CLIENT_CONFIG.

use std::sync::Arc;

use protocol::body::{self, ConsumerIdList, HeartbeatData};
use protocol::header::Fields;
use protocol::RemotingCommand;
use remoting::Channel;

use super::ok;
use super::push::RemotingClient;
use crate::error::BrokerResult;
use crate::service::clients::ClientInfo;
use crate::Broker;

pub fn heartbeat(b: &Arc<Broker>, ch: &Arc<Channel>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let hb: HeartbeatData = body::decode(&req.body)?;
    let conn = Arc::new(RemotingClient::new(ch.clone(), req.language));
    b.heartbeat(&hb, ClientInfo { conn, language: req.language, version: req.version });
    Ok(ok(req))
}

pub fn unregister(b: &Arc<Broker>, ch: &Arc<Channel>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let ext = &req.ext_fields;
    let _client_id = ext.req_str("clientID")?;
    let producer = ext.raw("producerGroup").filter(|s| !s.is_empty());
    let consumer = ext.raw("consumerGroup").filter(|s| !s.is_empty());
    b.unregister_client(ch.id(), producer, consumer);
    Ok(ok(req))
}

pub fn consumer_list(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let ids = b.consumer_ids(req.ext_fields.req_str("consumerGroup")?)?;
    Ok(ok(req).with_body(body::encode(&ConsumerIdList { consumer_id_list: ids })))
}

pub fn check_client_config(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let body: serde_json::Value = body::decode(&req.body)?;
    b.check_subscription_type(body.pointer("/subscriptionData/expressionType").and_then(|v| v.as_str()))?;
    Ok(ok(req))
}
