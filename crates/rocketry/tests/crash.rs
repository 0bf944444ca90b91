//! Nothing acknowledged is lost: a SYNC_FLUSH broker is killed with SIGKILL at random
//! moments while senders run, and, in the second test, each kill is also a simulated power
//! cut; at the end every acknowledged message is there, in order per queue, with an intact
//! body.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use client::Client;
use protocol::codes::response as rs;
use protocol::header::PullMessageRequestHeader;
use protocol::message::Properties;

const SENDERS: i32 = 4;
const KILLS: usize = 10;
const TOPIC: &str = "CrashTopic";

mod common;

use common::process::Server;

/// What the senders saw acknowledged: sender -> seq -> queue offset.
type Acked = Arc<Mutex<BTreeMap<i32, BTreeMap<u64, i64>>>>;

fn body(sender: i32, seq: u64) -> Bytes {
    // Varying sizes so records straddle segment ends in different places.
    let pad = "x".repeat((seq as usize * 37 + sender as usize * 11) % 700);
    Bytes::from(format!("{sender}:{seq}:{pad}"))
}

async fn wait_ready(client: &Client, server: &Server) {
    for _ in 0..200 {
        if client.route(TOPIC).await.is_ok() && client.query_consumer_offset(&server.broker(), "probe", TOPIC, 0).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(server.dir.join("rocketry.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    panic!("broker did not come back; its log ends with: {tail:#?}");
}

const CONF: &str = "dashboardEnable=false\nflushDiskType=SYNC_FLUSH\nmappedFileSizeCommitLog=262144\nmaxMessageSize=65536\nmappedFileSizeConsumeQueue=2000\ndefaultTopicQueueNums=4\ndiskCapacityBytes=1099511627776\n";

/// A seeded xorshift generator, so a failure can be replayed.
fn generator(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::new(tmp.path(), CONF);
    let (acked, duplicates, interrupted) = kill_and_check(&mut server, 0x9E37_79B9_7F4A_7C15, |_| {}).await;
    eprintln!("crash test: {KILLS} SIGKILLs, {acked} acknowledged, 0 lost, {duplicates} duplicates, {interrupted} sends interrupted");
}

/// Power loss, simulated: an LD_PRELOAD shim (tests/powerloss/undo.c) logs the bytes each
/// write to the store overwrites, and which writes each fsync/fdatasync made durable. After
/// each SIGKILL, every page written since its file's last sync is rolled back or kept, at
/// random, as a power cut could leave it: CommitLog tails, consume queues, checkpoint.
/// Acknowledged messages must all survive, and no torn record may be served.
/// Not modelled: directory entries (a file created or renamed since its directory's last
/// fsync survives here), and the index, which is written through a memory map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_power_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(shim) = build_shim(tmp.path()) else {
        eprintln!("SKIPPED: no C compiler to build the power-loss shim");
        return;
    };
    let log = tmp.path().join("undo.log");
    let mut server = Server::new(tmp.path(), CONF);
    server.env = vec![
        ("LD_PRELOAD".into(), shim.display().to_string()),
        ("UNDO_ROOT".into(), tmp.path().join("data").display().to_string()),
        ("UNDO_LOG".into(), log.display().to_string()),
    ];
    let mut rand = generator(0x2545_F491_4F6C_DD1D);
    let mut cuts = Vec::new();
    let (acked, duplicates, interrupted) = kill_and_check(&mut server, 0x5851_F42D_4C95_7F2D, |_| {
        cuts.push(power_cut(&log, &mut rand));
        std::fs::remove_file(&log).unwrap();
    })
    .await;
    let (pending, lost, commitlog): (usize, usize, usize) = cuts.iter().fold((0, 0, 0), |(p, l, c), cut| (p + cut.0, l + cut.1, c + cut.2));
    eprintln!("power-loss test: {KILLS} cuts ({pending} unsynced writes, {lost} pages rolled back, {commitlog} CommitLog writes logged), {acked} acknowledged, 0 lost, {duplicates} duplicates, {interrupted} sends interrupted");
    assert!(pending > 0 && lost > 0, "the cuts must roll something back to mean anything: {cuts:?}");
    // The CommitLog is written with pwritev, the queues with pwrite: the shim must see both.
    assert!(commitlog > 0, "no CommitLog write was logged: {cuts:?}");
}

fn build_shim(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let out = dir.join("undo.so");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/powerloss/undo.c");
    let ok = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .args(["-ldl", "-lpthread"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(out)
}

/// A write the shim logged: the bytes it overwrote.
struct Undo {
    seq: u64,
    path: String,
    offset: u64,
    old: Vec<u8>,
}

/// Plays a power cut on the files the shim's log names: each page written since its file's
/// last sync is rolled back to its content at that sync, or kept, at random. Returns the
/// number of unsynced writes, of pages rolled back, and of writes to the CommitLog logged.
fn power_cut(log: &std::path::Path, rand: &mut impl FnMut() -> u64) -> (usize, usize, usize) {
    const PAGE: u64 = 4096;
    let data = std::fs::read(log).unwrap_or_default();
    let (mut undos, mut synced) = (Vec::new(), std::collections::HashMap::<String, u64>::new());
    let mut at = 0;
    let take = |at: &mut usize, n: usize| -> &[u8] {
        let s = &data[*at..*at + n];
        *at += n;
        s
    };
    while at < data.len() {
        let kind = take(&mut at, 1)[0];
        let seq = u64::from_ne_bytes(take(&mut at, 8).try_into().unwrap());
        let plen = u16::from_ne_bytes(take(&mut at, 2).try_into().unwrap()) as usize;
        let path = String::from_utf8(take(&mut at, plen).to_vec()).unwrap();
        match kind {
            b'W' => {
                let offset = u64::from_ne_bytes(take(&mut at, 8).try_into().unwrap());
                let len = u32::from_ne_bytes(take(&mut at, 4).try_into().unwrap()) as usize;
                let _old_size = take(&mut at, 8);
                let old = take(&mut at, len).to_vec();
                undos.push(Undo { seq, path, offset, old });
            }
            b'S' => {
                let e = synced.entry(path).or_default();
                *e = (*e).max(seq);
            }
            other => panic!("undo log: unknown record kind {other}"),
        }
    }
    let commitlog = undos.iter().filter(|u| u.path.contains("/commitlog/")).count();
    // Newest first, so a page rolled back ends at its oldest unsynced content: what the
    // last sync left.
    undos.retain(|u| u.seq >= synced.get(&u.path).copied().unwrap_or(0));
    undos.sort_by_key(|u| std::cmp::Reverse(u.seq));
    let mut fate = std::collections::HashMap::<(String, u64), bool>::new();
    for u in &undos {
        let file = std::fs::OpenOptions::new().write(true).open(&u.path).unwrap();
        let end = u.offset + u.old.len() as u64;
        let mut page = u.offset / PAGE;
        while page * PAGE < end {
            let lost = *fate.entry((u.path.clone(), page)).or_insert_with(|| rand().is_multiple_of(2));
            if lost {
                let from = (page * PAGE).max(u.offset);
                let to = ((page + 1) * PAGE).min(end);
                std::os::unix::fs::FileExt::write_all_at(&file, &u.old[(from - u.offset) as usize..(to - u.offset) as usize], from).unwrap();
            }
            page += 1;
        }
    }
    (undos.len(), fate.values().filter(|l| **l).count(), commitlog)
}

/// Senders write sequence-numbered messages to a SYNC_FLUSH broker, which is SIGKILLed at
/// random moments `KILLS` times; `after_kill` runs on the dead broker's files before each
/// restart. Then every acknowledged message must be stored where its answer said, in order
/// per queue, intact. Returns (acknowledged, duplicates, sends interrupted).
async fn kill_and_check(server: &mut Server, seed: u64, mut after_kill: impl FnMut(usize)) -> (usize, usize, u64) {
    server.start();
    let broker = server.broker();
    let acked: Acked = Arc::default();
    let mut next_seq: BTreeMap<i32, u64> = (0..SENDERS).map(|s| (s, 0)).collect();
    let mut rand = generator(seed);
    let mut attempted_unacked = 0u64;

    for round in 0..=KILLS {
        let client = Arc::new(Client::new(vec![server.namesrv()]));
        if round == 0 {
            wait_ready_topic(&client, &broker).await;
        }
        wait_ready(&client, server).await;
        let mut tasks = Vec::new();
        for sender in 0..SENDERS {
            let (client, broker, acked) = (client.clone(), broker.clone(), acked.clone());
            let start = next_seq[&sender];
            tasks.push(tokio::spawn(async move {
                let mut seq = start;
                loop {
                    let mut p = Properties::default();
                    p.set("KEYS", format!("{sender}-{seq}"));
                    match client.send(&broker, TOPIC, sender, body(sender, seq), p).await {
                        Ok(r) => {
                            acked.lock().unwrap().entry(sender).or_default().insert(seq, r.queue_offset);
                            seq += 1;
                        }
                        // The broker died under us: this seq is unknown, the next round resends it.
                        Err(_) => return (seq, true),
                    }
                    if seq - start >= 500 {
                        return (seq, false);
                    }
                }
            }));
        }
        if round < KILLS {
            tokio::time::sleep(Duration::from_millis(150 + rand() % 600)).await;
            server.kill();
        }
        for (sender, t) in tasks.into_iter().enumerate() {
            let (seq, interrupted) = t.await.unwrap();
            attempted_unacked += interrupted as u64;
            next_seq.insert(sender as i32, seq);
        }
        client.close();
        if round < KILLS {
            after_kill(round);
            server.start();
        }
    }

    let client = Client::new(vec![server.namesrv()]);
    wait_ready(&client, server).await;
    let acked = acked.lock().unwrap().clone();
    let mut total_acked = 0;
    let mut duplicates = 0;
    for sender in 0..SENDERS {
        let stored = read_queue(&client, &broker, sender).await;
        // Order per queue: sequence numbers never go backwards. A resend of a message whose
        // acknowledgement the crash swallowed repeats the last one, nothing older.
        let mut seen = BTreeSet::new();
        for (_, seq) in &stored {
            if !seen.insert(*seq) {
                duplicates += 1;
            }
        }
        let mut max = 0;
        for (_, s) in &stored {
            assert!(*s >= max, "sender {sender}: seq {s} after {max}");
            max = max.max(*s);
        }
        let by_offset: BTreeMap<i64, u64> = stored.iter().copied().collect();
        for (seq, offset) in &acked[&sender] {
            total_acked += 1;
            if by_offset.get(offset) != Some(seq) {
                let near: Vec<_> = by_offset.range(offset - 3..offset + 3).collect();
                let log = std::fs::read_to_string(server.dir.join("rocketry.log")).unwrap_or_default();
                let tail: String = log.lines().filter(|l| !l.contains("INFO")).take(40).collect::<Vec<_>>().join("\n");
                panic!(
                    "sender {sender}: acknowledged seq {seq} at offset {offset} lost; stored near it: {near:?}; {} stored in all; log: {tail}",
                    stored.len()
                );
            }
        }
    }
    assert!(total_acked > 100, "the test sent too little to mean anything: {total_acked}");
    (total_acked, duplicates, attempted_unacked)
}

async fn wait_ready_topic(client: &Client, broker: &str) {
    for _ in 0..200 {
        if client.send(broker, TOPIC, 0, Bytes::from_static(b"init"), Properties::default()).await.is_ok() {
            // The first message is sender 0's "init" record; read_queue skips it.
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("broker did not start");
}

/// Reads a whole queue, checking every body's CRC and content: (queue offset, seq).
async fn read_queue(client: &Client, broker: &str, queue: i32) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let h = PullMessageRequestHeader::for_queue("crash_check", TOPIC, queue, offset);
        let r = client.pull(broker, &h).await.unwrap();
        if r.code != rs::SUCCESS {
            return out;
        }
        for m in &r.messages {
            if let Some(seq) = common::process::checked_seq(m, queue, body) {
                out.push((m.queue_offset, seq));
            }
        }
        offset = r.header.next_begin_offset;
    }
}
