//! Startup recovery: open the CommitLog segments, scan every record (size, magic, CRC
//! and physical offset must agree), stop at the first record that fails, zero the torn
//! tail, trim consume-queue entries that point past it, and dispatch again the records
//! whose consume-queue entries or index keys may be missing. The record checks and the
//! searches for damage are in `scan`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::commitlog::{Segment, Tail};
use crate::dispatch::Dispatchers;
use crate::markers::{self, read_checkpoint, CleanEnd};
use crate::scan::{record_valid_at, scan_segment, unwritten_page_between, valid_record_after, valid_segment_after, SegmentEnd};
use crate::shared::Shared;
use crate::StoreError;

pub(crate) fn recover(shared: &Shared, dispatchers: &Dispatchers) -> Result<Tail, StoreError> {
    let unclean = markers::crashed(&shared.config.root_dir);
    let clean: Option<CleanEnd> = if unclean { None } else { markers::read_clean_end(&shared.config.root_dir) };
    let clean_end = clean.map(|c| c.end);
    let cl = &shared.commitlog;
    let dir = &cl.dir;
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    open_consume_queues(shared)?;

    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        if let Some(base) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    for pair in bases.windows(2) {
        if pair[1] != pair[0] + cl.file_size {
            return Err(StoreError::Corrupt {
                path: dir.clone(),
                offset: pair[0],
                reason: format!("CommitLog files are not contiguous ({} then {}); is mappedFileSizeCommitLog unchanged?", pair[0], pair[1]),
            });
        }
    }
    if bases.is_empty() {
        bases.push(0);
    }
    let mut segments = Vec::new();
    for base in &bases {
        segments.push(Arc::new(Segment::open(dir, *base, cl.file_size)?));
    }
    *cl.segments.write().unwrap_or_else(|e| e.into_inner()) = segments.clone();

    // After a clean shutdown whose end checks out, nothing is scanned: the consume queues and
    // the index were synced up to that end (the checkpoint says so).
    let trusted = clean.filter(|_| !shared.config.check_crc_on_recover).and_then(|c| trusted_clean_end(shared, &segments, c));
    // Consume queues and index are synced up to a clean end the checkpoint confirms: the scan
    // then only checks records and does not dispatch them again.
    let synced = clean_end.is_some() && read_checkpoint(&shared.config.root_dir) == clean_end;
    // Each queue's end before recovery dispatches records again (when it does).
    let mut before = None;
    let (end, mut last, mut last_record) = match trusted {
        Some((end, idx, last_record)) => (end, idx, Some(last_record)),
        None => {
            // Files before the scan's first one are trusted: every record in them was flushed,
            // dispatched and synced (checkpoint) or the last run ended cleanly.
            let first = scan_start(shared, &segments, clean_end.is_some(), unclean);
            if !synced {
                let trimmed = keep_durable_entries(shared, segments[first].base)?;
                shared.dirty_queues.lock().unwrap_or_else(|e| e.into_inner()).extend(trimmed);
                before = Some(queue_ends(shared));
            }
            let (mut end, mut last, mut last_record) = (segments[first].base, first, None);
            for (i, seg) in segments.iter().enumerate().skip(first) {
                last = i;
                let (seg_end, seg_last) = scan_segment(shared, seg, (!synced).then_some(dispatchers))?;
                last_record = seg_last.or(last_record);
                match seg_end {
                    SegmentEnd::Full => end = seg.base + cl.file_size,
                    SegmentEnd::At(pos) => {
                        end = pos;
                        break;
                    }
                }
            }
            (end, last, last_record)
        }
    };
    // After a crash, make sure what ends the log is a torn tail and not damage with good
    // records behind it. After a clean shutdown the end is known good.
    let damage = match clean_end {
        _ if trusted.is_some() => None,
        // A clean shutdown said where the log ends: ending earlier means damage before it.
        Some(known) if end < known => Some(known),
        None if unclean => match valid_record_after(shared, &segments[last..], end)? {
            // A zeroed page past the checkpoint with records behind it is what a power loss
            // leaves when the kernel wrote later pages before earlier ones: nothing there was
            // flushed (so nothing there was acknowledged under SYNC_FLUSH). A torn tail, then.
            Some(valid_at)
                if end >= read_checkpoint(&shared.config.root_dir).unwrap_or(0) && unwritten_page_between(&segments[last], end, valid_at, cl.file_size)? =>
            {
                tracing::warn!(
                    offset = end,
                    later_record = valid_at,
                    "an unwritten (zeroed) page ends the log after a crash; dropping the unflushed records behind it"
                );
                None
            }
            other => other,
        },
        _ => valid_segment_after(shared, &segments[last..])?,
    };
    if let Some(valid_at) = damage {
        last_record = None;
        let reason = format!(
            "the record at offset {end} is damaged but the log continues to offset {valid_at}; \
             this is corruption inside the log, not a torn tail"
        );
        if !shared.config.truncate_corrupt {
            return Err(StoreError::Corrupt {
                path: segments[last].path.clone(),
                offset: end - segments[last].base,
                reason: format!("{reason}. Refusing to start; set truncateCorruptCommitLog=true to drop everything from offset {end} on"),
            });
        }
        tracing::error!(file = %segments[last].path.display(), offset = end, "{reason}; truncating because truncateCorruptCommitLog=true");
    }
    // A segment that ended with a blank but has no successor: resume in a new one.
    if end == segments[last].base + cl.file_size {
        let seg = Arc::new(Segment::open(dir, end, cl.file_size)?);
        cl.segments.write().unwrap_or_else(|e| e.into_inner()).push(seg.clone());
        segments.push(seg);
        last = segments.len() - 1;
    }
    let seg = segments[last].clone();
    truncate_tail(&seg, end, cl.file_size)?;
    for later in &segments[last + 1..] {
        tracing::warn!(file = %later.path.display(), "removing CommitLog file past the recovered end");
        std::fs::remove_file(&later.path).map_err(|e| StoreError::io(&later.path, e))?;
    }
    cl.segments.write().unwrap_or_else(|e| e.into_inner()).truncate(last + 1);
    cl.write_end.store(end, Ordering::Release);
    // Index entries past a truncated end point at records that are gone; new records
    // written there must be indexed again.
    shared.index_skip_below.fetch_min(end as i64, Ordering::AcqRel);
    cl.flushed_end.store(end, Ordering::Release);
    trim_consume_queues(shared, end)?;
    if let Some(before) = before {
        // Queues recovery trimmed (above) or wrote entries to are synced by the first
        // checkpoint, before it claims the records those entries point at.
        let after = queue_ends(shared);
        let mut dirty = shared.dirty_queues.lock().unwrap_or_else(|e| e.into_inner());
        dirty.extend(after.into_iter().filter(|(key, end)| before.get(key) != Some(end)).map(|(key, _)| key));
    }
    let min = shared.commitlog.min_offset() as i64;
    for q in shared.all_queues() {
        q.drop_below(min)?;
    }
    tracing::info!(commitlog_end = end, after_crash = unclean, "store recovered");
    Ok(Tail { segment: seg, write_pos: end, last_record: last_record.filter(|l| *l < end) })
}

