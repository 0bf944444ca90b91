//! Which messages a read keeps.
//!
//! A [`MessageFilter`] answers first from the consume-queue entry's tag code, which costs no
//! read of the record; then, only if it says it needs them, from the properties of the
//! records that passed, which the store reads and hands it as stored, unparsed (SQL92
//! filters). A plain closure over the tag code is a filter; [`AcceptAll`] keeps everything.
//!
//! A filter that knows more of the entries than their tag codes (the broker's SQL92 bitmap,
//! computed when each message was dispatched) judges runs of entries itself
//! ([`MessageFilter::judge`]): what it can tell is kept or dropped without reading the
//! record, the rest is read and checked.

use crate::consume_queue::CqEntry;

/// A filter's verdict on one consume-queue entry, before its record is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Left out; the record is not read.
    Drop,
    /// Kept; the record is read and not checked again.
    Keep,
    /// Read, then kept only if [`MessageFilter::matches_properties`] says so.
    Check,
}

pub trait MessageFilter {
    /// Whether a message with this consume-queue tag code (the hash of its TAGS; a delay
    /// queue's delivery time) may be kept. Checked first, for every entry read.
    fn matches_tag_code(&self, tags_code: i64) -> bool;

    /// Whether [`MessageFilter::matches_properties`] must see the properties of the records
    /// whose tag code matched. A record's properties are read and parsed only then.
    fn needs_properties(&self) -> bool {
        false
    }

    /// Whether a record whose tag code matched is kept, given its properties string as
    /// stored (read a value with `protocol::message::property_in`, or parse it). Asked only
    /// when [`MessageFilter::needs_properties`] says so.
    fn matches_properties(&self, _properties: &str) -> bool {
        true
    }

    /// The verdicts on `entries`, consecutive entries of `topic`'s queue `queue_id` from
    /// queue offset `first_offset`, pushed onto `verdicts` one per entry. By default from the
    /// tag code, then [`MessageFilter::needs_properties`].
    fn judge(&self, _topic: &str, _queue_id: i32, _first_offset: i64, entries: &[CqEntry], verdicts: &mut Vec<Verdict>) {
        let check = if self.needs_properties() { Verdict::Check } else { Verdict::Keep };
        verdicts.extend(entries.iter().map(|e| if self.matches_tag_code(e.tags_code) { check } else { Verdict::Drop }));
    }
}

/// A closure over the tag code: `&|code| code == wanted`.
impl<F: Fn(i64) -> bool> MessageFilter for F {
    fn matches_tag_code(&self, tags_code: i64) -> bool {
        self(tags_code)
    }
}

/// Keeps every message.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl MessageFilter for AcceptAll {
    fn matches_tag_code(&self, _: i64) -> bool {
        true
    }
}
