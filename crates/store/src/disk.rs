//! How full the disk is: measured by each retention pass (statvfs, or the store's own bytes
//! against `diskCapacityBytes`), and checked on every put against the last measurement
//! plus what the CommitLog grew since, so sends are refused above
//! `diskSpaceWarningLevelRatio` without a system call per put.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::commitlog::CommitLog;
use crate::config::StoreConfig;

pub(crate) struct DiskUsage {
    root: PathBuf,
    /// `diskCapacityBytes`: count usage against this instead of the filesystem's size.
    capacity_bytes: Option<u64>,
    warning_ratio: f64,
    /// Used fraction of the disk (or of `capacity_bytes`) at the last check, ×10⁶.
    used_ppm: AtomicU64,
    /// At the last check: the filesystem's size in bytes (0 with `capacity_bytes`) and
    /// the CommitLog's write end, so `full` can add what was written since.
    total_bytes: AtomicU64,
    measured_end: AtomicU64,
    /// Bytes of all consume queues, counted by each retention pass.
    consume_queue_bytes: AtomicU64,
}

impl DiskUsage {
    pub fn new(config: &StoreConfig) -> DiskUsage {
        DiskUsage {
            root: config.root_dir.clone(),
            capacity_bytes: config.disk_capacity_bytes.filter(|c| *c > 0),
            warning_ratio: config.retention.disk_space_warning_level_ratio,
            used_ppm: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            measured_end: AtomicU64::new(0),
            consume_queue_bytes: AtomicU64::new(0),
        }
    }

    /// Records what the consume queues hold (counted by a retention pass).
    pub fn set_consume_queue_bytes(&self, bytes: u64) {
        self.consume_queue_bytes.store(bytes, Ordering::Release);
    }

    /// Bytes the store holds: the live CommitLog range, plus the consume queues as of the
    /// last retention pass (summing every queue on each put would cost the append path).
    fn store_bytes(&self, cl: &CommitLog) -> u64 {
        let live = cl.max_offset().saturating_sub(cl.min_offset());
        live + self.consume_queue_bytes.load(Ordering::Acquire)
    }

    /// Used fraction of the disk the store lives on, or of the configured capacity.
    pub fn used_ratio(&self, cl: &CommitLog) -> f64 {
        self.usage(cl).0
    }

    /// Used fraction as `used_ratio`, and the filesystem's size in bytes (0 when the
    /// configured capacity is used, or statvfs fails).
    #[allow(clippy::unnecessary_cast, reason = "statvfs's field types differ between platforms")]
    fn usage(&self, cl: &CommitLog) -> (f64, u64) {
        match self.capacity_bytes {
            Some(cap) => (self.store_bytes(cl) as f64 / cap as f64, 0),
            None => match nix::sys::statvfs::statvfs(&self.root) {
                // As Java's `UtilAll.getDiskPartitionSpaceUsedPercent` and df's Use%: used over
                // used plus what this user may still write. Blocks reserved for root (or hidden
                // by a thin-provisioned volume) count neither way; counting them as used
                // refused sends on a disk df shows at 68%.
                Ok(s) if s.blocks() > 0 => {
                    let (ratio, entire) = used_of(s.blocks() as u64, s.blocks_free() as u64, s.blocks_available() as u64);
                    (ratio, entire * s.fragment_size() as u64)
                }
                _ => (0.0, 0),
            },
        }
    }

    /// Bytes used on the filesystem the store lives on (its size less what is free, as Java's
    /// `rocketmq_storage_size`), or the store's own bytes with a configured capacity.
    #[allow(clippy::unnecessary_cast, reason = "statvfs's field types differ between platforms")]
    pub fn used_bytes(&self, cl: &CommitLog) -> u64 {
        match self.capacity_bytes {
            Some(_) => self.store_bytes(cl),
            None => nix::sys::statvfs::statvfs(&self.root)
                .map(|s| (s.blocks() as u64).saturating_sub(s.blocks_free() as u64) * s.fragment_size() as u64)
                .unwrap_or(0),
        }
    }

    /// Measures the disk (retention passes): what `full` starts from until the next one.
    pub fn measure(&self, cl: &CommitLog) -> f64 {
        let (ratio, total) = self.usage(cl);
        self.measured_end.store(cl.max_offset(), Ordering::Release);
        self.total_bytes.store(total, Ordering::Release);
        self.used_ppm.store((ratio * 1e6) as u64, Ordering::Release);
        ratio
    }

    /// Why a put of `bytes` more must be refused for lack of space, if it must. `write_pos` is
    /// where the appender will write it (records of its batch before it are not published yet).
    pub fn full(&self, cl: &CommitLog, write_pos: u64, bytes: u64) -> Option<String> {
        let limit = self.warning_ratio;
        let ratio = match self.capacity_bytes {
            Some(cap) => (self.store_bytes(cl) + write_pos.saturating_sub(cl.max_offset()) + bytes) as f64 / cap as f64,
            // The last measurement plus what the CommitLog grew since: the check does not lag
            // the writes by a retention interval.
            None => {
                let total = self.total_bytes.load(Ordering::Acquire);
                let grown = (write_pos + bytes).saturating_sub(self.measured_end.load(Ordering::Acquire));
                self.used_ppm.load(Ordering::Acquire) as f64 / 1e6 + if total > 0 { grown as f64 / total as f64 } else { 0.0 }
            }
        };
        (ratio > limit).then(|| {
            format!("disk full: usage {:.1}% is over diskSpaceWarningLevelRatio {:.0}%; sends are refused until space is freed", ratio * 100.0, limit * 100.0)
        })
    }
}

/// Used fraction of a filesystem of `blocks` with `free` blocks, `available` of them to this
/// user, and the blocks that fraction is of (used plus available).
fn used_of(blocks: u64, free: u64, available: u64) -> (f64, u64) {
    let used = blocks.saturating_sub(free);
    let entire = used + available;
    if entire == 0 {
        (0.0, 0)
    } else {
        (used as f64 / entire as f64, entire)
    }
}

#[cfg(test)]
mod tests {
    use super::used_of;

    #[test]
    fn usage_is_used_over_used_plus_available_as_df_and_java() {
        // A thin-provisioned volume: 66M blocks, 49.9M free, only 7.7M available to us.
        // df says 68%; counting the unavailable free blocks as used would say 88%.
        let (ratio, entire) = used_of(66_053_021, 49_893_602, 7_715_897);
        assert_eq!((ratio * 100.0).round(), 68.0);
        assert_eq!(entire, 66_053_021 - 49_893_602 + 7_715_897);
        // Root's reserved blocks: free 10, available 5 of 100 → 90 used of 95.
        assert_eq!(used_of(100, 10, 5).0, 90.0 / 95.0);
        assert_eq!(used_of(0, 0, 0), (0.0, 0));
    }
}
