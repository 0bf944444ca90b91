//! Property tests: every encoder round-trips through its decoder, and no decoder panics
//! on arbitrary bytes.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use protocol::message::{decode_batch, decode_record, encode_batch, patch_record, BatchItem, NewRecord, Properties};
use protocol::{LanguageCode, RemotingCommand, SerializeType};

fn text() -> impl Strategy<Value = String> {
    // Any characters but the property separators.
    "[^\u{1}\u{2}]{1,24}"
}

fn command(binary: bool) -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i16>(),
        0u8..14,
        any::<i16>(),
        any::<i32>(),
        0i32..4,
        proptest::option::of(text()),
        proptest::collection::hash_map(text(), text(), 0..8),
        proptest::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(move |(code, lang, version, opaque, flag, remark, ext, body)| RemotingCommand {
            code: code as i32,
            language: LanguageCode(lang),
            version: version as i32,
            opaque,
            flag,
            remark,
            ext_fields: ext.into_iter().collect(),
            body: Bytes::from(body),
            serialize_type: if binary { SerializeType::RocketMq } else { SerializeType::Json },
        })
}

fn host() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

proptest! {
    #[test]
    fn json_commands_round_trip(cmd in command(false)) {
        let bytes = cmd.encode_to_bytes();
        prop_assert_eq!(RemotingCommand::decode(bytes.slice(4..)).unwrap(), cmd);
    }

    #[test]
    fn binary_commands_round_trip(cmd in command(true)) {
        let bytes = cmd.encode_to_bytes();
        prop_assert_eq!(RemotingCommand::decode(bytes.slice(4..)).unwrap(), cmd);
    }

    #[test]
    fn properties_round_trip(pairs in proptest::collection::vec((text(), text()), 0..10)) {
        let mut p = Properties::default();
        for (k, v) in &pairs {
            p.set(k, v.clone());
        }
        prop_assert_eq!(Properties::parse(&p.encode()), p);
    }

    #[test]
    fn records_round_trip(
        topic in "[a-zA-Z0-9_%|-]{1,200}",
        queue_id in any::<i32>(), flag in any::<i32>(), born in any::<i64>(), store_ts in any::<i64>(),
        queue_offset in any::<i64>(), phys in any::<i64>(), reconsume in any::<i32>(),
        born_host in host(), store_host in host(),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        props in proptest::collection::vec((text(), text()), 0..6),
    ) {
        let mut p = Properties::default();
        for (k, v) in &props { p.set(k, v.clone()); }
        let properties = p.encode();
        let mut out = BytesMut::new();
        let rec = NewRecord { topic: &topic, queue_id, flag, sys_flag: 0, born_timestamp: born, born_host, store_host,
            reconsume_times: reconsume, prepared_transaction_offset: 0, body: &body, properties: &properties };
        rec.encode(&mut out).unwrap();
        patch_record(&mut out, queue_offset, phys, store_ts);
        let m = decode_record(&out.freeze(), true).unwrap();
        prop_assert_eq!(&m.topic, &topic);
        prop_assert_eq!((m.queue_id, m.flag, m.born_timestamp, m.store_timestamp, m.queue_offset, m.physical_offset, m.reconsume_times),
            (queue_id, flag, born, store_ts, queue_offset, phys, reconsume));
        prop_assert_eq!((m.born_host, m.store_host), (born_host, store_host));
        prop_assert_eq!(&m.body[..], &body[..]);
        prop_assert_eq!(m.properties, properties);
    }

    #[test]
    fn batches_round_trip(items in proptest::collection::vec((any::<i32>(), proptest::collection::vec(any::<u8>(), 0..64), text()), 1..8)) {
        let items: Vec<BatchItem> = items.into_iter().map(|(flag, body, k)| BatchItem { flag, body: Bytes::from(body), properties: format!("{k}\u{1}v\u{2}") }).collect();
        let mut out = BytesMut::new();
        encode_batch(&items, &mut out);
        prop_assert_eq!(decode_batch(&out.freeze(), 64).unwrap(), items);
    }

    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let bytes = Bytes::from(data);
        let _ = RemotingCommand::decode(bytes.clone());
        let _ = decode_record(&bytes, true);
        let _ = decode_batch(&bytes, 1024);
        let _ = protocol::message::decode_records(&bytes);
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = protocol::frame::take_frame(&mut buf, 1 << 20);
        let _ = Properties::parse(&String::from_utf8_lossy(&bytes));
    }
}
