//! Admin requests: topics, subscription groups, stats and runtime info.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use protocol::body::{self, GroupList, MessageQueue, SubscriptionGroupConfig, TopicConfig, TopicList};
use protocol::codes::response as rs;
use protocol::header::Fields;
use protocol::names;
use protocol::{ProtocolError, RemotingCommand};
use serde::Serialize;

use super::{error, ok};
use crate::topics::alter_attributes;
use crate::Broker;

pub fn create_topic(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let ext = &req.ext_fields;
    let topic = ext.req_str("topic")?;
    if let Err(m) = names::validate_topic(topic) {
        return Ok(error(req, rs::INVALID_PARAMETER, m));
    }
    let existing = b.topics.get(topic);
    let current = existing.as_ref().map(|t| t.attributes.clone()).unwrap_or_default();
    let attributes = match alter_attributes(existing.is_none(), &current, ext.raw("attributes").unwrap_or("")) {
        Ok(a) => a,
        Err(m) => return Ok(error(req, rs::SYSTEM_ERROR, m)),
    };
    let config = TopicConfig {
        topic_name: topic.to_string(),
        read_queue_nums: ext.req("readQueueNums")?,
        write_queue_nums: ext.req("writeQueueNums")?,
        perm: ext.req("perm")?,
        topic_filter_type: ext.raw("topicFilterType").unwrap_or("SINGLE_TAG").to_string(),
        topic_sys_flag: ext.opt("topicSysFlag")?.unwrap_or(0),
        order: ext.flag("order"),
        attributes,
    };
    if config.read_queue_nums < 0 || config.write_queue_nums < 0 || config.read_queue_nums > 1024 || config.write_queue_nums > 1024 {
        return Ok(error(req, rs::INVALID_PARAMETER, "queue numbers must be within 0..=1024"));
    }
    if b.topics.upsert(config) {
        tracing::info!(topic, "topic created or updated");
        b.register_now.notify_one();
    }
    Ok(ok(req))
}

pub async fn delete_topic(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let topic = req.ext_fields.req_str("topic")?;
    if names::NOT_ALLOWED_SEND_TOPICS.contains(&topic) {
        return Ok(error(req, rs::INVALID_PARAMETER, format!("The topic[{topic}] is conflict with system topic.")));
    }
    b.topics.delete(topic);
    b.offsets.remove_topic(topic);
    if let Err(e) = b.store.delete_topic(topic).await {
        return Ok(error(req, rs::SYSTEM_ERROR, e.to_string()));
    }
    b.register_now.notify_one();
    Ok(ok(req))
}

pub fn all_topic_config(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    Ok(ok(req).with_body(body::encode(&b.topics.snapshot())))
}

pub fn topic_config(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let topic = req.ext_fields.req_str("topic")?;
    match b.topics.get(topic) {
        Some(t) => Ok(ok(req).with_body(body::encode(&t))),
        None => Ok(error(req, rs::TOPIC_NOT_EXIST, format!("No topic in this broker. topic: {topic}"))),
    }
}

pub fn topic_names(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let list = TopicList { topic_list: b.topics.names().into_iter().collect(), broker_addr: None };
    Ok(ok(req).with_body(body::encode(&list)))
}

pub fn system_topics(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let mut list: std::collections::BTreeSet<String> = names::NOT_ALLOWED_SEND_TOPICS.iter().map(|s| s.to_string()).collect();
    list.insert(names::AUTO_CREATE_TOPIC_KEY.into());
    list.insert(b.config.broker_cluster_name.clone());
    list.insert(b.config.broker_name.clone());
    Ok(ok(req).with_body(body::encode(&TopicList { topic_list: list, broker_addr: Some(b.config.broker_addr()) })))
}

