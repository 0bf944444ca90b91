//! The remoting front end: one codec per request kind. Each decodes its typed header and
//! body, calls one broker operation ([`crate::service`]), and encodes the answer. An
//! operation's [`BrokerError`] becomes the response in one place ([`BrokerHandler`]);
//! [`push`] encodes what the broker sends to remoting clients.

mod admin;
mod client_manage;
mod consumer;
mod lock;
mod pull;
pub mod push;
mod query;
mod reset;
mod send;
mod send_back;

use std::net::SocketAddr;
use std::sync::Arc;

use protocol::codes::{request as rq, response as rs};
use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, Handler};

use crate::error::{BrokerError, BrokerResult};
use crate::Broker;

pub struct BrokerHandler(pub Arc<Broker>);

impl Handler for BrokerHandler {
    fn handle(&self, channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let broker = self.0.clone();
        Box::pin(async move {
            Some(match dispatch(&broker, &channel, &request).await {
                Ok(response) => response,
                Err(e) => error(channel.peer_addr(), &request, e),
            })
        })
    }

    fn on_close(&self, channel: &Arc<Channel>) {
        self.0.connection_closed(channel.id());
    }
}

async fn dispatch(b: &Arc<Broker>, ch: &Arc<Channel>, req: &RemotingCommand) -> BrokerResult<RemotingCommand> {
    match req.code {
        rq::SEND_MESSAGE | rq::SEND_MESSAGE_V2 | rq::SEND_BATCH_MESSAGE => send::send(b, ch, req).await,
        rq::SEND_REPLY_MESSAGE | rq::SEND_REPLY_MESSAGE_V2 => send::reply(b, ch, req).await,
        rq::PULL_MESSAGE | rq::LITE_PULL_MESSAGE => pull::process(b, ch, req).await,
        rq::CONSUMER_SEND_MSG_BACK => send_back::process(b, req).await,
        rq::HEART_BEAT => client_manage::heartbeat(b, ch, req),
        rq::UNREGISTER_CLIENT => client_manage::unregister(b, ch, req),
        rq::GET_CONSUMER_LIST_BY_GROUP => client_manage::consumer_list(b, req),
        rq::CHECK_CLIENT_CONFIG => client_manage::check_client_config(b, req),
        rq::QUERY_CONSUMER_OFFSET => consumer::query_offset(b, req),
        rq::UPDATE_CONSUMER_OFFSET => consumer::update_offset(b, req),
        rq::GET_MAX_OFFSET => consumer::max_offset(b, req),
        rq::GET_MIN_OFFSET => consumer::min_offset(b, req),
        rq::SEARCH_OFFSET_BY_TIMESTAMP => consumer::search_offset(b, req),
        rq::GET_EARLIEST_MSG_STORETIME => consumer::earliest_store_time(b, req),
        rq::VIEW_MESSAGE_BY_ID => query::view_by_offset(b, req),
        rq::QUERY_MESSAGE => query::by_key(b, req),
        rq::LOCK_BATCH_MQ => lock::lock(b, req),
        rq::UNLOCK_BATCH_MQ => lock::unlock(b, req),
        rq::UPDATE_AND_CREATE_TOPIC => admin::create_topic(b, req),
        rq::DELETE_TOPIC_IN_BROKER => admin::delete_topic(b, req).await,
        rq::GET_ALL_TOPIC_CONFIG => admin::all_topic_config(b, req),
        rq::GET_TOPIC_CONFIG => admin::topic_config(b, req),
        rq::GET_TOPIC_NAME_LIST => admin::topic_names(b, req),
        rq::GET_TOPIC_STATS_INFO => admin::topic_stats(b, req),
        rq::GET_SYSTEM_TOPIC_LIST_FROM_BROKER => admin::system_topics(b, req),
        rq::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => admin::create_group(b, req),
        rq::DELETE_SUBSCRIPTIONGROUP => admin::delete_group(b, req),
        rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => admin::all_groups(b, req),
        rq::GET_SUBSCRIPTIONGROUP_CONFIG => admin::group_config(b, req),
        rq::GET_BROKER_RUNTIME_INFO => admin::runtime_info(b, req),
        rq::GET_BROKER_CONFIG => admin::broker_config(b, req),
        rq::UPDATE_BROKER_CONFIG => admin::update_broker_config(b, req),
        rq::GET_CONSUMER_CONNECTION_LIST => admin::consumer_connections(b, req),
        rq::GET_CONSUME_STATS => admin::consume_stats(b, req),
        rq::QUERY_TOPIC_CONSUME_BY_WHO => admin::consumed_by(b, req),
        rq::INVOKE_BROKER_TO_RESET_OFFSET => reset::reset_offset(b, req),
        rq::GET_CONSUMER_RUNNING_INFO => admin::consumer_running_info(b, req).await,
        code => Err(BrokerError::new(rs::REQUEST_CODE_NOT_SUPPORTED, format!(" request type {code} not supported"))),
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
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use protocol::codes::request as rq;
    use protocol::ProtocolError;

    use super::*;

    /// Collects what the log writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_unreadable_request_is_logged_with_its_peer_and_code() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let peer: SocketAddr = "10.0.0.7:50123".parse().expect("address");
        let req = RemotingCommand::request(rq::HEART_BEAT);
        let refused = BrokerError::from(ProtocolError::BadBody("invalid type: integer `4`, expected a string".into()));
        let answer = tracing::subscriber::with_default(subscriber, || {
            error(peer, &req, BrokerError::system("an operation's own failure"));
            error(peer, &req, refused)
        });
        assert_eq!(answer.code, rs::SYSTEM_ERROR);
        assert_eq!(answer.remark.as_deref(), Some("invalid body: invalid type: integer `4`, expected a string"));
        let text = String::from_utf8(log.0.lock().expect("log buffer").clone()).expect("UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "only the refusal is logged: {text}");
        for part in ["WARN", "10.0.0.7:50123", &format!("request_code={}", rq::HEART_BEAT), "integer `4`"] {
            assert!(lines[0].contains(part), "{part} in {text}");
        }
    }
}
