//! The remoting front end. A request is decoded once into a typed [`Request`]
//! (`request.rs`); the request hooks see it (authentication, authorization and metrics plug
//! in here, [`RequestHook`]); then one broker operation ([`crate::service`]) runs and the
//! per-kind module encodes its answer. An operation's [`BrokerError`] becomes the response in
//! one place ([`error`]); [`push`] encodes what the broker sends to remoting clients.

mod acl;
mod admin;
mod client_manage;
mod consumer;
mod lock;
mod pop;
mod pull;
pub mod push;
mod query;
pub mod request;
mod reset;
mod send;
mod send_back;

use std::net::SocketAddr;
use std::sync::Arc;

use protocol::codes::response as rs;
use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, Handler};

pub use request::{AuthAdmin, Request};

use crate::error::{BrokerError, BrokerResult};
use crate::Broker;

/// Runs before every decoded request: it may refuse it (its error is the answer) and may
/// count it. Authentication and authorization (ACL) and metrics are hooks.
pub trait RequestHook: Send + Sync + 'static {
    fn before(&self, from: SocketAddr, command: &RemotingCommand, request: &Request<'_>) -> BrokerResult<()>;
}

/// Serves remoting requests: decode, hooks, operation, answer.
pub struct BrokerHandler {
    broker: Arc<Broker>,
    hooks: Vec<Arc<dyn RequestHook>>,
}

impl BrokerHandler {
    pub fn new(broker: Arc<Broker>) -> BrokerHandler {
        BrokerHandler { broker, hooks: Vec::new() }
    }

    /// Adds a hook; hooks run in the order added.
    pub fn with_hook(mut self, hook: Arc<dyn RequestHook>) -> BrokerHandler {
        self.hooks.push(hook);
        self
    }
}

impl Handler for BrokerHandler {
    fn handle(&self, channel: Arc<Channel>, command: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let (broker, hooks) = (self.broker.clone(), self.hooks.clone());
        Box::pin(async move {
            let answered = async {
                // Authentication first, on the fields as received (before decoding, as Java).
                let user = match broker.auth.enabled() {
                    true => broker.auth.authenticate(command.code, &command.ext_fields, &command.body, command.version)?,
                    false => None,
                };
                let request = Request::decode(&command, channel.peer_addr())?;
                if broker.auth.config.authorization_enabled {
                    let checks = request.checks(&broker.config.broker_cluster_name);
                    broker.auth.authorize(command.code, user.as_deref(), channel.peer_addr().ip(), &checks)?;
                }
                for hook in &hooks {
                    hook.before(channel.peer_addr(), &command, &request)?;
                }
                // By reference: the decoded request is kept once in this future's state, not
                // copied into each future below it (each copy made every request's boxed
                // future larger, and cost about 4 % of the max send rate).
                execute(&broker, &channel, &command, &request).await
            };
            Some(match answered.await {
                Ok(response) => response,
                Err(e) => error(channel.peer_addr(), &command, e),
            })
        })
    }

    fn on_close(&self, channel: &Arc<Channel>) {
        self.broker.connection_closed(channel.id());
    }

    fn counts_answers(&self) -> bool {
        self.broker.metrics.on()
    }

    fn answered(&self, answered: &remoting::metrics::Answered) {
        self.broker.metrics.rpc.record(answered);
    }
}

