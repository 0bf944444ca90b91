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
