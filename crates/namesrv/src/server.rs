//! NameServer request handling over [`RouteTable`] and [`KvConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use protocol::body::{self, DataVersion, KvTable, RegisterBrokerBody, TopicList, TopicRouteData};
use protocol::codes::{request as rq, response as rs, version};
use protocol::header::{Fields, RegisterBrokerRequestHeader};
use protocol::{ProtocolError, RemotingCommand};
use remoting::{BoxFuture, Channel, Handler, ServerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::kv::KvConfig;
use crate::routes::{Registration, RouteTable};

#[derive(Debug, Clone)]
pub struct NamesrvConfig {
    pub listen_addr: SocketAddr,
    /// `kvConfigPath`; `None` keeps KV config in memory only.
    pub kv_config_path: Option<PathBuf>,
    /// `scanNotActiveBrokerInterval`.
    pub scan_interval: Duration,
    /// Broker expiry when the registration does not say (`DEFAULT_BROKER_CHANNEL_EXPIRED_TIME`).
    pub default_broker_timeout: Duration,
    /// `orderMessageEnable`: add `orderTopicConf` from the ORDER_TOPIC_CONFIG namespace.
    pub order_message_enable: bool,
    pub server: ServerConfig,
    /// The `tls.*` keys (Java's TLS system properties) for the NameServer's port.
    pub tls: remoting::tls::TlsSettings,
    /// `metricsExporterType=PROM` (the broker's key; Java's NameServer has no metrics):
    /// serve [`NamesrvHandle::metrics_text`] on `metricsPromExporterHost:metricsPromExporterPort`.
    pub metrics_prom: bool,
    pub metrics_prom_exporter_host: String,
    pub metrics_prom_exporter_port: u16,
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        NamesrvConfig {
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 9876)),
            kv_config_path: None,
            scan_interval: Duration::from_secs(5),
            default_broker_timeout: Duration::from_secs(120),
            order_message_enable: false,
            server: ServerConfig::default(),
            tls: remoting::tls::TlsSettings::default(),
            metrics_prom: false,
            metrics_prom_exporter_host: String::new(),
            metrics_prom_exporter_port: 5557,
        }
    }
}

pub struct NameServer {
    config: NamesrvConfig,
    routes: RwLock<RouteTable>,
    kv: KvConfig,
    rpc: remoting::metrics::RpcLatency,
    local_addr: SocketAddr,
}

pub struct NamesrvHandle {
    pub local_addr: SocketAddr,
    connections: Arc<remoting::Connections>,
    tasks: Vec<JoinHandle<()>>,
    ns: Arc<NameServer>,
}

impl NamesrvHandle {
    /// The NameServer's metrics in Prometheus' text format, with the process'.
    pub fn metrics_text(&self) -> String {
        let mut out = remoting::metrics::Exposition::new(self.metric_labels());
        self.write_metrics(&mut out);
        self.ns.rpc.write(&mut out);
        out.set_common(Vec::new());
        remoting::metrics::process(&mut out);
        out.finish()
    }

    /// The labels on every series: `node_type="namesrv"` and its address as `node_id`.
    pub fn metric_labels(&self) -> Vec<(String, String)> {
        vec![("node_type".into(), "namesrv".into()), ("node_id".into(), self.ns.local_addr.to_string())]
    }

    /// Every family but `rocketmq_rpc_latency` (whose series [`NamesrvHandle::rpc_latency`] has).
    pub fn write_metrics(&self, out: &mut remoting::metrics::Exposition) {
        let routes = self.ns.routes.read().unwrap_or_else(|e| e.into_inner());
        let info = routes.cluster_info();
        out.family("rocketmq_namesrv_cluster_number", "gauge", "Clusters with a registered broker.");
        out.sample("rocketmq_namesrv_cluster_number", &[], info.cluster_addr_table.len());
        out.family("rocketmq_namesrv_broker_number", "gauge", "Registered brokers (each master and slave).");
        out.sample("rocketmq_namesrv_broker_number", &[], info.broker_addr_table.values().map(|b| b.broker_addrs.len()).sum::<usize>());
        out.family("rocketmq_namesrv_topic_number", "gauge", "Topics routed.");
        out.sample("rocketmq_namesrv_topic_number", &[], routes.topics().len());
    }

    /// The NameServer's request latencies.
    pub fn rpc_latency(&self) -> &remoting::metrics::RpcLatency {
        &self.ns.rpc
    }

    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.connections.close_all();
    }
}

