//! Epochs of a replicated CommitLog: each time a broker group gets a new master, that master
//! starts a new epoch at the offset its log ends, and every replica records the same entry
//! when its copy reaches it. Two logs agree up to the end of the newest epoch both have with
//! the same start; past that point a log that served as a master while the group had moved
//! on (a returning old master) holds records nobody else has, and is truncated there before
//! it follows (RocketMQ 5's `EpochFileCache` and its consistent-point search, rewritten).
//!
//! [`EpochLog`] is pure data; [`EpochFile`] keeps one in `<root>/epoch` (written whole, then
//! renamed).

use std::path::{Path, PathBuf};

/// One epoch: from `start` on, the records were written by that epoch's master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    pub epoch: u32,
    pub start: u64,
}

/// A log's epochs, oldest first: epochs and starts both strictly increase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochLog {
    entries: Vec<Epoch>,
}

impl EpochLog {
    pub fn new(entries: Vec<Epoch>) -> Result<EpochLog, String> {
        for pair in entries.windows(2) {
            if pair[1].epoch <= pair[0].epoch || pair[1].start < pair[0].start {
                return Err(format!("epoch {} at {} cannot follow epoch {} at {}", pair[1].epoch, pair[1].start, pair[0].epoch, pair[0].start));
            }
        }
        Ok(EpochLog { entries })
    }

    pub fn entries(&self) -> &[Epoch] {
        &self.entries
    }

    pub fn last(&self) -> Option<Epoch> {
        self.entries.last().copied()
    }

    /// Records a new epoch starting at `start`. An epoch not newer than the last, or a start
    /// before the last one's, is refused. (An epoch that wrote nothing stays, empty: another log
    /// may know it, and the comparison needs a shared epoch.)
    pub fn begin(&mut self, epoch: u32, start: u64) -> Result<(), String> {
        if let Some(last) = self.last() {
            if epoch <= last.epoch {
                return Err(format!("epoch {epoch} is not newer than {}", last.epoch));
            }
            if start < last.start {
                return Err(format!("epoch {epoch} cannot start at {start}, before epoch {} at {}", last.epoch, last.start));
            }
        }
        self.entries.push(Epoch { epoch, start });
        Ok(())
    }

    /// Where epoch `i` ends in a log that ends at `log_end`.
    fn end_of(&self, i: usize, log_end: u64) -> u64 {
        self.entries.get(i + 1).map_or(log_end, |next| next.start)
    }

    /// The epoch the record at `offset` belongs to.
    pub fn epoch_at(&self, offset: u64) -> Option<u32> {
        self.entries.iter().rev().find(|e| e.start <= offset).map(|e| e.epoch)
    }

    /// Drops what lies at or past `offset`: epochs that start there or later go.
    pub fn truncate(&mut self, offset: u64) {
        self.entries.retain(|e| e.start < offset);
    }

    /// Where a log (`self`, ending at `local_end`) stops agreeing with the master's
    /// (`master`, ending at `master_end`): the end of the newest epoch both have with the
    /// same start, cut to the shorter of the two. `Some(0)` for a log with no epochs (it
    /// has nothing to keep, or is empty); `None` when they share no epoch (the local log is
    /// not from this group's history: it cannot follow without being emptied).
    pub fn consistent_point(&self, local_end: u64, master: &EpochLog, master_end: u64) -> Option<u64> {
        if self.entries.is_empty() {
            return Some(0);
        }
        for (i, mine) in self.entries.iter().enumerate().rev() {
            if let Some(j) = master.entries.iter().position(|e| e.epoch == mine.epoch) {
                if master.entries[j].start != mine.start {
                    continue;
                }
                return Some(self.end_of(i, local_end).min(master.end_of(j, master_end)));
            }
        }
        None
    }
}

/// An [`EpochLog`] kept in a file: one `epoch start` line per epoch.
pub struct EpochFile {
    path: PathBuf,
    log: EpochLog,
}

