//! Dispatch: what the store derives from each record appended to the CommitLog, through one
//! ordered list of dispatchers that the appender and recovery both drive.
//!
//! The appender hands each written batch to [`Dispatchers::dispatch`] once the batch's write
//! end is published (and before any reader is woken); recovery hands it every record it
//! re-reads past the checkpoint, one at a time. The list, in the order it runs:
//!
//! 1. [`ConsumeQueueDispatcher`]: each consumable record's consume-queue entry, written with
//!    one `put_run` per queue per batch. Prepared and rolled-back transaction records get
//!    none. Entries below the queue's max offset are there already (recovery) and are
//!    skipped. Queues written are marked for the next checkpoint's sync.
//! 2. [`IndexDispatcher`]: each record's keys (KEYS entries and UNIQ_KEY) in the key index,
//!    except below `index_skip_below` (recovery: indexed already).
//!
//! 3. Then the dispatchers the store's owner added ([`crate::Store::open_with`]), in the order
//!    given: a [`Dispatcher`] outside the store (the broker's SQL92 filter bitmap) sees every
//!    record, with its properties on request ([`DispatchRequest::properties`]), and must skip
//!    what it has already, since recovery may hand it records again. It is told when the
//!    CommitLog's tail is cut off ([`Dispatcher::truncated`]) and when a topic's queues are
//!    deleted ([`Dispatcher::topic_deleted`]), so nothing it derived outlives its record.

use std::sync::atomic::Ordering;

use protocol::message::sys_flag;

use crate::consume_queue::CqEntry;
use crate::record;
use crate::shared::Shared;
use crate::StoreError;

/// One appended record, as every dispatcher sees it.
pub struct DispatchRequest<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub phys_offset: i64,
    pub size: i32,
    pub sys_flag: i32,
    pub tags_code: i64,
    /// Index keys: each KEYS entry and the UNIQ_KEY.
    pub keys: &'a [String],
    pub store_timestamp: i64,
    /// The stored record, exactly as in the CommitLog.
    pub record: &'a [u8],
}

impl DispatchRequest<'_> {
    /// Prepared and rolled-back transaction halves are not consumable.
    pub fn consumable(&self) -> bool {
        let tx = self.sys_flag & sys_flag::TRANSACTION_MASK;
        tx != sys_flag::TRANSACTION_PREPARED && tx != sys_flag::TRANSACTION_ROLLBACK
    }

    pub fn entry(&self) -> CqEntry {
        CqEntry { phys_offset: self.phys_offset, size: self.size, tags_code: self.tags_code }
    }

    /// The record's properties (wire form), found in its bytes only when a dispatcher asks.
    pub fn properties(&self) -> Option<&str> {
        record::properties(self.record)
    }
}

/// Derives something from appended records, outside the store: registered with
/// [`crate::Store::open_with`], run on the appender's thread after the store's own.
pub trait Dispatcher: Send {
    /// Names the dispatcher in logs.
    fn name(&self) -> &'static str;

