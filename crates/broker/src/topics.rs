//! Topic configs: system topics, auto-creation from TBW102, 5.x attributes, and
//! `config/topics.json`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use protocol::body::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};
use protocol::codes::perm;
use protocol::names;

use crate::config::BrokerConfig;
use crate::persist;

/// Supported attributes with their allowed values and whether they may change later
/// (`TopicAttributes`).
const ATTRIBUTES: &[(&str, &[&str], bool)] = &[
    ("message.type", &["UNSPECIFIED", "NORMAL", "FIFO", "DELAY", "TRANSACTION", "MIXED"], true),
    ("queue.type", &["BatchCQ", "SimpleCQ"], false),
    ("cleanup.policy", &["DELETE", "COMPACTION"], false),
];

/// Queues of a dead-letter topic.
const DLQ_NUMS_PER_GROUP: i32 = 1;

pub struct TopicManager {
    state: Arc<RwLock<TopicConfigSerializeWrapper>>,
    /// Writes topics.json: at once and waited for on admin changes, in the background for
    /// topics created while serving (on send, for retry and DLQ topics).
    persister: persist::Persister,
    /// Woken whenever a topic is created, changed or deleted: the NameServers hear of it
    /// at once (the registration loop waits on it).
    changed: Arc<crate::register::Registration>,
    clock: Arc<dyn store::Clock>,
}

fn topic(name: &str, queues: i32, perm: i32) -> TopicConfig {
    TopicConfig { topic_name: name.to_string(), read_queue_nums: queues, write_queue_nums: queues, perm, ..Default::default() }
}

impl TopicManager {
    pub fn load(config: &BrokerConfig, changed: Arc<crate::register::Registration>, clock: Arc<dyn store::Clock>) -> std::io::Result<TopicManager> {
        let path = config.store_path_root_dir.join("config").join("topics.json");
        let mut state: TopicConfigSerializeWrapper = persist::load(&path)?;
        let rw = perm::READ | perm::WRITE;
        let mut system = vec![
            topic("SELF_TEST_TOPIC", 1, rw),
            topic("BenchmarkTest", 1024, rw),
            topic(&config.broker_cluster_name, 16, perm::INHERIT | if config.cluster_topic_enable { rw } else { 0 }),
            topic(&config.broker_name, 1, perm::INHERIT | if config.broker_topic_enable { rw } else { 0 }),
            topic("OFFSET_MOVED_EVENT", 1, rw),
            topic("SCHEDULE_TOPIC_XXXX", 18, rw),
            topic("RMQ_SYS_TRANS_HALF_TOPIC", 1, rw),
            topic("RMQ_SYS_TRANS_OP_HALF_TOPIC", 1, rw),
            topic(&format!("{}_REPLY_TOPIC", config.broker_cluster_name), 1, rw),
        ];
        if config.auto_create_topic_enable {
            system.push(topic(names::AUTO_CREATE_TOPIC_KEY, config.default_topic_queue_nums, perm::INHERIT | rw));
        }
        if config.trace_topic_enable {
            system.push(topic(&config.msg_trace_topic_name, 1, rw));
        }
        for t in system {
            state.topic_config_table.entry(t.topic_name.clone()).or_insert(t);
        }
        if state.data_version.timestamp == 0 {
            state.data_version = DataVersion { state_version: 0, timestamp: clock.now_ms(), counter: 0 };
        }
        let state = Arc::new(RwLock::new(state));
        let persister = persist::Persister::json(path, "topic configs", state.clone())?;
        let mgr = TopicManager { state, persister, changed, clock };
        mgr.persist();
        Ok(mgr)
    }

