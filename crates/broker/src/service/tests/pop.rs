//! POP driven directly: hand out, acknowledge, change the invisible time, revive into the
//! retry topic and the DLQ, orderly batches, the journal read back after a restart, queue
//! assignment. Time is the fixture's `ManualClock`; the reviver runs one round at a time.

use std::sync::Arc;

use protocol::codes::response as rs;
use protocol::message::{decode_records, MessageRecord, Properties};
use protocol::pop::{
    receipt_handles, AckMessageRequestHeader, BatchAck, BatchAckMessageRequestBody, ExtraInfo, PopMessageRequestHeader, QueryAssignmentRequestBody,
    SetMessageRequestModeRequestBody,
};

use super::*;
use crate::service::pop::{PopStart, Popped};

const TOPIC: &str = "PopTopic";

fn secs(s: i64) -> i64 {
    s * 1000
}
const GROUP: &str = "PG";

fn pop_header(queue_id: i32, max: i32, invisible: i64) -> PopMessageRequestHeader {
    PopMessageRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id,
        max_msg_nums: max,
        invisible_time: invisible,
        poll_time: 0,
        born_time: NOW_MS,
        init_mode: 0,
        ..Default::default()
    }
}

async fn pop_now(f: &Fixture, h: &PopMessageRequestHeader) -> Popped {
    let mut h = h.clone();
    h.born_time = store::Clock::now_ms(&*f.clock);
    match f.broker.pop(&h).await.expect("pop") {
        PopStart::Now(p) => p,
        PopStart::Park(_) => panic!("a pop with no poll time answers at once"),
    }
}

/// Each popped message with the ack header the Java client would build for it.
fn handles(p: &Popped) -> Vec<(MessageRecord, AckMessageRequestHeader)> {
    let records = decode_records(&p.body).expect("records");
    let handles = receipt_handles(&p.header, "broker-a", &records).expect("handles");
    records
        .into_iter()
        .zip(handles)
        .map(|(m, e)| {
            let ack = AckMessageRequestHeader {
                consumer_group: GROUP.into(),
                topic: e.retry.real_topic(TOPIC, GROUP),
                queue_id: e.queue_id,
                extra_info: e.encode(),
                offset: e.queue_offset.expect("offset"),
                invisible_time: None,
            };
            (m, ack)
        })
        .collect()
}

fn bodies(h: &[(MessageRecord, AckMessageRequestHeader)]) -> Vec<String> {
    h.iter().map(|(m, _)| String::from_utf8_lossy(&m.body).to_string()).collect()
}

async fn send_n(b: &Arc<Broker>, n: usize) {
    for i in 0..n {
        let body: &'static [u8] = Box::leak(format!("m{i}").into_bytes().into_boxed_slice());
        b.send(&send_request(TOPIC, &format!("UNIQ_KEY\u{1}U{i}\u{2}"), body)).await.expect("sent");
    }
}

async fn pop_broker() -> Fixture {
    let f = broker().await;
    f.broker.topics.ensure_system_topic(TOPIC, 1);
    f
}

#[tokio::test]
async fn unacknowledged_messages_come_back_through_the_retry_topic_with_their_ids() {
    let f = pop_broker().await;
    let b = &f.broker;
    send_n(b, 3).await;
    let p = pop_now(&f, &pop_header(-1, 32, 60_000)).await;
    assert_eq!(p.count, 3);
    assert_eq!((p.header.info.start.as_str(), p.header.info.msgs.as_str()), ("0 0 0", "0 0 0,1,2"));
    assert_eq!(b.query_consumer_offset(GROUP, TOPIC, 0, false), Ok(3), "the pop moves the group's offset");
    let got = handles(&p);
    assert_eq!(bodies(&got), ["m0", "m1", "m2"]);
    b.ack(&got[0].1).await.expect("ack");
    b.ack(&got[0].1).await.expect("a double ack is harmless");
    b.ack(&got[2].1).await.expect("ack");
    assert_eq!(pop_now(&f, &pop_header(-1, 32, 60_000)).await.count, 0, "in flight: invisible");
    f.clock.advance_ms(secs(59));
    assert_eq!(b.revive_due().await, 0);
    f.clock.advance_ms(secs(2));
    assert_eq!(b.revive_due().await, 1, "only the unacknowledged message");
    let again = handles(&pop_now(&f, &pop_header(-1, 32, 30_000)).await);
    assert_eq!(bodies(&again), ["m1"]);
    let (m, ack) = &again[0];
    assert_eq!(m.topic, TOPIC, "shown under the topic asked for");
    assert_eq!(m.reconsume_times, 1);
    let props = Properties::parse(&m.properties);
    assert_eq!(props.get("UNIQ_KEY"), Some("U1"), "the message id is kept");
    assert_eq!(props.get("1ST_POP_TIME"), Some(NOW_MS.to_string().as_str()));
    assert_eq!(ack.topic, "%RETRY%PG_PopTopic", "acked against the retry topic");
    b.ack(ack).await.expect("ack of the retried message");
    f.clock.advance_ms(secs(31));
    assert_eq!(b.revive_due().await, 0, "acknowledged: nothing comes back");
}

