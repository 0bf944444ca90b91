//! The store's face: [`Store`] opens the directory (taking its lock and recovering), hands
//! puts to the appender, and answers reads and lookups.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};
use protocol::message::decode_record;
use tokio::sync::{mpsc, oneshot};

use crate::appender::Job;
use crate::arrivals::Arrivals;
use crate::config::StoreConfig;
use crate::consume_queue::ConsumeQueue;
use crate::index::KeyIndex;
use crate::put::{PutError, PutMessage, PutResult};
use crate::shared::Shared;
use crate::{cleaner, markers, recovery, threads, StoreError};

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
        let index = KeyIndex::open(config.index_dir(), config.index_limits)?;
        let shared = Arc::new(Shared::new(config, index));
        let started = std::time::Instant::now();
        let tail = recovery::recover(&shared)?;
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "recovery finished");
        shared.dispatched_end.store(tail.write_pos, Ordering::Release);
        let root = &shared.config.root_dir;
        markers::mark_open(root).map_err(|e| StoreError::io(root.join(markers::ABORT_FILE), e))?;
        let (jobs, rx) = mpsc::channel(shared.config.append_queue_depth.max(1));
        let threads = threads::start(shared.clone(), rx, tail)?;
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
        cleaner::clean(&self.shared)
    }

    pub fn disk_used_ratio(&self) -> f64 {
        self.shared.disk.used_ratio(&self.shared.commitlog)
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
            // Everything is flushed: the next start may trust where the log ends.
            let root = &self.shared.config.root_dir;
            let end = self.shared.commitlog.max_offset();
            if let Err(e) = markers::mark_clean_shutdown(root, end, last_record) {
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

/// Splits (offset, size) pairs into runs where each record starts where the previous ends.
fn adjacent_runs(records: &[(u64, usize)]) -> impl Iterator<Item = &[(u64, usize)]> {
    records.chunk_by(|a, b| a.0 + a.1 as u64 == b.0)
}
