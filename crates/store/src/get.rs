//! The pull path: read a queue's consume-queue entries from an offset, keep those the
//! filter ([`crate::MessageFilter`]) accepts, and read their records straight from the
//! CommitLog into the answer, one read per run of records that lie back to back (the
//! answer is file bytes, never re-encoded). Statuses and offsets follow RocketMQ's `getMessage`.

use bytes::{Bytes, BytesMut};
use protocol::message::decode_record;

use crate::consume_queue::ConsumeQueue;
use crate::filter::MessageFilter;
use crate::record;
use crate::shared::Shared;
use crate::StoreError;

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

/// Reads messages of one queue from `offset`, keeping those `filter` accepts. With
/// `cached_only`, reads only what the page cache holds: `None` when the answer needs the
/// disk.
///
/// As RocketMQ's `getMessage`: the tag code is checked on each consume-queue entry before
/// its record is read; a filter that needs properties sees them after the read, and a
/// record it rejects is left out of the answer and not counted. `next_begin_offset` moves
/// past every entry looked at, kept or not. While a property filter rejects what it reads and
/// the answer is short, reading goes on, up to `max_filter_scan_entries` entries.
pub(crate) fn get(
    shared: &Shared,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max_msgs: usize,
    filter: &dyn MessageFilter,
    cached_only: bool,
) -> Result<Option<GetResult>, StoreError> {
    let Some(cq) = shared.queue(topic, queue_id) else {
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
    let cfg = &shared.config;
    let (mut picked, mut next) = pick(shared, &cq, offset, max_msgs, cfg.max_transfer_bytes, filter)?;
    let Some(mut out) = read(shared, &picked, cached_only)? else { return Ok(None) };
    if filter.needs_properties() {
        keep_matching_properties(shared, &mut out, &mut picked, filter)?;
        // A sparse property filter: read on while the answer is short, within the scan budget
        // (a smaller one on an async worker: a longer scan is the blocking pool's) and the
        // answer's byte limit.
        let want = max_msgs.clamp(1, cfg.max_transfer_count.max(1));
        let budget = if cached_only { cfg.max_filter_scan_entries.min(CACHED_SCAN_ENTRIES) } else { cfg.max_filter_scan_entries };
        while picked.len() < want && next < max && ((next - offset) as usize) < budget {
            let room = cfg.max_transfer_bytes.saturating_sub(out.len());
            if room == 0 && !picked.is_empty() {
                break;
            }
            let (mut more, after) = pick(shared, &cq, next, want - picked.len(), room, filter)?;
            // Nothing more to look at (the queue's start moved past it): answer what was found.
            if after == next {
                break;
            }
            // What needs the disk waits for the next read; this answer has what it found.
            let Some(mut more_out) = read(shared, &more, cached_only)? else { break };
            keep_matching_properties(shared, &mut more_out, &mut more, filter)?;
            // A first record larger than the room is kept only in an answer still empty.
            if !picked.is_empty() && more_out.len() > room {
                break;
            }
            out.extend_from_slice(&more_out);
            picked.append(&mut more);
            next = after;
        }
    }
    let out = out.freeze();
    if shared.config.check_crc_on_read {
        check_crcs(shared, &out, &picked)?;
    }
    let count = picked.len();
    let status = if count > 0 { GetStatus::Found } else { GetStatus::NoMatchedMessage };
    Ok(Some(GetResult { status, next_begin_offset: next, min_offset: min, max_offset: max, messages: out, message_count: count }))
}

/// How many consume-queue entries a property-filtered read from the page cache may look at on
/// an async worker before it answers with what it has.
const CACHED_SCAN_ENTRIES: usize = 1024;

/// The records (CommitLog offset, size) of the entries from `offset` on whose tag code
/// matches, within the answer's limits, and the offset after the last entry looked at.
fn pick(
    shared: &Shared,
    cq: &ConsumeQueue,
    offset: i64,
    max_msgs: usize,
    max_bytes: usize,
    filter: &dyn MessageFilter,
) -> Result<(Vec<(u64, usize)>, i64), StoreError> {
    let cfg = &shared.config;
    let want = max_msgs.clamp(1, cfg.max_transfer_count.max(1));
    // Scan more entries than wanted so a sparse tag filter still makes progress.
    let entries = cq.read(offset, want * 4)?;
    let cl_min = shared.commitlog.min_offset() as i64;
    let mut picked: Vec<(u64, usize)> = Vec::with_capacity(want.min(entries.len()));
    let (mut total, mut next) = (0usize, offset);
    for e in &entries {
        if picked.len() >= want || (!picked.is_empty() && total + e.size as usize > max_bytes) {
            break;
        }
        next += 1;
        if e.phys_offset < cl_min || !filter.matches_tag_code(e.tags_code) {
            continue;
        }
        picked.push((e.phys_offset as u64, e.size as usize));
        total += e.size as usize;
    }
    Ok((picked, next))
}

/// Reads the picked records into one buffer, with one read per run of records that lie
/// back to back in the CommitLog (a batch, or a queue written alone): a backlog streams in
/// large reads, not one read per record. `None` if `cached_only` and the disk is needed.
fn read(shared: &Shared, picked: &[(u64, usize)], cached_only: bool) -> Result<Option<BytesMut>, StoreError> {
    let mut out = BytesMut::zeroed(picked.iter().map(|r| r.1).sum());
    let mut at = 0;
    for run in adjacent_runs(picked) {
        let len: usize = run.iter().map(|r| r.1).sum();
        if !shared.commitlog.read_into_with(run[0].0, &mut out[at..at + len], cached_only)? {
            return Ok(None);
        }
        at += len;
    }
    if let (Some(first), Some(last)) = (picked.first(), picked.last()) {
        shared.commitlog.drop_read_behind(first.0, last.0 + last.1 as u64);
    }
    Ok(Some(out))
}

/// Leaves out of `out` (and `picked`) the records whose properties `filter` rejects,
/// moving the kept ones together.
fn keep_matching_properties(shared: &Shared, out: &mut BytesMut, picked: &mut Vec<(u64, usize)>, filter: &dyn MessageFilter) -> Result<(), StoreError> {
    let (mut from, mut to, mut kept) = (0, 0, 0);
    for i in 0..picked.len() {
        let (phys, size) = picked[i];
        let properties = record::properties(&out[from..from + size]).ok_or_else(|| StoreError::Corrupt {
            path: shared.config.commit_log_dir(),
            offset: phys,
            reason: "the record's lengths do not add up to its size".into(),
        })?;
        if filter.matches_properties(properties) {
            out.copy_within(from..from + size, to);
            picked[kept] = picked[i];
            (to, kept) = (to + size, kept + 1);
        }
        from += size;
    }
    out.truncate(to);
    picked.truncate(kept);
    Ok(())
}

/// `checkCrcOnRead`: every record's body CRC must match.
fn check_crcs(shared: &Shared, out: &Bytes, picked: &[(u64, usize)]) -> Result<(), StoreError> {
    let mut at = 0;
    for &(phys, size) in picked {
        decode_record(&out.slice(at..at + size), true).map_err(|err| StoreError::Corrupt {
            path: shared.config.commit_log_dir(),
            offset: phys,
            reason: err.to_string(),
        })?;
        at += size;
    }
    Ok(())
}

fn empty_result(status: GetStatus, next: i64, min: i64, max: i64) -> GetResult {
    GetResult { status, next_begin_offset: next, min_offset: min, max_offset: max, messages: Bytes::new(), message_count: 0 }
}

/// Splits (offset, size) pairs into runs where each record starts where the previous ends.
fn adjacent_runs(records: &[(u64, usize)]) -> impl Iterator<Item = &[(u64, usize)]> {
    records.chunk_by(|a, b| a.0 + a.1 as u64 == b.0)
}
