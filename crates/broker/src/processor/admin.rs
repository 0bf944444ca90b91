//! Admin requests: topics, subscription groups, stats, runtime info and config.

use std::sync::Arc;

use std::collections::BTreeMap;

use protocol::body::{self, GroupList, SubscriptionGroupConfig, TopicList};
use protocol::RemotingCommand;
use serde::Serialize;

use super::ok;
use crate::error::{BrokerError, BrokerResult};
use crate::service::admin::CreateTopic;
use crate::Broker;

pub async fn create_topic(b: &Arc<Broker>, req: &RemotingCommand, r: CreateTopic) -> BrokerResult<RemotingCommand> {
    b.create_topic(r).await?;
    Ok(ok(req))
}

pub async fn delete_topic(b: &Arc<Broker>, req: &RemotingCommand, topic: &str) -> BrokerResult<RemotingCommand> {
    b.delete_topic(topic).await?;
    Ok(ok(req))
}

pub fn all_topic_config(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&b.topics.snapshot())))
}

pub fn topic_config(b: &Arc<Broker>, req: &RemotingCommand, topic: &str) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&b.topic_config(topic)?)))
}

pub fn topic_names(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let list = TopicList { topic_list: b.topics.names().into_iter().collect(), broker_addr: None };
    Ok(ok(req).with_body(body::encode(&list)))
}

pub fn system_topics(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&TopicList { topic_list: b.system_topics(), broker_addr: Some(b.config.broker_addr()) })))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicOffset {
    last_update_timestamp: i64,
    max_offset: i64,
    min_offset: i64,
}

pub fn topic_stats(b: &Arc<Broker>, req: &RemotingCommand, topic: &str) -> BrokerResult<RemotingCommand> {
    let stats = b.topic_stats(topic)?;
    let entries: Vec<_> = stats
        .into_iter()
        .map(|(mq, s)| (mq, TopicOffset { last_update_timestamp: s.last_update_ms, max_offset: s.max_offset, min_offset: s.min_offset }))
        .collect();
    let body = format!("{{\"offsetTable\":{},\"topicPutTps\":0.0}}", body::object_keyed_map(&entries));
    Ok(ok(req).with_body(body))
}

pub fn create_group(b: &Arc<Broker>, req: &RemotingCommand, config: SubscriptionGroupConfig) -> BrokerResult<RemotingCommand> {
    b.create_group(config)?;
    Ok(ok(req))
}

pub fn delete_group(b: &Arc<Broker>, req: &RemotingCommand, group: &str, clean_offset: bool) -> BrokerResult<RemotingCommand> {
    b.delete_group(group, clean_offset)?;
    Ok(ok(req))
}

pub fn all_groups(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&b.groups.snapshot())))
}

pub fn all_offsets(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(b.offsets.snapshot_json()))
}

pub fn all_delay_offsets(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(crate::schedule::progress_json(b)))
}

pub fn ha_status(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&b.ha_runtime_info())))
}

pub fn group_config(b: &Arc<Broker>, req: &RemotingCommand, group: &str) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&b.group_config(group)?)))
}

pub fn broker_config(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let version = serde_json::to_string(&b.topics.snapshot().data_version).unwrap_or_default();
    Ok(ok(req).with_ext("version", version).with_body(b.config_properties()))
}

/// UPDATE_BROKER_CONFIG: the body is `key=value` lines, as Java's `Properties`.
pub fn update_broker_config(b: &Arc<Broker>, req: &RemotingCommand, changes: &BTreeMap<String, String>) -> BrokerResult<RemotingCommand> {
    b.update_config(changes)?;
    Ok(ok(req))
}

pub fn runtime_info(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&body::KvTable { table: b.runtime_info() })))
}

pub fn consumer_connections(b: &Arc<Broker>, req: &RemotingCommand, group: &str) -> BrokerResult<RemotingCommand> {
    match b.clients.connection(group) {
        Some(c) => Ok(ok(req).with_body(body::encode(&c))),
        None => Err(BrokerError::new(protocol::codes::response::CONSUMER_NOT_ONLINE, format!("the consumer group[{group}] not online"))),
    }
}

/// As Java: SYSTEM_ERROR for a group that never registered here.
pub fn producer_connections(b: &Arc<Broker>, req: &RemotingCommand, group: &str) -> BrokerResult<RemotingCommand> {
    match b.clients.producer_connection(group) {
        Some(c) => Ok(ok(req).with_body(body::encode(&c))),
        None => Err(BrokerError::system(format!("the producer group[{group}] not exist"))),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OffsetWrapper {
    broker_offset: i64,
    consumer_offset: i64,
    last_timestamp: i64,
    pull_offset: i64,
}

pub fn consume_stats(b: &Arc<Broker>, req: &RemotingCommand, group: &str, topic: Option<&str>) -> BrokerResult<RemotingCommand> {
    let entries: Vec<_> = b
        .consume_stats(group, topic)?
        .into_iter()
        .map(|(mq, p)| {
            let wrapper = OffsetWrapper {
                broker_offset: p.broker_offset,
                // Java answers 0 for a queue the group has no offset of.
                consumer_offset: p.consumer_offset.max(0),
                last_timestamp: p.last_timestamp_ms,
                pull_offset: p.consumer_offset.max(0),
            };
            (mq, wrapper)
        })
        .collect();
    let body = format!("{{\"consumeTps\":0.0,\"offsetTable\":{}}}", body::object_keyed_map(&entries));
    Ok(ok(req).with_body(body))
}

pub fn consumed_by(b: &Arc<Broker>, req: &RemotingCommand, topic: &str) -> BrokerResult<RemotingCommand> {
    let groups = b.consumed_by(topic);
    Ok(ok(req).with_body(body::encode(&GroupList { group_list: groups })))
}

/// GET_CONSUMER_RUNNING_INFO: relayed to the consumer; its answer goes back as it came.
pub async fn consumer_running_info(b: &Arc<Broker>, req: &RemotingCommand, group: &str, client_id: &str, jstack: bool) -> BrokerResult<RemotingCommand> {
    let answer = b.consumer_running_info(group, client_id, jstack).await?;
    let mut resp = RemotingCommand::response_to(req, answer.code).with_body(answer.body);
    resp.remark = answer.remark;
    Ok(resp)
}