    pub fn get(&self, name: &str) -> Option<TopicConfig> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).topic_config_table.get(name).cloned()
    }

    pub fn snapshot(&self) -> TopicConfigSerializeWrapper {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn names(&self) -> Vec<String> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).topic_config_table.keys().cloned().collect()
    }

    /// Creates or replaces a topic; returns false when nothing changed.
    pub fn upsert(&self, config: TopicConfig) -> bool {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        if s.topic_config_table.get(&config.topic_name) == Some(&config) {
            return false;
        }
        s.topic_config_table.insert(config.topic_name.clone(), config);
        bump(&mut s.data_version, self.clock.now_ms());
        drop(s);
        self.persist();
        self.changed.request();
        true
    }

    /// A replica takes its master's whole table (`ha::sync`), when its data version differs:
    /// returns the topics it had that the master does not (None: the same version). The
    /// NameServers hear of it at the next registration.
    pub fn replace_all(&self, master: TopicConfigSerializeWrapper) -> Option<Vec<String>> {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        if s.data_version == master.data_version {
            return None;
        }
        let gone = s.topic_config_table.keys().filter(|t| !master.topic_config_table.contains_key(*t)).cloned().collect();
        *s = master;
        drop(s);
        self.persist();
        self.changed.request();
        Some(gone)
    }

    /// Creates the topic unless it exists; returns the topic and whether it is new.
    pub fn get_or_create(&self, config: TopicConfig) -> (TopicConfig, bool) {
        if let Some(t) = self.get(&config.topic_name) {
            return (t, false);
        }
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = s.topic_config_table.get(&config.topic_name) {
            return (t.clone(), false);
        }
        s.topic_config_table.insert(config.topic_name.clone(), config.clone());
        bump(&mut s.data_version, self.clock.now_ms());
        drop(s);
        self.persister.mark();
        self.changed.request();
        (config, true)
    }

    pub fn delete(&self, name: &str) -> bool {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        let removed = s.topic_config_table.remove(name).is_some();
        if removed {
            bump(&mut s.data_version, self.clock.now_ms());
        }
        drop(s);
        if removed {
            self.persist();
            self.changed.request();
        }
        removed
    }

    /// A new data version with the same topics: the NameServers take the topics again at the
    /// next registration, which this starts (as the Java broker does when `brokerPermission`
    /// changes, so routes show the new permission).
    pub fn touch(&self) {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        bump(&mut s.data_version, self.clock.now_ms());
        drop(s);
        self.persister.mark();
        self.changed.request();
    }

    /// A topic the broker makes for itself (retry and dead-letter topics), readable and
    /// writable with `queue_nums` queues, unless it exists.
    pub fn ensure_system_topic(&self, name: &str, queue_nums: i32) -> TopicConfig {
        self.get_or_create(topic(name, queue_nums.max(1), perm::READ | perm::WRITE)).0
    }

    /// `%RETRY%<group>`, with the group's `retryQueueNums` (heartbeats and send-backs, as
    /// the Java broker).
    pub fn ensure_retry_topic(&self, group: &str, queue_nums: i32) -> TopicConfig {
        self.ensure_system_topic(&names::retry_topic(group), queue_nums)
    }

    /// `%DLQ%<group>`, with one queue (the Java broker's `DLQ_NUMS_PER_GROUP`).
    pub fn ensure_dlq_topic(&self, group: &str) -> TopicConfig {
        self.ensure_system_topic(&names::dlq_topic(group), DLQ_NUMS_PER_GROUP)
    }

    /// Auto-creation on send (`msgCheck`): from a default topic that has PERM_INHERIT.
    pub fn create_from_default(&self, name: &str, default_topic: &str, client_queue_nums: i32) -> Option<TopicConfig> {
        let default = self.get(default_topic)?;
        if default.perm & perm::INHERIT == 0 {
            return None;
        }
        let queues = client_queue_nums.clamp(1, default.write_queue_nums.max(1));
        let t = TopicConfig { topic_sys_flag: 0, ..topic(name, queues, default.perm & !perm::INHERIT) };
        Some(self.get_or_create(t).0)
    }

    /// Writes topics.json and waits for it.
    pub fn persist(&self) {
        self.persister.save();
    }
}

fn bump(v: &mut DataVersion, now_ms: i64) {
    v.counter += 1;
    v.timestamp = now_ms;
}

/// Applies an attribute modification string (`+k=v,-k`) to `current`, as
/// `AttributeUtil.alterCurrentAttributes` does. Errors are the client-visible remark.
pub fn alter_attributes(create: bool, current: &BTreeMap<String, String>, modification: &str) -> Result<BTreeMap<String, String>, String> {
    let mut result = current.clone();
    let mut seen = std::collections::BTreeSet::new();
    for part in modification.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (sign, rest) = part.split_at(1);
        let (key, value) = match rest.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (rest, None),
        };
        if key.is_empty() || key.contains('+') || key.contains('-') {
            return Err("kv string format wrong.".into());
        }
        if !seen.insert(key.to_string()) {
            return Err(format!("alter duplication key. key: {key}"));
        }
        let Some((_, allowed, changeable)) = ATTRIBUTES.iter().find(|(k, _, _)| *k == key) else {
            return Err(format!("unsupported key: {key}"));
        };
        match sign {
            "+" => {
                let value = value.ok_or_else(|| "kv string format wrong.".to_string())?;
                if !create && !changeable {
                    return Err(format!("attempt to update an unchangeable attribute. key: {key}"));
                }
                if !allowed.contains(&value) {
                    return Err(format!("value is not in set: {allowed:?}"));
                }
                if key == "message.type" && value == "MIXED" {
                    return Err("MIXED message type is not supported.".into());
                }
                result.insert(key.to_string(), value.to_string());
            }
            "-" if !create => {
                if !changeable {
                    return Err(format!("attempt to update an unchangeable attribute. key: {key}"));
                }
                if result.remove(key).is_none() {
                    return Err(format!("attempt to delete a nonexistent key: {key}"));
                }
            }
            "-" => return Err(format!("only add attribute is supported while creating topic. key: {key}")),
            _ => return Err(format!("wrong format key: {key}")),
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_follow_java_rules() {
        let none = BTreeMap::new();
        let a = alter_attributes(true, &none, "+message.type=FIFO").unwrap();
        assert_eq!(a.get("message.type").map(String::as_str), Some("FIFO"));
        assert!(alter_attributes(true, &none, "+message.type=WEIRD").is_err());
        assert!(alter_attributes(true, &none, "+nope=1").unwrap_err().contains("unsupported key"));
        assert!(alter_attributes(true, &none, "-message.type").is_err());
        assert!(alter_attributes(true, &none, "+message.type=MIXED").is_err());
        let q = alter_attributes(true, &none, "+queue.type=BatchCQ").unwrap();
        assert!(alter_attributes(false, &q, "+queue.type=SimpleCQ").unwrap_err().contains("unchangeable"));
        let b = alter_attributes(false, &a, "-message.type").unwrap();
        assert!(b.is_empty());
    }
}
