//! Transactional messages: half messages, decisions, check-backs.
//!
//! A send with `TRAN_MSG=true` is stored as a *half message* in `RMQ_SYS_TRANS_HALF_TOPIC`
//! (queue 0), its real topic and queue kept in `REAL_TOPIC`/`REAL_QID`, as the Java broker
//! stores it: no consumer reads that topic. Each decision (commit, rollback, or giving up after
//! `transactionCheckMax` checks) is journaled as an *op* record in
//! `RMQ_SYS_TRANS_OP_HALF_TOPIC` (queue 0) whose body is the half message's queue offset; a
//! commit first stores the message in its real topic and queue, then the op.
//!
//! In memory: the undecided half messages by queue offset (and by producer group and
//! transaction id, for gRPC producers, which decide by id). Two progress offsets, kept as the
//! consumer offsets of `CID_SYS_RMQ_TRANS` on the two topics, bound what a restart re-reads:
//! every half message below the half progress is decided, and every op below the op progress
//! names a half message below the half progress. A restart reads the half queue from its
//! progress (each message undecided), then the op queue from its progress (each op decides
//! one); the offsets are flushed with the other consumer offsets, and reading more than needed
//! changes nothing.
//!
//! A commit journals its intent (an op tagged `c`) before it stores the message, and the
//! decision (`d`) after. A restart that finds an intent without its decision looks the message
//! up by its UNIQ_KEY in the real topic's key index, after the intent: found, the commit is
//! finished (decided); not found, the message is undecided and checked back. So a commit is
//! never stored twice, even when the broker dies between storing it and journaling it (the Java
//! broker stores it again when its producer answers the next check). Check counts start over
//! after a restart (docs/guarantees.md §2).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use protocol::message::{decode_record, prop, sys_flag, MessageRecord, Properties};

use protocol::message_type::{CHECK_IMMUNITY_TIME_IN_SECONDS, PRODUCER_GROUP};

use crate::journal::{Journal, Settled};
use crate::Broker;

