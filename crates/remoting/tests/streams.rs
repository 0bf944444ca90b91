//! A channel runs over any async stream, not only TCP: here an in-memory pipe, split with
//! `tokio::io::split` as a TLS stream would be. Requests flow both ways, large bodies cross
//! in pieces, and the end of the stream closes both channels.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocol::RemotingCommand;
use remoting::{Addrs, BoxFuture, Channel, ChannelConfig, Handler};

/// Answers each request with its own body.
struct Echo;

impl Handler for Echo {
    fn handle(&self, _channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        Box::pin(async move { Some(RemotingCommand::response_to(&request, 0).with_body(request.body.clone())) })
    }
}

fn addrs(port: u16) -> Addrs {
    Addrs { peer: ([10, 0, 0, 1], port).into(), local: ([10, 0, 0, 2], port + 1).into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_serves_over_an_in_memory_stream_both_ways() {
    // A small pipe: a 1 MiB body crosses in many reads and writes.
    let (a, b) = tokio::io::duplex(4096);
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let left = Channel::spawn_io(ar, aw, addrs(1000), Arc::new(Echo), ChannelConfig::default());
    let right = Channel::spawn_io(br, bw, addrs(2000), Arc::new(Echo), ChannelConfig::default());
    assert_eq!(left.peer_addr(), addrs(1000).peer);
    let big = Bytes::from((0..1 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let answer = left.invoke(RemotingCommand::request(7).with_body(big.clone()), Duration::from_secs(10)).await.expect("left asks right");
    assert_eq!(answer.body, big);
    for i in 0..100u32 {
        let body = Bytes::from(i.to_be_bytes().to_vec());
        let answer = right.invoke(RemotingCommand::request(8).with_body(body.clone()), Duration::from_secs(10)).await.expect("right asks left");
        assert_eq!(answer.body, body);
    }
    left.close();
    tokio::time::timeout(Duration::from_secs(10), right.closed()).await.expect("the other end sees the stream end");
}
