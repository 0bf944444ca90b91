//! ConsumeQueue: per topic and queue, fixed 20-byte entries `{i64 commitlog offset,
//! i32 size, i64 tags code}`; logical offset N lives at byte N × 20 across files of
//! `entries_per_file` entries, each named by its 20-digit starting byte offset.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::commitlog::SEGMENT_NAME_DIGITS;
use crate::StoreError;

pub const CQ_ENTRY_BYTES: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqEntry {
    pub phys_offset: i64,
    pub size: i32,
    pub tags_code: i64,
}

impl CqEntry {
    fn encode(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.phys_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> CqEntry {
        CqEntry {
            phys_offset: i64::from_be_bytes(b[..8].try_into().unwrap_or_default()),
            size: i32::from_be_bytes(b[8..12].try_into().unwrap_or_default()),
            tags_code: i64::from_be_bytes(b[12..20].try_into().unwrap_or_default()),
        }
    }
}

pub(crate) struct ConsumeQueue {
    dir: PathBuf,
    entries_per_file: u64,
    /// Files by number (file i holds entries i*entries_per_file ..).
    files: RwLock<Vec<Option<Arc<File>>>>,
    max_offset: AtomicI64,
    min_offset: AtomicI64,
    /// The first file that may hold writes not yet synced.
    unsynced_from: AtomicU64,
    /// A file was created since the last sync: the directory must be synced too.
    dir_dirty: AtomicBool,
    /// The directory itself was created by this process: its parents must be synced once.
    new_dir: AtomicBool,
}

/// The first entry with a size in a queue's first file. Only a replica's queue that began
/// inside its first file has zeros before it (rare), so the file is read through only then.
fn first_written_entry(f: &File, entries_per_file: u64) -> std::io::Result<u64> {
    let mut b = [0u8; 20];
    f.read_exact_at(&mut b, 0)?;
    if CqEntry::decode(&b).size > 0 {
        return Ok(0);
    }
    let mut buf = vec![0u8; 4096 * CQ_ENTRY_BYTES as usize];
    let mut at = 0u64;
    while at < entries_per_file {
        let n = (entries_per_file - at).min(4096);
        let part = &mut buf[..(n * CQ_ENTRY_BYTES) as usize];
        f.read_exact_at(part, at * CQ_ENTRY_BYTES)?;
        if let Some(i) = part.chunks_exact(CQ_ENTRY_BYTES as usize).position(|e| CqEntry::decode(e).size > 0) {
            return Ok(at + i as u64);
        }
        at += n;
    }
    Ok(0)
}

impl ConsumeQueue {
    /// Opens (or creates) the queue directory and finds the number of valid entries.
    pub fn open(dir: PathBuf, entries_per_file: u64) -> Result<ConsumeQueue, StoreError> {
        let new_dir = !dir.exists();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let mut numbered: Vec<(u64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            if let Some(start) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                numbered.push((start / (entries_per_file * CQ_ENTRY_BYTES), entry.path()));
            }
        }
        numbered.sort();
        let cq = ConsumeQueue {
            dir,
            entries_per_file,
            files: RwLock::new(Vec::new()),
            max_offset: AtomicI64::new(0),
            min_offset: AtomicI64::new(0),
            unsynced_from: AtomicU64::new(0),
            dir_dirty: AtomicBool::new(false),
            new_dir: AtomicBool::new(new_dir),
        };
        let mut files = Vec::new();
        for (no, path) in &numbered {
            let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| StoreError::io(path, e))?;
            // A crash between creating a file and sizing it leaves it short: the missing
            // entries are simply not written yet.
            let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
            if len < entries_per_file * CQ_ENTRY_BYTES {
                file.set_len(entries_per_file * CQ_ENTRY_BYTES).map_err(|e| StoreError::io(path, e))?;
            }
            while files.len() < *no as usize {
                files.push(None);
            }
            files.push(Some(Arc::new(file)));
        }
        *cq.files.write().unwrap_or_else(|e| e.into_inner()) = files;
        if let Some((first_no, path)) = numbered.first() {
            // A replica's queue may begin inside its first file (the master's log began
            // later than this queue's first entry): the zeros before it are no entries.
            let f = cq.file(*first_no).ok_or_else(|| StoreError::Corrupt { path: path.clone(), offset: 0, reason: "missing".into() })?;
            let first = first_written_entry(&f, entries_per_file).map_err(|e| StoreError::io(path, e))?;
            cq.min_offset.store((first_no * entries_per_file + first) as i64, Ordering::Release);
        }
        // The last file's valid entries end at the first all-zero entry (size 0).
        if let Some((last_no, path)) = numbered.last() {
            let base = (last_no * entries_per_file) as i64;
            let f = cq.file(*last_no).ok_or_else(|| StoreError::Corrupt { path: path.clone(), offset: 0, reason: "missing".into() })?;
            let (mut lo, mut hi) = (0i64, entries_per_file as i64);
            // Entries are written in order, so valid ones form a prefix: binary search it.
            while lo < hi {
                let mid = (lo + hi) / 2;
                let mut b = [0u8; 20];
                f.read_exact_at(&mut b, mid as u64 * CQ_ENTRY_BYTES).map_err(|e| StoreError::io(path, e))?;
                if CqEntry::decode(&b).size > 0 {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            cq.max_offset.store(base + lo, Ordering::Release);
        }
        Ok(cq)
    }

    fn file(&self, no: u64) -> Option<Arc<File>> {
        self.files.read().unwrap_or_else(|e| e.into_inner()).get(no as usize).cloned().flatten()
    }

    fn file_path(&self, no: u64) -> PathBuf {
        self.dir.join(format!("{:0width$}", no * self.entries_per_file * CQ_ENTRY_BYTES, width = SEGMENT_NAME_DIGITS))
    }

    fn file_or_create(&self, no: u64) -> Result<Arc<File>, StoreError> {
        if let Some(f) = self.file(no) {
            return Ok(f);
        }
        let path = self.file_path(no);
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| StoreError::io(&path, e))?;
        file.set_len(self.entries_per_file * CQ_ENTRY_BYTES).map_err(|e| StoreError::io(&path, e))?;
        // Its directory entry is synced with the next checkpoint, off the append path.
        self.dir_dirty.store(true, Ordering::Release);
        let file = Arc::new(file);
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        while files.len() <= no as usize {
            files.push(None);
        }
        files[no as usize] = Some(file.clone());
        Ok(file)
    }

