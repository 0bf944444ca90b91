//! The idle timeout closes a connection that sends nothing for that long, and only such a
//! connection: one that keeps sending, however long it lives, stays open.

use std::sync::Arc;
use std::time::Duration;

use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, ChannelConfig, Handler};
use tokio::net::TcpListener;

struct Echo;

impl Handler for Echo {
    fn handle(&self, _channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        Box::pin(async move { Some(RemotingCommand::response_to(&request, 0)) })
    }
}

/// A server whose connections time out after `idle`; returns its address.
async fn server(idle: Duration) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(Channel::spawn(stream, Arc::new(Echo), ChannelConfig { idle_timeout: idle, ..ChannelConfig::default() }).unwrap());
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_connection_outlives_the_idle_timeout_and_a_quiet_one_is_closed() {
    let idle = Duration::from_millis(300);
    let addr = server(idle).await.to_string();
    let connect =
        || remoting::connect(&addr, Arc::new(Echo), ChannelConfig { idle_timeout: Duration::ZERO, ..ChannelConfig::default() }, Duration::from_secs(5));
    let busy = connect().await.unwrap();
    let quiet = connect().await.unwrap();
    // The busy one sends every 50 ms for four idle periods; every request is answered.
    for i in 0..24 {
        busy.invoke(RemotingCommand::request(1), Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("request {i}: {e}"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!busy.is_closed(), "a connection that kept sending was closed");
    // The quiet one was closed by the server long ago (the wait only bounds a hang).
    tokio::time::timeout(Duration::from_secs(30), quiet.closed()).await.expect("the quiet connection was never closed");
    // And the busy one, once it stops sending, is closed too.
    tokio::time::timeout(Duration::from_secs(30), busy.closed()).await.expect("the busy connection was not closed once quiet");
}
