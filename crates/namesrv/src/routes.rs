//! The route table: which brokers serve which topics, and which brokers are alive.
//! Pure state with no I/O; the server drives it and the tests call it directly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use protocol::body::{BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfig, TopicRouteData};

/// One live broker address.
#[derive(Debug, Clone)]
struct LiveBroker {
    cluster: String,
    broker_name: String,
    broker_id: i64,
    ha_server_addr: String,
    last_update: Instant,
    timeout: Duration,
    data_version: DataVersion,
    /// The connection it registered on; closing it removes the broker at once.
    channel_id: u64,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    topics: BTreeMap<String, BTreeMap<String, QueueData>>,
    brokers: BTreeMap<String, BrokerData>,
    clusters: BTreeMap<String, BTreeSet<String>>,
    live: HashMap<String, LiveBroker>,
}

/// A registration, as decoded from REGISTER_BROKER.
pub struct Registration<'a> {
    pub cluster: &'a str,
    pub broker_name: &'a str,
    pub broker_addr: &'a str,
    pub broker_id: i64,
    pub ha_server_addr: &'a str,
    pub timeout: Duration,
    pub data_version: DataVersion,
    pub topics: &'a BTreeMap<String, TopicConfig>,
    pub channel_id: u64,
}

/// What a registering broker is told back.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RegisterResult {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
}

impl RouteTable {
    pub fn register(&mut self, r: &Registration<'_>, now: Instant) -> RegisterResult {
        self.clusters.entry(r.cluster.to_string()).or_default().insert(r.broker_name.to_string());
        let bd = self.brokers.entry(r.broker_name.to_string()).or_insert_with(|| BrokerData {
            cluster: r.cluster.to_string(),
            broker_name: r.broker_name.to_string(),
            ..Default::default()
        });
        // The same address re-registering under another id replaces its old entry.
        bd.broker_addrs.retain(|id, addr| addr != r.broker_addr || *id == r.broker_id);
        let previous = bd.broker_addrs.insert(r.broker_id, r.broker_addr.to_string());
        // New under this id (a replica promoted to master registers as id 0 with the same
        // topics' data version): its topics are taken, as Java's `registerFirst`.
        let first = previous.as_deref() != Some(r.broker_addr);
        let changed = first || self.live.get(r.broker_addr).is_none_or(|l| l.data_version != r.data_version);
        if r.broker_id == 0 && changed {
            for (name, tc) in r.topics {
                let qd = QueueData {
                    broker_name: r.broker_name.to_string(),
                    read_queue_nums: tc.read_queue_nums,
                    write_queue_nums: tc.write_queue_nums,
                    perm: tc.perm,
                    topic_sys_flag: tc.topic_sys_flag,
                };
                self.topics.entry(name.clone()).or_default().insert(r.broker_name.to_string(), qd);
            }
        }
        self.live.insert(
            r.broker_addr.to_string(),
            LiveBroker {
                cluster: r.cluster.to_string(),
                broker_name: r.broker_name.to_string(),
                broker_id: r.broker_id,
                ha_server_addr: r.ha_server_addr.to_string(),
                last_update: now,
                timeout: r.timeout,
                data_version: r.data_version.clone(),
                channel_id: r.channel_id,
            },
        );
        let mut result = RegisterResult::default();
        if r.broker_id != 0 {
            if let Some(master) = self.brokers.get(r.broker_name).and_then(|b| b.broker_addrs.get(&0)) {
                result.ha_server_addr = self.live.get(master).map(|l| l.ha_server_addr.clone());
                result.master_addr = Some(master.clone());
            }
        }
        result
    }

    /// mqadmin's wipeWritePerm / addWritePerm: every topic's queues on `broker_name` lose the
    /// write permission, or get read and write; how many topics the broker serves. Kept until
    /// the broker registers a changed topic table (as Java), so a broker being drained takes no
    /// new sends while it finishes.
    pub fn set_write_perm(&mut self, broker_name: &str, writable: bool) -> usize {
        let mut count = 0;
        for queues in self.topics.values_mut() {
            if let Some(q) = queues.get_mut(broker_name) {
                q.perm = if writable { protocol::codes::perm::READ | protocol::codes::perm::WRITE } else { q.perm & !protocol::codes::perm::WRITE };
                count += 1;
            }
        }
        count
    }

