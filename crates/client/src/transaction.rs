//! Transactional sends: a half message, then its END_TRANSACTION (commit or rollback), as the
//! Java `TransactionMQProducer` sends them.

use bytes::Bytes;
use protocol::codes::request as rq;
use protocol::message::{decode_offset_msg_id, prop, sys_flag, Properties};
use protocol::message_type::PRODUCER_GROUP;
use protocol::ProtocolError;

use crate::api::{Client, ClientError, SendResult};

impl Client {
    /// A half message: stored, but not delivered until it is committed. It carries TRAN_MSG,
    /// this client's producer group (PGROUP) and the prepared flag.
    pub async fn send_half(&self, broker_addr: &str, topic: &str, queue_id: i32, body: Bytes, mut props: Properties) -> Result<SendResult, ClientError> {
        props.set(prop::TRAN_MSG, "true");
        props.set(PRODUCER_GROUP, &self.producer_group);
        self.send_flagged(broker_addr, topic, queue_id, body, props, sys_flag::TRANSACTION_PREPARED).await
    }

    /// END_TRANSACTION for a half message this client sent (`half`, its send result): commit
    /// or roll back, awaiting the broker's answer.
    pub async fn end_transaction(&self, broker_addr: &str, half: &SendResult, commit: bool) -> Result<(), ClientError> {
        let bad = || ProtocolError::BadField { field: "msgId", value: half.offset_msg_id.clone() };
        // The half message's CommitLog offset, from the offset message id the broker answered.
        let (_, commit_log_offset) = decode_offset_msg_id(&half.offset_msg_id).ok_or_else(bad)?;
        let decision = if commit { sys_flag::TRANSACTION_COMMIT } else { sys_flag::TRANSACTION_ROLLBACK };
        let cmd = Self::request(rq::END_TRANSACTION)
            .with_ext("producerGroup", &self.producer_group)
            .with_ext("tranStateTableOffset", half.queue_offset)
            .with_ext("commitLogOffset", commit_log_offset)
            .with_ext("commitOrRollback", decision)
            .with_ext("fromTransactionCheck", false)
            .with_ext("msgId", &half.msg_id)
            .with_ext("transactionId", &half.msg_id);
        self.invoke_ok(broker_addr, cmd).await.map(|_| ())
    }
}
