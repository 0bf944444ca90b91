//! The state the store's threads share: the CommitLog, the table of consume queues, the
//! key index, the wake-ups for parked pulls, disk usage, and the offsets that say how far
//! records are dispatched and synced. One `Arc<Shared>` is handed to the appender, the
//! flusher, the cleaner, the warmer and the readers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::arrivals::Arrivals;
use crate::commitlog::CommitLog;
use crate::config::StoreConfig;
use crate::consume_queue::{ConsumeQueue, CQ_ENTRY_BYTES};
use crate::disk::DiskUsage;
use crate::index::KeyIndex;
use crate::markers;
use crate::StoreError;

/// Consume queues by topic and queue id.
pub(crate) type QueueTable = HashMap<(String, i32), Arc<ConsumeQueue>>;

pub(crate) struct Shared {
    pub config: StoreConfig,
    pub commitlog: CommitLog,
    pub queues: RwLock<QueueTable>,
    pub index: KeyIndex,
    pub arrivals: Arrivals,
    pub stopped: AtomicBool,
    pub disk: DiskUsage,
    /// Records below this CommitLog offset are already indexed.
    pub index_skip_below: AtomicI64,
    /// CommitLog offset up to which records are dispatched to queues and index.
    pub dispatched_end: AtomicU64,
    /// Consume queues written since the last checkpoint.
    pub dirty_queues: Mutex<HashSet<(String, i32)>>,
    /// The published write end, for those who wait for it to move (replication's senders).
    pub written: tokio::sync::watch::Sender<u64>,
    /// A replica's store takes records only from its master (`append_replicated`).
    pub replica: AtomicBool,
    /// Truncations so far, and the lock under which the flushed end moves: a flush that began
    /// before a truncation does not claim bytes written after it.
    pub truncations: Mutex<u64>,
}

impl Shared {
    /// Nothing opened but the index: recovery finds the segments and the queues.
    pub fn new(config: StoreConfig, index: KeyIndex) -> Shared {
        Shared {
            commitlog: CommitLog {
                dir: config.commit_log_dir(),
                file_size: config.commit_log_file_bytes,
                segments: RwLock::new(Vec::new()),
                write_end: Default::default(),
                flushed_end: Default::default(),
                cache_window: config.cache_window_bytes,
            },
            disk: DiskUsage::new(&config),
            index_skip_below: AtomicI64::new(index.end_phys()),
            config,
            queues: RwLock::new(HashMap::new()),
            index,
            arrivals: Arrivals::default(),
            stopped: AtomicBool::new(false),
            dispatched_end: AtomicU64::new(0),
            dirty_queues: Mutex::new(HashSet::new()),
            written: tokio::sync::watch::Sender::new(0),
            replica: AtomicBool::new(false),
            truncations: Mutex::new(0),
        }
    }

    /// Syncs the consume queues written since the last checkpoint and the index, then
    /// records that everything below the flushed and dispatched offset is safe.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let target = self.dispatched_end.load(Ordering::Acquire).min(self.commitlog.flushed_end.load(Ordering::Acquire));
        let dirty = std::mem::take(&mut *self.dirty_queues.lock().unwrap_or_else(|e| e.into_inner()));
        for (topic, queue_id) in dirty {
            if let Some(q) = self.queue(&topic, queue_id) {
                q.sync()?;
            }
        }
        self.index.sync()?;
        let root = &self.config.root_dir;
        markers::write_checkpoint(root, target).map_err(|e| StoreError::io(root.join(markers::CHECKPOINT_FILE), e))
    }

    /// Bytes of all consume queues.
    pub fn count_consume_queue_bytes(&self) -> u64 {
        let queues = self.queues.read().unwrap_or_else(|e| e.into_inner());
        queues.values().map(|q| (q.max_offset() - q.min_offset()).max(0) as u64 * CQ_ENTRY_BYTES).sum()
    }

    /// Every consume queue, copied out of the table.
    pub fn all_queues(&self) -> Vec<Arc<ConsumeQueue>> {
        self.queues.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    pub fn queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.queues.read().unwrap_or_else(|e| e.into_inner()).get(&(topic.to_string(), queue_id)).cloned()
    }

    pub fn queue_or_create(&self, topic: &str, queue_id: i32) -> Result<Arc<ConsumeQueue>, StoreError> {
        if let Some(q) = self.queue(topic, queue_id) {
            return Ok(q);
        }
        let dir = self.config.consume_queue_dir().join(topic).join(queue_id.to_string());
        let q = Arc::new(ConsumeQueue::open(dir, self.config.consume_queue_file_entries)?);
        let mut map = self.queues.write().unwrap_or_else(|e| e.into_inner());
        Ok(map.entry((topic.to_string(), queue_id)).or_insert(q).clone())
    }

    /// Drops a queue's entries and files, and opens it again empty.
    pub fn reset_queue(&self, topic: &str, queue_id: i32) -> Result<Arc<ConsumeQueue>, StoreError> {
        let old = self.queues.write().unwrap_or_else(|e| e.into_inner()).remove(&(topic.to_string(), queue_id));
        if let Some(q) = old {
            q.remove_files()?;
        }
        self.queue_or_create(topic, queue_id)
    }
}
