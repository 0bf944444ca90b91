//! Replication: a replica (`brokerRole=SLAVE`, `brokerId` > 0) copies its group's master's
//! CommitLog byte for byte by offset, over Rocketry's own protocol (`protocol::ha`) on the
//! master's replication port (`haListenPort`), and builds its own consume queues and index
//! from it through the store's dispatchers. Topics, subscription groups, consumer offsets and
//! delay progress follow the master by a periodic copy (`sync`).
//!
//! * `master`: the replication port. Per replica: a handshake (the replica says where its
//!   log ends; the master refuses a replica that is ahead of it or does not share its log),
//!   then whole records as they are written, and the replica's acknowledgements back.
//! * `replica`: the replica's side: connect, append what arrives (checked record by record),
//!   acknowledge, reconnect when the link drops.
//! * [`Ha`]: the state both sides share with the rest of the broker: the master's links and
//!   what they acknowledged (a SYNC_MASTER send waits on it), the replica's view of its
//!   master, and the addresses the NameServer gives a replica.

pub mod failover;
pub mod master;
pub mod replica;
pub mod sync;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::BrokerConfig;

/// One replica connected to this master.
#[derive(Debug, Clone)]
pub struct Link {
    pub id: u64,
    pub broker_id: i64,
    pub addr: SocketAddr,
    /// Where the replica's log ends, by its last acknowledgement.
    pub acked: u64,
    /// Where the next chunk sent to it starts.
    pub sent_to: u64,
    pub since_ms: i64,
    pub last_ack_ms: i64,
    /// Bytes of records sent on this link.
    pub sent_bytes: u64,
}

/// A replica's view of its master.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    /// The master's replication address being followed (or tried).
    pub master_ha_addr: Option<String>,
    pub connected: bool,
    /// The master's log end, by its last frame.
    pub master_end: u64,
    pub last_read_ms: i64,
    pub last_write_ms: i64,
    /// Bytes of records received since start.
    pub received_bytes: u64,
    /// Why the last link ended or was refused.
    pub last_error: Option<String>,
}

/// Why a SYNC_MASTER send is not confirmed by its replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unconfirmed {
    /// Fewer replicas connected and in sync than the send waits for.
    NotAvailable,
    /// They did not acknowledge it within `slaveTimeout`.
    Timeout,
}

pub struct Ha {
    /// Replica acknowledgements a SYNC_MASTER send waits for (`inSyncReplicas` − 1).
    needed: usize,
    max_gap: u64,
    timeout: Duration,
    links: Mutex<Vec<Link>>,
    /// The log end that `needed` connected replicas have all acknowledged.
    confirmed: watch::Sender<u64>,
    next_id: AtomicU64,
    follower: Mutex<Follower>,
    /// The master's (remoting address, replication address), as the NameServer answered the
    /// replica's registration.
    learned: Mutex<(Option<String>, Option<String>)>,
    /// Wakes the replica when the master's address may have changed.
    pub(crate) master_changed: Notify,
    /// The replication port this broker listens on (0 until bound).
    pub(crate) port: std::sync::atomic::AtomicU16,
    /// Controller mode: the log's epochs (`<storePathRootDir>/epoch`).
    pub(crate) epochs: Mutex<Option<store::epoch::EpochFile>>,
    /// Controller mode: the group as the controller last answered.
    pub(crate) view: Mutex<Option<protocol::controller::GroupView>>,
    /// Controller mode: the tasks only a master runs, while it is one.
    pub(crate) master_tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Woken when this broker's role changes (a replica's link to a former master ends).
    pub(crate) role_changed: Notify,
    /// Controller mode: SYNC_MASTER acknowledgements count the in-sync set's members, all of
    /// them (the broker ids of the set but the master).
    in_sync_members: Mutex<Option<Vec<i64>>>,
}

