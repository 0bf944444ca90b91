//! CommitLog segments: files named by their 20-digit start offset, each `file_size`
//! bytes, holding records back to back. A record never spans two files; the end of a
//! file that cannot hold the next record is marked by an 8-byte blank header.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};

use crate::StoreError;

pub const SEGMENT_NAME_DIGITS: usize = 20;

pub(crate) struct Segment {
    pub base: u64,
    pub path: PathBuf,
    pub file: File,
}

impl Segment {
    pub fn open(dir: &Path, base: u64, file_size: u64) -> Result<Segment, StoreError> {
        let path = dir.join(format!("{base:0width$}", width = SEGMENT_NAME_DIGITS));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| StoreError::io(&path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        if len < file_size {
            // Sparse: space is taken as records arrive.
            file.set_len(file_size).map_err(|e| StoreError::io(&path, e))?;
        }
        if len == 0 {
            // A new file's name must survive a power loss as well as its contents.
            sync_dir(dir)?;
        }
        Ok(Segment { base, path, file })
    }
}

/// Makes a directory's entries (new or renamed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, e))
}

/// The shared, read side of the CommitLog. Only the appender adds segments or moves
/// `write_end`; everyone may read below `write_end`.
pub(crate) struct CommitLog {
    pub dir: PathBuf,
    pub file_size: u64,
    pub segments: RwLock<Vec<Arc<Segment>>>,
    /// Offset one past the last complete record; readers never look beyond it.
    pub write_end: AtomicU64,
    /// Offset up to which data is known to be on disk.
    pub flushed_end: AtomicU64,
}

impl CommitLog {
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.segments.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn min_offset(&self) -> u64 {
        self.segments.read().unwrap_or_else(|e| e.into_inner()).first().map_or(0, |s| s.base)
    }

    pub fn max_offset(&self) -> u64 {
        self.write_end.load(Ordering::Acquire)
    }

    fn segment_for(&self, offset: u64) -> Option<Arc<Segment>> {
        let segs = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let i = segs.partition_point(|s| s.base <= offset);
        let seg = segs.get(i.checked_sub(1)?)?;
        (offset < seg.base + self.file_size).then(|| seg.clone())
    }

    /// Reads `len` bytes at `offset`; they must lie below the write end in one segment.
    pub fn read(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        let end = offset + len as u64;
        if end > self.max_offset() {
            return Err(StoreError::Corrupt { path: self.dir.clone(), offset, reason: format!("read of {len} bytes past the write end") });
        }
        let seg = self.segment_for(offset).ok_or_else(|| StoreError::Corrupt {
            path: self.dir.clone(),
            offset,
            reason: "no segment holds this offset".into(),
        })?;
        let mut buf = BytesMut::zeroed(len);
        seg.file.read_exact_at(&mut buf, offset - seg.base).map_err(|e| StoreError::io(&seg.path, e))?;
        Ok(buf.freeze())
    }

    /// Reads the record at `offset`, using its size field.
    pub fn read_record(&self, offset: u64) -> Result<Bytes, StoreError> {
        let head = self.read(offset, 4)?;
        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if size <= 0 {
            return Err(StoreError::Corrupt { path: self.dir.clone(), offset, reason: format!("record size {size}") });
        }
        self.read(offset, size as usize)
    }
}
