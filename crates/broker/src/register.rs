//! Registration with every NameServer: at start, every `registerNameServerPeriod`
//! (clamped to 10–60 s as in RocketMQ), and at once when topics change.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use client::Client;
use protocol::body::{self, RegisterBrokerBody};
use protocol::codes::request;
use protocol::header::RegisterBrokerRequestHeader;
use protocol::RemotingCommand;

use crate::Broker;

fn namesrv_addrs(broker: &Broker) -> Vec<String> {
    broker.config.namesrv_addr.as_deref().unwrap_or("").split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Asks the registration loop for a round and tells when one has finished. A change the
/// NameServers must know before the broker answers (a topic made by a send or by
/// UPDATE_AND_CREATE_TOPIC: the Java broker registers it before it replies, so a consumer
/// started right after finds the route instead of waiting 30 s for its next route poll)
/// waits for the round that carries it.
pub struct Registration {
    wake: Notify,
    requested: AtomicU64,
    /// The newest request a finished round covered.
    done: watch::Sender<u64>,
    /// False without NameServers (and in tests without the loop): nothing to wait for.
    running: AtomicBool,
    /// When a NameServer last accepted a registration (clock ms; 0: never).
    last_accepted_ms: AtomicI64,
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            wake: Notify::new(),
            requested: AtomicU64::new(0),
            done: watch::Sender::new(0),
            running: AtomicBool::new(false),
            last_accepted_ms: AtomicI64::new(0),
        }
    }
}

/// How long a change waits for the round that registers it; past it the answer goes out
/// anyway (a NameServer that does not answer must not stall sends), and later rounds retry.
pub const SETTLE_WAIT: Duration = Duration::from_secs(3);

impl Registration {
    /// Asks for a round now (topics or permission changed).
    pub fn request(&self) {
        self.requested.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// When a NameServer last accepted this broker's registration (clock ms), `None` if none
    /// has yet.
    pub fn last_accepted_ms(&self) -> Option<i64> {
        Some(self.last_accepted_ms.load(Ordering::Acquire)).filter(|t| *t > 0)
    }

    /// Waits, at most `limit`, until a round that began after every request so far has
    /// finished (each NameServer answered or failed). At once when no loop runs.
    pub async fn settled(&self, limit: Duration) {
        if !self.running.load(Ordering::SeqCst) {
            return;
        }
        let want = self.requested.load(Ordering::SeqCst);
        let mut done = self.done.subscribe();
        if tokio::time::timeout(limit, done.wait_for(|d| *d >= want)).await.is_err() {
            tracing::warn!("registration with the NameServers did not finish in {limit:?}; answering anyway");
        }
    }
}

impl Broker {
    /// The id the NameServers know this broker by: in controller mode the master is brokerId 0
    /// (clients send to 0), a replica its own id; otherwise `brokerId`.
    pub fn registered_id(&self) -> i64 {
        if self.config.enable_controller_mode && self.runtime.role().is_master() {
            0
        } else {
            self.config.broker_id
        }
    }

    /// TLS for connections the broker's process makes to its NameServers and brokers (the
    /// dashboard's too): `tls.enable`/`useTLS`, or enforcing mode.
    pub fn client_tls(&self) -> Option<remoting::tls::ClientTls> {
        self.client_tls.clone()
    }

    /// A client for the broker's own calls (to NameServers): over TLS and signed with
    /// `innerClientAuthenticationCredentials` when configured.
    pub(crate) fn inner_client(&self, addrs: Vec<String>) -> Client {
        Client::new(addrs).with_tls(self.client_tls.clone()).with_credentials(self.inner_credentials.clone())
    }