impl Ha {
    pub fn new(config: &BrokerConfig) -> Ha {
        Ha {
            needed: config.in_sync_replicas.unwrap_or(2).saturating_sub(1) as usize,
            max_gap: config.ha_max_gap_not_in_sync,
            timeout: Duration::from_millis(config.slave_timeout_ms),
            links: Mutex::new(Vec::new()),
            confirmed: watch::Sender::new(0),
            next_id: AtomicU64::new(1),
            follower: Mutex::new(Follower::default()),
            learned: Mutex::new((None, None)),
            master_changed: Notify::new(),
            port: Default::default(),
            epochs: Mutex::new(None),
            view: Mutex::new(None),
            master_tasks: Mutex::new(Vec::new()),
            role_changed: Notify::new(),
            in_sync_members: Mutex::new(None),
        }
    }

    fn links(&self) -> std::sync::MutexGuard<'_, Vec<Link>> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The replicas connected now.
    pub fn replicas(&self) -> Vec<Link> {
        self.links().clone()
    }

    pub fn follower(&self) -> Follower {
        self.follower.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn update_follower(&self, f: impl FnOnce(&mut Follower)) {
        f(&mut self.follower.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// How many replicas are within `haMaxGapNotInSync` of `master_end`.
    pub fn in_sync(&self, master_end: u64) -> usize {
        self.links().iter().filter(|l| master_end.saturating_sub(l.acked) < self.max_gap).count()
    }

    pub(crate) fn add_link(&self, broker_id: i64, addr: SocketAddr, start: u64, now_ms: i64) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.links().push(Link { id, broker_id, addr, acked: start, sent_to: start, since_ms: now_ms, last_ack_ms: now_ms, sent_bytes: 0 });
        self.recompute();
        id
    }

    pub(crate) fn remove_link(&self, id: u64) {
        self.links().retain(|l| l.id != id);
        self.recompute();
    }

    pub(crate) fn sent(&self, id: u64, next: u64, bytes: u64) {
        if let Some(l) = self.links().iter_mut().find(|l| l.id == id) {
            l.sent_to = next;
            l.sent_bytes += bytes;
        }
    }

    pub(crate) fn acked(&self, id: u64, end: u64, now_ms: i64) {
        if let Some(l) = self.links().iter_mut().find(|l| l.id == id) {
            // A replica cannot hold what it was never sent.
            l.acked = l.acked.max(end.min(l.sent_to));
            l.last_ack_ms = now_ms;
        }
        self.recompute();
    }

    /// The end every send up to is confirmed: what the `needed`-th best replica holds, or in
    /// controller mode what every other member of the in-sync set holds.
    fn recompute(&self) {
        if self.needed == 0 {
            return;
        }
        let members = self.in_sync_members.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let links = self.links();
        let confirmed = match members {
            Some(members) if members.is_empty() || members.contains(&i64::MIN) => 0,
            Some(members) => members.iter().map(|id| links.iter().filter(|l| l.broker_id == *id).map(|l| l.acked).max().unwrap_or(0)).min().unwrap_or(0),
            None => {
                let mut acks: Vec<u64> = links.iter().map(|l| l.acked).collect();
                acks.sort_unstable_by(|a, b| b.cmp(a));
                acks.get(self.needed - 1).copied().unwrap_or(0)
            }
        };
        drop(links);
        self.confirmed.send_if_modified(|c| {
            let changed = *c != confirmed;
            *c = confirmed;
            changed
        });
    }

    /// Controller mode: the in-sync set's members but the master, whose acknowledgements a
    /// SYNC_MASTER send waits for.
    pub(crate) fn set_in_sync_members(&self, members: Vec<i64>) {
        *self.in_sync_members.lock().unwrap_or_else(|e| e.into_inner()) = Some(members);
        self.recompute();
    }

    /// Controller mode: confirms nothing more (a master that is one no longer): waiting sends
    /// time out rather than be confirmed by replicas that may be cut back.
    pub(crate) fn confirm_nothing(&self) {
        *self.in_sync_members.lock().unwrap_or_else(|e| e.into_inner()) = Some(vec![i64::MIN]);
        self.confirmed.send_replace(0);
    }

    /// Controller mode: whether the in-sync set is large enough for a SYNC_MASTER to take a
    /// send at all (Java refuses it before storing: "in-sync replicas not enough").
    pub fn enough_in_sync(&self) -> bool {
        match &*self.in_sync_members.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(members) => !members.contains(&i64::MIN) && members.len() >= self.needed,
            None => true,
        }
    }

    /// Waits until the replicas a SYNC_MASTER send needs hold the log up to `end`.
    pub async fn confirm(&self, end: u64, master_end: u64) -> Result<(), Unconfirmed> {
        if self.needed == 0 {
            return Ok(());
        }
        let controlled = self.in_sync_members.lock().unwrap_or_else(|e| e.into_inner()).is_some();
        if !controlled && self.in_sync(master_end) < self.needed {
            return Err(Unconfirmed::NotAvailable);
        }
        let mut rx = self.confirmed.subscribe();
        let confirmed = tokio::time::timeout(self.timeout, async { rx.wait_for(|c| *c >= end).await.is_ok() }).await;
        match confirmed {
            Ok(true) => Ok(()),
            _ => Err(Unconfirmed::Timeout),
        }
    }

    /// What the NameServer answered a replica's registration: its master's addresses.
    pub fn learn_master(&self, master_addr: Option<String>, master_ha_addr: Option<String>) {
        let changed = {
            let mut l = self.learned.lock().unwrap_or_else(|e| e.into_inner());
            // Java keeps the last replication address when an answer has none.
            let ha = master_ha_addr.or_else(|| l.1.clone());
            let changed = l.0 != master_addr || l.1 != ha;
            *l = (master_addr, ha);
            changed
        };
        if changed {
            self.master_changed.notify_waiters();
        }
    }

    /// The master's remoting address, as the NameServer last said.
    pub fn master_addr(&self) -> Option<String> {
        self.learned.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    pub(crate) fn learned_ha_addr(&self) -> Option<String> {
        self.learned.lock().unwrap_or_else(|e| e.into_inner()).1.clone()
    }

    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Acquire)
    }
}

