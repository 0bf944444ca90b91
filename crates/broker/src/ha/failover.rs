//! Controller mode (`enableControllerMode`): automatic failover. Every replica of the group
//! starts as a replica and heartbeats the controller every `brokerHeartbeatInterval`, saying
//! how far its log reaches; the answer is the group as the controller sees it, and the broker
//! takes the role it names:
//!
//! * **Becoming master** (the controller elected it, epoch E): the log gets epoch E from its
//!   end on (the epoch file), the state a master keeps in memory is read back from the log
//!   (POP's in-flight table, timers, transactions), the store takes puts, the master's tasks
//!   start, and it registers with the NameServers as brokerId 0, so routes move to it.
//! * **Becoming a replica** (another broker is master): the reverse, then it follows that
//!   master; a tail the master does not have (a deposed master's) is truncated at the point
//!   their epochs say the logs stop agreeing (`master.rs` tells it where).
//! * **As master**: it keeps the in-sync set true — a replica joins once it holds everything
//!   confirmed so far and the epoch's start, and leaves when its link drops — through the
//!   controller, which fences a master that is no longer one. A SYNC_MASTER confirms a send
//!   once every member of the set holds it, and refuses sends while the set is smaller than
//!   `inSyncReplicas`.

use std::sync::Arc;
use std::time::Duration;

use client::Controllers;
use protocol::controller::{code, AlterInSync, BrokerRecord, GroupView, Heartbeat};

use crate::runtime::BrokerRole;
use crate::Broker;

