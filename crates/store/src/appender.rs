//! The single owner of the CommitLog append path.
//!
//! One thread takes every queued put, lays the records out back to back (rolling to a
//! new segment where one does not fit), writes them from where they lie with one `pwritev` per
//! segment, publishes the new write end, hands the records to the dispatchers
//! ([`crate::dispatch`]: consume queues, index), wakes long-polling readers, and — under SYNC_FLUSH — covers the whole batch with a
//! single fdatasync before answering anyone (group commit). Batching takes only what is
//! already queued; it never waits for more.

use std::collections::HashMap;
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use protocol::message::{patch_record, BLANK_MAGIC};
use tokio::sync::{mpsc, oneshot};

use crate::commitlog::{Segment, Tail};
use crate::config::FlushMode;
use crate::dispatch::{DispatchRequest, Dispatchers};
use crate::flusher::flush_segments;
use crate::put::{PutError, PutMessage, PutResult};
use crate::record;
use crate::replica::{check_chunk, ReplicateError};
use crate::scan::Pending;
use crate::shared::Shared;
use crate::StoreError;

pub(crate) enum Job {
    Put(PutMessage, oneshot::Sender<Result<PutResult, PutError>>),
    /// Puts written in order in the same batch (one write, one flush); once one is refused,
    /// the ones after it are too.
    PutAll(Vec<(PutMessage, oneshot::Sender<Result<PutResult, PutError>>)>),
    DeleteTopic(String, oneshot::Sender<Result<(), PutError>>),
    /// Retention removed CommitLog files: every consume queue moves its min offset to this
    /// CommitLog offset and deletes its files below it (see `cleaner`).
    DropQueuesBelow(i64, oneshot::Sender<Result<(), StoreError>>),
    Flush(oneshot::Sender<Result<(), PutError>>),
    /// Answered with where the last record starts, once everything is flushed.
    Shutdown(oneshot::Sender<Option<u64>>),
    /// A replica's append: the master's CommitLog bytes from this offset (`replica`).
    /// Answered with the new write end.
    Replicate(u64, Bytes, oneshot::Sender<Result<u64, ReplicateError>>),
    /// A replica drops its log from this offset on (a tail its new master does not have).
    Truncate(u64, oneshot::Sender<Result<(), StoreError>>),
}

/// Most puts gathered into one write and one flush.
const MAX_BATCH_JOBS: usize = 1024;
/// An end-of-file blank needs 8 bytes: `{int maxBlank, int BLANK_MAGIC}`.
const BLANK_HEADER_BYTES: u64 = 8;

pub(crate) struct Appender {
    shared: Arc<Shared>,
    segment: Arc<Segment>,
    /// Absolute CommitLog offset of the next record.
    write_pos: u64,
    /// Where the last record written starts (None when unknown or the log is empty).
    last_record: Option<u64>,
    /// The next queue offset of each queue written since the last rewind, by topic.
    next_queue_offset: HashMap<String, HashMap<i32, i64>>,
    dispatchers: Dispatchers,
}

/// Where the bytes placed but not yet written begin: their file position, and the first
/// placed put they belong to.
struct Unwritten {
    pos: u64,
    from: usize,
}

/// Most buffers one `pwritev` takes (Linux's IOV_MAX).
const MAX_IOVECS: usize = 1024;

/// `write_all_at` for a list of buffers: `pwritev` until all of them are written.
fn write_all_vectored_at(file: &std::fs::File, mut bufs: &mut [IoSlice<'_>], mut offset: u64) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = bufs.len().min(MAX_IOVECS);
        // SAFETY: `IoSlice` is ABI-compatible with `iovec` (std guarantees it on Unix), the
        // first `n` entries are valid buffers that outlive the call, and the descriptor is
        // open for as long as `file` is borrowed.
        let rc = unsafe { libc::pwritev(file.as_raw_fd(), bufs.as_ptr().cast::<libc::iovec>(), n as libc::c_int, offset as libc::off_t) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if rc == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, rc as usize);
        offset += rc as u64;
    }
    Ok(())
}

/// A put placed in the batch (its records patched where they lie), waiting for its answer.
struct Placed {
    msg: PutMessage,
    reply: oneshot::Sender<Result<PutResult, PutError>>,
    result: Result<PutResult, PutError>,
}

impl Appender {
    pub fn new(shared: Arc<Shared>, tail: Tail, dispatchers: Dispatchers) -> Appender {
        Appender { shared, segment: tail.segment, write_pos: tail.write_pos, last_record: tail.last_record, next_queue_offset: HashMap::new(), dispatchers }
    }

