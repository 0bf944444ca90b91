//! End to end through our client against an in-process NameServer and Broker.

mod common;

use std::time::Duration;

use bytes::Bytes;
use protocol::body::{self, KvTable, TopicConfig};
use protocol::codes::{request as rq, response as rs};
use protocol::header::PullMessageRequestHeader;
use protocol::message::{prop, Properties};
use protocol::RemotingCommand;

fn pull(topic: &str, queue_id: i32, offset: i64, suspend_ms: i64) -> PullMessageRequestHeader {
    PullMessageRequestHeader::for_queue("e2e_group", topic, queue_id, offset).long_poll(suspend_ms)
}

fn props(tag: &str, keys: &str) -> Properties {
    let mut p = Properties::default();
    p.set(prop::TAGS, tag);
    p.set(prop::KEYS, keys);
    p.set("greeting", "héllo 世界");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_pull_query_and_restart() {
    let mut cluster = common::Cluster::start().await;
    let addr = cluster.broker_addr();
    let client = cluster.client();
    let topic = "E2eTopic";
    client.create_topic(&addr, &TopicConfig { topic_name: topic.into(), read_queue_nums: 2, write_queue_nums: 2, ..Default::default() }).await.unwrap();
    cluster.wait_for_route(topic).await;
    let route = client.route(topic).await.unwrap();
    assert_eq!(route.queue_datas[0].write_queue_nums, 2);

    let mut sent = Vec::new();
    for i in 0..20 {
        let r = client
            .send(&addr, topic, i % 2, Bytes::from(format!("body-{i}")), props(if i % 2 == 0 { "even" } else { "odd" }, &format!("key-{i}")))
            .await
            .unwrap();
        assert_eq!(r.queue_offset, (i / 2) as i64);
        sent.push(r);
    }
    let batch = client.send_batch(&addr, topic, 0, (0..5).map(|i| (Bytes::from(format!("batch-{i}")), props("b", "bk"))).collect()).await.unwrap();
    assert_eq!(batch.queue_offset, 10);
    assert_eq!(batch.offset_msg_id.split(',').count(), 5);

    let got = client.pull(&addr, &pull(topic, 0, 0, 0)).await.unwrap();
    assert_eq!(got.code, rs::SUCCESS);
    let bodies: Vec<String> = got.messages.iter().map(|m| String::from_utf8(m.body.to_vec()).unwrap()).collect();
    let mut expected: Vec<String> = (0..20).step_by(2).map(|i| format!("body-{i}")).collect();
    expected.extend((0..5).map(|i| format!("batch-{i}")));
    assert_eq!(bodies, expected);
    let first = &got.messages[0];
    let p = Properties::parse(&first.properties);
    assert_eq!(p.get("greeting"), Some("héllo 世界"));
    assert_eq!(p.get(prop::CLUSTER), Some("DefaultCluster"));
    assert_eq!(first.msg_id(), sent[0].offset_msg_id);
    assert_eq!(got.header.next_begin_offset, 15);

    // A tag subscription skips the rest.
    let mut h = pull(topic, 1, 0, 0);
    h.subscription = Some("nomatch".into());
    let r = client.pull(&addr, &h).await.unwrap();
    assert_eq!((r.code, r.header.next_begin_offset), (rs::PULL_RETRY_IMMEDIATELY, 10));

    // Long polling: a parked pull is answered by the next message.
    let parked = {
        let client = cluster.client();
        let addr = addr.clone();
        tokio::spawn(async move { client.pull(&addr, &pull(topic, 1, 10, 30_000)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.send(&addr, topic, 1, Bytes::from_static(b"wake"), Properties::default()).await.unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(20), parked).await.expect("parked pull answered").unwrap().unwrap();
    assert_eq!(woke.code, rs::SUCCESS);
    assert_eq!(&woke.messages[0].body[..], b"wake");

    // Queries by offset id and by key.
    let (_, offset) = protocol::message::decode_offset_msg_id(&sent[3].offset_msg_id).unwrap();
    let view = client.invoke(&addr, RemotingCommand::request(rq::VIEW_MESSAGE_BY_ID).with_ext("offset", offset)).await.unwrap();
    assert_eq!(protocol::message::decode_record(&view.body, true).unwrap().body, Bytes::from("body-3"));
    let q = RemotingCommand::request(rq::QUERY_MESSAGE)
        .with_ext("topic", topic)
        .with_ext("key", "key-7")
        .with_ext("maxNum", 32)
        .with_ext("beginTimestamp", 0)
        .with_ext("endTimestamp", i64::MAX);
    let found = client.invoke(&addr, q).await.unwrap();
    assert_eq!(found.code, rs::SUCCESS);
    assert_eq!(protocol::message::decode_records(&found.body).unwrap()[0].body, Bytes::from("body-7"));

    // Offsets and data survive a restart.
    client.update_consumer_offset(&addr, "e2e_group", topic, 0, 7).await.unwrap();
    cluster.restart_broker().await;
    let client = cluster.client();
    assert_eq!(client.query_consumer_offset(&addr, "e2e_group", topic, 0).await.unwrap(), Some(7));
    let again = client.pull(&addr, &pull(topic, 0, 7, 0)).await.unwrap();
    assert_eq!(String::from_utf8(again.messages[0].body.to_vec()).unwrap(), "body-14");
    let r = client.send(&addr, topic, 0, Bytes::from_static(b"after"), Properties::default()).await.unwrap();
    assert_eq!(r.queue_offset, 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_topics_attributes_and_runtime_info() {
    let cluster = common::Cluster::start().await;
    let addr = cluster.broker_addr();
    let client = cluster.client();
    let create = |attrs: &str| {
        RemotingCommand::request(rq::UPDATE_AND_CREATE_TOPIC)
            .with_ext("topic", "FifoTopic")
            .with_ext("defaultTopic", "TBW102")
            .with_ext("readQueueNums", 4)
            .with_ext("writeQueueNums", 4)
            .with_ext("perm", 6)
            .with_ext("topicFilterType", "SINGLE_TAG")
            .with_ext("order", false)
            .with_ext("attributes", attrs)
    };
    assert_eq!(client.invoke(&addr, create("+message.type=FIFO")).await.unwrap().code, rs::SUCCESS);
    let r = client.invoke(&addr, create("+message.type=NOPE")).await.unwrap();
    assert_eq!(r.code, rs::SYSTEM_ERROR);
    let r = client.invoke(&addr, create("+unknown.key=1")).await.unwrap();
    assert!(r.remark.unwrap().contains("unsupported key"));
    let cfg = client.invoke(&addr, RemotingCommand::request(rq::GET_TOPIC_CONFIG).with_ext("topic", "FifoTopic")).await.unwrap();
    let cfg: TopicConfig = body::decode(&cfg.body).unwrap();
    assert_eq!(cfg.attributes.get("message.type").map(String::as_str), Some("FIFO"));

    let info = client.invoke(&addr, RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO)).await.unwrap();
    let kv: KvTable = body::decode(&info.body).unwrap();
    assert_eq!(kv.table.get("brokerVersionDesc").map(String::as_str), Some("V5_3_3"));
    for key in [
        "msgPutTotalTodayNow",
        "msgGetTotalTodayNow",
        "msgPutTotalTodayMorning",
        "msgGetTotalTodayMorning",
        "msgPutTotalYesterdayMorning",
        "msgGetTotalYesterdayMorning",
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "pageCacheLockTimeMills",
        "earliestMessageTimeStamp",
        "brokerActive",
        "timerReadBehind",
        "timerOffsetBehind",
        "timerCongestNum",
        "timerEnqueueTps",
        "timerDequeueTps",
    ] {
        let v = kv.table.get(key).unwrap_or_else(|| panic!("missing {key}"));
        v.parse::<i64>()
            .or_else(|_| v.parse::<f64>().map(|f| f as i64))
            .or_else(|_| v.parse::<bool>().map(|_| 0))
            .unwrap_or_else(|_| panic!("{key}={v} is not a number"));
    }
    for key in ["putTps", "getTransferredTps"] {
        let first = kv.table[key].split(' ').next().unwrap();
        first.parse::<f64>().unwrap();
    }
    kv.table["commitLogDiskRatio"].parse::<f64>().unwrap();

    // Deleting the topic removes it from the broker.
    let del = client.invoke(&addr, RemotingCommand::request(rq::DELETE_TOPIC_IN_BROKER).with_ext("topic", "FifoTopic")).await.unwrap();
    assert_eq!(del.code, rs::SUCCESS);
    let cfg = client.invoke(&addr, RemotingCommand::request(rq::GET_TOPIC_CONFIG).with_ext("topic", "FifoTopic")).await.unwrap();
    assert_eq!(cfg.code, rs::TOPIC_NOT_EXIST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_sends_with_a_clear_code_and_reads_go_on() {
    let cluster = common::Cluster::start_with(|c| {
        c.mapped_file_size_commit_log = 64 * 1024 * 1024;
        c.disk_capacity_bytes = Some(256 * 1024);
    })
    .await;
    let addr = cluster.broker_addr();
    let client = cluster.client();
    let body = Bytes::from(vec![b'x'; 4096]);
    let mut stored = 0;
    let refusal = loop {
        match client.send(&addr, "FullTopic", 0, body.clone(), Properties::default()).await {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 1000, "never refused");
    };
    match refusal {
        client::ClientError::Server { code, remark } => {
            assert_eq!(code, rs::SERVICE_NOT_AVAILABLE);
            assert!(remark.contains("disk full"), "{remark}");
        }
        other => panic!("unexpected {other}"),
    }
    let r = client.pull(&addr, &pull("FullTopic", 0, 0, 0)).await.unwrap();
    assert_eq!(r.code, rs::SUCCESS, "reads go on");
    assert_eq!(r.messages.len(), stored.min(32));
}
