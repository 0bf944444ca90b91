//! A peer that never reads costs a bounded write queue: senders wait instead of buffering.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, ChannelConfig, Handler};
use tokio::net::{TcpListener, TcpStream};

struct Silent;

impl Handler for Silent {
    fn handle(&self, _channel: Arc<Channel>, _request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        Box::pin(async { None })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_blocks_senders_at_the_byte_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The peer connects and never reads.
    let _peer = TcpStream::connect(addr).await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let config = ChannelConfig { write_queue_bytes: 1024 * 1024, ..ChannelConfig::default() };
    let channel = Channel::spawn(stream, Arc::new(Silent), config).unwrap();

    let queued = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (channel, queued) = (channel.clone(), queued.clone());
        tokio::spawn(async move {
            let frame = RemotingCommand::request(0).with_body(vec![0u8; 64 * 1024]);
            // 256 MiB in all: far beyond any socket buffer plus the 1 MiB queue.
            for _ in 0..4096 {
                if channel.send(&frame).await.is_err() {
                    return;
                }
                queued.fetch_add(64 * 1024, Ordering::Relaxed);
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = queued.load(Ordering::Relaxed);
    assert!(!sender.is_finished(), "the sender is held back");
    // Kernel socket buffers take some megabytes; the queue adds at most 1 MiB.
    assert!(sent < 48 * 1024 * 1024, "{sent} bytes accepted for a peer that never reads");
    // Closing releases the waiting sender with an error.
    channel.close();
    tokio::time::timeout(Duration::from_secs(5), sender).await.expect("sender released on close").unwrap();
}

/// Answers every request with 64 KiB and counts how many it has started.
struct Bulky(Arc<AtomicUsize>);

impl Handler for Bulky {
    fn handle(&self, _channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move { Some(RemotingCommand::response_to(&request, 0).with_body(vec![0u8; 64 * 1024])) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_sends_without_reading_is_held_at_the_inflight_limit() {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = TcpStream::connect(addr).await.unwrap();
    let (mut peer_read, mut peer) = peer.into_split();
    let (stream, _) = listener.accept().await.unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let config = ChannelConfig { write_queue_bytes: 1024 * 1024, max_inflight_requests: 64, ..ChannelConfig::default() };
    let _channel = Channel::spawn(stream, Arc::new(Bulky(started.clone())), config).unwrap();

    // The peer pipelines 100,000 small requests (about 3 MB) and never reads an answer.
    let writer = tokio::spawn(async move {
        let one = RemotingCommand::request(1).encode_to_bytes();
        let mut batch = Vec::new();
        for _ in 0..1000 {
            batch.extend_from_slice(&one);
        }
        for _ in 0..100 {
            if peer.write_all(&batch).await.is_err() {
                break;
            }
        }
        peer
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let handled = started.load(Ordering::Relaxed);
    // Answers fill the socket buffers and the 1 MiB write queue (a few hundred of 64 KiB),
    // then at most 64 more requests are held; the rest wait unread.
    assert!(handled < 2_000, "{handled} requests taken on for a peer that reads nothing");

    // Once the peer reads its answers, requests are taken on again until all are answered.
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        while peer_read.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    let all = tokio::time::timeout(Duration::from_secs(60), async {
        while started.load(Ordering::Relaxed) < 100_000 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(all.is_ok(), "only {} of 100,000 requests taken on after the peer began to read", started.load(Ordering::Relaxed));
    drop(writer);
    reader.abort();
}
