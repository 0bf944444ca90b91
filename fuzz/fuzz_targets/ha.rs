//! Replication frames: whatever decodes must encode back to the same bytes; nothing panics,
//! whatever a peer sends.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::ha::Frame;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let before = buf.clone();
    if let Ok(Some(frame)) = Frame::decode(&mut buf, 1 << 16) {
        let used = before.len() - buf.len();
        let mut again = BytesMut::new();
        frame.encode(&mut again);
        assert_eq!(&again[..], &before[..used], "{frame:?}");
    }
});
