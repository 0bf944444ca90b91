//! The Broker, in three layers: wire codecs ([`processor`], one module per request kind),
//! the broker's operations ([`service`]: typed requests, `Result<_, BrokerError>`), and the
//! state they act on (the message store and a few small managers of broker state).

#![forbid(unsafe_code)]

pub mod clients;
pub mod config;
pub mod error;
pub mod groups;
pub mod ha;
pub(crate) mod journal;
pub mod locks;
pub mod metrics;
pub mod offsets;
mod persist;
pub mod pop;
pub mod processor;
pub mod push;
pub mod put;
pub mod register;
pub mod runtime;
mod schedule;
pub mod service;
pub mod sql92;
pub mod stats;
pub mod timer;
pub mod topics;
mod trace;
pub mod transaction;

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::Store;
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;

pub use config::{BrokerConfig, ConfigError};
pub use error::{BrokerError, BrokerResult};
use store::{Clock, SystemClock};

use crate::clients::ClientManager;
use crate::groups::GroupManager;
use crate::offsets::OffsetManager;
use crate::stats::Stats;
use crate::topics::TopicManager;

/// Everything a request handler may touch. Each part guards its own state.
pub struct Broker {
    pub config: BrokerConfig,
    /// What changes while serving: permission, role.
    pub runtime: runtime::RuntimeState,
    /// The one clock: store timestamps, delays, data versions, runtime info.
    pub clock: Arc<dyn Clock>,
    pub store: Store,
    pub topics: TopicManager,
    pub groups: GroupManager,
    pub offsets: OffsetManager,
    pub clients: ClientManager,
    pub locks: locks::LockTable,
    pub stats: Stats,
    /// Metrics with the Java broker's names (`metrics`), recorded when something reads them.
    pub metrics: metrics::Metrics,
    pub delay_levels: put::DelayLevels,
    /// Where this broker's records say they are stored (brokerIP1:listenPort).
    pub store_host: SocketAddr,
    /// Asks the registration loop to register with the NameServers now (topic changes,
    /// permission changes) and tells when it has.
    pub registration: Arc<register::Registration>,
    /// ACL 2.0: users, policies, and the checks of every request.
    pub auth: auth::Auth,
    pub parked_pulls: AtomicUsize,
    pub started: Instant,
    /// Delay-level progress, saved by the scheduler and at shutdown.
    pub(crate) delay_progress: schedule::Progress,
    /// POP consumption: messages in flight, orderly batches, consume modes.
    pub pop: pop::PopState,
    /// A client of the NameServers for route lookups (queue assignment), made on first use.
    namesrv: std::sync::OnceLock<Option<client::Client>>,
    /// TLS for the connections the broker makes (`tls.enable`/`useTLS`, or enforcing mode).
    client_tls: Option<remoting::tls::ClientTls>,
    /// What the broker's own requests are signed with (`innerClientAuthenticationCredentials`).
    inner_credentials: Option<client::Credentials>,
    /// Timer messages waiting for their time (`timer`).
    pub timers: Arc<timer::TimerState>,
    /// Transactions: undecided half messages (`transaction`).
    pub transactions: transaction::TransactionState,
    /// Replication: a master's replicas, a replica's view of its master.
    pub ha: ha::Ha,
    /// Compiled SQL92 expressions by their text.
    pub(crate) sql_filters: std::sync::Mutex<std::collections::HashMap<String, Arc<sql92::SqlFilter>>>,
    /// Which SQL92 expressions each message matches, judged at dispatch (`enableCalcFilterBitMap`).
    pub(crate) filter_bitmaps: Arc<sql92::bitmap::FilterBitmaps>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("brokerIP1 `{0}` is not an IP address")]
    BadIp(String),
    #[error("{0}")]
    Config(String),
}

pub struct BrokerHandle {
    pub broker: Arc<Broker>,
    pub local_addr: SocketAddr,
    connections: Arc<remoting::Connections>,
    tasks: Vec<JoinHandle<()>>,
}