impl Drop for NamesrvHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the listener and starts serving and the liveness scan.
pub async fn start(config: NamesrvConfig) -> std::io::Result<NamesrvHandle> {
    let tls = config.tls.resolved().map_err(std::io::Error::other)?;
    let acceptor = Arc::new(remoting::tls::TlsAcceptor::from_settings(&tls, remoting::tls::default_names("")).map_err(std::io::Error::other)?);
    let listener = TcpListener::bind(config.listen_addr).await?;
    let local_addr = listener.local_addr()?;
    let kv = KvConfig::load(config.kv_config_path.clone())?;
    let rpc = remoting::metrics::RpcLatency::default();
    let ns = Arc::new(NameServer { config: config.clone(), routes: RwLock::new(RouteTable::default()), kv, rpc, local_addr });
    let connections = Arc::new(remoting::Connections::default());
    let server = tokio::spawn(remoting::serve_with(listener, acceptor, ns.clone(), config.server.clone(), connections.clone()));
    let scanner = {
        let ns = ns.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ns.config.scan_interval);
            loop {
                tick.tick().await;
                ns.routes_mut().expire(Instant::now());
            }
        })
    };
    Ok(NamesrvHandle { local_addr, connections, tasks: vec![server, scanner], ns })
}

impl Handler for NameServer {
    fn handle(&self, channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let response = match self.process(&channel, &request) {
            Ok(r) => r,
            Err(e) => RemotingCommand::response_to(&request, rs::SYSTEM_ERROR).with_remark(e.to_string()),
        };
        Box::pin(async move { Some(response) })
    }

    fn on_close(&self, channel: &Arc<Channel>) {
        self.routes_mut().channel_closed(channel.id());
    }

    fn counts_answers(&self) -> bool {
        true
    }

    fn answered(&self, answered: &remoting::metrics::Answered) {
        self.rpc.record(answered);
    }
}