    /// Derives what `batch` (records in CommitLog order, each with its queue offset) means
    /// for this dispatcher. Runs on the append path: it must be quick and never block.
    fn dispatch(&self, batch: &[DispatchRequest<'_>]) -> Result<(), StoreError>;

    /// The CommitLog was cut back to `offset` (a replica fenced by a new epoch): queue
    /// offsets past what remains will be given to other records.
    fn truncated(&self, _offset: u64) {}

    /// A topic's queues were deleted: its queue offsets start again from 0 if it comes back.
    fn topic_deleted(&self, _topic: &str) {}
}

/// One of the store's own dispatchers, which write the store's files.
pub(crate) trait StoreDispatcher: Send {
    fn name(&self) -> &'static str;

    /// Writes what the batch means for this dispatcher: what it can, returning the first error.
    fn dispatch(&self, shared: &Shared, batch: &[DispatchRequest<'_>]) -> Result<(), StoreError>;
}

/// The ordered list of dispatchers.
pub(crate) struct Dispatchers {
    list: Vec<Box<dyn StoreDispatcher>>,
    added: Vec<Box<dyn Dispatcher>>,
}

impl Dispatchers {
    /// The store's dispatchers, in the order they run, then `added`.
    pub fn standard(added: Vec<Box<dyn Dispatcher>>) -> Dispatchers {
        Dispatchers { list: vec![Box::new(ConsumeQueueDispatcher), Box::new(IndexDispatcher)], added }
    }

    /// Tells the added dispatchers the CommitLog now ends at `offset`.
    pub fn truncated(&self, offset: u64) {
        self.added.iter().for_each(|d| d.truncated(offset));
    }

    /// Tells the added dispatchers `topic`'s queues are gone.
    pub fn topic_deleted(&self, topic: &str) {
        self.added.iter().for_each(|d| d.topic_deleted(topic));
    }

    /// Runs every dispatcher over `batch` in order, the later ones even when an earlier one
    /// fails; logs each failure and returns the first.
    pub fn dispatch(&self, shared: &Shared, batch: &[DispatchRequest<'_>]) -> Result<(), StoreError> {
        let mut result = Ok(());
        let own = self.list.iter().map(|d| (d.name(), d.dispatch(shared, batch)));
        let added = self.added.iter().map(|d| (d.name(), d.dispatch(batch)));
        for (name, outcome) in own.chain(added) {
            if let Err(e) = outcome {
                tracing::error!(dispatcher = name, error = %e, records = batch.len(), "dispatch failed");
                result = result.and(Err(e));
            }
        }
        result
    }
}

/// Consume-queue entries. See the module doc.
pub(crate) struct ConsumeQueueDispatcher;

/// A queue's entries of one batch, at consecutive offsets from `first`.
struct Run<'a> {
    topic: &'a str,
    queue_id: i32,
    first: i64,
    entries: Vec<CqEntry>,
}

impl StoreDispatcher for ConsumeQueueDispatcher {
    fn name(&self) -> &'static str {
        "consume queue"
    }

    fn dispatch(&self, shared: &Shared, batch: &[DispatchRequest<'_>]) -> Result<(), StoreError> {
        let runs = runs(batch);
        let mut result = Ok(());
        for run in &runs {
            result = result.and(write_run(shared, run));
        }
        // Marked after the writes, and under no other lock: the checkpoint syncs them.
        let mut dirty = shared.dirty_queues.lock().unwrap_or_else(|e| e.into_inner());
        dirty.extend(runs.iter().map(|run| (run.topic.to_string(), run.queue_id)));
        result
    }
}

/// Groups the batch's entries by queue, in the order queues are first met. Each queue's
/// entries of a batch are consecutive; one whose offset jumps (never expected) starts a run
/// of its own. Non-consumable records make no entry but still make their queue exist.
fn runs<'a>(batch: &[DispatchRequest<'a>]) -> Vec<Run<'a>> {
    let mut runs: Vec<Run<'a>> = Vec::new();
    for r in batch {
        let found = runs.iter().rposition(|run| run.topic == r.topic && run.queue_id == r.queue_id);
        let i = match found {
            Some(i) if !r.consumable() || runs[i].first + runs[i].entries.len() as i64 == r.queue_offset => i,
            _ => {
                runs.push(Run { topic: r.topic, queue_id: r.queue_id, first: r.queue_offset, entries: Vec::new() });
                runs.len() - 1
            }
        };
        if r.consumable() {
            runs[i].entries.push(r.entry());
        }
    }
    runs
}

/// Writes a run's entries from the queue's max offset on: recovery meets records whose
/// entries are there already; the appender's runs always start at the max offset. A run
/// whose first entry is there already but for another record is a queue the master deleted
/// and made again, copied by a replica: the queue here is the old one's and is dropped first.
fn write_run(shared: &Shared, run: &Run<'_>) -> Result<(), StoreError> {
    let mut cq = shared.queue_or_create(run.topic, run.queue_id)?;
    if let Some(first) = run.entries.first().filter(|_| run.first < cq.max_offset()) {
        // Re-dispatched records lie at or before the queue's last entry; one after it that
        // claims an offset the queue has passed belongs to a queue made again.
        let last = cq.entry(cq.max_offset() - 1)?;
        let there = cq.entry(run.first)?;
        let newer = last.is_some_and(|l| first.phys_offset > l.phys_offset);
        if newer || there.is_some_and(|e| e.phys_offset != first.phys_offset) {
            tracing::warn!(
                topic = run.topic,
                queue_id = run.queue_id,
                offset = run.first,
                there = there.map(|e| e.phys_offset),
                arriving = first.phys_offset,
                "a queue offset taken by another record: the queue was made again on the master; the old entries are dropped"
            );
            cq = shared.reset_queue(run.topic, run.queue_id)?;
        }
    }
    let skip = (cq.max_offset() - run.first).clamp(0, run.entries.len() as i64) as usize;
    if skip < run.entries.len() {
        cq.put_run(run.first + skip as i64, &run.entries[skip..])?;
    }
    Ok(())
}

/// Key-index entries. See the module doc.
pub(crate) struct IndexDispatcher;

impl StoreDispatcher for IndexDispatcher {
    fn name(&self) -> &'static str {
        "index"
    }

