//! Reads by other keys than a queue offset: a record by its CommitLog offset, messages by
//! key through the index, a queue offset by store time, and raw consume-queue entries.

use bytes::Bytes;
use protocol::message::decode_record;

use crate::consume_queue::ConsumeQueue;
use crate::shared::Shared;
use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundaryType {
    Lower,
    Upper,
}

/// Raw consume-queue entries from `from`: (queue offset, CommitLog offset, size, tag code).
/// The delay scheduler reads delivery times from the tag codes this way.
pub(crate) fn queue_entries(shared: &Shared, topic: &str, queue_id: i32, from: i64, max: usize) -> Result<Vec<(i64, i64, i32, i64)>, StoreError> {
    let Some(cq) = shared.queue(topic, queue_id) else { return Ok(Vec::new()) };
    let from = from.max(cq.min_offset());
    Ok(cq.read(from, max)?.into_iter().enumerate().map(|(i, e)| (from + i as i64, e.phys_offset, e.size, e.tags_code)).collect())
}

/// The record that starts at `phys_offset`, if one does.
pub(crate) fn read_message(shared: &Shared, phys_offset: i64) -> Result<Option<Bytes>, StoreError> {
    let cl = &shared.commitlog;
    if phys_offset < cl.min_offset() as i64 || phys_offset >= cl.max_offset() as i64 {
        return Ok(None);
    }
    let Ok(rec) = cl.read_record(phys_offset as u64) else { return Ok(None) };
    match decode_record(&rec, false) {
        Ok(m) if m.physical_offset == phys_offset => Ok(Some(rec)),
        _ => Ok(None),
    }
}

/// Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key`, stored
/// within `[begin_ms, end_ms]`, newest first.
pub(crate) fn query_by_key(shared: &Shared, topic: &str, key: &str, max: usize, begin_ms: i64, end_ms: i64) -> Result<Vec<Bytes>, StoreError> {
    let mut found = Vec::new();
    for phys in shared.index.candidates(topic, key, max.saturating_mul(4).max(max), begin_ms, end_ms) {
        if found.len() >= max {
            break;
        }
        let Some(rec) = read_message(shared, phys)? else { continue };
        let Ok(m) = decode_record(&rec, false) else { continue };
        if m.topic != topic || m.store_timestamp < begin_ms || m.store_timestamp > end_ms {
            continue;
        }
        let props = protocol::message::Properties::parse(&m.properties);
        if props.get(protocol::message::prop::UNIQ_KEY) == Some(key) || props.keys().any(|k| k == key) {
            found.push(rec);
        }
    }
    Ok(found)
}

fn store_time_at(shared: &Shared, cq: &ConsumeQueue, offset: i64) -> Result<Option<i64>, StoreError> {
    let Some(e) = cq.entry(offset)? else { return Ok(None) };
    let Some(rec) = read_message(shared, e.phys_offset)? else { return Ok(None) };
    Ok(decode_record(&rec, false).ok().map(|m| m.store_timestamp))
}

pub(crate) fn earliest_store_time(shared: &Shared, topic: &str, queue_id: i32) -> Result<Option<i64>, StoreError> {
    match shared.queue(topic, queue_id) {
        Some(cq) => store_time_at(shared, &cq, cq.min_offset()),
        None => Ok(None),
    }
}

/// `Lower`: the first offset stored at or after `timestamp_ms` (max offset if none).
/// `Upper`: the last offset stored at or before it (min offset if none). As RocketMQ's
/// `ConsumeQueue.getOffsetInQueueByTime`, clamped to the queue's offsets.
pub(crate) fn offset_by_time(shared: &Shared, topic: &str, queue_id: i32, timestamp_ms: i64, boundary: BoundaryType) -> Result<i64, StoreError> {
    let Some(cq) = shared.queue(topic, queue_id) else { return Ok(0) };
    let min = cq.min_offset();
    let (mut lo, mut hi) = (min, cq.max_offset());
    // Store times grow with the offset, so binary search the first entry past the boundary.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let t = store_time_at(shared, &cq, mid)?.unwrap_or(i64::MIN);
        let before = match boundary {
            BoundaryType::Lower => t < timestamp_ms,
            BoundaryType::Upper => t <= timestamp_ms,
        };
        if before {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(match boundary {
        BoundaryType::Lower => lo,
        // `lo` is the first stored after the time.
        BoundaryType::Upper => (lo - 1).max(min),
    })
}