/// With `brokerTraceEnable`, a POP message's way back through the retry topic and into the
/// DLQ is in the trace topic, as for a send-back: Pub records of each copy, keyed by its id.
#[tokio::test]
async fn pop_retries_and_dead_letters_are_traced_when_asked() {
    let f = traced_broker().await;
    let b = &f.broker;
    b.topics.ensure_system_topic(TOPIC, 1);
    let mut g = b.groups.find_or_create(GROUP).expect("group");
    g.retry_max_times = 1;
    b.groups.upsert(g);
    send_n(b, 1).await;
    for _ in 0..2 {
        assert_eq!(pop_now(&f, &pop_header(-1, 32, 10_000)).await.count, 1);
        f.clock.advance_ms(secs(11));
        assert_eq!(b.revive_due().await, 1);
    }
    let fields: Vec<Vec<String>> = trace_records(b).into_iter().map(|(_, f)| f).collect();
    let seen: Vec<(&str, &str, &str, &str)> = fields.iter().map(|f| (f[0].as_str(), f[3].as_str(), f[4].as_str(), f[5].as_str())).collect();
    assert_eq!(seen, [("Pub", GROUP, "%RETRY%PG_PopTopic", "U0"), ("Pub", GROUP, "%DLQ%PG", "U0")]);
    assert!(fields.iter().all(|f| f[14] == "broker:broker-a"), "{fields:?}");
}

#[tokio::test]
async fn past_the_groups_max_retries_a_message_goes_to_the_dlq() {
    let f = pop_broker().await;
    let b = &f.broker;
    let mut g = b.groups.find_or_create(GROUP).expect("group");
    g.retry_max_times = 1;
    b.groups.upsert(g);
    send_n(b, 1).await;
    assert_eq!(pop_now(&f, &pop_header(-1, 32, 10_000)).await.count, 1);
    f.clock.advance_ms(secs(11));
    b.revive_due().await;
    let retried = handles(&pop_now(&f, &pop_header(-1, 32, 10_000)).await);
    assert_eq!(retried[0].0.reconsume_times, 1);
    f.clock.advance_ms(secs(11));
    b.revive_due().await;
    assert_eq!(pop_now(&f, &pop_header(-1, 32, 10_000)).await.count, 0);
    let dlq = b.store.get("%DLQ%PG", 0, 0, 32, &store::AcceptAll).expect("dlq");
    let in_dlq = decode_records(&dlq.messages).expect("records");
    assert_eq!(in_dlq.len(), 1);
    assert_eq!(Properties::parse(&in_dlq[0].properties).get("UNIQ_KEY"), Some("U0"));
}

