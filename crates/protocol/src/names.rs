//! Topic and group name rules (`TopicValidator`).

/// Longest topic name accepted (retry and DLQ topics may be longer, see below).
pub const TOPIC_MAX_CHARS: usize = 127;
/// Retry and DLQ topics are `%RETRY%` / `%DLQ%` plus a group name.
pub const SYSTEM_TOPIC_MAX_CHARS: usize = 255;
pub const GROUP_MAX_CHARS: usize = 120;

pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";

/// Topics that producers may not send to (`TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`).
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] =
    &["SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC", "TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT"];

/// What Java appends to the remarks of a missing topic (`FAQUrl.suggestTodo(APPLY_TOPIC_URL)`).
pub const APPLY_TOPIC_TIP: &str = "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.";

/// Java's `TopicValidator` system topics, before a broker adds its own (`Broker::system_topics`).
pub const SYSTEM_TOPICS: &[&str] = &[
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "BenchmarkTest",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
    "CHECKPOINT_TOPIC",
];

/// The prefix Java gives the broker's own system topics (`rmq_sys_…`).
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";

/// The prefix of the topics that journal POP's state (`rmq_sys_REVIVE_LOG_<cluster>`).
pub const REVIVE_LOG_TOPIC_PREFIX: &str = "rmq_sys_REVIVE_LOG_";

/// Whether producers are refused this topic: Java's list, and the broker's POP journal
/// (only the broker writes it: its records move consumer offsets at start).
pub fn is_not_allowed_send_topic(topic: &str) -> bool {
    NOT_ALLOWED_SEND_TOPICS.contains(&topic) || topic.starts_with(REVIVE_LOG_TOPIC_PREFIX)
}

/// Whether `topic` is a group's retry or dead-letter topic (`%RETRY%…`, `%DLQ%…`).
pub fn is_group_topic(topic: &str) -> bool {
    topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) || topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
}

fn valid_chars(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
}

pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

/// Checks a topic name; the error text is what the client sees in the remark (Java's
/// `TopicValidator.validateTopic`: its checks in its order, its words).
pub fn validate_topic(topic: &str) -> Result<(), String> {
    if topic.trim().is_empty() {
        return Err("The specified topic is blank.".into());
    }
    if !valid_chars(topic) {
        return Err("The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$".into());
    }
    let max = if is_group_topic(topic) { SYSTEM_TOPIC_MAX_CHARS } else { TOPIC_MAX_CHARS };
    if topic.len() > max {
        return Err("The specified topic is longer than topic max length.".into());
    }
    Ok(())
}

pub fn validate_group(group: &str) -> Result<(), String> {
    if group.trim().is_empty() {
        return Err("the specified group is blank".into());
    }
    if group.len() > GROUP_MAX_CHARS {
        return Err(format!("the specified group is longer than group max length {GROUP_MAX_CHARS}"));
    }
    if !valid_chars(group) {
        return Err(format!("the specified group[{group}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_rules() {
        assert!(validate_topic("Topic_A-1|x%").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic("a b").is_err());
        assert!(validate_topic("主题").is_err());
        assert!(validate_topic(&"a".repeat(128)).is_err());
        assert!(validate_topic(&format!("%RETRY%{}", "g".repeat(120))).is_ok());
        assert!(validate_group(&"g".repeat(121)).is_err());
    }
}
