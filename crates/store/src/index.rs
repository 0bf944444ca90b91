//! Key index in RocketMQ's IndexFile layout: each file is a 40-byte header, a table of
//! hash slots, and linked entries. A key (`topic#key`, for every KEYS entry and the
//! UNIQ_KEY) hashes to a slot holding the newest entry for that slot; each entry
//! links to the previous one. Files are memory-mapped, so an insert is two stores
//! into the page cache and survives a killed process; `sync` makes them durable.
//!
//! Header: beginTimestamp i64, endTimestamp i64, beginPhyOffset i64, endPhyOffset i64,
//! hashSlotCount i32, indexCount i32 (starting at 1). Entry: keyHash i32,
//! phyOffset i64, timeDiff i32 (seconds since beginTimestamp), prevIndex i32.
//! Files are named by the 20-digit CommitLog offset of their first entry.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use memmap2::MmapMut;

use crate::StoreError;

const HEADER_BYTES: usize = 40;
const SLOT_BYTES: usize = 4;
const ENTRY_BYTES: usize = 20;

/// `maxHashSlotNum` and `maxIndexNum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexLimits {
    pub hash_slots: usize,
    pub entries: usize,
}

impl Default for IndexLimits {
    fn default() -> Self {
        IndexLimits { hash_slots: 5_000_000, entries: 20_000_000 }
    }
}

struct IndexFile {
    path: PathBuf,
    map: Mutex<MmapMut>,
}

/// `abs(String.hashCode("topic#key"))`, as RocketMQ indexes keys.
fn key_hash(topic: &str, key: &str) -> i32 {
    // String.hashCode runs over the UTF-16 units in order, so the parts chain without a join.
    let h = [topic, "#", key].iter().flat_map(|part| part.encode_utf16()).fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(unit as i32));
    if h == i32::MIN {
        0
    } else {
        h.abs()
    }
}

fn get_i32(m: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(m[at..at + 4].try_into().unwrap_or_default())
}

fn get_i64(m: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(m[at..at + 8].try_into().unwrap_or_default())
}

