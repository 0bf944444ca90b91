//! The message store: one CommitLog of RocketMQ stored-message records, a ConsumeQueue
//! per topic and queue, and a key index.
//!
//! Writes have one owner: [`appender`] runs on its own thread, takes batches of put
//! requests from a bounded queue, writes them with one `pwritev`, dispatches them to the
//! consume queues and the index, group-commits with one `fdatasync` when the flush
//! mode asks for it, and only then answers each sender. Readers share the files
//! through positional reads and never see bytes past the published write end.

mod appender;
mod arrivals;
mod cleaner;
pub mod clock;
mod commitlog;
mod config;
mod consume_queue;
mod disk;
mod dispatch;
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
pub mod retention;
mod shared;
mod store;
mod threads;
mod warmer;

pub use arrivals::Arrivals;
pub use clock::{Clock, ManualClock, SystemClock};
pub use commitlog::SEGMENT_NAME_DIGITS;
pub use config::{FlushMode, StoreConfig};
pub use consume_queue::CQ_ENTRY_BYTES;
pub use error::StoreError;
pub use filter::{AcceptAll, MessageFilter};
pub use get::{GetResult, GetStatus};
pub use index::IndexLimits;
pub use lookup::BoundaryType;
pub use put::{EncodedRecord, PutError, PutMessage, PutResult};
pub use retention::RetentionPolicy;
pub use store::Store;
