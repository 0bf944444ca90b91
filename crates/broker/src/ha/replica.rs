//! A replica's side of replication: connect to the master's replication port
//! (`haMasterAddress`, or what the NameServer says the master registered), say where the
//! local log ends, then append each chunk where it lay on the master (the store checks every
//! record first) and acknowledge the new end. A dropped or refused link is tried again every
//! second; the reason is logged when it changes.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use protocol::ha::{Frame, DATA_HEAD_BYTES, VERSION};
use tokio::net::TcpStream;

use super::{read_frame, write_frame};
use crate::Broker;

/// Follows the master until the broker stops.
pub async fn follow(b: Arc<Broker>) {
    let mut last_error: Option<String> = None;
    loop {
        let changed = b.ha.master_changed.notified();
        if b.runtime.role().is_master() {
            // Controller mode: a master follows no one (until it is told otherwise).
            let _ = tokio::time::timeout(Duration::from_secs(1), changed).await;
            continue;
        }
        // In controller mode only the controller names the master.
        let configured = b.config.ha_master_address.clone().filter(|_| !b.config.enable_controller_mode);
        let Some(addr) = configured.or_else(|| b.ha.learned_ha_addr()) else {
            // Until a registration names the master.
            let _ = tokio::time::timeout(Duration::from_secs(1), changed).await;
            continue;
        };
        b.ha.update_follower(|f| f.master_ha_addr = Some(addr.clone()));
        let error = match session(&b, &addr).await {
            Ok(()) => "the master closed the link".to_string(),
            Err(e) => e,
        };
        b.ha.update_follower(|f| {
            f.connected = false;
            f.last_error = Some(error.clone());
        });
        if last_error.as_deref() != Some(error.as_str()) {
            tracing::warn!(master = %addr, %error, "not following the master; trying again every second");
            last_error = Some(error);
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), changed).await;
    }
}

async fn session(b: &Arc<Broker>, addr: &str) -> Result<(), String> {
    let stream = match tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("cannot connect to {addr}: {e}")),
        Err(_) => return Err(format!("cannot connect to {addr}: timed out")),
    };
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let silent = Duration::from_millis(b.config.ha_housekeeping_interval_ms.max(100));
    let max_chunk = b.config.ha_transfer_batch_size;
    // One record larger than a chunk comes alone.
    let max_frame = max_chunk.max(b.config.max_message_size + 64 * 1024) + DATA_HEAD_BYTES;
    let end = b.store.commit_log_max_offset() as u64;
    let hello = Frame::Hello {
        version: VERSION,
        broker_id: b.config.broker_id,
        end,
        max_chunk: max_chunk.min(u32::MAX as usize) as u32,
        cluster: b.config.broker_cluster_name.clone(),
        broker_name: b.config.broker_name.clone(),
        epochs: b.ha.epoch_entries(),
    };
    write_frame(&mut wr, &hello).await?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let role_changed = b.ha.role_changed.notified();
    tokio::pin!(role_changed);
    // The master's epochs this replica has not recorded yet, recorded as its copy reaches them.
    let mut pending_epochs: Vec<(u32, u64)>;
    match read_frame(&mut rd, &mut buf, max_frame, silent).await? {
        Frame::Truncate { offset } => {
            // The epochs first: a crash between the two leaves records the epochs do not
            // claim, which the next comparison cuts again (never the other way round).
            b.ha.with_epochs(|f| f.truncate(offset))?;
            b.store.truncate(offset).await.map_err(|e| e.to_string())?;
            return Err(format!("truncated the log at {offset}, where it stops agreeing with the master's; following again"));
        }
        Frame::Welcome { start, master_end, epochs } => {
            let mine = b.ha.epoch_entries();
            pending_epochs = epochs.into_iter().filter(|e| !mine.contains(e) && mine.last().is_none_or(|m| e.0 > m.0)).collect();
            record_epochs(b, &mut pending_epochs)?;
            tracing::info!(master = %addr, start, master_end, local_end = end, "following the master");
            b.ha.update_follower(|f| {
                f.connected = true;
                f.master_end = master_end;
                f.last_error = None;
            });
        }
        Frame::Refused { reason } => return Err(format!("the master refused this replica: {reason}")),
        other => return Err(format!("unexpected answer to hello: {other:?}")),
    }
    let mut tick = tokio::time::interval(Duration::from_millis(b.config.ha_send_heartbeat_interval_ms.max(100)));
    let mut last_read = tokio::time::Instant::now();
    let master_changed = b.ha.master_changed.notified();
    tokio::pin!(master_changed);
    loop {
        tokio::select! {
            _ = &mut master_changed => {
                let learned = b.config.ha_master_address.is_none() || b.config.enable_controller_mode;
                if learned && b.ha.learned_ha_addr().as_deref() != Some(addr) {
                    return Err("the master changed".into());
                }
                master_changed.set(b.ha.master_changed.notified());
            }
            frame = read_frame(&mut rd, &mut buf, max_frame, silent) => {
                last_read = tokio::time::Instant::now();
                match frame? {
                Frame::Data { offset, master_end, records } => {
                    let n = records.len() as u64;
                    let end = b.store.append_replicated(offset, records).await.map_err(|e| e.to_string())?;
                    record_epochs(b, &mut pending_epochs)?;
                    write_frame(&mut wr, &Frame::Ack { end }).await?;
                    let now = b.clock.now_ms();
                    b.ha.update_follower(|f| {
                        f.master_end = master_end;
                        f.received_bytes += n;
                        f.last_read_ms = now;
                        f.last_write_ms = now;
                    });
                }
                Frame::Heartbeat { master_end } => {
                    let now = b.clock.now_ms();
                    b.ha.update_follower(|f| {
                        f.master_end = master_end;
                        f.last_read_ms = now;
                    });
                }
                other => return Err(format!("unexpected frame from the master: {other:?}")),
                }
            }
            _ = &mut role_changed => return Err("this broker's role changed".into()),
            _ = tick.tick() => {
                // The read above starts its wait again each round: silence is measured here.
                if last_read.elapsed() > silent {
                    return Err(format!("nothing from the master for {} ms", silent.as_millis()));
                }
                write_frame(&mut wr, &Frame::Ack { end: b.store.commit_log_max_offset() as u64 }).await?;
                let now = b.clock.now_ms();
                b.ha.update_follower(|f| f.last_write_ms = now);
            }
        }
    }
}

/// Records the master's epochs that start at or before where this log now ends (controller
/// mode; a replica outside it has no epoch file and the master sends none).
fn record_epochs(b: &Broker, pending: &mut Vec<(u32, u64)>) -> Result<(), String> {
    if pending.is_empty() {
        return Ok(());
    }
    let end = b.store.commit_log_max_offset() as u64;
    while let Some(&(epoch, start)) = pending.first().filter(|(_, start)| *start <= end) {
        b.ha.with_epochs(|f| f.begin(epoch, start))?;
        pending.remove(0);
    }
    Ok(())
}
