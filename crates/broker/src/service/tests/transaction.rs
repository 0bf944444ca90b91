//! Transactions driven directly: half messages, commit and rollback once, refusals, check-backs
//! to a producer, giving up after `transactionCheckMax`, and the state read back after a crash.

use protocol::body::ProducerData;
use protocol::message::{decode_record, sys_flag};

use super::*;
use crate::push::CheckTransaction;
use crate::service::transaction::EndTransaction;
use crate::transaction::{CHECK_MAX_TOPIC, HALF_TOPIC, OP_TOPIC};

const TOPIC: &str = "TxTopic";
const PGROUP: &str = "TxGroup";

fn half_request(id: &str) -> SendRequest<'static> {
    let mut r = send_request(TOPIC, &format!("TRAN_MSG\u{1}true\u{2}PGROUP\u{1}{PGROUP}\u{2}UNIQ_KEY\u{1}{id}\u{2}KEYS\u{1}k-{id}\u{2}"), b"tx-body");
    r.header.producer_group = PGROUP.into();
    r.header.sys_flag = sys_flag::TRANSACTION_PREPARED;
    r
}

fn end(sent: &Sent, decision: i32) -> EndTransaction {
    EndTransaction {
        producer_group: PGROUP.into(),
        tran_state_table_offset: sent.put.first_queue_offset,
        commit_log_offset: sent.put.phys_offsets[0],
        commit_or_rollback: decision,
        from_transaction_check: false,
        msg_id: None,
        transaction_id: None,
    }
}

use super::super::send::Sent;

#[tokio::test]
async fn a_half_message_is_invisible_until_committed_and_is_committed_once() {
    let (_dir, b) = restartable(TOPIC).await;
    let sent = b.send(&half_request("T1")).await.expect("stored as a half message");
    assert_eq!(b.store.max_offset(TOPIC, 0), 0, "nothing in the real topic yet");
    assert_eq!(b.store.max_offset(HALF_TOPIC, 0), 1);
    b.end_transaction(&end(&sent, sys_flag::TRANSACTION_COMMIT)).await.expect("committed");
    assert_eq!(b.store.max_offset(TOPIC, 0), 1);
    let got = pull_now(&b, TOPIC, 0).await;
    let m = decode_record(&got.messages, false).expect("record");
    let props = protocol::message::Properties::parse(&m.properties);
    // As Java's committed message (pinned against it by the differential harness): every
    // property of the half message stays, TRAN_MSG and REAL_TOPIC among them, and the
    // transaction id is one.
    assert_eq!(
        (props.get("UNIQ_KEY"), props.get("KEYS"), props.get("TRAN_MSG"), props.get("REAL_TOPIC"), props.get("__transactionId__")),
        (Some("T1"), Some("k-T1"), Some("true"), Some(TOPIC), Some("T1"))
    );
    assert_eq!(m.sys_flag & sys_flag::TRANSACTION_MASK, sys_flag::TRANSACTION_COMMIT);
    assert_eq!(m.prepared_transaction_offset, sent.put.phys_offsets[0], "the half message it came from, as Java");
    assert_eq!(&m.body[..], b"tx-body");
    // A second decision is refused and changes nothing.
    let again = b.end_transaction(&end(&sent, sys_flag::TRANSACTION_COMMIT)).await.expect_err("decided already");
    assert!(again.remark.contains("already decided"), "{again:?}");
    assert_eq!(b.store.max_offset(TOPIC, 0), 1);
    assert_eq!(b.store.max_offset(OP_TOPIC, 0), 2, "one commit journaled: its intent, then its decision");
}

#[tokio::test]
async fn a_transactional_message_with_a_delivery_time_or_without_its_group_is_refused() {
    let (_dir, b) = restartable(TOPIC).await;
    let mut timed = half_request("T9");
    timed.header.properties = format!("{}TIMER_DELAY_SEC\u{1}10\u{2}", timed.header.properties).into();
    let refused = b.send(&timed).await.expect_err("a half message cannot wait for a time");
    assert!(refused.remark.contains("delivery time"), "{refused:?}");
    let anonymous = send_request(TOPIC, "TRAN_MSG\u{1}true\u{2}UNIQ_KEY\u{1}T10\u{2}", b"tx-body");
    let refused = b.send(&anonymous).await.expect_err("a half message needs its group");
    assert!(refused.remark.contains("PGROUP"), "{refused:?}");
    assert_eq!(b.store.max_offset(HALF_TOPIC, 0) + b.store.max_offset(TOPIC, 0), 0, "nothing stored");
}