    /// Whether the broker's data version differs from what we hold (QUERY_DATA_VERSION).
    pub fn data_version_changed(&mut self, broker_addr: &str, version: &DataVersion, now: Instant) -> bool {
        match self.live.get_mut(broker_addr) {
            Some(l) => {
                l.last_update = now;
                l.data_version != *version
            }
            None => true,
        }
    }

    pub fn touch(&mut self, broker_addr: &str, now: Instant) {
        if let Some(l) = self.live.get_mut(broker_addr) {
            l.last_update = now;
        }
    }

    pub fn unregister(&mut self, broker_addr: &str) {
        let Some(live) = self.live.remove(broker_addr) else { return };
        let name = live.broker_name.clone();
        let mut gone = false;
        if let Some(bd) = self.brokers.get_mut(&name) {
            bd.broker_addrs.retain(|_, a| a != broker_addr);
            gone = bd.broker_addrs.is_empty();
        }
        if gone {
            self.brokers.remove(&name);
            if let Some(set) = self.clusters.get_mut(&live.cluster) {
                set.remove(&name);
                if set.is_empty() {
                    self.clusters.remove(&live.cluster);
                }
            }
            self.topics.retain(|_, by_broker| {
                by_broker.remove(&name);
                !by_broker.is_empty()
            });
        }
        tracing::info!(broker = %name, addr = broker_addr, id = live.broker_id, "broker removed from routes");
    }

    /// Removes every broker registered over the closed connection.
    pub fn channel_closed(&mut self, channel_id: u64) {
        let addrs: Vec<String> = self.live.iter().filter(|(_, l)| l.channel_id == channel_id).map(|(a, _)| a.clone()).collect();
        for addr in addrs {
            self.unregister(&addr);
        }
    }

