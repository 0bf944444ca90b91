//! A put and its answer: the encoded records a sender hands to the store, and what the
//! appender answers (offsets, or why not).

use bytes::BytesMut;
use thiserror::Error;

/// One encoded record (offsets and store time still zero) with what dispatch needs.
#[derive(Debug)]
pub struct EncodedRecord {
    pub bytes: BytesMut,
    pub tags_code: i64,
    /// Index keys: each KEYS entry and the UNIQ_KEY.
    pub keys: Vec<String>,
}

/// Records for one topic and queue, appended contiguously with consecutive queue offsets.
#[derive(Debug)]
pub struct PutMessage {
    pub topic: String,
    pub queue_id: i32,
    pub records: Vec<EncodedRecord>,
    /// The WAIT property: under SYNC_FLUSH, answer only once flushed.
    pub wait_flush: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub first_queue_offset: i64,
    pub phys_offsets: Vec<i64>,
    pub store_timestamp: i64,
    /// Bytes the records took in the CommitLog.
    pub wrote_bytes: u64,
}

/// Why a put was not (fully) acknowledged.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PutError {
    #[error("message illegal: {0}")]
    MessageIllegal(String),
    #[error("store is not available: {0}")]
    ServiceUnavailable(String),
    /// Stored, but the flush did not finish within `syncFlushTimeout`.
    #[error("flush to disk timed out")]
    FlushDiskTimeout(PutResult),
    #[error("store I/O failed: {0}")]
    Io(String),
    /// The append queue stayed full for longer than the configured wait: flow control.
    #[error("{0}")]
    Busy(String),
    /// Stored on the master, but its replicas did not confirm it in time (SYNC_MASTER).
    #[error("replicas did not confirm in time")]
    FlushSlaveTimeout(PutResult),
    /// Stored on the master, but too few replicas are connected and in sync to wait for.
    #[error("not enough replicas in sync")]
    SlaveNotAvailable(PutResult),
    /// Not stored: a SYNC_MASTER under a controller whose in-sync set is smaller than
    /// `inSyncReplicas` takes no sends (Java's IN_SYNC_REPLICAS_NOT_ENOUGH).
    #[error("in-sync replicas not enough")]
    InSyncReplicasNotEnough,
}

impl PutError {
    /// What was stored despite the error: the puts that are stored but not as durable, or
    /// not as replicated, as asked.
    pub fn stored(&self) -> Option<&PutResult> {
        match self {
            PutError::FlushDiskTimeout(r) | PutError::FlushSlaveTimeout(r) | PutError::SlaveNotAvailable(r) => Some(r),
            _ => None,
        }
    }
}
