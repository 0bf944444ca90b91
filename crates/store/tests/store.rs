use protocol::message::{decode_records, tags_code, Properties};
use std::time::Duration;

mod common;

use common::record;
use store::{AcceptAll, BoundaryType, FlushMode, GetStatus, MessageFilter, PutError, PutMessage, Store, StoreConfig};

fn config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commit_log_file_bytes = 4096;
    c.consume_queue_file_entries = 8;
    // Usage against a fixed capacity, not the host's disk (which may be nearly full).
    c.disk_capacity_bytes = Some(1 << 40);
    c
}

async fn put(store: &Store, topic: &str, queue_id: i32, i: usize) -> i64 {
    let body = format!("message-{i}-{}", "x".repeat(i % 50));
    let r = store
        .put(PutMessage {
            topic: topic.into(),
            queue_id,
            records: vec![record(topic, queue_id, body.as_bytes(), if i.is_multiple_of(2) { "even" } else { "odd" }, &format!("k{i}"))],
            wait_flush: true,
        })
        .await
        .unwrap();
    r.first_queue_offset
}

fn bodies(store: &Store, topic: &str, queue_id: i32, from: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let r = store.get(topic, queue_id, offset, 32, &|_| true).unwrap();
        if r.status != GetStatus::Found {
            return out;
        }
        for m in decode_records(&r.messages).unwrap() {
            out.push(String::from_utf8(m.body.to_vec()).unwrap());
        }
        offset = r.next_begin_offset;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn put_get_across_segments_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    for i in 0..200 {
        assert_eq!(put(&store, "T", (i % 2) as i32, i).await, (i / 2) as i64);
    }
    let expected: Vec<String> = (0..200).filter(|i| i % 2 == 0).map(|i| format!("message-{i}-{}", "x".repeat(i % 50))).collect();
    assert_eq!(bodies(&store, "T", 0, 0), expected);
    assert!(std::fs::read_dir(dir.path().join("commitlog")).unwrap().count() > 3, "rolled over several segments");
    let found = store.query_by_key("T", "k10", 10, 0, i64::MAX).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(store.query_by_key("T", "U-k10", 10, 0, i64::MAX).unwrap().len(), 1);
    store.shutdown().await;
    drop(store);

    let store = Store::open(config(dir.path())).unwrap();
    assert_eq!(store.max_offset("T", 0), 100);
    assert_eq!(bodies(&store, "T", 0, 0), expected);
    assert_eq!(put(&store, "T", 0, 1000).await, 100);
    assert_eq!(store.query_by_key("T", "k11", 10, 0, i64::MAX).unwrap().len(), 1, "index rebuilt after restart");
    store.shutdown().await;
}

/// One queue written alone lies back to back in the CommitLog, so a pull reads runs of
/// records at once; runs end at a segment's end and where the filter skips a record.
#[tokio::test(flavor = "multi_thread")]
async fn runs_of_adjacent_records_read_whole_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    for i in 0..120 {
        put(&store, "Solo", 0, i).await;
    }
    let expected: Vec<String> = (0..120).map(|i| format!("message-{i}-{}", "x".repeat(i % 50))).collect();
    assert_eq!(bodies(&store, "Solo", 0, 0), expected);
    let odd = tags_code(Some("odd"));
    let (mut offset, mut got) = (0, Vec::new());
    loop {
        let r = store.get("Solo", 0, offset, 32, &|t| t == odd).unwrap();
        if r.status == GetStatus::OffsetOverflowOne {
            break;
        }
        got.extend(decode_records(&r.messages).unwrap().into_iter().map(|m| String::from_utf8(m.body.to_vec()).unwrap()));
        offset = r.next_begin_offset;
    }
    let expected_odd: Vec<String> = expected.iter().enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, b)| b.clone()).collect();
    assert_eq!(got, expected_odd);
    // What was just written is in the page cache: the cache-only read answers, identically.
    let cached = store.get_cached("Solo", 0, 3, 32, &|_| true).unwrap().expect("just written, so cached");
    let read = store.get("Solo", 0, 3, 32, &|_| true).unwrap();
    assert_eq!((cached.messages, cached.next_begin_offset, cached.message_count), (read.messages, read.next_begin_offset, read.message_count));
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn statuses_follow_rocketmq() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    assert_eq!(store.get("T", 0, 0, 32, &|_| true).unwrap().status, GetStatus::NoMatchedLogicQueue);
    for i in 0..4 {
        put(&store, "T", 0, i).await;
    }
    let r = store.get("T", 0, 4, 32, &|_| true).unwrap();
    assert_eq!((r.status, r.next_begin_offset), (GetStatus::OffsetOverflowOne, 4));
    let r = store.get("T", 0, 9, 32, &|_| true).unwrap();
    assert_eq!((r.status, r.next_begin_offset), (GetStatus::OffsetOverflowBadly, 4));
    let odd = tags_code(Some("odd"));
    let r = store.get("T", 0, 0, 32, &|code| code == odd).unwrap();
    assert_eq!(r.message_count, 2);
    assert_eq!(r.next_begin_offset, 4);
    let r = store.get("T", 0, 0, 32, &|code| code == 12345).unwrap();
    assert_eq!((r.status, r.next_begin_offset), (GetStatus::NoMatchedMessage, 4));
    assert_eq!(store.offset_by_time("T", 0, 0, BoundaryType::Lower).unwrap(), 0);
    assert_eq!(store.offset_by_time("T", 0, i64::MAX, BoundaryType::Lower).unwrap(), 4);
    assert_eq!(store.offset_by_time("T", 0, 0, BoundaryType::Upper).unwrap(), 0);
    assert_eq!(store.offset_by_time("T", 0, i64::MAX, BoundaryType::Upper).unwrap(), 3, "the last one, not one past");
    store.shutdown().await;
}

