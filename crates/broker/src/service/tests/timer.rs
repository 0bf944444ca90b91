//! Timer messages driven directly: held until due, delivered in due order with their
//! properties, read back after a crash (nothing lost, nothing delivered twice once journaled).

use protocol::message::decode_records;

use super::*;
use crate::timer::TIMER_TOPIC;

const TOPIC: &str = "TimerTopic";

fn timer_request(id: &str, props: &str) -> SendRequest<'static> {
    send_request(TOPIC, &format!("UNIQ_KEY\u{1}{id}\u{2}KEYS\u{1}k-{id}\u{2}{props}"), b"timer-body")
}

async fn delivered(b: &Arc<Broker>) -> Vec<String> {
    let got = pull_now(b, TOPIC, 0).await;
    decode_records(&got.messages)
        .expect("records")
        .iter()
        .map(|m| protocol::message::Properties::parse(&m.properties).get("UNIQ_KEY").unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn timer_messages_wait_for_their_time_then_arrive_in_due_order() {
    let (dir, b) = restartable(TOPIC).await;
    b.send(&timer_request("late", "TIMER_DELAY_SEC\u{1}10\u{2}")).await.expect("stored");
    b.send(&timer_request("early", "TIMER_DELAY_MS\u{1}2000\u{2}")).await.expect("stored");
    b.send(&timer_request("at", &format!("TIMER_DELIVER_MS\u{1}{}\u{2}", NOW_MS + 5_000))).await.expect("stored");
    b.send(&timer_request("past", &format!("TIMER_DELIVER_MS\u{1}{}\u{2}", NOW_MS - 5_000))).await.expect("due at once");
    assert_eq!(delivered(&b).await, ["past"], "a due time in the past delivers at once");
    assert_eq!(b.store.max_offset(TIMER_TOPIC, 0), 3);
    assert_eq!(b.deliver_due_timers().await, 0);
    dir.clock.set(NOW_MS + 5_000);
    assert_eq!(b.deliver_due_timers().await, 2);
    assert_eq!(delivered(&b).await, ["past", "early", "at"]);
    dir.clock.set(NOW_MS + 60_000);
    b.deliver_due_timers().await;
    assert_eq!(delivered(&b).await, ["past", "early", "at", "late"]);
    let got = pull_now(&b, TOPIC, 3).await;
    let m = protocol::message::decode_record(&got.messages, false).expect("record");
    let props = protocol::message::Properties::parse(&m.properties);
    // As Java's delivered copy (pinned against it by the differential harness): REAL_TOPIC
    // and REAL_QID stay, and the times it entered and left the timer are written.
    assert_eq!((props.get("KEYS"), props.get("TIMER_OUT_MS"), props.get("REAL_TOPIC")), (Some("k-late"), Some(&*(NOW_MS + 10_000).to_string()), Some(TOPIC)));
    assert_eq!(props.get("TIMER_ENQUEUE_MS"), Some(&*NOW_MS.to_string()));
    assert!(props.get("TIMER_DEQUEUE_MS").is_some());
    assert_eq!(&m.body[..], b"timer-body");
}

#[tokio::test]
async fn pending_timers_survive_a_crash_and_delivered_ones_are_not_repeated() {
    let (dir, b) = restartable(TOPIC).await;
    b.send(&timer_request("a", "TIMER_DELAY_SEC\u{1}1\u{2}")).await.expect("stored");
    b.send(&timer_request("b", "TIMER_DELAY_SEC\u{1}100\u{2}")).await.expect("stored");
    dir.clock.set(NOW_MS + 2_000);
    assert_eq!(b.deliver_due_timers().await, 1);
    let b = dir.crash_and_reopen(b).await;
    assert_eq!(b.timers.wheel().len(), 1, "b still pending, a journaled as delivered");
    dir.clock.set(NOW_MS + 200_000);
    assert_eq!(b.deliver_due_timers().await, 1);
    assert_eq!(delivered(&b).await, ["a", "b"]);
    let b = dir.crash_and_reopen(b).await;
    assert!(b.timers.wheel().is_empty());
    assert_eq!(b.deliver_due_timers().await, 0);
    assert_eq!(delivered(&b).await, ["a", "b"], "each once");
}

#[tokio::test]
async fn a_pending_timer_is_recalled_by_its_handle_once() {
    let (dir, b) = restartable(TOPIC).await;
    let sent = b.send(&timer_request("r", "TIMER_DELAY_SEC\u{1}30\u{2}")).await.expect("stored");
    let kept = b.send(&timer_request("k", "TIMER_DELAY_SEC\u{1}30\u{2}")).await.expect("stored");
    let handle = sent.recall_handle.clone().expect("a timer message has a recall handle");
    assert_eq!(b.recall("Other", &handle).await.expect_err("topic").code, rs::TOPIC_NOT_EXIST);
    b.topics.ensure_system_topic("Other", 1);
    assert_eq!(b.recall("Other", &handle).await.expect_err("topic").remark, "recall failed, topic not match");
    assert_eq!(b.recall(TOPIC, "garbage").await.expect_err("bad handle").remark, "recall handle is invalid");
    assert_eq!(b.recall(TOPIC, &handle).await.expect("recalled"), "r");
    assert!(b.recall(TOPIC, &handle).await.expect_err("again").remark.contains("not pending"));
    dir.clock.set(NOW_MS + 31_000);
    b.deliver_due_timers().await;
    assert_eq!(delivered(&b).await, ["k"], "the recalled one never arrives");
    // Delivered: too late to recall.
    let late = b.recall(TOPIC, &kept.recall_handle.expect("handle")).await.expect_err("delivered");
    assert_eq!(late.remark, "recall failed, timestamp invalid");
}

#[tokio::test]
async fn timers_delivered_out_of_offset_order_are_not_delivered_again_after_a_restart() {
    let (dir, b) = restartable(TOPIC).await;
    b.send(&timer_request("a", "TIMER_DELAY_SEC\u{1}1\u{2}")).await.expect("stored");
    b.send(&timer_request("b", "TIMER_DELAY_SEC\u{1}100\u{2}")).await.expect("stored");
    b.send(&timer_request("c", "TIMER_DELAY_SEC\u{1}2\u{2}")).await.expect("stored");
    dir.clock.set(NOW_MS + 3_000);
    assert_eq!(b.deliver_due_timers().await, 2);
    b.offsets.flush();
    // A clean restart (offsets written): c's offset is past b's, which is still pending.
    let b = dir.crash_and_reopen(b).await;
    assert_eq!(b.timers.wheel().len(), 1, "only b pending");
    dir.clock.set(NOW_MS + 200_000);
    b.deliver_due_timers().await;
    assert_eq!(delivered(&b).await, ["a", "c", "b"], "each once");
}

/// Copies `master`'s CommitLog into `replica`'s from `from` on, as replication does; returns
/// where it stopped.
async fn replicate(master: &Broker, replica: &Broker, mut from: u64) -> u64 {
    while let store::ReplicaRead::Records { bytes, next } = master.store.replica_read(from, 1 << 20).expect("read") {
        replica.store.append_replicated(from, bytes).await.expect("appended");
        from = next;
    }
    from
}

#[tokio::test]
async fn a_replica_indexes_timers_and_done_records_as_it_copies_them() {
    let (mdir, master) = restartable(TOPIC).await;
    let (_rdir, replica) = restartable(TOPIC).await;
    replica.store.set_replica(true);
    master.send(&timer_request("a", "TIMER_DELAY_SEC\u{1}1\u{2}")).await.expect("stored");
    master.send(&timer_request("b", "TIMER_DELAY_SEC\u{1}100\u{2}")).await.expect("stored");
    let at = replicate(&master, &replica, 0).await;
    // Indexed by the dispatcher as the records were appended: nothing was sent to the replica.
    let pending = |b: &Broker| b.timers.wheel().by_due.keys().map(|k| k.0 - NOW_MS).collect::<Vec<_>>();
    assert_eq!(pending(&replica), [1_000, 100_000]);
    mdir.clock.set(NOW_MS + 2_000);
    assert_eq!(master.deliver_due_timers().await, 1);
    replicate(&master, &replica, at).await;
    assert_eq!(pending(&replica), [100_000], "the master's done record took a out");
    assert_eq!((replica.timers.wheel().len(), master.timers.wheel().len()), (1, 1));
}

#[tokio::test]
async fn timer_metrics_follow_what_is_taken_in_falls_due_and_is_delivered() {
    let (dir, b) = restartable(TOPIC).await;
    let metric = |family: &str| metric(&b, family);
    b.send(&timer_request("m", "TIMER_DELAY_SEC\u{1}10\u{2}")).await.expect("stored");
    assert_eq!(metric("rocketmq_timer_enqueue_total"), Some("1".into()));
    assert_eq!((metric("rocketmq_timing_messages"), metric("rocketmq_timer_dequeue_lag")), (Some("1".into()), Some("0".into())));
    dir.clock.set(NOW_MS + 12_000);
    assert_eq!(metric("rocketmq_timer_dequeue_lag"), Some("1".into()), "due, not delivered yet");
    assert_eq!(metric("rocketmq_timer_dequeue_latency_milliseconds"), Some("2000".into()));
    assert_eq!(b.deliver_due_timers().await, 1);
    assert_eq!(metric("rocketmq_timer_dequeue_total"), Some("1".into()));
    assert_eq!((metric("rocketmq_timing_messages"), metric("rocketmq_timer_dequeue_lag")), (Some("0".into()), Some("0".into())));
}