impl BrokerHandle {
    /// Unregisters from the NameServers, stops serving, flushes offsets and the store.
    ///
    /// Sends already taken in are stored and answered before connections close, so a clean
    /// shutdown does not make clients resend what was stored (duplicates); sends that arrive
    /// meanwhile are refused (SERVICE_NOT_AVAILABLE) and not stored.
    pub async fn shutdown(self) {
        register::unregister_all(&self.broker).await;
        for t in &self.tasks {
            t.abort();
        }
        stop_master_tasks(&self.broker);
        schedule::save(&self.broker);
        self.broker.store.shutdown().await;
        self.broker.offsets.flush();
        // Topics and groups created while serving, written in the background, are on disk.
        self.broker.topics.persist();
        self.broker.groups.persist();
        // Each connection ends once the requests it is handling have queued their answers
        // (parked pulls excepted) and those are written; at most 2 s.
        self.connections.finish_all(Duration::from_secs(2)).await;
    }
}

/// Pending connections the kernel holds for the broker's port.
const LISTEN_BACKLOG: u32 = 1024;

impl Broker {
    /// Opens the store and loads the broker's state, serving nothing: what `start` serves,
    /// and what tests of the operations drive directly. Records say they are stored at
    /// `brokerIP1:listenPort`.
    pub async fn open(mut config: BrokerConfig, clock: Arc<dyn Clock>) -> Result<Arc<Broker>, StartError> {
        let ip: std::net::IpAddr = config.broker_ip1.parse().map_err(|_| StartError::BadIp(config.broker_ip1.clone()))?;
        // `tls.config.file` read once: what the ports and the broker's own connections use.
        config.tls = config.tls.resolved().map_err(StartError::Config)?;
        let client_tls = config.tls.client().map_err(StartError::Config)?;
        let inner_credentials = inner_credentials(&config)?;
        let cost = config::MemoryCost::of_this_machine();
        let mut store_config = config.store_config_for(cost);
        store_config.clock = clock.clone();
        store_config.tag_code_rule = Arc::new(put::DelayTagCode(config.delay_levels.clone()));
        tracing::info!(
            cache_window_bytes = store_config.cache_window_bytes,
            warm_ahead_bytes = store_config.warm_ahead_bytes,
            free_pages_reported_to_host = cost.free_pages_reported_to_host,
            "CommitLog page cache (commitLogCacheWindowBytes, warmCommitLogAheadBytes)"
        );
        // Recovery reads files: keep it off the async workers.
        let bitmap_bytes = if config.enable_calc_filter_bit_map { config.filter_bit_map_max_bytes } else { 0 };
        let filter_bitmaps = Arc::new(sql92::bitmap::FilterBitmaps::new(bitmap_bytes));
        let timers = Arc::new(timer::TimerState::default());
        let added: Vec<Box<dyn store::Dispatcher>> =
            vec![Box::new(sql92::bitmap::BitmapDispatcher(filter_bitmaps.clone())), Box::new(timer::TimerDispatcher(timers.clone()))];
        let store = tokio::task::spawn_blocking(move || Store::open_with(store_config, added))
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e.to_string())))??;
        let root = config.store_path_root_dir.clone();
        let registration = Arc::new(register::Registration::default());
        let broker = Arc::new(Broker {
            topics: TopicManager::load(&config, registration.clone(), clock.clone())?,
            groups: GroupManager::load(&root, config.auto_create_subscription_group)?,
            offsets: OffsetManager::load(&root)?,
            clients: ClientManager::default(),
            locks: locks::LockTable::default(),
            stats: Stats::default(),
            metrics: metrics::Metrics::new(
                config.metrics_exporter_type == config::MetricsExporter::Prom || config.dashboard_enable,
                config.metrics_otel_cardinality_limit,
            ),
            delay_levels: config.delay_levels.clone(),
            store_host: SocketAddr::new(ip, config.listen_port),
            registration,
            auth: open_auth(&config, inner_credentials.as_ref())?,
            parked_pulls: AtomicUsize::new(0),
            started: Instant::now(),
            delay_progress: Default::default(),
            pop: pop::PopState::new(&root, &config.broker_cluster_name)?,
            namesrv: Default::default(),
            client_tls,
            inner_credentials,
            sql_filters: Default::default(),
            filter_bitmaps,
            transactions: Default::default(),
            timers,
            runtime: runtime::RuntimeState::new(config.broker_permission, config.broker_role),
            ha: ha::Ha::new(&config),
            clock,
            store,
            config,
        });
        // The POP journal is read back before anything is served.
        broker.replay_pop_journal()?;
        broker.replay_timers()?;
        let interrupted = broker.replay_transactions()?;
        if broker.config.enable_controller_mode {
            // Every replica starts as one; the controller names the master.
            broker.runtime.set_role(runtime::BrokerRole::Slave);
            ha::failover::open_epochs(&broker).map_err(StartError::Config)?;
        }
        if broker.runtime.role().is_master() {
            broker.finish_commits(interrupted).await;
        } else {
            // A replica writes nothing of its own: its log is its master's.
            broker.store.set_replica(true);
        }
        Ok(broker)
    }

    /// Empties what a master keeps in memory of its log (POP's in-flight table and orderly
    /// batches, timers, transactions), before reading it back when it becomes master again.
    pub(crate) fn reset_replayed_state(&self) {
        *self.pop.table() = Default::default();
        *self.pop.orders() = Default::default();
        *self.timers.wheel() = Default::default();
        *self.transactions.table() = Default::default();
    }
}

