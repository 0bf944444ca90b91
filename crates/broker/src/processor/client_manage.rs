//! HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP, CHECK_CLIENT_CONFIG.

use std::sync::Arc;
use std::time::Instant;

use protocol::body::{self, ConsumerIdList, HeartbeatData, TopicConfig};
use protocol::codes::{perm, response as rs};
use protocol::header::Fields;
use protocol::names;
use protocol::{ProtocolError, RemotingCommand};
use remoting::Channel;

use super::send::created;
use super::{error, ok};
use crate::clients::ClientChannel;
use crate::Broker;

pub fn heartbeat(b: &Arc<Broker>, ch: &Arc<Channel>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let hb: HeartbeatData = body::decode(&req.body)?;
    let client =
        ClientChannel { channel: ch.clone(), client_id: hb.client_id.clone(), language: req.language, version: req.version, last_update: Instant::now() };
    for p in &hb.producer_data_set {
        b.clients.register_producer(&p.group_name, client.clone());
    }
    for c in &hb.consumer_data_set {
        if names::validate_group(&c.group_name).is_err() {
            continue;
        }
        let Some(group) = b.groups.find_or_create(&c.group_name) else { continue };
        // The retry topic exists for every consumer group and is routed at once.
        let retry = TopicConfig {
            topic_name: names::retry_topic(&c.group_name),
            read_queue_nums: group.retry_queue_nums.max(1),
            write_queue_nums: group.retry_queue_nums.max(1),
            perm: perm::READ | perm::WRITE,
            ..Default::default()
        };
        created(b, b.topics.get_or_create(retry));
        if b.clients.register_consumer(c, client.clone()) && group.notify_consumer_ids_changed_enable {
            b.clients.notify_ids_changed(&c.group_name);
        }
    }
    Ok(ok(req))
}

pub fn unregister(b: &Arc<Broker>, ch: &Arc<Channel>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let ext = &req.ext_fields;
    let _client_id = ext.req_str("clientID")?;
    let producer = ext.raw("producerGroup").filter(|s| !s.is_empty());
    let consumer = ext.raw("consumerGroup").filter(|s| !s.is_empty());
    for group in b.clients.unregister(ch.id(), producer, consumer) {
        b.clients.notify_ids_changed(&group);
    }
    Ok(ok(req))
}

pub fn consumer_list(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    let ids = b.clients.consumer_ids(group);
    if ids.is_empty() {
        return Ok(error(req, rs::SYSTEM_ERROR, format!("no consumer for this group, {group}")));
    }
    Ok(ok(req).with_body(body::encode(&ConsumerIdList { consumer_id_list: ids })))
}

pub fn check_client_config(req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let body: serde_json::Value = body::decode(&req.body)?;
    let expression_type = body.pointer("/subscriptionData/expressionType").and_then(|v| v.as_str()).unwrap_or("TAG");
    if !expression_type.eq_ignore_ascii_case("TAG") {
        return Ok(error(req, rs::SYSTEM_ERROR, "The broker does not support consumer to filter message by SQL92"));
    }
    Ok(ok(req))
}