    pub fn max_offset(&self) -> i64 {
        self.max_offset.load(Ordering::Acquire)
    }

    pub fn min_offset(&self) -> i64 {
        self.min_offset.load(Ordering::Acquire)
    }

    /// Writes consecutive entries from `first` on, with one write per file they touch. Only
    /// the consume-queue dispatcher calls this (from the appender or recovery).
    pub fn put_run(&self, first: i64, entries: &[CqEntry]) -> Result<(), StoreError> {
        if self.max_offset() == 0 && first > 0 {
            // An empty queue whose first entry comes later (a replica's copy of a queue
            // whose start retention removed on the master).
            self.min_offset.store(first, Ordering::Release);
        }
        let mut offset = first;
        let mut rest = entries;
        let mut buf = Vec::with_capacity(entries.len() * CQ_ENTRY_BYTES as usize);
        while !rest.is_empty() {
            let no = offset as u64 / self.entries_per_file;
            let in_file = (self.entries_per_file - offset as u64 % self.entries_per_file) as usize;
            let (now, later) = rest.split_at(in_file.min(rest.len()));
            buf.clear();
            for e in now {
                buf.extend_from_slice(&e.encode());
            }
            let file = self.file_or_create(no)?;
            let at = (offset as u64 % self.entries_per_file) * CQ_ENTRY_BYTES;
            file.write_all_at(&buf, at).map_err(|e| StoreError::io(self.file_path(no), e))?;
            offset += now.len() as i64;
            rest = later;
        }
        if offset > self.max_offset() {
            self.max_offset.store(offset, Ordering::Release);
        }
        Ok(())
    }