    /// Removes brokers that have not registered within their timeout.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let expired: Vec<String> = self.live.iter().filter(|(_, l)| now.duration_since(l.last_update) > l.timeout).map(|(a, _)| a.clone()).collect();
        for addr in &expired {
            tracing::warn!(addr = %addr, "broker expired: no registration within its timeout");
            self.unregister(addr);
        }
        expired
    }

    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let by_broker = self.topics.get(topic)?;
        let mut route = TopicRouteData::default();
        for (name, qd) in by_broker {
            route.queue_datas.push(qd.clone());
            if let Some(bd) = self.brokers.get(name) {
                route.broker_datas.push(bd.clone());
            }
        }
        if route.broker_datas.is_empty() {
            return None;
        }
        Some(route)
    }

    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo { broker_addr_table: self.brokers.clone(), cluster_addr_table: self.clusters.clone() }
    }

    pub fn topics(&self) -> BTreeSet<String> {
        self.topics.keys().cloned().collect()
    }

    pub fn topics_of_cluster(&self, cluster: &str) -> BTreeSet<String> {
        let Some(names) = self.clusters.get(cluster) else { return BTreeSet::new() };
        self.topics.iter().filter(|(_, b)| b.keys().any(|n| names.contains(n))).map(|(t, _)| t.clone()).collect()
    }

    /// Cluster and broker names, which are topics of their own in RocketMQ.
    pub fn system_topics(&self) -> BTreeSet<String> {
        self.clusters.iter().flat_map(|(c, names)| std::iter::once(c.clone()).chain(names.iter().cloned())).collect()
    }

    /// A broker to ask for the rest of the system topics (Java's GET_SYSTEM_TOPIC_LIST_FROM_NS
    /// names one; the client then asks it): any address of the first broker that has one.
    pub fn system_topics_broker(&self) -> Option<String> {
        self.brokers.values().find_map(|b| b.broker_addrs.values().next().cloned())
    }

    /// Deletes a topic, from the given cluster's brokers only when one is named.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) {
        match cluster.and_then(|c| self.clusters.get(c)) {
            Some(names) => {
                if let Some(by_broker) = self.topics.get_mut(topic) {
                    by_broker.retain(|n, _| !names.contains(n));
                    if by_broker.is_empty() {
                        self.topics.remove(topic);
                    }
                }
            }
            None => {
                self.topics.remove(topic);
            }
        }
    }

    /// REGISTER_TOPIC_IN_NAMESRV: adds queue data for brokers we know.
    pub fn register_topic(&mut self, topic: &str, queue_datas: &[QueueData]) {
        for qd in queue_datas {
            if self.brokers.contains_key(&qd.broker_name) {
                self.topics.entry(topic.to_string()).or_default().insert(qd.broker_name.clone(), qd.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &[&str]) -> BTreeMap<String, TopicConfig> {
        names
            .iter()
            .map(|n| (n.to_string(), TopicConfig { topic_name: n.to_string(), read_queue_nums: 4, write_queue_nums: 4, ..Default::default() }))
            .collect()
    }

    fn reg<'a>(name: &'a str, addr: &'a str, t: &'a BTreeMap<String, TopicConfig>, channel_id: u64) -> Registration<'a> {
        Registration {
            cluster: "DefaultCluster",
            broker_name: name,
            broker_addr: addr,
            broker_id: 0,
            ha_server_addr: "",
            timeout: Duration::from_secs(120),
            data_version: DataVersion { counter: 1, ..Default::default() },
            topics: t,
            channel_id,
        }
    }

    #[test]
    fn routes_span_brokers_and_expire() {
        let mut rt = RouteTable::default();
        let t = topics(&["T"]);
        let now = Instant::now();
        rt.register(&reg("a", "127.0.0.1:1", &t, 1), now);
        rt.register(&reg("b", "127.0.0.1:2", &t, 2), now + Duration::from_secs(100));
        let route = rt.route("T").unwrap();
        assert_eq!(route.queue_datas.len(), 2);
        assert_eq!(rt.cluster_info().cluster_addr_table["DefaultCluster"].len(), 2);
        assert_eq!(rt.expire(now + Duration::from_secs(121)), vec!["127.0.0.1:1".to_string()]);
        let route = rt.route("T").unwrap();
        assert_eq!(route.broker_datas.len(), 1);
        assert_eq!(route.broker_datas[0].broker_name, "b");
        rt.channel_closed(2);
        assert!(rt.route("T").is_none());
        assert!(rt.topics().is_empty());
    }

    #[test]
    fn write_permission_is_wiped_and_given_back_per_broker() {
        let mut rt = RouteTable::default();
        let t: BTreeMap<String, TopicConfig> = topics(&["T", "U"]).into_iter().map(|(n, c)| (n, TopicConfig { perm: 6, ..c })).collect();
        rt.register(&reg("a", "127.0.0.1:1", &t, 1), Instant::now());
        rt.register(&reg("b", "127.0.0.1:2", &t, 2), Instant::now());
        assert_eq!(rt.set_write_perm("a", false), 2);
        fn perms(rt: &RouteTable, topic: &str) -> Vec<(String, i32)> {
            rt.route(topic).unwrap().queue_datas.iter().map(|q| (q.broker_name.clone(), q.perm)).collect()
        }
        assert_eq!(perms(&rt, "T"), [("a".to_string(), 4), ("b".to_string(), 6)]);
        // A registration with the same data version leaves it; addWritePerm gives it back.
        rt.register(&reg("a", "127.0.0.1:1", &t, 1), Instant::now());
        assert_eq!(perms(&rt, "U")[0].1, 4);
        assert_eq!(rt.set_write_perm("a", true), 2);
        assert_eq!(perms(&rt, "U")[0].1, 6);
        assert_eq!(rt.set_write_perm("nobody", false), 0);
    }

    #[test]
    fn delete_topic_by_cluster() {
        let mut rt = RouteTable::default();
        let t = topics(&["T", "U"]);
        rt.register(&reg("a", "127.0.0.1:1", &t, 1), Instant::now());
        rt.delete_topic("T", Some("DefaultCluster"));
        assert!(rt.route("T").is_none());
        assert!(rt.route("U").is_some());
        assert_eq!(rt.system_topics(), BTreeSet::from(["DefaultCluster".to_string(), "a".to_string()]));
        assert_eq!(rt.system_topics_broker().as_deref(), Some("127.0.0.1:1"));
        assert_eq!(RouteTable::default().system_topics_broker(), None);
    }
}