#[tokio::test]
async fn an_ack_after_a_change_of_invisible_time_holds() {
    let f = pop_broker().await;
    let b = &f.broker;
    send_n(b, 1).await;
    let got = handles(&pop_now(&f, &pop_header(-1, 32, 10_000)).await);
    let old = got[0].1.clone();
    f.clock.advance_ms(secs(5));
    let mut change = old.clone();
    change.invisible_time = Some(60_000);
    let answer = b.change_invisible_time(&change).await.expect("changed");
    assert_eq!((answer.pop_time, answer.invisible_time), (NOW_MS + 5000, 60_000));
    // The Java client's new handle: the message's own offset as the checkpoint offset.
    let e = ExtraInfo::parse(&old.extra_info).expect("handle");
    let new_handle =
        ExtraInfo { ck_queue_offset: old.offset, pop_time: answer.pop_time, invisible_time: answer.invisible_time, revive_qid: answer.revive_qid, ..e };
    f.clock.advance_ms(secs(10));
    assert_eq!(b.revive_due().await, 0, "the old deadline no longer applies");
    b.ack(&old).await.expect("an ack of the old handle answers OK");
    b.ack(&AckMessageRequestHeader { extra_info: new_handle.encode(), ..old.clone() }).await.expect("ack");
    f.clock.advance_ms(secs(120));
    assert_eq!(b.revive_due().await, 0, "acknowledged with the new handle (apache/rocketmq#9583)");
    let e = b.change_invisible_time(&change).await.expect_err("no longer in flight");
    assert_eq!(e.code, rs::NO_MESSAGE);
}

#[tokio::test]
async fn bad_acks_get_the_java_codes() {
    let f = pop_broker().await;
    let b = &f.broker;
    send_n(b, 1).await;
    let got = handles(&pop_now(&f, &pop_header(-1, 32, 10_000)).await);
    let good = got[0].1.clone();
    let e = b.ack(&AckMessageRequestHeader { extra_info: "not a handle".into(), ..good.clone() }).await.expect_err("malformed");
    assert_eq!(e.code, rs::SYSTEM_ERROR);
    assert!(e.unreadable_request && e.remark.contains("extraInfo"), "{e}");
    let e = b.ack(&AckMessageRequestHeader { offset: 5, ..good.clone() }).await.expect_err("beyond the queue");
    assert_eq!(e.code, rs::NO_MESSAGE);
    let e = b.ack(&AckMessageRequestHeader { queue_id: 3, ..good.clone() }).await.expect_err("no such queue");
    assert_eq!(e.code, rs::MESSAGE_ILLEGAL);
    let e = b.ack(&AckMessageRequestHeader { topic: "Nope".into(), ..good.clone() }).await.expect_err("no such topic");
    assert_eq!(e.code, rs::TOPIC_NOT_EXIST);
    b.ack(&AckMessageRequestHeader { consumer_group: "OtherGroup".into(), ..good.clone() }).await.expect("another group's ack is harmless");
    f.clock.advance_ms(secs(11));
    assert_eq!(b.revive_due().await, 1, "another group's ack did not acknowledge it");
    b.ack(&good).await.expect("an expired handle answers OK and changes nothing");
    let mut h = pop_header(-1, 33, 10_000);
    h.born_time = store::Clock::now_ms(&*f.clock);
    assert_eq!(f.broker.pop(&h).await.err().map(|e| e.code), Some(rs::INVALID_PARAMETER));
    h.max_msg_nums = 1;
    h.invisible_time = 0;
    assert_eq!(f.broker.pop(&h).await.err().map(|e| e.code), Some(rs::INVALID_PARAMETER));
}

#[tokio::test]
async fn in_flight_messages_survive_a_restart_without_saved_offsets() {
    let (dir, b) = restartable(TOPIC).await;
    let clock = dir.clock.clone();
    send_n(&b, 4).await;
    let f = Fixture { broker: b.clone(), clock: clock.clone(), _dir: tempfile::tempdir().expect("dir") };
    let got = handles(&pop_now(&f, &pop_header(-1, 3, 10_000)).await);
    b.ack(&got[0].1).await.expect("ack");
    drop(f);
    let b = dir.crash_and_reopen(b).await;
    assert_eq!(b.query_consumer_offset(GROUP, TOPIC, 0, false), Ok(3), "the journal moved the offset");
    assert_eq!(b.pop.table().len(), 2);
    clock.advance_ms(secs(11));
    assert_eq!(b.revive_due().await, 2, "the unacknowledged two come back");
    let f = Fixture { broker: b.clone(), clock, _dir: tempfile::tempdir().expect("dir") };
    let mut all = bodies(&handles(&pop_now(&f, &pop_header(-1, 32, 10_000)).await));
    all.sort();
    assert_eq!(all, ["m1", "m2", "m3"], "the two retried and the one never popped");
}

