//! The broker's metrics with the Java 5.x broker's names and labels (`BrokerMetricsManager`,
//! `DefaultStoreMetricsManager`, the remoting `rocketmq_rpc_latency`), for its Prometheus
//! exporter (`metricsExporterType=PROM`) and the dashboard.
//!
//! Recording is an atomic add on a per-topic (or per topic and group) entry found under a read
//! lock, done only when something reads metrics (the exporter or the dashboard). Everything
//! else — lag, connections, storage, counts of topics and groups — is computed when scraped,
//! from the broker's own state, as Java's observable gauges are.
//!
//! Series are bounded: `metricsOtelCardinalityLimit` (Java's key and default) caps the
//! entries of each recorded family; past it new series are not recorded (a warning says so
//! once), so a client inventing group names cannot grow our memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use protocol::message::{prop, Properties};
use remoting::metrics::{Exposition, Histogram, RpcLatency};

use crate::Broker;

/// `message_type` label values (Java's `TopicMessageType` lower-cased), by index.
const MESSAGE_TYPES: [&str; 4] = ["normal", "fifo", "delay", "transaction"];
/// Java's buckets for `rocketmq_message_size`, in bytes.
const MESSAGE_SIZE_BYTES: &[u64] = &[1024, 4096, 524_288, 1_048_576, 2_097_152, 4_194_304];

/// A message's type as Java's `BrokerMetricsManager.getMessageType` judges it: an index into
/// [`MESSAGE_TYPES`].
pub fn message_type(props: &Properties) -> usize {
    if props.get(prop::TRAN_MSG) == Some("true") {
        3
    } else if props.get(protocol::message_type::SHARDING_KEY).is_some() {
        1
    } else if ["__STARTDELIVERTIME", prop::DELAY].iter().chain(protocol::message_type::TIMER_KEYS.iter()).any(|k| props.get(k).is_some()) {
        2
    } else {
        0
    }
}