#[tokio::test]
async fn rollback_and_bad_decisions() {
    let (_dir, b) = restartable(TOPIC).await;
    let sent = b.send(&half_request("T2")).await.expect("half");
    let mut wrong = end(&sent, sys_flag::TRANSACTION_COMMIT);
    wrong.producer_group = "Other".into();
    assert_eq!(b.end_transaction(&wrong).await.expect_err("another group").remark, "The producer group wrong");
    let mut wrong = end(&sent, sys_flag::TRANSACTION_COMMIT);
    wrong.commit_log_offset += 1;
    assert_eq!(b.end_transaction(&wrong).await.expect_err("wrong offset").remark, "The commit log offset wrong");
    let mut unknown = end(&sent, sys_flag::TRANSACTION_COMMIT);
    unknown.tran_state_table_offset = 99;
    assert_eq!(b.end_transaction(&unknown).await.expect_err("unknown").remark, "Find prepared transaction message failed");
    // Unknown (0) decides nothing.
    b.end_transaction(&end(&sent, 0)).await.expect("nothing to do");
    b.end_transaction(&end(&sent, sys_flag::TRANSACTION_ROLLBACK)).await.expect("rolled back");
    assert_eq!(b.store.max_offset(TOPIC, 0), 0, "a rolled-back message is never stored in its topic");
    assert!(b.end_transaction(&end(&sent, sys_flag::TRANSACTION_COMMIT)).await.is_err(), "no commit after a rollback");
    assert_eq!(b.store.max_offset(TOPIC, 0), 0);
    // Batches cannot be transactional.
    let mut batch = half_request("T3");
    batch.batch = true;
    assert!(b.send(&batch).await.is_err());
}

#[tokio::test]
async fn undecided_transactions_are_checked_with_a_producer_then_given_up() {
    let (dir, b) = restartable(TOPIC).await;
    let sent = b.send(&half_request("T4")).await.expect("half");
    let runtime = b.runtime_info();
    assert_eq!((runtime["transactionUndecidedCount"].as_str(), runtime["transactionUndecidedTopics"].as_str()), ("1", "TxTopic:1:0"));
    let producer = FakeClient::new(0);
    let hb = HeartbeatData { client_id: "p1".into(), producer_data_set: vec![ProducerData { group_name: PGROUP.into() }], ..Default::default() };
    // Not due before transactionTimeOut (6 s).
    b.check_transactions().await;
    assert!(producer.pushes().is_empty());
    // Due, but no producer of the group is connected: waits, uncounted.
    dir.clock.set(NOW_MS + 7_000);
    b.check_transactions().await;
    b.heartbeat(&hb, info(producer.clone()));
    b.check_transactions().await;
    let pushes = producer.pushes();
    assert_eq!(pushes.len(), 1);
    let ClientPush::CheckTransaction(c) = &pushes[0] else { panic!("a check: {pushes:?}") };
    let CheckTransaction { topic, tran_state_table_offset, commit_log_offset, transaction_id, message, .. } = &**c;
    assert_eq!((topic.as_str(), *tran_state_table_offset, *commit_log_offset, transaction_id.as_str()), (TOPIC, 0, sent.put.phys_offsets[0], "T4"));
    let m = decode_record(message, false).expect("the message as sent");
    assert_eq!((m.topic.as_str(), m.queue_offset, m.physical_offset), (TOPIC, 0, sent.put.phys_offsets[0]));
    // Not again before transactionCheckInterval (30 s); then up to transactionCheckMax (15).
    b.check_transactions().await;
    assert_eq!(producer.pushes().len(), 1);
    for i in 1..=15 {
        dir.clock.set(NOW_MS + 7_000 + i * 30_000);
        b.check_transactions().await;
    }
    assert_eq!(producer.pushes().len(), 15);
    assert_eq!(b.store.max_offset(CHECK_MAX_TOPIC, 0), 1, "given up after 15 checks");
    assert!(b.end_transaction(&end(&sent, sys_flag::TRANSACTION_COMMIT)).await.is_err(), "decided: no commit after");
    assert_eq!(b.store.max_offset(TOPIC, 0), 0);
}