pub(super) fn mq(b: &Broker, topic: &str, queue_id: i32) -> MessageQueue {
    MessageQueue { topic: topic.to_string(), broker_name: b.config.broker_name.clone(), queue_id }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicOffset {
    last_update_timestamp: i64,
    max_offset: i64,
    min_offset: i64,
}

pub fn topic_stats(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let topic = req.ext_fields.req_str("topic")?;
    let Some(config) = b.topics.get(topic) else {
        return Ok(error(req, rs::TOPIC_NOT_EXIST, format!("topic[{topic}] not exist")));
    };
    let mut entries = Vec::new();
    for q in 0..config.write_queue_nums {
        let (min, max) = (b.store.min_offset(topic, q), b.store.max_offset(topic, q));
        let last = if max > 0 { last_store_time(b, topic, q, max) } else { 0 };
        entries.push((mq(b, topic, q), TopicOffset { last_update_timestamp: last, max_offset: max, min_offset: min }));
    }
    let body = format!("{{\"offsetTable\":{},\"topicPutTps\":0.0}}", body::object_keyed_map(&entries));
    Ok(ok(req).with_body(body))
}

fn last_store_time(b: &Broker, topic: &str, queue_id: i32, max: i64) -> i64 {
    b.store
        .get(topic, queue_id, max - 1, 1, &|_| true)
        .ok()
        .and_then(|r| protocol::message::decode_records(&r.messages).ok())
        .and_then(|m| m.first().map(|m| m.store_timestamp))
        .unwrap_or(0)
}

pub fn create_group(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let config: SubscriptionGroupConfig = body::decode(&req.body)?;
    if let Err(m) = names::validate_group(&config.group_name) {
        return Ok(error(req, rs::INVALID_PARAMETER, m));
    }
    b.groups.upsert(config);
    Ok(ok(req))
}

pub fn delete_group(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group = req.ext_fields.req_str("groupName")?;
    b.groups.delete(group);
    if req.ext_fields.flag("cleanOffset") {
        b.offsets.remove_group(group);
    }
    Ok(ok(req))
}

pub fn all_groups(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    Ok(ok(req).with_body(body::encode(&b.groups.snapshot())))
}

pub fn group_config(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group = req.ext_fields.req_str("group")?;
    match b.groups.get(group) {
        Some(g) => Ok(ok(req).with_body(body::encode(&g))),
        None => Ok(error(req, rs::SUBSCRIPTION_GROUP_NOT_EXIST, format!("No subscription group in this broker. group: {group}"))),
    }
}

pub fn broker_config(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let version = serde_json::to_string(&b.topics.snapshot().data_version).unwrap_or_default();
    Ok(ok(req).with_ext("version", version).with_body(b.config.to_properties()))
}

pub fn runtime_info(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let store = &b.store;
    let puts = b.stats.put_total.load(Ordering::Relaxed);
    let gets = b.stats.get_total.load(Ordering::Relaxed);
    let (min_phys, max_phys) = (store.commit_log_min_offset(), store.commit_log_max_offset());
    let earliest = if max_phys > min_phys {
        store.read_message(min_phys).ok().flatten().and_then(|r| protocol::message::decode_record(&r, false).ok()).map_or(0, |m| m.store_timestamp)
    } else {
        0
    };
    let started_ms = now_ms() - b.started.elapsed().as_millis() as i64;
    let disk_ratio = store.disk_used_ratio();
    let mut table = std::collections::BTreeMap::new();
    let mut put = |k: &str, v: String| {
        table.insert(k.to_string(), v);
    };
    put("brokerVersionDesc", "V5_3_3".into());
    put("brokerVersion", protocol::codes::version::CURRENT.to_string());
    put("brokerActive", "true".into());
    // Counters start when the broker starts; the "morning" marks are that start.
    put("msgPutTotalYesterdayMorning", "0".into());
    put("msgPutTotalTodayMorning", "0".into());
    put("msgPutTotalTodayNow", puts.to_string());
    put("msgGetTotalYesterdayMorning", "0".into());
    put("msgGetTotalTodayMorning", "0".into());
    put("msgGetTotalTodayNow", gets.to_string());
    put("putTps", b.stats.tps(true));
    put("getTransferredTps", b.stats.tps(false));
    put("getFoundTps", b.stats.tps(false));
    put("getMissTps", "0.00 0.00 0.00".into());
    put("getTotalTps", b.stats.tps(false));
    put("dispatchBehindBytes", "0".into());
    put("pageCacheLockTimeMills", "0".into());
    put("earliestMessageTimeStamp", earliest.to_string());
    put("startAcceptSendRequestTimeStamp", started_ms.to_string());
    put("bootTimestamp", started_ms.to_string());
    put("commitLogMinOffset", min_phys.to_string());
    put("commitLogMaxOffset", max_phys.to_string());
    put("commitLogDiskRatio", disk_ratio.to_string());
    put("consumeQueueDiskRatio", disk_ratio.to_string());
    put("remainHowManyDataToFlush", (max_phys - store.flushed_offset()).max(0).to_string());
    put("remainHowManyDataToCommit", "0".into());
    put("remainTransientStoreBufferNumbs", "0".into());
    for pool in ["send", "pull", "litePull", "query", "ack"] {
        // Requests are served by async tasks, not bounded thread pools: nothing queues.
        put(&format!("{pool}ThreadPoolQueueSize"), "0".into());
        put(&format!("{pool}ThreadPoolQueueCapacity"), "0".into());
        put(&format!("{pool}ThreadPoolQueueHeadWaitTimeMills"), "0".into());
    }
    put("EndTransactionQueueSize", "0".into());
    put("EndTransactionThreadPoolQueueCapacity", "0".into());
    for k in ["timerReadBehind", "timerOffsetBehind", "timerCongestNum", "timerEnqueueTps", "timerDequeueTps"] {
        // No timer store yet: nothing is behind or congested.
        put(k, "0".into());
    }
    put("runtime", format!("[ {} seconds ]", b.started.elapsed().as_secs()));
    Ok(ok(req).with_body(body::encode(&body::KvTable { table })))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub fn consumer_connections(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    match b.clients.connection(group) {
        Some(c) => Ok(ok(req).with_body(body::encode(&c))),
        None => Ok(error(req, rs::CONSUMER_NOT_ONLINE, format!("the consumer group[{group}] not online"))),
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

pub fn consume_stats(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    let topics: Vec<String> = match req.ext_fields.raw("topic").filter(|t| !t.is_empty()) {
        Some(t) => vec![t.to_string()],
        None => {
            let mut t = b.offsets.topics_of_group(group);
            if let Some(g) = b.clients.consumer_group(group) {
                t.extend(g.subscriptions.keys().cloned());
            }
            t.sort();
            t.dedup();
            t
        }
    };
    let mut entries = Vec::new();
    for topic in &topics {
        let Some(config) = b.topics.get(topic) else { continue };
        for q in 0..config.read_queue_nums {
            let broker_offset = b.store.max_offset(topic, q);
            let consumer_offset = b.offsets.query(group, topic, q).unwrap_or(-1);
            let last = if consumer_offset > 0 { last_store_time(b, topic, q, consumer_offset) } else { 0 };
            entries.push((mq(b, topic, q), OffsetWrapper { broker_offset, consumer_offset, last_timestamp: last, pull_offset: consumer_offset.max(0) }));
        }
    }
    if entries.is_empty() {
        return Ok(error(req, rs::CONSUMER_NOT_ONLINE, format!("the consumer group[{group}] has no offsets or subscriptions here")));
    }
    let body = format!("{{\"consumeTps\":0.0,\"offsetTable\":{}}}", body::object_keyed_map(&entries));
    Ok(ok(req).with_body(body))
}

pub fn consumed_by(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let topic = req.ext_fields.req_str("topic")?;
    let mut groups: std::collections::BTreeSet<String> = b.clients.groups_of_topic(topic).into_iter().collect();
    groups.extend(b.offsets.groups_of_topic(topic));
    Ok(ok(req).with_body(body::encode(&GroupList { group_list: groups })))
}

/// GET_CONSUMER_RUNNING_INFO: asked of the broker, answered by the consumer client over its
/// own connection; the broker relays the client's answer.
pub async fn consumer_running_info(b: &Arc<Broker>, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group = req.ext_fields.req_str("consumerGroup")?;
    let client_id = req.ext_fields.req_str("clientId")?;
    let Some(channel) = b.clients.consumer_channel(group, client_id) else {
        return Ok(error(req, rs::SYSTEM_ERROR, format!("The Consumer <{client_id}> not online")));
    };
    let mut forward = RemotingCommand::request(req.code);
    forward.ext_fields = req.ext_fields.clone();
    match channel.invoke(forward, std::time::Duration::from_secs(5)).await {
        Ok(answer) => {
            let mut resp = RemotingCommand::response_to(req, answer.code).with_body(answer.body);
            resp.remark = answer.remark;
            Ok(resp)
        }
        Err(e) => Ok(error(req, rs::SYSTEM_ERROR, format!("invoke consumer <{client_id}> failed: {e}"))),
    }
}