/// Checks what a clean shutdown recorded: the checkpoint covers its end, the last record
/// before it is whole (size, magic, CRC, physical offset) and ends exactly there, and nothing
/// follows it. Returns the end, the index of its segment and the last record's start.
fn trusted_clean_end(shared: &Shared, segments: &[Arc<Segment>], clean: CleanEnd) -> Option<(u64, usize, u64)> {
    use std::os::unix::fs::FileExt;
    let last_record = clean.last_record?;
    if read_checkpoint(&shared.config.root_dir) != Some(clean.end) || last_record >= clean.end {
        return None;
    }
    let idx = segments.len() - 1;
    let seg = &segments[idx];
    let size = shared.commitlog.file_size;
    if last_record < seg.base || clean.end > seg.base + size {
        return None;
    }
    let at = last_record - seg.base;
    let mut head = [0u8; 4];
    seg.file.read_exact_at(&mut head, at).ok()?;
    if at + i32::from_be_bytes(head).max(0) as u64 != clean.end - seg.base || !record_valid_at(seg, at, size).ok()? {
        return None;
    }
    let mut after = [0u8; 8];
    let tail = clean.end - seg.base;
    if tail + 8 <= size && (seg.file.read_exact_at(&mut after, tail).is_err() || after != [0u8; 8]) {
        return None;
    }
    Some((clean.end, idx, last_record))
}

