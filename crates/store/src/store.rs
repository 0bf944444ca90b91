use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::message::{decode_record, sys_flag};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::appender::{self, Job};
use crate::commitlog::CommitLog;
use crate::consume_queue::{ConsumeQueue, CqEntry, CQ_ENTRY_BYTES};
use crate::index::{IndexLimits, KeyIndex};
use crate::retention::{self, FileAge, RetentionPolicy};
use crate::{recovery, PutError, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Acknowledge after the write reaches the page cache; flush periodically.
    Async,
    /// Acknowledge only after an fdatasync covers the message (group commit).
    Sync,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub root_dir: PathBuf,
    /// `mappedFileSizeCommitLog`.
    pub commit_log_file_bytes: u64,
    /// `mappedFileSizeConsumeQueue` / 20.
    pub consume_queue_file_entries: u64,
    pub flush_mode: FlushMode,
    /// `flushIntervalCommitLog`, for ASYNC_FLUSH.
    pub flush_interval: Duration,
    /// `syncFlushTimeout`: a SYNC_FLUSH put slower than this answers FLUSH_DISK_TIMEOUT.
    pub sync_flush_timeout: Duration,
    /// Puts waiting for the appender; senders wait beyond this.
    pub append_queue_depth: usize,
    /// `maxTransferCountOnMessageInMemory` / `maxTransferBytesOnMessageInMemory`.
    pub max_transfer_count: usize,
    pub max_transfer_bytes: usize,
    /// Verify body CRCs on every read, not only in recovery.
    pub check_crc_on_read: bool,
    /// How long a put may wait for room in the append queue before it is refused as busy
    /// (None: wait as long as it takes).
    pub append_wait: Option<Duration>,
    /// Check every record of the files recovery reads, after a clean shutdown too (the last
    /// file). Off, a clean start checks only the last record and starts at once.
    pub check_crc_on_recover: bool,
    /// Start even when recovery finds corruption inside the CommitLog, dropping every
    /// record from the damage on. Off by default: the store refuses to start instead.
    pub truncate_corrupt: bool,
    pub retention: RetentionPolicy,
    /// `cleanResourceInterval`: how often retention and disk usage are checked.
    pub clean_interval: Duration,
    /// Count usage against this many bytes instead of the filesystem's size.
    pub disk_capacity_bytes: Option<u64>,
    /// `maxHashSlotNum` and `maxIndexNum` of each index file.
    pub index_limits: IndexLimits,
    /// How many bytes of CommitLog pages ahead of the write end an idle-priority thread brings
    /// into the page cache for the appender (0: no such thread).
    pub warm_ahead_bytes: u64,
    /// How many bytes of the CommitLog behind the write end stay in the page cache. Flushed
    /// pages further behind are dropped from it, so new appends reuse their memory, and reads
    /// from the disk behind it drop what they read. 0: the kernel decides what stays.
    pub cache_window_bytes: u64,
    /// Store timestamps and retention ages come from this clock.
    pub clock: Arc<dyn crate::Clock>,
}

impl StoreConfig {
    pub fn new(root_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            root_dir: root_dir.into(),
            commit_log_file_bytes: 1024 * 1024 * 1024,
            consume_queue_file_entries: 300_000,
            flush_mode: FlushMode::Async,
            flush_interval: Duration::from_millis(500),
            sync_flush_timeout: Duration::from_millis(5000),
            append_queue_depth: 16_384,
            max_transfer_count: 32,
            max_transfer_bytes: 256 * 1024,
            check_crc_on_read: false,
            check_crc_on_recover: true,
            append_wait: None,
            truncate_corrupt: false,
            retention: RetentionPolicy::default(),
            clean_interval: Duration::from_secs(10),
            disk_capacity_bytes: None,
            index_limits: IndexLimits::default(),
            warm_ahead_bytes: 0,
            cache_window_bytes: 0,
            clock: Arc::new(crate::SystemClock),
        }
    }

    pub fn commit_log_dir(&self) -> PathBuf {
        self.root_dir.join("commitlog")
    }

    pub fn consume_queue_dir(&self) -> PathBuf {
        self.root_dir.join("consumequeue")
    }
}

