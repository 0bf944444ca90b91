//! `rocketry bench idle`: opens many connections to a broker, sends one heartbeat on each
//! (as a client that registers and then waits would), and holds them open. `bench/idle.sh`
//! reads the broker's resident memory before and while they are held: what an idle
//! connection costs.
//!
//! Connections are plain sockets speaking raw frames, so the load generator itself stays
//! small; they are opened a few hundred at a time.

use std::time::Duration;

use bytes::BytesMut;
use clap::Args;
use protocol::body::{self, HeartbeatData, ProducerData};
use protocol::codes::{request, response};
use protocol::RemotingCommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Args)]
pub struct IdleArgs {
    /// The broker's address.
    #[arg(short, long, default_value = "127.0.0.1:10911")]
    broker: String,
    /// Connections to open and hold.
    #[arg(short, long, default_value_t = 5_000)]
    connections: usize,
    /// How long to hold them once all are open, in seconds.
    #[arg(long, default_value_t = 10)]
    hold_secs: u64,
    /// Tells apart the client ids of several of these processes.
    #[arg(long, default_value = "idle")]
    prefix: String,
}

/// Connections being opened at once.
const OPENING_AT_ONCE: usize = 256;

pub async fn run(args: IdleArgs) -> Result<(), crate::Error> {
    let mut held = Vec::with_capacity(args.connections);
    let mut next = 0;
    while next < args.connections {
        let batch: Vec<_> = (next..(next + OPENING_AT_ONCE).min(args.connections))
            .map(|i| {
                let (addr, id) = (args.broker.clone(), format!("{}-{i}", args.prefix));
                tokio::spawn(async move { open(&addr, &id).await })
            })
            .collect();
        for task in batch {
            held.push(task.await.map_err(|e| e.to_string())??);
        }
        next += OPENING_AT_ONCE;
    }
    println!("ready {}", held.len());
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    drop(held);
    Ok(())
}

/// Connects, sends a producer heartbeat and waits for its answer.
async fn open(addr: &str, client_id: &str) -> Result<TcpStream, String> {
    let io = |e: std::io::Error| format!("{addr}: {e}");
    let mut stream = TcpStream::connect(addr).await.map_err(io)?;
    let hb =
        HeartbeatData { client_id: client_id.to_string(), producer_data_set: vec![ProducerData { group_name: "IdleBenchGroup".into() }], ..Default::default() };
    let mut frame = BytesMut::new();
    RemotingCommand::request(request::HEART_BEAT).with_body(body::encode(&hb)).encode(&mut frame);
    stream.write_all(&frame).await.map_err(io)?;
    let length = stream.read_u32().await.map_err(io)? as usize;
    let mut rest = vec![0u8; length];
    stream.read_exact(&mut rest).await.map_err(io)?;
    let mut whole = BytesMut::with_capacity(4 + length);
    whole.extend_from_slice(&(length as u32).to_be_bytes());
    whole.extend_from_slice(&rest);
    let answer = protocol::frame::take_frame(&mut whole, usize::MAX).map_err(|e| e.to_string())?.ok_or("a short answer")?;
    let answer = RemotingCommand::decode(answer).map_err(|e| e.to_string())?;
    if answer.code != response::SUCCESS {
        return Err(format!("heartbeat answered {}: {:?}", answer.code, answer.remark));
    }
    Ok(stream)
}
