//! Reading the CommitLog back at startup: each record of a segment is checked (size, magic,
//! body CRC, its own physical offset, properties ending with their separator) and, when
//! recovery asks, handed to the dispatchers in batches; and the searches that tell a torn
//! tail from damage inside the log.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use protocol::message::{decode_record, MessageRecord, Properties, BLANK_MAGIC, MAGIC_V1, MAGIC_V2};

use crate::commitlog::Segment;
use crate::dispatch::{DispatchRequest, Dispatchers};
use crate::shared::Shared;
use crate::StoreError;

pub(crate) enum SegmentEnd {
    /// Records (and a closing blank) fill the file; the log continues in the next one.
    Full,
    /// The last valid record ends here.
    At(u64),
}

/// Checks one file's records and, with `dispatchers`, dispatches them again (in batches, as
/// the appender does); also returns where its last valid record starts.
pub(crate) fn scan_segment(shared: &Shared, seg: &Segment, dispatchers: Option<&Dispatchers>) -> Result<(SegmentEnd, Option<u64>), StoreError> {
    let Some(dispatchers) = dispatchers else { return read_segment(shared, seg, |_, _| Ok(())) };
    let mut pending = Pending::default();
    let end = read_segment(shared, seg, |rec, m| {
        pending.push(rec, m, &*shared.config.tag_code_rule);
        if pending.full() {
            pending.dispatch(shared, dispatchers)?;
        }
        Ok(())
    })?;
    pending.dispatch(shared, dispatchers)?;
    Ok(end)
}

/// Most records, and bytes of records, recovery holds before dispatching them.
const PENDING_RECORDS_MAX: usize = 1024;
const PENDING_BYTES_MAX: usize = 4 << 20;

/// Records recovery has read and not yet dispatched, with what dispatch needs of each.
#[derive(Default)]
pub(crate) struct Pending {
    records: Vec<(Bytes, MessageRecord, Vec<String>, i64)>,
    bytes: usize,
}

impl Pending {
    pub fn push(&mut self, rec: Bytes, m: MessageRecord, rule: &dyn crate::TagCodeRule) {
        let props = Properties::parse(&m.properties);
        let mut keys: Vec<String> = props.keys().map(str::to_string).collect();
        if let Some(u) = props.get(protocol::message::prop::UNIQ_KEY) {
            keys.push(u.to_string());
        }
        let tags = rule.tag_code(&m.topic, &props, m.store_timestamp);
        self.bytes += rec.len();
        self.records.push((rec, m, keys, tags));
    }

    fn full(&self) -> bool {
        self.records.len() >= PENDING_RECORDS_MAX || self.bytes >= PENDING_BYTES_MAX
    }

    pub fn dispatch(&mut self, shared: &Shared, dispatchers: &Dispatchers) -> Result<(), StoreError> {
        let batch: Vec<DispatchRequest<'_>> = self
            .records
            .iter()
            .map(|(rec, m, keys, tags)| DispatchRequest {
                topic: &m.topic,
                queue_id: m.queue_id,
                queue_offset: m.queue_offset,
                phys_offset: m.physical_offset,
                size: m.total_size,
                sys_flag: m.sys_flag,
                tags_code: *tags,
                keys,
                store_timestamp: m.store_timestamp,
                record: rec,
            })
            .collect();
        let dispatched = dispatchers.dispatch(shared, &batch);
        drop(batch);
        self.records.clear();
        self.bytes = 0;
        dispatched
    }
}

