//! Admin requests: topics, subscription groups, stats, runtime info and config.

use std::sync::Arc;

use protocol::body::{self, GroupList, SubscriptionGroupConfig, TopicConfig, TopicList};
use protocol::header::Fields;
use protocol::RemotingCommand;
use serde::Serialize;

use super::ok;
use crate::error::{BrokerError, BrokerResult};
use crate::service::admin::CreateTopic;
use crate::Broker;

pub fn create_topic(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let ext = &req.ext_fields;
    let topic = ext.req_str("topic")?;
    // The name is checked before the other fields, as it always was.
    protocol::names::validate_topic(topic).map_err(BrokerError::invalid)?;
    let config = TopicConfig {
        topic_name: topic.to_string(),
        read_queue_nums: ext.req("readQueueNums")?,
        write_queue_nums: ext.req("writeQueueNums")?,
        perm: ext.req("perm")?,
        topic_filter_type: ext.raw("topicFilterType").unwrap_or("SINGLE_TAG").to_string(),
        topic_sys_flag: ext.opt("topicSysFlag")?.unwrap_or(0),
        order: ext.flag("order"),
        attributes: Default::default(),
    };
    b.create_topic(CreateTopic { config, attributes: ext.raw("attributes").unwrap_or("").to_string() })?;
    Ok(ok(req))
}

pub async fn delete_topic(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    b.delete_topic(req.ext_fields.req_str("topic")?).await?;
    Ok(ok(req))
}

pub fn all_topic_config(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&b.topics.snapshot())))
}

pub fn topic_config(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&b.topic_config(req.ext_fields.req_str("topic")?)?)))
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

pub fn topic_stats(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let stats = b.topic_stats(req.ext_fields.req_str("topic")?)?;
    let entries: Vec<_> = stats
        .into_iter()
        .map(|(mq, s)| (mq, TopicOffset { last_update_timestamp: s.last_update_ms, max_offset: s.max_offset, min_offset: s.min_offset }))
        .collect();
    let body = format!("{{\"offsetTable\":{},\"topicPutTps\":0.0}}", body::object_keyed_map(&entries));
    Ok(ok(req).with_body(body))
}

pub fn create_group(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let config: SubscriptionGroupConfig = body::decode(&req.body)?;
    b.create_group(config)?;
    Ok(ok(req))
}

pub fn delete_group(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    b.delete_group(req.ext_fields.req_str("groupName")?, req.ext_fields.flag("cleanOffset"));
    Ok(ok(req))
}

pub fn all_groups(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&b.groups.snapshot())))
}

pub fn group_config(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&b.group_config(req.ext_fields.req_str("group")?)?)))
}

pub fn broker_config(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let version = serde_json::to_string(&b.topics.snapshot().data_version).unwrap_or_default();
    Ok(ok(req).with_ext("version", version).with_body(b.config_properties()))
}

/// UPDATE_BROKER_CONFIG: the body is `key=value` lines, as Java's `Properties`.
pub fn update_broker_config(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let text = std::str::from_utf8(&req.body).map_err(|_| BrokerError::invalid("the broker config is not UTF-8"))?;
    let changes = crate::config::parse_properties(text);
    b.update_config(&changes)?;
    Ok(ok(req))
}

pub fn runtime_info(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    Ok(ok(req).with_body(body::encode(&body::KvTable { table: b.runtime_info() })))
}

pub fn consumer_connections(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    match b.clients.connection(group) {
        Some(c) => Ok(ok(req).with_body(body::encode(&c))),
        None => Err(BrokerError::new(protocol::codes::response::CONSUMER_NOT_ONLINE, format!("the consumer group[{group}] not online"))),
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

pub fn consume_stats(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    let topic = req.ext_fields.raw("topic").filter(|t| !t.is_empty());
    let entries: Vec<_> = b
        .consume_stats(group, topic)?
        .into_iter()
        .map(|(mq, p)| {
            let wrapper = OffsetWrapper {
                broker_offset: p.broker_offset,
                consumer_offset: p.consumer_offset,
                last_timestamp: p.last_timestamp_ms,
                pull_offset: p.consumer_offset.max(0),
            };
            (mq, wrapper)
        })
        .collect();
    let body = format!("{{\"consumeTps\":0.0,\"offsetTable\":{}}}", body::object_keyed_map(&entries));
    Ok(ok(req).with_body(body))
}

pub fn consumed_by(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let groups = b.consumed_by(req.ext_fields.req_str("topic")?);
    Ok(ok(req).with_body(body::encode(&GroupList { group_list: groups })))
}

/// GET_CONSUMER_RUNNING_INFO: relayed to the consumer; its answer goes back as it came.
pub async fn consumer_running_info(b: &Arc<Broker>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    let ext = &req.ext_fields;
    let answer = b.consumer_running_info(ext.req_str("consumerGroup")?, ext.req_str("clientId")?, ext.flag("jstackEnable")).await?;
    let mut resp = RemotingCommand::response_to(req, answer.code).with_body(answer.body);
    resp.remark = answer.remark;
    Ok(resp)
}
