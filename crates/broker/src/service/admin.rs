//! Administration: topics and subscription groups, topic and consumer statistics, the
//! broker's runtime info, and what can change while serving (`brokerPermission`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use protocol::body::{MessageQueue, SubscriptionGroupConfig, TopicConfig};
use protocol::codes::response as rs;
use protocol::names;

use crate::error::{BrokerError, BrokerResult};
use crate::topics::alter_attributes;
use crate::Broker;

/// UPDATE_AND_CREATE_TOPIC: the topic as asked, with `+key=value` / `-key` attribute changes.
#[derive(Debug, Clone)]
pub struct CreateTopic {
    pub config: TopicConfig,
    pub attributes: String,
}

/// A queue's offsets and when its newest message was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStats {
    pub min_offset: i64,
    pub max_offset: i64,
    pub last_update_ms: i64,
}

/// A group's progress on one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueProgress {
    pub broker_offset: i64,
    /// -1 when the group has committed nothing.
    pub consumer_offset: i64,
    pub last_timestamp_ms: i64,
}

/// Most queues a topic may have, read or write.
const MAX_QUEUE_NUMS: i32 = 1024;

impl Broker {
    /// A replica's topics and groups are its master's (`ha::sync`): changes are made there
    /// (Java has the check, `validateSlave`, but calls it nowhere: a replica took the change
    /// and lost it at the next copy).
    pub(crate) fn refuse_on_replica(&self) -> BrokerResult<()> {
        if self.runtime.role().is_master() {
            return Ok(());
        }
        Err(BrokerError::system("Can't modify topic or subscription group from slave broker, please execute it from master broker."))
    }

    pub async fn create_topic(&self, req: CreateTopic) -> BrokerResult<()> {
        self.refuse_on_replica()?;
        let name = req.config.topic_name.clone();
        names::validate_topic(&name).map_err(BrokerError::invalid)?;
        if self.config.validate_system_topic_when_update_topic && self.is_system_topic(&name) {
            return Err(BrokerError::invalid(format!("The topic[{name}] is conflict with system topic.")));
        }
        let existing = self.topics.get(&name);
        let current = existing.as_ref().map(|t| t.attributes.clone()).unwrap_or_default();
        let attributes = alter_attributes(existing.is_none(), &current, &req.attributes).map_err(BrokerError::system)?;
        let config = TopicConfig { attributes, ..req.config };
        let queues_ok = |n: i32| (0..=MAX_QUEUE_NUMS).contains(&n);
        if !queues_ok(config.read_queue_nums) || !queues_ok(config.write_queue_nums) {
            return Err(BrokerError::invalid("queue numbers must be within 0..=1024"));
        }
        if self.topics.upsert(config) {
            tracing::info!(topic = %name, "topic created or updated");
            // Routed before the answer, as Java's UPDATE_AND_CREATE_TOPIC registers first.
            self.registration.settled(crate::register::SETTLE_WAIT).await;
        }
        Ok(())
    }

    pub async fn delete_topic(&self, topic: &str) -> BrokerResult<()> {
        self.refuse_on_replica()?;
        if names::is_not_allowed_send_topic(topic) {
            return Err(BrokerError::invalid(format!("The topic[{topic}] is conflict with system topic.")));
        }
        self.topics.delete(topic);
        self.drop_topic_data(topic).await.map_err(|e| BrokerError::system(e.to_string()))
    }

    /// What a deleted topic leaves behind goes: its consumer offsets, its metric series and its
    /// consume queues (its CommitLog records age out with retention).
    pub(crate) async fn drop_topic_data(&self, topic: &str) -> Result<(), store::PutError> {
        self.offsets.remove_topic(topic);
        self.metrics.forget_topic(topic);
        self.store.delete_topic(topic).await
    }

    pub fn topic_config(&self, topic: &str) -> BrokerResult<TopicConfig> {
        self.topics.get(topic).ok_or_else(|| BrokerError::new(rs::TOPIC_NOT_EXIST, format!("No topic in this broker. topic: {topic}")))
    }