#[tokio::test]
async fn an_orderly_queue_hands_out_nothing_new_while_its_batch_is_in_flight() {
    let f = pop_broker().await;
    let b = &f.broker;
    send_n(b, 4).await;
    let mut h = pop_header(0, 2, 10_000);
    h.order = true;
    let first = pop_now(&f, &h).await;
    assert_eq!(first.header.revive_qid, 999);
    assert_eq!(first.header.info.order_counts, "0 0 0");
    let got = handles(&first);
    assert_eq!(bodies(&got), ["m0", "m1"]);
    assert_eq!(pop_now(&f, &h).await.count, 0, "blocked");
    b.ack(&got[1].1).await.expect("ack");
    assert_eq!(pop_now(&f, &h).await.count, 0, "m0 still in flight");
    f.clock.advance_ms(secs(11));
    let again = pop_now(&f, &h).await;
    assert_eq!(bodies(&handles(&again)), ["m0", "m1"], "in order, from the first unacknowledged");
    assert_eq!(again.header.info.order_counts, "0 qo0%0 1;0 qo0%1 1;0 0 1");
    for (_, ack) in handles(&again) {
        b.ack(&ack).await.expect("ack");
    }
    assert_eq!(b.query_consumer_offset(GROUP, TOPIC, 0, false), Ok(2));
    assert_eq!(bodies(&handles(&pop_now(&f, &h).await)), ["m2", "m3"]);
    let last = handles(&pop_now(&f, &h).await);
    assert!(last.is_empty(), "blocked by m2 and m3");
    let mut outside = ExtraInfo::parse(&got[0].1.extra_info).expect("handle");
    outside.pop_time = store::Clock::now_ms(&*f.clock);
    let e = b.ack(&AckMessageRequestHeader { offset: 4, extra_info: outside.encode(), ..got[0].1.clone() }).await.expect_err("not in the batch");
    assert_eq!(e.code, rs::MESSAGE_ILLEGAL);
}

#[tokio::test]
async fn pops_beyond_the_in_flight_cap_are_refused() {
    let f = broker_with(|c| c.pop_max_inflight_messages = 2).await;
    f.broker.topics.ensure_system_topic(TOPIC, 1);
    send_n(&f.broker, 3).await;
    assert_eq!(pop_now(&f, &pop_header(-1, 2, 10_000)).await.count, 2);
    let mut h = pop_header(-1, 2, 10_000);
    h.born_time = store::Clock::now_ms(&*f.clock);
    assert_eq!(f.broker.pop(&h).await.err().map(|e| e.code), Some(rs::SYSTEM_BUSY));
    f.clock.advance_ms(secs(11));
    f.broker.revive_due().await;
    h.born_time = store::Clock::now_ms(&*f.clock);
    assert!(f.broker.pop(&h).await.is_ok(), "room again once they were revived");
}

#[tokio::test]
async fn a_batch_ack_acknowledges_by_bit_set() {
    let f = pop_broker().await;
    let b = &f.broker;
    send_n(b, 3).await;
    let p = pop_now(&f, &pop_header(-1, 32, 10_000)).await;
    let ack = BatchAck {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        retry: "0".into(),
        start_offset: 0,
        queue_id: 0,
        revive_queue_id: p.header.revive_qid,
        pop_time: p.header.pop_time,
        invisible_time: 10_000,
        bit_set: BatchAck::encode_offsets(0, &[0, 2]),
    };
    b.batch_ack(&BatchAckMessageRequestBody { broker_name: "broker-a".into(), acks: vec![ack] }).await.expect("batch ack");
    f.clock.advance_ms(secs(11));
    assert_eq!(b.revive_due().await, 1);
    let e = b.batch_ack(&BatchAckMessageRequestBody::default()).await.expect_err("empty");
    assert_eq!(e.code, rs::NO_MESSAGE);
}