impl crate::Broker {
    /// GET_BROKER_HA_STATUS (`mqadmin haStatus`): a master's replicas (rates are averages
    /// over each link's life), or a replica's view of its master.
    pub fn ha_runtime_info(&self) -> protocol::body::HaRuntimeInfo {
        let now = self.clock.now_ms();
        let end = self.store.commit_log_max_offset();
        let per_second = |bytes: u64, since: i64| (bytes as i64 * 1000) / (now - since).max(1000);
        let links = self.ha.replicas();
        let f = self.ha.follower();
        protocol::body::HaRuntimeInfo {
            master: self.runtime.role().is_master(),
            master_commit_log_max_offset: if self.runtime.role().is_master() { end } else { f.master_end as i64 },
            in_sync_slave_nums: self.ha.in_sync(end as u64) as i32,
            ha_connection_info: links
                .iter()
                .map(|l| protocol::body::HaConnectionRuntimeInfo {
                    addr: l.addr.to_string(),
                    slave_ack_offset: l.acked as i64,
                    diff: end - l.acked as i64,
                    in_sync: (end as u64).saturating_sub(l.acked) < self.config.ha_max_gap_not_in_sync,
                    transferred_byte_in_second: per_second(l.sent_bytes, l.since_ms),
                    transfer_from_where: l.sent_to as i64,
                })
                .collect(),
            ha_client_runtime_info: protocol::body::HaClientRuntimeInfo {
                master_addr: f.master_ha_addr.unwrap_or_default(),
                transferred_byte_in_second: per_second(f.received_bytes, now - self.started.elapsed().as_millis() as i64),
                max_offset: end,
                last_read_timestamp: f.last_read_ms,
                last_write_timestamp: f.last_write_ms,
                master_flush_offset: f.master_end as i64,
            },
        }
    }
}