#[tokio::test]
async fn undecided_and_decided_transactions_survive_a_crash() {
    let (dir, b) = restartable(TOPIC).await;
    let committed = b.send(&half_request("A")).await.expect("half");
    let open = b.send(&half_request("B")).await.expect("half");
    let rolled_back = b.send(&half_request("C")).await.expect("half");
    b.end_transaction(&end(&committed, sys_flag::TRANSACTION_COMMIT)).await.expect("commit");
    b.end_transaction(&end(&rolled_back, sys_flag::TRANSACTION_ROLLBACK)).await.expect("rollback");
    let b = dir.crash_and_reopen(b).await;
    // Only B is undecided: the others stay decided, B can be committed now.
    assert!(b.end_transaction(&end(&committed, sys_flag::TRANSACTION_COMMIT)).await.is_err());
    assert!(b.end_transaction(&end(&rolled_back, sys_flag::TRANSACTION_COMMIT)).await.is_err());
    b.end_transaction(&end(&open, sys_flag::TRANSACTION_COMMIT)).await.expect("B commits after the restart");
    assert_eq!(b.store.max_offset(TOPIC, 0), 2);
    // Once every transaction is decided, the progress moves past them all.
    b.offsets.flush();
    assert_eq!(b.offsets.query(crate::transaction::SYS_GROUP, HALF_TOPIC, 0), Some(3));
    // Ops: A's intent and decision, C's decision, B's intent and decision.
    assert_eq!(b.offsets.query(crate::transaction::SYS_GROUP, OP_TOPIC, 0), Some(5));
    let b = dir.crash_and_reopen(b).await;
    assert!(b.transactions.table().pending.is_empty());
}

#[tokio::test]
async fn a_producer_may_not_decide_after_the_immunity_time_it_asked_for() {
    let (dir, b) = restartable(TOPIC).await;
    let late = b.send(&half_request("L")).await.expect("half");
    let mut immune = half_request("I");
    immune.header.properties = format!("{}CHECK_IMMUNITY_TIME_IN_SECONDS\u{1}10\u{2}", immune.header.properties).into();
    let immune = b.send(&immune).await.expect("half");
    dir.clock.set(NOW_MS + 11_000);
    // Without an immunity time a late decision is fine.
    b.end_transaction(&end(&late, sys_flag::TRANSACTION_COMMIT)).await.expect("late but allowed");
    let refused = b.end_transaction(&end(&immune, sys_flag::TRANSACTION_COMMIT)).await.expect_err("past its immunity time");
    assert_eq!(refused.code, 604);
    let mut from_check = end(&immune, sys_flag::TRANSACTION_COMMIT);
    from_check.from_transaction_check = true;
    b.end_transaction(&from_check).await.expect("a check's answer decides");
    assert_eq!(b.store.max_offset(TOPIC, 0), 2);
}

#[tokio::test]
async fn a_commit_interrupted_after_storing_its_message_is_finished_not_repeated() {
    let (dir, b) = restartable(TOPIC).await;
    let sent = b.send(&half_request("X")).await.expect("half");
    let unstored = b.send(&half_request("Y")).await.expect("half");
    b.commit_then_crash(&end(&sent, sys_flag::TRANSACTION_COMMIT)).await.expect("stored, decision never journaled");
    assert_eq!(b.store.max_offset(TOPIC, 0), 1);
    let b = dir.crash_and_reopen(b).await;
    // X: its intent and its stored message are found: decided, not stored again.
    assert!(b.end_transaction(&end(&sent, sys_flag::TRANSACTION_COMMIT)).await.is_err(), "finished at the restart");
    assert!(b.transactions.table().pending.keys().all(|o| *o != sent.put.first_queue_offset));
    // Y was never committed: still undecided.
    b.end_transaction(&end(&unstored, sys_flag::TRANSACTION_COMMIT)).await.expect("Y commits");
    assert_eq!(b.store.max_offset(TOPIC, 0), 2, "X once, Y once");
}

