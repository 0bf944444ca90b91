//! Byte-level fixtures written by the Java classes themselves (tools/golden, RocketMQ
//! 5.3.3). Every decoder must read them; every encoder whose Java twin is
//! order-deterministic must reproduce them byte for byte.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use protocol::body::{self, HeartbeatData, MessageQueue, RegisterBrokerBody, TopicRouteData};
use protocol::header::{SendMessageRequestHeader, SendMessageResponseHeader};
use protocol::message::{crc32, decode_batch, decode_record, decode_records, encode_batch, java_hash, offset_msg_id, patch_record, NewRecord, Properties};
use protocol::{LanguageCode, RemotingCommand, SerializeType};

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn frame(name: &str) -> RemotingCommand {
    let bytes = fixture(name);
    let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(len, bytes.len() - 4, "{name}: length prefix");
    RemotingCommand::decode(bytes.slice(4..)).unwrap()
}

const PROPS: &str = "KEYS\u{1}key1 key2\u{2}greeting\u{1}héllo 世界\u{2}UNIQ_KEY\u{1}7F00000112340A0B0C0D000010000001\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}";

#[test]
fn send_request_in_both_encodings() {
    let json = frame("cmd_json_send_v2.bin");
    assert_eq!(json.serialize_type, SerializeType::Json);
    for name in ["cmd_rocketmq_send_v2.bin", "cmd_rocketmq_send_v2_netty.bin"] {
        let bin = frame(name);
        assert_eq!(bin.serialize_type, SerializeType::RocketMq);
        assert_eq!(RemotingCommand { serialize_type: SerializeType::Json, ..bin }, json, "{name}");
    }
    assert_eq!((json.code, json.opaque, json.version, json.language, json.flag), (310, 7, 479, LanguageCode::JAVA, 0));
    assert_eq!(&json.body[..], b"hello");
    let h = SendMessageRequestHeader::decode(&json.ext_fields, true).unwrap();
    assert_eq!((&*h.producer_group, &*h.topic, h.queue_id, h.born_timestamp), ("PG", "TopicTest", 1, 1_700_000_000_000));
    assert_eq!(h.properties, PROPS);
    let props = Properties::parse(&h.properties);
    assert_eq!(props.get("greeting"), Some("héllo 世界"));
    assert_eq!(props.encode(), PROPS);

    // Our binary encoding of the same command has Java's length and decodes the same.
    let mut ours = json.clone();
    ours.serialize_type = SerializeType::RocketMq;
    let bytes = ours.encode_to_bytes();
    assert_eq!(bytes.len(), fixture("cmd_rocketmq_send_v2.bin").len());
    assert_eq!(RemotingCommand::decode(bytes.slice(4..)).unwrap(), ours);
}

#[test]
fn send_response_in_both_encodings() {
    let json = frame("cmd_json_response.bin");
    assert!(json.is_response());
    assert_eq!(json.remark.as_deref(), Some("ok"));
    let h = SendMessageResponseHeader::decode(&json.ext_fields).unwrap();
    assert_eq!((h.msg_id.as_str(), h.queue_id, h.queue_offset), ("7F00000100002A9F000000000001E240", 1, 42));
    for name in ["cmd_rocketmq_response.bin", "cmd_rocketmq_response_netty.bin"] {
        let bin = frame(name);
        assert_eq!(RemotingCommand { serialize_type: SerializeType::Json, ..bin }, json, "{name}");
    }
    // Our JSON response header is what Java writes, key order aside.
    let header_len = (u32::from_be_bytes(fixture("cmd_json_response.bin")[4..8].try_into().unwrap()) & 0xFF_FFFF) as usize;
    let java: serde_json::Value = serde_json::from_slice(&fixture("cmd_json_response.bin")[8..8 + header_len]).unwrap();
    let ours_bytes = json.encode_to_bytes();
    let ours_len = (u32::from_be_bytes(ours_bytes[4..8].try_into().unwrap()) & 0xFF_FFFF) as usize;
    let ours: serde_json::Value = serde_json::from_slice(&ours_bytes[8..8 + ours_len]).unwrap();
    assert_eq!(ours, java);
}

