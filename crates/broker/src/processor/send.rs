//! SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE and SEND_REPLY_MESSAGE(_V2).

use std::sync::Arc;

use protocol::header::SendMessageResponseHeader;
use protocol::message::push_offset_msg_id;
use protocol::RemotingCommand;

use crate::error::BrokerResult;
use crate::service::send::{SendRequest, Sent};
use crate::Broker;

pub async fn send(b: &Arc<Broker>, req: &RemotingCommand, r: &SendRequest<'_>) -> BrokerResult<RemotingCommand> {
    let sent = b.send(r).await?;
    Ok(answer(b, req, sent))
}

pub async fn reply(b: &Arc<Broker>, req: &RemotingCommand, r: &SendRequest<'_>) -> BrokerResult<RemotingCommand> {
    let sent = b.reply(r).await?;
    Ok(answer(b, req, sent))
}

/// `msgId` (offset msgIds: store host + physical offset, comma-separated for a batch),
/// `queueId`, `queueOffset`, `transactionId`, `MSG_REGION`, `TRACE_ON`.
fn answer(b: &Broker, req: &RemotingCommand, sent: Sent) -> RemotingCommand {
    let mut msg_id = String::with_capacity(sent.put.phys_offsets.len() * 57);
    for (i, offset) in sent.put.phys_offsets.iter().enumerate() {
        if i > 0 {
            msg_id.push(',');
        }
        push_offset_msg_id(&mut msg_id, b.store_host, *offset);
    }
    let header = SendMessageResponseHeader {
        msg_id,
        queue_id: sent.queue_id,
        queue_offset: sent.put.first_queue_offset,
        transaction_id: sent.uniq_key,
        recall_handle: sent.recall_handle,
    };
    let mut resp = RemotingCommand::response_to(req, sent.status.code());
    header.encode(&mut resp.ext_fields, &b.config.region_id, b.config.trace_on);
    resp
}