    /// Java's system topics as its broker lists them (GET_SYSTEM_TOPIC_LIST_FROM_BROKER):
    /// `TopicValidator`'s set, and those the broker adds at start: its cluster's and its own
    /// name, the reply, POP journal, broker-member and timer topics, and the trace topic
    /// when `traceTopicEnable`.
    pub fn system_topics(&self) -> BTreeSet<String> {
        let c = &self.config;
        let mut list: BTreeSet<String> = names::SYSTEM_TOPICS.iter().map(|s| s.to_string()).collect();
        list.extend([
            c.broker_cluster_name.clone(),
            c.broker_name.clone(),
            format!("{}_REPLY_TOPIC", c.broker_cluster_name),
            crate::pop::journal::revive_topic(&c.broker_cluster_name),
            format!("{}SYNC_BROKER_MEMBER_{}", names::SYSTEM_TOPIC_PREFIX, c.broker_name),
        ]);
        if c.timer_wheel_enable {
            list.insert(crate::timer::TIMER_TOPIC.into());
        }
        if c.trace_topic_enable {
            list.insert(c.msg_trace_topic_name.clone());
        }
        list
    }

    /// Whether `topic` is a system topic (Java's `TopicValidator.isSystemTopic`): one of
    /// `system_topics`, or named `rmq_sys_…`. The gRPC front end refuses clients these.
    pub fn is_system_topic(&self, topic: &str) -> bool {
        // Without building the set: clients' sends and receives and every scrape ask this.
        let c = &self.config;
        topic.starts_with(names::SYSTEM_TOPIC_PREFIX)
            || names::SYSTEM_TOPICS.contains(&topic)
            || topic == c.broker_cluster_name
            || topic == c.broker_name
            || topic.strip_suffix("_REPLY_TOPIC") == Some(c.broker_cluster_name.as_str())
            || (c.trace_topic_enable && topic == c.msg_trace_topic_name)
    }

    pub fn message_queue(&self, topic: &str, queue_id: i32) -> MessageQueue {
        MessageQueue { topic: topic.to_string(), broker_name: self.config.broker_name.clone(), queue_id }
    }

    /// GET_TOPIC_STATS_INFO: each write queue's offsets.
    pub fn topic_stats(&self, topic: &str) -> BrokerResult<Vec<(MessageQueue, QueueStats)>> {
        let Some(config) = self.topics.get(topic) else {
            return Err(BrokerError::new(rs::TOPIC_NOT_EXIST, format!("topic[{topic}] not exist")));
        };
        Ok((0..config.write_queue_nums)
            .map(|q| {
                let (min, max) = (self.store.min_offset(topic, q), self.store.max_offset(topic, q));
                let last = if max > 0 { self.store_time_before(topic, q, max) } else { 0 };
                (self.message_queue(topic, q), QueueStats { min_offset: min, max_offset: max, last_update_ms: last })
            })
            .collect())
    }

    /// When the message just before queue offset `offset` was stored (0 when unknown).
    fn store_time_before(&self, topic: &str, queue_id: i32, offset: i64) -> i64 {
        self.store
            .get(topic, queue_id, offset - 1, 1, &|_| true)
            .ok()
            .and_then(|r| protocol::message::decode_records(&r.messages).ok())
            .and_then(|m| m.first().map(|m| m.store_timestamp))
            .unwrap_or(0)
    }

    pub fn create_group(&self, config: SubscriptionGroupConfig) -> BrokerResult<()> {
        self.refuse_on_replica()?;
        names::validate_group(&config.group_name).map_err(BrokerError::invalid)?;
        self.groups.upsert(config);
        Ok(())
    }

    pub fn delete_group(&self, group: &str, clean_offset: bool) -> BrokerResult<()> {
        self.refuse_on_replica()?;
        self.groups.delete(group);
        self.metrics.forget_group(group);
        if clean_offset {
            self.offsets.remove_group(group);
        }
        Ok(())
    }

    pub fn group_config(&self, group: &str) -> BrokerResult<SubscriptionGroupConfig> {
        self.groups
            .get(group)
            .ok_or_else(|| BrokerError::new(rs::SUBSCRIPTION_GROUP_NOT_EXIST, format!("No subscription group in this broker. group: {group}")))
    }

