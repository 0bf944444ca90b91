//! The remoting front end over an in-memory stream: requests are decoded once, every hook
//! sees each decoded request (and may refuse it), and errors become responses in one place.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::codes::{request as rq, response as rs};
use protocol::header::SendMessageRequestHeader;
use protocol::RemotingCommand;
use remoting::{Addrs, BoxFuture, Channel, ChannelConfig, Handler};
use store::ManualClock;

use super::{BrokerHandler, Request, RequestHook, Resources};
use crate::error::{BrokerError, BrokerResult};
use crate::{Broker, BrokerConfig};

/// A request's code, and the topic and group it names.
type Seen = (i32, Option<String>, Option<String>);

/// Refuses requests that name `forbidden_topic`, and records every request's code and resources.
struct Gate {
    forbidden_topic: &'static str,
    seen: Mutex<Vec<Seen>>,
    count: AtomicUsize,
}

impl RequestHook for Gate {
    fn before(&self, _from: SocketAddr, command: &RemotingCommand, request: &Request<'_>) -> BrokerResult<()> {
        self.count.fetch_add(1, Ordering::Relaxed);
        let Resources { topic, group } = request.resources();
        self.seen.lock().expect("seen").push((command.code, topic.map(str::to_string), group.map(str::to_string)));
        if topic == Some(self.forbidden_topic) {
            return Err(BrokerError::no_permission(format!("no access to {}", self.forbidden_topic)));
        }
        Ok(())
    }
}

struct NoRequests;

impl Handler for NoRequests {
    fn handle(&self, _channel: Arc<Channel>, _request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        Box::pin(async { None })
    }
}

fn send(topic: &str) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.to_string().into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        ..Default::default()
    };
    let mut cmd = RemotingCommand::request(rq::SEND_MESSAGE_V2).with_body(b"body".to_vec());
    header.encode_v2(&mut cmd.ext_fields);
    cmd
}

#[tokio::test]
async fn every_request_is_decoded_once_and_passes_the_hooks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BrokerConfig { store_path_root_dir: dir.path().to_path_buf(), ..Default::default() };
    let broker = Broker::open(config, Arc::new(ManualClock::new(1_000))).await.expect("broker opens");
    let gate = Arc::new(Gate { forbidden_topic: "Secret", seen: Mutex::default(), count: AtomicUsize::new(0) });
    let handler = Arc::new(BrokerHandler::new(broker.clone()).with_hook(gate.clone()));
    let (server_end, client_end) = tokio::io::duplex(64 * 1024);
    let addrs = Addrs { peer: "127.0.0.1:5000".parse().expect("addr"), local: "127.0.0.1:10911".parse().expect("addr") };
    let (r, w) = tokio::io::split(server_end);
    let _server = Channel::spawn_io(r, w, addrs, handler, ChannelConfig::default());
    let (r, w) = tokio::io::split(client_end);
    let client = Channel::spawn_io(r, w, addrs, Arc::new(NoRequests), ChannelConfig::default());
    let ask = |cmd| client.invoke(cmd, Duration::from_secs(10));

    let sent = ask(send("Open")).await.expect("answered");
    assert_eq!(sent.code, rs::SUCCESS, "{:?}", sent.remark);
    let refused = ask(send("Secret")).await.expect("answered");
    assert_eq!((refused.code, refused.remark.as_deref()), (rs::NO_PERMISSION, Some("no access to Secret")));
    assert_eq!(broker.max_offset("Secret", 0), 0, "a refused send stores nothing");
    // A request that cannot be decoded never reaches the hooks; an unknown code neither.
    let undecodable = ask(RemotingCommand::request(rq::QUERY_CONSUMER_OFFSET)).await.expect("answered");
    assert_eq!(undecodable.code, rs::SYSTEM_ERROR);
    let unknown = ask(RemotingCommand::request(99_999)).await.expect("answered");
    assert_eq!(unknown.code, rs::REQUEST_CODE_NOT_SUPPORTED);
    let offset = RemotingCommand::request(rq::QUERY_CONSUMER_OFFSET).with_ext("consumerGroup", "CG").with_ext("topic", "Open").with_ext("queueId", 0);
    ask(offset).await.expect("answered");
    assert_eq!(gate.count.load(Ordering::Relaxed), 3);
    let seen = gate.seen.lock().expect("seen").clone();
    assert_eq!(
        seen,
        vec![
            (rq::SEND_MESSAGE_V2, Some("Open".into()), Some("PG".into())),
            (rq::SEND_MESSAGE_V2, Some("Secret".into()), Some("PG".into())),
            (rq::QUERY_CONSUMER_OFFSET, Some("Open".into()), Some("CG".into())),
        ]
    );
    broker.store.shutdown().await;
}

/// Refused requests are logged.
mod logging {
    use std::io::Write;
    use std::sync::Mutex;

    use protocol::codes::request as rq;
    use protocol::ProtocolError;

    use std::net::SocketAddr;
    use std::sync::Arc;

    use protocol::codes::response as rs;
    use protocol::RemotingCommand;

    use crate::error::BrokerError;
    use crate::processor::error;

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