/// Reads the next whole frame, waiting at most `silent` for bytes: a link silent that long
/// is dead (`haHousekeepingInterval`).
pub(crate) async fn read_frame<R: tokio::io::AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut bytes::BytesMut,
    max_len: usize,
    silent: Duration,
) -> Result<protocol::ha::Frame, String> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(frame) = protocol::ha::Frame::decode(buf, max_len).map_err(|e| e.to_string())? {
            return Ok(frame);
        }
        match tokio::time::timeout(silent, rd.read_buf(buf)).await {
            Err(_) => return Err(format!("nothing received for {} ms", silent.as_millis())),
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(0)) => return Err("connection closed".into()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Writes one frame.
pub(crate) async fn write_frame<W: tokio::io::AsyncWrite + Unpin>(wr: &mut W, frame: &protocol::ha::Frame) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut out = bytes::BytesMut::new();
    frame.encode(&mut out);
    wr.write_all(&out).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ha(in_sync_replicas: u32) -> Ha {
        let config = BrokerConfig { in_sync_replicas: Some(in_sync_replicas), slave_timeout_ms: 50, ..Default::default() };
        Ha::new(&config)
    }

    fn addr() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    /// A replica link that was sent everything (acknowledgements are capped by what was sent).
    fn link(h: &Ha, broker_id: i64) -> u64 {
        let id = h.add_link(broker_id, addr(), 0, 0);
        h.sent(id, 1 << 40, 0);
        id
    }

    #[tokio::test]
    async fn a_send_is_confirmed_once_enough_replicas_acknowledge_it() {
        let h = ha(3);
        assert_eq!(h.confirm(100, 100).await, Err(Unconfirmed::NotAvailable));
        let a = link(&h, 1);
        assert_eq!(h.confirm(100, 100).await, Err(Unconfirmed::NotAvailable), "one of two replicas");
        let b = link(&h, 2);
        h.acked(a, 150, 1);
        assert_eq!(h.confirm(100, 150).await, Err(Unconfirmed::Timeout), "only one acknowledged");
        h.acked(b, 120, 1);
        assert_eq!(h.confirm(100, 150).await, Ok(()));
        assert_eq!(h.confirm(130, 150).await, Err(Unconfirmed::Timeout));
        // An acknowledgement arriving while the send waits confirms it.
        let wait = h.confirm(140, 150);
        h.acked(b, 140, 2);
        assert_eq!(wait.await, Ok(()));
        // Nor past what was sent.
        let c = h.add_link(3, addr(), 0, 0);
        h.sent(c, 50, 50);
        h.acked(c, 10_000, 4);
        assert_eq!(h.replicas().iter().find(|l| l.id == c).unwrap().acked, 50);
        h.remove_link(c);
        // Acknowledgements never go back.
        h.acked(b, 10, 3);
        assert_eq!(h.replicas().iter().find(|l| l.id == b).unwrap().acked, 140);
        h.remove_link(a);
        assert_eq!(h.confirm(100, 150).await, Err(Unconfirmed::NotAvailable));
    }

    #[tokio::test]
    async fn a_replica_too_far_behind_is_not_in_sync() {
        let config = BrokerConfig { ha_max_gap_not_in_sync: 1000, slave_timeout_ms: 50, ..Default::default() };
        let h = Ha::new(&config);
        let a = link(&h, 1);
        assert_eq!(h.in_sync(999), 1);
        assert_eq!(h.in_sync(1000), 0);
        assert_eq!(h.confirm(5000, 5000).await, Err(Unconfirmed::NotAvailable));
        h.acked(a, 4500, 1);
        assert_eq!(h.confirm(4500, 5000).await, Ok(()));
    }

    #[tokio::test]
    async fn one_in_sync_replica_means_no_wait() {
        let h = ha(1);
        assert_eq!(h.confirm(100, 100).await, Ok(()));
    }

    #[test]
    fn the_masters_address_is_learned_and_its_replication_address_kept() {
        let h = ha(2);
        h.learn_master(Some("m:1".into()), Some("m:2".into()));
        assert_eq!((h.master_addr(), h.learned_ha_addr()), (Some("m:1".into()), Some("m:2".into())));
        h.learn_master(None, None);
        assert_eq!((h.master_addr(), h.learned_ha_addr()), (None, Some("m:2".into())));
    }
}
