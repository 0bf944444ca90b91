//! Looking messages up: by CommitLog offset (VIEW_MESSAGE_BY_ID) and by key or unique key
//! (QUERY_MESSAGE).

use bytes::Bytes;
use protocol::codes::response as rs;

use crate::error::{BrokerError, BrokerResult};
use crate::Broker;

/// `defaultQueryMaxNum`: the most messages one key query returns.
const QUERY_MAX_NUM: usize = 32;

/// A key query and where the index stood when it was answered.
#[derive(Debug)]
pub struct Found {
    pub records: Vec<Bytes>,
    pub index_last_update_ms: i64,
    pub index_last_update_phys_offset: i64,
}

impl Broker {
    /// The stored record at a CommitLog offset.
    pub fn view_message(&self, phys_offset: i64) -> BrokerResult<Bytes> {
        match self.store.read_message(phys_offset) {
            Ok(Some(rec)) => Ok(rec),
            Ok(None) => Err(BrokerError::system(format!("can not find message by the offset, {phys_offset}"))),
            Err(e) => Err(BrokerError::system(e.to_string())),
        }
    }

    /// Messages of `topic` with `key` among their keys (or as unique key, `unique`) stored
    /// within `[begin_ms, end_ms]`, newest first: at most `max` (32 for a unique key).
    pub fn query_by_key(&self, topic: &str, key: &str, max: i64, begin_ms: i64, end_ms: i64, unique: bool) -> BrokerResult<Found> {
        let max = if unique { QUERY_MAX_NUM } else { (max.max(1) as usize).min(QUERY_MAX_NUM) };
        let records = self.store.query_by_key(topic, key, max, begin_ms, end_ms).map_err(|e| BrokerError::system(e.to_string()))?;
        if records.is_empty() {
            return Err(BrokerError::new(rs::QUERY_NOT_FOUND, "can not find message, maybe time range not correct"));
        }
        Ok(Found { records, index_last_update_ms: self.clock.now_ms(), index_last_update_phys_offset: self.store.commit_log_max_offset() })
    }
}
