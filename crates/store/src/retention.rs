//! What to delete, decided without I/O: whole CommitLog files, oldest first, never the
//! one being written. Files older than `fileReservedTime` go at the `deleteWhen` hours or
//! whenever the disk is fuller than `diskMaxUsedSpaceRatio`; above
//! `diskSpaceCleanForciblyRatio` the oldest go whatever their age.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPolicy {
    pub file_reserved_time: Duration,
    /// Hours of the day (0–23) at which expired files are deleted.
    pub delete_when_hours: Vec<u32>,
    pub disk_max_used_space_ratio: f64,
    pub disk_space_clean_forcibly_ratio: f64,
    /// Writes are refused above this ratio.
    pub disk_space_warning_level_ratio: f64,
    pub delete_file_batch_max: usize,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            file_reserved_time: Duration::from_secs(72 * 3600),
            delete_when_hours: vec![4],
            disk_max_used_space_ratio: 0.75,
            disk_space_clean_forcibly_ratio: 0.85,
            disk_space_warning_level_ratio: 0.90,
            delete_file_batch_max: 10,
        }
    }
}

/// One CommitLog file as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileAge {
    pub base: u64,
    /// When the file was last written, in ms since the epoch.
    pub modified_ms: i64,
}

/// Bases of the files to delete now. `files` is oldest first and its last entry is
/// the file being written, which is never deleted.
pub fn plan(policy: &RetentionPolicy, files: &[FileAge], now_ms: i64, hour_of_day: u32, disk_used_ratio: f64) -> Vec<u64> {
    let Some((_current, older)) = files.split_last() else { return Vec::new() };
    let forced = disk_used_ratio > policy.disk_space_clean_forcibly_ratio;
    let time_to_delete = policy.delete_when_hours.contains(&hour_of_day) || disk_used_ratio > policy.disk_max_used_space_ratio;
    let reserved_ms = policy.file_reserved_time.as_millis() as i64;
    older
        .iter()
        .take_while(|f| forced || (time_to_delete && now_ms - f.modified_ms >= reserved_ms))
        .take(policy.delete_file_batch_max)
        .map(|f| f.base)
        .collect()
}

/// Parses `deleteWhen`: hours separated by `;`, e.g. "04" or "04;16".
pub fn parse_delete_when(text: &str) -> Result<Vec<u32>, String> {
    text.split(';')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| h.parse::<u32>().ok().filter(|h| *h < 24).ok_or_else(|| format!("`{h}` is not an hour 0-23")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn files(ages_h: &[i64], now: i64) -> Vec<FileAge> {
        ages_h.iter().enumerate().map(|(i, a)| FileAge { base: i as u64 * 100, modified_ms: now - a * HOUR }).collect()
    }

    #[test]
    fn expired_files_go_at_the_delete_hour_only() {
        let p = RetentionPolicy::default();
        let now = 1_000 * HOUR;
        let f = files(&[100, 80, 50, 1], now);
        assert_eq!(plan(&p, &f, now, 4, 0.1), vec![0, 100]);
        assert!(plan(&p, &f, now, 5, 0.1).is_empty());
        // A disk over diskMaxUsedSpaceRatio does not wait for the hour.
        assert_eq!(plan(&p, &f, now, 5, 0.8), vec![0, 100]);
    }

    #[test]
    fn a_full_disk_deletes_the_oldest_whatever_their_age_but_never_the_current_file() {
        let p = RetentionPolicy { delete_file_batch_max: 2, ..Default::default() };
        let now = 1_000 * HOUR;
        assert_eq!(plan(&p, &files(&[3, 2, 1, 0], now), now, 5, 0.9), vec![0, 100]);
        assert!(plan(&p, &files(&[3], now), now, 4, 0.99).is_empty());
        assert!(plan(&p, &[], now, 4, 0.99).is_empty());
    }

    #[test]
    fn delete_when_parses_hours() {
        assert_eq!(parse_delete_when("04;16").unwrap(), vec![4, 16]);
        assert!(parse_delete_when("25").is_err());
    }
}
