//! Replication at the store: a replica that appends what a master reads out holds the same
//! CommitLog byte for byte and serves the same queues.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::message::decode_records;
use store::{GetStatus, PutMessage, ReplicaRead, ReplicateError, Store, StoreConfig};

mod common;

use common::{commitlog_files, record};

fn config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commit_log_file_bytes = 4096;
    c.consume_queue_file_entries = 8;
    c.disk_capacity_bytes = Some(1 << 40);
    c.clean_interval = Duration::from_secs(3600);
    c
}

async fn put(store: &Store, queue_id: i32, i: usize) {
    let body = format!("message-{i}-{}", "x".repeat(i % 90));
    let msg = PutMessage { topic: "T".into(), queue_id, records: vec![record("T", queue_id, body.as_bytes(), "t", &format!("k{i}"))], wait_flush: true };
    store.put(msg).await.unwrap();
}

/// Copies everything the master has past the replica's end, in chunks of at most `max`.
async fn follow(master: &Store, replica: &Store, max: usize) -> usize {
    let mut chunks = 0;
    loop {
        let from = replica.commit_log_max_offset() as u64;
        match master.replica_read(from, max).unwrap() {
            ReplicaRead::Records { bytes, next } => {
                let end = replica.append_replicated(from, bytes.clone()).await.unwrap();
                assert_eq!(end, next);
                chunks += 1;
            }
            ReplicaRead::UpToDate => return chunks,
            other => panic!("{other:?}"),
        }
    }
}