/// Keeps "even" tags whose KEYS are not in `rejected`, and counts the properties it is shown.
struct EvenWithout {
    rejected: Vec<&'static str>,
    asked: std::cell::Cell<usize>,
}

impl MessageFilter for EvenWithout {
    fn matches_tag_code(&self, tags_code: i64) -> bool {
        tags_code == tags_code_of("even")
    }

    fn needs_properties(&self) -> bool {
        true
    }

    fn matches_properties(&self, properties: &str) -> bool {
        let properties = Properties::parse(properties);
        self.asked.set(self.asked.get() + 1);
        let rejected = properties.keys().any(|k| self.rejected.contains(&k));
        !rejected
    }
}

fn tags_code_of(tag: &str) -> i64 {
    tags_code(Some(tag))
}

fn keys_of(messages: &bytes::Bytes) -> Vec<String> {
    decode_records(messages).unwrap().iter().map(|m| Properties::parse(&m.properties).get("KEYS").unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_on_properties_leaves_out_what_it_rejects_and_the_offset_moves_past_it() {
    let dir = tempfile::tempdir().unwrap();
    // A scan budget of one consume-queue file (8 entries here; a read stays within one file).
    let store = Store::open(StoreConfig { max_filter_scan_entries: 8, ..config(dir.path()) }).unwrap();
    for i in 0..10 {
        put(&store, "T", 0, i).await;
    }
    let filter = EvenWithout { rejected: vec!["k2", "k4"], asked: Default::default() };
    let r = store.get("T", 0, 0, 32, &filter).unwrap();
    assert_eq!((r.status, r.message_count, r.next_begin_offset), (GetStatus::Found, 2, 8));
    assert_eq!(keys_of(&r.messages), ["k0", "k6"]);
    assert_eq!(filter.asked.get(), 4, "properties are asked only of records whose tag code matched");
    let cached = store.get_cached("T", 0, 0, 32, &filter).unwrap().expect("just written, so cached");
    assert_eq!((cached.messages, cached.message_count), (r.messages, 2));
    let r = store.get("T", 0, 8, 32, &filter).unwrap();
    assert_eq!((r.status, r.message_count, r.next_begin_offset, keys_of(&r.messages)), (GetStatus::Found, 1, 10, vec!["k8".to_string()]));

    // All rejected: nothing matched, and the next pull starts past them.
    let none = EvenWithout { rejected: vec!["k0", "k2", "k4", "k6"], asked: Default::default() };
    let r = store.get("T", 0, 0, 32, &none).unwrap();
    assert_eq!((r.status, r.message_count, r.next_begin_offset, r.messages.len()), (GetStatus::NoMatchedMessage, 0, 8, 0));
    // Tag filtering alone is unchanged: a closure over the tag code, or everything.
    let even = tags_code_of("even");
    assert_eq!(store.get("T", 0, 0, 32, &|code| code == even).unwrap().message_count, 4);
    assert_eq!(store.get("T", 0, 0, 32, &AcceptAll).unwrap().message_count, 8);
    store.shutdown().await;
    drop(store);

    // With the default budget a short answer reads on into the next file.
    let store = Store::open(config(dir.path())).unwrap();
    let filter = EvenWithout { rejected: vec!["k2", "k4"], asked: Default::default() };
    let r = store.get("T", 0, 0, 32, &filter).unwrap();
    assert_eq!(
        (r.status, r.message_count, r.next_begin_offset, keys_of(&r.messages)),
        (GetStatus::Found, 3, 10, vec!["k0".to_string(), "k6".into(), "k8".into()])
    );
    store.shutdown().await;
}

/// Keeps every message whose KEYS are not in the list.
struct KeysNotIn(Vec<&'static str>);

impl MessageFilter for KeysNotIn {
    fn matches_tag_code(&self, _: i64) -> bool {
        true
    }

    fn needs_properties(&self) -> bool {
        true
    }

    fn matches_properties(&self, properties: &str) -> bool {
        !self.0.contains(&Properties::parse(properties).get("KEYS").unwrap_or_default())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filtered_read_that_finds_more_than_it_wants_ends_at_the_last_it_takes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    for i in 0..20 {
        put(&store, "T", 0, i).await;
    }
    // k0-k3 read first, one kept: reading on, it asks for three times what is missing, keeps
    // all it reads and answers only the 4 wanted, ending after k6.
    let filter = KeysNotIn(vec!["k1", "k2", "k3"]);
    let r = store.get("T", 0, 0, 4, &filter).unwrap();
    assert_eq!((keys_of(&r.messages), r.message_count, r.next_begin_offset), (vec!["k0".into(), "k4".into(), "k5".into(), "k6".into()], 4, 7));
    let r = store.get("T", 0, 7, 4, &filter).unwrap();
    assert_eq!((keys_of(&r.messages), r.next_begin_offset), (vec!["k7".into(), "k8".into(), "k9".into(), "k10".into()], 11));
    store.shutdown().await;
}

/// What an added dispatcher saw: (topic, queue id, queue offset) → the message's KEYS; and
/// the hooks it was called with.
#[derive(Default)]
struct Seen {
    keys: std::collections::HashMap<(String, i32, i64), String>,
    hooks: Vec<String>,
}

struct KeyDispatcher(std::sync::Arc<std::sync::Mutex<Seen>>);

impl store::Dispatcher for KeyDispatcher {
    fn name(&self) -> &'static str {
        "keys"
    }

    fn dispatch(&self, batch: &[store::DispatchRequest<'_>]) -> Result<(), store::StoreError> {
        let mut seen = self.0.lock().unwrap();
        for r in batch {
            let keys = Properties::parse(r.properties().unwrap()).get("KEYS").unwrap().to_string();
            seen.keys.insert((r.topic.to_string(), r.queue_id, r.queue_offset), keys);
        }
        Ok(())
    }

    fn truncated(&self, offset: u64) {
        self.0.lock().unwrap().hooks.push(format!("truncated {offset}"));
    }

    fn topic_deleted(&self, topic: &str) {
        self.0.lock().unwrap().hooks.push(format!("deleted {topic}"));
    }
}

/// Judges from what the dispatcher saw: k0..: multiples of 3 dropped, other evens kept, odds
/// (and what it never saw) checked; the properties check keeps everything and counts.
struct ByDispatch {
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
    checked: std::cell::Cell<usize>,
}

impl MessageFilter for ByDispatch {
    fn matches_tag_code(&self, _: i64) -> bool {
        true
    }

    fn needs_properties(&self) -> bool {
        true
    }

    fn matches_properties(&self, _: &str) -> bool {
        self.checked.set(self.checked.get() + 1);
        true
    }

    fn judge(&self, topic: &str, queue_id: i32, first: i64, entries: &[store::CqEntry], verdicts: &mut Vec<store::Verdict>) {
        let seen = self.seen.lock().unwrap();
        for i in 0..entries.len() as i64 {
            let n = seen.keys.get(&(topic.to_string(), queue_id, first + i)).map(|k| k[1..].parse::<i64>().unwrap());
            verdicts.push(match n {
                Some(n) if n % 3 == 0 => store::Verdict::Drop,
                Some(n) if n % 2 == 0 => store::Verdict::Keep,
                _ => store::Verdict::Check,
            });
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_added_dispatcher_sees_every_record_and_a_filter_judges_entries_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    let store = Store::open_with(config(dir.path()), vec![Box::new(KeyDispatcher(seen.clone()))]).unwrap();
    for i in 0..12 {
        put(&store, "T", 0, i).await;
    }
    let expected: Vec<_> = (0..12).map(|i| (("T".to_string(), 0, i as i64), format!("k{i}"))).collect();
    assert_eq!(seen.lock().unwrap().keys.clone(), expected.into_iter().collect(), "every record, with its queue offset and properties");

    // Offsets 0-11 hold k0-k11: 0, 3, 6, 9 dropped unread; 2, 4, 8, 10 kept unchecked; the odd checked.
    let filter = ByDispatch { seen: seen.clone(), checked: Default::default() };
    let r = store.get("T", 0, 0, 32, &filter).unwrap();
    assert_eq!(keys_of(&r.messages), ["k1", "k2", "k4", "k5", "k7", "k8", "k10", "k11"]);
    assert_eq!((r.message_count, r.next_begin_offset), (8, 12));
    assert_eq!(filter.checked.get(), 4, "only the entries judged Check are checked");

    store.delete_topic("T").await.unwrap();
    store.truncate(0).await.unwrap();
    assert_eq!(seen.lock().unwrap().hooks, ["deleted T".to_string(), "truncated 0".to_string()]);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn torn_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.commit_log_file_bytes = 1 << 20;
    cfg.flush_mode = FlushMode::Sync;
    let store = Store::open(cfg.clone()).unwrap();
    for i in 0..10 {
        put(&store, "T", 0, i).await;
    }
    let end = store.commit_log_max_offset() as u64;
    store.shutdown().await;
    drop(store);
    as_if_crashed(dir.path());
    // Tear the last record in half and leave garbage behind it.
    let seg = dir.path().join("commitlog").join(format!("{:020}", 0));
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&[0xAB; 64], end - 20).unwrap();
    drop(f);

    let store = Store::open(cfg).unwrap();
    assert_eq!(store.max_offset("T", 0), 9, "torn record dropped from the consume queue");
    assert_eq!(bodies(&store, "T", 0, 0).len(), 9);
    assert_eq!(put(&store, "T", 0, 99).await, 9);
    assert_eq!(bodies(&store, "T", 0, 0).len(), 10);
    store.shutdown().await;
}

/// A crash between creating a consume-queue file and sizing it leaves an empty file; and a
/// power loss can leave a queue's unsynced entries zeroed with later ones kept (a hole).
/// Recovery rebuilds both from the CommitLog.
#[tokio::test(flavor = "multi_thread")]
async fn consume_queue_short_file_and_hole_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store = Store::open(cfg.clone()).unwrap();
    for i in 0..20 {
        put(&store, "T", 0, i).await;
    }
    store.shutdown().await;
    drop(store);
    as_if_crashed(dir.path());
    let _ = std::fs::remove_file(dir.path().join("checkpoint"));
    let qdir = dir.path().join("consumequeue").join("T").join("0");
    // 8 entries per file: files 0, 1 and 2 exist. Zero file 1 (entries 8..16, a hole) and add
    // an empty file 3, as a crash right after its creation leaves it.
    let f1 = qdir.join(format!("{:020}", 8 * 20));
    std::fs::write(&f1, vec![0u8; 8 * 20]).unwrap();
    std::fs::File::create(qdir.join(format!("{:020}", 24 * 20))).unwrap();
    let store = Store::open(cfg).unwrap();
    let expected: Vec<String> = (0..20).map(|i| format!("message-{i}-{}", "x".repeat(i % 50))).collect();
    assert_eq!(bodies(&store, "T", 0, 0), expected);
    assert_eq!(put(&store, "T", 0, 20).await, 20);
    store.shutdown().await;
}

/// Leaves the markers a killed process leaves: the crash marker, no clean end.
fn as_if_crashed(dir: &std::path::Path) {
    std::fs::write(dir.join("abort"), b"").unwrap();
    let _ = std::fs::remove_file(dir.join("clean_shutdown"));
}

fn segment0(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("commitlog").join(format!("{:020}", 0))
}

async fn fill(cfg: &StoreConfig, n: usize) -> Vec<i64> {
    let store = Store::open(cfg.clone()).unwrap();
    let mut ends = Vec::new();
    for i in 0..n {
        put(&store, "T", 0, i).await;
        ends.push(store.commit_log_max_offset());
    }
    store.shutdown().await;
    ends
}

#[tokio::test(flavor = "multi_thread")]
async fn tails_torn_at_any_byte_recover_to_the_last_whole_record() {
    let mut seed = 0x1234_5678_9ABC_DEF1u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.commit_log_file_bytes = 1 << 20;
        let ends = fill(&cfg, 20).await;
        // Cut somewhere in the last five records, then maybe leave garbage behind the cut.
        let lo = ends[14] as u64;
        let hi = ends[19] as u64;
        let cut = lo + rand() % (hi - lo);
        let f = std::fs::OpenOptions::new().write(true).open(segment0(dir.path())).unwrap();
        f.set_len(cut).unwrap();
        f.set_len(cfg.commit_log_file_bytes).unwrap();
        if round % 2 == 1 {
            use std::os::unix::fs::FileExt;
            let garbage: Vec<u8> = (0..300).map(|_| rand() as u8).collect();
            f.write_all_at(&garbage, cut).unwrap();
        }
        drop(f);
        as_if_crashed(dir.path());
        let whole = ends.iter().filter(|e| **e as u64 <= cut).count();
        let store = Store::open(cfg.clone()).unwrap();
        assert_eq!(store.max_offset("T", 0), whole as i64, "round {round}: cut at {cut}");
        assert_eq!(store.commit_log_max_offset(), ends[whole - 1], "round {round}");
        assert_eq!(bodies(&store, "T", 0, 0).len(), whole);
        // Appending continues right after the last whole record.
        assert_eq!(put(&store, "T", 0, 500).await, whole as i64);
        store.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corruption_inside_the_log_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.commit_log_file_bytes = 1 << 20;
    let ends = fill(&cfg, 10).await;
    // Flip one byte in the body of the sixth record.
    let at = ends[4] as u64 + 90;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(segment0(dir.path())).unwrap();
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0xFF], at).unwrap();
    drop(f);

    // Found through the end a clean shutdown recorded...
    let err = Store::open(cfg.clone()).err().expect("refuses to start");
    let text = err.to_string();
    assert!(text.contains(&format!("{:020}", 0)) && text.contains(&format!("offset {}", ends[4])), "{text}");
    assert!(text.contains("truncateCorruptCommitLog"), "{text}");
    // ...and, after a crash, by finding valid records behind the damage.
    as_if_crashed(dir.path());
    let err = Store::open(cfg.clone()).err().expect("refuses to start after a crash too");
    assert!(err.to_string().contains(&format!("continues to offset {}", ends[5])), "{err}");

    cfg.truncate_corrupt = true;
    let store = Store::open(cfg).unwrap();
    assert_eq!(store.max_offset("T", 0), 5);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_flush_group_commits_concurrent_puts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.commit_log_file_bytes = 1 << 20;
    cfg.flush_mode = FlushMode::Sync;
    let store = std::sync::Arc::new(Store::open(cfg).unwrap());
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { put(&store, "T", i % 4, i as usize).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.flushed_offset(), store.commit_log_max_offset(), "every acknowledged byte is flushed");
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn full_disk_refuses_sends_keeps_reads_and_retention_frees_space() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.disk_capacity_bytes = Some(48 * 1024);
    cfg.clean_interval = Duration::from_secs(3600); // passes run only when the test asks
    let store = Store::open(cfg).unwrap();
    let mut stored = 0;
    let refusal = loop {
        let body = format!("message-{stored}-{}", "x".repeat(200));
        let r = store
            .put(PutMessage { topic: "T".into(), queue_id: 0, records: vec![record("T", 0, body.as_bytes(), "t", &format!("k{stored}"))], wait_flush: true })
            .await;
        match r {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 10_000, "never refused");
    };
    assert!(matches!(&refusal, PutError::ServiceUnavailable(m) if m.contains("disk full")), "{refusal:?}");
    // Reads go on.
    assert_eq!(bodies(&store, "T", 0, 0).len(), stored);

    // Over diskSpaceCleanForciblyRatio the oldest files go, whatever their age.
    let deleted = store.clean_now().await.unwrap();
    assert!(!deleted.is_empty());
    let min = store.min_offset("T", 0);
    assert!(min > 0, "the queue's min offset moved");
    assert!(store.commit_log_min_offset() > 0);
    let r = store.get("T", 0, 0, 32, &|_| true).unwrap();
    assert_eq!((r.status, r.next_begin_offset), (GetStatus::OffsetTooSmall, min));
    assert_eq!(bodies(&store, "T", 0, min).len() as i64, stored as i64 - min);
    assert!(store.query_by_key("T", "k0", 10, 0, i64::MAX).unwrap().is_empty(), "deleted messages leave the index");
    // Space is back: sends succeed again.
    assert_eq!(put(&store, "T", 0, 1).await, stored as i64);
    store.shutdown().await;
    drop(store);

    // The moved min offset holds after a restart.
    let mut cfg = config(dir.path());
    cfg.disk_capacity_bytes = Some(48 * 1024);
    let store = Store::open(cfg).unwrap();
    assert_eq!(store.min_offset("T", 0), min);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_files_are_deleted_at_the_delete_hour() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.clean_interval = Duration::from_secs(3600);
    cfg.retention.file_reserved_time = Duration::ZERO;
    cfg.retention.delete_when_hours = (0..24).collect();
    let store = Store::open(cfg).unwrap();
    for i in 0..100 {
        put(&store, "T", 0, i).await;
    }
    let files_before = std::fs::read_dir(dir.path().join("commitlog")).unwrap().count();
    assert!(files_before > 2);
    let deleted = store.clean_now().await.unwrap();
    assert_eq!(deleted.len(), (files_before - 1).min(10));
    assert_eq!(std::fs::read_dir(dir.path().join("commitlog")).unwrap().count(), files_before - deleted.len());
    assert!(store.min_offset("T", 0) > 0);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_start_without_crc_check_trusts_only_a_verified_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.commit_log_file_bytes = 1 << 20;
    cfg.check_crc_on_recover = false;
    let ends = fill(&cfg, 10).await;
    let recorded = std::fs::read_to_string(dir.path().join("clean_shutdown")).unwrap();
    assert_eq!(recorded, format!("{} {}", ends[9], ends[8]), "end and the last record's start");

    // Trusted: nothing is scanned, so damage inside the file goes unseen at start...
    let at = ends[4] as u64 + 90;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(segment0(dir.path())).unwrap();
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0xFF], at).unwrap();
    let store = Store::open(cfg.clone()).unwrap();
    assert_eq!(store.max_offset("T", 0), 10);
    assert_eq!(put(&store, "T", 0, 10).await, 10, "appends continue after the last record");
    assert_eq!(store.query_by_key("T", "k9", 10, 0, i64::MAX).unwrap().len(), 1, "index kept");
    store.shutdown().await;
    drop(store);
    // ...but not when the default check is on: the whole last file is checked.
    let mut checked = cfg.clone();
    checked.check_crc_on_recover = true;
    let err = Store::open(checked).err().expect("the default clean start finds the damage");
    assert!(err.to_string().contains(&format!("offset {}", ends[4])), "{err}");
    f.write_all_at(&b, at).unwrap();
    drop(f);

    // A recorded last record that does not check out falls back to the scan.
    let end11 = {
        let store = Store::open(cfg.clone()).unwrap();
        let end = store.commit_log_max_offset();
        store.shutdown().await;
        end
    };
    std::fs::write(dir.path().join("clean_shutdown"), format!("{end11} {}", ends[3])).unwrap();
    let store = Store::open(cfg.clone()).unwrap();
    assert_eq!(store.commit_log_max_offset(), end11);
    assert_eq!(bodies(&store, "T", 0, 0).len(), 11);
    store.shutdown().await;
    drop(store);
    // So does a recorded end with bytes after it (a run that wrote on after the mark).
    let store = Store::open(cfg.clone()).unwrap();
    put(&store, "T", 0, 11).await;
    let end12 = store.commit_log_max_offset();
    store.shutdown().await;
    drop(store);
    std::fs::write(dir.path().join("clean_shutdown"), format!("{end11} {}", ends[9])).unwrap();
    let store = Store::open(cfg).unwrap();
    assert!(store.commit_log_max_offset() >= end11);
    assert_eq!(bodies(&store, "T", 0, 0).len(), 12, "nothing lost: the scan found the records past the stale mark (end {end12})");
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    match Store::open(config(dir.path())) {
        Err(store::StoreError::Locked(p)) => assert_eq!(p, dir.path()),
        other => panic!("a second store on the same directory: {:?}", other.err()),
    }
    store.shutdown().await;
    // Released at shutdown, even while the first value is still alive.
    let again = Store::open(config(dir.path())).unwrap();
    again.shutdown().await;
    drop(store);
}

