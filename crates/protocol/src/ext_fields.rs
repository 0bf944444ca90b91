//! A command's extension fields: string keys to string values.
//!
//! A request carries a dozen or so, each read once or twice, and they are decoded for every
//! request. So they live in one text buffer with a list of spans, not as separately allocated
//! strings in a hash map: decoding a header costs two allocations instead of two per field.
//! Lookups scan the spans; a key is held once (setting it again replaces it).

use std::fmt;

#[derive(Clone, Default)]
pub struct ExtFields {
    text: String,
    /// (key start, value start, value end) in `text`; the key ends where the value starts.
    spans: Vec<(usize, usize, usize)>,
}

impl ExtFields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `entries` fields of `text_bytes` bytes of keys and values in all.
    pub fn with_capacity(entries: usize, text_bytes: usize) -> Self {
        ExtFields { text: String::with_capacity(text_bytes), spans: Vec::with_capacity(entries) }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn key_at(&self, i: usize) -> &str {
        let (k, v, _) = self.spans[i];
        &self.text[k..v]
    }

    fn value_at(&self, i: usize) -> &str {
        let (_, v, e) = self.spans[i];
        &self.text[v..e]
    }

    fn position(&self, key: &str) -> Option<usize> {
        let (text, key) = (self.text.as_bytes(), key.as_bytes());
        // Length and first byte first: most keys differ there, and it spares a memcmp call.
        self.spans.iter().position(|&(k, v, _)| v - k == key.len() && (key.is_empty() || text[k] == key[0]) && &text[k..v] == key)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.value_at(i))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`, replacing what it held.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let key = key.as_ref();
        if let Some(i) = self.position(key) {
            self.spans.remove(i);
        }
        self.push(key, value.as_ref());
    }

    /// Sets `key` to `value` as text, written straight into the fields' buffer (no string
    /// of its own for a number).
    pub fn insert_display(&mut self, key: &str, value: impl fmt::Display) {
        use fmt::Write;
        if let Some(i) = self.position(key) {
            self.spans.remove(i);
        }
        let k = self.text.len();
        self.text.push_str(key);
        let v = self.text.len();
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{value}");
        self.spans.push((k, v, self.text.len()));
    }

    /// Room for `entries` more fields of `text_bytes` more bytes.
    pub fn reserve(&mut self, entries: usize, text_bytes: usize) {
        self.spans.reserve(entries);
        self.text.reserve(text_bytes);
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.position(key)?;
        let value = self.value_at(i).to_string();
        self.spans.remove(i);
        Some(value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        (0..self.spans.len()).map(|i| (self.key_at(i), self.value_at(i)))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.spans.len()).map(|i| self.key_at(i))
    }

    /// Appends a field without looking for the key (decoders call `dedup` once at the end).
    pub(crate) fn push(&mut self, key: &str, value: &str) {
        let k = self.text.len();
        self.text.push_str(key);
        let v = self.text.len();
        self.text.push_str(value);
        self.spans.push((k, v, self.text.len()));
    }

    /// Starts a field whose key and value the caller appends to the text (decoding).
    pub(crate) fn text_mut(&mut self) -> &mut String {
        &mut self.text
    }

    /// Records the field whose key starts at `key`, whose value starts at `value`, and which
    /// ends at the end of the text.
    pub(crate) fn push_span(&mut self, key: usize, value: usize) {
        self.spans.push((key, value, self.text.len()));
    }

    /// Drops the text appended since `at` (a field that turned out to be null).
    pub(crate) fn truncate_text(&mut self, at: usize) {
        self.text.truncate(at);
    }

    /// After decoding with `push`: of a key given twice, keeps the last value, as a map would.
    pub(crate) fn dedup(&mut self) {
        // A cheap screen first (headers almost never repeat a key): a 128-bit set of a hash of
        // each key's length and end bytes. A key whose bucket is taken is compared with the
        // earlier keys (a score of fields share buckets often: comparing a few keys is far
        // cheaper than the hashed set below); only a real repeat leads there. Past
        // `SCREENED_FIELDS` keys the hashed set decides at once, so a header of many keys
        // (sent to make the screen quadratic) costs linear time.
        const SCREENED_FIELDS: usize = 48;
        let n = self.spans.len();
        if n <= SCREENED_FIELDS {
            let bytes = self.text.as_bytes();
            let key = |i: usize| {
                let (k, v, _) = self.spans[i];
                &bytes[k..v]
            };
            let bucket = |key: &[u8]| {
                (key.len() as u32).wrapping_mul(31).wrapping_add(key.first().map_or(0, |b| *b as u32) * 7).wrapping_add(key.last().map_or(0, |b| *b as u32))
                    % 128
            };
            let mut seen_hashes = 0u128;
            let mut repeated = false;
            for i in 0..n {
                let (k, h) = (key(i), bucket(key(i)));
                if seen_hashes & (1 << h) != 0 && (0..i).any(|j| key(j) == k) {
                    repeated = true;
                    break;
                }
                seen_hashes |= 1 << h;
            }
            if !repeated {
                return;
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(n);
        let mut keep = vec![false; n];
        for i in (0..n).rev() {
            keep[i] = seen.insert(self.key_at(i).to_string());
        }
        let mut i = 0;
        self.spans.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }

    /// Bytes of keys and values held (what a limit on header size should count).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }
}

impl PartialEq for ExtFields {
    /// Equal when they hold the same keys with the same values, in any order (as maps).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut fields = ExtFields::new();
        fields.extend(iter);
        fields
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for ExtFields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl serde::Serialize for ExtFields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let mut f = ExtFields::new();
        f.insert("a", "1");
        f.insert("b", "2");
        f.insert("a", "3");
        assert_eq!((f.get("a"), f.get("b"), f.get("c"), f.len()), (Some("3"), Some("2"), None, 2));
        assert_eq!(f.remove("b"), Some("2".to_string()));
        assert_eq!(f.remove("b"), None);
        assert!(f.contains_key("a") && !f.contains_key("b"));
        let g: ExtFields = [("a", "3")].into_iter().collect();
        assert_eq!(f, g);
        assert_ne!(f, ExtFields::new());
        let many: ExtFields = (0..100).map(|i| (format!("k{i}"), i.to_string())).collect();
        assert_eq!((many.len(), many.get("k57")), (100, Some("57")));
    }

    #[test]
    fn dedup_keeps_the_last_value() {
        for n in [3, 40, 100] {
            let mut f = ExtFields::new();
            for i in 0..n {
                f.push(&format!("k{}", i % 2), &i.to_string());
            }
            f.push("x", "y");
            f.dedup();
            assert_eq!(f.len(), 3);
            assert_eq!(f.get("k0"), Some((n - 1 - (n - 1) % 2).to_string().as_str()));
            assert_eq!(f.get("x"), Some("y"));
        }
        // Distinct keys that look alike to the screen are all kept.
        let mut f = ExtFields::new();
        f.push("axb", "1");
        f.push("ayb", "2");
        f.dedup();
        assert_eq!((f.len(), f.get("axb"), f.get("ayb")), (2, Some("1"), Some("2")));
        // Many distinct look-alikes (past the screen's limit): all kept.
        let mut f = ExtFields::new();
        for i in 0..200 {
            f.push(&format!("a{i:03}b"), "v");
        }
        f.dedup();
        assert_eq!(f.len(), 200);
    }
}
