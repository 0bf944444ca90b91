//! PULL_MESSAGE and LITE_PULL_MESSAGE, with long polling: a pull that finds nothing and
//! carries the SUSPEND flag is parked until a message arrives on its queue or its
//! suspend timeout passes, then answered on the same opaque.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use protocol::codes::{perm, pull_flag, response as rs};
use protocol::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use protocol::message::java_hash;
use protocol::{ProtocolError, RemotingCommand};
use remoting::Channel;
use store::{GetResult, GetStatus};
use tokio::time::Instant;

use super::error;
use crate::Broker;

/// A TAG subscription: `*` (everything) or the hash codes of `a || b`.
#[derive(Debug, Clone, PartialEq)]
pub struct TagFilter(Option<BTreeSet<i64>>);

impl TagFilter {
    pub fn parse(expression: Option<&str>) -> TagFilter {
        let expr = expression.unwrap_or("*").trim();
        if expr.is_empty() || expr == "*" {
            return TagFilter(None);
        }
        TagFilter(Some(expr.split("||").map(str::trim).filter(|t| !t.is_empty()).map(|t| java_hash(t) as i64).collect()))
    }

    fn from_codes(codes: &BTreeSet<i32>, sub_string: &str) -> TagFilter {
        if sub_string.trim() == "*" || sub_string.trim().is_empty() {
            return TagFilter(None);
        }
        if codes.is_empty() {
            return TagFilter::parse(Some(sub_string));
        }
        TagFilter(Some(codes.iter().map(|c| *c as i64).collect()))
    }

    pub fn matches(&self, tags_code: i64) -> bool {
        self.0.as_ref().is_none_or(|codes| codes.contains(&tags_code))
    }
}

/// Decrements the parked-pull count when a parked pull ends, however it ends.
struct Parked<'a>(&'a Broker);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.parked_pulls.fetch_sub(1, Ordering::AcqRel);
    }
}

pub async fn process(b: &Arc<Broker>, ch: &Channel, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let h = PullMessageRequestHeader::decode(&req.ext_fields)?;
    let filter = match check(b, req, &h) {
        Ok(f) => f,
        Err(resp) => return Ok(resp),
    };
    if let Some(resp) = offset_reset(b, req, &h) {
        return Ok(resp);
    }
    if h.sys_flag & pull_flag::COMMIT_OFFSET != 0 && h.commit_offset >= 0 {
        b.offsets.commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    }
    let max_msgs = h.max_msg_nums.max(1) as usize;
    let mut result = get(b, &h, max_msgs, &filter).await?;
    let suspend = h.sys_flag & pull_flag::SUSPEND != 0;
    if suspend && result.status == GetStatus::OffsetOverflowOne {
        let hold = if b.config.long_polling_enable {
            Duration::from_millis((h.suspend_timeout_millis.max(0) as u64).min(b.config.max_pull_hold_millis))
        } else {
            Duration::from_millis(b.config.short_polling_time_mills)
        };
        if b.parked_pulls.fetch_add(1, Ordering::AcqRel) < b.config.max_parked_pulls {
            let _parked = Parked(b);
            // A parked pull does not hold up a gentle end of its connection (shutdown).
            let _idle = ch.parked();
            let deadline = Instant::now() + hold;
            let notifier = b.store.arrivals().notifier(&h.topic, h.queue_id);
            loop {
                let notified = notifier.notified();
                tokio::pin!(notified);
                // Register before re-reading, so an arrival in between still wakes us.
                notified.as_mut().enable();
                if let Some(resp) = offset_reset(b, req, &h) {
                    return Ok(resp);
                }
                result = get(b, &h, max_msgs, &filter).await?;
                if result.status != GetStatus::OffsetOverflowOne || Instant::now() >= deadline {
                    break;
                }
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                    // Nobody will read the answer: give the slot back now.
                    _ = ch.closed() => break,
                }
            }
        } else {
            b.parked_pulls.fetch_sub(1, Ordering::AcqRel);
        }
    }
    Ok(respond(b, req, &h, result))
}

/// An admin reset this queue for the group: the consumer adopts the new offset
/// (OFFSET_RESET, answered as PULL_OFFSET_MOVED), and its own commit is not applied.
fn offset_reset(b: &Broker, req: &RemotingCommand, h: &PullMessageRequestHeader) -> Option<RemotingCommand> {
    let reset = b.offsets.take_reset(&h.consumer_group, &h.topic, h.queue_id)?;
    let (min, max) = (b.store.min_offset(&h.topic, h.queue_id), b.store.max_offset(&h.topic, h.queue_id));
    let mut resp = RemotingCommand::response_to(req, rs::PULL_OFFSET_MOVED).with_remark("OFFSET_RESET");
    PullMessageResponseHeader { suggest_which_broker_id: 0, next_begin_offset: reset, min_offset: min, max_offset: max }.encode(&mut resp.ext_fields);
    Some(resp)
}

