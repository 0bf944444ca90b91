//! Config files under `<storePathRootDir>/config/`, written atomically (temp file, fsync,
//! rename) so a crash leaves either the old or the new version.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use serde::de::DeserializeOwned;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // The rename itself must survive a power loss.
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Loads a JSON file; a missing file gives the default, a damaged one an error.
pub fn load<T: DeserializeOwned + Default>(path: &Path) -> std::io::Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e),
    }
}

/// A config file kept up to date by a thread of its own, so that a change made while serving
/// a request (a topic auto-created on send, a group on heartbeat) neither waits for two
/// fsyncs on an async worker nor races another change's write: `mark` asks for the current
/// state to be written and returns; marks made while a write is under way coalesce into the
/// next one, which snapshots the state afresh, so the file never goes back to an older state.
/// `flush` waits until everything marked so far is written (admin changes, shutdown).
pub struct Persister {
    shared: Arc<PersisterShared>,
}

struct PersisterShared {
    path: PathBuf,
    what: &'static str,
    /// (changes marked, changes written, stopping)
    state: Mutex<(u64, u64, bool)>,
    changed: Condvar,
}

impl Persister {
    /// Starts the writer thread; `snapshot` gives the bytes of the current state.
    pub fn start(path: PathBuf, what: &'static str, snapshot: impl Fn() -> Vec<u8> + Send + 'static) -> std::io::Result<Persister> {
        let shared = Arc::new(PersisterShared { path, what, state: Mutex::new((0, 0, false)), changed: Condvar::new() });
        let s = shared.clone();
        std::thread::Builder::new().name(format!("persist-{what}")).spawn(move || s.run(snapshot))?;
        Ok(Persister { shared })
    }

    /// A persister of `state` as pretty JSON (what the Java broker writes).
    pub fn json<T: serde::Serialize + Send + Sync + 'static>(path: PathBuf, what: &'static str, state: Arc<RwLock<T>>) -> std::io::Result<Persister> {
        Persister::start(path, what, move || serde_json::to_vec_pretty(&*state.read().unwrap_or_else(|e| e.into_inner())).unwrap_or_default())
    }

    /// Writes the current state and waits for it.
    pub fn save(&self) {
        self.mark();
        self.flush();
    }

    /// Asks for the current state to be written, without waiting.
    pub fn mark(&self) {
        let mut st = self.shared.lock();
        st.0 += 1;
        self.shared.changed.notify_all();
    }

    /// Waits until every change marked so far is written (or its write failed, which is logged).
    pub fn flush(&self) {
        let mut st = self.shared.lock();
        let target = st.0;
        while st.1 < target && !st.2 {
            st = self.shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.flush();
        self.shared.lock().2 = true;
        self.shared.changed.notify_all();
    }
}

impl PersisterShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, u64, bool)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, snapshot: impl Fn() -> Vec<u8>) {
        loop {
            let target = {
                let mut st = self.lock();
                while st.0 == st.1 && !st.2 {
                    st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                if st.0 == st.1 {
                    return; // stopping, nothing left to write
                }
                st.0
            };
            // Taken after the marks up to `target`, so it holds their changes.
            if let Err(e) = write_atomic(&self.path, &snapshot()) {
                tracing::error!(path = %self.path.display(), error = %e, "failed to persist {}", self.what);
            }
            let mut st = self.lock();
            st.1 = target;
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn marks_coalesce_and_flush_sees_the_latest_state_on_disk() {
        let dir = std::env::temp_dir().join(format!("rocketry-persister-{}", std::process::id()));
        let path = dir.join("state.json");
        let state = Arc::new(AtomicU64::new(0));
        let writes = Arc::new(AtomicU64::new(0));
        let (s, w) = (state.clone(), writes.clone());
        let p = Persister::start(path.clone(), "test state", move || {
            w.fetch_add(1, Ordering::SeqCst);
            s.load(Ordering::SeqCst).to_string().into_bytes()
        })
        .unwrap();
        for i in 1..=200 {
            state.store(i, Ordering::SeqCst);
            p.mark();
        }
        p.flush();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "200", "the last state is on disk once flushed");
        let n = writes.load(Ordering::SeqCst);
        assert!((1..=200).contains(&n), "{n} writes for 200 marks");
        // Dropping writes what is still marked.
        state.store(201, Ordering::SeqCst);
        p.mark();
        drop(p);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "201");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
