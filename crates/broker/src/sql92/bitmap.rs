//! The SQL92 filter bitmap (`enableCalcFilterBitMap`, as the Java broker's key; our own
//! layout): for each message of a topic that SQL92 subscriptions read, which of the topic's
//! expressions it matches, worked out once when the message is dispatched (its bytes are in
//! hand then), so that a filtered pull or pop drops what does not match without reading the
//! record from the CommitLog.
//!
//! * **Slots.** A topic has up to [`SLOTS`] expressions, by expression (groups with the same
//!   expression share a slot), taken by the reads that use them ([`FilterBitmaps::slot`]).
//!   A full topic gives its least recently used slot to a newcomer. Every change of a topic's
//!   slots takes the next generation number.
//! * **Words.** Per queue offset one word: the generation its message was judged under (high
//!   32 bits; 0: never judged) and one bit per slot (low 32 bits). Kept in memory in chunks of
//!   [`CHUNK`] offsets, at most `filterBitMapMaxBytes` of them; past that the chunks made
//!   first are dropped.
//! * **Reading.** A word answers for a slot only if it was judged under the slot's generation
//!   or a later one; otherwise, and where there is no word, the record is read and checked as
//!   without a bitmap. So the bitmap changes how fast a filtered read is, never what it keeps.
//! * Nothing is kept across a restart, and a cut CommitLog tail or a deleted topic drops the
//!   words (their queue offsets will be given to other messages). Messages stored before an
//!   expression took its slot are checked by reading.
//!
//! Java keeps a Bloom filter of group names per message in its consume-queue extension file;
//! an exact bit per expression needs no second check on a match and no file.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use store::{CqEntry, DispatchRequest, StoreError, Verdict};

use super::{split_properties, Fields, SqlFilter};

/// Expressions per topic with a bit of their own.
pub const SLOTS: usize = 32;

/// Queue offsets per chunk of words.
pub const CHUNK: usize = 1024;

/// Bytes of one chunk.
pub const CHUNK_BYTES: usize = CHUNK * 8;

/// Every topic's slots and words.
pub struct FilterBitmaps {
    max_chunks: usize,
    topics: RwLock<HashMap<String, Arc<TopicBits>>>,
    /// Whether any topic has a slot: the dispatcher's whole cost otherwise.
    any: AtomicBool,
    /// Chunks in the order they were made; the first go when there are too many.
    made: Mutex<VecDeque<(Arc<QueueBits>, i64)>>,
    /// Orders slot uses, for the least recently used.
    tick: AtomicU64,
}

struct TopicBits {
    name: String,
    slots: Mutex<Slots>,
    queues: RwLock<HashMap<i32, Arc<QueueBits>>>,
}

#[derive(Default)]
struct Slots {
    generation: u32,
    list: Vec<Slot>,
}

struct Slot {
    filter: Arc<SqlFilter>,
    /// The generation it took its bit in.
    since: u32,
    used: u64,
}

#[derive(Default)]
struct QueueBits {
    chunks: RwLock<HashMap<i64, Arc<Chunk>>>,
}

struct Chunk(Box<[AtomicU64]>);

impl Chunk {
    fn new() -> Chunk {
        Chunk((0..CHUNK).map(|_| AtomicU64::new(0)).collect())
    }
}

fn base_of(offset: i64) -> i64 {
    offset - offset.rem_euclid(CHUNK as i64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// One expression's bit in one topic's words: what a filtered read of that topic judges by.
#[derive(Clone)]
pub struct BitSlot {
    bits: Arc<TopicBits>,
    index: usize,
    since: u32,
}

impl fmt::Debug for BitSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BitSlot({}, bit {}, since {})", self.bits.name, self.index, self.since)
    }
}

impl BitSlot {
    /// Verdicts on consecutive entries of `topic`'s queue `queue_id` from `first`: Keep or
    /// Drop where a word judged under this slot says, else Check.
    pub fn judge(&self, topic: &str, queue_id: i32, first: i64, entries: &[CqEntry], verdicts: &mut Vec<Verdict>) {
        // Words judged under this slot's generation up to now; a word of a later generation
        // may come after the slot's bit was given to another expression.
        let upper = {
            let slots = lock(&self.bits.slots);
            slots.list.get(self.index).filter(|s| s.since == self.since).map(|_| slots.generation)
        };
        let queue = if topic == self.bits.name { upper.and_then(|_| read(&self.bits.queues).get(&queue_id).cloned()) } else { None };
        let (Some(queue), Some(upper)) = (queue, upper) else {
            verdicts.extend(entries.iter().map(|_| Verdict::Check));
            return;
        };
        let mut chunk: Option<(i64, Option<Arc<Chunk>>)> = None;
        for i in 0..entries.len() {
            let offset = first + i as i64;
            let base = base_of(offset);
            if chunk.as_ref().is_none_or(|(b, _)| *b != base) {
                chunk = Some((base, read(&queue.chunks).get(&base).cloned()));
            }
            let word = match &chunk {
                Some((_, Some(c))) => c.0[(offset - base) as usize].load(Ordering::Relaxed),
                _ => 0,
            };
            let generation = (word >> 32) as u32;
            verdicts.push(if generation == 0 || generation < self.since || generation > upper {
                Verdict::Check
            } else if word & (1 << self.index) != 0 {
                Verdict::Keep
            } else {
                Verdict::Drop
            });
        }
    }
}

