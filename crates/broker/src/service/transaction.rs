//! Transactions (`crate::transaction`): a half message's send, END_TRANSACTION's commit or
//! rollback, and the check-back of undecided ones. Codes and remarks follow the Java broker's
//! `EndTransactionProcessor`, except that a second decision for the same message, which
//! Java would store again, is refused.

use bytes::BytesMut;
use protocol::codes::response as rs;
use protocol::message::{decode_record, patch_record, prop, sys_flag, MessageRecord, NewRecord, Properties};
use store::PutResult;

use crate::error::{BrokerError, BrokerResult};
use crate::push::{CheckTransaction, ClientPush};
use crate::put::{real_of, take_real, NewMessage};
use crate::transaction::{Half, CHECK_MAX_TOPIC, CHECK_TIMES, HALF_TOPIC, INTENT_TAG, OP_TAG, OP_TOPIC, TRANSACTION_ID};
use crate::Broker;

/// Half messages by queue offset.
type Due = Vec<(i64, Half)>;

/// How long a check-back may take to be handed to a producer's connection.
const CHECK_PUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// END_TRANSACTION (37), as its header says.
#[derive(Debug, Clone, PartialEq)]
pub struct EndTransaction {
    pub producer_group: String,
    /// The half message's queue offset.
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    /// `MessageSysFlag`: 0 unknown, 8 commit, 12 rollback.
    pub commit_or_rollback: i32,
    pub from_transaction_check: bool,
    pub msg_id: Option<String>,
    pub transaction_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Commit,
    Rollback,
}

impl Broker {
    /// Stores a transactional message as a half message and remembers it undecided.
    pub(crate) async fn put_half(&self, mut m: NewMessage, wait_flush: bool) -> BrokerResult<(PutResult, crate::service::send::SendStatus)> {
        if m.props.get(protocol::message_type::PRODUCER_GROUP).is_none_or(|g| g.trim().is_empty()) {
            return Err(BrokerError::illegal("a transactional message needs its producer group (PGROUP)"));
        }
        m.redirect(HALF_TOPIC, 0);
        m.sys_flag &= !sys_flag::TRANSACTION_MASK;
        // Its transaction id, set here if the producer sent none (as the put would).
        if m.props.get(prop::UNIQ_KEY).is_none() {
            m.props.set(prop::UNIQ_KEY, crate::put::next_uniq_key(self.store_host.ip(), self.clock.now_ms()));
        }
        // As Java's `parseHalfMessageInner`: the transaction id rides along as a property, and
        // stays on the committed message.
        if let Some(id) = m.props.get(prop::UNIQ_KEY).map(str::to_string) {
            m.props.set(TRANSACTION_ID, &id);
        }
        let half = Half::of_props(&m.props, self.config.transaction_time_out_ms);
        let _floor = self.transactions.journal.records.enter(self.store.max_offset(HALF_TOPIC, 0));
        let (put, timed_out) = crate::service::send::stored(self.put_unparked(vec![m], wait_flush).await)?;
        let phys = put.phys_offsets.first().copied().unwrap_or(-1);
        self.transactions.table().insert(put.first_queue_offset, half.stored(phys, put.store_timestamp));
        Ok((put, timed_out))
    }

    /// END_TRANSACTION: commits (the message is stored in its real topic and queue) or rolls
    /// back (it never is) a half message, once.
    pub async fn end_transaction(&self, e: &EndTransaction) -> BrokerResult<()> {
        let decision = match e.commit_or_rollback {
            sys_flag::TRANSACTION_COMMIT => Decision::Commit,
            sys_flag::TRANSACTION_ROLLBACK => Decision::Rollback,
            // Unknown: nothing to do; the check-back asks again later.
            _ => return Ok(()),
        };
        let offset = e.tran_state_table_offset;
        let Some(half) = self.transactions.table().begin(offset) else {
            let why = if offset >= 0 && offset < self.store.max_offset(HALF_TOPIC, 0) {
                format!("the transaction of half message {offset} is already decided")
            } else {
                "Find prepared transaction message failed".to_string()
            };
            return Err(BrokerError::system(why));
        };
        let result = self.decide(e, offset, &half, decision).await;
        if result.is_err() {
            self.transactions.table().abort(offset);
        }
        result
    }

