//! Consumer offsets and queue offsets: a group's committed offset (and where a new group
//! starts), commits, a queue's min and max offset, the offset at a time, the earliest
//! store time.

use protocol::codes::response as rs;
use store::BoundaryType;

use crate::error::{BrokerError, BrokerResult};
use crate::Broker;

impl Broker {
    /// The group's committed offset of a queue. Without one: with `zero_if_not_found` (a
    /// request without the flag asks for it), a young queue whose first message is still in
    /// memory starts a new group at 0, so a consumer "from last offset" of a new topic misses
    /// nothing. A queue with no message yet is QUERY_NOT_FOUND, as in the Java 5 broker
    /// (`checkInMemByConsumeOffset` is false without a first entry; 4.9's `!checkInDisk…`
    /// answered 0), and the client starts at the max offset, 0 too.
    pub fn query_consumer_offset(&self, group: &str, topic: &str, queue_id: i32, zero_if_not_found: bool) -> BrokerResult<i64> {
        if let Some(offset) = self.offsets.query(group, topic, queue_id) {
            return Ok(offset);
        }
        if !zero_if_not_found {
            return Err(BrokerError::new(rs::QUERY_NOT_FOUND, "Not found, do not set to zero, maybe this group boot first"));
        }
        if self.store.min_offset(topic, queue_id) <= 0 && self.first_message_in_memory(topic, queue_id) {
            return Ok(0);
        }
        Err(BrokerError::new(rs::QUERY_NOT_FOUND, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first"))
    }

    /// Whether the queue's first message lies within the newest `accessMessageInMemoryMaxRatio`
    /// percent of physical memory's worth of CommitLog, as RocketMQ estimates the page cache.
    pub(crate) fn first_message_in_memory(&self, topic: &str, queue_id: i32) -> bool {
        let phys = match self.store.queue_entries(topic, queue_id, 0, 1) {
            Ok(first) => match first.first() {
                Some(&(0, phys, _, _)) => phys,
                _ => return false,
            },
            Err(e) => {
                tracing::warn!(topic, queue_id, error = %e, "reading the first consume-queue entry");
                return false;
            }
        };
        let in_memory = crate::total_memory_bytes() as f64 * self.config.access_message_in_memory_max_ratio as f64 / 100.0;
        ((self.store.commit_log_max_offset() - phys) as f64) <= in_memory
    }

    /// A client's commit (UPDATE_CONSUMER_OFFSET). Ignored while an admin's reset of the queue
    /// waits for the group's next pull, as Java's "Offset has been previously reset": a commit
    /// from before the reset would undo it.
    pub fn commit_consumer_offset(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        if self.offsets.has_reset(group, topic, queue_id) {
            tracing::info!(group, topic, queue_id, offset, "offset update ignored: the offset has been reset");
            return;
        }
        self.offsets.commit(group, topic, queue_id, offset);
    }

    pub fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.store.max_offset(topic, queue_id)
    }

    pub fn min_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.store.min_offset(topic, queue_id)
    }

    pub fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp_ms: i64, boundary: BoundaryType) -> BrokerResult<i64> {
        self.store.offset_by_time(topic, queue_id, timestamp_ms, boundary).map_err(|e| BrokerError::system(e.to_string()))
    }

    /// When the queue's first message was stored; -1 when it has none.
    pub fn earliest_store_time(&self, topic: &str, queue_id: i32) -> BrokerResult<i64> {
        Ok(self.store.earliest_store_time(topic, queue_id).map_err(|e| BrokerError::system(e.to_string()))?.unwrap_or(-1))
    }
}