/// Reads from the page cache on this task; an answer that needs the disk is read on the
/// blocking pool instead, so a cold backlog neither stalls the runtime's workers nor is
/// limited to one disk read per worker.
async fn get(b: &Arc<Broker>, h: &PullMessageRequestHeader, max_msgs: usize, filter: &TagFilter) -> Result<GetResult, ProtocolError> {
    let failed = |e: store::StoreError| ProtocolError::BadBody(format!("store read failed: {e}"));
    if let Some(r) = b.store.get_cached(&h.topic, h.queue_id, h.queue_offset, max_msgs, &|code| filter.matches(code)).map_err(failed)? {
        return Ok(r);
    }
    let (b, topic, queue_id, offset, filter) = (b.clone(), h.topic.clone(), h.queue_id, h.queue_offset, filter.clone());
    tokio::task::spawn_blocking(move || b.store.get(&topic, queue_id, offset, max_msgs, &|code| filter.matches(code)))
        .await
        .map_err(|e| ProtocolError::BadBody(format!("store read failed: {e}")))?
        .map_err(failed)
}

/// Broker, group, topic, queue and subscription checks, in the Java broker's order.
fn check(b: &Broker, req: &RemotingCommand, h: &PullMessageRequestHeader) -> Result<TagFilter, RemotingCommand> {
    if b.config.broker_permission & perm::READ == 0 {
        return Err(error(req, rs::NO_PERMISSION, format!("the broker[{}] pulling message is forbidden", b.config.broker_ip1)));
    }
    let Some(group) = b.groups.find_or_create(&h.consumer_group) else {
        return Err(error(req, rs::SUBSCRIPTION_GROUP_NOT_EXIST, format!("subscription group [{}] does not exist", h.consumer_group)));
    };
    if !group.consume_enable {
        return Err(error(req, rs::NO_PERMISSION, format!("subscription group no permission, {}", h.consumer_group)));
    }
    let Some(topic) = b.topics.get(&h.topic) else {
        return Err(error(req, rs::TOPIC_NOT_EXIST, format!("topic[{}] not exist, apply first please!", h.topic)));
    };
    if topic.perm & perm::READ == 0 {
        return Err(error(req, rs::NO_PERMISSION, format!("the topic[{}] pulling message is forbidden", h.topic)));
    }
    if h.queue_id < 0 || h.queue_id >= topic.read_queue_nums {
        return Err(error(
            req,
            rs::INVALID_PARAMETER,
            format!("queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}]", h.queue_id, h.topic, topic.read_queue_nums),
        ));
    }
    let sql = |t: Option<&str>| t.is_some_and(|t| !t.eq_ignore_ascii_case("TAG"));
    if h.sys_flag & pull_flag::SUBSCRIPTION != 0 {
        if sql(h.expression_type.as_deref()) {
            return Err(error(req, rs::SYSTEM_ERROR, "The broker does not support consumer to filter message by SQL92"));
        }
        return Ok(TagFilter::parse(h.subscription.as_deref()));
    }
    let Some(sub) = b.clients.subscription(&h.consumer_group, &h.topic) else {
        return Err(error(req, rs::SUBSCRIPTION_NOT_EXIST, "the consumer's subscription not exist"));
    };
    if sub.sub_version < h.sub_version {
        return Err(error(req, rs::SUBSCRIPTION_NOT_LATEST, "the consumer's subscription not latest"));
    }
    if sql(sub.expression_type.as_deref()) {
        return Err(error(req, rs::SYSTEM_ERROR, "The broker does not support consumer to filter message by SQL92"));
    }
    Ok(TagFilter::from_codes(&sub.code_set, &sub.sub_string))
}

fn respond(b: &Broker, req: &RemotingCommand, h: &PullMessageRequestHeader, r: GetResult) -> RemotingCommand {
    let (code, remark) = match r.status {
        GetStatus::Found => (rs::SUCCESS, "FOUND"),
        GetStatus::NoMatchedMessage => (rs::PULL_RETRY_IMMEDIATELY, "NO_MATCHED_MESSAGE"),
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue if h.queue_offset != 0 => (rs::PULL_OFFSET_MOVED, "NO_MESSAGE_IN_QUEUE"),
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue => (rs::PULL_NOT_FOUND, "NO_MESSAGE_IN_QUEUE"),
        GetStatus::OffsetOverflowOne => (rs::PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE"),
        GetStatus::OffsetOverflowBadly => (rs::PULL_OFFSET_MOVED, "OFFSET_OVERFLOW_BADLY"),
        GetStatus::OffsetTooSmall => (rs::PULL_OFFSET_MOVED, "OFFSET_TOO_SMALL"),
    };
    if code == rs::SUCCESS {
        b.stats.get_total.fetch_add(r.message_count as u64, Ordering::Relaxed);
    }
    let mut resp = RemotingCommand::response_to(req, code).with_remark(remark).with_body(r.messages);
    PullMessageResponseHeader { suggest_which_broker_id: 0, next_begin_offset: r.next_begin_offset, min_offset: r.min_offset, max_offset: r.max_offset }
        .encode(&mut resp.ext_fields);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_filter() {
        let f = TagFilter::parse(Some("TagA || TagB"));
        assert!(f.matches(java_hash("TagA") as i64));
        assert!(!f.matches(java_hash("TagC") as i64));
        assert!(TagFilter::parse(Some("*")).matches(12345));
    }
}