/// The first file to scan: the last one after a clean shutdown, the one holding the
/// checkpoint after a crash, the first one when nothing is known.
fn scan_start(shared: &Shared, segments: &[Arc<Segment>], clean: bool, unclean: bool) -> usize {
    if clean && !unclean {
        return segments.len() - 1;
    }
    match read_checkpoint(&shared.config.root_dir) {
        Some(cp) => segments.iter().rposition(|s| s.base <= cp).unwrap_or(0),
        None => 0,
    }
}

/// Zeroes everything after `end` in its segment, so no torn bytes remain.
pub(crate) fn truncate_tail(seg: &Segment, end: u64, file_size: u64) -> Result<(), StoreError> {
    let local = end - seg.base;
    seg.file.set_len(local).map_err(|e| StoreError::io(&seg.path, e))?;
    seg.file.set_len(file_size).map_err(|e| StoreError::io(&seg.path, e))?;
    seg.file.sync_all().map_err(|e| StoreError::io(&seg.path, e))
}

fn open_consume_queues(shared: &Shared) -> Result<(), StoreError> {
    let root = shared.config.consume_queue_dir();
    let Ok(topics) = std::fs::read_dir(&root) else { return Ok(()) };
    for topic in topics {
        let topic = topic.map_err(|e| StoreError::io(&root, e))?;
        let Some(name) = topic.file_name().to_str().map(str::to_string) else { continue };
        let Ok(queues) = std::fs::read_dir(topic.path()) else { continue };
        for q in queues {
            let q = q.map_err(|e| StoreError::io(topic.path(), e))?;
            if let Some(id) = q.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) {
                shared.queue_or_create(&name, id)?;
            }
        }
    }
    Ok(())
}

/// Each consume queue's max offset.
fn queue_ends(shared: &Shared) -> std::collections::HashMap<(String, i32), i64> {
    shared.queues.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(key, q)| (key.clone(), q.max_offset())).collect()
}

/// Before recovery dispatches the records from `from` on again, keeps of each consume queue
/// only the entries for records before `from`. Those were synced before the checkpoint that
/// made recovery start at `from`, so they are whole; entries past them were not, and a power
/// loss can leave them torn, zeroed or with holes (a later page written, an earlier one not),
/// so they are dropped and rebuilt from the CommitLog. Returns the queues it trimmed.
fn keep_durable_entries(shared: &Shared, from: u64) -> Result<Vec<(String, i32)>, StoreError> {
    let queues: Vec<_> = shared.queues.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, q)| (k.clone(), q.clone())).collect();
    let mut trimmed = Vec::new();
    for (key, cq) in queues {
        // Durable entries form a prefix: binary search its end.
        let (mut lo, mut hi) = (cq.min_offset(), cq.max_offset());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let durable = matches!(cq.entry(mid)?, Some(e) if e.size > 0 && e.phys_offset >= 0 && (e.phys_offset as u64) < from);
            if durable {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo < cq.max_offset() {
            cq.truncate(lo)?;
            trimmed.push(key);
        }
    }
    Ok(trimmed)
}

/// Drops consume-queue entries that point at or past the recovered CommitLog end.
pub(crate) fn trim_consume_queues(shared: &Shared, end: u64) -> Result<(), StoreError> {
    for cq in shared.all_queues() {
        let mut keep = cq.max_offset();
        while keep > cq.min_offset() {
            match cq.entry(keep - 1)? {
                Some(e) if e.size > 0 && (e.phys_offset + e.size as i64) as u64 <= end => break,
                _ => keep -= 1,
            }
        }
        cq.truncate(keep)?;
    }
    Ok(())
}