/// One encoded record (offsets and store time still zero) with what dispatch needs.
#[derive(Debug)]
pub struct EncodedRecord {
    pub bytes: BytesMut,
    pub tags_code: i64,
    /// Index keys: each KEYS entry and the UNIQ_KEY.
    pub keys: Vec<String>,
}

/// Records for one topic and queue, appended contiguously with consecutive queue offsets.
#[derive(Debug)]
pub struct PutMessage {
    pub topic: String,
    pub queue_id: i32,
    pub records: Vec<EncodedRecord>,
    /// The WAIT property: under SYNC_FLUSH, answer only once flushed.
    pub wait_flush: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub first_queue_offset: i64,
    pub phys_offsets: Vec<i64>,
    pub store_timestamp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    Found,
    NoMatchedMessage,
    NoMessageInQueue,
    OffsetTooSmall,
    OffsetOverflowOne,
    OffsetOverflowBadly,
    /// The queue does not exist.
    NoMatchedLogicQueue,
}

#[derive(Debug, Clone)]
pub struct GetResult {
    pub status: GetStatus,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    /// Concatenated stored records, exactly as in the CommitLog.
    pub messages: Bytes,
    pub message_count: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundaryType {
    Lower,
    Upper,
}

/// Wakes long-polling readers when a queue grows.
#[derive(Default)]
pub struct Arrivals {
    waiters: Mutex<HashMap<(String, i32), Arc<Notify>>>,
}

impl Arrivals {
    pub fn notifier(&self, topic: &str, queue_id: i32) -> Arc<Notify> {
        let mut map = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((topic.to_string(), queue_id)).or_default().clone()
    }

    pub(crate) fn notify(&self, topic: &str, queue_id: i32) {
        let map = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get(&(topic.to_string(), queue_id)) {
            n.notify_waiters();
        }
    }
}

pub(crate) struct Shared {
    pub config: StoreConfig,
    pub commitlog: CommitLog,
    pub queues: RwLock<HashMap<(String, i32), Arc<ConsumeQueue>>>,
    pub index: KeyIndex,
    pub arrivals: Arrivals,
    pub stopped: std::sync::atomic::AtomicBool,
    /// Used fraction of the disk (or of `disk_capacity_bytes`) at the last check, ×10⁶.
    pub disk_used_ppm: std::sync::atomic::AtomicU64,
    /// At the last check: the filesystem's size in bytes (0 with `disk_capacity_bytes`) and
    /// the CommitLog's write end, so `disk_full` can add what was written since.
    pub disk_total_bytes: std::sync::atomic::AtomicU64,
    pub disk_measured_end: std::sync::atomic::AtomicU64,
    /// Records below this CommitLog offset are already indexed.
    pub index_skip_below: std::sync::atomic::AtomicI64,
    /// CommitLog offset up to which records are dispatched to queues and index.
    pub dispatched_end: std::sync::atomic::AtomicU64,
    /// Bytes of all consume queues, counted by each retention pass.
    pub consume_queue_bytes: std::sync::atomic::AtomicU64,
    /// Consume queues written since the last checkpoint.
    pub dirty_queues: Mutex<std::collections::HashSet<(String, i32)>>,
}

impl Shared {
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
        recovery::write_checkpoint(root, target).map_err(|e| StoreError::io(root.join(recovery::CHECKPOINT_FILE), e))
    }

    /// Bytes the store holds: the live CommitLog range, plus the consume queues as of the
    /// last retention pass (summing every queue on each put would cost the append path).
    fn store_bytes(&self) -> u64 {
        let cl = self.commitlog.max_offset().saturating_sub(self.commitlog.min_offset());
        cl + self.consume_queue_bytes.load(Ordering::Acquire)
    }

    fn count_consume_queue_bytes(&self) -> u64 {
        let queues = self.queues.read().unwrap_or_else(|e| e.into_inner());
        queues.values().map(|q| (q.max_offset() - q.min_offset()).max(0) as u64 * CQ_ENTRY_BYTES).sum()
    }

    /// Used fraction of the disk the store lives on, or of the configured capacity.
    pub fn disk_used_ratio(&self) -> f64 {
        self.disk_usage().0
    }

