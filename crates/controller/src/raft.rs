//! The controller's Raft (openraft 0.9): the type configuration, a log kept in files, and the
//! state machine that applies [`Command`]s to [`Groups`].
//!
//! The log is small (a command per registration, election and in-sync change), so it is kept
//! whole: `raft/log` holds one JSON entry per line, appended and synced before openraft hears
//! it is durable; a truncation rewrites the file (written aside, synced, renamed). The vote is
//! its own file, written the same way before `save_vote` returns. The state machine lives in
//! memory; a snapshot of it is built every `SNAPSHOT_EVERY` applied entries and written to
//! `raft/snapshot` (aside, synced, renamed) before openraft purges the log entries it covers, so
//! the log stays bounded. At start the state machine is the snapshot's, and openraft re-applies
//! the log after it up to the saved committed index. A node too far behind gets the snapshot.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{Cursor, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{BasicNode, Entry, EntryPayload, LogId, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::groups::{Command, Groups, Outcome};

pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The controller's Raft types: commands in, outcomes out (`None` for Raft's own entries).
    pub TypeConfig:
        D = Command,
        R = Option<Outcome>,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
type StoreResult<T> = Result<T, StorageError<NodeId>>;

fn write_err(e: &std::io::Error) -> StorageError<NodeId> {
    StorageIOError::write_logs(e).into()
}

/// Writes `bytes` to `path` whole: aside, synced, renamed, directory synced.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[derive(Default)]
struct LogInner {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    purged: Option<LogId<NodeId>>,
    log: BTreeMap<u64, Entry<TypeConfig>>,
    dir: PathBuf,
    file: Option<std::fs::File>,
}

impl LogInner {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The log file rewritten from memory (after a truncation or a purge).
    fn rewrite(&mut self) -> std::io::Result<()> {
        let mut text = Vec::new();
        for e in self.log.values() {
            serde_json::to_writer(&mut text, e).map_err(std::io::Error::other)?;
            text.push(b'\n');
        }
        replace_file(&self.path("log"), &text)?;
        self.file = Some(std::fs::OpenOptions::new().append(true).open(self.path("log"))?);
        Ok(())
    }
}

/// The Raft log and vote, in `<dir>` (shared handle).
#[derive(Clone)]
pub struct LogStore(Arc<Mutex<LogInner>>);

