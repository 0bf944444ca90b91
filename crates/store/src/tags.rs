//! [`TagCodeRule`]: the ConsumeQueue tag code of a record that recovery reads back from the
//! CommitLog. The appender takes the tag code each put carries; recovery has only the
//! record, so this rule decides: the TAGS hash by default, and what the broker says for its
//! own topics (a delayed message's due time, for the schedule topic, as RocketMQ's store).

use protocol::message::{prop, tags_code, Properties};

pub trait TagCodeRule: Send + Sync + std::fmt::Debug {
    fn tag_code(&self, topic: &str, properties: &Properties, store_timestamp_ms: i64) -> i64;
}

/// The hash of the TAGS property (0 without one).
#[derive(Debug, Clone, Copy, Default)]
pub struct TagsHash;

impl TagCodeRule for TagsHash {
    fn tag_code(&self, _topic: &str, properties: &Properties, _store_timestamp_ms: i64) -> i64 {
        tags_code(properties.get(prop::TAGS))
    }
}
