//! The message store: one CommitLog of RocketMQ stored-message records, a ConsumeQueue
//! per topic and queue, and a key index.
//!
//! Writes have one owner: [`appender`] runs on its own thread, takes batches of put
//! requests from a bounded queue, writes them with one `pwritev`, dispatches them to the
//! consume queues and the index, group-commits with one `fdatasync` when the flush
//! mode asks for it, and only then answers each sender. Readers share the files
//! through positional reads and never see bytes past the published write end.

mod appender;
pub mod clock;
mod commitlog;
mod consume_queue;
mod error;
mod index;
mod recovery;
pub mod retention;
mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use commitlog::SEGMENT_NAME_DIGITS;
pub use consume_queue::CQ_ENTRY_BYTES;
pub use error::{PutError, StoreError};
pub use index::IndexLimits;
pub use retention::RetentionPolicy;
pub use store::{Arrivals, BoundaryType, EncodedRecord, FlushMode, GetResult, GetStatus, PutMessage, PutResult, Store, StoreConfig};