/// After a power loss the kernel may have written later pages of the unflushed tail but not an
/// earlier one: a zeroed page with whole records behind it. Past the checkpoint, that is a
/// torn tail (nothing there was flushed), not corruption; the log ends before the page.
/// A power loss can also lose the page holding the log's end while the next page reached the
/// disk: zeros from a record's start to the end of its page, records behind.
#[tokio::test(flavor = "multi_thread")]
async fn a_zeroed_page_tail_past_the_checkpoint_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.commit_log_file_bytes = 1 << 20;
    let ends = fill(&cfg, 120).await;
    // The first record that starts inside the second page and ends in the third: zero it from
    // its start to the end of its page.
    let start = *ends.iter().find(|e| **e > 4096 && **e < 8192).unwrap();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(segment0(dir.path())).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&vec![0u8; (8192 - start) as usize], start as u64).unwrap();
    drop(f);
    as_if_crashed(dir.path());
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let store = Store::open(cfg.clone()).unwrap();
    assert_eq!(store.commit_log_max_offset(), start);
    assert_eq!(bodies(&store, "T", 0, 0).len(), ends.iter().filter(|e| **e <= start).count());
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwritten_page_past_the_checkpoint_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.commit_log_file_bytes = 1 << 20;
    let ends = fill(&cfg, 120).await;
    // Zero the second page of the file; records run on well past it.
    let f = std::fs::OpenOptions::new().read(true).write(true).open(segment0(dir.path())).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&[0u8; 4096], 4096).unwrap();
    drop(f);
    as_if_crashed(dir.path());
    // With the checkpoint covering that page it is corruption...
    assert!(Store::open(cfg.clone()).is_err(), "a zeroed page below the checkpoint is refused");
    // ...past it, a torn tail: the log ends at the last record before the page.
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let store = Store::open(cfg.clone()).unwrap();
    let kept = ends.iter().filter(|e| **e <= 4096).count();
    assert_eq!(store.commit_log_max_offset(), ends[kept - 1]);
    assert_eq!(bodies(&store, "T", 0, 0).len(), kept);
    store.shutdown().await;
}

