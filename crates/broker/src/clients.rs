//! Producer and consumer connections by group, with the subscriptions consumers
//! declare in their heartbeats. Changes to a consumer group's members are pushed to
//! its other members (NOTIFY_CONSUMER_IDS_CHANGED) so they rebalance at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use protocol::body::{Connection, ConsumerConnection, ConsumerData, ProducerConnection, SubscriptionData};
use protocol::LanguageCode;

use crate::push::{ClientConn, ClientPush};

/// A client as its last heartbeat described it, and its connection.
#[derive(Clone)]
pub struct ClientChannel {
    pub conn: Arc<dyn ClientConn>,
    pub client_id: String,
    pub language: LanguageCode,
    pub version: i32,
    pub last_update: Instant,
}

#[derive(Clone, Default)]
pub struct ConsumerGroup {
    pub channels: HashMap<u64, ClientChannel>,
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    pub consume_type: Option<String>,
    pub message_model: Option<String>,
    pub consume_from_where: Option<String>,
}

impl ClientChannel {
    /// The client as admin answers list it.
    fn connection(&self) -> Connection {
        Connection {
            client_id: self.client_id.clone(),
            client_addr: self.conn.remote_addr().to_string(),
            language: self.language.name().to_string(),
            version: self.version,
        }
    }
}

#[derive(Default)]
pub struct ClientManager {
    producers: RwLock<HashMap<String, HashMap<u64, ClientChannel>>>,
    consumers: RwLock<HashMap<String, ConsumerGroup>>,
}

impl ClientManager {
    pub fn register_producer(&self, group: &str, client: ClientChannel) {
        let mut p = self.producers.write().unwrap_or_else(|e| e.into_inner());
        p.entry(group.to_string()).or_default().insert(client.conn.id(), client);
    }

    /// A live connection of a producer of `group` (a transaction's check-back goes there);
    /// which one changes from call to call.
    pub fn producer_of_group(&self, group: &str) -> Option<Arc<dyn ClientConn>> {
        let p = self.producers.read().unwrap_or_else(|e| e.into_inner());
        let live: Vec<&ClientChannel> = p.get(group)?.values().filter(|c| !c.conn.is_closed()).collect();
        if live.is_empty() {
            return None;
        }
        Some(live[rand::random::<usize>() % live.len()].conn.clone())
    }

    /// The clients of a producer group (GET_PRODUCER_CONNECTION_LIST); `None` for a group
    /// that never registered here.
    pub fn producer_connection(&self, group: &str) -> Option<ProducerConnection> {
        let p = self.producers.read().unwrap_or_else(|e| e.into_inner());
        let channels = p.get(group)?;
        Some(ProducerConnection { connection_set: channels.values().map(ClientChannel::connection).collect() })
    }

    /// A live channel of the producer client with this id, in any group.
    pub fn producer_channel(&self, client_id: &str) -> Option<Arc<dyn ClientConn>> {
        let p = self.producers.read().unwrap_or_else(|e| e.into_inner());
        p.values().flat_map(|m| m.values()).find(|c| c.client_id == client_id && !c.conn.is_closed()).map(|c| c.conn.clone())
    }

    /// A live channel of the consumer client with this id in the group.
    pub fn consumer_channel(&self, group: &str, client_id: &str) -> Option<Arc<dyn ClientConn>> {
        let c = self.consumers.read().unwrap_or_else(|e| e.into_inner());
        c.get(group)?.channels.values().find(|ch| ch.client_id == client_id && !ch.conn.is_closed()).map(|ch| ch.conn.clone())
    }