impl FilterBitmaps {
    /// Bitmaps within `max_bytes` of words; 0 turns them off.
    pub fn new(max_bytes: usize) -> FilterBitmaps {
        FilterBitmaps {
            max_chunks: max_bytes / CHUNK_BYTES,
            topics: Default::default(),
            any: AtomicBool::new(false),
            made: Default::default(),
            tick: AtomicU64::new(1),
        }
    }

    /// The slot of `filter` in `topic`'s words, taken now if it has none (messages dispatched
    /// from now on are judged by it). `None` when the bitmap is off.
    pub fn slot(&self, topic: &str, filter: &Arc<SqlFilter>) -> Option<BitSlot> {
        if self.max_chunks == 0 {
            return None;
        }
        let bits = read(&self.topics).get(topic).cloned();
        let bits = match bits {
            Some(b) => b,
            None => write(&self.topics)
                .entry(topic.to_string())
                .or_insert_with(|| Arc::new(TopicBits { name: topic.to_string(), slots: Default::default(), queues: Default::default() }))
                .clone(),
        };
        self.any.store(true, Ordering::Release);
        let used = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut slots = lock(&bits.slots);
        let found = slots.list.iter().position(|s| Arc::ptr_eq(&s.filter, filter) || *s.filter == **filter);
        let index = match found {
            Some(i) => i,
            None => {
                // A new generation for each change; the last one is never passed.
                if slots.generation == u32::MAX {
                    return None;
                }
                slots.generation += 1;
                let slot = Slot { filter: filter.clone(), since: slots.generation, used };
                if slots.list.len() < SLOTS {
                    slots.list.push(slot);
                    slots.list.len() - 1
                } else {
                    let lru = slots.list.iter().enumerate().min_by_key(|(_, s)| s.used).map_or(0, |(i, _)| i);
                    slots.list[lru] = slot;
                    lru
                }
            }
        };
        let slot = &mut slots.list[index];
        slot.used = used;
        let since = slot.since;
        drop(slots);
        Some(BitSlot { bits, index, since })
    }