    /// Used fraction as `disk_used_ratio`, and the filesystem's size in bytes (0 when the
    /// configured capacity is used, or statvfs fails).
    fn disk_usage(&self) -> (f64, u64) {
        match self.config.disk_capacity_bytes {
            Some(cap) if cap > 0 => (self.store_bytes() as f64 / cap as f64, 0),
            _ => match nix::sys::statvfs::statvfs(&self.config.root_dir) {
                Ok(s) if s.blocks() > 0 => {
                    let total = s.blocks() as f64;
                    ((total - s.blocks_available() as f64) / total, s.blocks() as u64 * s.fragment_size() as u64)
                }
                _ => (0.0, 0),
            },
        }
    }

    /// Measures the disk (retention passes): what `disk_full` starts from until the next one.
    fn measure_disk(&self) -> f64 {
        let (ratio, total) = self.disk_usage();
        self.disk_measured_end.store(self.commitlog.max_offset(), Ordering::Release);
        self.disk_total_bytes.store(total, Ordering::Release);
        self.disk_used_ppm.store((ratio * 1e6) as u64, Ordering::Release);
        ratio
    }

    /// Why a put of `bytes` more must be refused for lack of space, if it must. `write_pos` is
    /// where the appender will write it (records of its batch before it are not published yet).
    pub fn disk_full(&self, write_pos: u64, bytes: u64) -> Option<String> {
        let limit = self.config.retention.disk_space_warning_level_ratio;
        let ratio = match self.config.disk_capacity_bytes {
            Some(cap) if cap > 0 => (self.store_bytes() + write_pos.saturating_sub(self.commitlog.max_offset()) + bytes) as f64 / cap as f64,
            // The last measurement plus what the CommitLog grew since: the check does not lag
            // the writes by a retention interval.
            _ => {
                let total = self.disk_total_bytes.load(Ordering::Acquire);
                let grown = (write_pos + bytes).saturating_sub(self.disk_measured_end.load(Ordering::Acquire));
                self.disk_used_ppm.load(Ordering::Acquire) as f64 / 1e6 + if total > 0 { grown as f64 / total as f64 } else { 0.0 }
            }
        };
        (ratio > limit).then(|| {
            format!("disk full: usage {:.1}% is over diskSpaceWarningLevelRatio {:.0}%; sends are refused until space is freed", ratio * 100.0, limit * 100.0)
        })
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

    /// Writes a record's consume-queue entry and index keys. Prepared and rolled-back
    /// transaction records are not consumable and get no entry.
    pub fn dispatch(&self, d: &Dispatch<'_>) -> Result<(), StoreError> {
        if !d.consumable() {
            return Ok(());
        }
        let cq = self.queue_or_create(d.topic, d.queue_id)?;
        if d.queue_offset >= cq.max_offset() {
            cq.put(d.queue_offset, d.entry())?;
        }
        self.index_keys(d)
    }

    /// Indexes a record's keys, unless recovery finds them indexed already.
    pub fn index_keys(&self, d: &Dispatch<'_>) -> Result<(), StoreError> {
        // Keys of records below this are in the index already (recovery re-dispatch).
        if d.phys_offset >= self.index_skip_below.load(Ordering::Acquire) {
            self.index.add(d.topic, d.keys.iter().map(String::as_str), d.phys_offset, d.store_timestamp)?;
        }
        Ok(())
    }
}

impl Dispatch<'_> {
    /// Prepared and rolled-back transaction halves get no consume-queue entry.
    pub fn consumable(&self) -> bool {
        let tx = self.sys_flag & sys_flag::TRANSACTION_MASK;
        tx != sys_flag::TRANSACTION_PREPARED && tx != sys_flag::TRANSACTION_ROLLBACK
    }

    pub fn entry(&self) -> CqEntry {
        CqEntry { phys_offset: self.phys_offset, size: self.size, tags_code: self.tags_code }
    }
}

/// What the consume queue and the index learn about one appended record.
pub(crate) struct Dispatch<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub phys_offset: i64,
    pub size: i32,
    pub sys_flag: i32,
    pub tags_code: i64,
    pub keys: &'a [String],
    pub store_timestamp: i64,
}

