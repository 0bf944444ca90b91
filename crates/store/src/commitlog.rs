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

/// How far behind a read behind the cache window pages are dropped (and at most a quarter of
/// the window): readers of other queues lagging less than this still find them cached.
const READ_DROP_LAG: u64 = 64 * 1024 * 1024;
/// Dropped beyond the span of the read itself, to cover what reads of other spans skipped,
/// and at least `DROP_ALIGN`, so each large folio lies wholly inside some dropped range.
const READ_DROP_MARGIN: u64 = DROP_ALIGN;
/// The page cache keeps a file in folios of up to 2 MiB, and dropping a range leaves every
/// folio that lies only partly inside it: each drop starts this far back from where the
/// previous one ended, so the folio across that boundary goes too.
pub(crate) const DROP_ALIGN: u64 = 2 * 1024 * 1024;

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

/// Where appending resumes.
pub(crate) struct Tail {
    pub segment: Arc<Segment>,
    pub write_pos: u64,
    /// Where the last record starts, when known (it is written into the clean-shutdown file).
    pub last_record: Option<u64>,
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
    /// Bytes behind the write end that stay in the page cache (0: the kernel decides).
    /// Reads further behind drop what they read (`drop_read_behind`).
    pub cache_window: u64,
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

    pub(crate) fn segment_for(&self, offset: u64) -> Option<Arc<Segment>> {
        let segs = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let i = segs.partition_point(|s| s.base <= offset);
        let seg = segs.get(i.checked_sub(1)?)?;
        (offset < seg.base + self.file_size).then(|| seg.clone())
    }

    /// Reads `len` bytes at `offset`; they must lie below the write end.
    pub fn read(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        let mut buf = BytesMut::zeroed(len);
        self.read_into(offset, &mut buf)?;
        Ok(buf.freeze())
    }

    /// Fills `buf` with the bytes at `offset`; they must lie below the write end, and may
    /// span segments (records back to back across a file's end).
    pub fn read_into(&self, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        self.read_into_with(offset, buf, false).map(|_| ())
    }

    /// As `read_into`, but only from the page cache when `cached_only`: `Ok(false)` when some
    /// of the bytes would have to come from the disk (the caller then reads where blocking
    /// is fine).
    pub fn read_into_with(&self, offset: u64, buf: &mut [u8], cached_only: bool) -> Result<bool, StoreError> {
        let len = buf.len();
        if offset + len as u64 > self.max_offset() {
            return Err(StoreError::Corrupt { path: self.dir.clone(), offset, reason: format!("read of {len} bytes past the write end") });
        }
        let (mut at, mut done) = (offset, 0);
        while done < len {
            let seg = self.segment_for(at).ok_or_else(|| StoreError::Corrupt {
                path: self.dir.clone(),
                offset: at,
                reason: "no segment holds this offset".into(),
            })?;
            let n = ((seg.base + self.file_size - at) as usize).min(len - done);
            let part = &mut buf[done..done + n];
            if cached_only {
                if !read_cached(&seg.file, part, at - seg.base).map_err(|e| StoreError::io(&seg.path, e))? {
                    return Ok(false);
                }
            } else {
                seg.file.read_exact_at(part, at - seg.base).map_err(|e| StoreError::io(&seg.path, e))?;
            }
            done += n;
            at += n as u64;
        }
        Ok(true)
    }

    /// After a read of `[from, to)` behind the cache window: drops the pages `READ_DROP_LAG`
    /// and more behind `from` (as far back as this read spans, plus a margin), so that a reader
    /// catching up from the disk does not grow the page cache again, while readers of other
    /// queues over the same stretch, up to `READ_DROP_LAG` behind, still find them cached.
    pub fn drop_read_behind(&self, from: u64, to: u64) {
        if self.cache_window == 0 || to.saturating_add(self.cache_window) > self.max_offset() {
            return;
        }
        let end = from.saturating_sub(READ_DROP_LAG.min(self.cache_window / 4));
        self.drop_cached_range(end.saturating_sub(to.saturating_sub(from) + READ_DROP_MARGIN), end);
    }

    /// Drops the whole pages of `[from, to)` from the page cache (`drop_cached`), in every
    /// segment that holds part of it; offsets of deleted segments are skipped.
    pub fn drop_cached_range(&self, from: u64, to: u64) {
        let mut at = from;
        while at < to {
            let Some(seg) = self.segment_for(at).or_else(|| self.segments().into_iter().find(|s| s.base > at)) else { return };
            let (start, stop) = (at.max(seg.base), to.min(seg.base + self.file_size));
            if start >= stop {
                return;
            }
            drop_cached(&seg, start - seg.base, stop - start);
            at = stop;
        }
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

/// Drops the whole pages inside `len` bytes at `offset` (within the segment) from the page
/// cache (`POSIX_FADV_DONTNEED`): their memory is free for other pages. Only clean pages go;
/// the data stays on disk, and a later read brings it back. Advisory: a failure is ignored.
fn drop_cached(seg: &Segment, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    const PAGE: u64 = 4096;
    let from = offset.div_ceil(PAGE) * PAGE;
    let to = (offset + len) / PAGE * PAGE;
    if to > from {
        // SAFETY: an advisory system call on a descriptor `seg` keeps open.
        unsafe {
            libc::posix_fadvise(seg.file.as_raw_fd(), from as libc::off_t, (to - from) as libc::off_t, libc::POSIX_FADV_DONTNEED);
        }
    }
}

/// Reads `buf.len()` bytes at `offset` if the page cache holds them all (`preadv2` with
/// `RWF_NOWAIT`); `Ok(false)` if the disk would have to be read. Where the filesystem does
/// not support the flag, reads normally.
fn read_cached(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let iov = libc::iovec { iov_base: rest.as_mut_ptr().cast(), iov_len: rest.len() };
        // SAFETY: `iov` describes `rest`, a live, exclusively borrowed buffer, for one call.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, (offset + done as u64) as libc::off_t, libc::RWF_NOWAIT) };
        if n > 0 {
            done += n as usize;
            continue;
        }
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(false),
            Some(libc::EINTR) => continue,
            Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) | Some(libc::ENOSYS) => {
                file.read_exact_at(rest, offset + done as u64)?;
                return Ok(true);
            }
            _ => return Err(err),
        }
    }
    Ok(true)
}