#[tokio::test]
async fn a_tag_filter_skips_and_moves_past_what_it_does_not_match() {
    let f = pop_broker().await;
    let b = &f.broker;
    b.send(&send_request(TOPIC, "TAGS\u{1}a\u{2}", b"a")).await.expect("sent");
    b.send(&send_request(TOPIC, "TAGS\u{1}b\u{2}", b"b")).await.expect("sent");
    let mut h = pop_header(-1, 32, 10_000);
    h.exp = Some("b".into());
    let got = handles(&pop_now(&f, &h).await);
    assert_eq!(bodies(&got), ["b"]);
    b.send(&send_request(TOPIC, "TAGS\u{1}c\u{2}n\u{1}5\u{2}", b"c5")).await.expect("sent");
    b.send(&send_request(TOPIC, "TAGS\u{1}c\u{2}n\u{1}50\u{2}", b"c50")).await.expect("sent");
    // SQL92 over POP, without enablePropertyFilter (as the Java broker).
    h.exp_type = Some("SQL92".into());
    h.exp = Some("TAGS = 'c' AND n > 10".into());
    assert_eq!(bodies(&handles(&pop_now(&f, &h).await)), ["c50"]);
    h.exp = Some("n >".into());
    assert_eq!(b.pop(&h).await.err().map(|e| e.code), Some(rs::SUBSCRIPTION_PARSE_FAILED));
}

#[tokio::test]
async fn a_pop_group_is_assigned_every_queue_of_each_broker() {
    let f = pop_broker().await;
    let b = &f.broker;
    b.heartbeat(&consumer_heartbeat("c1", GROUP, TOPIC), info(FakeClient::new(0)));
    let q = QueryAssignmentRequestBody {
        topic: TOPIC.into(),
        consumer_group: GROUP.into(),
        client_id: "c1".into(),
        strategy_name: "AVG".into(),
        message_model: "CLUSTERING".into(),
    };
    let pull = b.query_assignment(&q).await.expect("assignment").expect("some");
    assert_eq!(pull.iter().map(|a| (a.message_queue.queue_id, a.mode.as_str())).collect::<Vec<_>>(), [(0, "PULL")]);
    let set = SetMessageRequestModeRequestBody { topic: TOPIC.into(), consumer_group: GROUP.into(), mode: "POP".into(), pop_share_queue_num: 0 };
    b.set_message_request_mode(&set).expect("set");
    let pop = b.query_assignment(&q).await.expect("assignment").expect("some");
    assert_eq!(pop.iter().map(|a| (a.message_queue.queue_id, a.mode.as_str())).collect::<Vec<_>>(), [(-1, "POP")]);
    let e = b.set_message_request_mode(&SetMessageRequestModeRequestBody { topic: "%RETRY%PG".into(), ..set.clone() }).expect_err("retry topic");
    assert_eq!(e.code, rs::NO_PERMISSION);
    let e = b.set_message_request_mode(&SetMessageRequestModeRequestBody { topic: "Nope".into(), ..set }).expect_err("no topic");
    assert_eq!(e.code, rs::TOPIC_NOT_EXIST);
    let unknown = QueryAssignmentRequestBody { strategy_name: "WHAT".into(), ..q };
    assert_eq!(b.query_assignment(&unknown).await.expect("answer"), None);
}

#[tokio::test]
async fn an_orderly_batch_in_flight_survives_a_restart() {
    let (dir, b) = restartable(TOPIC).await;
    let clock = dir.clock.clone();
    send_n(&b, 3).await;
    let f = Fixture { broker: b.clone(), clock: clock.clone(), _dir: tempfile::tempdir().expect("dir") };
    let mut h = pop_header(0, 2, 10_000);
    h.order = true;
    let got = handles(&pop_now(&f, &h).await);
    assert_eq!(bodies(&got), ["m0", "m1"]);
    b.ack(&got[0].1).await.expect("ack m0");
    drop(f);
    let b = dir.crash_and_reopen(b).await;
    let f = Fixture { broker: b.clone(), clock: clock.clone(), _dir: tempfile::tempdir().expect("dir") };
    assert_eq!(b.query_consumer_offset(GROUP, TOPIC, 0, false), Ok(1), "m0's ack moved the offset");
    assert_eq!(pop_now(&f, &h).await.count, 0, "m1 is still in flight: the queue stays blocked");
    b.ack(&got[1].1).await.expect("the old handle still acks m1");
    let next = pop_now(&f, &h).await;
    assert_eq!(bodies(&handles(&next)), ["m2"]);
    clock.advance_ms(secs(11));
    let again = pop_now(&f, &h).await;
    assert_eq!(bodies(&handles(&again)), ["m2"]);
    assert_eq!(again.header.info.order_counts, "0 qo0%2 1;0 0 1", "the second delivery is counted");
}