async fn execute(b: &Arc<Broker>, ch: &Arc<Channel>, cmd: &RemotingCommand, request: &Request<'_>) -> BrokerResult<RemotingCommand> {
    match request {
        Request::Send(r) => send::send(b, cmd, r).await,
        Request::Reply(r) => send::reply(b, cmd, r).await,
        Request::Pull(h) => pull::pull(b, ch, cmd, h).await,
        Request::SendBack(r) => send_back::send_back(b, cmd, r).await,
        Request::Heartbeat(hb) => client_manage::heartbeat(b, ch, cmd, hb),
        Request::Unregister { producer_group, consumer_group } => client_manage::unregister(b, ch, cmd, *producer_group, *consumer_group),
        Request::ConsumerList { group } => client_manage::consumer_list(b, cmd, group),
        Request::CheckClientConfig { expression_type, expression } => {
            client_manage::check_client_config(b, cmd, expression_type.as_deref(), expression.as_deref())
        }
        Request::QueryConsumerOffset { group, topic, queue_id, zero_if_not_found } => {
            consumer::query_offset(b, cmd, group, topic, *queue_id, *zero_if_not_found)
        }
        Request::UpdateConsumerOffset { group, topic, queue_id, offset } => consumer::update_offset(b, cmd, group, topic, *queue_id, *offset),
        Request::MaxOffset { topic, queue_id } => consumer::max_offset(b, cmd, topic, *queue_id),
        Request::MinOffset { topic, queue_id } => consumer::min_offset(b, cmd, topic, *queue_id),
        Request::SearchOffset { topic, queue_id, timestamp_ms, boundary } => consumer::search_offset(b, cmd, topic, *queue_id, *timestamp_ms, *boundary),
        Request::EarliestStoreTime { topic, queue_id } => consumer::earliest_store_time(b, cmd, topic, *queue_id),
        Request::ViewMessage { phys_offset } => query::view_by_offset(b, cmd, *phys_offset),
        Request::QueryByKey { topic, key, max, begin_ms, end_ms, unique } => query::by_key(b, cmd, topic, key, *max, (*begin_ms, *end_ms), *unique),
        Request::Lock(r) => lock::lock(b, cmd, r),
        Request::Unlock(r) => lock::unlock(b, cmd, r),
        Request::CreateTopic(r) => admin::create_topic(b, cmd, r.clone()).await,
        Request::DeleteTopic { topic } => admin::delete_topic(b, cmd, topic).await,
        Request::AllTopicConfig => admin::all_topic_config(b, cmd),
        Request::TopicConfig { topic } => admin::topic_config(b, cmd, topic),
        Request::TopicNames => admin::topic_names(b, cmd),
        Request::TopicStats { topic } => admin::topic_stats(b, cmd, topic),
        Request::SystemTopics => admin::system_topics(b, cmd),
        Request::CreateGroup(g) => admin::create_group(b, cmd, g.clone()),
        Request::DeleteGroup { group, clean_offset } => admin::delete_group(b, cmd, group, *clean_offset),
        Request::AllGroups => admin::all_groups(b, cmd),
        Request::AllOffsets => admin::all_offsets(b, cmd),
        Request::AllDelayOffsets => admin::all_delay_offsets(b, cmd),
        Request::HaStatus => admin::ha_status(b, cmd),
        Request::GroupConfig { group } => admin::group_config(b, cmd, group),
        Request::RuntimeInfo => admin::runtime_info(b, cmd),
        Request::BrokerConfig => admin::broker_config(b, cmd),
        Request::UpdateBrokerConfig(changes) => admin::update_broker_config(b, cmd, changes),
        Request::ConsumerConnections { group } => admin::consumer_connections(b, cmd, group),
        Request::ProducerConnections { group } => admin::producer_connections(b, cmd, group),
        Request::ConsumeStats { group, topic } => admin::consume_stats(b, cmd, group, *topic),
        Request::ConsumedBy { topic } => admin::consumed_by(b, cmd, topic),
        Request::ResetOffset(r) => reset::reset_offset(b, cmd, r),
        Request::ConsumerRunningInfo { group, client_id, jstack } => admin::consumer_running_info(b, cmd, group, client_id, *jstack).await,
        Request::Pop(h) => pop::pop(b, ch, cmd, h).await,
        Request::Ack(h) => pop::ack(b, cmd, h).await,
        Request::ChangeInvisibleTime(h) => pop::change_invisible_time(b, cmd, h).await,
        Request::BatchAck(body) => pop::batch_ack(b, cmd, body).await,
        Request::Notification(h) => pop::notification(b, ch, cmd, h).await,
        Request::PollingInfo(h) => pop::polling_info(b, cmd, h),
        Request::QueryAssignment(q) => pop::query_assignment(b, cmd, q).await,
        Request::SetMessageRequestMode(m) => pop::set_message_request_mode(b, cmd, m),
        Request::Recall { topic, handle } => {
            let id = b.recall(topic, handle).await?;
            Ok(ok(cmd).with_ext("msgId", id))
        }
        Request::Auth(a) => acl::handle(b, cmd, a),
        Request::EndTransaction(e, _) => {
            b.end_transaction(e).await?;
            Ok(ok(cmd))
        }
    }
}

pub(crate) fn ok(req: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(req, rs::SUCCESS)
}

/// The one place an operation's error becomes a remoting response. A request refused because
/// its header or body cannot be read is logged with who sent it: the client may not report
/// the refusal (a heartbeat's answer is barely looked at), so the log is where it shows.
pub(crate) fn error(peer: SocketAddr, req: &RemotingCommand, e: BrokerError) -> RemotingCommand {
    if e.unreadable_request {
        tracing::warn!(%peer, request_code = req.code, language = ?req.language, version = req.version, reason = %e.remark, "request refused: its header or body cannot be read");
    }
    RemotingCommand::response_to(req, e.code).with_remark(e.remark)
}

#[cfg(test)]
mod tests;
