//! The warmer: an idle-priority thread that brings the CommitLog pages the appender will
//! write next into the page cache, so a put copies into memory that is already there.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::commitlog::Segment;
use crate::shared::Shared;

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
pub(crate) fn warm_ahead(shared: Arc<Shared>) {
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
