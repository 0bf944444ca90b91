//! POP consumption (RocketMQ 5.x): pop, ack and change of invisible time, with each
//! message's receipt handle built as the Java client builds it.

use std::collections::BTreeMap;
use std::time::Duration;

use protocol::codes::{request as rq, response as rs};
use protocol::message::{decode_records, MessageRecord};
use protocol::pop::{
    receipt_handles, AckMessageRequestHeader, BatchAck, BatchAckMessageRequestBody, ChangeInvisibleTimeResponseHeader, ExtraInfo, PopMessageRequestHeader,
    PopMessageResponseHeader, RetryFlag,
};

use crate::api::{Client, ClientError};

/// One pop batch of one queue: (retry flag, queue id, checkpoint offset, pop time).
type BatchKey = (RetryFlag, i32, i64, i64);

/// A popped message and its receipt handle.
#[derive(Debug, Clone)]
pub struct Popped {
    pub message: MessageRecord,
    pub handle: ExtraInfo,
}

#[derive(Debug, Clone)]
pub struct PopResult {
    /// SUCCESS (found), POLLING_TIMEOUT or POLLING_FULL.
    pub code: i32,
    pub header: PopMessageResponseHeader,
    pub messages: Vec<Popped>,
}

impl Client {
    /// POP_MESSAGE to `broker_addr` (named `broker_name` in the handles).
    pub async fn pop(&self, broker_addr: &str, broker_name: &str, header: &PopMessageRequestHeader) -> Result<PopResult, ClientError> {
        let mut cmd = Self::request(rq::POP_MESSAGE);
        header.encode(&mut cmd.ext_fields);
        let timeout = self.timeout + Duration::from_millis(header.poll_time.max(0) as u64);
        let resp = self.pool().invoke(broker_addr, cmd, timeout).await?;
        match resp.code {
            rs::SUCCESS => {}
            rs::POLLING_TIMEOUT | rs::POLLING_FULL => {
                let header = PopMessageResponseHeader::decode(&resp.ext_fields).unwrap_or_default();
                return Ok(PopResult { code: resp.code, header, messages: Vec::new() });
            }
            code => return Err(ClientError::Server { code, remark: resp.remark.unwrap_or_default() }),
        }
        let h = PopMessageResponseHeader::decode(&resp.ext_fields)?;
        let records = decode_records(&resp.body)?;
        let handles = receipt_handles(&h, broker_name, &records)?;
        let messages = records.into_iter().zip(handles).map(|(message, handle)| Popped { message, handle }).collect();
        Ok(PopResult { code: resp.code, header: h, messages })
    }

    /// ACK_MESSAGE of a popped message of `topic` (the topic popped, not a retry topic).
    pub async fn ack(&self, broker_addr: &str, group: &str, topic: &str, handle: &ExtraInfo) -> Result<(), ClientError> {
        let mut cmd = Self::request(rq::ACK_MESSAGE);
        AckMessageRequestHeader::for_handle(group, topic, handle, None).encode(&mut cmd.ext_fields);
        self.invoke_ok(broker_addr, cmd).await.map(|_| ())
    }

    /// BATCH_ACK_MESSAGE: the messages of one pop answer of `topic`, acknowledged at once.
    pub async fn batch_ack(&self, broker_addr: &str, group: &str, topic: &str, popped: &[Popped]) -> Result<(), ClientError> {
        let mut by_batch: BTreeMap<BatchKey, (i32, i64, Vec<i64>)> = BTreeMap::new();
        for p in popped {
            let h = &p.handle;
            let entry = by_batch.entry((h.retry, h.queue_id, h.ck_queue_offset, h.pop_time)).or_insert((h.revive_qid, h.invisible_time, Vec::new()));
            entry.2.push(h.queue_offset.unwrap_or(h.ck_queue_offset));
        }
        let acks = by_batch
            .into_iter()
            .map(|((retry, queue_id, start_offset, pop_time), (revive_queue_id, invisible_time, offsets))| BatchAck {
                consumer_group: group.to_string(),
                topic: topic.to_string(),
                retry: retry.as_str().to_string(),
                start_offset,
                queue_id,
                revive_queue_id,
                pop_time,
                invisible_time,
                bit_set: BatchAck::encode_offsets(start_offset, &offsets),
            })
            .collect();
        let broker_name = popped.first().map(|p| p.handle.broker_name.clone()).unwrap_or_default();
        let body = BatchAckMessageRequestBody { broker_name, acks };
        let cmd = Self::request(rq::BATCH_ACK_MESSAGE).with_body(protocol::body::encode(&body));
        self.invoke_ok(broker_addr, cmd).await.map(|_| ())
    }

    /// CHANGE_MESSAGE_INVISIBLETIME; returns the message's new handle.
    pub async fn change_invisible_time(
        &self,
        broker_addr: &str,
        group: &str,
        topic: &str,
        handle: &ExtraInfo,
        invisible_ms: i64,
    ) -> Result<ExtraInfo, ClientError> {
        let mut cmd = Self::request(rq::CHANGE_MESSAGE_INVISIBLETIME);
        AckMessageRequestHeader::for_handle(group, topic, handle, Some(invisible_ms)).encode(&mut cmd.ext_fields);
        let resp = self.invoke_ok(broker_addr, cmd).await?;
        let r = ChangeInvisibleTimeResponseHeader::decode(&resp.ext_fields)?;
        Ok(handle.changed(&r))
    }
}
