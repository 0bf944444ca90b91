//! A gentle end (`Channel::finish`): requests being handled still get their answers, parked
//! ones do not hold the connection open, and then our side ends with FIN.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, ChannelConfig, Handler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Code 1: answers after 300 ms. Code 2: parks for 30 s, then answers. Counts the requests
/// it has started.
struct Slow(Arc<AtomicUsize>);

impl Handler for Slow {
    fn handle(&self, channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        self.0.fetch_add(1, Ordering::AcqRel);
        Box::pin(async move {
            if request.code == 2 {
                let _idle = channel.parked();
                tokio::time::sleep(Duration::from_secs(30)).await;
            } else {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Some(RemotingCommand::response_to(&request, 0))
        })
    }
}

/// Reads frames until the server ends its side; returns the opaques answered.
async fn answers_until_eof(peer: &mut TcpStream) -> Vec<i32> {
    let (mut buf, mut opaques) = (BytesMut::new(), Vec::new());
    loop {
        while let Some(frame) = protocol::frame::take_frame(&mut buf, 1 << 20).unwrap() {
            opaques.push(RemotingCommand::decode(frame).unwrap().opaque);
        }
        if peer.read_buf(&mut buf).await.unwrap() == 0 {
            return opaques;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_waits_for_answers_but_not_for_parked_requests() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let channel = Channel::spawn(stream, Arc::new(Slow(started.clone())), ChannelConfig::default()).unwrap();
    let mut parked = RemotingCommand::request(2);
    parked.opaque = 7;
    let mut slow = RemotingCommand::request(1);
    slow.opaque = 8;
    peer.write_all(&parked.encode_to_bytes()).await.unwrap();
    peer.write_all(&slow.encode_to_bytes()).await.unwrap();
    // Finish only once both are being handled (requests read after it are dropped).
    while started.load(Ordering::Acquire) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    channel.finish();
    let answered =
        tokio::time::timeout(Duration::from_secs(10), answers_until_eof(&mut peer)).await.expect("our side ended, without waiting 30 s for the parked request");
    assert_eq!(answered, vec![8], "the request being handled was answered before FIN; the parked one was not waited for");
    channel.close();
}