impl LogStore {
    /// Opens (or creates) the log in `dir`. A last line cut short by a crash was never reported
    /// durable, and is dropped.
    pub fn open(dir: &Path) -> std::io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let mut inner = LogInner { dir: dir.to_path_buf(), ..Default::default() };
        let read_json = |name: &str| -> std::io::Result<Option<String>> {
            match std::fs::read_to_string(dir.join(name)) {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        let bad = |what: &str, e: serde_json::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}/{what}: {e}", dir.display()));
        if let Some(t) = read_json("vote")? {
            inner.vote = serde_json::from_str(&t).map_err(|e| bad("vote", e))?;
        }
        if let Some(t) = read_json("committed")? {
            // Only an optimization: an unreadable one is learned again from the leader.
            inner.committed = serde_json::from_str(&t).unwrap_or(None);
        }
        if let Some(t) = read_json("purged")? {
            inner.purged = serde_json::from_str(&t).map_err(|e| bad("purged", e))?;
        }
        let mut torn = false;
        if let Some(t) = read_json("log")? {
            let lines: Vec<&str> = t.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                match serde_json::from_str::<Entry<TypeConfig>>(line) {
                    Ok(e) => {
                        inner.log.split_off(&e.log_id.index);
                        inner.log.insert(e.log_id.index, e);
                    }
                    Err(_) if i + 1 == lines.len() => torn = true,
                    Err(e) => return Err(bad("log", e)),
                }
            }
        }
        // A crash between writing `purged` and rewriting the log leaves purged entries in it.
        if let Some(p) = inner.purged {
            inner.log = inner.log.split_off(&(p.index + 1));
        }
        if torn {
            inner.rewrite()?;
        } else {
            inner.file = Some(std::fs::OpenOptions::new().create(true).append(true).open(inner.path("log"))?);
        }
        Ok(LogStore(Arc::new(Mutex::new(inner))))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(&mut self, range: RB) -> StoreResult<Vec<Entry<TypeConfig>>> {
        Ok(self.0.lock().await.log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StoreResult<LogState<TypeConfig>> {
        let g = self.0.lock().await;
        let last = g.log.values().next_back().map(|e| e.log_id).or(g.purged);
        Ok(LogState { last_purged_log_id: g.purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StoreResult<()> {
        let mut g = self.0.lock().await;
        let text = serde_json::to_vec(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        replace_file(&g.path("vote"), &text).map_err(|e| StorageIOError::write_vote(&e))?;
        g.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> StoreResult<Option<Vote<NodeId>>> {
        Ok(self.0.lock().await.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StoreResult<()> {
        let mut g = self.0.lock().await;
        // Written whole (aside, then renamed): a restart re-applies the log up to it.
        let text = serde_json::to_vec(&committed).map_err(|e| StorageIOError::write(&e))?;
        replace_file(&g.path("committed"), &text).map_err(|e| StorageIOError::write(&e))?;
        g.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> StoreResult<Option<LogId<NodeId>>> {
        Ok(self.0.lock().await.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StoreResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut g = self.0.lock().await;
        let mut text = Vec::new();
        let mut added = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut text, &e).map_err(|e| StorageIOError::write_logs(&e))?;
            text.push(b'\n');
            added.push(e);
        }
        let file = g.file.as_mut().ok_or_else(|| write_err(&std::io::Error::other("the log file is not open")))?;
        file.write_all(&text).map_err(|e| write_err(&e))?;
        file.sync_data().map_err(|e| write_err(&e))?;
        for e in added {
            g.log.insert(e.log_id.index, e);
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        let mut g = self.0.lock().await;
        g.log.split_off(&log_id.index);
        g.rewrite().map_err(|e| write_err(&e))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        let mut g = self.0.lock().await;
        let text = serde_json::to_vec(&Some(log_id)).map_err(|e| StorageIOError::write(&e))?;
        replace_file(&g.path("purged"), &text).map_err(|e| StorageIOError::write(&e))?;
        g.purged = Some(log_id);
        g.log = g.log.split_off(&(log_id.index + 1));
        g.rewrite().map_err(|e| write_err(&e))
    }
}

/// What the state machine holds: the groups, and what Raft needs to know of what it applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Applied {
    pub last: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, BasicNode>,
    pub groups: Groups,
}

/// The last snapshot built or installed, with its bytes.
type StoredSnapshot = Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>;

/// Applied entries between two snapshots (and so, with openraft's default of keeping 1,000
/// entries behind a snapshot, about the most the log holds).
pub const SNAPSHOT_EVERY: u64 = 1_000;

/// A snapshot as `raft/snapshot` holds it.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, BasicNode>,
    state: Applied,
}

/// The state machine (shared handle): [`Groups`] in memory, its snapshots in `dir` (none kept
/// without one: openraft's test suite).
#[derive(Clone, Default)]
pub struct StateMachine {
    pub state: Arc<Mutex<Applied>>,
    snapshot: Arc<Mutex<StoredSnapshot>>,
    dir: Option<PathBuf>,
}

impl StateMachine {
    /// The state machine of `dir`: its last snapshot's state, or empty.
    pub fn open(dir: &Path) -> std::io::Result<StateMachine> {
        std::fs::create_dir_all(dir)?;
        let sm = StateMachine { dir: Some(dir.to_path_buf()), ..Default::default() };
        match std::fs::read(dir.join("snapshot")) {
            Ok(bytes) => {
                let file: SnapshotFile = serde_json::from_slice(&bytes)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}/snapshot: {e}", dir.display())))?;
                let data = serde_json::to_vec(&file.state).map_err(std::io::Error::other)?;
                *sm.state.try_lock().map_err(std::io::Error::other)? = file.state;
                *sm.snapshot.try_lock().map_err(std::io::Error::other)? = Some((file.meta, data));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(sm)
    }

    /// Keeps `state` as the snapshot `meta` (written whole before it counts), and as the
    /// current one.
    async fn keep(&self, meta: &SnapshotMeta<NodeId, BasicNode>, state: &Applied, data: Vec<u8>) -> StoreResult<()> {
        // Held across the write: a build and an install (openraft may run both at once) write
        // one after the other, and an older snapshot never replaces a newer one.
        let mut current = self.snapshot.lock().await;
        if current.as_ref().is_some_and(|(m, _)| m.last_log_id > meta.last_log_id) {
            return Ok(());
        }
        if let Some(dir) = &self.dir {
            let file = serde_json::to_vec(&SnapshotFile { meta: meta.clone(), state: state.clone() })
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
            replace_file(&dir.join("snapshot"), &file).map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        }
        *current = Some((meta.clone(), data));
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        let state = self.state.lock().await.clone();
        let bytes = serde_json::to_vec(&state).map_err(|e| StorageIOError::read_state_machine(&e))?;
        let meta =
            SnapshotMeta { last_log_id: state.last, last_membership: state.membership.clone(), snapshot_id: format!("{}", state.last.map_or(0, |l| l.index)) };
        self.keep(&meta, &state, bytes.clone()).await?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> StoreResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let s = self.state.lock().await;
        Ok((s.last, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StoreResult<Vec<Option<Outcome>>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut s = self.state.lock().await;
        let mut out = Vec::new();
        for e in entries {
            s.last = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => out.push(None),
                EntryPayload::Normal(cmd) => out.push(Some(s.groups.apply(&cmd))),
                EntryPayload::Membership(m) => {
                    s.membership = StoredMembership::new(Some(e.log_id), m);
                    out.push(None);
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StoreResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta<NodeId, BasicNode>, snapshot: Box<Cursor<Vec<u8>>>) -> StoreResult<()> {
        let bytes = snapshot.into_inner();
        let state: Applied = serde_json::from_slice(&bytes).map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.keep(meta, &state, bytes).await?;
        *self.state.lock().await = state;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        Ok(self.snapshot.lock().await.clone().map(|(meta, bytes)| Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// openraft's own checks of a log store and state machine (fresh directories each time).
    struct Builder;

    impl openraft::testing::StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
        async fn build(&self) -> StoreResult<(tempfile::TempDir, LogStore, StateMachine)> {
            let dir = tempfile::tempdir().map_err(|e| write_err(&e))?;
            let log = LogStore::open(dir.path()).map_err(|e| write_err(&e))?;
            Ok((dir, log, StateMachine::default()))
        }
    }

    #[test]
    fn openraft_suite() {
        openraft::testing::Suite::test_all(Builder).unwrap();
    }

    #[tokio::test]
    async fn a_snapshot_survives_a_reopen_and_the_log_it_covers_can_go() {
        use crate::groups::Command;
        use openraft::CommittedLeaderId;
        let dir = tempfile::tempdir().unwrap();
        let id = |i: u64| LogId::new(CommittedLeaderId::new(1, 1), i);
        let register = |i: u64| Entry::<TypeConfig> {
            log_id: id(i),
            payload: EntryPayload::Normal(Command::Register {
                cluster: "C".into(),
                group: format!("g{i}"),
                broker_id: 0,
                addr: format!("127.0.0.1:{i}"),
                ha_addr: format!("127.0.0.1:{}", i + 1),
            }),
        };
        let mut sm = StateMachine::open(dir.path()).unwrap();
        sm.apply((1..=5).map(register)).await.unwrap();
        let built = sm.build_snapshot().await.unwrap();
        assert_eq!(built.meta.last_log_id, Some(id(5)));
        let mut log = LogStore::open(dir.path()).unwrap();
        log.purge(id(5)).await.unwrap();
        // After a restart: the snapshot's state and last applied entry, the log empty up to it.
        let mut again = StateMachine::open(dir.path()).unwrap();
        assert_eq!(again.applied_state().await.unwrap().0, Some(id(5)));
        assert_eq!(again.state.lock().await.groups.groups.len(), 5);
        let current = again.get_current_snapshot().await.unwrap().expect("kept");
        assert_eq!(current.meta.last_log_id, Some(id(5)));
        let mut log = LogStore::open(dir.path()).unwrap();
        assert_eq!(log.get_log_state().await.unwrap().last_purged_log_id, Some(id(5)));
        assert!(log.try_get_log_entries(0..).await.unwrap().is_empty());
        // A damaged snapshot file is an error at start, not an empty state machine.
        std::fs::write(dir.path().join("snapshot"), b"{").unwrap();
        assert!(StateMachine::open(dir.path()).is_err());
    }

    #[tokio::test]
    async fn the_log_and_vote_survive_a_reopen_and_a_torn_last_line() {
        use openraft::CommittedLeaderId;
        let dir = tempfile::tempdir().unwrap();
        let entry = |i: u64| Entry::<TypeConfig> { log_id: LogId::new(CommittedLeaderId::new(1, 1), i), payload: EntryPayload::Blank };
        {
            let mut log = LogStore::open(dir.path()).unwrap();
            log.save_vote(&Vote::new(3, 1)).await.unwrap();
            let mut g = log.0.lock().await;
            for i in 1..=3 {
                let e = entry(i);
                let line = serde_json::to_string(&e).unwrap();
                writeln!(g.file.as_mut().unwrap(), "{line}").unwrap();
                g.log.insert(i, e);
            }
            drop(g);
            log.truncate(LogId::new(CommittedLeaderId::new(1, 1), 3)).await.unwrap();
        }
        // A crash in the middle of the next append.
        std::fs::OpenOptions::new().append(true).open(dir.path().join("log")).unwrap().write_all(b"{\"log_id\":").unwrap();
        let mut log = LogStore::open(dir.path()).unwrap();
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
        let entries = log.try_get_log_entries(0..).await.unwrap();
        assert_eq!(entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), vec![1, 2]);
    }
}
