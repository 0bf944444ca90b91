//! A controller node: its Raft over Rocketry's remoting transport, the requests brokers and
//! operators send it, and — on the leader — the watch over brokers' heartbeats that elects a
//! new master when one is lost.
//!
//! One port per node serves both the Raft messages between nodes and the brokers' requests.
//! Liveness is the leader's alone, in memory (as Java's controller): a broker's heartbeats
//! reach the leader; a newly elected leader waits one heartbeat timeout before judging anyone
//! gone. Everything decided (registrations, elections, in-sync changes) goes through the log.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};
use openraft::{BasicNode, ServerState};
use protocol::controller::{code, status, AlterInSync, BrokerRecord, ElectMaster, GroupQuery, GroupView, Heartbeat, Metadata};
use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, Handler};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::groups::{Command, Group, Outcome, Progress};
use crate::raft::{LogStore, NodeId, Raft, StateMachine, TypeConfig};

/// controller.conf (RocketMQ's DLedger controller keys where they fit).
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// `controllerDLegerSelfId` (`n0`, `n1`, …): this node.
    pub self_id: NodeId,
    /// `controllerDLegerPeers` (`n0-host:port;n1-host:port;…`): every node and its address,
    /// where Raft and brokers reach it (brokers' `controllerAddr` lists the same addresses).
    pub peers: BTreeMap<NodeId, String>,
    /// `controllerStorePath`: the Raft log and vote.
    pub store_dir: PathBuf,
    /// `scanNotActiveBrokerInterval`: how often the leader looks for lost masters.
    pub scan_interval: Duration,
    /// `enableElectUncleanMaster`: a replica outside the in-sync set may become master when no
    /// member of it is alive (acknowledged messages may be lost).
    pub elect_unclean: bool,
    /// Ours: Raft's heartbeat; elections time out after 4–8 of them.
    pub raft_heartbeat: Duration,
}

impl ControllerConfig {
    /// Reads controller.conf's properties; unknown keys are returned for a warning.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<(ControllerConfig, Vec<String>), String> {
        let mut unknown = Vec::new();
        let (mut self_id, mut peers) = (None, BTreeMap::new());
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        let mut cfg = ControllerConfig {
            self_id: 0,
            peers: BTreeMap::new(),
            store_dir: home.join("DledgerController"),
            scan_interval: Duration::from_millis(5000),
            elect_unclean: false,
            raft_heartbeat: Duration::from_millis(100),
        };
        let node_id = |text: &str| text.trim().trim_start_matches('n').parse::<NodeId>().map_err(|_| format!("`{text}` is not a node id like n0"));
        let number = |k: &str, v: &str| v.trim().parse::<u64>().map_err(|e| format!("{k}={v}: {e}"));
        for (k, v) in props {
            match k.as_str() {
                "controllerDLegerSelfId" => self_id = Some(node_id(v)?),
                "controllerDLegerPeers" => {
                    for peer in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                        let (id, addr) = peer.split_once('-').ok_or_else(|| format!("controllerDLegerPeers: `{peer}` is not nX-host:port"))?;
                        addr.parse::<SocketAddr>().map_err(|e| format!("controllerDLegerPeers: `{addr}`: {e}"))?;
                        peers.insert(node_id(id)?, addr.to_string());
                    }
                }
                "controllerStorePath" => cfg.store_dir = PathBuf::from(v),
                "scanNotActiveBrokerInterval" => cfg.scan_interval = Duration::from_millis(number(k, v)?.max(50)),
                "enableElectUncleanMaster" => cfg.elect_unclean = v.trim().eq_ignore_ascii_case("true"),
                "controllerRaftHeartbeatMs" => cfg.raft_heartbeat = Duration::from_millis(number(k, v)?.clamp(10, 10_000)),
                // Java's names for things this controller has one way of doing.
                "controllerType" | "controllerDLegerGroup" | "enableControllerInNamesrv" | "controllerThreadPoolNums" | "mappedFileSize" => {}
                other => unknown.push(other.to_string()),
            }
        }
        let self_id = self_id.ok_or("controllerDLegerSelfId is required")?;
        if !peers.contains_key(&self_id) {
            return Err(format!("controllerDLegerSelfId n{self_id} is not among controllerDLegerPeers"));
        }
        cfg.self_id = self_id;
        cfg.peers = peers;
        Ok((cfg, unknown))
    }

    pub fn self_addr(&self) -> &str {
        &self.peers[&self.self_id]
    }
}

