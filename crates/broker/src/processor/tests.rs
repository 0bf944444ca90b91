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

use super::{BrokerHandler, Request, RequestHook};
use crate::error::{BrokerError, BrokerResult};
use crate::{Broker, BrokerConfig};

/// A request's code, and the resources its authorization checks name.
type Seen = (i32, Vec<String>);

/// Refuses requests that name `forbidden_topic`, and records every request's code and resources.
struct Gate {
    forbidden_topic: &'static str,
    seen: Mutex<Vec<Seen>>,
    count: AtomicUsize,
}

impl RequestHook for Gate {
    fn before(&self, _from: SocketAddr, command: &RemotingCommand, request: &Request<'_>) -> BrokerResult<()> {
        self.count.fetch_add(1, Ordering::Relaxed);
        let resources: Vec<String> = request.checks("DefaultCluster").iter().map(|c| c.resource.to_string()).collect();
        self.seen.lock().expect("seen").push((command.code, resources.clone()));
        if resources.contains(&format!("Topic:{}", self.forbidden_topic)) {
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

/// A client channel to `handler` over an in-memory stream, as if from 127.0.0.1.
fn connect(handler: Arc<BrokerHandler>) -> (Arc<Channel>, Arc<Channel>) {
    let (server_end, client_end) = tokio::io::duplex(64 * 1024);
    let addrs = Addrs { peer: "127.0.0.1:5000".parse().expect("addr"), local: "127.0.0.1:10911".parse().expect("addr") };
    let (r, w) = tokio::io::split(server_end);
    let server = Channel::spawn_io(r, w, addrs, handler, ChannelConfig::default());
    let (r, w) = tokio::io::split(client_end);
    (Channel::spawn_io(r, w, addrs, Arc::new(NoRequests), ChannelConfig::default()), server)
}

#[tokio::test]
async fn every_request_is_decoded_once_and_passes_the_hooks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BrokerConfig { store_path_root_dir: dir.path().to_path_buf(), ..Default::default() };
    let broker = Broker::open(config, Arc::new(ManualClock::new(1_000))).await.expect("broker opens");
    let gate = Arc::new(Gate { forbidden_topic: "Secret", seen: Mutex::default(), count: AtomicUsize::new(0) });
    let handler = Arc::new(BrokerHandler::new(broker.clone()).with_hook(gate.clone()));
    let (client, _server) = connect(handler);
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
            (rq::SEND_MESSAGE_V2, vec!["Topic:Open".into()]),
            (rq::SEND_MESSAGE_V2, vec!["Topic:Secret".into()]),
            (rq::QUERY_CONSUMER_OFFSET, vec!["Topic:Open".into(), "Group:CG".into()]),
        ]
    );
    broker.store.shutdown().await;
}

fn signed(mut cmd: RemotingCommand, user: &str, secret: &str) -> RemotingCommand {
    auth::sign::sign_request(&mut cmd.ext_fields, &cmd.body, cmd.version, user, secret, None);
    cmd
}