    fn dispatch(&self, shared: &Shared, batch: &[DispatchRequest<'_>]) -> Result<(), StoreError> {
        // Keys of records below this are in the index already (recovery re-dispatch).
        let skip_below = shared.index_skip_below.load(Ordering::Acquire);
        let mut result = Ok(());
        for r in batch.iter().filter(|r| r.phys_offset >= skip_below) {
            result = result.and(shared.index.add(r.topic, r.keys.iter().map(String::as_str), r.phys_offset, r.store_timestamp));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::StoreConfig;
    use crate::index::{IndexLimits, KeyIndex};
    use crate::record::tests::encode;

    fn shared(dir: &std::path::Path) -> Shared {
        let mut config = StoreConfig::new(dir);
        config.consume_queue_file_entries = 4;
        let index = KeyIndex::open(config.index_dir(), IndexLimits { hash_slots: 16, entries: 64 }).unwrap();
        Shared::new(config, index)
    }

    /// (topic, queue id, queue offset, sys flag) → a record and its request.
    fn records(specs: &[(&'static str, i32, i64, i32)]) -> Vec<(bytes::BytesMut, Vec<String>)> {
        specs
            .iter()
            .enumerate()
            .map(|(i, s)| (encode(s.0, "127.0.0.1:1", "127.0.0.1:2", b"b", &format!("TAGS\u{1}t{i}\u{2}"), s.3), vec![format!("k{i}")]))
            .collect()
    }

    fn requests<'a>(specs: &[(&'a str, i32, i64, i32)], recs: &'a [(bytes::BytesMut, Vec<String>)]) -> Vec<DispatchRequest<'a>> {
        specs
            .iter()
            .zip(recs)
            .enumerate()
            .map(|(i, (s, (rec, keys)))| DispatchRequest {
                topic: s.0,
                queue_id: s.1,
                queue_offset: s.2,
                phys_offset: 100 * i as i64,
                size: 100,
                sys_flag: s.3,
                tags_code: i as i64,
                keys,
                store_timestamp: 1_700_000_000_000,
                record: rec,
            })
            .collect()
    }

    #[test]
    fn one_run_per_queue_and_what_is_there_already_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let shared = shared(dir.path());
        let specs = [("A", 0, 0, 0), ("A", 0, 1, 0), ("B", 0, 0, 0), ("A", 0, 2, 0), ("C", 1, 0, sys_flag::TRANSACTION_PREPARED)];
        let recs = records(&specs);
        let batch = requests(&specs, &recs);
        let runs = runs(&batch);
        let shape: Vec<_> = runs.iter().map(|r| (r.topic, r.queue_id, r.first, r.entries.len())).collect();
        assert_eq!(shape, vec![("A", 0, 0, 3), ("B", 0, 0, 1), ("C", 1, 0, 0)]);

        let list = Dispatchers::standard(Vec::new());
        list.dispatch(&shared, &batch).unwrap();
        let a = shared.queue("A", 0).unwrap();
        assert_eq!(a.read(0, 8).unwrap().iter().map(|e| e.phys_offset).collect::<Vec<_>>(), vec![0, 100, 300]);
        assert_eq!(shared.queue("B", 0).unwrap().max_offset(), 1);
        assert_eq!(shared.queue("C", 1).map(|q| q.max_offset()), Some(0), "a prepared record makes no entry");
        assert_eq!(shared.index.candidates("C", "k4", 8, 0, i64::MAX), vec![400], "but its keys are indexed");
        let dirty = shared.dirty_queues.lock().unwrap().clone();
        assert_eq!(dirty.len(), 3);

        // Recovery hands the same records again, plus one more: only the new one is written.
        shared.index_skip_below.store(500, Ordering::Release);
        let specs = [("A", 0, 1, 0), ("A", 0, 2, 0), ("A", 0, 3, 0)];
        let recs = records(&specs);
        let mut again = requests(&specs, &recs);
        // The same records where they lie, then a new one.
        (again[0].phys_offset, again[1].phys_offset, again[2].phys_offset) = (100, 300, 500);
        list.dispatch(&shared, &again).unwrap();
        assert_eq!(a.read(0, 8).unwrap().iter().map(|e| e.phys_offset).collect::<Vec<_>>(), vec![0, 100, 300, 500]);
        assert_eq!(shared.index.candidates("A", "k0", 8, 0, i64::MAX), vec![0], "keys below index_skip_below are not indexed twice");
    }

    #[test]
    fn a_queue_offset_taken_by_another_record_drops_the_old_queue() {
        let dir = tempfile::tempdir().unwrap();
        let shared = shared(dir.path());
        let list = Dispatchers::standard(Vec::new());
        let specs = [("A", 0, 0, 0), ("A", 0, 1, 0), ("A", 0, 2, 0), ("A", 0, 3, 0), ("A", 0, 4, 0), ("A", 0, 5, 0)];
        let recs = records(&specs);
        list.dispatch(&shared, &requests(&specs, &recs)).unwrap();
        assert_eq!(shared.queue("A", 0).unwrap().max_offset(), 6);
        // The master deleted A and made it again: its offset 0 is now a record further on.
        let specs = [("A", 0, 0, 0), ("A", 0, 1, 0)];
        let recs = records(&specs);
        let mut again = requests(&specs, &recs);
        again[0].phys_offset = 1000;
        again[1].phys_offset = 1100;
        list.dispatch(&shared, &again).unwrap();
        let a = shared.queue("A", 0).unwrap();
        assert_eq!(a.max_offset(), 2, "the old entries are gone");
        assert_eq!(a.read(0, 8).unwrap().iter().map(|e| e.phys_offset).collect::<Vec<_>>(), vec![1000, 1100]);
    }

    #[test]
    fn a_newer_record_below_a_queue_start_drops_the_old_queue() {
        let dir = tempfile::tempdir().unwrap();
        let shared = shared(dir.path());
        let list = Dispatchers::standard(Vec::new());
        // A replica's copy of a queue whose start retention removed: it begins at offset 4.
        let specs = [("A", 0, 4, 0), ("A", 0, 5, 0)];
        let recs = records(&specs);
        list.dispatch(&shared, &requests(&specs, &recs)).unwrap();
        assert_eq!(shared.queue("A", 0).unwrap().min_offset(), 4);
        // The queue made again on the master: offset 0, a record after everything in it.
        let specs = [("A", 0, 0, 0)];
        let recs = records(&specs);
        let mut again = requests(&specs, &recs);
        again[0].phys_offset = 1000;
        list.dispatch(&shared, &again).unwrap();
        let a = shared.queue("A", 0).unwrap();
        assert_eq!((a.min_offset(), a.max_offset()), (0, 1));
        assert_eq!(a.read(0, 8).unwrap().iter().map(|e| e.phys_offset).collect::<Vec<_>>(), vec![1000]);
    }

    /// Records what it is given; fails when told to.
    struct Recorder {
        seen: std::sync::Arc<Mutex<Vec<String>>>,
        fail: bool,
    }

    impl Dispatcher for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }

        fn dispatch(&self, batch: &[DispatchRequest<'_>]) -> Result<(), StoreError> {
            let mut seen = self.seen.lock().unwrap();
            seen.extend(batch.iter().map(|r| r.properties().unwrap_or("?").to_string()));
            if self.fail {
                return Err(StoreError::Corrupt { path: "x".into(), offset: 0, reason: "told to".into() });
            }
            Ok(())
        }
    }

    #[test]
    fn every_dispatcher_runs_in_order_and_sees_the_properties() {
        let dir = tempfile::tempdir().unwrap();
        let shared = shared(dir.path());
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let list = Dispatchers::standard(vec![Box::new(Recorder { seen: seen.clone(), fail: true }), Box::new(Recorder { seen: seen.clone(), fail: false })]);
        let specs = [("A", 0, 0, 0), ("A", 0, 1, 0)];
        let recs = records(&specs);
        let err = list.dispatch(&shared, &requests(&specs, &recs)).unwrap_err();
        assert!(err.to_string().contains("told to"), "the first failure is returned");
        assert_eq!(shared.queue("A", 0).unwrap().max_offset(), 2, "the store's own run first");
        let tags = |i| format!("TAGS\u{1}t{i}\u{2}");
        assert_eq!(*seen.lock().unwrap(), vec![tags(0), tags(1), tags(0), tags(1)]);
    }
}
