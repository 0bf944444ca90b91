//! The master's replication port: one task per replica. After the replica's `Hello` the
//! master decides where it can follow from (or refuses it, saying why), then streams whole
//! records from there as the appender publishes them, and reads the replica's
//! acknowledgements, which confirm SYNC_MASTER sends (`Ha::confirm`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use protocol::ha::{Frame, VERSION};
use store::ReplicaRead;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::{read_frame, write_frame};
use crate::Broker;

/// Accepts replicas until the broker stops.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "replication port: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let b = broker.clone();
        tokio::spawn(async move {
            if let Err(e) = link(&b, stream, peer).await {
                tracing::info!(%peer, error = %e, "replication link ended");
            }
        });
    }
}

/// What a replica is told after its hello.
enum Start {
    /// It follows from this offset.
    From(u64),
    /// Its log stops agreeing with the master's here: it drops the rest first.
    Truncate(u64),
}

/// Where a replica whose log ends at `end`, with `epochs`, can follow from, or why it cannot.
fn start_for(b: &Broker, version: u16, broker_id: i64, end: u64, epochs: &[(u32, u64)], cluster: &str, broker_name: &str) -> Result<Start, String> {
    if !b.runtime.role().is_master() {
        return Err(format!("{} is a {}, not a master", b.config.broker_addr(), b.runtime.role()));
    }
    if version != VERSION {
        return Err(format!("replication protocol version {version} is not spoken here (this master speaks {VERSION})"));
    }
    if cluster != b.config.broker_cluster_name || broker_name != b.config.broker_name {
        return Err(format!("a replica of {cluster}/{broker_name} reached the master of {}/{}", b.config.broker_cluster_name, b.config.broker_name));
    }
    if broker_id <= 0 {
        return Err(format!("a replica's brokerId must be > 0, not {broker_id}"));
    }
    // Failover: a log that served another epoch is cut where it stops agreeing with this one.
    if let (Some(mine), false) = (b.ha.epoch_log(), epochs.is_empty()) {
        let (my_epoch, their_epoch) = (mine.last().map_or(0, |e| e.epoch), epochs.last().map_or(0, |e| e.0));
        if their_epoch > my_epoch {
            return Err(format!("the replica has seen epoch {their_epoch}, this master only {my_epoch}: it is no longer the master"));
        }
        let entries = epochs.iter().map(|&(epoch, start)| store::epoch::Epoch { epoch, start }).collect();
        let theirs = store::epoch::EpochLog::new(entries).map_err(|e| format!("the replica's epochs: {e}"))?;
        match theirs.consistent_point(end, &mine, b.store.commit_log_max_offset() as u64) {
            None => return Err("the replica's log shares no epoch with this master's (start it with an empty store)".into()),
            Some(point) if point < end => return Ok(Start::Truncate(point)),
            Some(_) => {}
        }
    }
    // A replica with an empty log starts where this log starts.
    let start = if end == 0 { b.store.commit_log_min_offset() as u64 } else { end };
    match b.store.replica_read(start, 8).map_err(|e| e.to_string())? {
        ReplicaRead::Records { .. } | ReplicaRead::UpToDate => Ok(Start::From(start)),
        ReplicaRead::Gone(min) => {
            Err(format!("the replica's log ends at {end}, before this master's first retained offset {min}: it cannot catch up (start it with an empty store)"))
        }
        ReplicaRead::Ahead(master_end) => {
            Err(format!("the replica's log ends at {end}, past this master's end {master_end}: it holds records the master does not have"))
        }
        ReplicaRead::Misaligned => Err(format!("no record of this master's log starts at {end}: the replica's log is not this master's")),
    }
}

async fn link(b: &Arc<Broker>, stream: TcpStream, peer: SocketAddr) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let silent = Duration::from_millis(b.config.ha_housekeeping_interval_ms.max(100));
    let mut buf = BytesMut::with_capacity(1024);
    let Frame::Hello { version, broker_id, end, max_chunk, cluster, broker_name, epochs } =
        read_frame(&mut rd, &mut buf, 64 * 1024 + protocol::ha::MAX_EPOCHS * 12, silent).await?
    else {
        return Err("the first frame is not a hello".into());
    };
    let start = match start_for(b, version, broker_id, end, &epochs, &cluster, &broker_name) {
        Ok(Start::From(start)) => start,
        Ok(Start::Truncate(offset)) => {
            tracing::warn!(%peer, broker_id, replica_end = end, offset, "the replica holds a tail this master does not: it truncates");
            write_frame(&mut wr, &Frame::Truncate { offset }).await?;
            return Ok(());
        }
        Err(reason) => {
            tracing::warn!(%peer, broker_id, %reason, "replica refused");
            let _ = write_frame(&mut wr, &Frame::Refused { reason: reason.clone() }).await;
            return Err(reason);
        }
    };
    let master_end = b.store.commit_log_max_offset() as u64;
    write_frame(&mut wr, &Frame::Welcome { start, master_end, epochs: b.ha.epoch_entries() }).await?;
    let id = b.ha.add_link(broker_id, peer, start, b.clock.now_ms());
    tracing::info!(%peer, broker_id, start, master_end, "replica connected");
    let acks = {
        let b = b.clone();
        async move {
            loop {
                match read_frame(&mut rd, &mut buf, 1024, silent).await? {
                    Frame::Ack { end } => b.ha.acked(id, end, b.clock.now_ms()),
                    other => return Err::<(), String>(format!("unexpected frame from a replica: {other:?}")),
                }
            }
        }
    };
    let chunk = b.config.ha_transfer_batch_size.min(max_chunk.max(1024) as usize);
    let result = tokio::select! {
        r = acks => r,
        r = send(b, &mut wr, id, start, chunk) => r,
    };
    b.ha.remove_link(id);
    result
}

/// Streams the log from `next` on, as it is written; a heartbeat when there is nothing.
async fn send(b: &Arc<Broker>, wr: &mut tokio::net::tcp::OwnedWriteHalf, id: u64, mut next: u64, chunk: usize) -> Result<(), String> {
    let heartbeat = Duration::from_millis(b.config.ha_send_heartbeat_interval_ms.max(100));
    let mut written = b.store.watch_write_end();
    loop {
        if !b.runtime.role().is_master() {
            return Err("this broker is no longer a master".into());
        }
        written.borrow_and_update();
        // What the page cache holds is read here; a replica far behind needs the disk: read
        // off the async workers.
        let read = match b.store.replica_read_cached(next, chunk).map_err(|e| e.to_string())? {
            Some(read) => read,
            None => {
                let store = b.clone();
                tokio::task::spawn_blocking(move || store.store.replica_read(next, chunk)).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?
            }
        };
        match read {
            ReplicaRead::Records { bytes, next: after } => {
                let head = Frame::data_head(next, b.store.commit_log_max_offset() as u64, bytes.len());
                let n = bytes.len() as u64;
                let mut frame = (&head[..]).chain(bytes);
                wr.write_all_buf(&mut frame).await.map_err(|e| e.to_string())?;
                b.ha.sent(id, after, n);
                next = after;
            }
            ReplicaRead::UpToDate => match tokio::time::timeout(heartbeat, written.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err("the store stopped".into()),
                Err(_) => write_frame(wr, &Frame::Heartbeat { master_end: b.store.commit_log_max_offset() as u64 }).await?,
            },
            ReplicaRead::Gone(min) => return Err(format!("offset {next} is gone (the log now starts at {min})")),
            ReplicaRead::Ahead(end) => return Err(format!("offset {next} is past the log's end {end}")),
            ReplicaRead::Misaligned => return Err(format!("no record starts at {next}")),
        }
    }
}