/// The message store. Cheap to share behind an `Arc`.
pub struct Store {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// An exclusive lock on `<root>/lock` for as long as the store is open, so two brokers
    /// never share one store directory. The kernel drops it if the process dies.
    lock: Mutex<Option<nix::fcntl::Flock<std::fs::File>>>,
}

/// Takes the store directory's lock, or says who cannot have it.
fn lock_root(root: &std::path::Path) -> Result<nix::fcntl::Flock<std::fs::File>, StoreError> {
    std::fs::create_dir_all(root).map_err(|e| StoreError::io(root, e))?;
    let path = root.join("lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| StoreError::io(&path, e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| match errno {
        nix::errno::Errno::EWOULDBLOCK => StoreError::Locked(root.to_path_buf()),
        other => StoreError::io(&path, other.into()),
    })
}

impl Store {
    /// Opens the store, recovering the CommitLog tail and rebuilding what is missing
    /// from the consume queues and the index, then starts the appender.
    pub fn open(config: StoreConfig) -> Result<Store, StoreError> {
        let lock = lock_root(&config.root_dir)?;
        let index = KeyIndex::open(config.root_dir.join("index"), config.index_limits)?;
        let shared = Arc::new(Shared {
            commitlog: CommitLog {
                dir: config.commit_log_dir(),
                file_size: config.commit_log_file_bytes,
                segments: RwLock::new(Vec::new()),
                write_end: Default::default(),
                flushed_end: Default::default(),
                cache_window: config.cache_window_bytes,
            },
            config,
            queues: RwLock::new(HashMap::new()),
            arrivals: Arrivals::default(),
            stopped: Default::default(),
            disk_used_ppm: Default::default(),
            disk_total_bytes: Default::default(),
            disk_measured_end: Default::default(),
            index_skip_below: std::sync::atomic::AtomicI64::new(index.end_phys()),
            dispatched_end: Default::default(),
            dirty_queues: Default::default(),
            consume_queue_bytes: Default::default(),
            index,
        });
        let started = std::time::Instant::now();
        let tail = recovery::recover(&shared)?;
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "recovery finished");
        shared.dispatched_end.store(tail.write_pos, Ordering::Release);
        let abort = shared.config.root_dir.join(recovery::ABORT_FILE);
        std::fs::write(&abort, b"").map_err(|e| StoreError::io(&abort, e))?;
        let _ = std::fs::remove_file(shared.config.root_dir.join(recovery::CLEAN_END_FILE));
        let (jobs, rx) = mpsc::channel(shared.config.append_queue_depth.max(1));
        let threads = appender::start(shared.clone(), rx, tail)?;
        Ok(Store { shared, jobs, threads: Mutex::new(threads), lock: Mutex::new(Some(lock)) })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    /// Appends records; resolves when they are as durable as the flush mode promises.
    pub async fn put(&self, msg: PutMessage) -> Result<PutResult, PutError> {
        let (tx, rx) = oneshot::channel();
        let shut = || PutError::ServiceUnavailable("store is shut down".into());
        match self.jobs.try_send(Job::Put(msg, tx)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(shut()),
            // Only a full queue needs the wait (and its timer).
            Err(mpsc::error::TrySendError::Full(job)) => match self.shared.config.append_wait {
                Some(wait) => self.jobs.send_timeout(job, wait).await.map_err(|e| match e {
                    mpsc::error::SendTimeoutError::Timeout(_) => PutError::Busy(format!(
                        "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: {}ms, size of queue: {}",
                        wait.as_millis(),
                        self.jobs.max_capacity() - self.jobs.capacity()
                    )),
                    mpsc::error::SendTimeoutError::Closed(_) => shut(),
                })?,
                None => self.jobs.send(job).await.map_err(|_| shut())?,
            },
        }
        rx.await.map_err(|_| shut())?
    }