impl NameServer {
    fn routes_mut(&self) -> std::sync::RwLockWriteGuard<'_, RouteTable> {
        self.routes.write().unwrap_or_else(|e| e.into_inner())
    }

    fn routes(&self) -> std::sync::RwLockReadGuard<'_, RouteTable> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn process(&self, channel: &Channel, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
        let ok = || RemotingCommand::response_to(req, rs::SUCCESS);
        let ext = &req.ext_fields;
        Ok(match req.code {
            rq::REGISTER_BROKER => self.register_broker(channel, req)?,
            rq::UNREGISTER_BROKER => {
                self.routes_mut().unregister(ext.req_str("brokerAddr")?);
                ok()
            }
            rq::QUERY_DATA_VERSION => {
                let addr = ext.req_str("brokerAddr")?;
                let version: DataVersion = body::decode(&req.body)?;
                let changed = self.routes_mut().data_version_changed(addr, &version, Instant::now());
                ok().with_ext("changed", changed)
            }
            rq::BROKER_HEARTBEAT => {
                self.routes_mut().touch(ext.req_str("brokerAddr")?, Instant::now());
                ok()
            }
            rq::GET_ROUTEINFO_BY_TOPIC => self.route(req)?,
            rq::GET_BROKER_CLUSTER_INFO => {
                let info = serde_json::to_value(self.routes().cluster_info()).unwrap_or_default();
                ok().with_body(body::to_fastjson(&info, &["brokerAddrs"]))
            }
            rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => topic_list(req, self.routes().topics(), None),
            rq::GET_TOPICS_BY_CLUSTER => topic_list(req, self.routes().topics_of_cluster(ext.req_str("cluster")?), None),
            rq::GET_SYSTEM_TOPIC_LIST_FROM_NS => {
                let routes = self.routes();
                topic_list(req, routes.system_topics(), routes.system_topics_broker())
            }
            rq::WIPE_WRITE_PERM_OF_BROKER => {
                let count = self.routes_mut().set_write_perm(ext.req_str("brokerName")?, false);
                ok().with_ext("wipeTopicCount", count)
            }
            rq::ADD_WRITE_PERM_OF_BROKER => {
                let count = self.routes_mut().set_write_perm(ext.req_str("brokerName")?, true);
                ok().with_ext("addTopicCount", count)
            }
            rq::DELETE_TOPIC_IN_NAMESRV => {
                self.routes_mut().delete_topic(ext.req_str("topic")?, ext.raw("clusterName").filter(|c| !c.is_empty()));
                ok()
            }
            rq::REGISTER_TOPIC_IN_NAMESRV => {
                let route: TopicRouteData = body::decode(&req.body)?;
                self.routes_mut().register_topic(ext.req_str("topic")?, &route.queue_datas);
                ok()
            }
            rq::PUT_KV_CONFIG => {
                self.kv.put(ext.req_str("namespace")?, ext.req_str("key")?, ext.req_str("value")?);
                ok()
            }
            rq::GET_KV_CONFIG => match self.kv.get(ext.req_str("namespace")?, ext.req_str("key")?) {
                Some(v) => ok().with_ext("value", v),
                None => RemotingCommand::response_to(req, rs::QUERY_NOT_FOUND).with_remark(format!(
                    "No config item, Namespace: {} Key: {}",
                    ext.raw("namespace").unwrap_or(""),
                    ext.raw("key").unwrap_or("")
                )),
            },
            rq::DELETE_KV_CONFIG => {
                self.kv.delete(ext.req_str("namespace")?, ext.req_str("key")?);
                ok()
            }
            rq::GET_KVLIST_BY_NAMESPACE => match self.kv.list(ext.req_str("namespace")?) {
                Some(table) => ok().with_body(body::encode(&KvTable { table })),
                None => RemotingCommand::response_to(req, rs::QUERY_NOT_FOUND).with_remark("No config item"),
            },
            rq::GET_NAMESRV_CONFIG => ok().with_body(format!(
                "listenPort={}\nscanNotActiveBrokerInterval={}\norderMessageEnable={}\n",
                self.config.listen_addr.port(),
                self.config.scan_interval.as_millis(),
                self.config.order_message_enable
            )),
            code => RemotingCommand::response_to(req, rs::REQUEST_CODE_NOT_SUPPORTED).with_remark(format!(" request type {code} not supported")),
        })
    }

    fn register_broker(&self, channel: &Channel, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
        let h = RegisterBrokerRequestHeader::decode(&req.ext_fields)?;
        if h.body_crc32 != 0 && protocol::message::crc32(&req.body) != h.body_crc32 {
            return Ok(RemotingCommand::response_to(req, rs::SYSTEM_ERROR).with_remark("register broker body CRC32 mismatch"));
        }
        if h.compressed {
            return Ok(RemotingCommand::response_to(req, rs::SYSTEM_ERROR)
                .with_remark("compressed broker registration is not supported; set compressedRegister=false"));
        }
        let body: RegisterBrokerBody = if req.body.is_empty() { RegisterBrokerBody::default() } else { body::decode(&req.body)? };
        let wrapper = &body.topic_config_serialize_wrapper;
        let timeout = h.heartbeat_timeout_ms.filter(|t| *t > 0).map_or(self.config.default_broker_timeout, |t| Duration::from_millis(t as u64));
        let result = self.routes_mut().register(
            &Registration {
                cluster: &h.cluster_name,
                broker_name: &h.broker_name,
                broker_addr: &h.broker_addr,
                broker_id: h.broker_id,
                ha_server_addr: &h.ha_server_addr,
                timeout,
                data_version: wrapper.data_version.clone(),
                topics: &wrapper.topic_config_table,
                channel_id: channel.id(),
            },
            Instant::now(),
        );
        let mut resp = RemotingCommand::response_to(req, rs::SUCCESS);
        if let Some(m) = result.master_addr {
            resp = resp.with_ext("masterAddr", m);
        }
        if let Some(ha) = result.ha_server_addr {
            resp = resp.with_ext("haServerAddr", ha);
        }
        Ok(resp)
    }

    fn route(&self, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
        let topic = req.ext_fields.req_str("topic")?;
        let Some(mut route) = self.routes().route(topic) else {
            return Ok(RemotingCommand::response_to(req, rs::TOPIC_NOT_EXIST)
                .with_remark(format!("No topic route info in name server for the topic: {topic}{}", protocol::names::APPLY_TOPIC_TIP)));
        };
        if self.config.order_message_enable {
            route.order_topic_conf = self.kv.get("ORDER_TOPIC_CONFIG", topic);
        }
        let standard = req.version >= version::V4_9_4 || req.ext_fields.flag("acceptStandardJsonOnly");
        Ok(RemotingCommand::response_to(req, rs::SUCCESS).with_body(body::encode_route(&route, standard)))
    }
}

fn topic_list(req: &RemotingCommand, topics: std::collections::BTreeSet<String>, broker_addr: Option<String>) -> RemotingCommand {
    RemotingCommand::response_to(req, rs::SUCCESS).with_body(body::encode(&TopicList { topic_list: topics, broker_addr }))
}