    /// Reads up to `max` entries from `from`, stopping at the end of a file.
    pub fn read(&self, from: i64, max: usize) -> Result<Vec<CqEntry>, StoreError> {
        let end = self.max_offset().min(from + max as i64);
        if from < self.min_offset() || from >= end {
            return Ok(Vec::new());
        }
        let no = from as u64 / self.entries_per_file;
        let file_end = ((no + 1) * self.entries_per_file) as i64;
        let end = end.min(file_end);
        let Some(file) = self.file(no) else { return Ok(Vec::new()) };
        let mut buf = vec![0u8; ((end - from) as u64 * CQ_ENTRY_BYTES) as usize];
        file.read_exact_at(&mut buf, (from as u64 % self.entries_per_file) * CQ_ENTRY_BYTES).map_err(|e| StoreError::io(self.file_path(no), e))?;
        Ok(buf.chunks_exact(20).map(CqEntry::decode).collect())
    }

    pub fn entry(&self, offset: i64) -> Result<Option<CqEntry>, StoreError> {
        Ok(self.read(offset, 1)?.into_iter().next())
    }

    /// Drops entries at and past `offset` (recovery after a torn CommitLog tail).
    pub fn truncate(&self, offset: i64) -> Result<(), StoreError> {
        let max = self.max_offset();
        // Zero the dropped entries, one write per file.
        let mut o = offset.max(self.min_offset());
        while o < max {
            let no = o as u64 / self.entries_per_file;
            let file_end = ((no + 1) * self.entries_per_file) as i64;
            let n = (file_end.min(max) - o) as usize;
            if let Some(f) = self.file(no) {
                let at = (o as u64 % self.entries_per_file) * CQ_ENTRY_BYTES;
                f.write_all_at(&vec![0u8; n * CQ_ENTRY_BYTES as usize], at).map_err(|e| StoreError::io(self.file_path(no), e))?;
            }
            o += n as i64;
        }
        if offset < max {
            self.max_offset.store(offset.max(self.min_offset()), Ordering::Release);
        }
        Ok(())
    }

    /// Moves the min offset past entries pointing below `commitlog_min` and deletes the
    /// files that hold nothing else.
    pub fn drop_below(&self, commitlog_min: i64) -> Result<(), StoreError> {
        let (mut lo, mut hi) = (self.min_offset(), self.max_offset());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid)? {
                Some(e) if e.phys_offset >= commitlog_min => hi = mid,
                _ => lo = mid + 1,
            }
        }
        if lo <= self.min_offset() {
            return Ok(());
        }
        self.min_offset.store(lo, Ordering::Release);
        let first_kept_file = lo as u64 / self.entries_per_file;
        let doomed: Vec<u64> = {
            let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
            (0..first_kept_file.min(files.len() as u64)).filter(|no| files[*no as usize].take().is_some()).collect()
        };
        for no in doomed {
            let path = self.file_path(no);
            std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
        }
        Ok(())
    }

    /// Makes the written entries durable: the newest file, and any file that filled up since
    /// the last sync.
    pub fn sync(&self) -> Result<(), StoreError> {
        let from = self.unsynced_from.load(Ordering::Acquire);
        let files: Vec<(u64, Arc<File>)> = self
            .files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .enumerate()
            .skip(from as usize)
            .filter_map(|(no, f)| f.clone().map(|f| (no as u64, f)))
            .collect();
        for (no, f) in &files {
            f.sync_data().map_err(|e| StoreError::io(self.file_path(*no), e))?;
        }
        if let Some((last, _)) = files.last() {
            self.unsynced_from.store(*last, Ordering::Release);
        }
        if self.dir_dirty.swap(false, Ordering::AcqRel) {
            crate::commitlog::sync_dir(&self.dir)?;
        }
        if self.new_dir.swap(false, Ordering::AcqRel) {
            // consumequeue/<topic>/<queueId>: the topic directory and its parent gained entries.
            for parent in self.dir.ancestors().skip(1).take(2) {
                crate::commitlog::sync_dir(parent)?;
            }
        }
        Ok(())
    }

    pub fn remove_files(&self) -> Result<(), StoreError> {
        self.files.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.max_offset.store(0, Ordering::Release);
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&self.dir, e)),
        }
    }
}