/// Opens the epoch file; a log from before controller mode (or an empty one) is epoch 0.
/// Epochs that start past where the recovered log ends (a crash cut records they began with)
/// are dropped.
pub(crate) fn open_epochs(b: &Broker) -> Result<(), String> {
    let mut file = store::epoch::EpochFile::open(&b.config.store_path_root_dir)?;
    let end = b.store.commit_log_max_offset() as u64;
    if file.log().last().is_some_and(|e| e.start > end) {
        file.truncate(end + 1)?;
    }
    if file.log().last().is_none() {
        file.begin(0, 0)?;
    }
    *b.ha.epochs.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

impl super::Ha {
    /// The log's epochs as (epoch, start), oldest first; empty outside controller mode.
    pub fn epoch_entries(&self) -> Vec<(u32, u64)> {
        self.epochs.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or_else(Vec::new, |f| f.log().entries().iter().map(|e| (e.epoch, e.start)).collect())
    }

    pub(crate) fn epoch_log(&self) -> Option<store::epoch::EpochLog> {
        self.epochs.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|f| f.log().clone())
    }

    pub(crate) fn with_epochs<T>(&self, f: impl FnOnce(&mut store::epoch::EpochFile) -> Result<T, String>) -> Result<T, String> {
        match self.epochs.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(file) => f(file),
            None => Err("no epoch file (not in controller mode)".into()),
        }
    }

    /// The master epoch this broker serves in, when it is master by the controller's word.
    pub fn view(&self) -> Option<GroupView> {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn record(b: &Broker) -> BrokerRecord {
    BrokerRecord {
        cluster: b.config.broker_cluster_name.clone(),
        group: b.config.broker_name.clone(),
        broker_id: b.config.broker_id,
        addr: b.config.broker_addr(),
        ha_addr: format!("{}:{}", b.config.ha_host(), b.ha.port()),
    }
}

/// Heartbeats the controllers and follows their word until the broker stops. Heartbeats go
/// out on their own task, so a slow role change (reading a large log back) never makes the
/// controller think this broker is gone.
pub async fn run(b: Arc<Broker>) {
    let (views, mut word) = tokio::sync::watch::channel::<Option<GroupView>>(None);
    let heartbeats = tokio::spawn(heartbeat(b.clone(), views));
    let mut controllers = controllers(&b);
    while word.changed().await.is_ok() {
        let view = word.borrow_and_update().clone();
        let Some(view) = view else {
            // No word for too long: a master may have been replaced meanwhile.
            if b.runtime.role().is_master() {
                tracing::error!("no word from the controllers for twice controllerHeartBeatTimeoutMills: no longer taking sends");
                become_replica(&b);
            }
            continue;
        };
        if let Err(e) = follow_word(&b, &view).await {
            tracing::error!(error = %e, "taking the role the controller gave failed");
            continue;
        }
        if b.runtime.role().is_master() {
            if let Err(e) = keep_in_sync(&b, &mut controllers, &view).await {
                tracing::warn!(error = %e, "in-sync set not changed");
            }
        }
    }
    heartbeats.abort();
}

fn controllers(b: &Broker) -> Controllers {
    Controllers::new(&b.config.controller_addr, b.client_tls())
}

/// Sends a heartbeat every `brokerHeartbeatInterval` and publishes each answer; `None` once
/// no answer came for twice `controllerHeartBeatTimeoutMills` (the controller has surely
/// replaced a master it did not hear from by then).
async fn heartbeat(b: Arc<Broker>, views: tokio::sync::watch::Sender<Option<GroupView>>) {
    let mut controllers = controllers(&b);
    let mut tick = tokio::time::interval(Duration::from_millis(b.config.broker_heartbeat_interval_ms.max(50)));
    let lease = Duration::from_millis(b.config.controller_heart_beat_timeout_ms.saturating_mul(2));
    let mut last_word = tokio::time::Instant::now();
    let mut last_error: Option<String> = None;
    loop {
        tick.tick().await;
        let hb = Heartbeat {
            broker: record(&b),
            epoch: b.ha.epoch_log().and_then(|l| l.last()).map_or(0, |e| e.epoch),
            end: b.store.commit_log_max_offset() as u64,
            timeout_ms: b.config.controller_heart_beat_timeout_ms,
        };
        let answer = match controllers.ask(code::BROKER_HEARTBEAT, serde_json::to_vec(&hb).unwrap_or_default()).await {
            Ok(resp) if resp.code == 0 => serde_json::from_slice::<GroupView>(&resp.body).map_err(|e| e.to_string()),
            Ok(resp) => Err(format!("the controller answered {}: {}", resp.code, resp.remark.unwrap_or_default())),
            Err(e) => Err(e),
        };
        match answer {
            Ok(v) => {
                last_error = None;
                last_word = tokio::time::Instant::now();
                views.send_replace(Some(v));
            }
            Err(e) => {
                if last_error.as_deref() != Some(e.as_str()) {
                    tracing::warn!(error = %e, "no word from the controllers; keeping the current role for now");
                }
                last_error = Some(e);
                if last_word.elapsed() > lease && views.borrow().is_some() {
                    views.send_replace(None);
                }
            }
        }
    }
}

/// Takes the role the controller's view names.
async fn follow_word(b: &Arc<Broker>, view: &GroupView) -> Result<(), String> {
    *b.ha.view.lock().unwrap_or_else(|e| e.into_inner()) = Some(view.clone());
    let me = b.config.broker_id;
    let my_epoch = b.ha.epoch_log().and_then(|l| l.last()).map_or(0, |e| e.epoch);
    if view.master == Some(me) {
        if !b.runtime.role().is_master() || my_epoch < view.master_epoch {
            become_master(b, view.master_epoch, my_epoch).await?;
        }
        let members: Vec<i64> = view.in_sync.iter().copied().filter(|id| *id != me).collect();
        b.ha.set_in_sync_members(members);
        return Ok(());
    }
    if b.runtime.role().is_master() {
        become_replica(b);
    }
    b.ha.learn_master(view.master_addr.clone(), view.master_ha_addr.clone().filter(|a| !a.is_empty()));
    Ok(())
}

async fn become_master(b: &Arc<Broker>, epoch: u32, my_epoch: u32) -> Result<(), String> {
    // No more records from a former master: the store refuses them from here, and the flush
    // waits for any chunk being written, so `end` is final.
    b.store.set_replica(false);
    b.ha.role_changed.notify_waiters();
    b.store.flush().await.map_err(|e| e.to_string())?;
    let end = b.store.commit_log_max_offset() as u64;
    if my_epoch < epoch {
        b.ha.with_epochs(|f| f.begin(epoch, end))?;
    }
    // (The same epoch: this broker was its master and restarted before anyone replaced it.)
    b.ha.set_in_sync_members(vec![]);
    // What a master keeps in memory, read back from the log it now owns.
    b.reset_replayed_state();
    b.replay_pop_journal().map_err(|e| e.to_string())?;
    b.replay_timers().map_err(|e| e.to_string())?;
    let interrupted = b.replay_transactions().map_err(|e| e.to_string())?;
    b.runtime.set_role(b.config.broker_role);
    b.finish_commits(interrupted).await;
    crate::start_master_tasks(b);
    b.registration.request();
    tracing::info!(epoch, start = end, role = %b.config.broker_role, "now the master of {}", b.config.broker_name);
    Ok(())
}

fn become_replica(b: &Arc<Broker>) {
    b.runtime.set_role(BrokerRole::Slave);
    b.store.set_replica(true);
    crate::stop_master_tasks(b);
    b.ha.confirm_nothing();
    b.ha.role_changed.notify_waiters();
    b.registration.request();
    tracing::warn!("no longer the master of {}: following the controller's master", b.config.broker_name);
}

/// As master: the replicas that may be in the in-sync set now, and a change if it differs.
async fn keep_in_sync(b: &Arc<Broker>, controllers: &mut Controllers, view: &GroupView) -> Result<(), String> {
    let me = b.config.broker_id;
    let end = b.store.commit_log_max_offset() as u64;
    let epoch_start = b.ha.epoch_log().and_then(|l| l.last()).map_or(0, |e| e.start);
    // Everything confirmed so far (SYNC_MASTER), or within the gap (ASYNC_MASTER).
    let frontier = match b.runtime.role() {
        BrokerRole::SyncMaster => *b.ha.confirmed.borrow(),
        _ => end.saturating_sub(b.config.ha_max_gap_not_in_sync),
    };
    let links = b.ha.replicas();
    let now = b.clock.now_ms();
    let stale = b.config.ha_max_time_slave_not_catchup_ms as i64;
    let mut wanted: Vec<i64> = vec![me];
    for id in view.replicas.keys().copied().filter(|id| *id != me) {
        let best = links.iter().filter(|l| l.broker_id == id).max_by_key(|l| l.acked);
        let member = view.in_sync.contains(&id);
        let keep = match best {
            // A member stays while linked, acknowledging, and not too far behind; a newcomer
            // joins once it holds everything confirmed and the epoch's start.
            Some(l) if member => end.saturating_sub(l.acked) < b.config.ha_max_gap_not_in_sync && now - l.last_ack_ms < stale,
            Some(l) => l.acked >= frontier.max(epoch_start),
            None => false,
        };
        if keep {
            wanted.push(id);
        }
    }
    wanted.sort_unstable();
    let mut current = view.in_sync.clone();
    current.sort_unstable();
    if wanted == current {
        return Ok(());
    }
    // Newcomers count for confirmations before the controller has them (they could be
    // elected as soon as it does); leavers only after.
    let others = |set: &[i64]| set.iter().copied().filter(|id| *id != me).collect::<Vec<i64>>();
    let mut union = others(&current);
    union.extend(others(&wanted).into_iter().filter(|id| !current.contains(id)));
    b.ha.set_in_sync_members(union);
    let alter =
        AlterInSync { group: view.group.clone(), master: me, master_epoch: view.master_epoch, in_sync_epoch: view.in_sync_epoch, in_sync: wanted.clone() };
    let refused = match controllers.ask(code::ALTER_IN_SYNC, serde_json::to_vec(&alter).unwrap_or_default()).await {
        Ok(resp) if resp.code == 0 => None,
        Ok(resp) => Some(format!("the controller answered {}: {}", resp.code, resp.remark.unwrap_or_default())),
        Err(e) => Some(e),
    };
    if let Some(why) = refused {
        // Unknown whether it took the change: the union counts until the next view.
        return Err(why);
    }
    tracing::info!(from = ?current, to = ?wanted, "in-sync set changed");
    // Shrinking takes effect for confirmations once the controller has it.
    b.ha.set_in_sync_members(wanted.into_iter().filter(|id| *id != me).collect());
    Ok(())
}
