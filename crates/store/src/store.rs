//! The store's face: [`Store`] opens the directory (taking its lock and recovering), hands
//! puts to the appender, and answers reads and lookups.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::appender::Job;
use crate::arrivals::Arrivals;
use crate::config::StoreConfig;
use crate::dispatch::{Dispatcher, Dispatchers};
use crate::filter::MessageFilter;
use crate::get::{self, GetResult};
use crate::index::KeyIndex;
use crate::lookup::{self, BoundaryType};
use crate::put::{PutError, PutMessage, PutResult};
use crate::replica::{self, ReplicaRead, ReplicateError};
use crate::shared::Shared;
use crate::{cleaner, markers, recovery, threads, StoreError};

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
        Store::open_with(config, Vec::new())
    }

    /// [`Store::open`], with dispatchers of the owner's that see every appended record
    /// after the store's own (recovery's re-dispatch included).
    pub fn open_with(config: StoreConfig, added: Vec<Box<dyn Dispatcher>>) -> Result<Store, StoreError> {
        let lock = lock_root(&config.root_dir)?;
        let index = KeyIndex::open(config.index_dir(), config.index_limits)?;
        let shared = Arc::new(Shared::new(config, index));
        let started = std::time::Instant::now();
        let dispatchers = Dispatchers::standard(added);
        let tail = recovery::recover(&shared, &dispatchers)?;
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "recovery finished");
        shared.dispatched_end.store(tail.write_pos, Ordering::Release);
        shared.written.send_replace(tail.write_pos);
        let root = &shared.config.root_dir;
        markers::mark_open(root).map_err(|e| StoreError::io(root.join(markers::ABORT_FILE), e))?;
        let (jobs, rx) = mpsc::channel(shared.config.append_queue_depth.max(1));
        let threads = threads::start(shared.clone(), (jobs.downgrade(), rx), tail, dispatchers)?;
        Ok(Store { shared, jobs, threads: Mutex::new(threads), lock: Mutex::new(Some(lock)) })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    /// Appends records; resolves when they are as durable as the flush mode promises.
    pub async fn put(&self, msg: PutMessage) -> Result<PutResult, PutError> {
        let (tx, rx) = oneshot::channel();
        self.send_job(Job::Put(msg, tx)).await?;
        rx.await.map_err(|_| PutError::ServiceUnavailable("store is shut down".into()))?
    }

    /// Appends several puts in this order in one write (and one flush): a crash keeps a
    /// prefix of them. Once one is refused, the ones after it are refused too. Each result
    /// as [`Store::put`]'s.
    pub async fn put_all(&self, msgs: Vec<PutMessage>) -> Vec<Result<PutResult, PutError>> {
        let shut = || PutError::ServiceUnavailable("store is shut down".into());
        let (parts, replies): (Vec<_>, Vec<_>) = msgs
            .into_iter()
            .map(|m| {
                let (tx, rx) = oneshot::channel();
                ((m, tx), rx)
            })
            .unzip();
        if let Err(e) = self.send_job(Job::PutAll(parts)).await {
            return replies.iter().map(|_| Err(e.clone())).collect();
        }
        let mut out = Vec::with_capacity(replies.len());
        for rx in replies {
            out.push(rx.await.unwrap_or_else(|_| Err(shut())));
        }
        out
    }

    /// Queues a put job, waiting for room as `append_wait` says.
    async fn send_job(&self, job: Job) -> Result<(), PutError> {
        if self.shared.replica.load(Ordering::Acquire) {
            return Err(PutError::ServiceUnavailable("this broker is a replica (SLAVE): it stores only what its master writes".into()));
        }
        let shut = || PutError::ServiceUnavailable("store is shut down".into());
        match self.jobs.try_send(job) {
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
        Ok(())
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

    /// Reads messages of one queue from `offset`, keeping those `filter` accepts (by tag code,
    /// then, if it asks, by properties), as RocketMQ's `getMessage` does. A closure over the
    /// tag code is a filter: `&|code| code == wanted`; [`crate::AcceptAll`] keeps everything.
    pub fn get(&self, topic: &str, queue_id: i32, offset: i64, max_msgs: usize, filter: &dyn MessageFilter) -> Result<GetResult, StoreError> {
        Ok(get::get(&self.shared, topic, queue_id, offset, max_msgs, filter, false)?.expect("a blocking read always answers"))
    }

    /// As `get`, reading only what the page cache holds: `None` when the answer needs the
    /// disk, so an async caller can do the read on a thread where blocking is fine (and
    /// several cold reads can be in flight at once).
    pub fn get_cached(&self, topic: &str, queue_id: i32, offset: i64, max_msgs: usize, filter: &dyn MessageFilter) -> Result<Option<GetResult>, StoreError> {
        get::get(&self.shared, topic, queue_id, offset, max_msgs, filter, true)
    }

    /// Raw consume-queue entries from `from`: (queue offset, CommitLog offset, size, tag code).
    /// The delay scheduler reads delivery times from the tag codes this way.
    pub fn queue_entries(&self, topic: &str, queue_id: i32, from: i64, max: usize) -> Result<Vec<(i64, i64, i32, i64)>, StoreError> {
        lookup::queue_entries(&self.shared, topic, queue_id, from, max)
    }

    /// The record that starts at `phys_offset`, if one does.
    pub fn read_message(&self, phys_offset: i64) -> Result<Option<Bytes>, StoreError> {
        lookup::read_message(&self.shared, phys_offset)
    }

    /// Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key`, stored
    /// within `[begin_ms, end_ms]`, newest first.
    pub fn query_by_key(&self, topic: &str, key: &str, max: usize, begin_ms: i64, end_ms: i64) -> Result<Vec<Bytes>, StoreError> {
        lookup::query_by_key(&self.shared, topic, key, max, begin_ms, end_ms)
    }

    pub fn earliest_store_time(&self, topic: &str, queue_id: i32) -> Result<Option<i64>, StoreError> {
        lookup::earliest_store_time(&self.shared, topic, queue_id)
    }

    /// `Lower`: the first offset stored at or after `timestamp_ms` (max offset if none).
    /// `Upper`: the last offset stored at or before it (min offset if none).
    pub fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp_ms: i64, boundary: BoundaryType) -> Result<i64, StoreError> {
        lookup::offset_by_time(&self.shared, topic, queue_id, timestamp_ms, boundary)
    }

    /// One retention pass: deletes what the policy says, moves the min offsets of the
    /// CommitLog, the index and the consume queues, and refreshes the disk-full state.
    /// Returns the bases of the CommitLog files the plan chose.
    pub async fn clean_now(&self) -> Result<Vec<u64>, StoreError> {
        let pass = cleaner::delete_expired(&self.shared)?;
        if let Some(min) = pass.new_min {
            let (tx, rx) = oneshot::channel();
            let answer = match self.jobs.send(Job::DropQueuesBelow(min, tx)).await {
                Ok(()) => rx.await.ok(),
                Err(_) => None,
            };
            cleaner::queues_dropped(answer)?;
        }
        cleaner::measure(&self.shared);
        Ok(pass.planned)
    }

    pub fn disk_used_ratio(&self) -> f64 {
        self.shared.disk.used_ratio(&self.shared.commitlog)
    }

    /// The size and free bytes of the filesystem the CommitLog is on (Java's
    /// `commitLogDirCapacity`), when it can be measured.
    #[allow(clippy::unnecessary_cast, reason = "statvfs's field types differ between platforms")]
    pub fn commit_log_dir_space(&self) -> Option<(u64, u64)> {
        let s = nix::sys::statvfs::statvfs(&self.shared.config.commit_log_dir()).ok()?;
        let block = s.fragment_size() as u64;
        Some((s.blocks() as u64 * block, s.blocks_free() as u64 * block))
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

    /// Bytes used on the store's filesystem (or of `diskCapacityBytes`, when set).
    pub fn disk_used_bytes(&self) -> u64 {
        self.shared.disk.used_bytes(&self.shared.commitlog)
    }

    /// The CommitLog offset up to which records are dispatched to queues and index.
    pub fn dispatched_offset(&self) -> i64 {
        self.shared.dispatched_end.load(Ordering::Acquire) as i64
    }

    /// When the oldest record still in the CommitLog was stored, if there is one.
    pub fn earliest_message_time(&self) -> Option<i64> {
        let min = self.commit_log_min_offset();
        if min >= self.commit_log_max_offset() {
            return None;
        }
        let record = self.read_message(min).ok()??;
        protocol::message::decode_record(&record, false).ok().map(|m| m.store_timestamp)
    }

    /// For a master's replication sender: whole records from `from` (see [`ReplicaRead`]).
    pub fn replica_read(&self, from: u64, max_bytes: usize) -> Result<ReplicaRead, StoreError> {
        Ok(replica::read_chunk(&self.shared, from, max_bytes, false)?.expect("a blocking read always answers"))
    }

    /// As `replica_read`, from the page cache only: `None` when the read needs the disk (an
    /// async caller then reads on a thread where blocking is fine).
    pub fn replica_read_cached(&self, from: u64, max_bytes: usize) -> Result<Option<ReplicaRead>, StoreError> {
        replica::read_chunk(&self.shared, from, max_bytes, true)
    }

    /// A replica's store refuses puts (and takes `append_replicated`); a master's takes them.
    pub fn set_replica(&self, replica: bool) {
        self.shared.replica.store(replica, Ordering::Release);
    }

    /// The CommitLog's published write end, watched: it changes after each written batch.
    pub fn watch_write_end(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.written.subscribe()
    }

    /// A replica's append: `bytes` are whole records of the master's CommitLog from
    /// `offset`, which must be this log's end (or, for a fresh store, the start of one of
    /// the master's files). Written where they lay on the master, dispatched, flushed under
    /// SYNC_FLUSH; answered with the new end. Nothing is applied if any record is invalid.
    pub async fn append_replicated(&self, offset: u64, bytes: Bytes) -> Result<u64, ReplicateError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Replicate(offset, bytes, tx)).await.map_err(|_| ReplicateError::Shutdown)?;
        rx.await.map_err(|_| ReplicateError::Shutdown)?
    }

    /// A replica drops its log from `offset` (a record boundary) on: the tail a returning old
    /// master holds that its group's new master does not.
    pub async fn truncate(&self, offset: u64) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        let gone = || StoreError::Corrupt { path: self.shared.config.root_dir.clone(), offset, reason: "the store is shut down".into() };
        self.jobs.send(Job::Truncate(offset, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    pub fn flushed_offset(&self) -> i64 {
        self.shared.commitlog.flushed_end.load(Ordering::Acquire) as i64
    }
}