/// Checks one file's records, handing each valid one to `each`; returns where the valid
/// records end and where the last of them starts.
fn read_segment(
    shared: &Shared,
    seg: &Segment,
    mut each: impl FnMut(Bytes, MessageRecord) -> Result<(), StoreError>,
) -> Result<(SegmentEnd, Option<u64>), StoreError> {
    let size = shared.commitlog.file_size;
    let mut file = seg.file.try_clone().map_err(|e| StoreError::io(&seg.path, e))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| StoreError::io(&seg.path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut pos = 0u64;
    let mut head = [0u8; 8];
    let mut last = None;
    loop {
        if pos + 8 > size {
            return Ok((SegmentEnd::At(seg.base + pos), last));
        }
        if reader.read_exact(&mut head).is_err() {
            return Ok((SegmentEnd::At(seg.base + pos), last));
        }
        let total = i32::from_be_bytes(head[..4].try_into().unwrap_or_default());
        let magic = i32::from_be_bytes(head[4..].try_into().unwrap_or_default());
        if magic == BLANK_MAGIC && total > 0 && pos + total as u64 == size {
            return Ok((SegmentEnd::Full, last));
        }
        if (magic != MAGIC_V1 && magic != MAGIC_V2) || total < 8 || pos + total as u64 > size {
            return Ok((SegmentEnd::At(seg.base + pos), last));
        }
        let mut rec = BytesMut::zeroed(total as usize);
        rec[..8].copy_from_slice(&head);
        if reader.read_exact(&mut rec[8..]).is_err() {
            return Ok((SegmentEnd::At(seg.base + pos), last));
        }
        let rec: Bytes = rec.freeze();
        let phys = seg.base + pos;
        let m = match decode_record(&rec, true) {
            Ok(m) if m.physical_offset == phys as i64 && properties_whole(&m.properties) => m,
            Ok(_) | Err(_) => {
                tracing::warn!(file = %seg.path.display(), offset = phys, "CommitLog ends with an invalid record; truncating there");
                return Ok((SegmentEnd::At(phys), last));
            }
        };
        each(rec, m)?;
        last = Some(phys);
        pos += total as u64;
    }
}

/// Looks for any valid record past `end`: in the rest of its segment (by searching for the
/// magic code) or at the start of a later segment. Finding one means the damage at `end`
/// is in the middle of the log, where truncating would silently drop good records.
pub(crate) fn valid_record_after(shared: &Shared, segments: &[Arc<Segment>], end: u64) -> Result<Option<u64>, StoreError> {
    let size = shared.commitlog.file_size;
    let Some(first) = segments.first() else { return Ok(None) };
    let mut file = first.file.try_clone().map_err(|e| StoreError::io(&first.path, e))?;
    let start = end - first.base;
    file.seek(SeekFrom::Start(start)).map_err(|e| StoreError::io(&first.path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut window = Vec::with_capacity(2 << 20);
    let mut window_start = start; // file position of window[0]
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut chunk).map_err(|e| StoreError::io(&first.path, e))?;
        if n == 0 {
            break;
        }
        window.extend_from_slice(&chunk[..n]);
        // Candidates: a magic code 4 bytes into a record that starts after `end`.
        let mut i = 4;
        // Both magic codes start with 0xDA: jump between candidates with memchr.
        while let Some(hit) = memchr::memchr(0xDA, window.get(i..).unwrap_or_default()) {
            i += hit;
            if i + 4 > window.len() {
                break;
            }
            let magic = i32::from_be_bytes(window[i..i + 4].try_into().unwrap_or_default());
            let at = window_start + i as u64 - 4;
            if (magic == MAGIC_V1 || magic == MAGIC_V2) && at > start && record_valid_at(first, at, size)? {
                return Ok(Some(first.base + at));
            }
            i += 1;
        }
        // Keep the last bytes, which may hold the start of a magic code split by the chunk.
        let keep = window.len().min(7);
        window_start += (window.len() - keep) as u64;
        window.drain(..window.len() - keep);
    }
    valid_segment_after(shared, segments)
}

/// A later CommitLog file that starts with a valid record.
pub(crate) fn valid_segment_after(shared: &Shared, segments: &[Arc<Segment>]) -> Result<Option<u64>, StoreError> {
    for seg in segments.iter().skip(1) {
        if record_valid_at(seg, 0, shared.commitlog.file_size)? {
            return Ok(Some(seg.base));
        }
    }
    Ok(None)
}

/// Whether, between the damaged record at `at` and the valid record at `before`, some page
/// of the file is all zeros from where it starts (or from `at`, in `at`'s own page) to its
/// end: a page that never reached the disk. After a power loss every byte past the last
/// flush is either what was written or what was there before, zeros in a CommitLog, page by
/// page; so a torn tail shows such a page, and damage inside the log need not.
pub(crate) fn unwritten_page_between(seg: &Segment, at: u64, before: u64, file_size: u64) -> Result<bool, StoreError> {
    use std::os::unix::fs::FileExt;
    const PAGE: u64 = 4096;
    let limit = before.min(seg.base + file_size) - seg.base;
    let mut start = at - seg.base;
    let mut buf = vec![0u8; PAGE as usize];
    while start < limit {
        let page_end = (start / PAGE + 1) * PAGE;
        if page_end > limit {
            return Ok(false);
        }
        let part = &mut buf[..(page_end - start) as usize];
        match seg.file.read_exact_at(part, start) {
            Ok(()) if part.iter().all(|b| *b == 0) => return Ok(true),
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(StoreError::io(&seg.path, e)),
        }
        start = page_end;
    }
    Ok(false)
}

pub(crate) fn record_valid_at(seg: &Segment, at: u64, file_size: u64) -> Result<bool, StoreError> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 4];
    if at + 4 > file_size || seg.file.read_exact_at(&mut head, at).is_err() {
        return Ok(false);
    }
    let total = i32::from_be_bytes(head);
    if total < 8 || at + total as u64 > file_size {
        return Ok(false);
    }
    let mut rec = BytesMut::zeroed(total as usize);
    seg.file.read_exact_at(&mut rec, at).map_err(|e| StoreError::io(&seg.path, e))?;
    Ok(matches!(decode_record(&rec.freeze(), true), Ok(m) if m.physical_offset == (seg.base + at) as i64 && properties_whole(&m.properties)))
}

/// The body CRC does not cover the topic and properties that follow it, so a write torn
/// inside them would pass it. Properties are written with a trailing separator: a torn
/// (zero-filled) end loses it.
fn properties_whole(properties: &str) -> bool {
    properties.is_empty() || properties.ends_with('\u{2}')
}
