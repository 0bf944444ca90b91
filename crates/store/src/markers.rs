//! The small files that tell recovery how the last run ended and how far it may trust
//! what is on disk: `abort` (present while a store is open), `clean_shutdown` (where the
//! CommitLog ended at a clean shutdown) and `checkpoint` (the offset below which the
//! consume queues and the index are synced).

use std::path::Path;

/// Present while a store is open; found at start it means the last run did not shut down
/// cleanly (RocketMQ's `abort` file).
pub(crate) const ABORT_FILE: &str = "abort";
/// Written at a clean shutdown: the CommitLog end offset and where its last record starts,
/// in decimal, separated by a space.
pub(crate) const CLEAN_END_FILE: &str = "clean_shutdown";
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint";

/// What a clean shutdown recorded.
#[derive(Clone, Copy)]
pub(crate) struct CleanEnd {
    pub end: u64,
    pub last_record: Option<u64>,
}

pub(crate) fn read_clean_end(root: &Path) -> Option<CleanEnd> {
    let text = std::fs::read_to_string(root.join(CLEAN_END_FILE)).ok()?;
    let mut parts = text.split_whitespace();
    let end = parts.next()?.parse().ok()?;
    Some(CleanEnd { end, last_record: parts.next().and_then(|p| p.parse().ok()) })
}

/// Whether the last run ended without a clean shutdown (its `abort` file is still there).
pub(crate) fn crashed(root: &Path) -> bool {
    root.join(ABORT_FILE).exists()
}

/// At open, after recovery: a crash from now on leaves `abort` behind, and the old
/// clean-shutdown record no longer describes the log.
pub(crate) fn mark_open(root: &Path) -> std::io::Result<()> {
    std::fs::write(root.join(ABORT_FILE), b"")?;
    // A stale record left behind is harmless: recovery reads it only when `abort` is absent.
    let _ = std::fs::remove_file(root.join(CLEAN_END_FILE));
    Ok(())
}

/// At a clean shutdown, once everything is flushed: records where the log ends, then drops
/// the crash marker.
pub(crate) fn mark_clean_shutdown(root: &Path, end: u64, last_record: Option<u64>) -> std::io::Result<()> {
    let text = match last_record {
        Some(l) => format!("{end} {l}"),
        None => end.to_string(),
    };
    std::fs::write(root.join(CLEAN_END_FILE), text)?;
    std::fs::remove_file(root.join(ABORT_FILE))
}

/// The CommitLog offset below which every record is flushed and its consume-queue and
/// index entries are synced: 8 bytes big-endian, then their CRC32.
pub(crate) fn read_checkpoint(root: &Path) -> Option<u64> {
    let b = std::fs::read(root.join(CHECKPOINT_FILE)).ok()?;
    if b.len() != 12 || crc32fast::hash(&b[..8]).to_be_bytes() != b[8..12] {
        tracing::warn!("checkpoint unreadable; recovery scans the whole CommitLog");
        return None;
    }
    Some(u64::from_be_bytes(b[..8].try_into().ok()?))
}

/// Replaces the checkpoint atomically (write, fsync, rename, fsync the directory).
pub(crate) fn write_checkpoint(root: &Path, offset: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut b = offset.to_be_bytes().to_vec();
    b.extend_from_slice(&crc32fast::hash(&b).to_be_bytes());
    let tmp = root.join("checkpoint.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&b)?;
    f.sync_data()?;
    std::fs::rename(tmp, root.join(CHECKPOINT_FILE))?;
    std::fs::File::open(root)?.sync_all()
}