fn acl_for(subject: &str, resource: &str, ips: &[&str]) -> RemotingCommand {
    let ips = if ips.is_empty() { String::new() } else { format!(r#","sourceIps":{}"#, serde_json::to_string(ips).unwrap()) };
    let body = format!(r#"{{"subject":"{subject}","policies":[{{"entries":[{{"resource":"{resource}","actions":["Pub"],"decision":"Allow"{ips}}}]}}]}}"#);
    RemotingCommand::request(rq::AUTH_CREATE_ACL).with_ext("subject", subject).with_body(body.into_bytes())
}

#[tokio::test]
async fn with_acl_on_requests_are_authenticated_then_authorized() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = BrokerConfig {
        store_path_root_dir: dir.path().to_path_buf(),
        authentication_enabled: true,
        authorization_enabled: true,
        grpc_server_enable: false,
        init_authentication_user: Some(r#"{"username":"root","password":"rootpw"}"#.into()),
        ..Default::default()
    };
    let broker = Broker::open(config, Arc::new(ManualClock::new(1_000))).await.expect("broker opens");
    let (client, _server) = connect(Arc::new(BrokerHandler::new(broker.clone())));
    let ask = |cmd| client.invoke(cmd, Duration::from_secs(10));
    let answer = |r: RemotingCommand| (r.code, r.remark.unwrap_or_default());
    let ok = (rs::SUCCESS, String::new());

    let create = RemotingCommand::request(rq::AUTH_CREATE_USER).with_ext("username", "alice").with_body(br#"{"password":"alicepw"}"#.to_vec());
    assert_eq!(answer(ask(signed(create.clone(), "root", "rootpw")).await.unwrap()), ok);
    assert_eq!(answer(ask(signed(acl_for("User:alice", "Topic:Open", &[]), "root", "rootpw")).await.unwrap()), ok);

    assert_eq!(answer(ask(signed(send("Open"), "alice", "alicepw")).await.unwrap()).0, rs::SUCCESS);
    let denied = |what: &str| (rs::NO_PERMISSION, format!("User:alice has no permission to access {what} from 127.0.0.1, no matched policies."));
    assert_eq!(answer(ask(signed(send("Secret"), "alice", "alicepw")).await.unwrap()), denied("Topic:Secret"));
    assert_eq!(answer(ask(signed(send("Open"), "alice", "wrong")).await.unwrap()), (rs::NO_PERMISSION, "check signature failed.".into()));
    assert_eq!(answer(ask(signed(send("Open"), "mallory", "x")).await.unwrap()), (rs::NO_PERMISSION, "User:mallory is not found.".into()));
    assert_eq!(answer(ask(send("Open")).await.unwrap()), (rs::NO_PERMISSION, "username cannot be null.".into()));
    let mut tampered = signed(send("Open"), "alice", "alicepw");
    tampered.body = b"other".to_vec().into();
    assert_eq!(answer(ask(tampered).await.unwrap()).1, "check signature failed.");
    assert_eq!(broker.max_offset("Secret", 0), 0, "a refused send stores nothing");
    // A normal user may not manage users; an unknown code is authenticated first.
    let bob = RemotingCommand::request(rq::AUTH_CREATE_USER).with_ext("username", "bob").with_body(br#"{"password":"bobpw"}"#.to_vec());
    assert_eq!(answer(ask(signed(bob, "alice", "alicepw")).await.unwrap()), denied("Cluster:DefaultCluster"));
    assert_eq!(answer(ask(RemotingCommand::request(99_999)).await.unwrap()).0, rs::NO_PERMISSION);
    // A change applies to the next request; a policy limited to other addresses does not match.
    assert_eq!(answer(ask(signed(acl_for("User:alice", "Topic:Secret", &[]), "root", "rootpw")).await.unwrap()), ok);
    assert_eq!(answer(ask(signed(send("Secret"), "alice", "alicepw")).await.unwrap()).0, rs::SUCCESS);
    assert_eq!(answer(ask(signed(acl_for("User:alice", "Topic:Open", &["10.0.0.0/8"]), "root", "rootpw")).await.unwrap()), ok);
    assert_eq!(answer(ask(signed(send("Open"), "alice", "alicepw")).await.unwrap()), denied("Topic:Open"));
    // Users and ACLs are read back by the next broker on this store.
    let get = RemotingCommand::request(rq::AUTH_GET_ACL).with_ext("subject", "User:alice");
    let acl = ask(signed(get.clone(), "root", "rootpw")).await.unwrap();
    assert_eq!(acl.code, rs::SUCCESS);
    broker.store.shutdown().await;
    drop(client);
    let config = BrokerConfig { store_path_root_dir: dir.path().to_path_buf(), authentication_enabled: true, grpc_server_enable: false, ..Default::default() };
    let again = Broker::open(config, Arc::new(ManualClock::new(1_000))).await.expect("broker reopens");
    let (client, _server) = connect(Arc::new(BrokerHandler::new(again.clone())));
    let reread = client.invoke(signed(get, "root", "rootpw"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(reread.body, acl.body);
    again.store.shutdown().await;
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