    /// A client of the configured NameServers (for route lookups), made on first use; `None`
    /// without `namesrvAddr`.
    pub(crate) fn namesrv_client(&self) -> Option<&Client> {
        self.namesrv
            .get_or_init(|| {
                let addrs = namesrv_addrs(self);
                (!addrs.is_empty()).then(|| self.inner_client(addrs))
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
    let client = broker.inner_client(addrs.clone());
    broker.registration.running.store(true, Ordering::SeqCst);
    if tokio::time::timeout(FIRST_ROUND_WAIT, register_all(broker, &client, &addrs)).await.is_err() {
        tracing::warn!("first registration round did not finish in {FIRST_ROUND_WAIT:?}; going on");
    }
    Some(client)
}

/// Registers every period, and at once when topics change (`Registration::request`), after
/// `first_round`.
pub(crate) async fn run(broker: Arc<Broker>, client: Option<Client>) {
    let Some(client) = client else { return };
    let addrs = namesrv_addrs(&broker);
    let period = Duration::from_millis(broker.config.register_name_server_period_ms.clamp(10_000, 60_000));
    let registration = &broker.registration;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = registration.wake.notified() => {}
        }
        // Read before the round: every request up to here is in the topics it sends.
        let covers = registration.requested.load(Ordering::SeqCst);
        register_all(&broker, &client, &addrs).await;
        registration.done.send_modify(|d| *d = (*d).max(covers));
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
        ha_server_addr: format!("{}:{}", broker.config.ha_host(), broker.ha.port()),
        broker_id: broker.registered_id(),
        heartbeat_timeout_ms: None,
        compressed: false,
        body_crc32: protocol::message::crc32(&body),
    };
    for addr in addrs {
        let mut cmd = RemotingCommand::request(request::REGISTER_BROKER).with_body(body.clone());
        header.encode(&mut cmd.ext_fields);
        match client.invoke_ok(addr, cmd).await {
            Ok(resp) => {
                broker.registration.last_accepted_ms.store(broker.clock.now_ms(), Ordering::Release);
                if broker.config.broker_id != 0 && !broker.config.enable_controller_mode {
                    // A replica learns where its master is (Java: `RegisterBrokerResult`; in
                    // controller mode the controller says).
                    let field = |k: &str| resp.ext_fields.get(k).filter(|v| !v.is_empty()).map(str::to_string);
                    broker.ha.learn_master(field("masterAddr"), field("haServerAddr"));
                }
                tracing::debug!(namesrv = %addr, "registered")
            }
            Err(e) => tracing::warn!(namesrv = %addr, error = %e, "broker registration failed"),
        }
    }
}

pub(crate) async fn unregister_all(broker: &Broker) {
    let addrs = namesrv_addrs(broker);
    let client = broker.inner_client(addrs.clone());
    for addr in &addrs {
        let cmd = RemotingCommand::request(request::UNREGISTER_BROKER)
            .with_ext("brokerName", &broker.config.broker_name)
            .with_ext("brokerAddr", broker.config.broker_addr())
            .with_ext("clusterName", &broker.config.broker_cluster_name)
            .with_ext("brokerId", broker.registered_id());
        if let Err(e) = client.invoke_ok(addr, cmd).await {
            tracing::warn!(namesrv = %addr, error = %e, "unregister failed");
        }
    }
    client.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_waits_for_the_round_that_carries_it() {
        let r = Arc::new(Registration::default());
        // No loop: nothing to wait for.
        r.request();
        tokio::time::timeout(Duration::from_millis(1), r.settled(SETTLE_WAIT)).await.expect("no loop, no wait");

        r.running.store(true, Ordering::SeqCst);
        // A round that began before the request does not settle it.
        r.done.send_modify(|d| *d = 0);
        let waiter = tokio::spawn({
            let r = r.clone();
            async move { r.settled(Duration::from_secs(60)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished(), "settled before any round covered the request");
        r.done.send_modify(|d| *d = r.requested.load(Ordering::SeqCst));
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("settled once the round finished").unwrap();

        // A NameServer that never answers delays the answer by SETTLE_WAIT at most.
        r.request();
        let t0 = tokio::time::Instant::now();
        r.settled(Duration::from_millis(200)).await;
        assert!(t0.elapsed() >= Duration::from_millis(200));
    }
}
