//! Bodies as the C++ client 2.2.0 writes them (and the clients built on it): enums as
//! ordinals, numbers in strings, empty collections left out. The Java broker reads them with
//! fastjson; so must we. The fixtures' provenance is in `tests/cpp/README.md`.

use std::collections::BTreeSet;

use protocol::body::{self, HeartbeatData, LockBatchRequestBody};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/cpp/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_cpp_consumers_heartbeat_is_read_with_the_java_enum_names() {
    let hb: HeartbeatData = body::decode(&fixture("heartbeat.json")).unwrap();
    assert_eq!(hb.client_id, "192.168.1.10@12345#DEFAULT");
    assert!(hb.producer_data_set.is_empty());
    let [c] = &hb.consumer_data_set[..] else { panic!("one consumer: {hb:?}") };
    assert_eq!(c.group_name, "cpp_group");
    // What a Java client of the same consumer would send.
    assert_eq!(c.consume_type.as_deref(), Some("CONSUME_PASSIVELY"));
    assert_eq!(c.message_model.as_deref(), Some("CLUSTERING"));
    assert_eq!(c.consume_from_where.as_deref(), Some("CONSUME_FROM_FIRST_OFFSET"));
    let [retry, topic] = &c.subscription_data_set[..] else { panic!("two subscriptions: {c:?}") };
    assert_eq!((retry.topic.as_str(), retry.sub_string.as_str(), retry.sub_version), ("%RETRY%cpp_group", "*", 1_700_000_000_000));
    assert!(retry.tags_set.is_empty() && retry.code_set.is_empty());
    assert_eq!((topic.topic.as_str(), topic.sub_string.as_str(), topic.sub_version), ("TopicTest", "TagA || TagB", 1_700_000_000_001));
    assert_eq!(topic.tags_set, BTreeSet::from(["TagA".to_string(), "TagB".to_string()]));
    assert_eq!(topic.code_set, BTreeSet::from([0]), "the C++ client's atoi of the tags");
}

#[test]
fn every_ordinal_the_cpp_client_can_send_has_its_java_name() {
    let from_where = [
        "CONSUME_FROM_LAST_OFFSET",
        "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        "CONSUME_FROM_MIN_OFFSET",
        "CONSUME_FROM_MAX_OFFSET",
        "CONSUME_FROM_FIRST_OFFSET",
        "CONSUME_FROM_TIMESTAMP",
    ];
    for (ordinal, name) in from_where.iter().enumerate() {
        let json = format!(
            r#"{{"clientID":"c","consumerDataSet":[{{"groupName":"g","consumeType":{},"messageModel":{},"consumeFromWhere":{ordinal}}}]}}"#,
            ordinal % 3,
            ordinal % 2
        );
        let hb: HeartbeatData = body::decode(json.as_bytes()).unwrap();
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.consume_from_where.as_deref(), Some(*name));
        assert_eq!(c.consume_type.as_deref(), Some(["CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP"][ordinal % 3]));
        assert_eq!(c.message_model.as_deref(), Some(["BROADCASTING", "CLUSTERING"][ordinal % 2]));
    }
    // fastjson refuses an ordinal past the last constant; so do we.
    for bad in [r#"{"consumerDataSet":[{"consumeFromWhere":6}]}"#, r#"{"consumerDataSet":[{"messageModel":-1}]}"#] {
        assert!(body::decode::<HeartbeatData>(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn a_cpp_lock_request_is_read() {
    let r: LockBatchRequestBody = body::decode(&fixture("lock_batch_request.json")).unwrap();
    assert_eq!((r.consumer_group.as_str(), r.client_id.as_str(), r.only_this_broker), ("cpp_group", "192.168.1.10@12345#DEFAULT", false));
    assert_eq!((r.mq_set[0].topic.as_str(), r.mq_set[0].broker_name.as_str(), r.mq_set[0].queue_id), ("TopicTest", "broker-a", 1));
    let none: LockBatchRequestBody = body::decode(br#"{"clientId":"c","consumerGroup":"g","mqSet":null}"#).unwrap();
    assert!(none.mq_set.is_empty());
}
