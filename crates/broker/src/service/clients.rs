//! Clients: heartbeats (registering producers, consumers and their subscriptions, and each
//! consumer group's retry topic), unregistering, a group's members, the subscription check,
//! and a consumer's running info relayed from the client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::body::HeartbeatData;
use protocol::names;
use protocol::LanguageCode;

use crate::clients::ClientChannel;
use crate::error::{BrokerError, BrokerResult};
use crate::push::{ClientAnswer, ClientAsk, ClientConn};
use crate::Broker;

/// How long a consumer has to answer for its running info.
const RUNNING_INFO_TIMEOUT: Duration = Duration::from_secs(5);

/// Who sent a heartbeat.
pub struct ClientInfo {
    pub conn: Arc<dyn ClientConn>,
    pub language: LanguageCode,
    pub version: i32,
}

impl Broker {
    pub fn heartbeat(&self, hb: &HeartbeatData, from: ClientInfo) {
        let client =
            ClientChannel { conn: from.conn, client_id: hb.client_id.clone(), language: from.language, version: from.version, last_update: Instant::now() };
        for p in &hb.producer_data_set {
            self.clients.register_producer(&p.group_name, client.clone());
        }
        for c in &hb.consumer_data_set {
            if names::validate_group(&c.group_name).is_err() {
                continue;
            }
            let Some(group) = self.groups.find_or_create(&c.group_name) else { continue };
            // The retry topic exists for every consumer group and is routed at once.
            self.topics.ensure_retry_topic(&c.group_name, group.retry_queue_nums);
            if self.clients.register_consumer(c, client.clone()) && group.notify_consumer_ids_changed_enable {
                self.clients.notify_ids_changed(&c.group_name);
            }
        }
    }

    /// Removes a connection's client from the named groups; the consumer group's other
    /// members are told.
    pub fn unregister_client(&self, conn_id: u64, producer_group: Option<&str>, consumer_group: Option<&str>) {
        for group in self.clients.unregister(conn_id, producer_group, consumer_group) {
            self.clients.notify_ids_changed(&group);
        }
    }

    /// A connection closed: its clients leave every group.
    pub fn connection_closed(&self, conn_id: u64) {
        for group in self.clients.channel_closed(conn_id) {
            self.clients.notify_ids_changed(&group);
        }
    }

    /// The client ids of a consumer group's members.
    pub fn consumer_ids(&self, group: &str) -> BrokerResult<Vec<String>> {
        let ids = self.clients.consumer_ids(group);
        if ids.is_empty() {
            return Err(BrokerError::system(format!("no consumer for this group, {group}")));
        }
        Ok(ids)
    }

    /// GET_CONSUMER_RUNNING_INFO: asked of the broker, answered by the consumer client.
    pub async fn consumer_running_info(&self, group: &str, client_id: &str, jstack: bool) -> BrokerResult<ClientAnswer> {
        let Some(conn) = self.clients.consumer_channel(group, client_id) else {
            return Err(BrokerError::system(format!("The Consumer <{client_id}> not online")));
        };
        let ask = ClientAsk::ConsumerRunningInfo { group: group.to_string(), client_id: client_id.to_string(), jstack };
        conn.ask(ask, RUNNING_INFO_TIMEOUT).await.map_err(|e| BrokerError::system(format!("invoke consumer <{client_id}> failed: {e}")))
    }
}