/// ACL 2.0's users and ACLs (`config/auth` under the store root), with the super users
/// broker.conf names made if missing.
fn open_auth(config: &BrokerConfig, inner: Option<&client::Credentials>) -> Result<auth::Auth, StartError> {
    let split = |list: &str| list.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect();
    let auth_config = auth::AuthConfig {
        authentication_enabled: config.authentication_enabled,
        authorization_enabled: config.authorization_enabled,
        authentication_whitelist: split(&config.authentication_whitelist),
        authorization_whitelist: split(&config.authorization_whitelist),
    };
    let a = auth::Auth::open(auth_config, Some(&config.store_path_root_dir.join("config").join("auth")))?;
    let bad = |key: &str, e: auth::AuthError| StartError::Config(format!("{key}: {}", e.remark));
    if let Some(text) = &config.init_authentication_user {
        let (user, password) = user_and_password("initAuthenticationUser", text, "username", "password")?;
        a.metadata.ensure_super_user(&user, &password).map_err(|e| bad("initAuthenticationUser", e))?;
    }
    if let Some(c) = inner {
        a.metadata.ensure_super_user(&c.access_key, &c.secret_key).map_err(|e| bad("innerClientAuthenticationCredentials", e))?;
    }
    Ok(a)
}

/// The two named string fields of a JSON object given as the value of `key`.
fn user_and_password(key: &str, text: &str, user: &str, password: &str) -> Result<(String, String), StartError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| StartError::Config(format!("{key}: not JSON: {e}")))?;
    let field = |name: &str| v.get(name).and_then(|f| f.as_str()).unwrap_or("").to_string();
    Ok((field(user), field(password)))
}

/// `innerClientAuthenticationCredentials`: what the broker's own requests are signed with.
fn inner_credentials(config: &BrokerConfig) -> Result<Option<client::Credentials>, StartError> {
    let Some(text) = &config.inner_client_authentication_credentials else { return Ok(None) };
    let (access_key, secret_key) = user_and_password("innerClientAuthenticationCredentials", text, "accessKey", "secretKey")?;
    Ok(Some(client::Credentials { access_key, secret_key }))
}