#[tokio::test]
async fn pop_and_pull_share_the_groups_offsets() {
    let f = pop_broker().await;
    let b = &f.broker;
    send_n(b, 5).await;
    let got = handles(&pop_now(&f, &pop_header(0, 3, 10_000)).await);
    for (_, ack) in &got {
        b.ack(ack).await.expect("ack");
    }
    // The group switched to PULL: its consumers start where the pops left off.
    assert_eq!(b.query_consumer_offset(GROUP, TOPIC, 0, false), Ok(3));
    let mut pull = PullMessageRequestHeader::for_queue(GROUP, TOPIC, 0, 3);
    pull.sys_flag |= pull_flag::COMMIT_OFFSET;
    pull.commit_offset = 4;
    let PullStart::Now(Pulled::Read(r)) = b.pull(&pull).await.expect("pull") else { panic!("answered at once") };
    assert_eq!(decode_records(&r.messages).expect("records").len(), 2);
    // And back to POP: it starts at what the pull consumer committed.
    let again = handles(&pop_now(&f, &pop_header(0, 32, 10_000)).await);
    assert_eq!(bodies(&again), ["m4"]);
}

#[tokio::test]
async fn too_many_waiting_pops_of_one_queue_get_polling_full() {
    let f = broker_with(|c| c.pop_polling_size = 1).await;
    f.broker.topics.ensure_system_topic(TOPIC, 1);
    let mut h = pop_header(-1, 32, 10_000);
    h.poll_time = 5_000;
    h.born_time = store::Clock::now_ms(&*f.clock);
    let PopStart::Park(first) = f.broker.pop(&h).await.expect("pop") else { panic!("an empty queue parks a pop that may wait") };
    match f.broker.pop(&h).await.expect("pop") {
        PopStart::Now(p) => assert!(p.polling_full && p.count == 0, "the second waiter is refused"),
        PopStart::Park(_) => panic!("only popPollingSize=1 may wait"),
    }
    drop(first);
    assert!(matches!(f.broker.pop(&h).await.expect("pop"), PopStart::Park(_)), "room again");
}

#[tokio::test]
async fn an_offset_reset_taken_by_a_pop_holds_after_a_restart() {
    let (dir, b) = restartable(TOPIC).await;
    let clock = dir.clock.clone();
    send_n(&b, 4).await;
    let f = Fixture { broker: b.clone(), clock: clock.clone(), _dir: tempfile::tempdir().expect("dir") };
    // One message stays in flight: its checkpoint holds the replay point back.
    let got = handles(&pop_now(&f, &pop_header(-1, 4, 600_000)).await);
    assert_eq!(got.len(), 4);
    assert_eq!(b.query_consumer_offset(GROUP, TOPIC, 0, false), Ok(4));
    let reset = crate::service::reset::ResetOffset { topic: TOPIC.into(), group: GROUP.into(), timestamp: 0, force: true, queue_id: None, offset: None };
    b.reset_offset(&reset).expect("reset");
    // The next pop takes the reset (and hands out from 0 again).
    assert_eq!(bodies(&handles(&pop_now(&f, &pop_header(-1, 1, 600_000)).await)), ["m0"]);
    drop(f);
    let b = dir.crash_and_reopen(b).await;
    assert_eq!(b.query_consumer_offset(GROUP, TOPIC, 0, false), Ok(1), "the first pop's checkpoint (next offset 4) does not undo the reset");
}
