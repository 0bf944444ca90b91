//! Helpers shared by the store's test files.

use std::net::SocketAddr;

use bytes::BytesMut;
use protocol::message::{tags_code, NewRecord, Properties};
use store::EncodedRecord;

/// A record of `topic` with a tag, KEYS `key` and UNIQ_KEY `U-<key>`, as the broker encodes it.
pub fn record(topic: &str, queue_id: i32, body: &[u8], tag: &str, key: &str) -> EncodedRecord {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let mut props = Properties::default();
    props.set("TAGS", tag);
    props.set("KEYS", key);
    props.set("UNIQ_KEY", format!("U-{key}"));
    let props = props.encode();
    let mut bytes = BytesMut::new();
    NewRecord {
        topic,
        queue_id,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body,
        properties: &props,
    }
    .encode(&mut bytes)
    .unwrap();
    EncodedRecord { bytes, tags_code: tags_code(Some(tag)), keys: vec![key.to_string(), format!("U-{key}")] }
}

/// Each CommitLog file of the store in `root` (name, bytes), in order.
#[allow(dead_code, reason = "not every test file compares logs")]
pub fn commitlog_files(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(root.join("commitlog"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}