fn put_i32(m: &mut [u8], at: usize, v: i32) {
    m[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put_i64(m: &mut [u8], at: usize, v: i64) {
    m[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

impl IndexFile {
    fn open(path: PathBuf, begin_phys: u64, limits: IndexLimits) -> Result<IndexFile, StoreError> {
        let size = HEADER_BYTES + limits.hash_slots * SLOT_BYTES + limits.entries * ENTRY_BYTES;
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| StoreError::io(&path, e))?;
        if file.metadata().map_err(|e| StoreError::io(&path, e))?.len() != size as u64 {
            file.set_len(size as u64).map_err(|e| StoreError::io(&path, e))?;
        }
        // SAFETY: the file belongs to this store alone (one broker per storePathRootDir) and
        // is never truncated while mapped, so the mapping stays valid; all access goes
        // through the mutex below.
        let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| StoreError::io(&path, e))?;
        if get_i32(&map, 36) == 0 {
            put_i32(&mut map, 32, limits.hash_slots as i32);
            put_i32(&mut map, 36, 1);
            put_i64(&mut map, 16, begin_phys as i64);
        }
        Ok(IndexFile { path, map: Mutex::new(map) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MmapMut> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn end_phys(&self) -> i64 {
        get_i64(&self.lock(), 24)
    }

    /// Adds one entry; false when the file is full.
    fn put(&self, limits: IndexLimits, hash: i32, phys: i64, store_ms: i64) -> bool {
        let mut m = self.lock();
        let count = get_i32(&m, 36) as usize;
        if count > limits.entries {
            return false;
        }
        if count == 1 {
            put_i64(&mut m, 0, store_ms);
        }
        let begin_ms = get_i64(&m, 0);
        let slot_at = HEADER_BYTES + (hash as usize % limits.hash_slots) * SLOT_BYTES;
        let prev = get_i32(&m, slot_at);
        let at = HEADER_BYTES + limits.hash_slots * SLOT_BYTES + (count - 1) * ENTRY_BYTES;
        put_i32(&mut m, at, hash);
        put_i64(&mut m, at + 4, phys);
        put_i32(&mut m, at + 12, ((store_ms - begin_ms).max(0) / 1000) as i32);
        put_i32(&mut m, at + 16, prev);
        // Publish the entry before the slot points at it.
        put_i32(&mut m, slot_at, count as i32);
        put_i32(&mut m, 36, count as i32 + 1);
        let (end_ms, end_phys) = (get_i64(&m, 8), get_i64(&m, 24));
        put_i64(&mut m, 8, store_ms.max(end_ms));
        put_i64(&mut m, 24, phys.max(end_phys));
        true
    }

    /// Offsets under `hash` stored within `[begin_ms, end_ms]`, newest first.
    fn lookup(&self, limits: IndexLimits, hash: i32, begin_ms: i64, end_ms: i64, max: usize, out: &mut Vec<i64>) {
        let m = self.lock();
        let count = get_i32(&m, 36);
        let file_begin_ms = get_i64(&m, 0);
        if get_i64(&m, 8) < begin_ms || file_begin_ms > end_ms {
            return;
        }
        let mut idx = get_i32(&m, HEADER_BYTES + (hash as usize % limits.hash_slots) * SLOT_BYTES);
        // A chain visits each entry at most once; the bound stops a damaged file from looping.
        let mut steps = 0;
        while idx > 0 && idx < count && out.len() < max && steps < limits.entries {
            steps += 1;
            let at = HEADER_BYTES + limits.hash_slots * SLOT_BYTES + (idx as usize - 1) * ENTRY_BYTES;
            let t = file_begin_ms + get_i32(&m, at + 12) as i64 * 1000;
            if get_i32(&m, at) == hash && t >= begin_ms - 999 && t <= end_ms {
                let phys = get_i64(&m, at + 4);
                if !out.contains(&phys) {
                    out.push(phys);
                }
            }
            let prev = get_i32(&m, at + 16);
            if prev >= idx {
                break;
            }
            idx = prev;
        }
    }
}

pub(crate) struct KeyIndex {
    dir: PathBuf,
    limits: IndexLimits,
    /// Oldest first; the last one takes new entries.
    files: RwLock<Vec<Arc<IndexFile>>>,
}

impl KeyIndex {
    pub fn open(dir: PathBuf, limits: IndexLimits) -> Result<KeyIndex, StoreError> {
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            if let Some(base) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut files = Vec::new();
        for base in bases {
            files.push(Arc::new(IndexFile::open(file_path(&dir, base), base, limits)?));
        }
        Ok(KeyIndex { dir, limits, files: RwLock::new(files) })
    }

    /// The CommitLog offset up to which every record's keys are indexed.
    pub fn end_phys(&self) -> i64 {
        let last = self.files.read().unwrap_or_else(|e| e.into_inner()).last().cloned();
        last.map_or(0, |f| f.end_phys())
    }

    pub fn add<'a>(&self, topic: &str, keys: impl IntoIterator<Item = &'a str>, phys_offset: i64, store_ms: i64) -> Result<(), StoreError> {
        for key in keys {
            let hash = key_hash(topic, key);
            loop {
                let current = self.files.read().unwrap_or_else(|e| e.into_inner()).last().cloned();
                if let Some(f) = current {
                    if f.put(self.limits, hash, phys_offset, store_ms) {
                        break;
                    }
                }
                // Full (or none yet): start a file at this record.
                let f = Arc::new(IndexFile::open(file_path(&self.dir, phys_offset as u64), phys_offset as u64, self.limits)?);
                self.files.write().unwrap_or_else(|e| e.into_inner()).push(f);
            }
        }
        Ok(())
    }

    /// Candidate offsets for a key stored within the time range, newest first.
    pub fn candidates(&self, topic: &str, key: &str, max: usize, begin_ms: i64, end_ms: i64) -> Vec<i64> {
        let hash = key_hash(topic, key);
        let files = self.files.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = Vec::new();
        for f in files.iter().rev() {
            if out.len() >= max {
                break;
            }
            f.lookup(self.limits, hash, begin_ms, end_ms, max, &mut out);
        }
        out
    }

    /// Deletes files whose every entry lies below `min_offset` (keeps the newest file).
    pub fn retain_from(&self, min_offset: i64) -> Result<(), StoreError> {
        // Decided on a copy, so no file's lock is taken under the list's. Files are added
        // only at the back: the copy's doomed prefix is still the list's prefix, as far as
        // another pass has not removed it meanwhile.
        let files = self.files.read().unwrap_or_else(|e| e.into_inner()).clone();
        let n = files.len().saturating_sub(1);
        let expired = &files[..files[..n].iter().take_while(|f| f.end_phys() < min_offset).count()];
        let doomed: Vec<Arc<IndexFile>> = {
            let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
            let k = files.iter().zip(expired).take_while(|(a, b)| Arc::ptr_eq(a, b)).count();
            files.drain(..k).collect()
        };
        for f in doomed {
            std::fs::remove_file(&f.path).map_err(|e| StoreError::io(&f.path, e))?;
        }
        Ok(())
    }

    /// Makes every entry durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(f) = files.last() {
            f.lock().flush().map_err(|e| StoreError::io(&f.path, e))?;
        }
        Ok(())
    }
}

fn file_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_is_the_java_hash_of_topic_hash_key() {
        for (t, k) in [("TopicTest", "7F00000100012A9F"), ("t", ""), ("主题", "键é")] {
            let h = protocol::message::java_hash(&format!("{t}#{k}"));
            assert_eq!(key_hash(t, k), if h == i32::MIN { 0 } else { h.abs() });
        }
    }

    #[test]
    fn chains_collisions_rollover_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let limits = IndexLimits { hash_slots: 7, entries: 10 };
        let idx = KeyIndex::open(dir.path().to_path_buf(), limits).unwrap();
        for i in 0..25i64 {
            idx.add("T", [format!("k{}", i % 5).as_str()], i * 100, 1_700_000_000_000 + i * 1000).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3, "rolled over when full");
        let got = idx.candidates("T", "k2", 32, 0, i64::MAX);
        assert_eq!(got, vec![2200, 1700, 1200, 700, 200]);
        assert!(idx.candidates("U", "k2", 32, 0, i64::MAX).iter().all(|p| got.contains(p)), "other topics only collide by hash");
        // Time range.
        assert_eq!(idx.candidates("T", "k2", 32, 1_700_000_012_000, 1_700_000_017_000), vec![1700, 1200]);
        assert_eq!(idx.end_phys(), 2400);
        drop(idx);
        let idx = KeyIndex::open(dir.path().to_path_buf(), limits).unwrap();
        assert_eq!(idx.candidates("T", "k2", 32, 0, i64::MAX), vec![2200, 1700, 1200, 700, 200]);
        idx.retain_from(1500).unwrap();
        assert_eq!(idx.candidates("T", "k2", 32, 0, i64::MAX), vec![2200, 1700, 1200], "the first file (0..900) went");
    }

    #[test]
    fn java_key_hash() {
        assert_eq!(key_hash("TopicTest", "key1"), 1_655_984_460);
    }
}
