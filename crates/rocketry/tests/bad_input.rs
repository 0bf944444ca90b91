//! Malformed input gets an error response or a closed connection; the broker keeps
//! serving others and nothing stored changes.

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use protocol::codes::response as rs;
use protocol::message::Properties;
use protocol::RemotingCommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

enum Outcome {
    Closed,
    Response(RemotingCommand),
}

/// Writes raw bytes and reports the first frame back, or that the connection closed.
async fn exchange(addr: &str, bytes: &[u8]) -> Outcome {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may close before reading everything; a failed write is a close too.
    if s.write_all(bytes).await.is_err() {
        return Outcome::Closed;
    }
    let mut buf = BytesMut::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(Some(frame)) = protocol::frame::take_frame(&mut buf, 64 << 20) {
                return Some(frame);
            }
            match s.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the broker neither answered nor closed the connection");
    match read {
        Some(frame) => Outcome::Response(RemotingCommand::decode(frame).unwrap()),
        None => Outcome::Closed,
    }
}

fn frame_with_header(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_u32((4 + header.len() + body.len()) as u32);
    out.put_u32(header.len() as u32);
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out.to_vec()
}

fn send_v2(topic: &str, queue: &str, body: Bytes) -> Vec<u8> {
    let cmd = RemotingCommand::request(310)
        .with_ext("a", "pg")
        .with_ext("b", topic)
        .with_ext("c", "TBW102")
        .with_ext("d", 4)
        .with_ext("e", queue)
        .with_ext("f", 0)
        .with_ext("g", 1)
        .with_ext("h", 0)
        .with_ext("i", "")
        .with_body(body);
    cmd.encode_to_bytes().to_vec()
}

fn expect_code(outcome: Outcome, code: i32, case: &str) -> RemotingCommand {
    match outcome {
        Outcome::Response(r) => {
            assert_eq!(r.code, code, "{case}: remark {:?}", r.remark);
            assert!(r.remark.as_deref().is_some_and(|m| !m.is_empty()), "{case}: a remark explains the error");
            r
        }
        Outcome::Closed => panic!("{case}: expected code {code}, connection was closed"),
    }
}

fn expect_closed(outcome: Outcome, case: &str) {
    assert!(matches!(outcome, Outcome::Closed), "{case}: expected the connection to be closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_refused_and_harmless() {
    let cluster = common::Cluster::start().await;
    let addr = cluster.broker_addr();
    let client = cluster.client();
    let stored = client.send(&addr, "BadInputTopic", 0, Bytes::from_static(b"kept"), Properties::default()).await.unwrap();
    let before = (cluster.broker.as_ref().unwrap().broker.store.commit_log_max_offset(), client.pull(&addr, &pull_header()).await.unwrap().messages.len());

    // Seeded so a failure can be replayed.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<u8> = (0..256)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8 | 0x80
        })
        .collect();
    expect_closed(exchange(&addr, &random).await, "random bytes");
    expect_closed(exchange(&addr, &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]).await, "frame length over the limit");
    expect_closed(exchange(&addr, &[0, 0, 0, 8, 0, 0, 1, 0, b'{', b'}', 0, 0]).await, "header length larger than the frame");
    expect_closed(exchange(&addr, &frame_with_header(b"{\"code\":310,", b"")).await, "invalid JSON");
    expect_closed(exchange(&addr, &frame_with_header(b"[1,2,3]", b"")).await, "JSON that is not an object");
    expect_closed(exchange(&addr, &[0, 0, 0, 6, 7, 0, 0, 2, b'{', b'}']).await, "unknown serialize type");

    let unknown = RemotingCommand::request(9999).encode_to_bytes();
    expect_code(exchange(&addr, &unknown).await, rs::REQUEST_CODE_NOT_SUPPORTED, "unknown code");

    let mut missing = RemotingCommand::request(310).with_ext("a", "pg").with_ext("e", "0");
    missing.body = Bytes::from_static(b"x");
    let r = expect_code(exchange(&addr, &missing.encode_to_bytes()).await, rs::SYSTEM_ERROR, "missing field");
    assert!(r.remark.unwrap().contains("`b`"));
    expect_code(exchange(&addr, &send_v2("BadInputTopic", "abc", Bytes::from_static(b"x"))).await, rs::SYSTEM_ERROR, "wrong type");
    expect_code(exchange(&addr, &send_v2("BadInputTopic", "999", Bytes::from_static(b"x"))).await, rs::INVALID_PARAMETER, "queue out of range");
    expect_code(exchange(&addr, &send_v2("bad topic!", "0", Bytes::from_static(b"x"))).await, rs::INVALID_PARAMETER, "illegal topic name");
    let big = Bytes::from(vec![b'x'; 4 * 1024 * 1024 + 1]);
    expect_code(exchange(&addr, &send_v2("BadInputTopic", "0", big)).await, rs::MESSAGE_ILLEGAL, "body over the limit");
    let pull = RemotingCommand::request(11).with_ext("consumerGroup", "g").with_ext("topic", "BadInputTopic");
    expect_code(exchange(&addr, &pull.encode_to_bytes()).await, rs::SYSTEM_ERROR, "pull without queue fields");
    let hb = RemotingCommand::request(34).with_body(&b"{not json"[..]);
    expect_code(exchange(&addr, &hb.encode_to_bytes()).await, rs::SYSTEM_ERROR, "heartbeat body not JSON");
    let batch = RemotingCommand::request(320)
        .with_ext("a", "pg")
        .with_ext("b", "BadInputTopic")
        .with_ext("e", "0")
        .with_ext("g", "1")
        .with_body(&[0u8, 0, 0, 100, 1, 2, 3][..]);
    expect_code(exchange(&addr, &batch.encode_to_bytes()).await, rs::MESSAGE_ILLEGAL, "truncated batch body");

    // Other clients are served as before, and nothing stored changed.
    let after_offset = cluster.broker.as_ref().unwrap().broker.store.commit_log_max_offset();
    let pulled = client.pull(&addr, &pull_header()).await.unwrap();
    assert_eq!((after_offset, pulled.messages.len()), before);
    assert_eq!(pulled.messages[0].msg_id(), stored.offset_msg_id);
    assert_eq!(&pulled.messages[0].body[..], b"kept");
}

fn pull_header() -> protocol::header::PullMessageRequestHeader {
    protocol::header::PullMessageRequestHeader::for_queue("bad_input_check", "BadInputTopic", 0, 0)
}
