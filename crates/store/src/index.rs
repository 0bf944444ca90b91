//! Key index: `topic#key` (each KEYS entry and the UNIQ_KEY) to CommitLog offsets.
//!
//! First version: held in memory and rebuilt from the CommitLog during recovery. Keys
//! are stored as a 64-bit hash; a query verifies topic and key on the message itself,
//! so a hash collision costs a read, never a wrong answer.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::RwLock;

#[derive(Default)]
pub(crate) struct KeyIndex {
    /// key hash -> CommitLog offsets in append order.
    entries: RwLock<HashMap<u64, Vec<i64>>>,
}

fn key_hash(topic: &str, key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    topic.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

impl KeyIndex {
    pub fn add<'a>(&self, topic: &str, keys: impl IntoIterator<Item = &'a str>, phys_offset: i64) {
        let mut map = self.entries.write().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            let offsets = map.entry(key_hash(topic, key)).or_default();
            if offsets.last() != Some(&phys_offset) {
                offsets.push(phys_offset);
            }
        }
    }

    /// Candidate offsets for a key, newest first, at most `max`.
    pub fn candidates(&self, topic: &str, key: &str, max: usize) -> Vec<i64> {
        let map = self.entries.read().unwrap_or_else(|e| e.into_inner());
        map.get(&key_hash(topic, key)).map(|v| v.iter().rev().take(max).copied().collect()).unwrap_or_default()
    }

    /// Forgets offsets below `min_offset`, after old CommitLog files are deleted.
    pub fn retain_from(&self, min_offset: i64) {
        let mut map = self.entries.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, v| {
            v.retain(|&o| o >= min_offset);
            !v.is_empty()
        });
    }
}