#[derive(Default)]
struct Counts {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Counts {
    fn add(&self, messages: u64, bytes: u64) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    fn get(&self) -> (u64, u64) {
        (self.messages.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

/// What producers stored in one topic, per message type.
struct TopicIn {
    counts: [Counts; 4],
    sizes: [Histogram; 4],
}

impl Default for TopicIn {
    fn default() -> Self {
        TopicIn { counts: Default::default(), sizes: std::array::from_fn(|_| Histogram::new(MESSAGE_SIZE_BYTES)) }
    }
}

/// What one group read of one topic: `[0]` from the topic, `[1]` from its POP retry topic.
#[derive(Default)]
struct TopicOut {
    counts: [Counts; 2],
}

/// The broker's recorded metrics.
pub struct Metrics {
    on: bool,
    limit: usize,
    /// The families whose cap has been reported (once each).
    warned: Mutex<std::collections::HashSet<&'static str>>,
    pub rpc: RpcLatency,
    inbound: RwLock<HashMap<String, Arc<TopicIn>>>,
    /// topic → group → counts.
    outbound: RwLock<HashMap<String, HashMap<String, Arc<TopicOut>>>>,
    /// (group, topic) → messages moved to the group's DLQ.
    dead_lettered: Mutex<BTreeMap<(String, String), u64>>,
    /// The next offset each group pulls each queue from (Java's pull offsets).
    pull_offsets: Mutex<PullOffsets>,
    /// (topic, committed) → transactions decided.
    decided: Mutex<BTreeMap<(String, bool), u64>>,
    /// (topic, delivered) → timer messages taken into the timer (false) or delivered (true).
    timers: Mutex<BTreeMap<(String, bool), u64>>,
}

/// group → topic → queue → next offset to pull, and how many entries.
#[derive(Default)]
struct PullOffsets {
    by_group: HashMap<String, HashMap<String, HashMap<i32, i64>>>,
    len: usize,
}

impl Metrics {
    /// `on`: whether anything reads them; off, recording does nothing.
    pub fn new(on: bool, cardinality_limit: usize) -> Metrics {
        Metrics {
            on,
            limit: cardinality_limit.max(1),
            warned: Mutex::default(),
            rpc: RpcLatency::default(),
            inbound: RwLock::default(),
            outbound: RwLock::default(),
            dead_lettered: Mutex::default(),
            pull_offsets: Mutex::default(),
            decided: Mutex::default(),
            timers: Mutex::default(),
        }
    }

    /// Adds `n` to a (topic, flag) counter, within the cardinality limit.
    fn count(&self, map: &Mutex<BTreeMap<(String, bool), u64>>, topic: &str, which: bool, n: u64, family: &'static str) {
        if !self.on {
            return;
        }
        let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get_mut(&(topic.to_string(), which)) {
            *c += n;
        } else if !self.over_limit(map.len(), family) {
            map.insert((topic.to_string(), which), n);
        }
    }

    /// A transaction of `topic` was committed (or rolled back).
    pub fn decided(&self, topic: &str, committed: bool) {
        let family = if committed { "rocketmq_commit_messages_total" } else { "rocketmq_rollback_messages_total" };
        self.count(&self.decided, topic, committed, 1, family);
    }

    /// `n` timer messages of `topic` were taken into the timer (or delivered).
    pub fn timers(&self, topic: &str, delivered: bool, n: u64) {
        let family = if delivered { "rocketmq_timer_dequeue_total" } else { "rocketmq_timer_enqueue_total" };
        self.count(&self.timers, topic, delivered, n, family);
    }

    pub fn on(&self) -> bool {
        self.on
    }

    fn over_limit(&self, len: usize, what: &'static str) -> bool {
        let over = len >= self.limit;
        if over && self.warned.lock().unwrap_or_else(|e| e.into_inner()).insert(what) {
            tracing::warn!(limit = self.limit, family = what, "metricsOtelCardinalityLimit reached: new series are not recorded");
        }
        over
    }

    /// Producers stored `messages` (of `kind`, [`message_type`]) in `topic`, `bytes` in all.
    pub fn sent(&self, topic: &str, kind: usize, messages: u64, bytes: u64) {
        if !self.on || messages == 0 || protocol::names::is_group_topic(topic) {
            return;
        }
        let entry = self.inbound.read().unwrap_or_else(|e| e.into_inner()).get(topic).cloned();
        let entry = match entry {
            Some(e) => e,
            None => {
                let mut map = self.inbound.write().unwrap_or_else(|e| e.into_inner());
                if !map.contains_key(topic) && self.over_limit(map.len(), "rocketmq_messages_in_total") {
                    return;
                }
                map.entry(topic.to_string()).or_default().clone()
            }
        };
        let kind = kind.min(3);
        entry.counts[kind].add(messages, bytes);
        entry.sizes[kind].observe(bytes / messages);
    }

    /// `group` was handed `messages` of `topic` (`retry`: from its POP retry topic).
    pub fn consumed(&self, topic: &str, group: &str, retry: bool, messages: u64, bytes: u64) {
        if !self.on || messages == 0 {
            return;
        }
        let found = self.outbound.read().unwrap_or_else(|e| e.into_inner()).get(topic).and_then(|g| g.get(group).cloned());
        let entry = match found {
            Some(e) => e,
            None => {
                let mut map = self.outbound.write().unwrap_or_else(|e| e.into_inner());
                let total: usize = map.values().map(HashMap::len).sum();
                let known = map.get(topic).is_some_and(|g| g.contains_key(group));
                if !known && self.over_limit(total, "rocketmq_messages_out_total") {
                    return;
                }
                map.entry(topic.to_string()).or_default().entry(group.to_string()).or_default().clone()
            }
        };
        entry.counts[usize::from(retry)].add(messages, bytes);
    }

    /// `group` pulled `topic`'s queue up to `next_offset`.
    pub fn pulled(&self, group: &str, topic: &str, queue_id: i32, next_offset: i64) {
        if !self.on {
            return;
        }
        let mut offsets = self.pull_offsets.lock().unwrap_or_else(|e| e.into_inner());
        // Found by reference: the common case allocates nothing.
        if let Some(o) = offsets.by_group.get_mut(group).and_then(|t| t.get_mut(topic)).and_then(|q| q.get_mut(&queue_id)) {
            *o = next_offset;
            return;
        }
        if self.over_limit(offsets.len, "pull offsets") {
            return;
        }
        offsets.len += 1;
        offsets.by_group.entry(group.to_string()).or_default().entry(topic.to_string()).or_default().insert(queue_id, next_offset);
    }

    fn pull_offset(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        let offsets = self.pull_offsets.lock().unwrap_or_else(|e| e.into_inner());
        offsets.by_group.get(group)?.get(topic)?.get(&queue_id).copied()
    }

    /// `messages` of `topic` given back by `group` went to its DLQ.
    pub fn dead_lettered(&self, group: &str, topic: &str, messages: u64) {
        if !self.on {
            return;
        }
        let mut map = self.dead_lettered.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&(group.to_string(), topic.to_string())) {
            *n += messages;
        } else if !self.over_limit(map.len(), "rocketmq_send_to_dlq_messages_total") {
            map.insert((group.to_string(), topic.to_string()), messages);
        }
    }

    /// A deleted topic's series go (its counters, its groups' reads, DLQ moves and pull
    /// offsets), so topics that come and go do not fill the cap.
    pub fn forget_topic(&self, topic: &str) {
        self.inbound.write().unwrap_or_else(|e| e.into_inner()).remove(topic);
        self.outbound.write().unwrap_or_else(|e| e.into_inner()).remove(topic);
        self.dead_lettered.lock().unwrap_or_else(|e| e.into_inner()).retain(|(_, t), _| t != topic);
        self.decided.lock().unwrap_or_else(|e| e.into_inner()).retain(|(t, _), _| t != topic);
        self.timers.lock().unwrap_or_else(|e| e.into_inner()).retain(|(t, _), _| t != topic);
        let mut offsets = self.pull_offsets.lock().unwrap_or_else(|e| e.into_inner());
        let mut removed = 0;
        for topics in offsets.by_group.values_mut() {
            removed += topics.remove(topic).map_or(0, |q| q.len());
        }
        offsets.by_group.retain(|_, t| !t.is_empty());
        offsets.len -= removed;
    }

    /// A deleted group's series go (its reads, DLQ moves and pull offsets).
    pub fn forget_group(&self, group: &str) {
        let mut outbound = self.outbound.write().unwrap_or_else(|e| e.into_inner());
        for groups in outbound.values_mut() {
            groups.remove(group);
        }
        outbound.retain(|_, g| !g.is_empty());
        drop(outbound);
        self.dead_lettered.lock().unwrap_or_else(|e| e.into_inner()).retain(|(g, _), _| g != group);
        let mut offsets = self.pull_offsets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(topics) = offsets.by_group.remove(group) {
            offsets.len -= topics.values().map(HashMap::len).sum::<usize>();
        }
    }

    /// Messages producers stored in each topic since the start (every message type).
    pub fn messages_in_by_topic(&self) -> Vec<(String, u64)> {
        let map = self.inbound.read().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(t, c)| (t.clone(), c.counts.iter().map(|c| c.get().0).sum())).collect()
    }

    /// Messages and bytes stored by producers, and handed to consumers, over every topic.
    pub fn totals(&self) -> ((u64, u64), (u64, u64)) {
        let mut inbound = (0, 0);
        for t in self.inbound.read().unwrap_or_else(|e| e.into_inner()).values() {
            for c in &t.counts {
                let (m, b) = c.get();
                inbound = (inbound.0 + m, inbound.1 + b);
            }
        }
        let mut outbound = (0, 0);
        for groups in self.outbound.read().unwrap_or_else(|e| e.into_inner()).values() {
            for t in groups.values() {
                for c in &t.counts {
                    let (m, b) = c.get();
                    outbound = (outbound.0 + m, outbound.1 + b);
                }
            }
        }
        (inbound, outbound)
    }
}

/// Two counter families kept in one (topic, flag) map: each family's series are those with
/// its flag, labelled by topic and `extra`.
fn write_by_topic(out: &mut Exposition, map: &Mutex<BTreeMap<(String, bool), u64>>, families: [(&str, &str, bool); 2], extra: &[(&str, &str)]) {
    let counts = map.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for (name, help, which) in families {
        out.family(name, "counter", help);
        for ((topic, _), n) in counts.iter().filter(|((_, f), _)| *f == which) {
            let mut labels = vec![("topic", topic.as_str())];
            labels.extend_from_slice(extra);
            out.sample(name, &labels, n);
        }
    }
}

fn flag(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

impl Broker {
    /// The metrics in Prometheus' text format: the broker's, the store's, the remoting
    /// latency, and the process'.
    pub fn metrics_text(&self) -> String {
        let mut out = Exposition::new(self.metric_labels());
        self.write_metrics(&mut out);
        self.metrics.rpc.write(&mut out);
        out.set_common(Vec::new());
        remoting::metrics::process(&mut out);
        out.finish()
    }

    /// The labels on every series: `metricsLabel`'s pairs, `aggregation=delta` with
    /// `metricsInDelta`, then node type, cluster and node id (Java's order).
    pub fn metric_labels(&self) -> Vec<(String, String)> {
        let c = &self.config;
        let mut labels: Vec<(String, String)> = c
            .metrics_label
            .split(',')
            .filter_map(|kv| {
                let (k, v) = kv.split_once(':')?;
                (crate::config::is_metric_label_name(k.trim()) && !v.contains(':')).then(|| (k.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        if c.metrics_in_delta {
            labels.push(("aggregation".into(), "delta".into()));
        }
        labels.push(("node_type".into(), "broker".into()));
        labels.push(("cluster".into(), c.broker_cluster_name.clone()));
        labels.push(("node_id".into(), c.broker_name.clone()));
        labels
    }

    /// Every family but `rocketmq_rpc_latency` (see [`Broker::metrics_text`]; a process with a
    /// NameServer too writes that one family once, with both servers' series).
    pub fn write_metrics(&self, out: &mut Exposition) {
        let m = &self.metrics;
        out.family("rocketmq_broker_permission", "gauge", "The broker's permission (2 write, 4 read, 6 both).");
        out.sample("rocketmq_broker_permission", &[], self.runtime.permission());
        out.family("rocketmq_topic_number", "gauge", "Topics on this broker, system topics included.");
        out.sample("rocketmq_topic_number", &[], self.topics.names().len());
        out.family("rocketmq_consumer_group_number", "gauge", "Consumer groups on this broker.");
        out.sample("rocketmq_consumer_group_number", &[], self.groups.snapshot().subscription_group_table.len());

        let inbound: Vec<(String, Arc<TopicIn>)> = m.inbound.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let in_series = || {
            inbound.iter().flat_map(|(topic, t)| {
                (0..4)
                    .filter(|i| t.counts[*i].get().0 > 0)
                    .map(move |i| (topic.as_str(), MESSAGE_TYPES[i], self.is_system_topic(topic), &t.counts[i], &t.sizes[i]))
            })
        };
        for (name, help, bytes) in
            [("rocketmq_messages_in_total", "Messages producers stored.", false), ("rocketmq_throughput_in_total", "Bytes producers stored.", true)]
        {
            out.family(name, "counter", help);
            for (topic, kind, system, counts, _) in in_series() {
                let (msgs, b) = counts.get();
                out.sample(name, &[("topic", topic), ("message_type", kind), ("is_system", flag(system))], if bytes { b } else { msgs });
            }
        }
        out.family("rocketmq_message_size", "histogram", "Sizes of the messages producers stored (bytes).");
        for (topic, kind, system, _, sizes) in in_series() {
            out.histogram("rocketmq_message_size", &[("topic", topic), ("message_type", kind), ("is_system", flag(system))], &sizes.snapshot());
        }

        let outbound: Vec<(String, String, Arc<TopicOut>)> = m
            .outbound
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flat_map(|(t, groups)| groups.iter().map(move |(g, c)| (t.clone(), g.clone(), c.clone())))
            .collect();
        for (name, help, bytes) in
            [("rocketmq_messages_out_total", "Messages handed to consumers.", false), ("rocketmq_throughput_out_total", "Bytes handed to consumers.", true)]
        {
            out.family(name, "counter", help);
            for (topic, group, c) in &outbound {
                let system = self.is_system_topic(topic) || group.starts_with("CID_RMQ_SYS_");
                for (retry, counts) in c.counts.iter().enumerate() {
                    let (msgs, b) = counts.get();
                    if msgs > 0 {
                        let labels =
                            [("topic", topic.as_str()), ("consumer_group", group.as_str()), ("is_retry", flag(retry == 1)), ("is_system", flag(system))];
                        out.sample(name, &labels, if bytes { b } else { msgs });
                    }
                }
            }
        }
        out.family("rocketmq_send_to_dlq_messages_total", "counter", "Messages moved to a group's dead-letter topic.");
        for ((group, topic), n) in m.dead_lettered.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let system = self.is_system_topic(topic) || is_system_group(group);
            out.sample("rocketmq_send_to_dlq_messages_total", &[("consumer_group", group), ("topic", topic), ("is_system", flag(system))], n);
        }
        self.write_connections(out);
        self.write_lag(out);
        self.write_storage(out);
        self.write_transactions(out);
        self.write_timers(out);
    }

    /// Java's transaction families: decisions by topic, and the half messages undecided now.
    fn write_transactions(&self, out: &mut Exposition) {
        let families = [
            ("rocketmq_commit_messages_total", "Transactional messages committed.", true),
            ("rocketmq_rollback_messages_total", "Transactional messages rolled back.", false),
        ];
        write_by_topic(out, &self.metrics.decided, families, &[]);
        let mut half: BTreeMap<String, u64> = BTreeMap::new();
        for h in self.transactions.table().pending.values() {
            *half.entry(h.topic.clone()).or_default() += 1;
        }
        out.family("rocketmq_half_messages", "gauge", "Half messages not decided yet, by their topic.");
        for (topic, n) in half {
            out.sample("rocketmq_half_messages", &[("topic", topic.as_str())], n);
        }
    }

    /// Java's timer families (with its store labels): messages taken into the timer and
    /// delivered by topic, those pending, and how far delivery is behind what is due.
    fn write_timers(&self, out: &mut Exposition) {
        let store = [("storage_type", "local"), ("storage_medium", "disk")];
        let families = [
            ("rocketmq_timer_enqueue_total", "Timer messages taken into the timer.", false),
            ("rocketmq_timer_dequeue_total", "Timer messages delivered to their topic.", true),
        ];
        write_by_topic(out, &self.metrics.timers, families, &store);
        let now = self.clock.now_ms();
        let (pending, due, oldest_due) = {
            let wheel = self.timers.wheel();
            let mut due = wheel.by_due.range(..=(now, i64::MAX)).map(|(k, _)| k.0);
            let oldest = due.next();
            (wheel.len(), oldest.map_or(0, |_| 1 + due.count()), oldest)
        };
        let gauges = [
            ("rocketmq_timing_messages", "Timer messages waiting for their time (all topics).", pending as i64),
            ("rocketmq_timer_dequeue_lag", "Timer messages due and not delivered yet.", due as i64),
            (
                "rocketmq_timer_dequeue_latency_milliseconds",
                "How long ago the oldest timer message not delivered yet fell due (ms).",
                oldest_due.map_or(0, |d| now.saturating_sub(d)),
            ),
        ];
        for (name, help, v) in gauges {
            out.family(name, "gauge", help);
            out.sample(name, &store, v);
        }
    }

    fn write_connections(&self, out: &mut Exposition) {
        let (producers, consumers) = self.clients.connection_counts();
        // Summed by the labels written (two raw versions may have one name).
        let named = |language: &str, version: i32| (language.to_lowercase(), protocol::codes::version::desc(version).to_lowercase());
        let mut by_label: BTreeMap<(String, String), u64> = BTreeMap::new();
        for ((language, version), n) in producers {
            *by_label.entry(named(language, version)).or_default() += n;
        }
        out.family("rocketmq_producer_connections", "gauge", "Producer connections, by client language and version.");
        for ((language, version), n) in by_label {
            out.sample("rocketmq_producer_connections", &[("language", &language), ("version", &version), ("protocol_type", "remoting")], n);
        }
        let mut by_label: BTreeMap<(String, String, String, &str), u64> = BTreeMap::new();
        for ((group, language, version, mode), n) in consumers {
            let (language, version) = named(language, version);
            *by_label.entry((group, language, version, consume_mode(mode.as_deref()))).or_default() += n;
        }
        out.family("rocketmq_consumer_connections", "gauge", "Consumer connections, by group, client language and version, and consume mode.");
        for ((group, language, version, mode), n) in by_label {
            let labels = [
                ("consumer_group", group.as_str()),
                ("language", &language),
                ("version", &version),
                ("consume_mode", mode),
                ("protocol_type", "remoting"),
                ("is_system", flag(is_system_group(&group))),
            ];
            out.sample("rocketmq_consumer_connections", &labels, n);
        }
    }

    /// Lag per online group and subscribed topic (Java's `ConsumerLagCalculator`): lag is what
    /// is stored past the group's committed offsets, in flight what it pulled (or popped) and
    /// has not committed, ready what it has not pulled yet; the latencies are how long ago the
    /// oldest message not committed (not pulled) was stored.
    fn write_lag(&self, out: &mut Exposition) {
        let now = self.clock.now_ms();
        let mut rows = Vec::new();
        for (group, g) in self.clients.consumer_groups() {
            let pop = g.consume_type.as_deref() == Some("CONSUME_POP");
            for topic in g.subscriptions.keys().filter(|t| !protocol::names::is_group_topic(t)) {
                let Some(config) = self.topics.get(topic) else { continue };
                rows.push((group.clone(), topic.clone(), false, self.lag_of(&group, topic, config.write_queue_nums, pop, now)));
                if pop {
                    let retry = protocol::pop::pop_retry_topic(topic, &group);
                    if let Some(r) = self.topics.get(&retry) {
                        let lag = self.lag_of(&group, &retry, r.write_queue_nums, pop, now);
                        rows.push((group.clone(), topic.clone(), true, lag));
                    }
                }
            }
        }
        let families = [
            ("rocketmq_consumer_lag_messages", "Messages stored past the group's committed offsets."),
            ("rocketmq_consumer_lag_latency_milliseconds", "How long ago the oldest message the group has not committed was stored (ms)."),
            ("rocketmq_consumer_inflight_messages", "Messages handed to the group and not committed yet."),
            ("rocketmq_consumer_queueing_latency_milliseconds", "How long ago the oldest message the group has not pulled was stored (ms)."),
            ("rocketmq_consumer_ready_messages", "Messages the group has not pulled yet."),
        ];
        for (i, (name, help)) in families.iter().enumerate() {
            out.family(name, "gauge", help);
            for (group, topic, retry, lag) in &rows {
                let system = self.is_system_topic(topic) || is_system_group(group);
                let labels = [("consumer_group", group.as_str()), ("topic", topic.as_str()), ("is_retry", flag(*retry)), ("is_system", flag(system))];
                let v = [lag.lag, lag.lag_latency_ms, lag.inflight, lag.queueing_latency_ms, lag.ready][i];
                out.sample(name, &labels, v);
            }
        }
    }

    /// One group's lag over `queues` queues of `topic`.
    pub fn lag_of(&self, group: &str, topic: &str, queues: i32, pop: bool, now: i64) -> Lag {
        let mut lag = Lag::default();
        let store_time = |queue_id: i32, offset: i64| -> Option<i64> {
            let entries = self.store.queue_entries(topic, queue_id, offset, 1).ok()?;
            let &(o, phys, _, _) = entries.first()?;
            (o == offset).then_some(())?;
            let record = self.store.read_message(phys).ok()??;
            protocol::message::decode_record(&record, false).ok().map(|m| m.store_timestamp)
        };
        for q in 0..queues.max(0) {
            let max = self.store.max_offset(topic, q);
            let committed = self.offsets.query(group, topic, q).unwrap_or(max).clamp(0, max);
            let pulled = if pop { committed } else { self.metrics.pull_offset(group, topic, q).unwrap_or(committed).clamp(committed, max) };
            lag.lag += max - committed;
            lag.inflight += pulled - committed;
            lag.ready += max - pulled;
            if committed < max {
                if let Some(t) = store_time(q, committed) {
                    lag.lag_latency_ms = lag.lag_latency_ms.max(now - t);
                }
            }
            if pulled < max {
                if let Some(t) = store_time(q, pulled) {
                    lag.queueing_latency_ms = lag.queueing_latency_ms.max(now - t);
                }
            }
        }
        if pop {
            // POP moves the group's offset as it hands out; what is out is in flight.
            let inflight = self.pop.inflight_of(group, topic) as i64;
            lag.inflight = inflight;
            lag.lag += inflight;
        }
        lag
    }

    fn write_storage(&self, out: &mut Exposition) {
        let labels = [("storage_type", "local"), ("storage_medium", "disk")];
        let max = self.store.commit_log_max_offset();
        out.family("rocketmq_storage_size_bytes", "gauge", "Bytes used on the file system that holds the store.");
        out.sample("rocketmq_storage_size_bytes", &labels, self.store.disk_used_bytes());
        out.family("rocketmq_storage_flush_behind_bytes", "gauge", "CommitLog bytes written and not flushed yet.");
        out.sample("rocketmq_storage_flush_behind_bytes", &labels, (max - self.store.flushed_offset()).max(0));
        out.family("rocketmq_storage_dispatch_behind_bytes", "gauge", "CommitLog bytes written and not dispatched to queues and index yet.");
        out.sample("rocketmq_storage_dispatch_behind_bytes", &labels, (max - self.store.dispatched_offset()).max(0));
        if let Some(earliest) = self.store.earliest_message_time() {
            out.family("rocketmq_storage_message_reserve_time_milliseconds", "gauge", "How long ago the oldest stored message was stored (ms).");
            out.sample("rocketmq_storage_message_reserve_time_milliseconds", &labels, (self.clock.now_ms() - earliest).max(0));
        }
    }
}

/// One group's lag over a topic's queues.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    pub lag: i64,
    pub lag_latency_ms: i64,
    pub inflight: i64,
    pub queueing_latency_ms: i64,
    pub ready: i64,
}

/// Java's `BrokerMetricsManager.isSystemGroup`.
fn is_system_group(group: &str) -> bool {
    group.to_ascii_lowercase().starts_with("cid_rmq_sys_")
}

/// `consume_mode`: Java's `ConsumeType.getTypeCN()` lower-cased.
fn consume_mode(consume_type: Option<&str>) -> &'static str {
    match consume_type {
        Some("CONSUME_ACTIVELY") => "pull",
        Some("CONSUME_POP") => "pop",
        _ => "push",
    }
}

/// What `/health` and `/ready` answer (and the dashboard shows).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Ready to take clients: registered with a NameServer recently (or none configured).
    pub ready: bool,
    /// Why not, when not.
    pub reasons: Vec<String>,
    pub broker_name: String,
    pub cluster: String,
    pub uptime_ms: u64,
    /// How long ago a NameServer last accepted the registration.
    pub registered_ms_ago: Option<i64>,
    pub writable: bool,
    pub disk_used_ratio: f64,
}

impl Broker {
    /// Health and readiness: a broker is ready once a NameServer has accepted its registration
    /// within three registration periods (at once without NameServers).
    pub fn health(&self) -> Health {
        let now = self.clock.now_ms();
        let ago = self.registration.last_accepted_ms().map(|t| now - t);
        let period = self.config.register_name_server_period_ms.clamp(10_000, 60_000) as i64;
        let mut reasons = Vec::new();
        if self.config.namesrv_addr.is_some() {
            match ago {
                None => reasons.push("not registered with any NameServer yet".to_string()),
                Some(ms) if ms > 3 * period => reasons.push(format!("no NameServer accepted its registration for {} s", ms / 1000)),
                Some(_) => {}
            }
        }
        Health {
            ready: reasons.is_empty(),
            reasons,
            broker_name: self.config.broker_name.clone(),
            cluster: self.config.broker_cluster_name.clone(),
            uptime_ms: self.started.elapsed().as_millis() as u64,
            registered_ms_ago: ago,
            writable: self.runtime.permission() & protocol::codes::perm::WRITE != 0,
            disk_used_ratio: self.store.disk_used_ratio(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_capped_and_deleted_topics_and_groups_free_them() {
        let m = Metrics::new(true, 2);
        m.sent("A", 0, 1, 100);
        m.sent("B", 0, 1, 100);
        m.sent("C", 0, 1, 100);
        assert_eq!(m.messages_in_by_topic().len(), 2, "capped at 2 topics");
        m.forget_topic("A");
        m.sent("C", 0, 1, 100);
        let mut topics: Vec<String> = m.messages_in_by_topic().into_iter().map(|(t, _)| t).collect();
        topics.sort();
        assert_eq!(topics, ["B", "C"], "room again once A is gone");
        for (group, queue) in [("G1", 0), ("G1", 1), ("G2", 0)] {
            m.pulled(group, "B", queue, 5);
        }
        assert_eq!((m.pull_offset("G1", "B", 1), m.pull_offset("G2", "B", 0)), (Some(5), None), "the third entry is over the cap");
        m.forget_group("G1");
        m.pulled("G2", "B", 0, 7);
        assert_eq!((m.pull_offset("G1", "B", 1), m.pull_offset("G2", "B", 0)), (None, Some(7)));
        m.consumed("B", "G2", false, 3, 30);
        m.forget_topic("B");
        assert_eq!(m.totals().1, (0, 0), "the topic's reads went with it");
        // Off, nothing is recorded.
        let off = Metrics::new(false, 10);
        off.sent("A", 0, 1, 1);
        assert!(off.messages_in_by_topic().is_empty());
    }
}
