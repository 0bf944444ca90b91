//! Broker-to-client requests and client bookkeeping, seen from raw client connections.

mod common;

use std::sync::Arc;
use std::time::Duration;

use protocol::body::{self, ConsumerData, ConsumerIdList, HeartbeatData, SubscriptionData};
use protocol::codes::{request as rq, response as rs};
use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, ChannelConfig, Handler};
use tokio::sync::mpsc;

/// Records every request the broker sends to this client.
struct Recorder(mpsc::UnboundedSender<RemotingCommand>);

impl Handler for Recorder {
    fn handle(&self, _channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let _ = self.0.send(request);
        Box::pin(async { None })
    }
}

async fn client(addr: &str) -> (Arc<Channel>, mpsc::UnboundedReceiver<RemotingCommand>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let ch = remoting::connect(addr, Arc::new(Recorder(tx)), ChannelConfig::default(), Duration::from_secs(3)).await.unwrap();
    (ch, rx)
}

fn heartbeat(client_id: &str) -> RemotingCommand {
    let hb = HeartbeatData {
        client_id: client_id.into(),
        consumer_data_set: vec![ConsumerData {
            group_name: "notify_group".into(),
            consume_type: Some("CONSUME_PASSIVELY".into()),
            message_model: Some("CLUSTERING".into()),
            consume_from_where: Some("CONSUME_FROM_LAST_OFFSET".into()),
            subscription_data_set: vec![SubscriptionData { topic: "NotifyTopic".into(), sub_string: "*".into(), sub_version: 1, ..Default::default() }],
            unit_mode: false,
        }],
        ..Default::default()
    };
    RemotingCommand::request(rq::HEART_BEAT).with_body(body::encode(&hb))
}

async fn next_notify(rx: &mut mpsc::UnboundedReceiver<RemotingCommand>) -> RemotingCommand {
    let cmd = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a request from the broker").unwrap();
    assert_eq!(cmd.code, rq::NOTIFY_CONSUMER_IDS_CHANGED);
    assert!(cmd.is_oneway());
    assert_eq!(cmd.ext_fields.get("consumerGroup"), Some("notify_group"));
    cmd
}

async fn consumer_ids(ch: &Channel) -> Vec<String> {
    let r =
        ch.invoke(RemotingCommand::request(rq::GET_CONSUMER_LIST_BY_GROUP).with_ext("consumerGroup", "notify_group"), Duration::from_secs(5)).await.unwrap();
    if r.code != rs::SUCCESS {
        return Vec::new();
    }
    body::decode::<ConsumerIdList>(&r.body).unwrap().consumer_id_list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_membership_changes_are_pushed_to_the_group() {
    let cluster = common::Cluster::start().await;
    let addr = cluster.broker_addr();
    let (a, mut a_rx) = client(&addr).await;
    let (b, mut b_rx) = client(&addr).await;

    assert_eq!(a.invoke(heartbeat("client-a"), Duration::from_secs(5)).await.unwrap().code, rs::SUCCESS);
    next_notify(&mut a_rx).await;
    assert_eq!(b.invoke(heartbeat("client-b"), Duration::from_secs(5)).await.unwrap().code, rs::SUCCESS);
    next_notify(&mut a_rx).await;
    next_notify(&mut b_rx).await;
    assert_eq!(consumer_ids(&a).await, vec!["client-a".to_string(), "client-b".to_string()]);

    // The retry topic was created and routed.
    cluster.wait_for_route("%RETRY%notify_group").await;

    // A repeated heartbeat changes nothing and notifies nobody.
    a.invoke(heartbeat("client-a"), Duration::from_secs(5)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a_rx.try_recv().is_err(), "no notification for an unchanged group");

    // b goes away without a word: its connection closing is enough.
    b.close();
    next_notify(&mut a_rx).await;
    assert_eq!(consumer_ids(&a).await, vec!["client-a".to_string()]);

    // An explicit UNREGISTER_CLIENT leaves the group empty.
    let un = RemotingCommand::request(rq::UNREGISTER_CLIENT).with_ext("clientID", "client-a").with_ext("consumerGroup", "notify_group");
    assert_eq!(a.invoke(un, Duration::from_secs(5)).await.unwrap().code, rs::SUCCESS);
    assert!(consumer_ids(&a).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namesrv_kv_config() {
    let cluster = common::Cluster::start().await;
    let client = cluster.client();
    let put = RemotingCommand::request(rq::PUT_KV_CONFIG).with_ext("namespace", "ORDER_TOPIC_CONFIG").with_ext("key", "T").with_ext("value", "broker-a:4");
    assert_eq!(client.invoke_namesrv(put).await.unwrap().code, rs::SUCCESS);
    let get = RemotingCommand::request(rq::GET_KV_CONFIG).with_ext("namespace", "ORDER_TOPIC_CONFIG").with_ext("key", "T");
    let r = client.invoke_namesrv(get.clone()).await.unwrap();
    assert_eq!(r.ext_fields.get("value"), Some("broker-a:4"));
    let list = client.invoke_namesrv(RemotingCommand::request(rq::GET_KVLIST_BY_NAMESPACE).with_ext("namespace", "ORDER_TOPIC_CONFIG")).await.unwrap();
    assert_eq!(body::decode::<body::KvTable>(&list.body).unwrap().table.get("T").map(String::as_str), Some("broker-a:4"));
    let del = RemotingCommand::request(rq::DELETE_KV_CONFIG).with_ext("namespace", "ORDER_TOPIC_CONFIG").with_ext("key", "T");
    assert_eq!(client.invoke_namesrv(del).await.unwrap().code, rs::SUCCESS);
    assert_eq!(client.invoke_namesrv(get).await.unwrap().code, rs::QUERY_NOT_FOUND);
}
