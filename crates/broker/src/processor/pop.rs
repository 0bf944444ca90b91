//! POP_MESSAGE, ACK_MESSAGE, BATCH_ACK_MESSAGE, CHANGE_MESSAGE_INVISIBLETIME, NOTIFICATION,
//! POLLING_INFO, QUERY_ASSIGNMENT and SET_MESSAGE_REQUEST_MODE. A pop that waits (long
//! polling) is answered later on the same opaque, as a parked pull.

use std::sync::Arc;

use protocol::body;
use protocol::codes::response as rs;
use protocol::pop::{
    AckMessageRequestHeader, BatchAckMessageRequestBody, NotificationRequestHeader, PopMessageRequestHeader, PopMessageResponseHeader,
    QueryAssignmentRequestBody, QueryAssignmentResponseBody, SetMessageRequestModeRequestBody,
};
use protocol::RemotingCommand;
use remoting::Channel;

use super::ok;
use crate::error::BrokerResult;
use crate::service::pop::{PopStart, Popped};
use crate::Broker;

/// Every answer carries the pop's header, a refusal's with zeros, as the Java broker's:
/// the Java client reads it whatever the code.
pub async fn pop(b: &Arc<Broker>, ch: &Channel, req: &RemotingCommand, h: &PopMessageRequestHeader) -> BrokerResult<RemotingCommand> {
    let popped = async {
        match b.pop(h).await? {
            PopStart::Now(p) => Ok(p),
            PopStart::Park(parking) => {
                let _idle = ch.parked();
                parking.wait(ch.closed()).await
            }
        }
    };
    Ok(match popped.await {
        Ok(p) => respond(req, p),
        Err(e) => {
            let mut resp = super::error(ch.peer_addr(), req, e);
            PopMessageResponseHeader::default().encode(&mut resp.ext_fields);
            resp
        }
    })
}

/// FOUND with the messages; with none, POLLING_FULL (209) or POLLING_TIMEOUT (210), as the
/// Java broker (which never answers a pop PULL_NOT_FOUND).
fn respond(req: &RemotingCommand, p: Popped) -> RemotingCommand {
    let mut resp = if p.count > 0 {
        RemotingCommand::response_to(req, rs::SUCCESS).with_remark("FOUND").with_body(p.body)
    } else if p.polling_full {
        RemotingCommand::response_to(req, rs::POLLING_FULL).with_remark("NO_MESSAGE_IN_QUEUE")
    } else {
        RemotingCommand::response_to(req, rs::POLLING_TIMEOUT).with_remark("NO_MESSAGE_IN_QUEUE")
    };
    p.header.encode(&mut resp.ext_fields);
    resp
}

pub async fn ack(b: &Broker, req: &RemotingCommand, h: &AckMessageRequestHeader) -> BrokerResult<RemotingCommand> {
    b.ack(h).await?;
    Ok(ok(req))
}

pub async fn batch_ack(b: &Broker, req: &RemotingCommand, body: &BatchAckMessageRequestBody) -> BrokerResult<RemotingCommand> {
    b.batch_ack(body).await?;
    Ok(ok(req))
}

pub async fn change_invisible_time(b: &Broker, req: &RemotingCommand, h: &AckMessageRequestHeader) -> BrokerResult<RemotingCommand> {
    let header = b.change_invisible_time(h).await?;
    let mut resp = ok(req);
    header.encode(&mut resp.ext_fields);
    Ok(resp)
}

pub async fn notification(b: &Broker, ch: &Channel, req: &RemotingCommand, h: &NotificationRequestHeader) -> BrokerResult<RemotingCommand> {
    let has_msg = {
        let _idle = ch.parked();
        b.notification(h, ch.closed()).await?
    };
    Ok(ok(req).with_ext("hasMsg", has_msg.to_string()).with_ext("pollingFull", "false"))
}

pub fn polling_info(b: &Broker, req: &RemotingCommand, h: &NotificationRequestHeader) -> BrokerResult<RemotingCommand> {
    let n = b.polling_info(h)?;
    Ok(ok(req).with_ext("pollingNum", n.to_string()))
}

pub async fn query_assignment(b: &Broker, req: &RemotingCommand, q: &QueryAssignmentRequestBody) -> BrokerResult<RemotingCommand> {
    let assignments = b.query_assignment(q).await?;
    Ok(ok(req).with_body(body::encode(&QueryAssignmentResponseBody { message_queue_assignments: assignments })))
}

pub fn set_message_request_mode(b: &Broker, req: &RemotingCommand, m: &SetMessageRequestModeRequestBody) -> BrokerResult<RemotingCommand> {
    b.set_message_request_mode(m)?;
    Ok(ok(req))
}
