//! The message store: one CommitLog of RocketMQ stored-message records, a ConsumeQueue
//! per topic and queue, and a key index.
//!
//! Writes have one owner: `appender` runs on its own thread, takes batches of put
//! requests from a bounded queue, writes them with one `pwritev`, hands them to the
//! dispatchers (`dispatch`: consume queues, index, then the owner's from `Store::open_with`), group-commits with one
//! `fdatasync` when the flush mode asks for it, and only then answers each sender. Readers
//! share the files through positional reads and never see bytes past the published write
//! end; a read keeps what its [`MessageFilter`] accepts.
//!
//! # Modules
//!
//! Each module uses only modules listed below it (and `error`), so the graph has no cycles.
//!
//! | module | what | uses |
//! |---|---|---|
//! | `store` | `Store`: open, put, get, lookups, shutdown | threads, recovery, get, lookup, cleaner, appender, dispatch, shared, markers, filter, put, config, index, arrivals |
//! | `threads` | starts the store's threads | appender, cleaner, flusher, warmer, dispatch, shared, commitlog |
//! | `cleaner` | retention passes | appender (its `Job`), shared, retention |
//! | `appender` | the one writer (and a replica's appends) | dispatch, flusher, shared, record, put, commitlog, config, replica, scan |
//! | `replica` | replication: whole records out of a master's log, checks of what a replica receives | shared |
//! | `recovery` | startup repair: where the log ends, what to trust | scan, dispatch, shared, markers, commitlog |
//! | `scan` | reading segments back: record checks, damage searches | dispatch, shared, commitlog, tags (through config) |
//! | `get` | the pull read | shared, filter, record, consume_queue |
//! | `lookup` | reads by CommitLog offset, key, time | shared, consume_queue |
//! | `warmer` | pages ahead of the write end | shared, commitlog |
//! | `flusher` | fdatasync, checkpoint, drops behind the cache window | shared, commitlog, config |
//! | `dispatch` | the dispatcher list | shared, consume_queue, record |
//! | `shared` | the state the threads share | config, commitlog, consume_queue, index, arrivals, disk, markers |
//! | `disk` | disk usage and the disk-full check | config, commitlog |
//! | `config` | `StoreConfig`, `FlushMode` | clock, tags, index, retention |
//! | `filter` | `MessageFilter`, its `Verdict` on consume-queue entries | consume_queue |
//! | `consume_queue` | one queue's 20-byte entries | commitlog |
//! | `commitlog` | segments, positional reads | error |
//! | `index` | the key index files | error |
//! | `epoch` | a replicated log's epochs and where two logs stop agreeing; the epoch file | commitlog (`sync_dir`) |
//! | `markers`, `record`, `arrivals`, `put`, `retention`, `clock`, `tags`, `error` | `abort`/`clean_shutdown`/`checkpoint` files; fields of stored bytes; pull wake-ups; put types; the retention plan; `Clock`; `TagCodeRule`; `StoreError` | — |
//!
//! # Locks
//!
//! The store's std locks, each guarding data in memory:
//!
//! | lock | guards | taken by |
//! |---|---|---|
//! | `CommitLog::segments` (RwLock) | the list of segment files | appender (roll, rewind), cleaner (drop the oldest), recovery; readers copy an `Arc<Segment>` out |
//! | `Shared::queues` (RwLock) | the table of consume queues | appender (create, delete topic); everyone else looks up and clones an `Arc` |
//! | `Shared::dirty_queues` (Mutex) | queues written since the last checkpoint | consume-queue dispatcher and recovery (add), flusher (take) |
//! | `Arrivals::waiters` (Mutex) | a `Notify` per parked queue | pulls (register), appender (look up, then wake outside it) |
//! | `ConsumeQueue::files` (RwLock) | one queue's file handles | appender (new file, delete topic, drop below the CommitLog's min); readers and the flusher copy handles out |
//! | `KeyIndex::files` (RwLock) | the list of index files | appender (new file), cleaner (drop the oldest); others copy |
//! | `IndexFile::map` (Mutex) | one index file's memory map | appender (add), readers (lookup), cleaner (end offset), flusher (msync) |
//! | `Store::threads`, `Store::lock` (Mutex) | thread handles, the directory's flock | shutdown |
//! | `Shared::truncations` (Mutex) | the truncation count, and moves of the flushed end | flushes (around one sync), the appender's truncation |
//!
//! **Rule: no store code holds two of them at once**, so there is no order to keep. A lock
//! is held to read or change what it guards, or to clone an `Arc` out of it; the work is
//! done after it is released (tokio's `Notify` and channels, which take locks of their
//! own, are called outside them too). No lock is held across an `.await`, nor across a
//! file system call but one: `IndexFile::map` is held across the index's `msync` at a
//! checkpoint, so an index add waits for that flush (and the map's reads and writes under
//! it may fault pages in).

mod appender;
mod arrivals;
mod cleaner;
pub mod clock;
mod commitlog;
mod config;
mod consume_queue;
mod disk;
mod dispatch;
pub mod epoch;
mod error;
mod filter;
mod flusher;
mod get;
mod index;
mod lookup;
mod markers;
mod put;
mod record;
mod recovery;
mod replica;
pub mod retention;
mod scan;
mod shared;
mod store;
mod tags;
mod threads;
mod warmer;

pub use arrivals::Arrivals;
pub use clock::{Clock, ManualClock, SystemClock};
pub use commitlog::SEGMENT_NAME_DIGITS;
pub use config::{FlushMode, StoreConfig};
pub use consume_queue::{CqEntry, CQ_ENTRY_BYTES};
pub use dispatch::{DispatchRequest, Dispatcher};
pub use error::StoreError;
pub use filter::{AcceptAll, MessageFilter, Verdict};
pub use get::{GetResult, GetStatus};
pub use index::IndexLimits;
pub use lookup::BoundaryType;
pub use put::{EncodedRecord, PutError, PutMessage, PutResult};
pub use replica::{ReplicaRead, ReplicateError};
pub use retention::RetentionPolicy;
pub use store::Store;
pub use tags::{TagCodeRule, TagsHash};
