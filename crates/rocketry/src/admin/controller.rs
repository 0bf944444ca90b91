//! Commands for `rocketry controller` (automatic failover), with mqadmin's names and flags:
//! getControllerMetaData, getSyncStateSet, electMaster. They speak Rocketry's controller
//! protocol (`protocol::controller`), not the Java controller's, and follow a node's word on
//! who leads.

use clap::Subcommand;
use protocol::controller::{code, ElectMaster, GroupQuery, GroupView, Metadata};
use protocol::RemotingCommand;

use super::inspect::{emit, print_json, table, Output};

#[derive(clap::Args, Clone)]
pub struct Controllers {
    /// Controller addresses, `host:port;host:port` (any of them; the leader is found).
    #[arg(short = 'a', long = "controllerAddress")]
    pub addrs: String,
}

#[derive(Subcommand)]
pub enum ControllerCommand {
    /// The controller nodes, their leader and term, and the broker groups they know.
    ///
    /// Example: rocketry admin getControllerMetaData -a 127.0.0.1:9878
    #[command(name = "getControllerMetaData")]
    GetControllerMetaData {
        #[command(flatten)]
        controllers: Controllers,
    },
    /// A broker group's master, master epoch, in-sync set and replicas, and which replicas the
    /// leader hears (`-b`: broker names, comma-separated).
    ///
    /// Example: rocketry admin getSyncStateSet -a 127.0.0.1:9878 -b broker-a
    #[command(name = "getSyncStateSet")]
    GetSyncStateSet {
        #[command(flatten)]
        controllers: Controllers,
        #[arg(short = 'b', long = "brokerName")]
        brokers: String,
    },
    /// Makes a live in-sync replica the master of its group (a switchover), or elects one by
    /// the rules when `-b` is not given and the master is gone.
    ///
    /// Example: rocketry admin electMaster -a 127.0.0.1:9878 -c DefaultCluster -n broker-a -b 2
    #[command(name = "electMaster")]
    ElectMaster {
        #[command(flatten)]
        controllers: Controllers,
        #[arg(short = 'c', long = "clusterName", default_value = "DefaultCluster")]
        cluster: String,
        #[arg(short = 'n', long = "brokerName")]
        broker_name: String,
        #[arg(short = 'b', long = "brokerId")]
        broker_id: Option<i64>,
    },
}

/// Asks the controllers (the leader answers); a refusal is an error with its remark.
async fn ask(addrs: &str, code: i32, body: Vec<u8>) -> Result<RemotingCommand, crate::Error> {
    let resp = client::Controllers::new(addrs, None).ask(code, body).await?;
    if resp.code != 0 {
        return Err(format!("code {}: {}", resp.code, resp.remark.unwrap_or_default()).into());
    }
    Ok(resp)
}

fn print_group(v: &GroupView) {
    emit(&format!("#ClusterName\t{}", v.cluster));
    emit(&format!("#BrokerName\t{}", v.group));
    emit(&format!("#MasterBrokerId\t{}", v.master.map_or("-".to_string(), |m| m.to_string())));
    emit(&format!("#MasterAddr\t{}", v.master_addr.clone().unwrap_or_else(|| "-".into())));
    emit(&format!("#MasterEpoch\t{}", v.master_epoch));
    emit(&format!("#SyncStateSetEpoch\t{}", v.in_sync_epoch));
    emit(&format!("#SyncStateSet\t{:?}", v.in_sync));
    if let Some(why) = &v.no_master_reason {
        emit(&format!("#NoMasterBecause\t{why}"));
    }
    let rows: Vec<Vec<String>> = v
        .replicas
        .values()
        .map(|r| {
            vec![
                r.broker_id.to_string(),
                r.addr.clone(),
                r.ha_addr.clone(),
                if v.in_sync.contains(&r.broker_id) { "yes" } else { "no" }.to_string(),
                if v.alive.contains(&r.broker_id) { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    table(&["#BrokerId", "#Addr", "#HaAddr", "#InSync", "#Alive"], &rows);
}

pub async fn run(cmd: ControllerCommand, out: &Output) -> Result<(), crate::Error> {
    match cmd {
        ControllerCommand::GetControllerMetaData { controllers } => {
            let resp = ask(&controllers.addrs, code::GET_METADATA, b"null".to_vec()).await?;
            let m: Metadata = serde_json::from_slice(&resp.body)?;
            if out.json {
                print_json(&serde_json::to_value(&m)?);
                return Ok(());
            }
            emit(&format!("#ControllerLeaderId\tn{}", m.leader_id.map_or("-".to_string(), |l| l.to_string())));
            emit(&format!("#ControllerLeaderAddress\t{}", m.leader_addr.unwrap_or_else(|| "-".into())));
            emit(&format!("#Term\t{}", m.term));
            for (id, addr) in &m.peers {
                emit(&format!("#Peer:\tn{id}\t{addr}"));
            }
            emit(&format!("#BrokerGroups\t{}", m.groups.join(",")));
        }
        ControllerCommand::GetSyncStateSet { controllers, brokers } => {
            let mut all = serde_json::Map::new();
            for name in brokers.split(',').map(str::trim).filter(|b| !b.is_empty()) {
                let q = GroupQuery { group: name.to_string() };
                let resp = ask(&controllers.addrs, code::GET_REPLICA_INFO, serde_json::to_vec(&q)?).await?;
                let v: GroupView = serde_json::from_slice(&resp.body)?;
                if !out.json {
                    print_group(&v);
                    emit("");
                }
                all.insert(name.to_string(), serde_json::to_value(&v)?);
            }
            if out.json {
                print_json(&serde_json::Value::Object(all));
            }
        }
        ControllerCommand::ElectMaster { controllers, cluster, broker_name, broker_id } => {
            let q = GroupQuery { group: broker_name.clone() };
            let now: GroupView = serde_json::from_slice(&ask(&controllers.addrs, code::GET_REPLICA_INFO, serde_json::to_vec(&q)?).await?.body)?;
            if now.cluster != cluster {
                return Err(format!("{broker_name} belongs to cluster {}, not {cluster}", now.cluster).into());
            }
            let req = ElectMaster { group: broker_name.clone(), broker_id };
            let resp = ask(&controllers.addrs, code::ELECT_MASTER, serde_json::to_vec(&req)?).await?;
            let v: GroupView = serde_json::from_slice(&resp.body)?;
            if out.json {
                print_json(&serde_json::to_value(&v)?);
            } else {
                print_group(&v);
            }
        }
    }
    Ok(())
}