/// A temporary directory under Cargo's target directory: the page-cache tests need a
/// disk-backed filesystem (on tmpfs, where `/tmp` often lies, pages are never read ahead or
/// dropped).
fn disk_backed_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Whether the page cache holds every page of `len` bytes of `file` at `offset` (`mincore`
/// on a read-only map, which does not bring anything in itself).
fn cached(file: &std::fs::File, offset: u64, len: usize) -> bool {
    // SAFETY: a read-only map of a file no one truncates while the test looks at it.
    let map = unsafe { memmap2::MmapOptions::new().offset(offset).len(len).map(file) }.unwrap();
    let pages = len.div_ceil(4096);
    let mut resident = vec![0u8; pages];
    // SAFETY: `map` is a live mapping of `len` bytes at a page-aligned address, and `resident`
    // has one byte per page.
    let rc = unsafe { libc::mincore(map.as_ptr() as *mut libc::c_void, len, resident.as_mut_ptr()) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    resident.iter().all(|r| r & 1 == 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_warmer_brings_pages_past_the_write_end_into_the_page_cache() {
    for ahead in [0u64, 256 * 1024] {
        let tmp = disk_backed_tempdir();
        let mut cfg = config(tmp.path());
        cfg.commit_log_file_bytes = 8 * 1024 * 1024;
        cfg.warm_ahead_bytes = ahead;
        let store = Store::open(cfg).unwrap();
        put(&store, "T", 0, 1).await;
        let file = std::fs::File::open(segment0(tmp.path())).unwrap();
        // Whole pages past the first record, inside the warmed range, never written.
        let (from, len) = (4 * 1024 * 1024 + 64 * 1024, 128 * 1024);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ahead > 0 && !cached(&file, from, len) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(cached(&file, from, len), ahead > 0, "warm ahead {ahead}");
        // Nothing was written there: the pages are the file's holes, zeros.
        let mut probe = [1u8; 16];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut probe, from).unwrap();
        assert_eq!(probe, [0u8; 16]);
        store.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_window_drops_flushed_pages_behind_it_and_reads_there_do_not_keep_theirs() {
    let tmp = disk_backed_tempdir();
    let mut cfg = config(tmp.path());
    cfg.commit_log_file_bytes = 8 << 20;
    cfg.flush_interval = Duration::from_millis(10);
    cfg.cache_window_bytes = 1 << 20;
    let store = Store::open(cfg).unwrap();
    let body = vec![7u8; 60 * 1024];
    for batch in 0..10 {
        let records = (0..8).map(|i| record("T", 0, &body, "t", &format!("k{batch}-{i}"))).collect();
        store.put(PutMessage { topic: "T".into(), queue_id: 0, records, wait_flush: true }).await.unwrap();
    }
    let end = store.commit_log_max_offset() as u64;
    assert!(end > 4 << 20, "{end}");
    let file = std::fs::File::open(segment0(tmp.path())).unwrap();
    // The flusher drops what lies more than the window behind the write end (all of it but
    // the large folio, of up to 2 MiB, across the window's edge)...
    let behind = (end - (1 << 20)) / 4096 * 4096;
    let dropped = (behind / (2 << 20) * (2 << 20)) as usize;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !uncached(&file, 0, dropped) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dropped >= 2 << 20 && uncached(&file, 0, dropped), "pages behind the window were dropped");
    // ...and keeps the window.
    assert!(cached(&file, behind + 4096, (end / 4096 * 4096 - behind - 4096) as usize), "the window stays cached");
    // Reading it all back finds every message on disk; what was read more than a quarter of
    // the window behind later reads is not kept.
    let read = bodies(&store, "T", 0, 0);
    assert_eq!(read.len(), 80);
    assert!(read.iter().all(|b| b.as_bytes() == body.as_slice()));
    assert!(uncached(&file, 0, (2 << 20) as usize), "reads behind the window dropped what they read");
    store.shutdown().await;
}

/// Whether the page cache holds none of the pages of `len` bytes of `file` at `offset`.
fn uncached(file: &std::fs::File, offset: u64, len: usize) -> bool {
    (0..len.div_ceil(4096)).all(|p| !cached(file, offset + p as u64 * 4096, 4096))
}

#[tokio::test(flavor = "multi_thread")]
async fn puts_made_together_lie_in_order_and_a_refused_one_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    let one = |topic: &str, body: &[u8], key: &str| PutMessage {
        topic: topic.into(),
        queue_id: 0,
        records: vec![record(topic, 0, body, "t", key)],
        wait_flush: true,
    };
    let got = store.put_all(vec![one("A", b"a", "ka"), one("B", b"b", "kb"), one("A", b"c", "kc")]).await;
    let got: Vec<_> = got.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(got.iter().map(|r| r.first_queue_offset).collect::<Vec<_>>(), [0, 0, 1]);
    for pair in got.windows(2) {
        assert_eq!(pair[1].phys_offsets[0] as u64, pair[0].phys_offsets[0] as u64 + pair[0].wrote_bytes, "back to back, in order");
    }
    // Larger than a CommitLog file: refused, and so is what comes after it; what came before is stored.
    let huge = one("A", &vec![b'x'; 8192], "kh");
    let got = store.put_all(vec![one("A", b"d", "kd"), huge, one("B", b"e", "ke")]).await;
    assert!(got[0].is_ok());
    assert!(matches!(&got[1], Err(PutError::MessageIllegal(_))), "{:?}", got[1]);
    assert!(matches!(&got[2], Err(PutError::MessageIllegal(_))), "{:?}", got[2]);
    assert_eq!(bodies(&store, "A", 0, 0), ["a", "c", "d"]);
    assert_eq!(bodies(&store, "B", 0, 0), ["b"]);
    store.shutdown().await;
}
