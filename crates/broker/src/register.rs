//! Registration with every NameServer: at start, every `registerNameServerPeriod`
//! (clamped to 10–60 s as in RocketMQ), and at once when topics change.

use std::sync::Arc;
use std::time::Duration;

use client::Client;
use protocol::body::{self, RegisterBrokerBody};
use protocol::codes::request;
use protocol::header::RegisterBrokerRequestHeader;
use protocol::RemotingCommand;

use crate::Broker;

fn namesrv_addrs(broker: &Broker) -> Vec<String> {
    broker.config.namesrv_addr.as_deref().unwrap_or("").split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

impl Broker {
    /// A client of the configured NameServers (for route lookups), made on first use; `None`
    /// without `namesrvAddr`.
    pub(crate) fn namesrv_client(&self) -> Option<&Client> {
        self.namesrv
            .get_or_init(|| {
                let addrs = namesrv_addrs(self);
                (!addrs.is_empty()).then(|| Client::new(addrs))
            })
            .as_ref()
    }
}

/// How long the start waits for its first registration round (every NameServer tried once).
const FIRST_ROUND_WAIT: Duration = Duration::from_secs(3);

/// The first registration round, before the broker takes connections (as the Java broker
/// registers in `start`): when it says it is listening, its routes are already known, so
/// a first send finds them. A NameServer that does not answer delays the start by at most
/// `FIRST_ROUND_WAIT`; the periodic rounds of `run` go on trying. The client it returns is
/// `run`'s: a NameServer drops a broker whose registering connection closes.
pub(crate) async fn first_round(broker: &Broker) -> Option<Client> {
    let addrs = namesrv_addrs(broker);
    if addrs.is_empty() {
        tracing::warn!("no namesrvAddr configured; the broker will not be routable");
        return None;
    }
    let client = Client::new(addrs.clone());
    if tokio::time::timeout(FIRST_ROUND_WAIT, register_all(broker, &client, &addrs)).await.is_err() {
        tracing::warn!("first registration round did not finish in {FIRST_ROUND_WAIT:?}; going on");
    }
    Some(client)
}

/// Registers every period, and at once when topics change (`register_now`), after
/// `first_round`.
pub(crate) async fn run(broker: Arc<Broker>, client: Option<Client>) {
    let Some(client) = client else { return };
    let addrs = namesrv_addrs(&broker);
    let period = Duration::from_millis(broker.config.register_name_server_period_ms.clamp(10_000, 60_000));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = broker.register_now.notified() => {}
        }
        register_all(&broker, &client, &addrs).await;
    }
}

async fn register_all(broker: &Broker, client: &Client, addrs: &[String]) {
    let mut wrapper = broker.topics.snapshot();
    // Topics inherit the broker's permission, as RocketMQ does when it registers.
    let permission = broker.runtime.permission();
    let rw = protocol::codes::perm::READ | protocol::codes::perm::WRITE;
    if permission & rw != rw {
        for t in wrapper.topic_config_table.values_mut() {
            t.perm &= permission;
        }
    }
    let body = body::encode(&RegisterBrokerBody { topic_config_serialize_wrapper: wrapper, filter_server_list: Vec::new() });
    let header = RegisterBrokerRequestHeader {
        broker_name: broker.config.broker_name.clone(),
        broker_addr: broker.config.broker_addr(),
        cluster_name: broker.config.broker_cluster_name.clone(),
        ha_server_addr: format!("{}:{}", broker.config.broker_ip1, broker.config.listen_port + 1),
        broker_id: broker.config.broker_id,
        heartbeat_timeout_ms: None,
        compressed: false,
        body_crc32: protocol::message::crc32(&body),
    };
    for addr in addrs {
        let mut cmd = RemotingCommand::request(request::REGISTER_BROKER).with_body(body.clone());
        header.encode(&mut cmd.ext_fields);
        match client.invoke_ok(addr, cmd).await {
            Ok(_) => tracing::debug!(namesrv = %addr, "registered"),
            Err(e) => tracing::warn!(namesrv = %addr, error = %e, "broker registration failed"),
        }
    }
}

pub(crate) async fn unregister_all(broker: &Broker) {
    let addrs = namesrv_addrs(broker);
    let client = Client::new(addrs.clone());
    for addr in &addrs {
        let cmd = RemotingCommand::request(request::UNREGISTER_BROKER)
            .with_ext("brokerName", &broker.config.broker_name)
            .with_ext("brokerAddr", broker.config.broker_addr())
            .with_ext("clusterName", &broker.config.broker_cluster_name)
            .with_ext("brokerId", broker.config.broker_id);
        if let Err(e) = client.invoke_ok(addr, cmd).await {
            tracing::warn!(namesrv = %addr, error = %e, "unregister failed");
        }
    }
    client.close();
}