#[test]
fn stored_records_decode_and_reencode_byte_for_byte() {
    let two = fixture("msg_stored_two.bin");
    let records = decode_records(&two).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].msg_id(), "7F00000100002A9F000000000001E240");
    assert_eq!(records[1].msg_id(), "7F00000100002A9F000000000001E31A");
    assert_eq!((records[1].queue_offset, records[1].reconsume_times, &records[1].body[..]), (43, 1, &b"world"[..]));

    let one = fixture("msg_stored.bin");
    let m = decode_record(&one, true).unwrap();
    assert_eq!((m.total_size, m.queue_id, m.queue_offset, m.physical_offset), (218, 3, 42, 123456));
    assert_eq!((m.born_timestamp, m.store_timestamp), (1_700_000_000_000, 1_700_000_000_123));
    assert_eq!(m.born_host, "127.0.0.1:50000".parse::<SocketAddr>().unwrap());
    assert_eq!(m.body_crc, 907060870);
    assert_eq!(m.topic, "TopicTest");
    let mut ours = BytesMut::new();
    NewRecord {
        topic: &m.topic,
        queue_id: m.queue_id,
        flag: m.flag,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        store_host: m.store_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
        body: &m.body,
        properties: &m.properties,
    }
    .encode(&mut ours)
    .unwrap();
    patch_record(&mut ours, m.queue_offset, m.physical_offset, m.store_timestamp);
    assert_eq!(&ours[..], &one[..]);
}

#[test]
fn batch_body_round_trips() {
    let raw = fixture("batch_body.bin");
    let items = decode_batch(&raw, 16).unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(&items[0].body[..], b"batch-1");
    assert_eq!(Properties::parse(&items[1].properties).get("lang"), Some("日本語"));
    assert_eq!((items[2].flag, &items[2].body[..]), (8, &[0x00, 0xFF, 0x10, 0x80][..]));
    let mut ours = BytesMut::new();
    encode_batch(&items, &mut ours);
    assert_eq!(&ours[..], &raw[..]);
    assert!(decode_batch(&raw, 2).is_err(), "item limit enforced");
}

#[test]
fn properties_ids_and_hashes() {
    for name in ["properties.txt", "properties_hashmap.txt"] {
        let text = String::from_utf8(fixture(name).to_vec()).unwrap();
        assert_eq!(Properties::parse(&text).encode(), text, "{name}");
    }
    let ids = String::from_utf8(fixture("msgid.txt").to_vec()).unwrap();
    for line in ids.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(offset_msg_id(cols[0].parse().unwrap(), cols[1].parse().unwrap()), cols[2]);
    }
    assert_eq!(java_hash("TagA"), 2598919);
    assert_eq!(java_hash("héllo"), 103094734);
    assert_eq!(java_hash("TopicTest#key1"), -1655984460);
    assert_eq!(crc32(b"hello"), 907060870);
}

#[test]
fn routes_in_both_forms() {
    let route: TopicRouteData = body::decode(&fixture("route_standard.json")).unwrap();
    assert_eq!(route.broker_datas[1].broker_addrs.get(&1).map(String::as_str), Some("127.0.0.3:10911"));
    assert_eq!(route.broker_datas[1].zone_name.as_deref(), Some("zone-中"));
    let fast = String::from_utf8(body::encode_route(&route, false)).unwrap();
    let java = String::from_utf8(fixture("route_fastjson.json").to_vec()).unwrap();
    for fragment in [r#""brokerAddrs":{0:"127.0.0.2:10911",1:"127.0.0.3:10911"}"#, r#""brokerAddrs":{0:"127.0.0.1:10911"}"#] {
        assert!(java.contains(fragment) && fast.contains(fragment), "{fragment}");
    }
    let back: TopicRouteData = body::decode(&body::encode_route(&route, true)).unwrap();
    assert_eq!(back, route);
}

#[test]
fn client_bodies_parse() {
    let hb: HeartbeatData = body::decode(&fixture("heartbeat.json")).unwrap();
    assert_eq!(hb.client_id, "127.0.0.1@12345");
    let sub = hb.consumer_data_set[0].subscription_data_set.iter().find(|s| s.topic == "TopicTest").unwrap();
    assert!(sub.code_set.contains(&java_hash("TagA")));
    let reg: RegisterBrokerBody = body::decode(&fixture("register_broker_body.json")).unwrap();
    assert!(!reg.topic_config_serialize_wrapper.topic_config_table.is_empty());
    let lock: body::LockBatchRequestBody = body::decode(&fixture("lock_batch_request.json")).unwrap();
    assert!(!lock.mq_set.is_empty());
}

#[test]
fn object_keyed_maps_match_fastjson() {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct TopicOffset {
        last_update_timestamp: i64,
        max_offset: i64,
        min_offset: i64,
    }
    let mq = |q| MessageQueue { broker_name: "broker-a".into(), queue_id: q, topic: "TopicTest".into() };
    let entries = [
        (mq(1), TopicOffset { last_update_timestamp: 1_700_000_001_000, max_offset: 200, min_offset: 5 }),
        (mq(0), TopicOffset { last_update_timestamp: 1_700_000_000_000, max_offset: 100, min_offset: 0 }),
    ];
    let ours = format!("{{\"offsetTable\":{},\"topicPutTps\":12.5}}", body::object_keyed_map(&entries));
    assert_eq!(ours.as_bytes(), &fixture("topic_stats.json")[..]);
}