    /// The transaction id of a gRPC producer (its group is its topic) to its half message's
    /// queue and CommitLog offsets.
    pub fn transaction_offsets(&self, producer_group: &str, transaction_id: &str) -> Option<(i64, i64)> {
        let t = self.transactions.table();
        let offset = t.offset_of(producer_group, transaction_id)?;
        Some((offset, t.pending.get(&offset)?.phys_offset))
    }

    async fn decide(&self, e: &EndTransaction, offset: i64, half: &Half, decision: Decision) -> BrokerResult<()> {
        self.decide_until(e, offset, half, decision, false).await
    }

    /// A commit that stops after storing the message, as a crash there would (tests).
    #[cfg(test)]
    pub(crate) async fn commit_then_crash(&self, e: &EndTransaction) -> BrokerResult<()> {
        let half = self.transactions.table().begin(e.tran_state_table_offset).ok_or_else(|| BrokerError::system("not undecided"))?;
        self.decide_until(e, e.tran_state_table_offset, &half, Decision::Commit, true).await
    }

    async fn decide_until(&self, e: &EndTransaction, offset: i64, half: &Half, decision: Decision, crash_after_store: bool) -> BrokerResult<()> {
        if half.producer_group != e.producer_group {
            return Err(BrokerError::system("The producer group wrong"));
        }
        if half.phys_offset != e.commit_log_offset {
            return Err(BrokerError::system("The commit log offset wrong"));
        }
        let record = self.half_record(half.phys_offset)?;
        let mut props = Properties::parse(&record.properties);
        // As Java: a producer that asked for an immunity time may not decide after it (a check
        // decides then).
        if !e.from_transaction_check && props.get(protocol::message_type::CHECK_IMMUNITY_TIME_IN_SECONDS).is_some() {
            let immunity = half.first_check_after_ms.max(self.config.transaction_time_out_ms);
            if self.clock.now_ms().saturating_sub(record.born_timestamp) > immunity {
                return Err(BrokerError::new(
                    protocol::codes::response::ILLEGAL_OPERATION,
                    "the transaction's check immunity time passed: it is decided by a check",
                ));
            }
        }
        if decision == Decision::Commit {
            // As Java's `endMessageTransaction`, the committed message keeps every property of
            // the half message (its properties are written before REAL_TOPIC and REAL_QID are
            // cleared, so those stay too; TRAN_MSG too), and how often it was checked.
            let (topic, queue_id) = real_of(&props).unwrap_or_default();
            if half.checks > 0 {
                props.set(CHECK_TIMES, half.checks.to_string());
            }
            if self.topics.get(&topic).is_none() {
                return Err(BrokerError::new(rs::TOPIC_NOT_EXIST, format!("topic[{topic}] not exist, apply first please!")));
            }
            let mut m = NewMessage::from_record(&record, topic, queue_id, record.reconsume_times, props);
            m.sys_flag = (m.sys_flag & !sys_flag::TRANSACTION_MASK) | sys_flag::TRANSACTION_COMMIT;
            m.prepared_transaction_offset = half.phys_offset;
            let traced = self.config.broker_trace_enable.then(|| m.clone());
            // The intent, the committed message and the decision, appended in this order in one
            // write and one flush: a crash keeps none, the intent, the intent and the message
            // (a restart finishes the commit), or all three.
            let floor = self.transactions.journal.ops.enter(self.store.max_offset(OP_TOPIC, 0));
            let (intent, stored, decided) = self
                .put_between(self.op_record(offset, INTENT_TAG), vec![m], (!crash_after_store).then(|| self.op_record(offset, OP_TAG)))
                .await
                .map_err(|e| BrokerError::system(format!("the decision could not be recorded: {e}")))?;
            self.transactions.table().intent(offset, intent.first_queue_offset);
            crate::service::send::stored(stored)?;
            self.metrics.decided(&half.topic, true);
            if let Some(copy) = traced {
                self.trace(crate::trace::Event::Committed { from_check: e.from_transaction_check }, &e.producer_group, &copy).await;
            }
            // Stored: whatever happens to the journal now, it must not be committed again. A
            // decision that was not journaled is left to the restart, which finds the intent
            // and the stored message.
            match decided.map(|d| d.or_else(|e| e.stored().cloned().ok_or(e))) {
                Some(Ok(op)) => {
                    self.transactions.table().decided(offset, op.first_queue_offset);
                    drop(floor);
                    self.advance_transaction_progress();
                }
                Some(Err(e)) => {
                    tracing::error!(offset, error = %e, "a commit was stored but its decision not journaled; a restart finishes it");
                    self.transactions.table().forget(offset);
                }
                None => {}
            }
            return Ok(());
        }
        self.journal_decision(offset).await?;
        self.metrics.decided(&half.topic, false);
        if self.config.broker_trace_enable {
            let (topic, queue_id) = take_real(&mut props).unwrap_or_default();
            let half = NewMessage::from_record(&record, topic, queue_id, record.reconsume_times, props);
            self.trace(crate::trace::Event::RolledBack { from_check: e.from_transaction_check }, &e.producer_group, &half).await;
        }
        Ok(())
    }

