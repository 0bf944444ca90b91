//! Frames of every size arrive whole and in order: small bodies are gathered next to their
//! headers, large ones are written from where they lie, and partial writes resume exactly.

use std::sync::Arc;
use std::time::Duration;

use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, ChannelConfig, Handler};
use tokio::net::TcpListener;

/// Answers each request with its own body reversed.
struct Reverse;

impl Handler for Reverse {
    fn handle(&self, _channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let mut body = request.body.to_vec();
        body.reverse();
        Box::pin(async move { Some(RemotingCommand::response_to(&request, 0).with_body(body)) })
    }
}

struct Nothing;

impl Handler for Nothing {
    fn handle(&self, _channel: Arc<Channel>, _request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        Box::pin(async { None })
    }
}

fn body(i: usize) -> Vec<u8> {
    // Sizes around the gather limit and far beyond a socket buffer.
    let len = [0, 1, 100, 8 * 1024 - 1, 8 * 1024, 8 * 1024 + 1, 300 * 1024, 3 * 1024 * 1024][i % 8];
    (0..len).map(|b| (b * 31 + i) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_sizes_round_trip_intact() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let _server = Channel::spawn(stream, Arc::new(Reverse), ChannelConfig::default()).unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let client = remoting::connect(&addr.to_string(), Arc::new(Nothing), ChannelConfig::default(), Duration::from_secs(5)).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..64 {
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            let resp = client.invoke(RemotingCommand::request(1).with_body(body(i)), Duration::from_secs(30)).await.unwrap();
            let mut expected = body(i);
            expected.reverse();
            assert_eq!(resp.body.len(), expected.len(), "request {i}");
            assert!(resp.body[..] == expected[..], "request {i}: body differs");
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
}