    /// Records a consumer heartbeat; returns true when the group's members changed.
    pub fn register_consumer(&self, data: &ConsumerData, client: ClientChannel) -> bool {
        let mut c = self.consumers.write().unwrap_or_else(|e| e.into_inner());
        let g = c.entry(data.group_name.clone()).or_default();
        let id = client.conn.id();
        let new_member = g.channels.get(&id).is_none_or(|old| old.client_id != client.client_id);
        g.channels.insert(id, client);
        g.consume_type = data.consume_type.clone();
        g.message_model = data.message_model.clone();
        g.consume_from_where = data.consume_from_where.clone();
        let mut changed_subs = false;
        for sub in &data.subscription_data_set {
            match g.subscriptions.get(&sub.topic) {
                Some(old) if old.sub_version >= sub.sub_version => {}
                _ => {
                    g.subscriptions.insert(sub.topic.clone(), sub.clone());
                    changed_subs = true;
                }
            }
        }
        let before = g.subscriptions.len();
        g.subscriptions.retain(|topic, _| data.subscription_data_set.iter().any(|s| &s.topic == topic));
        changed_subs |= before != g.subscriptions.len();
        new_member || changed_subs
    }

    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.consumers.read().unwrap_or_else(|e| e.into_inner()).get(group)?.subscriptions.get(topic).cloned()
    }

    pub fn consumer_group(&self, group: &str) -> Option<ConsumerGroup> {
        self.consumers.read().unwrap_or_else(|e| e.into_inner()).get(group).cloned()
    }

    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        let c = self.consumers.read().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<String> = c.get(group).map(|g| g.channels.values().map(|ch| ch.client_id.clone()).collect()).unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Groups subscribed to a topic.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        let c = self.consumers.read().unwrap_or_else(|e| e.into_inner());
        c.iter().filter(|(_, g)| g.subscriptions.contains_key(topic)).map(|(n, _)| n.clone()).collect()
    }

    /// Every consumer group with a connected client (cloned).
    pub fn consumer_groups(&self) -> Vec<(String, ConsumerGroup)> {
        let c = self.consumers.read().unwrap_or_else(|e| e.into_inner());
        c.iter().filter(|(_, g)| !g.channels.is_empty()).map(|(n, g)| (n.clone(), g.clone())).collect()
    }

    /// Connections counted (metrics): producers by (language, version); consumers by
    /// (group, language, version, consume type).
    #[allow(clippy::type_complexity, reason = "two count tables, keyed as their metrics are labelled")]
    pub fn connection_counts(&self) -> (BTreeMap<(&'static str, i32), u64>, BTreeMap<(String, &'static str, i32, Option<String>), u64>) {
        let mut producers = BTreeMap::new();
        for channels in self.producers.read().unwrap_or_else(|e| e.into_inner()).values() {
            for ch in channels.values() {
                *producers.entry((ch.language.name(), ch.version)).or_insert(0) += 1;
            }
        }
        let mut consumers = BTreeMap::new();
        for (group, g) in self.consumers.read().unwrap_or_else(|e| e.into_inner()).iter() {
            for ch in g.channels.values() {
                *consumers.entry((group.clone(), ch.language.name(), ch.version, g.consume_type.clone())).or_insert(0) += 1;
            }
        }
        (producers, consumers)
    }

    pub fn connection(&self, group: &str) -> Option<ConsumerConnection> {
        let g = self.consumer_group(group)?;
        if g.channels.is_empty() {
            return None;
        }
        Some(ConsumerConnection {
            connection_set: g.channels.values().map(ClientChannel::connection).collect(),
            subscription_table: g.subscriptions.clone(),
            consume_type: g.consume_type.clone(),
            message_model: g.message_model.clone(),
            consume_from_where: g.consume_from_where.clone(),
        })
    }

    /// Removes a client from the named groups; returns the consumer groups that changed.
    pub fn unregister(&self, channel_id: u64, producer_group: Option<&str>, consumer_group: Option<&str>) -> Vec<String> {
        if let Some(pg) = producer_group {
            if let Some(m) = self.producers.write().unwrap_or_else(|e| e.into_inner()).get_mut(pg) {
                m.remove(&channel_id);
            }
        }
        let mut changed = Vec::new();
        if let Some(cg) = consumer_group {
            let mut c = self.consumers.write().unwrap_or_else(|e| e.into_inner());
            if let Some(g) = c.get_mut(cg) {
                if g.channels.remove(&channel_id).is_some() {
                    changed.push(cg.to_string());
                }
            }
        }
        changed
    }

    /// Removes a closed channel everywhere; returns the consumer groups that changed.
    pub fn channel_closed(&self, channel_id: u64) -> Vec<String> {
        for m in self.producers.write().unwrap_or_else(|e| e.into_inner()).values_mut() {
            m.remove(&channel_id);
        }
        let mut changed = Vec::new();
        let mut c = self.consumers.write().unwrap_or_else(|e| e.into_inner());
        for (name, g) in c.iter_mut() {
            if g.channels.remove(&channel_id).is_some() {
                changed.push(name.clone());
            }
        }
        changed
    }

    /// Drops channels silent for longer than `timeout`; returns the changed groups.
    pub fn expire(&self, timeout: Duration, now: Instant) -> Vec<String> {
        let stale = |c: &ClientChannel| now.duration_since(c.last_update) > timeout;
        for m in self.producers.write().unwrap_or_else(|e| e.into_inner()).values_mut() {
            m.retain(|_, c| !stale(c));
        }
        let mut changed = Vec::new();
        let mut c = self.consumers.write().unwrap_or_else(|e| e.into_inner());
        for (name, g) in c.iter_mut() {
            let before = g.channels.len();
            g.channels.retain(|_, ch| {
                let keep = !stale(ch);
                if !keep {
                    ch.conn.close();
                }
                keep
            });
            if g.channels.len() != before {
                changed.push(name.clone());
            }
        }
        changed
    }

    /// Tells every member of a group that its members changed (oneway, best effort).
    pub fn notify_ids_changed(&self, group: &str) {
        let Some(g) = self.consumer_group(group) else { return };
        for c in g.channels.into_values() {
            let sent = c.conn.push(ClientPush::ConsumerIdsChanged { group: group.to_string() });
            tokio::spawn(async move {
                if let Err(e) = sent.await {
                    tracing::debug!(error = %e, "NOTIFY_CONSUMER_IDS_CHANGED not delivered");
                }
            });
        }
    }
}