pub const HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const OP_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Where a half message goes when its producer never decided (the Java 5.3 broker's topic).
pub const CHECK_MAX_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// The group whose offsets are the progress of the two topics (the Java broker's).
pub const SYS_GROUP: &str = "CID_SYS_RMQ_TRANS";
/// A half message's tag in the op topic: decided ("d", as Java's `REMOVE_TAG`).
pub const OP_TAG: &str = "d";
/// An op record written before a commit stores its message ("c", ours): after a crash, a
/// commit intent with no decision after it is finished if the message was stored.
pub const INTENT_TAG: &str = "c";
/// `TRANSACTION_CHECK_TIMES`: how often a half message was checked (on a check-back, a
/// message committed after checks, and what goes to the check-max topic).
pub const CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// `__transactionId__`: the half message's UNIQ_KEY, set when it is stored (Java's).
pub const TRANSACTION_ID: &str = "__transactionId__";

/// An undecided half message.
#[derive(Debug, Clone, PartialEq)]
pub struct Half {
    /// Its real topic.
    pub topic: String,
    pub phys_offset: i64,
    pub producer_group: String,
    /// The UNIQ_KEY: the transaction id producers know.
    pub transaction_id: String,
    pub store_timestamp: i64,
    /// The first check is due this long after it was stored (`transactionTimeOut`, or the
    /// message's `CHECK_IMMUNITY_TIME_IN_SECONDS`).
    pub first_check_after_ms: i64,
    pub checks: u32,
    /// When it may be checked (again).
    pub next_check_at: i64,
}

impl Half {
    pub fn of_record(m: &MessageRecord, timeout_ms: i64) -> Half {
        Half::of_props(&Properties::parse(&m.properties), timeout_ms).stored(m.physical_offset, m.store_timestamp)
    }

    /// A half message from the properties it is stored with; where and when come with
    /// [`Half::stored`].
    pub fn of_props(props: &Properties, timeout_ms: i64) -> Half {
        let immunity = props.get(CHECK_IMMUNITY_TIME_IN_SECONDS).and_then(|v| v.trim().parse::<i64>().ok()).filter(|s| *s > 0).map(|s| s.saturating_mul(1000));
        Half {
            topic: props.get(crate::put::REAL_TOPIC).unwrap_or("").to_string(),
            phys_offset: -1,
            producer_group: props.get(PRODUCER_GROUP).unwrap_or("").to_string(),
            transaction_id: props.get(protocol::message::prop::UNIQ_KEY).unwrap_or("").to_string(),
            store_timestamp: 0,
            first_check_after_ms: immunity.unwrap_or(timeout_ms),
            checks: 0,
            next_check_at: 0,
        }
    }

    /// Where and when it was stored: its first check falls due from then.
    pub fn stored(mut self, phys_offset: i64, store_timestamp: i64) -> Half {
        self.phys_offset = phys_offset;
        self.store_timestamp = store_timestamp;
        self.next_check_at = store_timestamp.saturating_add(self.first_check_after_ms);
        self
    }
}

#[derive(Default)]
pub struct Table {
    /// Undecided half messages by their queue offset.
    pub pending: BTreeMap<i64, Half>,
    /// (producer group, transaction id) → queue offset.
    by_id: HashMap<(String, String), i64>,
    /// Ops at or past the op progress: op offset → the half offset it decided.
    ops: Settled,
    /// Half messages whose decision is being made: not checked, not decided twice.
    deciding: std::collections::HashSet<i64>,
}

impl Table {
    pub fn insert(&mut self, offset: i64, half: Half) {
        self.by_id.insert((half.producer_group.clone(), half.transaction_id.clone()), offset);
        self.pending.insert(offset, half);
    }

    /// Takes a half message out to decide it; `None` if it is not undecided (or already being
    /// decided).
    pub fn begin(&mut self, offset: i64) -> Option<Half> {
        if self.deciding.contains(&offset) {
            return None;
        }
        let h = self.pending.get(&offset).cloned()?;
        self.deciding.insert(offset);
        Some(h)
    }

    /// The decision failed: the half message is undecided again.
    pub fn abort(&mut self, offset: i64) {
        self.deciding.remove(&offset);
    }

    /// An op that decides nothing yet (a commit's intent): it holds the op progress back.
    pub fn intent(&mut self, half_offset: i64, op_offset: i64) {
        self.ops.insert(op_offset, half_offset);
    }

    /// Decided, but not journaled (the restart finishes it): never checked or decided again
    /// while running.
    pub fn forget(&mut self, offset: i64) {
        self.deciding.remove(&offset);
        if let Some(h) = self.pending.remove(&offset) {
            // A resend of the same message (same UNIQ_KEY) may have taken the id since.
            let key = (h.producer_group, h.transaction_id);
            if self.by_id.get(&key) == Some(&offset) {
                self.by_id.remove(&key);
            }
        }
    }

    /// The decision is journaled (op at `op_offset`).
    pub fn decided(&mut self, offset: i64, op_offset: i64) {
        self.forget(offset);
        self.ops.insert(op_offset, offset);
    }

    pub fn offset_of(&self, producer_group: &str, transaction_id: &str) -> Option<i64> {
        self.by_id.get(&(producer_group.to_string(), transaction_id.to_string())).copied()
    }

    /// The progress offsets after what is decided: the oldest undecided half (never past
    /// `half_end`) and the first op naming a half at or past it (or `op_end`).
    pub fn progress(&mut self, half_end: i64, op_end: i64) -> (i64, i64) {
        self.ops.progress(self.pending.keys().next().copied(), half_end, op_end)
    }
}

/// The transactions' state.
#[derive(Default)]
pub struct TransactionState {
    table: Mutex<Table>,
    /// Half messages and op records being written; the progress updates' order.
    pub(crate) journal: Journal,
}

impl TransactionState {
    pub fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Broker {
    /// Reads the undecided half messages back at start (module docs). Returns the commits that
    /// were stored but not journaled as decided, to finish.
    pub(crate) fn replay_transactions(&self) -> Result<Vec<i64>, store::StoreError> {
        for topic in [HALF_TOPIC, OP_TOPIC, CHECK_MAX_TOPIC] {
            self.topics.ensure_system_topic(topic, 1);
        }
        let timeout = self.config.transaction_time_out_ms;
        let half_start = self.offsets.query(SYS_GROUP, HALF_TOPIC, 0).unwrap_or(0).max(self.store.min_offset(HALF_TOPIC, 0));
        let mut table = self.transactions.table();
        self.each_record(HALF_TOPIC, half_start, |m| {
            table.insert(m.queue_offset, Half::of_record(m, timeout));
        })?;
        let op_start = self.offsets.query(SYS_GROUP, OP_TOPIC, 0).unwrap_or(0).max(self.store.min_offset(OP_TOPIC, 0));
        let (mut ops, mut bad) = (0u64, 0u64);
        // Commit intents not (yet) followed by their decision: half offset → the intent's
        // CommitLog offset.
        let mut intents: BTreeMap<i64, i64> = BTreeMap::new();
        self.each_record(OP_TOPIC, op_start, |m| match std::str::from_utf8(&m.body).ok().and_then(|b| b.trim().parse::<i64>().ok()) {
            Some(half) if Properties::parse(&m.properties).get(prop::TAGS) == Some(INTENT_TAG) => {
                intents.insert(half, m.physical_offset);
                table.intent(half, m.queue_offset);
            }
            Some(half) => {
                ops += 1;
                intents.remove(&half);
                table.decided(half, m.queue_offset);
            }
            None => bad += 1,
        })?;
        let interrupted: Vec<(i64, i64, i64)> =
            intents.into_iter().filter_map(|(half, intent_at)| table.pending.get(&half).map(|h| (half, h.phys_offset, intent_at))).collect();
        let pending = table.pending.len();
        drop(table);
        let mut finished = Vec::new();
        for (half, phys, intent_at) in interrupted {
            if self.commit_stored_after(phys, intent_at)? {
                finished.push(half);
            }
        }
        if pending > 0 || ops > 0 || bad > 0 {
            tracing::info!(undecided = pending, decisions = ops, unreadable = bad, interrupted_commits = finished.len(), "transactions read back");
        }
        self.advance_transaction_progress();
        Ok(finished)
    }

    /// Whether the committed copy of the half message at `half_phys` was stored after the
    /// commit's intent (at `intent_at`): its real topic's key index names a record with its
    /// UNIQ_KEY, COMMIT flag, past the intent.
    fn commit_stored_after(&self, half_phys: i64, intent_at: i64) -> Result<bool, store::StoreError> {
        let Some(raw) = self.store.read_message(half_phys)? else { return Ok(false) };
        let Ok(half) = decode_record(&raw, false) else { return Ok(false) };
        let props = Properties::parse(&half.properties);
        let (Some(topic), Some(uniq)) = (props.get(crate::put::REAL_TOPIC), props.get(prop::UNIQ_KEY)) else { return Ok(false) };
        for rec in self.store.query_by_key(topic, uniq, 32, half.store_timestamp, i64::MAX)? {
            if let Ok(m) = decode_record(&rec, false) {
                if m.physical_offset > intent_at && m.sys_flag & sys_flag::TRANSACTION_MASK == sys_flag::TRANSACTION_COMMIT {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Moves the progress offsets past what is decided.
    pub(crate) fn advance_transaction_progress(&self) {
        self.advance_journal(&self.transactions.journal, SYS_GROUP, [HALF_TOPIC, OP_TOPIC], |half_end, op_end| {
            self.transactions.table().progress(half_end, op_end)
        });
    }
}

/// Checks back undecided half messages every `transactionCheckInterval` (and sooner when one
/// falls due) until the broker stops.
pub async fn run_checker(broker: Arc<Broker>) {
    let tick = Duration::from_millis(broker.config.transaction_check_interval_ms.clamp(100, 1_000) as u64);
    loop {
        tokio::time::sleep(tick).await;
        broker.check_transactions().await;
    }
}
