//! Retention: a cleaner thread, every `cleanResourceInterval`, measures the disk, asks
//! [`crate::retention::plan`] which whole CommitLog files go, deletes them, and moves the
//! consume queues' and the index's min offsets after the CommitLog's.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::retention::{self, FileAge};
use crate::shared::Shared;
use crate::StoreError;

/// Retention and disk-usage checks every `clean_interval`, checking for shutdown often.
pub(crate) fn periodic_clean(shared: Arc<Shared>) {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    loop {
        if waited.is_zero() {
            if let Err(e) = clean(&shared) {
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

/// One retention pass; returns the bases of the files the plan chose.
pub(crate) fn clean(shared: &Shared) -> Result<Vec<u64>, StoreError> {
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
        for q in shared.all_queues() {
            q.drop_below(min)?;
        }
        shared.index.retain_from(min)?;
    }
    shared.disk.set_consume_queue_bytes(shared.count_consume_queue_bytes());
    shared.disk.measure(&shared.commitlog);
    Ok(doomed)
}
