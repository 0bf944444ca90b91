//! Trace records of what the broker does to a message that its clients cannot see: a move to a
//! retry or dead-letter topic, a delivery from a delay level or a timer, a transaction's end.
//! With `brokerTraceEnable` they go to the trace topic (`msgTraceTopicName`, made with
//! `traceTopicEnable`) in the Java client's `TraceDataEncoder` format, keyed by the message's
//! id, so a query of the message's trace (ours, and mqadmin's `queryMsgTraceById`) shows its
//! whole path beside what its producer and consumers recorded.
//!
//! Moves and deliveries are `Pub` records of the copy the broker stored (its topic, the
//! consumer group for retries and DLQ moves, the broker's name otherwise); transaction ends are
//! `EndTransaction` records. Their client host is `broker:<brokerName>`, which tells them from a
//! client's. A trace that cannot be stored is logged and dropped: it never fails what it records.

use bytes::Bytes;
use protocol::message::{prop, Properties};
use protocol::trace::{encode, msg_type, BROKER_HOST_PREFIX};

use crate::put::NewMessage;
use crate::Broker;

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Given back by a consumer group (a send-back, or a POP message not acknowledged within
    /// its invisible time): stored in its retry topic.
    Retry,
    /// Past its group's retries: stored in its dead-letter topic.
    DeadLetter,
    /// A delayed or timer message that came due: stored in its topic.
    Delivered,
    /// A transaction's end: the half message committed (stored in its topic) or rolled back.
    Committed {
        from_check: bool,
    },
    RolledBack {
        from_check: bool,
    },
}

/// The id a message's trace is found by: the client's (UNIQ_KEY).
fn msg_id(props: &Properties) -> &str {
    props.get(prop::UNIQ_KEY).unwrap_or("")
}

impl Broker {
    /// Records `event` for `m` (the copy stored, or for a rollback the half message) as seen by
    /// `group` (the consumer group of a retry or DLQ move, the producer group of a transaction).
    pub(crate) async fn trace(&self, event: Event, group: &str, m: &NewMessage) {
        if !self.config.broker_trace_enable {
            return;
        }
        let trace_topic = &self.config.msg_trace_topic_name;
        if self.topics.get(trace_topic).is_none() {
            tracing::debug!(topic = %trace_topic, "brokerTraceEnable without the trace topic (traceTopicEnable=true makes it)");
            return;
        }
        let id = msg_id(&m.props);
        if id.is_empty() {
            return;
        }
        let now = self.clock.now_ms().to_string();
        let region = self.config.region_id.as_str();
        let client_host = format!("{BROKER_HOST_PREFIX}{}", self.config.broker_name);
        let store_host = self.store_host.to_string();
        let (tags, keys) = (m.props.get(prop::TAGS).unwrap_or(""), m.props.get(prop::KEYS).unwrap_or(""));
        let by_broker = self.config.broker_name.as_str();
        let text = match event {
            Event::Retry | Event::DeadLetter | Event::Delivered => {
                let (group, kind) = match event {
                    Event::Delivered => (by_broker, msg_type::DELAY),
                    _ => (group, msg_type::NORMAL),
                };
                let (len, kind) = (m.body.len().to_string(), kind.to_string());
                encode(&["Pub", &now, region, group, &m.topic, id, tags, keys, &store_host, &len, "0", &kind, "", "true", &client_host])
            }
            Event::Committed { from_check } | Event::RolledBack { from_check } => {
                let state = if matches!(event, Event::Committed { .. }) { "COMMIT_MESSAGE" } else { "ROLLBACK_MESSAGE" };
                let transaction_id = m.props.get("__transactionId__").unwrap_or("");
                let (kind, check) = (msg_type::TRANS_COMMIT.to_string(), from_check.to_string());
                encode(&["EndTransaction", &now, region, group, &m.topic, id, tags, keys, &store_host, &kind, transaction_id, state, &check])
            }
        };
        let mut props = Properties::default();
        props.set(prop::KEYS, id);
        let trace = NewMessage {
            topic: trace_topic.clone(),
            queue_id: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp: self.clock.now_ms(),
            born_host: self.store_host,
            reconsume_times: 0,
            body: Bytes::from(text.into_bytes()),
            props,
            prepared_transaction_offset: 0,
        };
        if let Err(e) = self.put(vec![trace], false).await {
            tracing::warn!(error = %e, msg_id = %id, "a broker trace record could not be stored");
        }
    }
}
