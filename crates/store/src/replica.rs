//! Replication's side of the store. A master reads its CommitLog out in whole records
//! ([`read_chunk`]); a replica appends what it receives at the very same offsets
//! (`Appender::replicate`, checked here by [`check_chunk`]), so the replica's CommitLog is
//! the master's byte for byte, and its own dispatchers build its consume queues and index
//! from it, as recovery does.
//!
//! A chunk never spans two CommitLog files. A file's closing blank (`{int size, int
//! BLANK_MAGIC}`, the size reaching the file's end) travels as the chunk's last 8 bytes;
//! the replica writes it and rolls to the next file, as the master did.

use bytes::Bytes;
use protocol::message::{decode_record, pos, MessageRecord, BLANK_MAGIC, MAGIC_V1, MAGIC_V2};

use crate::shared::Shared;
use crate::StoreError;

/// What a master has for a replica at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaRead {
    /// Whole records from the offset (possibly ending with a file's closing blank), and the
    /// offset that follows them (past a blank: the next file's start).
    Records { bytes: Bytes, next: u64 },
    /// Nothing past the offset yet.
    UpToDate,
    /// The offset lies below the CommitLog's first retained byte (retention removed it);
    /// the first retained offset is given.
    Gone(u64),
    /// The offset is past the master's write end: the replica holds bytes the master does
    /// not (it must truncate them before it can follow).
    Ahead(u64),
    /// No record starts at the offset: the replica's log is not a prefix of this one.
    Misaligned,
}

/// Why a replica refused a chunk; nothing of the chunk was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicateError {
    #[error("chunk at offset {got} does not continue this log, which ends at {expected}")]
    Gap { expected: u64, got: u64 },
    #[error("invalid replicated data at offset {offset}: {reason}")]
    Invalid { offset: u64, reason: String },
    #[error("replicated chunk not written: {0}")]
    Io(String),
    #[error("the store is shut down")]
    Shutdown,
    /// This store takes puts (its broker is a master): nothing is copied into it.
    #[error("this store is not a replica's")]
    NotReplica,
}

fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(buf[at..at + 4].try_into().unwrap_or_default())
}

/// Whole records of the CommitLog from `from`, at most `max_bytes` of them unless the first
/// record alone is larger, never past the write end nor across a file's end. With
/// `cached_only`, `None` when the read would need the disk.
pub(crate) fn read_chunk(shared: &Shared, from: u64, max_bytes: usize, cached_only: bool) -> Result<Option<ReplicaRead>, StoreError> {
    let read = |offset: u64, len: usize| -> Result<Option<bytes::Bytes>, StoreError> {
        let mut buf = bytes::BytesMut::zeroed(len);
        Ok(shared.commitlog.read_into_with(offset, &mut buf, cached_only)?.then(|| buf.freeze()))
    };
    let cl = &shared.commitlog;
    let end = cl.max_offset();
    if from > end {
        return Ok(Some(ReplicaRead::Ahead(end)));
    }
    if from == end {
        return Ok(Some(ReplicaRead::UpToDate));
    }
    let min = cl.min_offset();
    let Some(seg) = cl.segment_for(from).filter(|_| from >= min) else { return Ok(Some(ReplicaRead::Gone(min))) };
    let seg_end = seg.base + cl.file_size;
    let limit = end.min(seg_end);
    let want = ((limit - from) as usize).min(max_bytes.max(8));
    if want < 8 {
        return Ok(Some(ReplicaRead::Misaligned));
    }
    let Some(buf) = read(from, want)? else { return Ok(None) };
    let (size, magic) = (i32_at(&buf, 0), i32_at(&buf, 4));
    match magic {
        BLANK_MAGIC if size >= 8 && from + size as u64 == seg_end => return Ok(Some(ReplicaRead::Records { bytes: buf.slice(..8), next: seg_end })),
        MAGIC_V1 | MAGIC_V2 if size as usize >= pos::PHYSICAL_OFFSET + 8 && from + size as u64 <= limit => {}
        _ => return Ok(Some(ReplicaRead::Misaligned)),
    }
    // A first record larger than `max_bytes` goes alone.
    let buf = match size as usize > want {
        true => match read(from, size as usize)? {
            Some(b) => b,
            None => return Ok(None),
        },
        false => buf,
    };
    let stamped = i64::from_be_bytes(buf[pos::PHYSICAL_OFFSET..pos::PHYSICAL_OFFSET + 8].try_into().unwrap_or_default());
    if stamped != from as i64 {
        return Ok(Some(ReplicaRead::Misaligned));
    }
    let (mut at, mut next) = (0usize, None);
    while at + 8 <= buf.len() {
        let (size, magic) = (i32_at(&buf, at), i32_at(&buf, at + 4));
        if magic == BLANK_MAGIC {
            at += 8;
            next = Some(seg_end);
            break;
        }
        if size < 8 || at + size as usize > buf.len() {
            break;
        }
        at += size as usize;
    }
    Ok(Some(ReplicaRead::Records { next: next.unwrap_or(from + at as u64), bytes: buf.slice(..at) }))
}

/// A received chunk, checked: its records (decoded, for the dispatchers) and whether it
/// ends with a file's closing blank.
pub(crate) struct Checked {
    pub records: Vec<(Bytes, MessageRecord)>,
    /// Where the last record starts.
    pub last_record: Option<u64>,
    pub closes_file: bool,
}

/// Checks a chunk meant for `write_pos` in a file ending at `seg_end`: whole records back to
/// back, each with a valid magic code and body CRC, stamped with its own offset, leaving room
/// for a blank as the appender does; a blank only last and reaching the file's end.
pub(crate) fn check_chunk(bytes: &Bytes, write_pos: u64, seg_end: u64) -> Result<Checked, ReplicateError> {
    let invalid = |at: usize, reason: String| ReplicateError::Invalid { offset: write_pos + at as u64, reason };
    let mut out = Checked { records: Vec::new(), last_record: None, closes_file: false };
    let mut at = 0usize;
    while at < bytes.len() {
        if at + 8 > bytes.len() {
            return Err(invalid(at, "a record is cut short".into()));
        }
        let (size, magic) = (i32_at(bytes, at), i32_at(bytes, at + 4));
        let here = write_pos + at as u64;
        if magic == BLANK_MAGIC {
            if at + 8 != bytes.len() || size < 8 || here + size as u64 != seg_end {
                return Err(invalid(at, format!("a blank of {size} bytes that does not close the file at {seg_end}")));
            }
            out.closes_file = true;
            break;
        }
        if (magic != MAGIC_V1 && magic != MAGIC_V2) || size < 8 || at + size as usize > bytes.len() {
            return Err(invalid(at, format!("no record here (size {size}, magic {magic:#x})")));
        }
        if here + size as u64 + 8 > seg_end {
            return Err(invalid(at, format!("a record of {size} bytes crosses the file's end at {seg_end}")));
        }
        let rec = bytes.slice(at..at + size as usize);
        let m = decode_record(&rec, true).map_err(|e| invalid(at, e.to_string()))?;
        if m.physical_offset != here as i64 {
            return Err(invalid(at, format!("the record says it lies at {}", m.physical_offset)));
        }
        out.last_record = Some(here);
        out.records.push((rec, m));
        at += size as usize;
    }
    Ok(out)
}