    /// Journals that a half message is decided (an op record) and forgets it.
    async fn journal_decision(&self, offset: i64) -> BrokerResult<()> {
        let op = self.journal_op(offset).await?;
        self.transactions.table().decided(offset, op);
        self.advance_transaction_progress();
        Ok(())
    }

    /// Commits found stored but not journaled as decided after a restart: journaled now.
    pub(crate) async fn finish_commits(&self, offsets: Vec<i64>) {
        for offset in offsets {
            if let Err(e) = self.journal_decision(offset).await {
                // Stored already: never committed again while running; the next restart finds it.
                tracing::warn!(offset, error = %e, "an interrupted commit could not be journaled; the next restart finishes it");
                self.transactions.table().forget(offset);
            }
        }
    }

    /// Writes the op record that decides the half message at `offset` (a rollback, a give-up,
    /// a restart finishing a commit); returns its op offset. A commit writes its own with
    /// the committed message.
    async fn journal_op(&self, offset: i64) -> BrokerResult<i64> {
        let op = self.op_record(offset, OP_TAG);
        let _floor = self.transactions.journal.ops.enter(self.store.max_offset(OP_TOPIC, 0));
        let put = self.put_internal(op).await.map_err(|e| BrokerError::system(format!("the decision could not be recorded: {e}")))?;
        Ok(put.first_queue_offset)
    }

    /// An op record (`tag`: intent or decision) about the half message at `offset`.
    fn op_record(&self, offset: i64, tag: &str) -> NewMessage {
        self.topics.ensure_system_topic(OP_TOPIC, 1);
        NewMessage::journal(OP_TOPIC, tag, offset.to_string().into(), self.store_host, self.clock.now_ms())
    }

    fn half_record(&self, phys_offset: i64) -> BrokerResult<MessageRecord> {
        let raw = self.store.read_message(phys_offset)?.ok_or_else(|| BrokerError::system("Find prepared transaction message failed"))?;
        decode_half(&raw)
    }

