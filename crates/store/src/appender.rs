//! The single owner of the CommitLog append path.
//!
//! One thread takes every queued put, lays the records out back to back (rolling to a
//! new segment where one does not fit), writes them from where they lie with one `pwritev` per
//! segment, publishes the new write end, dispatches consume-queue and index entries,
//! wakes long-polling readers, and — under SYNC_FLUSH — covers the whole batch with a
//! single fdatasync before answering anyone (group commit). Batching takes only what is
//! already queued; it never waits for more.

use std::collections::HashMap;
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use protocol::message::{patch_record, pos, BLANK_MAGIC};
use tokio::sync::{mpsc, oneshot};

use crate::commitlog::{CommitLog, Segment, DROP_ALIGN};
use crate::config::FlushMode;
use crate::put::{PutError, PutMessage, PutResult};
use crate::recovery::Tail;
use crate::shared::{Dispatch, Shared};
use crate::StoreError;

pub(crate) enum Job {
    Put(PutMessage, oneshot::Sender<Result<PutResult, PutError>>),
    DeleteTopic(String, oneshot::Sender<Result<(), PutError>>),
    Flush(oneshot::Sender<Result<(), PutError>>),
    /// Answered with where the last record starts, once everything is flushed.
    Shutdown(oneshot::Sender<Option<u64>>),
}

/// Most puts gathered into one write and one flush.
const MAX_BATCH_JOBS: usize = 1024;
/// An end-of-file blank needs 8 bytes: `{int maxBlank, int BLANK_MAGIC}`.
const BLANK_HEADER_BYTES: u64 = 8;

pub(crate) fn start(shared: Arc<Shared>, rx: mpsc::Receiver<Job>, tail: Tail) -> Result<Vec<JoinHandle<()>>, StoreError> {
    let appender =
        Appender { shared: shared.clone(), segment: tail.segment, write_pos: tail.write_pos, last_record: tail.last_record, next_queue_offset: HashMap::new() };
    let mut threads = vec![thread("store-appender", Some(libc::SCHED_BATCH), move || appender.run(rx))?];
    let s = shared.clone();
    threads.push(thread("store-cleaner", None, move || periodic_clean(s))?);
    if shared.config.warm_ahead_bytes > 0 {
        let s = shared.clone();
        threads.push(thread("store-warmer", Some(libc::SCHED_IDLE), move || warm_ahead(s))?);
    }
    threads.push(thread("store-flusher", Some(libc::SCHED_BATCH), move || periodic_flush(shared))?);
    Ok(threads)
}

/// Starts a named store thread, under `policy` when given.
///
/// `SCHED_BATCH` (appender, flusher): waking the thread does not preempt the thread that woke
/// it. A sender that wakes the appender goes on reading requests, so the appender finds a batch
/// instead of one message (on one core, wake-up preemption made every put two context
/// switches). `SCHED_IDLE` (warmer): the thread runs only when nothing else wants its core.
/// Best effort: without the policy the thread runs as any other.
fn thread(name: &'static str, policy: Option<libc::c_int>, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Some(policy) = policy {
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: plain system call on the calling thread (pid 0) with a valid parameter.
                if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
                    tracing::debug!(thread = name, error = %std::io::Error::last_os_error(), "scheduling policy not set");
                }
            }
            f()
        })
        .map_err(|e| StoreError::io(format!("{name} thread"), e))
}

struct Appender {
    shared: Arc<Shared>,
    segment: Arc<Segment>,
    /// Absolute CommitLog offset of the next record.
    write_pos: u64,
    /// Where the last record written starts (None when unknown or the log is empty).
    last_record: Option<u64>,
    /// The next queue offset of each queue written since the last rewind, by topic.
    next_queue_offset: HashMap<String, HashMap<i32, i64>>,
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
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
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
                    let result = match &failed {
                        Some(e) => Err(e.clone()),
                        None => match self.place(&mut msg, &placed, &mut unwritten) {
                            Ok(r) => Ok(r),
                            Err(PlaceError::Illegal(e)) => Err(e),
                            Err(PlaceError::Io(e)) => {
                                tracing::error!(error = %e, "CommitLog write failed");
                                failed = Some(PutError::Io(e.to_string()));
                                Err(PutError::Io(e.to_string()))
                            }
                        },
                    };
                    placed.push(Placed { msg, reply, result });
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
        self.shared.commitlog.write_end.store(self.write_pos, Ordering::Release);
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

