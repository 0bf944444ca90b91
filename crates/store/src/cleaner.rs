//! Retention: every `cleanResourceInterval` a cleaner thread measures the disk, asks
//! [`crate::retention::plan`] which whole CommitLog files go, deletes them and the index
//! files wholly below the new min offset, and has the appender move the consume queues'
//! min offsets after it (a consumer behind it then gets PULL_OFFSET_MOVED).
//!
//! # Who deletes what, and why it is safe
//!
//! CommitLog and index files are deleted here, off the append path: unlinking a GiB file
//! must not stall every put behind it (RocketMQ cleans on its own thread too). That is safe
//! because neither is ever written again once behind its last file:
//!
//! * The appender writes only into the segment holding the published write end and into
//!   segments it rolls to after it; a failed batch rewinds to that same segment. The
//!   cleaner removes only segments that end at or before the published write end, and
//!   never the last one, under the segment list's write lock.
//! * A reader holds an `Arc<Segment>` (an open descriptor) while it reads, so a read in
//!   flight finishes on the unlinked file. A read that looks a segment up after it is gone
//!   fails once with "no segment holds this offset"; the retry sees the new min offset.
//! * The index adds only to its last file and this pass never removes the last one; a
//!   lookup holds the `Arc` of each file it walks (its mapping outlives the unlink).
//!
//! Consume-queue files are the exception: the appender creates them, and deletes them
//! when a topic is deleted, so it also moves their min offsets and deletes their files
//! below it ([`crate::appender::Job::DropQueuesBelow`]). Were the cleaner to do it, a
//! queue file it had chosen could be unlinked by path after the topic was deleted and
//! created again, taking the new queue's file with it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::appender::Job;
use crate::retention::{self, FileAge};
use crate::shared::Shared;
use crate::StoreError;

/// Retention and disk-usage checks every `clean_interval`, checking for shutdown often.
/// `jobs` is weak: the cleaner does not keep the appender's queue open once the store is
/// dropped.
pub(crate) fn periodic_clean(shared: Arc<Shared>, jobs: mpsc::WeakSender<Job>) {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    loop {
        if waited.is_zero() {
            let pass = delete_expired(&shared).and_then(|pass| {
                if let Some(min) = pass.new_min {
                    let (tx, rx) = oneshot::channel();
                    let sent = jobs.upgrade().is_some_and(|jobs| jobs.blocking_send(Job::DropQueuesBelow(min, tx)).is_ok());
                    queues_dropped(if sent { rx.blocking_recv().ok() } else { None })?;
                }
                measure(&shared);
                Ok(())
            });
            if let Err(e) = pass {
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

/// What the first half of a retention pass did.
pub(crate) struct Pass {
    /// Bases of the files the plan chose.
    pub planned: Vec<u64>,
    /// The CommitLog's new min offset, when files were removed: the consume queues follow it.
    pub new_min: Option<i64>,
}

/// The cleaner's half of a retention pass: plans, deletes CommitLog files, and drops the
/// index files wholly below the new min offset.
pub(crate) fn delete_expired(shared: &Shared) -> Result<Pass, StoreError> {
    shared.disk.set_consume_queue_bytes(shared.count_consume_queue_bytes());
    let ratio = shared.disk.used_ratio(&shared.commitlog);
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
    let planned = retention::plan(&shared.config.retention, &files, now_ms, hour, ratio);
    if planned.is_empty() {
        return Ok(Pass { planned, new_min: None });
    }
    let cl = &shared.commitlog;
    let removed = {
        let write_end = cl.write_end.load(Ordering::Acquire);
        let mut segs = cl.segments.write().unwrap_or_else(|e| e.into_inner());
        let n = segs.iter().take(segs.len().saturating_sub(1)).take_while(|s| planned.contains(&s.base) && s.base + cl.file_size <= write_end).count();
        segs.drain(..n).collect::<Vec<_>>()
    };
    for seg in &removed {
        tracing::info!(file = %seg.path.display(), "retention: deleting CommitLog file");
        std::fs::remove_file(&seg.path).map_err(|e| StoreError::io(&seg.path, e))?;
    }
    let min = cl.min_offset() as i64;
    shared.index.retain_from(min)?;
    Ok(Pass { planned, new_min: Some(min) })
}

/// The appender's answer to `DropQueuesBelow`. `None`: the store is stopping, and recovery
/// moves the queues' min offsets at the next start.
pub(crate) fn queues_dropped(answer: Option<Result<(), StoreError>>) -> Result<(), StoreError> {
    answer.unwrap_or_else(|| {
        tracing::debug!("retention: store stopping; consume-queue min offsets move at the next start");
        Ok(())
    })
}

/// The end of a pass: what the store holds now, for the disk-full check.
pub(crate) fn measure(shared: &Shared) {
    shared.disk.set_consume_queue_bytes(shared.count_consume_queue_bytes());
    shared.disk.measure(&shared.commitlog);
}
