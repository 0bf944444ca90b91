//! The store's threads, started once recovery is done: the appender (the one writer), the
//! flusher, the cleaner, and (when configured) the warmer. Each runs until the store stops.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use crate::appender::{Appender, Job};
use crate::cleaner::periodic_clean;
use crate::commitlog::Tail;
use crate::dispatch::Dispatchers;
use crate::flusher::periodic_flush;
use crate::shared::Shared;
use crate::warmer::warm_ahead;
use crate::StoreError;

pub(crate) fn start(
    shared: Arc<Shared>,
    jobs: (mpsc::WeakSender<Job>, mpsc::Receiver<Job>),
    tail: Tail,
    dispatchers: Dispatchers,
) -> Result<Vec<JoinHandle<()>>, StoreError> {
    let (tx, rx) = jobs;
    let appender = Appender::new(shared.clone(), tail, dispatchers);
    let mut threads = vec![thread("store-appender", Some(libc::SCHED_BATCH), move || appender.run(rx))?];
    let s = shared.clone();
    threads.push(thread("store-cleaner", None, move || periodic_clean(s, tx))?);
    if shared.config.warm_ahead_bytes > 0 {
        let s = shared.clone();
        threads.push(thread("store-warmer", Some(libc::SCHED_IDLE), move || warm_ahead(s))?);
    }
    threads.push(thread("store-flusher", Some(libc::SCHED_BATCH), move || periodic_flush(shared))?);
    Ok(threads)
}

/// Starts a named store thread, under `policy` when given.
///
/// `SCHED_BATCH` (appender, flusher): waking the thread does not preempt the thread that woke
/// it. A sender that wakes the appender goes on reading requests, so the appender finds a batch
/// instead of one message (on one core, wake-up preemption made every put two context
/// switches). `SCHED_IDLE` (warmer): the thread runs only when nothing else wants its core.
/// Best effort: without the policy the thread runs as any other.
fn thread(name: &'static str, policy: Option<libc::c_int>, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Some(policy) = policy {
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: plain system call on the calling thread (pid 0) with a valid parameter.
                if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
                    tracing::debug!(thread = name, error = %std::io::Error::last_os_error(), "scheduling policy not set");
                }
            }
            f()
        })
        .map_err(|e| StoreError::io(format!("{name} thread"), e))
}