    fn rewind(&mut self, segment: Arc<Segment>, write_pos: u64) {
        let mut segs = self.shared.commitlog.segments.write().unwrap_or_else(|e| e.into_inner());
        while segs.last().is_some_and(|s| s.base > segment.base) {
            if let Some(extra) = segs.pop() {
                let _ = std::fs::remove_file(&extra.path);
            }
        }
        drop(segs);
        self.segment = segment;
        self.write_pos = write_pos;
        self.last_record = None;
        self.next_queue_offset.clear();
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
        Ok(PutResult { first_queue_offset: next, phys_offsets, store_timestamp: store_ts })
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

    /// Consume-queue entries and index keys of a batch's records. Each queue's entries of the
    /// batch are consecutive, so each queue gets one write; each queue is notified once.
    fn dispatch(&self, placed: &[Placed]) {
        // Per queue touched: (first offset, entries), in first-touch order.
        let mut runs: Vec<((&str, i32), i64, Vec<crate::consume_queue::CqEntry>)> = Vec::new();
        for p in placed {
            let Ok(result) = &p.result else { continue };
            let key = (p.msg.topic.as_str(), p.msg.queue_id);
            let run = match runs.iter().position(|(k, ..)| *k == key) {
                Some(i) => i,
                None => {
                    runs.push((key, result.first_queue_offset, Vec::new()));
                    runs.len() - 1
                }
            };
            for (i, (rec, phys)) in p.msg.records.iter().zip(&result.phys_offsets).enumerate() {
                let d = Dispatch {
                    topic: &p.msg.topic,
                    queue_id: p.msg.queue_id,
                    queue_offset: result.first_queue_offset + i as i64,
                    phys_offset: *phys,
                    size: rec.bytes.len() as i32,
                    sys_flag: record_sys_flag(&rec.bytes),
                    tags_code: rec.tags_code,
                    keys: &rec.keys,
                    store_timestamp: result.store_timestamp,
                };
                let (_, first, entries) = &mut runs[run];
                if d.consumable() {
                    if *first + entries.len() as i64 == d.queue_offset {
                        entries.push(d.entry());
                    } else {
                        // Not consecutive (never expected): its own write.
                        let written = self.shared.queue_or_create(&p.msg.topic, p.msg.queue_id).and_then(|cq| cq.put(d.queue_offset, d.entry()));
                        if let Err(e) = written {
                            tracing::error!(error = %e, topic = %p.msg.topic, "consume queue dispatch failed");
                        }
                    }
                }
                if let Err(e) = self.shared.index_keys(&d) {
                    tracing::error!(error = %e, topic = %p.msg.topic, "index dispatch failed");
                }
            }
        }
        let mut dirty = self.shared.dirty_queues.lock().unwrap_or_else(|e| e.into_inner());
        for ((topic, queue_id), first, entries) in &runs {
            let written = self.shared.queue_or_create(topic, *queue_id).and_then(|cq| cq.put_run(*first, entries));
            if let Err(e) = written {
                // The records are in the CommitLog; recovery will rebuild the entries.
                tracing::error!(error = %e, topic = %topic, "consume queue dispatch failed");
            }
            self.shared.arrivals.notify(topic, *queue_id);
            dirty.insert((topic.to_string(), *queue_id));
        }
        drop(dirty);
        self.shared.dispatched_end.store(self.write_pos, Ordering::Release);
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
                let _ = reply.send(result);
            }
            Job::Put(..) | Job::Shutdown(..) => {}
        }
    }
}

fn record_sys_flag(record: &[u8]) -> i32 {
    record.get(pos::SYS_FLAG..pos::SYS_FLAG + 4).map_or(0, |b| i32::from_be_bytes(b.try_into().unwrap_or_default()))
}

enum PlaceError {
    Illegal(PutError),
    Io(StoreError),
}

/// fdatasyncs every segment holding bytes between the flushed end and the write end.
fn flush_segments(shared: &Shared) -> Result<(), StoreError> {
    let cl = &shared.commitlog;
    let end = cl.write_end.load(Ordering::Acquire);
    let flushed = cl.flushed_end.load(Ordering::Acquire);
    if end <= flushed {
        return Ok(());
    }
    for seg in cl.segments().iter().rev() {
        if seg.base + cl.file_size <= flushed {
            break;
        }
        if seg.base < end {
            seg.file.sync_data().map_err(|e| StoreError::io(&seg.path, e))?;
        }
    }
    cl.flushed_end.fetch_max(end, Ordering::AcqRel);
    Ok(())
}

/// ASYNC_FLUSH: flushes the CommitLog every `flush_interval`. Both modes: then syncs the
/// consume queues and index and writes the checkpoint recovery starts from.
fn periodic_flush(shared: Arc<Shared>) {
    let interval = shared.config.flush_interval.max(Duration::from_millis(1));
    let mut dropped_to = shared.commitlog.min_offset();
    while !shared.stopped.load(Ordering::Acquire) {
        std::thread::sleep(interval);
        let flushed = if shared.config.flush_mode == FlushMode::Async { flush_segments(&shared) } else { Ok(()) };
        if let Err(e) = flushed.and_then(|_| shared.checkpoint()) {
            tracing::error!(error = %e, "periodic flush failed");
        }
        drop_behind(&shared.commitlog, &mut dropped_to);
    }
}

