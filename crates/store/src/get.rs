//! The pull path: read a queue's consume-queue entries from an offset, keep those the
//! filter ([`crate::MessageFilter`]) accepts, and read their records straight from the
//! CommitLog into the answer, one read per run of records that lie back to back (the
//! answer is file bytes, never re-encoded). Statuses and offsets follow RocketMQ's `getMessage`.

use bytes::{Bytes, BytesMut};
use protocol::message::decode_record;

use crate::consume_queue::ConsumeQueue;
use crate::filter::{MessageFilter, Verdict};
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
    let want = max_msgs.clamp(1, cfg.max_transfer_count.max(1));
    // Scan more entries than wanted so a sparse tag filter still makes progress.
    let (mut picked, mut next) = pick(shared, &cq, (topic, queue_id), offset, want, cfg.max_transfer_bytes, filter, want * 4)?;
    let mut out = BytesMut::new();
    if !read(shared, &picked, cached_only, &mut out)? {
        return Ok(None);
    }
    if filter.needs_properties() {
        let mut checked = Checked::default();
        checked.count(&mut picked, |p| keep_matching_properties(shared, &mut out, 0, p, filter))?;
        // A sparse property filter: read on while the answer is short, within the scan budgets
        // and the answer's byte limit. Records read to be checked are what costs (a smaller
        // budget on an async worker: a longer scan is the blocking pool's); entries the filter
        // judges without a read (its bitmap) only count towards `max_filter_scan_entries`.
        let check_budget = if cached_only { cfg.max_filter_scan_entries.min(CACHED_SCAN_ENTRIES) } else { cfg.max_filter_scan_entries };
        while picked.len() < want && next < max && checked.read < check_budget {
            let scanned = (next - offset) as usize;
            let room = cfg.max_transfer_bytes.saturating_sub(out.len());
            if scanned >= cfg.max_filter_scan_entries || (room == 0 && !picked.is_empty()) {
                break;
            }
            // As many as the share kept so far says will leave what is missing after the check.
            let need = want - picked.len();
            let ask = checked.enough_for(need).min(want * 4);
            let (mut more, mut after) = pick(shared, &cq, (topic, queue_id), next, ask, room, filter, cfg.max_filter_scan_entries - scanned)?;
            // Nothing more to look at (the queue's start moved past it): answer what was found.
            if after == next {
                break;
            }
            // Read onto the answer's end. What needs the disk waits for the next read; this
            // answer has what it found.
            let start = out.len();
            if !read(shared, &more, cached_only, &mut out)? {
                break;
            }
            checked.count(&mut more, |p| keep_matching_properties(shared, &mut out, start, p, filter))?;
            // More kept than missing: the answer ends at the last one it takes, and the next
            // read starts after it.
            if more.len() > need {
                after = more[need - 1].offset + 1;
                out.truncate(start + more[..need].iter().map(|p| p.size).sum::<usize>());
                more.truncate(need);
            }
            // A first record larger than the room is kept only in an answer still empty.
            if !picked.is_empty() && out.len() - start > room {
                out.truncate(start);
                break;
            }
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

/// Records a property-filtered read has read to check, and how many of those it kept.
#[derive(Default)]
struct Checked {
    read: usize,
    kept: usize,
}

impl Checked {
    /// Runs `check` over `picked` (which it shortens to what it keeps) and counts.
    fn count(&mut self, picked: &mut Vec<Picked>, check: impl FnOnce(&mut Vec<Picked>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let (to_check, before) = (picked.iter().filter(|p| p.check).count(), picked.len());
        check(picked)?;
        self.read += to_check;
        self.kept += to_check - (before - picked.len());
        Ok(())
    }

    /// Records to read so that `need` are likely kept, at the share kept so far.
    fn enough_for(&self, need: usize) -> usize {
        need.saturating_mul(self.read.max(1)).div_ceil(self.kept.max(1)).max(need)
    }
}

/// How many consume-queue entries a property-filtered read from the page cache may read to
/// check on an async worker before it answers with what it has.
const CACHED_SCAN_ENTRIES: usize = 1024;

/// The most consume-queue entries read at a time.
const SCAN_ENTRIES: usize = 1024;

/// A record to read: where it lies, and whether the filter must check its properties.
#[derive(Debug, Clone, Copy)]
struct Picked {
    /// The entry's queue offset.
    offset: i64,
    phys: u64,
    size: usize,
    check: bool,
}

/// The records of up to `scan` entries from `offset` on that the filter does not drop,
/// within the answer's limits, and the offset after the last entry looked at. Entries are
/// read four per record still wanted, then twice as many each time a read leaves the answer
/// short (what the filter drops unread), never past the consume-queue file's end.
#[expect(clippy::too_many_arguments, reason = "one read's position, limits and filter")]
fn pick(
    shared: &Shared,
    cq: &ConsumeQueue,
    (topic, queue_id): (&str, i32),
    offset: i64,
    want: usize,
    max_bytes: usize,
    filter: &dyn MessageFilter,
    scan: usize,
) -> Result<(Vec<Picked>, i64), StoreError> {
    let cl_min = shared.commitlog.min_offset() as i64;
    let mut picked: Vec<Picked> = Vec::with_capacity(want.min(scan));
    let (mut total, mut next) = (0usize, offset);
    let mut verdicts = Vec::new();
    let mut batch = want * 4;
    loop {
        let n = batch.min(scan - (next - offset) as usize).max(1);
        let entries = cq.read(next, n)?;
        verdicts.clear();
        filter.judge(topic, queue_id, next, &entries, &mut verdicts);
        for (e, verdict) in entries.iter().zip(&verdicts) {
            if picked.len() >= want || (!picked.is_empty() && total + e.size as usize > max_bytes) {
                return Ok((picked, next));
            }
            next += 1;
            if e.phys_offset < cl_min || *verdict == Verdict::Drop {
                continue;
            }
            picked.push(Picked { offset: next - 1, phys: e.phys_offset as u64, size: e.size as usize, check: *verdict == Verdict::Check });
            total += e.size as usize;
        }
        if entries.len() < n || verdicts.len() < entries.len() || (next - offset) as usize >= scan {
            return Ok((picked, next));
        }
        batch = (batch * 2).min(SCAN_ENTRIES);
    }
}

/// Reads the picked records onto the end of `out`, with one read per run of records that lie
/// back to back in the CommitLog (a batch, or a queue written alone): a backlog streams in
/// large reads, not one read per record. False (and `out` as it was) if `cached_only` and the
/// disk is needed.
fn read(shared: &Shared, picked: &[Picked], cached_only: bool, out: &mut BytesMut) -> Result<bool, StoreError> {
    let start = out.len();
    out.resize(start + picked.iter().map(|r| r.size).sum::<usize>(), 0);
    let mut at = start;
    for run in adjacent_runs(picked) {
        let len: usize = run.iter().map(|r| r.size).sum();
        if !shared.commitlog.read_into_with(run[0].phys, &mut out[at..at + len], cached_only)? {
            out.truncate(start);
            return Ok(false);
        }
        at += len;
    }
    if let (Some(first), Some(last)) = (picked.first(), picked.last()) {
        shared.commitlog.drop_read_behind(first.phys, last.phys + last.size as u64);
    }
    Ok(true)
}

/// Leaves out of `out[start..]` (which holds `picked`'s records) and `picked` the records to
/// check whose properties `filter` rejects, moving the kept ones together.
fn keep_matching_properties(shared: &Shared, out: &mut BytesMut, start: usize, picked: &mut Vec<Picked>, filter: &dyn MessageFilter) -> Result<(), StoreError> {
    let (mut from, mut to, mut kept) = (start, start, 0);
    for i in 0..picked.len() {
        let Picked { phys, size, check, .. } = picked[i];
        let keep = !check || {
            let properties = record::properties(&out[from..from + size]).ok_or_else(|| StoreError::Corrupt {
                path: shared.config.commit_log_dir(),
                offset: phys,
                reason: "the record's lengths do not add up to its size".into(),
            })?;
            filter.matches_properties(properties)
        };
        if keep {
            if from != to {
                out.copy_within(from..from + size, to);
            }
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
fn check_crcs(shared: &Shared, out: &Bytes, picked: &[Picked]) -> Result<(), StoreError> {
    let mut at = 0;
    for &Picked { phys, size, .. } in picked {
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

/// Splits the records into runs where each starts where the previous ends.
fn adjacent_runs(records: &[Picked]) -> impl Iterator<Item = &[Picked]> {
    records.chunk_by(|a, b| a.phys + a.size as u64 == b.phys)
}
