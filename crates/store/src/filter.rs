//! Which messages a read keeps.
//!
//! A [`MessageFilter`] answers first from the consume-queue entry's tag code, which costs no
//! read of the record; then, only if it says it needs them, from the properties of the
//! records that passed, which the store reads and hands it as stored, unparsed (SQL92
//! filters). A plain closure over the tag code is a filter; [`AcceptAll`] keeps everything.

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