    /// GET_CONSUME_STATS, as Java's `getConsumeStats`: the topics the group has offsets of (or
    /// the one asked for), less those its online members do not subscribe to (when any is
    /// online). A group with no offsets (a broadcasting one, one that never committed) has
    /// none: an empty answer, which the Java admin reports as "not consume any message" or
    /// "under the broadcast mode".
    pub fn consume_stats(&self, group: &str, topic: Option<&str>) -> BrokerResult<Vec<(MessageQueue, QueueProgress)>> {
        let mut topics: Vec<String> = match topic {
            Some(t) => vec![t.to_string()],
            None => self.offsets.topics_of_group(group),
        };
        if let Some(g) = self.clients.consumer_group(group).filter(|g| !g.subscriptions.is_empty()) {
            topics.retain(|t| g.subscriptions.contains_key(t));
        }
        topics.sort();
        topics.dedup();
        let mut entries = Vec::new();
        for topic in &topics {
            let Some(config) = self.topics.get(topic) else { continue };
            for q in 0..config.read_queue_nums {
                let broker_offset = self.store.max_offset(topic, q);
                let consumer_offset = self.offsets.query(group, topic, q).unwrap_or(-1);
                let last = if consumer_offset > 0 { self.store_time_before(topic, q, consumer_offset) } else { 0 };
                entries.push((self.message_queue(topic, q), QueueProgress { broker_offset, consumer_offset, last_timestamp_ms: last }));
            }
        }
        Ok(entries)
    }

    /// QUERY_TOPIC_CONSUME_BY_WHO: groups that subscribe to the topic or committed offsets of it.
    pub fn consumed_by(&self, topic: &str) -> BTreeSet<String> {
        let mut groups: BTreeSet<String> = self.clients.groups_of_topic(topic).into_iter().collect();
        groups.extend(self.offsets.groups_of_topic(topic));
        groups
    }

    /// UPDATE_BROKER_CONFIG: keys that can change while serving. Today `brokerPermission`;
    /// any other key is refused by name, and nothing changes unless every key is accepted.
    pub fn update_config(&self, changes: &BTreeMap<String, String>) -> BrokerResult<()> {
        let mut permission = None;
        for (key, value) in changes {
            match key.as_str() {
                "brokerPermission" => {
                    let p: i32 = value.trim().parse().map_err(|_| BrokerError::invalid(format!("brokerPermission `{value}` is not a number")))?;
                    if !(0..=7).contains(&p) {
                        return Err(BrokerError::invalid(format!("brokerPermission {p} is not a permission (0-7)")));
                    }
                    permission = Some(p);
                }
                other => return Err(BrokerError::system(format!("the broker config key `{other}` cannot be changed while the broker runs"))),
            }
        }
        if let Some(p) = permission {
            self.runtime.set_permission(p);
            tracing::info!(permission = p, "brokerPermission changed");
            // The NameServers take it with the topics of a new data version, registered now.
            self.topics.touch();
        }
        Ok(())
    }

    /// The broker's config as `key=value` lines, with what changed while serving.
    pub fn config_properties(&self) -> String {
        let mut current = self.config.clone();
        current.broker_permission = self.runtime.permission();
        current.to_properties()
    }