#[tokio::test]
async fn check_backs_are_capped_per_round_oldest_first() {
    let f = broker_with(|c| c.transaction_check_max_per_round = 2).await;
    let b = &f.broker;
    b.topics.ensure_system_topic(TOPIC, 1);
    for i in 0..5 {
        b.send(&half_request(&format!("C{i}"))).await.expect("half");
    }
    let producer = FakeClient::new(0);
    let hb = HeartbeatData { client_id: "p1".into(), producer_data_set: vec![ProducerData { group_name: PGROUP.into() }], ..Default::default() };
    b.heartbeat(&hb, info(producer.clone()));
    f.clock.set(NOW_MS + 7_000);
    b.check_transactions().await;
    let offsets = |pushes: &[ClientPush]| -> Vec<i64> {
        pushes.iter().map(|p| if let ClientPush::CheckTransaction(c) = p { c.tran_state_table_offset } else { -1 }).collect()
    };
    assert_eq!(offsets(&producer.pushes()), [0, 1], "two per round, the oldest");
    b.check_transactions().await;
    assert_eq!(offsets(&producer.pushes()), [0, 1, 2, 3]);
}

/// With `brokerTraceEnable`, a commit and a rollback are each an `EndTransaction` record in the
/// trace topic, in the Java client's format, keyed by the message's id.
#[tokio::test]
async fn transaction_ends_are_traced_when_asked() {
    let f = traced_broker().await;
    let b = &f.broker;
    b.topics.ensure_system_topic(TOPIC, 1);
    let committed = b.send(&half_request("TC")).await.expect("half");
    b.end_transaction(&end(&committed, sys_flag::TRANSACTION_COMMIT)).await.expect("committed");
    let rolled = b.send(&half_request("TR")).await.expect("half");
    b.end_transaction(&end(&rolled, sys_flag::TRANSACTION_ROLLBACK)).await.expect("rolled back");
    let records = trace_records(b);
    assert_eq!(records.len(), 2, "{records:?}");
    let (c, r) = (&records[0].1, &records[1].1);
    assert_eq!((c[0].as_str(), c[3].as_str(), c[4].as_str(), c[5].as_str(), c[11].as_str()), ("EndTransaction", PGROUP, TOPIC, "TC", "COMMIT_MESSAGE"));
    assert_eq!((r[5].as_str(), r[11].as_str(), r[12].as_str()), ("TR", "ROLLBACK_MESSAGE", "false"));
    let keys: Vec<String> = records.iter().map(|(m, _)| Properties::parse(&m.properties).get("KEYS").unwrap_or("").to_string()).collect();
    assert_eq!(keys, ["TC", "TR"], "found by the message's id");
}

#[tokio::test]
async fn transaction_metrics_count_decisions_and_undecided_halves() {
    let (_dir, b) = restartable(TOPIC).await;
    let first = b.send(&half_request("M1")).await.expect("half");
    let second = b.send(&half_request("M2")).await.expect("half");
    assert_eq!(metric(&b, "rocketmq_half_messages"), Some("2".into()));
    assert_eq!(metric(&b, "rocketmq_commit_messages_total"), None);
    b.end_transaction(&end(&first, sys_flag::TRANSACTION_COMMIT)).await.expect("committed");
    b.end_transaction(&end(&second, sys_flag::TRANSACTION_ROLLBACK)).await.expect("rolled back");
    assert_eq!(metric(&b, "rocketmq_commit_messages_total"), Some("1".into()));
    assert_eq!(metric(&b, "rocketmq_rollback_messages_total"), Some("1".into()));
    assert_eq!(metric(&b, "rocketmq_half_messages"), None, "none undecided");
    assert!(b.metrics_text().contains(&format!("topic=\"{TOPIC}\"")));
}
