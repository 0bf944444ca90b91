//! Durability off the append path: under ASYNC_FLUSH the flusher thread fdatasyncs the
//! CommitLog every `flushIntervalCommitLog`; in both modes it then syncs the consume queues
//! and the index and writes the checkpoint recovery starts from, and, with a cache window,
//! drops flushed pages far behind the write end from the page cache. `flush_segments` is
//! also what the appender calls for a SYNC_FLUSH group commit.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::commitlog::{CommitLog, DROP_ALIGN};
use crate::config::FlushMode;
use crate::shared::Shared;
use crate::StoreError;

/// fdatasyncs every segment holding bytes between the flushed end and the write end.
pub(crate) fn flush_segments(shared: &Shared) -> Result<(), StoreError> {
    let cl = &shared.commitlog;
    let truncations = *shared.truncations.lock().unwrap_or_else(|e| e.into_inner());
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
    let now = shared.truncations.lock().unwrap_or_else(|e| e.into_inner());
    if *now == truncations {
        cl.flushed_end.fetch_max(end, Ordering::AcqRel);
    }
    Ok(())
}

/// ASYNC_FLUSH: flushes the CommitLog every `flush_interval`. Both modes: then syncs the
/// consume queues and index and writes the checkpoint recovery starts from.
pub(crate) fn periodic_flush(shared: Arc<Shared>) {
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
