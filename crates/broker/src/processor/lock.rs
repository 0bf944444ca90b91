//! LOCK_BATCH_MQ and UNLOCK_BATCH_MQ: orderly consumers' queue locks.

use std::sync::Arc;
use std::time::Instant;

use protocol::body::{self, LockBatchRequestBody, LockBatchResponseBody};
use protocol::RemotingCommand;

use super::ok;
use crate::error::BrokerResult;
use crate::Broker;

pub fn lock(b: &Arc<Broker>, req: &RemotingCommand, r: &LockBatchRequestBody) -> BrokerResult<RemotingCommand> {
    let granted = b.locks.lock(&r.consumer_group, &r.client_id, &r.mq_set, Instant::now());
    Ok(ok(req).with_body(body::encode(&LockBatchResponseBody { lock_ok_mq_set: granted })))
}

pub fn unlock(b: &Arc<Broker>, req: &RemotingCommand, r: &LockBatchRequestBody) -> BrokerResult<RemotingCommand> {
    b.locks.unlock(&r.consumer_group, &r.client_id, &r.mq_set);
    Ok(ok(req))
}