/// Opens the store, binds the listener and starts serving, registering and housekeeping.
pub async fn start(mut config: BrokerConfig) -> Result<BrokerHandle, StartError> {
    // Checked before binding, as it always was.
    config.broker_ip1.parse::<std::net::IpAddr>().map_err(|_| StartError::BadIp(config.broker_ip1.clone()))?;
    // Bound now (the port is known, to advertise), listening only once the store is open and
    // the broker registered: until then a connection is refused rather than left waiting.
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([0, 0, 0, 0], config.listen_port)))?;
    let local_addr = socket.local_addr()?;
    // With listenPort=0 the OS picks the port (and the replication port too, unless set);
    // advertise the real ones.
    if config.listen_port == 0 && config.ha_listen_port.is_none() {
        config.ha_listen_port = Some(0);
    }
    config.listen_port = local_addr.port();
    let ha_socket = TcpSocket::new_v4()?;
    ha_socket.set_reuseaddr(true)?;
    if let Err(e) = ha_socket.bind(SocketAddr::from(([0, 0, 0, 0], config.ha_port()))) {
        // listenPort + 1 taken by something else: any free port serves as well, since replicas
        // learn it from the NameServer. A port set in broker.conf must be that port.
        if config.ha_listen_port.is_some() {
            return Err(std::io::Error::new(e.kind(), format!("replication port (haListenPort) {}: {e}", config.ha_port())).into());
        }
        tracing::warn!(port = config.ha_port(), error = %e, "replication port listenPort + 1 is taken; listening on a free port (replicas learn it from the NameServer; set haListenPort to choose)");
        ha_socket.bind(SocketAddr::from(([0, 0, 0, 0], 0)))?;
    }
    let broker = Broker::open(config, Arc::new(SystemClock)).await?;
    broker.ha.port.store(ha_socket.local_addr()?.port(), std::sync::atomic::Ordering::Release);
    let ha_listener = ha_socket.listen(64)?;
    let registrar = register::first_round(&broker).await;
    let listener = socket.listen(LISTEN_BACKLOG)?;
    let server_config = server_config(&broker.config);
    let connections = Arc::new(remoting::Connections::default());
    let handler = Arc::new(processor::BrokerHandler::new(broker.clone()));
    let names = remoting::tls::default_names(&broker.config.broker_ip1);
    let acceptor = Arc::new(remoting::tls::TlsAcceptor::from_settings(&broker.config.tls, names).map_err(StartError::Config)?);
    let mut tasks = vec![tokio::spawn(remoting::serve_with(listener, acceptor, handler, server_config, connections.clone()))];
    tasks.push(tokio::spawn(register::run(broker.clone(), registrar)));
    tasks.push(tokio::spawn(housekeeping(broker.clone())));
    tasks.push(tokio::spawn(stats::sample(broker.clone())));
    tasks.push(tokio::spawn(ha::master::serve(broker.clone(), ha_listener)));
    if broker.config.enable_controller_mode {
        // The role changes while serving: a replica follows whoever is master, the master's
        // tasks start and stop with the role.
        tasks.push(tokio::spawn(ha::failover::run(broker.clone())));
        tasks.push(tokio::spawn(ha::replica::follow(broker.clone())));
        tasks.push(tokio::spawn(ha::sync::run(broker.clone())));
    } else if broker.runtime.role().is_master() {
        start_master_tasks(&broker);
    } else {
        tasks.push(tokio::spawn(ha::replica::follow(broker.clone())));
        tasks.push(tokio::spawn(ha::sync::run(broker.clone())));
    }
    Ok(BrokerHandle { broker, local_addr, connections, tasks })
}

/// Starts what a master does on its own (a replica's log gets these records from its
/// master): the delay scheduler, POP's reviver, the transaction checker, the timer wheel.
pub(crate) fn start_master_tasks(broker: &Arc<Broker>) {
    let mut tasks = broker.ha.master_tasks.lock().unwrap_or_else(|e| e.into_inner());
    if !tasks.is_empty() {
        return;
    }
    tasks.push(tokio::spawn(schedule::run(broker.clone())));
    tasks.push(tokio::spawn(pop::run_reviver(broker.clone())));
    tasks.push(tokio::spawn(transaction::run_checker(broker.clone())));
    tasks.push(tokio::spawn(timer::run(broker.clone())));
}

/// Stops the master's own tasks (a master that is one no longer).
pub(crate) fn stop_master_tasks(broker: &Broker) {
    for t in broker.ha.master_tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        t.abort();
    }
}

/// Offsets flush and expiry of silent client channels.
async fn housekeeping(broker: Arc<Broker>) {
    let period = Duration::from_millis(broker.config.flush_consumer_offset_interval_ms.max(100));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        broker.offsets.flush();
        let timeout = Duration::from_millis(broker.config.channel_expired_timeout_ms);
        for group in broker.clients.expire(timeout, Instant::now()) {
            broker.clients.notify_ids_changed(&group);
        }
    }
}

/// Physical memory in bytes (MemTotal of /proc/meminfo), read once; 8 GiB where unknown.
pub fn total_memory_bytes() -> u64 {
    static TOTAL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TOTAL.get_or_init(|| {
        let kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()));
        kib.map_or(8 << 30, |k| k * 1024)
    })
}

/// The connection limits broker.conf sets (frame size, idle time, write queue, in-flight
/// requests, connections).
pub fn server_config(config: &BrokerConfig) -> remoting::ServerConfig {
    remoting::ServerConfig {
        channel: remoting::ChannelConfig {
            frame_max_bytes: config.frame_max_bytes,
            idle_timeout: Duration::from_secs(config.server_channel_max_idle_time_secs),
            write_queue_bytes: config.connection_write_queue_bytes.max(1),
            max_inflight_requests: config.connection_max_inflight_requests.max(1),
            ..Default::default()
        },
        max_connections: config.max_connections,
    }
}