impl EpochFile {
    pub fn open(root: &Path) -> Result<EpochFile, String> {
        let path = root.join("epoch");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut entries = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let parsed = line.split_once(' ').and_then(|(e, s)| Some(Epoch { epoch: e.trim().parse().ok()?, start: s.trim().parse().ok()? }));
            entries.push(parsed.ok_or_else(|| format!("{}: bad line `{line}`", path.display()))?);
        }
        let log = EpochLog::new(entries).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(EpochFile { path, log })
    }

    pub fn log(&self) -> &EpochLog {
        &self.log
    }

    pub fn begin(&mut self, epoch: u32, start: u64) -> Result<(), String> {
        let mut next = self.log.clone();
        next.begin(epoch, start)?;
        self.save(next)
    }

    pub fn truncate(&mut self, offset: u64) -> Result<(), String> {
        let mut next = self.log.clone();
        next.truncate(offset);
        self.save(next)
    }

    fn save(&mut self, next: EpochLog) -> Result<(), String> {
        let text: String = next.entries.iter().map(|e| format!("{} {}\n", e.epoch, e.start)).collect();
        let tmp = self.path.with_extension("tmp");
        let io = |e: std::io::Error| format!("{}: {e}", self.path.display());
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            crate::commitlog::sync_dir(dir).map_err(|e| e.to_string())?;
        }
        self.log = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(pairs: &[(u32, u64)]) -> EpochLog {
        EpochLog::new(pairs.iter().map(|&(epoch, start)| Epoch { epoch, start }).collect()).unwrap()
    }

    #[test]
    fn epochs_only_move_forward() {
        let mut l = log(&[(1, 0)]);
        assert!(l.begin(1, 10).is_err());
        assert!(l.begin(2, 0).is_ok(), "an epoch that wrote nothing stays");
        assert_eq!(l.entries(), &[Epoch { epoch: 1, start: 0 }, Epoch { epoch: 2, start: 0 }]);
        l.begin(3, 100).unwrap();
        assert!(l.begin(4, 50).is_err());
        assert_eq!(l.epoch_at(99), Some(2));
        assert_eq!(l.epoch_at(100), Some(3));
        assert!(EpochLog::new(vec![Epoch { epoch: 2, start: 0 }, Epoch { epoch: 1, start: 5 }]).is_err());
    }

    #[test]
    fn the_consistent_point_is_where_the_shared_history_ends() {
        let master = log(&[(1, 0), (2, 500), (4, 900)]);
        // A replica that followed epoch 2 and fell behind: nothing to cut.
        assert_eq!(log(&[(1, 0), (2, 500)]).consistent_point(700, &master, 1200), Some(700));
        // The old master of epoch 2 wrote past where epoch 4 began: cut at 900.
        assert_eq!(log(&[(1, 0), (2, 500)]).consistent_point(1000, &master, 1200), Some(900));
        // It was master of epoch 3, which nobody else has: back to where epoch 2 ended for it.
        assert_eq!(log(&[(1, 0), (2, 500), (3, 800)]).consistent_point(850, &master, 1200), Some(800));
        // Same epoch number, different start: not the same epoch.
        assert_eq!(log(&[(1, 0), (2, 400)]).consistent_point(450, &master, 1200), Some(400));
        assert_eq!(log(&[(7, 0)]).consistent_point(10, &master, 1200), None);
        assert_eq!(EpochLog::default().consistent_point(0, &master, 1200), Some(0));
        // The first master's epoch began on an empty log: a replica's epoch 0 tail goes.
        let first = log(&[(0, 0), (1, 0)]);
        assert_eq!(log(&[(0, 0)]).consistent_point(300, &first, 900), Some(0));
        assert_eq!(log(&[(0, 0)]).consistent_point(0, &first, 900), Some(0));
    }

    #[test]
    fn the_file_keeps_what_was_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = EpochFile::open(dir.path()).unwrap();
        f.begin(1, 0).unwrap();
        f.begin(2, 4096).unwrap();
        f.truncate(4096).unwrap();
        f.begin(3, 8192).unwrap();
        let again = EpochFile::open(dir.path()).unwrap();
        assert_eq!(again.log(), &log(&[(1, 0), (3, 8192)]));
        std::fs::write(dir.path().join("epoch"), "1 0\nx\n").unwrap();
        assert!(EpochFile::open(dir.path()).is_err());
    }
}