/// Outgoing Raft messages, as remoting requests with openraft's JSON.
#[derive(Clone)]
struct Network {
    pool: Arc<client::ConnectionPool>,
}

struct Peer {
    target: NodeId,
    addr: String,
    pool: Arc<client::ConnectionPool>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer { target, addr: node.addr.clone(), pool: self.pool.clone() }
    }
}

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl Peer {
    async fn call<Q: Serialize, A: DeserializeOwned, E: std::error::Error + DeserializeOwned>(
        &self,
        code: i32,
        req: &Q,
        ttl: Duration,
    ) -> Result<A, RpcError<E>> {
        let io = |kind: std::io::ErrorKind, e: String| std::io::Error::new(kind, e);
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let cmd = RemotingCommand::request(code).with_body(body);
        let resp = match self.pool.invoke(&self.addr, cmd, ttl).await {
            Ok(r) => r,
            Err(e @ remoting::RemotingError::Connect { .. }) => {
                return Err(RPCError::Unreachable(Unreachable::new(&io(std::io::ErrorKind::ConnectionRefused, e.to_string()))))
            }
            Err(e) => return Err(RPCError::Network(NetworkError::new(&io(std::io::ErrorKind::Other, e.to_string())))),
        };
        if resp.code != 0 {
            let e = io(std::io::ErrorKind::Other, format!("controller {} answered {}: {}", self.addr, resp.code, resp.remark.unwrap_or_default()));
            return Err(RPCError::Network(NetworkError::new(&e)));
        }
        let answer: Result<A, RaftError<NodeId, E>> = serde_json::from_slice(&resp.body).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(&mut self, rpc: AppendEntriesRequest<TypeConfig>, option: RPCOption) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        self.call(code::RAFT_APPEND_ENTRIES, &rpc, option.hard_ttl()).await
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcError> {
        self.call(code::RAFT_VOTE, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        self.call(code::RAFT_INSTALL_SNAPSHOT, &rpc, option.hard_ttl()).await
    }

    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(100)))
    }
}

/// What the leader last heard from a broker.
#[derive(Debug, Clone)]
struct Seen {
    progress: Progress,
    at: Instant,
    timeout: Duration,
}

/// An answer that is not a group view: the status code and why.
struct Refusal(i32, String);

/// A controller node.
pub struct Controller {
    pub config: ControllerConfig,
    pub raft: Raft,
    sm: StateMachine,
    seen: Mutex<HashMap<(String, i64), Seen>>,
    /// When this node last became leader, and in which term (liveness is judged only a
    /// timeout after).
    leader_since: Mutex<Option<(Instant, u64)>>,
    /// The last reason each group was left without a master (logged once).
    no_master: Mutex<HashMap<String, String>>,
    /// Per group, what a scan's election that found no master saw (term, live replicas and
    /// their logs, the group): while nothing of it changes, no scan writes the same election
    /// to the Raft log again.
    no_master_seen: Mutex<HashMap<String, ElectionSeen>>,
}

/// What an election saw: the Raft term, the live replicas with their logs, the group.
type ElectionSeen = (u64, BTreeMap<i64, Progress>, Group);

/// How long a Raft write may wait for a quorum: after that the cluster is said to have none.
const WRITE_WAIT: Duration = Duration::from_secs(3);