    /// Removes a topic's consume queues (its CommitLog records age out with retention).
    pub async fn delete_topic(&self, topic: &str) -> Result<(), PutError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::DeleteTopic(topic.to_string(), tx)).await.map_err(|_| PutError::ServiceUnavailable("store is shut down".into()))?;
        rx.await.map_err(|_| PutError::ServiceUnavailable("store is shut down".into()))?
    }

    pub fn arrivals(&self) -> &Arrivals {
        &self.shared.arrivals
    }

    pub fn commit_log_min_offset(&self) -> i64 {
        self.shared.commitlog.min_offset() as i64
    }

    pub fn commit_log_max_offset(&self) -> i64 {
        self.shared.commitlog.max_offset() as i64
    }

    pub fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.shared.queue(topic, queue_id).map_or(0, |q| q.max_offset())
    }

    pub fn min_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.shared.queue(topic, queue_id).map_or(0, |q| q.min_offset())
    }

    /// Reads messages of one queue from `offset`, keeping those whose tag code passes
    /// `filter`, as RocketMQ's `getMessage` does.
    pub fn get(&self, topic: &str, queue_id: i32, offset: i64, max_msgs: usize, filter: &dyn Fn(i64) -> bool) -> Result<GetResult, StoreError> {
        Ok(self.get_with(topic, queue_id, offset, max_msgs, filter, false)?.expect("a blocking read always answers"))
    }

    /// As `get`, reading only what the page cache holds: `None` when the answer needs the
    /// disk, so an async caller can do the read on a thread where blocking is fine (and
    /// several cold reads can be in flight at once).
    pub fn get_cached(&self, topic: &str, queue_id: i32, offset: i64, max_msgs: usize, filter: &dyn Fn(i64) -> bool) -> Result<Option<GetResult>, StoreError> {
        self.get_with(topic, queue_id, offset, max_msgs, filter, true)
    }

    fn get_with(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msgs: usize,
        filter: &dyn Fn(i64) -> bool,
        cached_only: bool,
    ) -> Result<Option<GetResult>, StoreError> {
        let Some(cq) = self.shared.queue(topic, queue_id) else {
            return Ok(Some(empty_result(GetStatus::NoMatchedLogicQueue, 0, 0, 0)));
        };
        let (min, max) = (cq.min_offset(), cq.max_offset());
        if max == 0 {
            return Ok(Some(empty_result(GetStatus::NoMessageInQueue, 0, min, max)));
        }
        if offset < min {
            return Ok(Some(empty_result(GetStatus::OffsetTooSmall, min, min, max)));
        }
        if offset == max {
            return Ok(Some(empty_result(GetStatus::OffsetOverflowOne, offset, min, max)));
        }
        if offset > max {
            return Ok(Some(empty_result(GetStatus::OffsetOverflowBadly, max, min, max)));
        }
        let cfg = &self.shared.config;
        let want = max_msgs.clamp(1, cfg.max_transfer_count.max(1));
        // Scan more entries than wanted so a sparse tag filter still makes progress.
        let entries = cq.read(offset, want.max(1) * 4)?;
        let cl_min = self.shared.commitlog.min_offset() as i64;
        // Pick the records first, then read them with one read per run of records that lie
        // back to back in the CommitLog (a batch, or a queue written alone), straight into
        // the answer: a backlog streams in large reads, not one read per record.
        let mut picked: Vec<(u64, usize)> = Vec::with_capacity(want.min(entries.len()));
        let (mut total, mut next) = (0usize, offset);
        for e in &entries {
            if picked.len() >= want || (!picked.is_empty() && total + e.size as usize > cfg.max_transfer_bytes) {
                break;
            }
            next += 1;
            if e.phys_offset < cl_min || !filter(e.tags_code) {
                continue;
            }
            picked.push((e.phys_offset as u64, e.size as usize));
            total += e.size as usize;
        }
        let mut out = BytesMut::zeroed(total);
        let mut at = 0;
        for run in adjacent_runs(&picked) {
            let len: usize = run.iter().map(|r| r.1).sum();
            if !self.shared.commitlog.read_into_with(run[0].0, &mut out[at..at + len], cached_only)? {
                return Ok(None);
            }
            at += len;
        }
        if let (Some(first), Some(last)) = (picked.first(), picked.last()) {
            self.shared.commitlog.drop_read_behind(first.0, last.0 + last.1 as u64);
        }
        let out = out.freeze();
        if cfg.check_crc_on_read {
            let mut at = 0;
            for &(phys, size) in &picked {
                decode_record(&out.slice(at..at + size), true).map_err(|err| StoreError::Corrupt {
                    path: cfg.commit_log_dir(),
                    offset: phys,
                    reason: err.to_string(),
                })?;
                at += size;
            }
        }
        let count = picked.len();
        let status = if count > 0 { GetStatus::Found } else { GetStatus::NoMatchedMessage };
        Ok(Some(GetResult { status, next_begin_offset: next, min_offset: min, max_offset: max, messages: out, message_count: count }))
    }

    /// Raw consume-queue entries from `from`: (queue offset, CommitLog offset, size, tag code).
    /// The delay scheduler reads delivery times from the tag codes this way.
    pub fn queue_entries(&self, topic: &str, queue_id: i32, from: i64, max: usize) -> Result<Vec<(i64, i64, i32, i64)>, StoreError> {
        let Some(cq) = self.shared.queue(topic, queue_id) else { return Ok(Vec::new()) };
        let from = from.max(cq.min_offset());
        Ok(cq.read(from, max)?.into_iter().enumerate().map(|(i, e)| (from + i as i64, e.phys_offset, e.size, e.tags_code)).collect())
    }

    /// The record that starts at `phys_offset`, if one does.
    pub fn read_message(&self, phys_offset: i64) -> Result<Option<Bytes>, StoreError> {
        let cl = &self.shared.commitlog;
        if phys_offset < cl.min_offset() as i64 || phys_offset >= cl.max_offset() as i64 {
            return Ok(None);
        }
        let Ok(rec) = cl.read_record(phys_offset as u64) else { return Ok(None) };
        match decode_record(&rec, false) {
            Ok(m) if m.physical_offset == phys_offset => Ok(Some(rec)),
            _ => Ok(None),
        }
    }

    /// Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key`, stored
    /// within `[begin_ms, end_ms]`, newest first.
    pub fn query_by_key(&self, topic: &str, key: &str, max: usize, begin_ms: i64, end_ms: i64) -> Result<Vec<Bytes>, StoreError> {
        let mut found = Vec::new();
        for phys in self.shared.index.candidates(topic, key, max.saturating_mul(4).max(max), begin_ms, end_ms) {
            if found.len() >= max {
                break;
            }
            let Some(rec) = self.read_message(phys)? else { continue };
            let Ok(m) = decode_record(&rec, false) else { continue };
            if m.topic != topic || m.store_timestamp < begin_ms || m.store_timestamp > end_ms {
                continue;
            }
            let props = protocol::message::Properties::parse(&m.properties);
            if props.get(protocol::message::prop::UNIQ_KEY) == Some(key) || props.keys().any(|k| k == key) {
                found.push(rec);
            }
        }
        Ok(found)
    }

    fn store_time_at(&self, cq: &ConsumeQueue, offset: i64) -> Result<Option<i64>, StoreError> {
        let Some(e) = cq.entry(offset)? else { return Ok(None) };
        let Some(rec) = self.read_message(e.phys_offset)? else { return Ok(None) };
        Ok(decode_record(&rec, false).ok().map(|m| m.store_timestamp))
    }

    pub fn earliest_store_time(&self, topic: &str, queue_id: i32) -> Result<Option<i64>, StoreError> {
        match self.shared.queue(topic, queue_id) {
            Some(cq) => self.store_time_at(&cq, cq.min_offset()),
            None => Ok(None),
        }
    }

    /// `Lower`: the first offset stored at or after `timestamp_ms` (max offset if none).
    /// `Upper`: one past the last offset stored at or before it (min offset if none).
    pub fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp_ms: i64, boundary: BoundaryType) -> Result<i64, StoreError> {
        let Some(cq) = self.shared.queue(topic, queue_id) else { return Ok(0) };
        let (mut lo, mut hi) = (cq.min_offset(), cq.max_offset());
        // Store times grow with the offset, so binary search the first entry past the boundary.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let t = self.store_time_at(&cq, mid)?.unwrap_or(i64::MIN);
            let before = match boundary {
                BoundaryType::Lower => t < timestamp_ms,
                BoundaryType::Upper => t <= timestamp_ms,
            };
            if before {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// One retention pass: deletes what the policy says, moves the min offsets of the
    /// CommitLog, the consume queues and the index, and refreshes the disk-full state.
    pub fn clean_now(&self) -> Result<Vec<u64>, StoreError> {
        clean(&self.shared)
    }

    pub fn disk_used_ratio(&self) -> f64 {
        self.shared.disk_used_ratio()
    }

    /// Flushes everything written so far.
    pub async fn flush(&self) -> Result<(), PutError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Flush(tx)).await.map_err(|_| PutError::ServiceUnavailable("store is shut down".into()))?;
        rx.await.map_err(|_| PutError::ServiceUnavailable("store is shut down".into()))?
    }

    /// Stops the appender after it has answered every queued put, and flushes.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        let answered = match self.jobs.send(Job::Shutdown(tx)).await {
            Ok(()) => rx.await.ok(),
            Err(_) => None,
        };
        if let Some(last_record) = answered {
            // Everything is flushed: record where the log ends, then drop the crash marker.
            let root = &self.shared.config.root_dir;
            let end = self.shared.commitlog.max_offset();
            let marked = recovery::write_clean_end(root, end, last_record).and_then(|_| std::fs::remove_file(root.join(recovery::ABORT_FILE)));
            if let Err(e) = marked {
                tracing::warn!(error = %e, "could not mark the clean shutdown; the next start checks as after a crash");
            }
        }
        self.shared.stopped.store(true, Ordering::Release);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        drop(threads); // they end on their own once stopped
                       // Another store may open the directory now, even while this value lingers.
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    pub fn flushed_offset(&self) -> i64 {
        self.shared.commitlog.flushed_end.load(Ordering::Acquire) as i64
    }
}

