//! Consumer offsets by `topic@group` and queue, kept in memory and flushed to
//! `config/consumerOffset.json` periodically and at shutdown.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::persist;

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OffsetFile {
    offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

pub struct OffsetManager {
    path: PathBuf,
    table: RwLock<BTreeMap<String, BTreeMap<i32, i64>>>,
    dirty: AtomicBool,
    /// Offsets reset by an admin, handed to the group's next pull of each queue.
    resets: std::sync::Mutex<std::collections::HashMap<(String, i32), i64>>,
    /// How many resets are pending, so pulls skip the lock when none is.
    pending_resets: std::sync::atomic::AtomicUsize,
}

fn key(topic: &str, group: &str) -> String {
    format!("{topic}@{group}")
}

impl OffsetManager {
    pub fn load(root: &std::path::Path) -> std::io::Result<OffsetManager> {
        let path = root.join("config").join("consumerOffset.json");
        let file: OffsetFile = persist::load(&path)?;
        Ok(OffsetManager {
            path,
            table: RwLock::new(file.offset_table),
            dirty: AtomicBool::new(false),
            resets: Default::default(),
            pending_resets: Default::default(),
        })
    }

    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        self.table.write().unwrap_or_else(|e| e.into_inner()).entry(key(topic, group)).or_default().insert(queue_id, offset);
        self.dirty.store(true, Ordering::Release);
    }

    /// Resets a queue's offset: committed now, and announced to the next pull.
    pub fn assign_reset(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        self.commit(group, topic, queue_id, offset);
        let mut resets = self.resets.lock().unwrap_or_else(|e| e.into_inner());
        resets.insert((key(topic, group), queue_id), offset);
        self.pending_resets.store(resets.len(), Ordering::Release);
    }

    /// The pending reset of a queue, once.
    pub fn take_reset(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        if self.pending_resets.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut resets = self.resets.lock().unwrap_or_else(|e| e.into_inner());
        let taken = resets.remove(&(key(topic, group), queue_id));
        self.pending_resets.store(resets.len(), Ordering::Release);
        taken
    }

    /// Whether an admin's reset of the queue waits for the group's next pull.
    pub fn has_reset(&self, group: &str, topic: &str, queue_id: i32) -> bool {
        self.pending_reset(group, topic, queue_id).is_some()
    }

    fn pending_reset(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        if self.pending_resets.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.resets.lock().unwrap_or_else(|e| e.into_inner()).get(&(key(topic, group), queue_id)).copied()
    }

    /// The group's offset of a queue: a pending reset, else the committed offset (Java's
    /// `queryOffset`).
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        if let Some(reset) = self.pending_reset(group, topic, queue_id) {
            return Some(reset);
        }
        self.table.read().unwrap_or_else(|e| e.into_inner()).get(&key(topic, group))?.get(&queue_id).copied()
    }

    /// Topics a group has offsets for.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        let suffix = format!("@{group}");
        self.table.read().unwrap_or_else(|e| e.into_inner()).keys().filter_map(|k| k.strip_suffix(&suffix).map(str::to_string)).collect()
    }

    /// Groups that have offsets for a topic.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        let prefix = format!("{topic}@");
        self.table.read().unwrap_or_else(|e| e.into_inner()).keys().filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)).collect()
    }

    pub fn remove_group(&self, group: &str) {
        let suffix = format!("@{group}");
        self.table.write().unwrap_or_else(|e| e.into_inner()).retain(|k, _| !k.ends_with(&suffix));
        self.dirty.store(true, Ordering::Release);
    }

    pub fn remove_topic(&self, topic: &str) {
        let prefix = format!("{topic}@");
        self.table.write().unwrap_or_else(|e| e.into_inner()).retain(|k, _| !k.starts_with(&prefix));
        self.dirty.store(true, Ordering::Release);
    }

    /// GET_ALL_CONSUMER_OFFSET's body: the whole table, as consumerOffset.json holds it.
    pub fn snapshot_json(&self) -> Vec<u8> {
        let file = OffsetFile { offset_table: self.table.read().unwrap_or_else(|e| e.into_inner()).clone() };
        serde_json::to_vec(&file).unwrap_or_default()
    }

    /// A replica takes its master's offsets over its own (Java's `putAll`: queues only the
    /// replica knows are kept). A body it cannot read changes nothing.
    pub fn merge_json(&self, body: &[u8]) -> Result<usize, String> {
        let value = protocol::body::fastjson_value(body).map_err(|e| e.to_string())?;
        let file: OffsetFile = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        let mut changed = 0;
        for (key, queues) in file.offset_table {
            let mine = table.entry(key).or_default();
            for (queue_id, offset) in queues {
                if mine.insert(queue_id, offset) != Some(offset) {
                    changed += 1;
                }
            }
        }
        drop(table);
        if changed > 0 {
            self.dirty.store(true, Ordering::Release);
        }
        Ok(changed)
    }

    /// Writes the table if it changed since the last flush.
    pub fn flush(&self) {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let file = OffsetFile { offset_table: self.table.read().unwrap_or_else(|e| e.into_inner()).clone() };
        let body = serde_json::to_vec_pretty(&file).unwrap_or_default();
        if let Err(e) = persist::write_atomic(&self.path, &body) {
            self.dirty.store(true, Ordering::Release);
            tracing::error!(path = %self.path.display(), error = %e, "failed to persist consumer offsets");
        }
    }
}