impl Controller {
    fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Leader, and heard by a quorum recently: a leader cut off from the others does not step
    /// down by itself (openraft 0.9), and must not answer from a state the others moved past.
    fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        let lease = (self.config.raft_heartbeat.as_millis() as u64) * 8;
        let heard = self.config.peers.len() == 1 || m.millis_since_quorum_ack.is_some_and(|ms| ms <= lease);
        m.state == ServerState::Leader && m.current_leader == Some(self.config.self_id) && heard
    }

    fn term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    fn not_leader(&self) -> Refusal {
        let leader = self.leader().filter(|l| *l != self.config.self_id);
        let addr = leader.and_then(|l| self.config.peers.get(&l).cloned());
        Refusal(status::NOT_LEADER, addr.unwrap_or_default())
    }

    async fn write(&self, cmd: Command) -> Result<Outcome, Refusal> {
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        match tokio::time::timeout(WRITE_WAIT, self.raft.client_write(cmd)).await {
            Err(_) => Err(Refusal(status::NO_QUORUM, format!("no quorum of controllers answered within {} s", WRITE_WAIT.as_secs()))),
            Ok(Ok(resp)) => resp.data.ok_or_else(|| Refusal(1, "no outcome".into())),
            Ok(Err(e)) if e.forward_to_leader().is_some() => Err(self.not_leader()),
            Ok(Err(e)) => Err(Refusal(1, e.to_string())),
        }
    }

    async fn view(&self, group: &str) -> Option<GroupView> {
        let state = self.sm.state.lock().await;
        let g = state.groups.groups.get(group)?;
        Some(self.view_of(group, g))
    }

    fn view_of(&self, name: &str, g: &Group) -> GroupView {
        let now = Instant::now();
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let alive: Vec<i64> =
            g.replicas.keys().copied().filter(|id| seen.get(&(name.to_string(), *id)).is_some_and(|s| now.duration_since(s.at) < s.timeout)).collect();
        drop(seen);
        let master = g.master.and_then(|m| g.replicas.get(&m));
        let no_master_reason = self.no_master.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned().filter(|_| g.master.is_none());
        GroupView {
            cluster: g.cluster.clone(),
            group: name.to_string(),
            master: g.master,
            master_addr: master.map(|r| r.addr.clone()),
            master_ha_addr: master.map(|r| r.ha_addr.clone()),
            master_epoch: g.master_epoch,
            in_sync: g.in_sync.iter().copied().collect(),
            in_sync_epoch: g.in_sync_epoch,
            replicas: g
                .replicas
                .iter()
                .map(|(id, r)| {
                    (
                        *id,
                        BrokerRecord { cluster: g.cluster.clone(), group: name.to_string(), broker_id: *id, addr: r.addr.clone(), ha_addr: r.ha_addr.clone() },
                    )
                })
                .collect(),
            no_master_reason,
            alive,
        }
    }

    async fn register(&self, b: &BrokerRecord) -> Result<GroupView, Refusal> {
        let cmd =
            Command::Register { cluster: b.cluster.clone(), group: b.group.clone(), broker_id: b.broker_id, addr: b.addr.clone(), ha_addr: b.ha_addr.clone() };
        match self.write(cmd).await? {
            Outcome::Refused { reason } => Err(Refusal(1, reason)),
            _ => self.view(&b.group).await.ok_or_else(|| Refusal(1, "the group vanished".into())),
        }
    }

    async fn heartbeat(&self, hb: Heartbeat) -> Result<GroupView, Refusal> {
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        let b = &hb.broker;
        let key = (b.group.clone(), b.broker_id);
        let seen =
            Seen { progress: Progress { epoch: hb.epoch, end: hb.end }, at: Instant::now(), timeout: Duration::from_millis(hb.timeout_ms.clamp(500, 120_000)) };
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(key, seen);
        let known = {
            let state = self.sm.state.lock().await;
            state.groups.groups.get(&b.group).and_then(|g| g.replicas.get(&b.broker_id)).is_some_and(|r| r.addr == b.addr && r.ha_addr == b.ha_addr)
        };
        if !known {
            return self.register(b).await;
        }
        self.view(&b.group).await.ok_or_else(|| Refusal(1, "the group vanished".into()))
    }

    /// The brokers of `group` the leader hears, with how far their logs reach.
    fn alive(&self, group: &str) -> BTreeMap<i64, Progress> {
        let now = Instant::now();
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().filter(|((g, _), s)| g == group && now.duration_since(s.at) < s.timeout).map(|((_, id), s)| (*id, s.progress)).collect()
    }

    async fn elect(&self, group: &str, designated: Option<i64>) -> Result<Outcome, Refusal> {
        let fresh = {
            let state = self.sm.state.lock().await;
            state.groups.groups.get(group).is_some_and(|g| g.master_epoch == 0)
        };
        // A group that never had a master: every log is its own, any live replica may start it.
        let unclean = self.config.elect_unclean || fresh;
        let outcome = self.write(Command::Elect { group: group.to_string(), alive: self.alive(group), designated, unclean }).await?;
        let mut reasons = self.no_master.lock().unwrap_or_else(|e| e.into_inner());
        match &outcome {
            Outcome::Elected { master, master_epoch, .. } => {
                reasons.remove(group);
                tracing::info!(group, master, master_epoch, "master elected");
            }
            Outcome::NoMaster { reason } => {
                if reasons.get(group) != Some(reason) {
                    tracing::warn!(group, %reason, "no master can be elected");
                }
                reasons.insert(group.to_string(), reason.clone());
            }
            _ => {}
        }
        Ok(outcome)
    }

    /// On the leader: elects a master for every group whose master is not heard.
    async fn scan(&self) {
        let since = {
            let mut since = self.leader_since.lock().unwrap_or_else(|e| e.into_inner());
            let term = self.term();
            if !self.is_leader() {
                *since = None;
                return;
            }
            // Leadership lost and won again between two scans is a new leadership.
            if since.is_some_and(|(_, t)| t != term) {
                *since = None;
            }
            since.get_or_insert_with(|| (Instant::now(), term)).0
        };
        let longest = self.seen.lock().unwrap_or_else(|e| e.into_inner()).values().map(|s| s.timeout).max().unwrap_or(Duration::from_secs(3));
        if since.elapsed() < longest {
            return; // a new leader has not heard everyone yet
        }
        let groups: Vec<(String, Group)> = self.sm.state.lock().await.groups.groups.iter().map(|(n, g)| (n.clone(), g.clone())).collect();
        for (group, state) in groups {
            let alive = self.alive(&group);
            if state.master.is_some_and(|m| alive.contains_key(&m)) || alive.is_empty() {
                continue;
            }
            let seen = (self.term(), alive, state);
            if self.no_master_seen.lock().unwrap_or_else(|e| e.into_inner()).get(&group) == Some(&seen) {
                continue;
            }
            match self.elect(&group, None).await {
                Ok(Outcome::NoMaster { .. }) => {
                    self.no_master_seen.lock().unwrap_or_else(|e| e.into_inner()).insert(group, seen);
                }
                Ok(_) => {
                    self.no_master_seen.lock().unwrap_or_else(|e| e.into_inner()).remove(&group);
                }
                Err(Refusal(code, why)) => tracing::warn!(group, code, %why, "election not decided"),
            }
        }
    }

    fn metadata(&self, groups: Vec<String>) -> Metadata {
        let m = self.raft.metrics();
        let m = m.borrow();
        Metadata {
            self_id: self.config.self_id,
            leader_id: m.current_leader,
            leader_addr: m.current_leader.and_then(|l| self.config.peers.get(&l).cloned()),
            term: m.current_term,
            peers: self.config.peers.clone(),
            groups,
        }
    }

    async fn raft_rpc(&self, req: &RemotingCommand) -> Result<Vec<u8>, String> {
        fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
            serde_json::from_slice(body).map_err(|e| e.to_string())
        }
        let out = match req.code {
            code::RAFT_APPEND_ENTRIES => serde_json::to_vec(&self.raft.append_entries(decode(&req.body)?).await),
            code::RAFT_VOTE => serde_json::to_vec(&self.raft.vote(decode(&req.body)?).await),
            _ => serde_json::to_vec(&self.raft.install_snapshot(decode(&req.body)?).await),
        };
        out.map_err(|e| e.to_string())
    }

    async fn answer(&self, req: &RemotingCommand) -> RemotingCommand {
        fn body<T: DeserializeOwned>(req: &RemotingCommand) -> Result<T, Refusal> {
            serde_json::from_slice(&req.body).map_err(|e| Refusal(protocol::codes::response::INVALID_PARAMETER, format!("bad body: {e}")))
        }
        let result: Result<Vec<u8>, Refusal> = async {
            match req.code {
                code::RAFT_APPEND_ENTRIES | code::RAFT_VOTE | code::RAFT_INSTALL_SNAPSHOT => self.raft_rpc(req).await.map_err(|e| Refusal(1, e)),
                code::REGISTER_BROKER => Ok(json(&self.register(&body::<BrokerRecord>(req)?).await?)),
                code::BROKER_HEARTBEAT => Ok(json(&self.heartbeat(body::<Heartbeat>(req)?).await?)),
                code::ALTER_IN_SYNC => {
                    let a: AlterInSync = body(req)?;
                    let cmd = Command::AlterInSync {
                        group: a.group.clone(),
                        master: a.master,
                        master_epoch: a.master_epoch,
                        in_sync_epoch: a.in_sync_epoch,
                        in_sync: a.in_sync.iter().copied().collect(),
                    };
                    match self.write(cmd).await? {
                        Outcome::InSyncChanged { .. } => Ok(json(&self.view(&a.group).await)),
                        Outcome::Refused { reason } => Err(Refusal(status::FENCED, reason)),
                        other => Err(Refusal(1, format!("{other:?}"))),
                    }
                }
                code::ELECT_MASTER => {
                    let e: ElectMaster = body(req)?;
                    match self.elect(&e.group, e.broker_id).await? {
                        Outcome::Elected { .. } | Outcome::MasterAlive { .. } => Ok(json(&self.view(&e.group).await)),
                        Outcome::NoMaster { reason } | Outcome::Refused { reason } => Err(Refusal(status::ELECT_MASTER_FAILED, reason)),
                        other => Err(Refusal(1, format!("{other:?}"))),
                    }
                }
                code::GET_REPLICA_INFO => {
                    let q: GroupQuery = body(req)?;
                    if !self.is_leader() {
                        return Err(self.not_leader());
                    }
                    match self.raft.ensure_linearizable().await {
                        Ok(_) => self.view(&q.group).await.map(|v| json(&v)).ok_or_else(|| Refusal(1, format!("no broker group {}", q.group))),
                        Err(e) if e.forward_to_leader().is_some() => Err(self.not_leader()),
                        Err(e) => Err(Refusal(status::NO_QUORUM, e.to_string())),
                    }
                }
                code::GET_METADATA => {
                    let groups = self.sm.state.lock().await.groups.groups.keys().cloned().collect();
                    Ok(json(&self.metadata(groups)))
                }
                other => Err(Refusal(protocol::codes::response::REQUEST_CODE_NOT_SUPPORTED, format!("request code {other} is not served by a controller"))),
            }
        }
        .await;
        match result {
            Ok(bytes) => RemotingCommand::response_to(req, 0).with_body(bytes),
            Err(Refusal(code, why)) => {
                let mut resp = RemotingCommand::response_to(req, code).with_remark(why.clone());
                if code == status::NOT_LEADER && !why.is_empty() {
                    resp = resp.with_ext("leaderAddr", why);
                }
                resp
            }
        }
    }
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