    pub fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH_JOBS);
        while let Some(job) = rx.blocking_recv() {
            batch.push(job);
            while batch.len() < MAX_BATCH_JOBS {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            if self.process(&mut batch) {
                return;
            }
        }
        let _ = self.flush_all();
    }

    /// Handles one batch; returns true on shutdown.
    fn process(&mut self, batch: &mut Vec<Job>) -> bool {
        let mut placed = Vec::with_capacity(batch.len());
        let mut unwritten = Unwritten { pos: self.write_pos, from: 0 };
        let mut failed: Option<PutError> = None;
        let (start_segment, start_pos) = (self.segment.clone(), self.write_pos);
        let mut shutdown = None;
        let mut others = Vec::new();
        for job in batch.drain(..) {
            match job {
                Job::Put(mut msg, reply) => {
                    let result = self.place_or_fail(&mut msg, &placed, &mut unwritten, &mut failed);
                    placed.push(Placed { msg, reply, result });
                }
                Job::PutAll(parts) => {
                    let mut refused: Option<PutError> = None;
                    for (mut msg, reply) in parts {
                        let result = match &refused {
                            Some(e) => Err(e.clone()),
                            None => self.place_or_fail(&mut msg, &placed, &mut unwritten, &mut failed),
                        };
                        if let (Err(e), None) = (&result, &refused) {
                            refused = Some(e.clone());
                        }
                        placed.push(Placed { msg, reply, result });
                    }
                }
                Job::Shutdown(reply) => shutdown = Some(reply),
                other => others.push(other),
            }
        }
        if failed.is_none() {
            if let Err(e) = self.write_records(&placed[unwritten.from..], unwritten.pos, None) {
                tracing::error!(error = %e, "CommitLog write failed");
                failed = Some(PutError::Io(e.to_string()));
            }
        }
        if let Some(e) = failed {
            // Nothing of this batch was published: go back to the published end, so the
            // next batch overwrites whatever part of this one reached the file.
            self.rewind(start_segment, start_pos);
            for p in placed {
                let _ = p.reply.send(Err(e.clone()));
            }
            for job in others {
                self.run_other(job);
            }
            if let Some(reply) = shutdown {
                let _ = reply.send(None);
                return true;
            }
            return false;
        }
        self.publish();
        self.dispatch(&placed);
        self.acknowledge(placed);
        for job in others {
            self.run_other(job);
        }
        if let Some(reply) = shutdown {
            if let Err(e) = self.flush_everything() {
                tracing::error!(error = %e, "flush at shutdown failed");
                return true; // no reply: the shutdown is not clean
            }
            let _ = reply.send(self.last_record.filter(|l| *l < self.write_pos));
            return true;
        }
        false
    }

    /// Makes everything written so far readable, and tells whoever watches the write end
    /// (replication's senders).
    fn publish(&self) {
        self.shared.commitlog.write_end.store(self.write_pos, Ordering::Release);
        self.shared.written.send_replace(self.write_pos);
    }

    /// Appends a chunk of the master's CommitLog where it lay there (see `replica`), then
    /// dispatches its records as recovery does and, under SYNC_FLUSH, flushes.
    fn replicate(&mut self, offset: u64, bytes: Bytes) -> Result<u64, ReplicateError> {
        let io = |e: StoreError| ReplicateError::Io(e.to_string());
        if !self.shared.replica.load(Ordering::Acquire) {
            return Err(ReplicateError::NotReplica);
        }
        let file_size = self.shared.config.commit_log_file_bytes;
        if offset != self.write_pos {
            // A fresh store follows a master whose log starts later (retention removed its
            // first files): it starts where the master's does.
            let fresh = self.write_pos == 0 && self.last_record.is_none() && self.shared.commitlog.segments().len() == 1;
            if !(fresh && offset.is_multiple_of(file_size)) {
                return Err(ReplicateError::Gap { expected: self.write_pos, got: offset });
            }
            let old = self.segment.clone();
            self.segment = Arc::new(Segment::open(&self.shared.commitlog.dir, offset, file_size).map_err(io)?);
            *self.shared.commitlog.segments.write().unwrap_or_else(|e| e.into_inner()) = vec![self.segment.clone()];
            let _ = std::fs::remove_file(&old.path);
            self.write_pos = offset;
            self.shared.commitlog.flushed_end.store(offset, Ordering::Release);
            self.shared.dispatched_end.store(offset, Ordering::Release);
            self.publish();
        }
        let seg_end = self.segment.base + file_size;
        let checked = check_chunk(&bytes, offset, seg_end)?;
        let seg = &self.segment;
        std::os::unix::fs::FileExt::write_all_at(&seg.file, &bytes, offset - seg.base).map_err(|e| io(StoreError::io(&seg.path, e)))?;
        self.write_pos += bytes.len() as u64;
        if checked.last_record.is_some() {
            self.last_record = checked.last_record;
        }
        if checked.closes_file {
            self.roll(seg_end).map_err(io)?;
        }
        // Queue offsets come from the master's records now; a later local put reads them again.
        self.next_queue_offset.clear();
        self.publish();
        let mut pending = Pending::default();
        let mut queues: Vec<(String, i32)> = Vec::new();
        for (rec, m) in checked.records {
            let key = (m.topic.clone(), m.queue_id);
            if !queues.contains(&key) {
                queues.push(key);
            }
            pending.push(rec, m, &*self.shared.config.tag_code_rule);
        }
        // A failure is logged by the list; the records stay in the CommitLog either way.
        let _ = pending.dispatch(&self.shared, &self.dispatchers);
        self.shared.dispatched_end.store(self.write_pos, Ordering::Release);
        for (topic, queue_id) in &queues {
            self.shared.arrivals.notify(topic, *queue_id);
        }
        if self.shared.config.flush_mode == FlushMode::Sync {
            self.flush_all().map_err(io)?;
        }
        Ok(self.write_pos)
    }

    /// Drops everything from `offset` on (a record boundary): later files go, the rest of the
    /// file holding `offset` is zeroed, consume-queue entries pointing there go, and the key
    /// index takes the records written there again. Readers never see past the new end.
    fn truncate(&mut self, offset: u64) -> Result<(), StoreError> {
        if offset >= self.write_pos {
            return Ok(());
        }
        let cl = &self.shared.commitlog;
        let min = cl.min_offset();
        let offset = offset.max(min);
        {
            let mut truncations = self.shared.truncations.lock().unwrap_or_else(|e| e.into_inner());
            *truncations += 1;
            cl.write_end.store(offset, Ordering::Release);
            cl.flushed_end.fetch_min(offset, Ordering::AcqRel);
        }
        let keep = {
            let segs = cl.segments.read().unwrap_or_else(|e| e.into_inner());
            segs.iter().rposition(|s| s.base <= offset).map(|i| segs[i].clone())
        };
        let seg = keep.ok_or_else(|| StoreError::Corrupt { path: cl.dir.clone(), offset, reason: "no file holds this offset".into() })?;
        let later = {
            let mut segs = cl.segments.write().unwrap_or_else(|e| e.into_inner());
            let at = segs.iter().position(|s| s.base > seg.base).unwrap_or(segs.len());
            segs.split_off(at)
        };
        for s in later {
            std::fs::remove_file(&s.path).map_err(|e| StoreError::io(&s.path, e))?;
        }
        crate::recovery::truncate_tail(&seg, offset, cl.file_size)?;
        crate::recovery::trim_consume_queues(&self.shared, offset)?;
        self.shared.index_skip_below.fetch_min(offset as i64, Ordering::AcqRel);
        self.dispatchers.truncated(offset);
        self.shared.dispatched_end.store(offset, Ordering::Release);
        self.segment = seg;
        self.write_pos = offset;
        self.last_record = None;
        self.next_queue_offset.clear();
        self.publish();
        self.shared.checkpoint()?;
        tracing::warn!(offset, "CommitLog truncated");
        Ok(())
    }

    fn rewind(&mut self, segment: Arc<Segment>, write_pos: u64) {
        let extra = {
            let mut segs = self.shared.commitlog.segments.write().unwrap_or_else(|e| e.into_inner());
            let keep = segs.iter().rposition(|s| s.base <= segment.base).map_or(0, |i| i + 1);
            segs.split_off(keep)
        };
        for seg in extra {
            let _ = std::fs::remove_file(&seg.path);
        }
        self.segment = segment;
        self.write_pos = write_pos;
        self.last_record = None;
        self.next_queue_offset.clear();
    }

    /// Places a put unless the batch has failed already; an I/O failure fails the batch.
    fn place_or_fail(
        &mut self,
        msg: &mut PutMessage,
        placed: &[Placed],
        unwritten: &mut Unwritten,
        failed: &mut Option<PutError>,
    ) -> Result<PutResult, PutError> {
        if let Some(e) = failed {
            return Err(e.clone());
        }
        match self.place(msg, placed, unwritten) {
            Ok(r) => Ok(r),
            Err(PlaceError::Illegal(e)) => Err(e),
            Err(PlaceError::Io(e)) => {
                tracing::error!(error = %e, "CommitLog write failed");
                *failed = Some(PutError::Io(e.to_string()));
                Err(PutError::Io(e.to_string()))
            }
        }
    }

    /// Assigns offsets to a put and patches them into its records, which are written later
    /// from where they lie (`placed` holds the puts before it, `unwritten` where the bytes
    /// not yet written begin). A put that does not fit in the segment first has those written,
    /// closed by a blank, and continues in a fresh segment.
    fn place(&mut self, msg: &mut PutMessage, placed: &[Placed], unwritten: &mut Unwritten) -> Result<PutResult, PlaceError> {
        let total: u64 = msg.records.iter().map(|r| r.bytes.len() as u64).sum();
        if total + BLANK_HEADER_BYTES > self.shared.config.commit_log_file_bytes {
            return Err(PlaceError::Illegal(PutError::MessageIllegal(format!("{total} bytes do not fit in a CommitLog file"))));
        }
        if let Some(why) = self.shared.disk.full(&self.shared.commitlog, self.write_pos, total) {
            return Err(PlaceError::Illegal(PutError::ServiceUnavailable(why)));
        }
        let seg_end = self.segment.base + self.shared.config.commit_log_file_bytes;
        if self.write_pos + total + BLANK_HEADER_BYTES > seg_end {
            // Close this segment with a blank and continue in a fresh one.
            let blank = (seg_end - self.write_pos) as i32;
            let mut tail = [0u8; BLANK_HEADER_BYTES as usize];
            tail[..4].copy_from_slice(&blank.to_be_bytes());
            tail[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
            self.write_records(&placed[unwritten.from..], unwritten.pos, Some(&tail)).map_err(PlaceError::Io)?;
            self.roll(seg_end).map_err(PlaceError::Io)?;
            *unwritten = Unwritten { pos: self.write_pos, from: placed.len() };
        }
        let queues = match self.next_queue_offset.get_mut(msg.topic.as_str()) {
            Some(q) => q,
            None => self.next_queue_offset.entry(msg.topic.clone()).or_default(),
        };
        let next = match queues.get(&msg.queue_id) {
            Some(n) => *n,
            None => self.shared.queue(&msg.topic, msg.queue_id).map_or(0, |q| q.max_offset()),
        };
        queues.insert(msg.queue_id, next + msg.records.len() as i64);
        let store_ts = self.shared.config.clock.now_ms();
        let mut phys_offsets = Vec::with_capacity(msg.records.len());
        for (i, rec) in msg.records.iter_mut().enumerate() {
            patch_record(&mut rec.bytes, next + i as i64, self.write_pos as i64, store_ts);
            phys_offsets.push(self.write_pos as i64);
            self.last_record = Some(self.write_pos);
            self.write_pos += rec.bytes.len() as u64;
        }
        Ok(PutResult { first_queue_offset: next, phys_offsets, store_timestamp: store_ts, wrote_bytes: total })
    }

    /// Writes the records of the placed puts (those that were placed) back to back from
    /// `start`, then `tail`, with as few `pwritev` calls as the system allows.
    fn write_records(&self, placed: &[Placed], start: u64, tail: Option<&[u8]>) -> Result<(), StoreError> {
        let mut slices: Vec<IoSlice<'_>> = placed
            .iter()
            .filter(|p| p.result.is_ok())
            .flat_map(|p| p.msg.records.iter().map(|r| IoSlice::new(&r.bytes)))
            .chain(tail.map(IoSlice::new))
            .collect();
        let seg = &self.segment;
        write_all_vectored_at(&seg.file, &mut slices, start - seg.base).map_err(|e| StoreError::io(&seg.path, e))
    }

    fn roll(&mut self, base: u64) -> Result<(), StoreError> {
        // The finished segment must be durable before records follow in the next one.
        self.segment.file.sync_data().map_err(|e| StoreError::io(&self.segment.path, e))?;
        let seg = Arc::new(Segment::open(&self.shared.commitlog.dir, base, self.shared.config.commit_log_file_bytes)?);
        self.shared.commitlog.segments.write().unwrap_or_else(|e| e.into_inner()).push(seg.clone());
        self.segment = seg;
        self.write_pos = base;
        Ok(())
    }

    /// Hands the batch's records to the dispatchers (consume queues, index), marks them
    /// dispatched, then wakes the pulls parked on the queues written.
    fn dispatch(&self, placed: &[Placed]) {
        let ok = || placed.iter().filter_map(|p| p.result.as_ref().ok().map(|r| (&p.msg, r)));
        let mut batch = Vec::with_capacity(ok().map(|(msg, _)| msg.records.len()).sum());
        for (msg, result) in ok() {
            for (i, (rec, phys)) in msg.records.iter().zip(&result.phys_offsets).enumerate() {
                batch.push(DispatchRequest {
                    topic: &msg.topic,
                    queue_id: msg.queue_id,
                    queue_offset: result.first_queue_offset + i as i64,
                    phys_offset: *phys,
                    size: rec.bytes.len() as i32,
                    sys_flag: record::sys_flag(&rec.bytes),
                    tags_code: rec.tags_code,
                    keys: &rec.keys,
                    store_timestamp: result.store_timestamp,
                    record: &rec.bytes,
                });
            }
        }
        // A failure is logged by the list; the records stay in the CommitLog either way.
        let _ = self.dispatchers.dispatch(&self.shared, &batch);
        self.shared.dispatched_end.store(self.write_pos, Ordering::Release);
        // Each queue once, after every dispatcher: a woken pull finds everything in place.
        let mut woken: Vec<(&str, i32)> = Vec::new();
        for (msg, _) in ok() {
            let key = (msg.topic.as_str(), msg.queue_id);
            if !woken.contains(&key) {
                self.shared.arrivals.notify(key.0, key.1);
                woken.push(key);
            }
        }
    }

    fn acknowledge(&self, placed: Vec<Placed>) {
        let sync = self.shared.config.flush_mode == FlushMode::Sync && placed.iter().any(|p| p.msg.wait_flush && p.result.is_ok());
        let mut flush_error = None;
        let mut timed_out = false;
        if sync {
            let started = Instant::now();
            match self.flush_all() {
                Ok(()) => timed_out = started.elapsed() > self.shared.config.sync_flush_timeout,
                Err(e) => flush_error = Some(e),
            }
        }
        for p in placed {
            let result = match (&p.result, &flush_error) {
                (Ok(_), Some(e)) if p.msg.wait_flush => Err(PutError::Io(e.to_string())),
                (Ok(r), None) if sync && p.msg.wait_flush && timed_out => Err(PutError::FlushDiskTimeout(r.clone())),
                _ => p.result,
            };
            let _ = p.reply.send(result);
        }
    }

    fn flush_all(&self) -> Result<(), StoreError> {
        flush_segments(&self.shared)
    }

    /// Everything, queues and index included: at shutdown and on request.
    fn flush_everything(&self) -> Result<(), StoreError> {
        flush_segments(&self.shared)?;
        self.shared.checkpoint()
    }

    fn run_other(&mut self, job: Job) {
        match job {
            Job::Flush(reply) => {
                let _ = reply.send(self.flush_everything().map_err(|e| PutError::Io(e.to_string())));
            }
            Job::DeleteTopic(topic, reply) => {
                let queues: Vec<_> = {
                    let mut map = self.shared.queues.write().unwrap_or_else(|e| e.into_inner());
                    let keys: Vec<_> = map.keys().filter(|(t, _)| *t == topic).cloned().collect();
                    keys.into_iter().filter_map(|k| map.remove(&k)).collect()
                };
                self.next_queue_offset.remove(&topic);
                let mut result = Ok(());
                for q in queues {
                    if let Err(e) = q.remove_files() {
                        result = Err(PutError::Io(e.to_string()));
                    }
                }
                let _ = std::fs::remove_dir(self.shared.config.consume_queue_dir().join(&topic));
                self.dispatchers.topic_deleted(&topic);
                let _ = reply.send(result);
            }
            Job::DropQueuesBelow(commitlog_min, reply) => {
                let mut result = Ok(());
                for q in self.shared.all_queues() {
                    result = result.and(q.drop_below(commitlog_min));
                }
                let _ = reply.send(result);
            }
            Job::Replicate(offset, bytes, reply) => {
                let result = self.replicate(offset, bytes);
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "replicated chunk refused");
                }
                let _ = reply.send(result);
            }
            Job::Truncate(offset, reply) => {
                let result = self.truncate(offset);
                if let Err(e) = &result {
                    tracing::error!(offset, error = %e, "truncating the CommitLog failed");
                }
                let _ = reply.send(result);
            }
            Job::Put(..) | Job::PutAll(..) | Job::Shutdown(..) => {}
        }
    }
}

enum PlaceError {
    Illegal(PutError),
    Io(StoreError),
}
