//! Message trace records as the Java client's `TraceDataEncoder` writes them: the fields of a
//! record each followed by \u{1}, each record followed by \u{2}. Clients send them to the trace
//! topic; the broker writes its own (retries, DLQ moves, deliveries, transaction ends) in the
//! same format, marked by their client host.

pub const CONTENT: char = '\u{1}';
pub const RECORD: char = '\u{2}';

/// The client host of the records the broker writes itself: `broker:<brokerName>`.
pub const BROKER_HOST_PREFIX: &str = "broker:";

/// Java's `MessageType` ordinals, as records carry them.
pub mod msg_type {
    pub const NORMAL: i32 = 0;
    pub const TRANS_COMMIT: i32 = 2;
    pub const DELAY: i32 = 3;
}

/// One record of `fields`; a separator inside a value would split it, so it is left out.
pub fn encode(fields: &[&str]) -> String {
    let mut out = String::new();
    for f in fields {
        out.extend(f.chars().filter(|c| *c != CONTENT && *c != RECORD));
        out.push(CONTENT);
    }
    out.push(RECORD);
    out
}

/// The records of a trace message's body, each as its fields.
pub fn decode(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.split(RECORD).filter(|r| !r.is_empty()).map(|r| r.split(CONTENT).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written() {
        let text = [encode(&["Pub", "1", "a\u{1}b"]), encode(&["SubAfter", "", "x"])].concat();
        let got: Vec<Vec<&str>> = decode(&text).collect();
        assert_eq!(got, [vec!["Pub", "1", "ab", ""], vec!["SubAfter", "", "x", ""]]);
    }
}
