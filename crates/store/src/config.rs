//! The store's settings: file sizes, flush mode, limits, retention and page-cache policy,
//! each named after the broker.conf key it comes from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::index::IndexLimits;
use crate::retention::RetentionPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Acknowledge after the write reaches the page cache; flush periodically.
    Async,
    /// Acknowledge only after an fdatasync covers the message (group commit).
    Sync,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub root_dir: PathBuf,
    /// `mappedFileSizeCommitLog`.
    pub commit_log_file_bytes: u64,
    /// `mappedFileSizeConsumeQueue` / 20.
    pub consume_queue_file_entries: u64,
    pub flush_mode: FlushMode,
    /// `flushIntervalCommitLog`, for ASYNC_FLUSH.
    pub flush_interval: Duration,
    /// `syncFlushTimeout`: a SYNC_FLUSH put slower than this answers FLUSH_DISK_TIMEOUT.
    pub sync_flush_timeout: Duration,
    /// Puts waiting for the appender; senders wait beyond this.
    pub append_queue_depth: usize,
    /// `maxTransferCountOnMessageInMemory` / `maxTransferBytesOnMessageInMemory`.
    pub max_transfer_count: usize,
    /// Consume-queue entries one read may look at while a property filter rejects what it
    /// reads, before it answers with what it has (so a sparse filter needs few requests).
    pub max_filter_scan_entries: usize,
    pub max_transfer_bytes: usize,
    /// Verify body CRCs on every read, not only in recovery.
    pub check_crc_on_read: bool,
    /// How long a put may wait for room in the append queue before it is refused as busy
    /// (None: wait as long as it takes).
    pub append_wait: Option<Duration>,
    /// Check every record of the files recovery reads, after a clean shutdown too (the last
    /// file). Off, a clean start checks only the last record and starts at once.
    pub check_crc_on_recover: bool,
    /// Start even when recovery finds corruption inside the CommitLog, dropping every
    /// record from the damage on. Off by default: the store refuses to start instead.
    pub truncate_corrupt: bool,
    pub retention: RetentionPolicy,
    /// `cleanResourceInterval`: how often retention and disk usage are checked.
    pub clean_interval: Duration,
    /// Count usage against this many bytes instead of the filesystem's size.
    pub disk_capacity_bytes: Option<u64>,
    /// `maxHashSlotNum` and `maxIndexNum` of each index file.
    pub index_limits: IndexLimits,
    /// How many bytes of CommitLog pages ahead of the write end an idle-priority thread brings
    /// into the page cache for the appender (0: no such thread).
    pub warm_ahead_bytes: u64,
    /// How many bytes of the CommitLog behind the write end stay in the page cache. Flushed
    /// pages further behind are dropped from it, so new appends reuse their memory, and reads
    /// from the disk behind it drop what they read. 0: the kernel decides what stays.
    pub cache_window_bytes: u64,
    /// Store timestamps and retention ages come from this clock.
    pub clock: Arc<dyn Clock>,
    /// The tag code recovery gives a record it re-dispatches (the appender takes each put's).
    pub tag_code_rule: Arc<dyn crate::TagCodeRule>,
}

impl StoreConfig {
    pub fn new(root_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            root_dir: root_dir.into(),
            commit_log_file_bytes: 1024 * 1024 * 1024,
            consume_queue_file_entries: 300_000,
            flush_mode: FlushMode::Async,
            flush_interval: Duration::from_millis(500),
            sync_flush_timeout: Duration::from_millis(5000),
            append_queue_depth: 16_384,
            max_transfer_count: 32,
            max_filter_scan_entries: 16_000,
            max_transfer_bytes: 256 * 1024,
            check_crc_on_read: false,
            check_crc_on_recover: true,
            append_wait: None,
            truncate_corrupt: false,
            retention: RetentionPolicy::default(),
            clean_interval: Duration::from_secs(10),
            disk_capacity_bytes: None,
            index_limits: IndexLimits::default(),
            warm_ahead_bytes: 0,
            cache_window_bytes: 0,
            clock: Arc::new(SystemClock),
            tag_code_rule: Arc::new(crate::TagsHash),
        }
    }

    pub fn commit_log_dir(&self) -> PathBuf {
        self.root_dir.join("commitlog")
    }

    pub fn consume_queue_dir(&self) -> PathBuf {
        self.root_dir.join("consumequeue")
    }

    pub fn index_dir(&self) -> PathBuf {
        self.root_dir.join("index")
    }
}