    /// One round of check-backs: each half message due is checked with a live producer of its
    /// group (none: it waits for one, uncounted); past `transactionCheckMax` checks it goes to
    /// the check-max topic, decided.
    pub async fn check_transactions(&self) {
        let now = self.clock.now_ms();
        let max = self.config.transaction_check_max;
        let per_round = self.config.transaction_check_max_per_round.max(1);
        let (give_up, ask): (Due, Due) = {
            let mut t = self.transactions.table();
            // Giving up decides, so it excludes a producer's decision meanwhile; asking does not.
            // The oldest are asked first; the rest wait for the next round.
            let (mut give_up, mut ask) = (Vec::new(), Vec::new());
            for (o, h) in t.pending.iter().filter(|(_, h)| h.next_check_at <= now) {
                if h.checks >= max {
                    give_up.push(*o);
                } else if ask.len() < per_round {
                    ask.push((*o, h.clone()));
                }
            }
            (give_up.into_iter().filter_map(|o| t.begin(o).map(|h| (o, h))).collect(), ask)
        };
        for (offset, half) in give_up {
            if let Err(e) = self.give_up(offset, &half).await {
                self.transactions.table().abort(offset);
                tracing::warn!(offset, error = %e, "an undecided transaction could not be moved to {CHECK_MAX_TOPIC}");
            }
        }
        for (offset, half) in ask {
            let raw = match self.store.read_message(half.phys_offset) {
                Ok(Some(raw)) => raw,
                // Its record gone (retention): nothing left to decide.
                Ok(None) => {
                    if self.transactions.table().begin(offset).is_some() {
                        tracing::warn!(offset, transaction_id = %half.transaction_id, "an undecided transaction's half message is gone (retention); dropped");
                        if self.journal_decision(offset).await.is_err() {
                            self.transactions.table().forget(offset);
                        }
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(offset, error = %e, "a transaction check failed");
                    continue;
                }
            };
            match self.check_back(offset, &half, &raw).await {
                Ok(true) => {
                    if let Some(h) = self.transactions.table().pending.get_mut(&offset) {
                        h.checks += 1;
                        h.next_check_at = now.saturating_add(self.config.transaction_check_interval_ms);
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(offset, error = %e, "a transaction check failed"),
            }
        }
    }

    /// Asks a producer of the group about the half message stored as `raw`; false when none
    /// could be asked.
    async fn check_back(&self, offset: i64, half: &Half, raw: &bytes::Bytes) -> BrokerResult<bool> {
        let Some(conn) = self.clients.producer_of_group(&half.producer_group) else {
            tracing::debug!(offset, producer_group = %half.producer_group, "a transaction check waits: no producer of its group is connected");
            return Ok(false);
        };
        let record = decode_half(raw)?;
        let mut props = Properties::parse(&record.properties);
        let (topic, queue_id) = real_of(&props).unwrap_or_default();
        // As the Java broker's check: the half message in its real topic and queue (its
        // properties, REAL_TOPIC and REAL_QID among them), the count of checks with this one,
        // and WAIT=false (Java checks with the copy it stores again for each check).
        props.set(CHECK_TIMES, (half.checks + 1).to_string());
        props.set(prop::WAIT, "false");
        let mut bytes = BytesMut::new();
        NewRecord {
            topic: &topic,
            queue_id,
            flag: record.flag,
            sys_flag: record.sys_flag,
            born_timestamp: record.born_timestamp,
            born_host: record.born_host,
            store_host: record.store_host,
            reconsume_times: record.reconsume_times,
            prepared_transaction_offset: 0,
            body: &record.body,
            properties: props.as_wire(),
        }
        .encode(&mut bytes)
        .map_err(|e| BrokerError::system(format!("the half message could not be encoded: {e}")))?;
        patch_record(&mut bytes, offset, record.physical_offset, record.store_timestamp);
        let check = CheckTransaction {
            topic,
            tran_state_table_offset: offset,
            commit_log_offset: half.phys_offset,
            transaction_id: half.transaction_id.clone(),
            offset_msg_id: record.msg_id(),
            broker_name: self.config.broker_name.clone(),
            message: bytes.freeze(),
        };
        // A producer that does not read cannot hold the checker up.
        let pushed = tokio::time::timeout(CHECK_PUSH_TIMEOUT, conn.push(ClientPush::CheckTransaction(Box::new(check))))
            .await
            .unwrap_or(Err(crate::push::PushError::Timeout(CHECK_PUSH_TIMEOUT)));
        match pushed {
            Ok(()) => Ok(true),
            // Gone meanwhile: ask another (or wait for one) next round.
            Err(e) => {
                tracing::debug!(offset, error = %e, "a transaction check could not be sent");
                Ok(false)
            }
        }
    }

    /// Past `transactionCheckMax` checks: the half message goes to the check-max topic with
    /// its check count, and is decided.
    async fn give_up(&self, offset: i64, half: &Half) -> BrokerResult<()> {
        let record = self.half_record(half.phys_offset)?;
        let mut props = Properties::parse(&record.properties);
        props.set(CHECK_TIMES, half.checks.to_string());
        self.topics.ensure_system_topic(CHECK_MAX_TOPIC, 1);
        let m = NewMessage::from_record(&record, CHECK_MAX_TOPIC.to_string(), 0, record.reconsume_times, props);
        crate::service::send::stored(self.put_unparked(vec![m], true).await)?;
        tracing::warn!(
            offset,
            transaction_id = %half.transaction_id,
            producer_group = %half.producer_group,
            checks = half.checks,
            "a transaction was never decided: moved to {CHECK_MAX_TOPIC}"
        );
        self.journal_decision(offset).await
    }
}

fn decode_half(raw: &bytes::Bytes) -> BrokerResult<MessageRecord> {
    decode_record(raw, false).map_err(|_| BrokerError::system("Find prepared transaction message failed"))
}
