//! Stored records, pull bodies, batch bodies, properties and JSON bodies.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use protocol::body::{self, HeartbeatData, RegisterBrokerBody, TopicRouteData};
use protocol::message::{decode_batch, decode_record, decode_records, Properties};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let _ = decode_record(&bytes, true);
    let _ = decode_records(&bytes);
    let _ = decode_batch(&bytes, 1024);
    let text = String::from_utf8_lossy(data);
    let p = Properties::parse(&text);
    assert_eq!(Properties::parse(&p.encode()), p);
    let _ = body::decode::<HeartbeatData>(data);
    let _ = body::decode::<RegisterBrokerBody>(data);
    let _ = body::decode::<TopicRouteData>(data);
});
