//! Changing commands with mqadmin's names and flags: deleteTopic, updateTopicPerm,
//! deleteSubGroup, updateBrokerConfig, wipeWritePerm, addWritePerm, updateKvConfig,
//! deleteKvConfig; and getNamesrvConfig.

use clap::Subcommand;
use client::Client;
use protocol::body::{self, TopicConfig};
use protocol::codes::request as rq;
use protocol::RemotingCommand;

use super::inspect::{Namesrv, Output};
use super::Target;

#[derive(Subcommand)]
pub enum ManageCommand {
    /// Delete a topic from every master of a cluster, then from the NameServers
    /// (DELETE_TOPIC_IN_BROKER, DELETE_TOPIC_IN_NAMESRV).
    ///
    /// Example: rocketry admin deleteTopic -n 127.0.0.1:9876 -c DefaultCluster -t orders
    #[command(name = "deleteTopic")]
    DeleteTopic {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 'c', long = "clusterName")]
        cluster: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Change a topic's permission (2 write, 4 read, 6 both) on `-b` or every master of `-c`,
    /// keeping its queues and attributes.
    ///
    /// Example: rocketry admin updateTopicPerm -n 127.0.0.1:9876 -c DefaultCluster -t orders -p 4
    #[command(name = "updateTopicPerm")]
    UpdateTopicPerm {
        #[command(flatten)]
        target: Target,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'p', long = "perm", value_parser = ["2", "4", "6"])]
        perm: String,
    },
    /// Delete a consumer group (DELETE_SUBSCRIPTIONGROUP) on `-b` or every master of `-c`.
    ///
    /// Example: rocketry admin deleteSubGroup -n 127.0.0.1:9876 -c DefaultCluster -g old-consumers -r true
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup {
        #[command(flatten)]
        target: Target,
        #[arg(short = 'g', long = "groupName")]
        group: String,
        /// Also delete its consumer offsets.
        #[arg(short = 'r', long = "removeOffset", default_value_t = false, action = clap::ArgAction::Set)]
        remove_offset: bool,
    },
    /// Change a broker setting while it runs (UPDATE_BROKER_CONFIG), on `-b` or every master of
    /// `-c`. Settings that need a restart are refused, naming the key.
    ///
    /// Example: rocketry admin updateBrokerConfig -n 127.0.0.1:9876 -b 127.0.0.1:10911 -k brokerPermission -v 4
    #[command(name = "updateBrokerConfig")]
    UpdateBrokerConfig {
        #[command(flatten)]
        target: Target,
        #[arg(short = 'k', long = "key")]
        key: String,
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// Set a KV config item on every NameServer (PUT_KV_CONFIG).
    ///
    /// Example: rocketry admin updateKvConfig -n 127.0.0.1:9876 -s ORDER_TOPIC_CONFIG -k orders -v broker-a:8
    #[command(name = "updateKvConfig")]
    UpdateKvConfig {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 's', long = "namespace")]
        namespace: String,
        #[arg(short = 'k', long = "key")]
        key: String,
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// Delete a KV config item on every NameServer (DELETE_KV_CONFIG).
    ///
    /// Example: rocketry admin deleteKvConfig -n 127.0.0.1:9876 -s ORDER_TOPIC_CONFIG -k orders
    #[command(name = "deleteKvConfig")]
    DeleteKvConfig {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 's', long = "namespace")]
        namespace: String,
        #[arg(short = 'k', long = "key")]
        key: String,
    },
    /// Take write permission from every topic of a broker on every NameServer (to drain it
    /// before a shutdown); producers stop sending there once their routes refresh.
    ///
    /// Example: rocketry admin wipeWritePerm -n 127.0.0.1:9876 -b broker-a
    #[command(name = "wipeWritePerm")]
    WipeWritePerm {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 'b', long = "brokerName")]
        broker: String,
    },
    /// Give a broker's topics read and write permission back on every NameServer.
    ///
    /// Example: rocketry admin addWritePerm -n 127.0.0.1:9876 -b broker-a
    #[command(name = "addWritePerm")]
    AddWritePerm {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 'b', long = "brokerName")]
        broker: String,
    },
    /// Every NameServer's configuration (GET_NAMESRV_CONFIG).
    ///
    /// Example: rocketry admin getNamesrvConfig -n 127.0.0.1:9876
    #[command(name = "getNamesrvConfig")]
    GetNamesrvConfig {
        #[command(flatten)]
        ns: Namesrv,
    },
}

/// Sends `cmd` to every NameServer, saying for each whether it worked.
async fn on_each_namesrv(client: &Client, what: &str, cmd: RemotingCommand, out: Output) -> Result<(), crate::Error> {
    super::each(client, "NameServers", client.namesrv_addrs(), &cmd, what, out, |addr, _| format!("{what} to {addr} success.")).await
}

/// WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER on every NameServer, saying for each
/// how many topics it changed, as mqadmin does.
async fn write_perm(ns: &Namesrv, broker: &str, writable: bool, out: Output) -> Result<(), crate::Error> {
    let client = ns.client();
    let (code, count_key, what) =
        if writable { (rq::ADD_WRITE_PERM_OF_BROKER, "addTopicCount", "add") } else { (rq::WIPE_WRITE_PERM_OF_BROKER, "wipeTopicCount", "wipe") };
    let cmd = RemotingCommand::request(code).with_ext("brokerName", broker);
    let what = format!("{what} write perm of broker[{broker}]");
    let sent = super::each(&client, "NameServers", client.namesrv_addrs(), &cmd, &what, out, |addr, answer| {
        format!("{what} in name server[{addr}] OK, {}", answer.ext_fields.get(count_key).unwrap_or("0"))
    })
    .await;
    client.close();
    sent
}

pub async fn run(cmd: ManageCommand, out: &Output) -> Result<(), crate::Error> {
    let out = *out;
    match cmd {
        ManageCommand::DeleteTopic { ns, cluster, topic } => {
            let target = Target { namesrv: ns.namesrv.clone(), broker: None, cluster: Some(cluster.clone()), security: ns.security.clone() };
            super::on_each(&target, "delete topic", RemotingCommand::request(rq::DELETE_TOPIC_IN_BROKER).with_ext("topic", &topic), out).await?;
            let client = ns.client();
            let cmd = RemotingCommand::request(rq::DELETE_TOPIC_IN_NAMESRV).with_ext("topic", &topic).with_ext("clusterName", &cluster);
            on_each_namesrv(&client, "delete topic in NameServer", cmd, out).await?;
            client.close();
        }
        ManageCommand::UpdateTopicPerm { target, topic, perm } => {
            let client = target.security.client(&target.namesrv);
            for addr in super::addrs_of(&target, &client).await? {
                let answer = client.invoke_ok(&addr, RemotingCommand::request(rq::GET_TOPIC_CONFIG).with_ext("topic", &topic)).await;
                let mut config: TopicConfig = body::decode(&answer.map_err(|e| format!("{addr}: {e}"))?.body)?;
                let old = config.perm;
                config.perm = perm.parse()?;
                super::on_each(&target.at(&addr), "update topic perm", Client::update_topic_request(&config, None), out).await?;
                match out.json {
                    true => println!("{}", serde_json::json!({"topic": topic, "addr": addr, "oldPerm": old, "perm": config.perm})),
                    false => println!("topic {topic} on {addr}: perm {old} -> {perm}"),
                }
            }
            client.close();
        }
        ManageCommand::DeleteSubGroup { target, group, remove_offset } => {
            let cmd = RemotingCommand::request(rq::DELETE_SUBSCRIPTIONGROUP).with_ext("groupName", &group).with_ext("cleanOffset", remove_offset);
            super::on_each(&target, "delete subscription group", cmd, out).await?;
            // As mqadmin with -c: the group's retry and dead-letter topics go too.
            if let (None, Some(cluster)) = (&target.broker, &target.cluster) {
                let client = target.security.client(&target.namesrv);
                for topic in [format!("%RETRY%{group}"), format!("%DLQ%{group}")] {
                    super::on_each(&target, "delete topic", RemotingCommand::request(rq::DELETE_TOPIC_IN_BROKER).with_ext("topic", &topic), out).await?;
                    let cmd = RemotingCommand::request(rq::DELETE_TOPIC_IN_NAMESRV).with_ext("topic", &topic).with_ext("clusterName", cluster);
                    on_each_namesrv(&client, "delete topic in NameServer", cmd, out).await?;
                }
                client.close();
            }
        }
        ManageCommand::UpdateBrokerConfig { target, key, value } => {
            let cmd = RemotingCommand::request(rq::UPDATE_BROKER_CONFIG).with_body(format!("{key}={value}\n"));
            super::on_each(&target, "update broker config", cmd, out).await?;
        }
        ManageCommand::WipeWritePerm { ns, broker } => write_perm(&ns, &broker, false, out).await?,
        ManageCommand::AddWritePerm { ns, broker } => write_perm(&ns, &broker, true, out).await?,
        ManageCommand::UpdateKvConfig { ns, namespace, key, value } => {
            let client = ns.client();
            let cmd = RemotingCommand::request(rq::PUT_KV_CONFIG).with_ext("namespace", namespace).with_ext("key", key).with_ext("value", value);
            on_each_namesrv(&client, "update kv config", cmd, out).await?;
            client.close();
        }
        ManageCommand::DeleteKvConfig { ns, namespace, key } => {
            let client = ns.client();
            let cmd = RemotingCommand::request(rq::DELETE_KV_CONFIG).with_ext("namespace", namespace).with_ext("key", key);
            on_each_namesrv(&client, "delete kv config", cmd, out).await?;
            client.close();
        }
        ManageCommand::GetNamesrvConfig { ns } => {
            let client = ns.client();
            let title = |addr: &str| format!("============{addr}============");
            super::inspect::listings(&client, client.namesrv_addrs(), rq::GET_NAMESRV_CONFIG, &out, title, super::inspect::properties).await?;
            client.close();
        }
    }
    Ok(())
}