fn bodies(store: &Store, queue_id: i32, from: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let r = store.get("T", queue_id, offset, 32, &|_| true).unwrap();
        if r.status != GetStatus::Found {
            return out;
        }
        out.extend(decode_records(&r.messages).unwrap().into_iter().map(|m| String::from_utf8(m.body.to_vec()).unwrap()));
        offset = r.next_begin_offset;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_holds_the_masters_log_byte_for_byte_and_serves_its_queues() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = Store::open(config(md.path())).unwrap();
    let replica = Store::open(config(rd.path())).unwrap();
    replica.set_replica(true);
    for i in 0..120 {
        put(&master, (i % 3) as i32, i).await;
    }
    // Small chunks: many cuts between records, and files closed by blanks on the way.
    assert!(follow(&master, &replica, 700).await > 10);
    // A chunk smaller than one record carries that record alone.
    for i in 120..130 {
        put(&master, 0, i).await;
    }
    follow(&master, &replica, 16).await;
    assert_eq!(replica.commit_log_max_offset(), master.commit_log_max_offset());
    assert!(commitlog_files(md.path()).len() > 3, "the log spans several files");
    assert_eq!(commitlog_files(rd.path()), commitlog_files(md.path()));
    for q in 0..3 {
        assert_eq!(bodies(&replica, q, 0), bodies(&master, q, 0));
        assert_eq!(replica.max_offset("T", q), master.max_offset("T", q));
    }
    assert_eq!(replica.query_by_key("T", "k7", 10, 0, i64::MAX).unwrap().len(), 1, "indexed on the replica");

    // The replica restarts and goes on where it was.
    replica.shutdown().await;
    drop(replica);
    let replica = Store::open(config(rd.path())).unwrap();
    replica.set_replica(true);
    for i in 130..150 {
        put(&master, 1, i).await;
    }
    follow(&master, &replica, 1 << 20).await;
    assert_eq!(bodies(&replica, 1, 0), bodies(&master, 1, 0));
    assert_eq!(commitlog_files(rd.path()), commitlog_files(md.path()));

    // What does not continue the log is refused and changes nothing.
    let end = replica.commit_log_max_offset() as u64;
    let err = replica.append_replicated(end + 8, Bytes::from_static(&[0; 16])).await.unwrap_err();
    assert_eq!(err, ReplicateError::Gap { expected: end, got: end + 8 });
    put(&master, 2, 999).await;
    let ReplicaRead::Records { bytes: good, .. } = master.replica_read(end, 1 << 20).unwrap() else { panic!() };
    let mut bad = BytesMut::from(&good[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff; // inside the last record's properties
    let body_at = 100; // inside the first record's body: the CRC catches it
    bad[body_at] ^= 0x55;
    assert!(matches!(replica.append_replicated(end, bad.freeze()).await, Err(ReplicateError::Invalid { .. })));
    assert_eq!(replica.commit_log_max_offset() as u64, end);
    replica.append_replicated(end, good).await.unwrap();
    assert_eq!(bodies(&replica, 2, 0), bodies(&master, 2, 0));

    // A store that takes puts takes no replicated bytes.
    let end = master.commit_log_max_offset() as u64;
    assert_eq!(master.append_replicated(end, Bytes::from_static(&[0; 16])).await, Err(ReplicateError::NotReplica));
    // A replica's store takes no puts.
    let refused = replica.put(PutMessage { topic: "T".into(), queue_id: 0, records: vec![record("T", 0, b"x", "t", "k")], wait_flush: true }).await;
    assert!(refused.is_err());
    // The master tells where a replica stands against it.
    let end = master.commit_log_max_offset() as u64;
    assert_eq!(master.replica_read(end, 100).unwrap(), ReplicaRead::UpToDate);
    assert_eq!(master.replica_read(end + 100, 100).unwrap(), ReplicaRead::Ahead(end));
    assert_eq!(master.replica_read(3, 100).unwrap(), ReplicaRead::Misaligned);
    master.shutdown().await;
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_replica_starts_where_the_masters_log_starts() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut mc = config(md.path());
    mc.disk_capacity_bytes = Some(24 * 1024);
    let master = Store::open(mc).unwrap();
    // Until the disk is full: then retention removes the oldest files.
    for i in 0.. {
        let body = format!("message-{i}");
        let msg = PutMessage { topic: "T".into(), queue_id: 0, records: vec![record("T", 0, body.as_bytes(), "t", &format!("k{i}"))], wait_flush: true };
        if master.put(msg).await.is_err() {
            break;
        }
    }
    master.clean_now().await.unwrap();
    let min = master.commit_log_min_offset() as u64;
    assert!(min > 0, "retention removed the first files");
    let replica = Store::open(config(rd.path())).unwrap();
    replica.set_replica(true);
    assert_eq!(master.replica_read(0, 1 << 20).unwrap(), ReplicaRead::Gone(min));
    let ReplicaRead::Records { bytes: first, .. } = master.replica_read(min, 1 << 20).unwrap() else { panic!() };
    replica.append_replicated(min, first).await.unwrap();
    follow(&master, &replica, 1 << 20).await;
    let qmin = replica.min_offset("T", 0);
    assert!(qmin > 0);
    assert_eq!(bodies(&replica, 0, qmin), bodies(&master, 0, qmin));
    assert_eq!(replica.max_offset("T", 0), master.max_offset("T", 0));
    replica.shutdown().await;
    drop(replica);
    // Reopened, the queue still begins where the master's log did.
    let replica = Store::open(config(rd.path())).unwrap();
    replica.set_replica(true);
    assert_eq!(replica.min_offset("T", 0), qmin);
    assert_eq!(replica.get("T", 0, 0, 4, &|_| true).unwrap().status, GetStatus::OffsetTooSmall);
    assert_eq!(bodies(&replica, 0, qmin), bodies(&master, 0, qmin));
    master.shutdown().await;
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_write_end_is_watched() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    let mut end = store.watch_write_end();
    assert_eq!(*end.borrow_and_update(), 0);
    put(&store, 0, 1).await;
    tokio::time::timeout(Duration::from_secs(5), end.changed()).await.unwrap().unwrap();
    assert_eq!(*end.borrow(), store.commit_log_max_offset() as u64);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_replica_takes_another_masters_tail() {
    let (ad, bd, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(config(ad.path())).unwrap();
    let b = Store::open(config(bd.path())).unwrap();
    let r = Store::open(config(rd.path())).unwrap();
    b.set_replica(true);
    r.set_replica(true);
    // A shared history, copied by B and R.
    for i in 0..40 {
        put(&a, (i % 2) as i32, i).await;
    }
    follow(&a, &b, 1 << 20).await;
    follow(&a, &r, 1 << 20).await;
    let shared_end = a.commit_log_max_offset() as u64;
    // R keeps following A while A writes a tail nobody else gets …
    for i in 40..70 {
        put(&a, 0, i).await;
    }
    follow(&a, &r, 1 << 20).await;
    assert!(r.commit_log_max_offset() as u64 > shared_end + 4096, "the tail spans a file's end");
    // … and B, the new master, writes its own.
    b.set_replica(false);
    for i in 1000..1010 {
        put(&b, 1, i).await;
    }
    r.truncate(shared_end).await.unwrap();
    assert_eq!(r.commit_log_max_offset() as u64, shared_end);
    assert_eq!(r.max_offset("T", 0), 20, "queue entries past the cut are gone");
    follow(&b, &r, 1 << 20).await;
    assert_eq!(commitlog_files(rd.path()), commitlog_files(bd.path()));
    for q in 0..2 {
        assert_eq!(bodies(&r, q, 0), bodies(&b, q, 0));
    }
    assert_eq!(r.query_by_key("T", "k1005", 10, 0, i64::MAX).unwrap().len(), 1);
    // After a restart it is still B's log.
    r.shutdown().await;
    drop(r);
    let r = Store::open(config(rd.path())).unwrap();
    r.set_replica(true);
    assert_eq!(bodies(&r, 1, 0), bodies(&b, 1, 0));
    assert_eq!(r.max_offset("T", 0), b.max_offset("T", 0));
    for s in [a, b, r] {
        s.shutdown().await;
    }
}