fn empty_result(status: GetStatus, next: i64, min: i64, max: i64) -> GetResult {
    GetResult { status, next_begin_offset: next, min_offset: min, max_offset: max, messages: Bytes::new(), message_count: 0 }
}

pub(crate) fn clean(shared: &Shared) -> Result<Vec<u64>, StoreError> {
    shared.consume_queue_bytes.store(shared.count_consume_queue_bytes(), Ordering::Release);
    let ratio = shared.disk_used_ratio();
    let segments = shared.commitlog.segments();
    let files: Vec<FileAge> = segments
        .iter()
        .map(|seg| {
            let modified = seg.file.metadata().and_then(|m| m.modified()).ok();
            let modified_ms = modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis() as i64);
            FileAge { base: seg.base, modified_ms }
        })
        .collect();
    let now_ms = shared.config.clock.now_ms();
    let hour = ((now_ms / 3_600_000) % 24) as u32;
    let doomed = retention::plan(&shared.config.retention, &files, now_ms, hour, ratio);
    if !doomed.is_empty() {
        let removed = {
            let mut segs = shared.commitlog.segments.write().unwrap_or_else(|e| e.into_inner());
            let n = segs.iter().take(segs.len().saturating_sub(1)).take_while(|s| doomed.contains(&s.base)).count();
            segs.drain(..n).collect::<Vec<_>>()
        };
        for seg in &removed {
            tracing::info!(file = %seg.path.display(), "retention: deleting CommitLog file");
            std::fs::remove_file(&seg.path).map_err(|e| StoreError::io(&seg.path, e))?;
        }
        let min = shared.commitlog.min_offset() as i64;
        let queues: Vec<_> = shared.queues.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        for q in queues {
            q.drop_below(min)?;
        }
        shared.index.retain_from(min)?;
    }
    shared.consume_queue_bytes.store(shared.count_consume_queue_bytes(), Ordering::Release);
    shared.measure_disk();
    Ok(doomed)
}

/// Splits (offset, size) pairs into runs where each record starts where the previous ends.
fn adjacent_runs(records: &[(u64, usize)]) -> impl Iterator<Item = &[(u64, usize)]> {
    records.chunk_by(|a, b| a.0 + a.1 as u64 == b.0)
}