/// With a cache window: drops the flushed CommitLog pages more than `cache_window` behind the
/// write end from the page cache, from `dropped_to` on, so that the appender's next pages
/// reuse their memory. Where the kernel hands free memory back to a VM's host, a new page
/// costs a host fault on first touch; recycled ones do not (BENCHMARKS.md). Unflushed pages
/// are never dropped (the kernel would only start writing them back).
fn drop_behind(cl: &CommitLog, dropped_to: &mut u64) {
    if cl.cache_window == 0 {
        return;
    }
    let upto = cl.flushed_end.load(Ordering::Acquire).min(cl.max_offset().saturating_sub(cl.cache_window));
    if *dropped_to >= upto {
        return;
    }
    let started = Instant::now();
    // From a little before where the last drop ended: the folio across that edge goes too.
    cl.drop_cached_range(*dropped_to / DROP_ALIGN * DROP_ALIGN, upto);
    tracing::debug!(bytes = upto - *dropped_to, took_us = started.elapsed().as_micros() as u64, "dropped CommitLog pages behind the cache window");
    *dropped_to = upto;
}

/// Bytes brought into the cache per call: one page. With 64 KiB and 16 KiB steps (read-ahead
/// then makes larger folios) fixed-rate runs had stalls of 18–88 ms; with single pages their
/// worst cases matched runs without the warmer (BENCHMARKS.md).
const WARM_CHUNK_BYTES: u64 = 4 * 1024;
/// The warmer stays this far past the write end, so the appender does not reach pages the
/// warmer holds locked while it is preempted (it runs at idle priority and may wait long for
/// the core).
const WARM_GAP_BYTES: u64 = 4 * 1024 * 1024;

/// Brings the CommitLog pages the appender will write next into the page cache,
/// `warm_ahead_bytes` of them from `WARM_GAP_BYTES` past the write end, from a thread that runs
/// only when its core is otherwise idle, and only until the cache window (if any) recycles
/// pages. The broker's `auto` turns it on where new memory must be faulted in from a VM's
/// host: there it raised the comparison's max rate by about a third, at a few percent on warm
/// memory (BENCHMARKS.md). A segment is a sparse file, and read-ahead over its holes makes
/// zero-filled, up-to-date pages without any disk I/O, so the appender's `pwritev` copies
/// into pages that exist instead of allocating (and zeroing, and on a VM often faulting in
/// from the host) each one on the append path. The pages are clean: reclaim may drop them,
/// and nothing is written. (RocketMQ's broker prepares its next mapped file in the
/// background for the same reason.) Measured in BENCHMARKS.md.
fn warm_ahead(shared: Arc<Shared>) {
    let ahead = shared.config.warm_ahead_bytes;
    let file_size = shared.config.commit_log_file_bytes;
    let mut warmed_to = 0u64;
    let mut seg: Option<Arc<Segment>> = None;
    let window = shared.config.cache_window_bytes;
    let recycling_from = shared.commitlog.write_end.load(Ordering::Acquire).saturating_add(window);
    while !shared.stopped.load(Ordering::Acquire) {
        let end = shared.commitlog.write_end.load(Ordering::Acquire);
        if window > 0 && end > recycling_from {
            // The flusher recycles pages behind the window now: the appender's new pages are
            // memory just freed, and warming them only zero-fills them first (measured slower).
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        warmed_to = warmed_to.max(end + WARM_GAP_BYTES);
        let target = end.saturating_add(WARM_GAP_BYTES).saturating_add(ahead);
        let mut progressed = false;
        while warmed_to < target && !shared.stopped.load(Ordering::Acquire) {
            // Only segments that exist: the next one is created when the appender rolls.
            if seg.as_ref().is_none_or(|s| warmed_to >= s.base + file_size) {
                seg = shared.commitlog.segment_for(warmed_to);
            }
            let Some(seg) = &seg else { break };
            let seg_end = seg.base + file_size;
            let len = WARM_CHUNK_BYTES.min(seg_end - warmed_to).min(target - warmed_to);
            // SAFETY: an advisory system call on a descriptor `seg` keeps open; its failure
            // costs nothing but the warming.
            unsafe {
                libc::posix_fadvise(seg.file.as_raw_fd(), (warmed_to - seg.base) as libc::off_t, len as libc::off_t, libc::POSIX_FADV_WILLNEED);
            }
            warmed_to += len;
            progressed = true;
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Retention and disk-usage checks every `clean_interval`, checking for shutdown often.
fn periodic_clean(shared: Arc<Shared>) {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    loop {
        if waited.is_zero() {
            if let Err(e) = crate::store::clean(&shared) {
                tracing::error!(error = %e, "retention pass failed");
            }
        }
        if shared.stopped.load(Ordering::Acquire) {
            return;
        }
        std::thread::sleep(step);
        waited += step;
        if waited >= shared.config.clean_interval {
            waited = Duration::ZERO;
        }
    }
}
