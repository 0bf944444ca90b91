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

/// An idle TCP connection keeps no read buffer: after one small request at once, and after a
/// stream of large frames (whose reads grew the buffer) once the peer has been quiet a second.
/// (A stream that cannot wait for readability without a buffer, as the in-memory one above,
/// keeps its smallest one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_gives_its_read_buffer_back() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let accepted = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        Channel::spawn(stream, Arc::new(Echo), ChannelConfig::default()).expect("channel")
    });
    let client = remoting::connect(&addr, Arc::new(Echo), ChannelConfig::default(), Duration::from_secs(5)).await.expect("connect");
    let server = accepted.await.expect("accepted");
    let settle = |ch: Arc<Channel>| async move {
        for _ in 0..300 {
            if ch.read_buffer_bytes() == 0 {
                return 0;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ch.read_buffer_bytes()
    };
    client.invoke(RemotingCommand::request(7).with_body(Bytes::from_static(b"small")), Duration::from_secs(10)).await.expect("answered");
    assert_eq!(settle(server.clone()).await, 0, "after a small request");
    // Large frames in a row grow the server's reads.
    let big = Bytes::from(vec![7u8; 512 * 1024]);
    let sends: Vec<_> = (0..16).map(|_| client.invoke(RemotingCommand::request(7).with_body(big.clone()), Duration::from_secs(10))).collect();
    let mut grown = 0;
    for s in sends {
        s.await.expect("answered");
        grown = grown.max(server.read_buffer_bytes());
    }
    assert!(grown > 16 * 1024, "the reads grew: {grown}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(settle(server.clone()).await, 0, "a second after a stream of large frames");
}