    /// Judges a dispatched batch: each consumable message of a topic with slots gets its word.
    fn dispatched(&self, batch: &[DispatchRequest<'_>]) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        // Each topic's slots as the batch found them, and the queue last written.
        let mut judges: Vec<(&str, Option<Judge>)> = Vec::new();
        let mut last: Option<(usize, i32, i64, Arc<Chunk>)> = None;
        // Each message's properties, split once for all the topic's expressions.
        let mut fields = Fields::default();
        for r in batch.iter().filter(|r| r.consumable()) {
            let at = match judges.iter().position(|(t, _)| *t == r.topic) {
                Some(i) => i,
                None => {
                    judges.push((r.topic, self.judge_of(r.topic)));
                    judges.len() - 1
                }
            };
            let Some(judge) = &judges[at].1 else { continue };
            let Some(properties) = r.properties() else { continue };
            split_properties(properties, &mut fields);
            let bits = judge.filters.iter().enumerate().filter(|(_, f)| f.matches_fields(&fields)).fold(0u64, |b, (i, _)| b | 1 << i);
            let word = (judge.generation as u64) << 32 | bits;
            let base = base_of(r.queue_offset);
            if !matches!(&last, Some((j, q, b, _)) if *j == at && *q == r.queue_id && *b == base) {
                last = Some((at, r.queue_id, base, self.chunk(&self.queue(&judge.bits, r.queue_id), base)));
            }
            let Some((.., chunk)) = &last else { continue };
            chunk.0[(r.queue_offset - base) as usize].store(word, Ordering::Relaxed);
        }
    }

    /// A topic's slots now, if it has any.
    fn judge_of(&self, topic: &str) -> Option<Judge> {
        let bits = read(&self.topics).get(topic).cloned()?;
        let slots = lock(&bits.slots);
        if slots.list.is_empty() {
            return None;
        }
        let (generation, filters) = (slots.generation, slots.list.iter().map(|s| s.filter.clone()).collect());
        drop(slots);
        Some(Judge { bits, generation, filters })
    }

    fn queue(&self, bits: &TopicBits, queue_id: i32) -> Arc<QueueBits> {
        if let Some(q) = read(&bits.queues).get(&queue_id) {
            return q.clone();
        }
        write(&bits.queues).entry(queue_id).or_default().clone()
    }

    /// The chunk holding `base`, made (and the oldest chunks dropped past the limit) if missing.
    fn chunk(&self, queue: &Arc<QueueBits>, base: i64) -> Arc<Chunk> {
        if let Some(c) = read(&queue.chunks).get(&base) {
            return c.clone();
        }
        let chunk = write(&queue.chunks).entry(base).or_insert_with(|| Arc::new(Chunk::new())).clone();
        let mut made = lock(&self.made);
        made.push_back((queue.clone(), base));
        while made.len() > self.max_chunks {
            let Some((q, b)) = made.pop_front() else { break };
            write(&q.chunks).remove(&b);
        }
        chunk
    }

    /// Drops every word (the CommitLog's tail was cut).
    fn forget_words(&self) {
        for bits in read(&self.topics).values() {
            write(&bits.queues).clear();
        }
        lock(&self.made).clear();
    }

    /// Drops a topic's slots and words.
    fn forget_topic(&self, topic: &str) {
        if let Some(bits) = write(&self.topics).remove(topic) {
            write(&bits.queues).clear();
        }
    }

    /// Words held now, in bytes.
    pub fn bytes(&self) -> usize {
        read(&self.topics).values().map(|t| read(&t.queues).values().map(|q| read(&q.chunks).len()).sum::<usize>()).sum::<usize>() * CHUNK_BYTES
    }
}

/// A topic's slots as a batch is judged.
struct Judge {
    bits: Arc<TopicBits>,
    generation: u32,
    filters: Vec<Arc<SqlFilter>>,
}

/// The store dispatcher that keeps the words.
pub struct BitmapDispatcher(pub Arc<FilterBitmaps>);

impl store::Dispatcher for BitmapDispatcher {
    fn name(&self) -> &'static str {
        "sql92 filter bitmap"
    }

    fn dispatch(&self, batch: &[DispatchRequest<'_>]) -> Result<(), StoreError> {
        self.0.dispatched(batch);
        Ok(())
    }

    fn truncated(&self, _offset: u64) {
        self.0.forget_words();
    }

    fn topic_deleted(&self, topic: &str) {
        self.0.forget_topic(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql92::Limits;

    fn compiled(text: &str) -> Arc<SqlFilter> {
        Arc::new(SqlFilter::compile(text, Limits { max_length: 4096, max_depth: 128 }).expect("compiles"))
    }

    #[test]
    fn a_full_topic_gives_the_least_recently_used_slot_to_a_newcomer() {
        let bits = FilterBitmaps::new(1 << 20);
        let filters: Vec<_> = (0..=SLOTS).map(|i| compiled(&format!("n = {i}"))).collect();
        let slots: Vec<_> = filters[..SLOTS].iter().map(|f| bits.slot("T", f).expect("on")).collect();
        let bits_taken: std::collections::BTreeSet<usize> = slots.iter().map(|s| s.index).collect();
        assert_eq!(bits_taken.len(), SLOTS, "a bit each");
        assert_eq!(slots.iter().map(|s| s.since).collect::<Vec<_>>(), (1..=SLOTS as u32).collect::<Vec<_>>());
        // The same expression (even compiled again) keeps its slot, and is used again.
        let again = bits.slot("T", &compiled("n = 0")).expect("on");
        assert_eq!((again.index, again.since), (slots[0].index, 1));
        // Full: the newcomer takes the least recently used one's bit ("n = 1"), a new generation.
        let newcomer = bits.slot("T", &filters[SLOTS]).expect("on");
        assert_eq!((newcomer.index, newcomer.since), (slots[1].index, SLOTS as u32 + 1));
        let back = bits.slot("T", &filters[1]).expect("on");
        assert_eq!(back.since, SLOTS as u32 + 2, "an expression that lost its slot starts again");
        // Another topic has slots of its own; 0 bytes turns the bitmap off.
        assert_eq!(bits.slot("U", &filters[1]).expect("on").since, 1);
        assert!(FilterBitmaps::new(0).slot("T", &filters[0]).is_none());
    }
}
