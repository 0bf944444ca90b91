//! PULL_MESSAGE and LITE_PULL_MESSAGE. A parked pull (long polling) is answered later on
//! the same opaque; while parked it does not hold up a gentle end of its connection.

use std::sync::Arc;

use protocol::codes::response as rs;
use protocol::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use protocol::RemotingCommand;
use remoting::Channel;
use store::GetStatus;

use crate::error::BrokerResult;
use crate::service::pull::{PullStart, Pulled};
use crate::Broker;

pub async fn pull(b: &Arc<Broker>, ch: &Channel, req: &RemotingCommand, h: &PullMessageRequestHeader) -> BrokerResult<RemotingCommand> {
    let queue_offset = h.queue_offset;
    let pulled = match b.pull(h).await? {
        PullStart::Now(p) => p,
        PullStart::Park(parking) => {
            let _idle = ch.parked();
            parking.wait(ch.closed()).await?
        }
    };
    let suggest = match &pulled {
        Pulled::Read(r) => b.suggest_broker_id(&h.consumer_group, &r.messages),
        Pulled::Reset { .. } => 0,
    };
    Ok(respond(req, queue_offset, pulled, suggest))
}

/// Status mapping as the Java broker's: FOUND 0, nothing new 19, no match 20, offset moved 21.
fn respond(req: &RemotingCommand, queue_offset: i64, pulled: Pulled, suggest_which_broker_id: i64) -> RemotingCommand {
    let r = match pulled {
        Pulled::Read(r) => r,
        Pulled::Reset { next_begin_offset, min_offset, max_offset } => {
            let mut resp = RemotingCommand::response_to(req, rs::PULL_OFFSET_MOVED).with_remark("OFFSET_RESET");
            PullMessageResponseHeader { suggest_which_broker_id: 0, next_begin_offset, min_offset, max_offset }.encode(&mut resp.ext_fields);
            return resp;
        }
    };
    let (code, remark) = match r.status {
        GetStatus::Found => (rs::SUCCESS, "FOUND"),
        GetStatus::NoMatchedMessage => (rs::PULL_RETRY_IMMEDIATELY, "NO_MATCHED_MESSAGE"),
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue if queue_offset != 0 => (rs::PULL_OFFSET_MOVED, "NO_MESSAGE_IN_QUEUE"),
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue => (rs::PULL_NOT_FOUND, "NO_MESSAGE_IN_QUEUE"),
        GetStatus::OffsetOverflowOne => (rs::PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE"),
        GetStatus::OffsetOverflowBadly => (rs::PULL_OFFSET_MOVED, "OFFSET_OVERFLOW_BADLY"),
        GetStatus::OffsetTooSmall => (rs::PULL_OFFSET_MOVED, "OFFSET_TOO_SMALL"),
    };
    let mut resp = RemotingCommand::response_to(req, code).with_remark(remark).with_body(r.messages);
    PullMessageResponseHeader { suggest_which_broker_id, next_begin_offset: r.next_begin_offset, min_offset: r.min_offset, max_offset: r.max_offset }
        .encode(&mut resp.ext_fields);
    resp
}
