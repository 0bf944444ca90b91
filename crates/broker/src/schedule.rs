//! Delay levels: messages parked in SCHEDULE_TOPIC_XXXX (queue = level − 1, tag code =
//! delivery time) are moved to their real topic and queue when due. Progress per level
//! is kept in `config/delayOffset.json`, saved every second and at shutdown; a crash may
//! deliver a message twice, never lose it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::message::{decode_record, Properties};
use serde::{Deserialize, Serialize};

use crate::persist;
use crate::put::{NewMessage, REAL_QID, REAL_TOPIC, SCHEDULE_TOPIC};
use crate::Broker;

/// How often due messages are looked for (RocketMQ polls each level every 100 ms).
const POLL: Duration = Duration::from_millis(100);
const PERSIST_EVERY: Duration = Duration::from_secs(1);
const BATCH: usize = 32;

#[derive(Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DelayOffsets {
    offset_table: BTreeMap<i32, i64>,
}

/// Each level's next schedule-queue offset, shared so a shutdown can save it.
#[derive(Default)]
pub(crate) struct Progress {
    offsets: Mutex<DelayOffsets>,
    /// Loaded from the file (a damaged file is never overwritten).
    loaded: AtomicBool,
    dirty: AtomicBool,
}

impl Progress {
    fn get(&self, level: i32) -> Option<i64> {
        self.offsets.lock().unwrap_or_else(|e| e.into_inner()).offset_table.get(&level).copied()
    }

    fn set(&self, level: i32, next: i64) {
        self.offsets.lock().unwrap_or_else(|e| e.into_inner()).offset_table.insert(level, next);
        self.dirty.store(true, Ordering::Release);
    }
}

fn path(b: &Broker) -> PathBuf {
    b.config.store_path_root_dir.join("config").join("delayOffset.json")
}

/// GET_ALL_DELAY_OFFSET's body: the progress as delayOffset.json holds it (the scheduler's
/// in memory, else the file's).
pub(crate) fn progress_json(b: &Broker) -> Vec<u8> {
    let p = &b.delay_progress;
    if p.loaded.load(Ordering::Acquire) {
        return serde_json::to_vec(&*p.offsets.lock().unwrap_or_else(|e| e.into_inner())).unwrap_or_default();
    }
    let file = persist::load::<DelayOffsets>(&path(b)).unwrap_or_default();
    serde_json::to_vec(&file).unwrap_or_default()
}

/// A replica keeps its master's delay progress in its file, for when it serves as a master
/// (its scheduler does not run while it is a replica).
pub(crate) fn take_master_progress(b: &Broker, body: &[u8]) -> Result<(), String> {
    let value = protocol::body::fastjson_value(body).map_err(|e| e.to_string())?;
    let file: DelayOffsets = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if persist::load::<DelayOffsets>(&path(b)).is_ok_and(|mine| mine.offset_table == file.offset_table) {
        return Ok(());
    }
    let body = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    persist::write_atomic(&path(b), &body).map_err(|e| e.to_string())
}

/// Writes the progress if it changed since the last save.
pub(crate) fn save(b: &Broker) {
    let p = &b.delay_progress;
    if !p.loaded.load(Ordering::Acquire) || !p.dirty.swap(false, Ordering::AcqRel) {
        return;
    }
    let body = serde_json::to_vec_pretty(&*p.offsets.lock().unwrap_or_else(|e| e.into_inner())).unwrap_or_default();
    if let Err(e) = persist::write_atomic(&path(b), &body) {
        p.dirty.store(true, Ordering::Release);
        tracing::error!(error = %e, "failed to persist delay offsets");
    }
}

pub(crate) async fn run(b: Arc<Broker>) {
    match persist::load::<DelayOffsets>(&path(&b)) {
        Ok(o) => {
            *b.delay_progress.offsets.lock().unwrap_or_else(|e| e.into_inner()) = o;
            b.delay_progress.loaded.store(true, Ordering::Release);
        }
        Err(e) => {
            tracing::error!(error = %e, "delay offsets unreadable; delayed messages are not delivered");
            return;
        }
    }
    let mut last_persist = Instant::now();
    loop {
        deliver_all_due(&b).await;
        if last_persist.elapsed() >= PERSIST_EVERY {
            save(&b);
            last_persist = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One pass over every level: moves the messages due by the broker's clock (tests drive it
/// with a `ManualClock`).
pub(crate) async fn deliver_all_due(b: &Broker) {
    for level in 1..=b.delay_levels.max_level() {
        let from = b.delay_progress.get(level).unwrap_or_else(|| b.store.min_offset(SCHEDULE_TOPIC, level - 1));
        deliver_due(b, level, from).await;
    }
}

/// Moves every due message of one level, recording the progress after each one.
async fn deliver_due(b: &Broker, level: i32, from: i64) {
    let queue_id = level - 1;
    let mut offset = from;
    // Records the level's next offset when it moved.
    let record = |offset: &mut i64, next: i64| {
        if next != *offset {
            *offset = next;
            b.delay_progress.set(level, next);
        }
    };
    loop {
        let entries = match b.store.queue_entries(SCHEDULE_TOPIC, queue_id, offset, BATCH) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "reading the schedule queue failed");
                return;
            }
        };
        if entries.is_empty() {
            return;
        }
        for (at, phys, _size, deliver_at) in entries {
            if deliver_at > b.clock.now_ms() {
                let next = offset.max(at);
                record(&mut offset, next);
                return;
            }
            match release(b, phys).await {
                Ok(()) => record(&mut offset, at + 1),
                // Retried on the next poll; order within the level is kept.
                Err(e) => {
                    tracing::warn!(error = %e, "delayed message not delivered yet");
                    return;
                }
            }
        }
    }
}

/// Puts a parked message back into its real topic and queue.
async fn release(b: &Broker, phys: i64) -> Result<(), String> {
    let Some(rec) = b.store.read_message(phys).map_err(|e| e.to_string())? else {
        tracing::warn!(offset = phys, "a delayed message was deleted by retention before it was due; dropped");
        return Ok(());
    };
    let m = decode_record(&rec, false).map_err(|e| e.to_string())?;
    // Delivered with every property it was parked with, DELAY and REAL_* included, as the
    // Java broker does (consumers see getDelayTimeLevel() and the real topic).
    let props = Properties::parse(&m.properties);
    let real = props.get(REAL_TOPIC).map(str::to_string).zip(props.get(REAL_QID).and_then(|q| q.parse::<i32>().ok()));
    let Some((topic, queue_id)) = real else {
        tracing::warn!(offset = phys, "scheduled message without its real topic; dropped");
        return Ok(());
    };
    let out = NewMessage::from_record(&m, topic, queue_id, m.reconsume_times, props);
    let traced = b.config.broker_trace_enable.then(|| out.clone());
    b.put_unparked(vec![out], true).await.map_err(|e| e.to_string())?;
    if let Some(copy) = traced {
        b.trace(crate::trace::Event::Delivered, "", &copy).await;
    }
    Ok(())
}