    /// GET_BROKER_RUNTIME_INFO: the Java broker's keys, as far as they mean something here.
    pub fn runtime_info(&self) -> BTreeMap<String, String> {
        let store = &self.store;
        let puts = self.stats.put_total.load(Ordering::Relaxed);
        let gets = self.stats.get_total.load(Ordering::Relaxed);
        let (min_phys, max_phys) = (store.commit_log_min_offset(), store.commit_log_max_offset());
        let earliest = if max_phys > min_phys {
            store.read_message(min_phys).ok().flatten().and_then(|r| protocol::message::decode_record(&r, false).ok()).map_or(0, |m| m.store_timestamp)
        } else {
            0
        };
        let started_ms = self.clock.now_ms() - self.started.elapsed().as_millis() as i64;
        let disk_ratio = store.disk_used_ratio();
        let mut table = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            table.insert(k.to_string(), v);
        };
        self.stats.puts.runtime_info(puts, &mut put);
        // Java's: the CommitLog directory's size and free space, and its used ratio by path.
        if let Some((total, free)) = store.commit_log_dir_space() {
            put("commitLogDirCapacity", format!("Total : {}, Free : {}.", human_bytes(total), human_bytes(free)));
        }
        put(&format!("commitLogDiskRatio_{}", store.config().commit_log_dir().display()), disk_ratio.to_string());
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
        put("putTps", self.stats.tps(true));
        put("getTransferredTps", self.stats.tps(false));
        put("getFoundTps", self.stats.tps(false));
        put("getMissTps", "0.00 0.00 0.00".into());
        put("getTotalTps", self.stats.tps(false));
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
        // Ours: replication (mqadmin haStatus has the detail).
        let role = self.runtime.role();
        put("brokerRole", role.name().into());
        if role.is_master() {
            let links = self.ha.replicas();
            let max_lag = links.iter().map(|l| (max_phys as u64).saturating_sub(l.acked)).max().unwrap_or(0);
            put("haReplicaNum", links.len().to_string());
            put("haInSyncReplicaNum", self.ha.in_sync(max_phys as u64).to_string());
            put("haMaxReplicaLagBytes", max_lag.to_string());
        } else {
            let f = self.ha.follower();
            put("haMasterAddr", f.master_ha_addr.unwrap_or_default());
            put("haLagBytes", f.master_end.saturating_sub(max_phys as u64).to_string());
        }
        if let Some(v) = self.ha.view() {
            put("haMasterEpoch", v.master_epoch.to_string());
            put("haInSyncSet", v.in_sync.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(","));
        }
        put("EndTransactionQueueSize", "0".into());
        put("EndTransactionThreadPoolQueueCapacity", "0".into());
        // Timers: the Java keys (nothing is read behind or congested in our design; the offset
        // behind is what waits), and ours.
        let (pending, next_due) = {
            let wheel = self.timers.wheel();
            (wheel.len(), wheel.next_due())
        };
        for k in ["timerReadBehind", "timerCongestNum", "timerEnqueueTps", "timerDequeueTps"] {
            put(k, "0".into());
        }
        put("timerOffsetBehind", pending.to_string());
        put("timerPendingCount", pending.to_string());
        put("timerNextDueMs", next_due.unwrap_or(0).to_string());
        put("timerDeliveredTotal", self.timers.delivered.load(Ordering::Relaxed).to_string());
        put("timerLastLatenessMs", self.timers.last_lateness_ms.load(Ordering::Relaxed).to_string());
        // Ours: undecided transactions, with the age of the oldest, in all and per topic
        // (`topic:count:oldestAgeMs` joined by `;`).
        let now = self.clock.now_ms();
        let mut by_topic: BTreeMap<String, (usize, i64)> = BTreeMap::new();
        for h in self.transactions.table().pending.values() {
            let e = by_topic.entry(h.topic.clone()).or_default();
            e.0 += 1;
            e.1 = e.1.max(now.saturating_sub(h.store_timestamp));
        }
        put("transactionUndecidedCount", by_topic.values().map(|v| v.0).sum::<usize>().to_string());
        put("transactionUndecidedOldestAgeMs", by_topic.values().map(|v| v.1).max().unwrap_or(0).to_string());
        put("transactionUndecidedTopics", by_topic.iter().map(|(t, (n, age))| format!("{t}:{n}:{age}")).collect::<Vec<_>>().join(";"));
        put("runtime", format!("[ {} seconds ]", self.started.elapsed().as_secs()));
        table
    }
}

/// Bytes as Java's `MixAll.humanReadableByteCount(bytes, false)` writes them ("1.5 GiB").
fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exp = ((bytes as f64).ln() / 1024f64.ln()) as i32;
    let unit = b"KMGTPE"[(exp - 1).clamp(0, 5) as usize] as char;
    format!("{:.1} {unit}iB", bytes as f64 / 1024f64.powi(exp))
}

#[cfg(test)]
mod human_tests {
    #[test]
    fn bytes_are_written_as_javas_human_readable_count() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(270_000_000_000), "251.5 GiB");
    }
}