struct Server(Arc<Controller>);

impl Handler for Server {
    fn handle(&self, _channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let c = self.0.clone();
        Box::pin(async move { Some(c.answer(&request).await) })
    }
}

/// A running controller node.
pub struct ControllerHandle {
    pub controller: Arc<Controller>,
    pub local_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ControllerHandle {
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.controller.raft.shutdown().await;
    }
}

/// Opens the Raft log, binds the node's port and starts Raft, the server and the scan.
pub async fn start(config: ControllerConfig) -> Result<ControllerHandle, String> {
    let addr: SocketAddr = config.self_addr().parse().map_err(|e| format!("{}: {e}", config.self_addr()))?;
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::new([0, 0, 0, 0].into(), addr.port())).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let log = LogStore::open(&config.store_dir.join("raft")).map_err(|e| format!("raft log in {}: {e}", config.store_dir.display()))?;
    let sm = StateMachine::open(&config.store_dir.join("raft")).map_err(|e| format!("raft snapshot in {}: {e}", config.store_dir.display()))?;
    let beat = config.raft_heartbeat.as_millis() as u64;
    let raft_config = openraft::Config {
        cluster_name: "rocketry-controller".into(),
        heartbeat_interval: beat,
        election_timeout_min: beat * 4,
        election_timeout_max: beat * 8,
        install_snapshot_timeout: beat * 10,
        // A snapshot every so many entries, and the log it covers purged (`raft.rs`).
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(crate::raft::SNAPSHOT_EVERY),
        ..Default::default()
    }
    .validate()
    .map_err(|e| e.to_string())?;
    let pool = Arc::new(client::ConnectionPool::new(Arc::new(client::IgnoreRequests)));
    let raft = Raft::new(config.self_id, Arc::new(raft_config), Network { pool }, log, sm.clone()).await.map_err(|e| e.to_string())?;
    if !raft.is_initialized().await.map_err(|e| e.to_string())? {
        // Every node with the same members: whichever call lands first starts the cluster.
        let members: BTreeMap<NodeId, BasicNode> = config.peers.iter().map(|(id, a)| (*id, BasicNode { addr: a.clone() })).collect();
        if let Err(e) = raft.initialize(members).await {
            tracing::debug!(error = %e, "raft already initialized");
        }
    }
    let controller = Arc::new(Controller {
        config,
        raft,
        sm,
        seen: Mutex::new(HashMap::new()),
        leader_since: Mutex::new(None),
        no_master: Mutex::new(HashMap::new()),
        no_master_seen: Mutex::new(HashMap::new()),
    });
    let server = remoting::serve(listener, Arc::new(Server(controller.clone())), remoting::ServerConfig::default(), Arc::new(remoting::Connections::default()));
    let mut tasks = vec![tokio::spawn(server)];
    let c = controller.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(c.config.scan_interval);
        loop {
            tick.tick().await;
            c.scan().await;
        }
    }));
    Ok(ControllerHandle { controller, local_addr, tasks })
}
