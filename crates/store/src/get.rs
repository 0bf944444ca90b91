//! The pull path: read a queue's consume-queue entries from an offset, keep those the
//! filter accepts, and read their records straight from the CommitLog into the answer, one
//! read per run of records that lie back to back (the answer is file bytes, never
//! re-encoded). Statuses and offsets follow RocketMQ's `getMessage`.

use bytes::{Bytes, BytesMut};
use protocol::message::decode_record;

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

/// Reads messages of one queue from `offset`, keeping those whose tag code passes `filter`.
/// With `cached_only`, reads only what the page cache holds: `None` when the answer needs
/// the disk.
pub(crate) fn get(
    shared: &Shared,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max_msgs: usize,
    filter: &dyn Fn(i64) -> bool,
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
    let entries = cq.read(offset, want.max(1) * 4)?;
    let cl_min = shared.commitlog.min_offset() as i64;
    // Pick the records first, then read them with one read per run of records that lie
    // back to back in the CommitLog (a batch, or a queue written alone), straight into
    // the answer: a backlog streams in large reads, not one read per record.
    let mut picked: Vec<(u64, usize)> = Vec::with_capacity(want.min(entries.len()));
    let (mut total, mut next) = (0usize, offset);
    for e in &entries {
        if picked.len() >= want || (!picked.is_empty() && total + e.size as usize > cfg.max_transfer_bytes) {
            break;
        }
        next += 1;
        if e.phys_offset < cl_min || !filter(e.tags_code) {
            continue;
        }
        picked.push((e.phys_offset as u64, e.size as usize));
        total += e.size as usize;
    }
    let mut out = BytesMut::zeroed(total);
    let mut at = 0;
    for run in adjacent_runs(&picked) {
        let len: usize = run.iter().map(|r| r.1).sum();
        if !shared.commitlog.read_into_with(run[0].0, &mut out[at..at + len], cached_only)? {
            return Ok(None);
        }
        at += len;
    }
    if let (Some(first), Some(last)) = (picked.first(), picked.last()) {
        shared.commitlog.drop_read_behind(first.0, last.0 + last.1 as u64);
    }
    let out = out.freeze();
    if cfg.check_crc_on_read {
        let mut at = 0;
        for &(phys, size) in &picked {
            decode_record(&out.slice(at..at + size), true).map_err(|err| StoreError::Corrupt {
                path: cfg.commit_log_dir(),
                offset: phys,
                reason: err.to_string(),
            })?;
            at += size;
        }
    }
    let count = picked.len();
    let status = if count > 0 { GetStatus::Found } else { GetStatus::NoMatchedMessage };
    Ok(Some(GetResult { status, next_begin_offset: next, min_offset: min, max_offset: max, messages: out, message_count: count }))
}

fn empty_result(status: GetStatus, next: i64, min: i64, max: i64) -> GetResult {
    GetResult { status, next_begin_offset: next, min_offset: min, max_offset: max, messages: Bytes::new(), message_count: 0 }
}

/// Splits (offset, size) pairs into runs where each record starts where the previous ends.
fn adjacent_runs(records: &[(u64, usize)]) -> impl Iterator<Item = &[(u64, usize)]> {
    records.chunk_by(|a, b| a.0 + a.1 as u64 == b.0)
}
