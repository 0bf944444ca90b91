//! Delay levels: messages parked in SCHEDULE_TOPIC_XXXX (queue = level − 1, tag code =
//! delivery time) are moved to their real topic and queue when due. Progress per level
//! is kept in `config/delayOffset.json`; a crash may deliver a message twice, never lose it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::message::{decode_record, prop, Properties};
use serde::{Deserialize, Serialize};

use crate::persist;
use crate::put::{now_ms, Outgoing, REAL_QID, REAL_TOPIC, SCHEDULE_TOPIC};
use crate::Broker;

/// How often due messages are looked for (RocketMQ polls each level every 100 ms).
const POLL: Duration = Duration::from_millis(100);
const PERSIST_EVERY: Duration = Duration::from_secs(1);
const BATCH: usize = 32;

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DelayOffsets {
    offset_table: BTreeMap<i32, i64>,
}

pub(crate) async fn run(b: Arc<Broker>) {
    let path: PathBuf = b.config.store_path_root_dir.join("config").join("delayOffset.json");
    let mut offsets: DelayOffsets = match persist::load(&path) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "delay offsets unreadable; delayed messages are not delivered");
            return;
        }
    };
    let mut dirty = false;
    let mut last_persist = Instant::now();
    loop {
        for level in 1..=b.delay_levels.max_level() {
            let queue_id = level - 1;
            let from = *offsets.offset_table.get(&level).unwrap_or(&b.store.min_offset(SCHEDULE_TOPIC, queue_id));
            let next = deliver_due(&b, queue_id, from).await;
            if next != from {
                offsets.offset_table.insert(level, next);
                dirty = true;
            }
        }
        if dirty && last_persist.elapsed() >= PERSIST_EVERY {
            let body = serde_json::to_vec_pretty(&offsets).unwrap_or_default();
            match persist::write_atomic(&path, &body) {
                Ok(()) => dirty = false,
                Err(e) => tracing::error!(error = %e, "failed to persist delay offsets"),
            }
            last_persist = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Moves every due message of one level; returns the next offset to look at.
async fn deliver_due(b: &Broker, queue_id: i32, mut offset: i64) -> i64 {
    loop {
        let entries = match b.store.queue_entries(SCHEDULE_TOPIC, queue_id, offset, BATCH) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "reading the schedule queue failed");
                return offset;
            }
        };
        if entries.is_empty() {
            return offset;
        }
        for (at, phys, _size, deliver_at) in entries {
            if deliver_at > now_ms() {
                return offset.max(at);
            }
            match release(b, phys).await {
                Ok(()) => offset = at + 1,
                // Retried on the next poll; order within the level is kept.
                Err(e) => {
                    tracing::warn!(error = %e, "delayed message not delivered yet");
                    return offset;
                }
            }
        }
    }
}

/// Puts a parked message back into its real topic and queue.
async fn release(b: &Broker, phys: i64) -> Result<(), String> {
    let Some(rec) = b.store.read_message(phys).map_err(|e| e.to_string())? else {
        return Ok(()); // gone with retention: nothing to deliver
    };
    let m = decode_record(&rec, false).map_err(|e| e.to_string())?;
    let mut props = Properties::parse(&m.properties);
    let (Some(topic), Some(queue_id)) = (props.remove(REAL_TOPIC), props.remove(REAL_QID).and_then(|q| q.parse::<i32>().ok())) else {
        tracing::warn!(offset = phys, "scheduled message without its real topic; dropped");
        return Ok(());
    };
    props.remove(prop::DELAY);
    let out = Outgoing::from_record(&m, topic, queue_id, m.reconsume_times, props);
    b.put(vec![out], true).await.map(|_| ()).map_err(|e| e.to_string())
}
