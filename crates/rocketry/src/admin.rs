//! `rocketry admin`: operator commands with mqadmin's names and flags. So far the one POP
//! needs: `setConsumeMode`.

use clap::Subcommand;
use client::Client;
use protocol::codes::request as rq;
use protocol::pop::SetMessageRequestModeRequestBody;
use protocol::RemotingCommand;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Set how a group consumes a topic, PULL or POP (SET_MESSAGE_REQUEST_MODE), on one broker
    /// (`-b`) or on every master of a cluster (`-c`), as mqadmin's command of the same name.
    #[command(name = "setConsumeMode")]
    SetConsumeMode {
        #[arg(short = 'n', long = "namesrvAddr", default_value = "127.0.0.1:9876")]
        namesrv: String,
        /// A broker address; wins over `-c`.
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        #[arg(short = 't', long = "topicName")]
        topic: String,
        #[arg(short = 'g', long = "groupName")]
        group: String,
        /// PULL or POP.
        #[arg(short = 'm', long = "mode", value_parser = ["PULL", "POP"])]
        mode: String,
        #[arg(short = 'q', long = "popShareQueueNum", default_value_t = 0)]
        pop_share_queue_num: i32,
    },
}

pub async fn run(cmd: AdminCommand) -> Result<(), crate::Error> {
    match cmd {
        AdminCommand::SetConsumeMode { namesrv, broker, cluster, topic, group, mode, pop_share_queue_num } => {
            let client = Client::new(namesrv.split(';').map(str::to_string).collect());
            let targets = match (broker, cluster) {
                (Some(b), _) => vec![b],
                (None, Some(c)) => masters_of(&client, &c).await?,
                (None, None) => return Err("give a broker (-b) or a cluster (-c)".into()),
            };
            let body = SetMessageRequestModeRequestBody { topic: topic.clone(), consumer_group: group.clone(), mode: mode.clone(), pop_share_queue_num };
            let mut failed = 0;
            for addr in &targets {
                let cmd = RemotingCommand::request(rq::SET_MESSAGE_REQUEST_MODE).with_body(protocol::body::encode(&body));
                match client.invoke_ok(addr, cmd).await {
                    Ok(_) => println!("set consume mode to {addr} success."),
                    Err(e) => {
                        failed += 1;
                        eprintln!("set consume mode to {addr} failed: {e}");
                    }
                }
            }
            println!("topic[{topic}] group[{group}] consume mode[{mode}] popShareQueueNum[{pop_share_queue_num}]");
            client.close();
            if failed > 0 {
                return Err(format!("{failed} of {} brokers refused", targets.len()).into());
            }
            Ok(())
        }
    }
}

/// The master (broker id 0) of every broker of `cluster`.
async fn masters_of(client: &Client, cluster: &str) -> Result<Vec<String>, crate::Error> {
    let info = client.cluster_info().await?;
    let names = info.cluster_addr_table.get(cluster).ok_or_else(|| format!("no cluster named {cluster}"))?;
    Ok(names.iter().filter_map(|n| info.broker_addr_table.get(n)?.broker_addrs.get(&0).cloned()).collect())
}
