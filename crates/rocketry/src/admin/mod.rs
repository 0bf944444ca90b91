//! `rocketry admin`: operator commands with mqadmin's names and flags. So far: `updateTopic`,
//! `updateSubGroup`, `setConsumeMode`, ACL 2.0's users and ACLs ([`users`]), and the reading
//! commands of [`inspect`] (tables, or `--json`), and the controller's ([`controller`]).

mod controller;
pub(crate) mod inspect;
mod manage;
pub(crate) mod messages;
pub(crate) mod status;
pub(crate) mod trace;
mod users;

use clap::Subcommand;
use client::Client;
use protocol::body::{SubscriptionGroupConfig, TopicConfig};
use protocol::codes::request as rq;
use protocol::pop::SetMessageRequestModeRequestBody;
use protocol::RemotingCommand;

use inspect::Output;

/// Where a command goes: one broker (`-b`, wins) or every master of a cluster (`-c`).
#[derive(clap::Args, Clone)]
pub struct Target {
    #[arg(short = 'n', long = "namesrvAddr", default_value = "127.0.0.1:9876")]
    namesrv: String,
    /// A broker address; wins over `-c`.
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    #[command(flatten)]
    security: crate::security::Security,
}

impl Target {
    /// The same, aimed at one broker.
    fn at(&self, addr: &str) -> Target {
        Target { broker: Some(addr.to_string()), ..self.clone() }
    }
}

/// `rocketry admin [--json] <command>`.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// Print one JSON document for scripts instead of tables and lines (the streaming commands:
    /// a JSON object per line). Taken before or after the command.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create or update a topic (UPDATE_AND_CREATE_TOPIC), as mqadmin's command of the same name.
    ///
    /// Example: rocketry admin updateTopic -n 127.0.0.1:9876 -c DefaultCluster -t orders -r 8 -w 8 -a +message.type=FIFO
    #[command(name = "updateTopic")]
    UpdateTopic {
        #[command(flatten)]
        target: Target,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
        read_queue_nums: i32,
        #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
        write_queue_nums: i32,
        /// 2: write, 4: read, 6: both.
        #[arg(short = 'p', long = "perm", default_value_t = 6)]
        perm: i32,
        #[arg(short = 'o', long = "order", default_value_t = false, action = clap::ArgAction::Set)]
        order: bool,
        /// Attribute changes, `+message.type=FIFO,+k=v,-k`.
        #[arg(short = 'a', long = "attributes")]
        attributes: Option<String>,
    },
    /// Create or update a consumer group (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP), as mqadmin's
    /// command of the same name.
    ///
    /// Example: rocketry admin updateSubGroup -n 127.0.0.1:9876 -c DefaultCluster -g billing -r 5
    #[command(name = "updateSubGroup")]
    UpdateSubGroup {
        #[command(flatten)]
        target: Target,
        #[arg(short = 'g', long = "groupName")]
        group: String,
        #[arg(short = 's', long = "consumeEnable", default_value_t = true, action = clap::ArgAction::Set)]
        consume_enable: bool,
        #[arg(short = 'm', long = "consumeFromMinEnable", default_value_t = true, action = clap::ArgAction::Set)]
        consume_from_min_enable: bool,
        #[arg(short = 'd', long = "consumeBroadcastEnable", default_value_t = true, action = clap::ArgAction::Set)]
        consume_broadcast_enable: bool,
        #[arg(short = 'o', long = "consumeMessageOrderly", default_value_t = false, action = clap::ArgAction::Set)]
        consume_message_orderly: bool,
        #[arg(short = 'q', long = "retryQueueNums", default_value_t = 1)]
        retry_queue_nums: i32,
        #[arg(short = 'r', long = "retryMaxTimes", default_value_t = 16)]
        retry_max_times: i32,
        #[arg(short = 'i', long = "brokerId", default_value_t = 0)]
        broker_id: i64,
        #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly", default_value_t = 1)]
        which_broker_when_consume_slowly: i64,
        #[arg(short = 'a', long = "notifyConsumerIdsChanged", default_value_t = true, action = clap::ArgAction::Set)]
        notify_consumer_ids_changed: bool,
    },
    /// Set how a group consumes a topic, PULL or POP (SET_MESSAGE_REQUEST_MODE), on one broker
    /// (`-b`) or on every master of a cluster (`-c`), as mqadmin's command of the same name.
    ///
    /// Example: rocketry admin setConsumeMode -n 127.0.0.1:9876 -c DefaultCluster -t orders -g billing -m POP -q 4
    #[command(name = "setConsumeMode")]
    SetConsumeMode {
        #[command(flatten)]
        target: Target,
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
    #[command(flatten)]
    Users(users::UserCommand),
    #[command(flatten)]
    Inspect(inspect::InspectCommand),
    #[command(flatten)]
    Manage(manage::ManageCommand),
    #[command(flatten)]
    Messages(messages::MessageCommand),
    #[command(flatten)]
    Controller(controller::ControllerCommand),
    /// A message's life from the trace topic: its send, each consumption (group, client, time,
    /// cost, result, retries), transaction ends and recalls.
    ///
    /// Example: rocketry admin queryMsgTraceById -n 127.0.0.1:9876 -i 7F000001A1B218B4AAC27E0C7B6C0000
    #[command(name = "queryMsgTraceById")]
    QueryMsgTraceById(trace::TraceArgs),
    /// A consumer group's clients as they see themselves (GET_CONSUMER_RUNNING_INFO): queues held,
    /// cached messages, consume rates, and warnings (split subscriptions, a queue held twice, a
    /// blocked queue); `-i` shows one client in full.
    ///
    /// Example: rocketry admin consumerStatus -n 127.0.0.1:9876 -g orders-consumers
    #[command(name = "consumerStatus")]
    ConsumerStatus(status::StatusArgs),
}

pub async fn run(args: AdminArgs) -> Result<(), crate::Error> {
    let out = &Output { json: args.json };
    match args.command {
        AdminCommand::UpdateTopic { target, topic, read_queue_nums, write_queue_nums, perm, order, attributes } => {
            protocol::names::validate_topic(&topic)?;
            let config = TopicConfig { topic_name: topic.clone(), read_queue_nums, write_queue_nums, perm, order, ..TopicConfig::default() };
            on_each(&target, "create topic", Client::update_topic_request(&config, attributes.as_deref()), *out).await?;
            if !out.json {
                println!("{}", serde_json::to_string(&config).unwrap_or_default());
            }
            Ok(())
        }
        AdminCommand::UpdateSubGroup {
            target,
            group,
            consume_enable,
            consume_from_min_enable,
            consume_broadcast_enable,
            consume_message_orderly,
            retry_queue_nums,
            retry_max_times,
            broker_id,
            which_broker_when_consume_slowly,
            notify_consumer_ids_changed,
        } => {
            protocol::names::validate_group(&group)?;
            let config = SubscriptionGroupConfig {
                group_name: group,
                consume_enable,
                consume_from_min_enable,
                consume_broadcast_enable,
                consume_message_orderly,
                retry_queue_nums,
                retry_max_times,
                broker_id,
                which_broker_when_consume_slowly,
                notify_consumer_ids_changed_enable: notify_consumer_ids_changed,
                ..SubscriptionGroupConfig::default()
            };
            let cmd = RemotingCommand::request(rq::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).with_body(protocol::body::encode(&config));
            on_each(&target, "create subscription group", cmd, *out).await?;
            if !out.json {
                println!("{}", serde_json::to_string(&config).unwrap_or_default());
            }
            Ok(())
        }
        AdminCommand::SetConsumeMode { target, topic, group, mode, pop_share_queue_num } => {
            let body = SetMessageRequestModeRequestBody { topic: topic.clone(), consumer_group: group.clone(), mode: mode.clone(), pop_share_queue_num };
            let cmd = RemotingCommand::request(rq::SET_MESSAGE_REQUEST_MODE).with_body(protocol::body::encode(&body));
            on_each(&target, "set consume mode", cmd, *out).await?;
            if !out.json {
                println!("topic[{topic}] group[{group}] consume mode[{mode}] popShareQueueNum[{pop_share_queue_num}]");
            }
            Ok(())
        }
        AdminCommand::Users(cmd) => users::run(cmd, out).await,
        AdminCommand::Inspect(cmd) => inspect::run(cmd, out).await,
        AdminCommand::Manage(cmd) => manage::run(cmd, out).await,
        AdminCommand::Messages(cmd) => messages::run(cmd, out).await,
        AdminCommand::Controller(cmd) => controller::run(cmd, out).await,
        AdminCommand::QueryMsgTraceById(args) => trace::run(args, out).await,
        AdminCommand::ConsumerStatus(args) => status::run(args, out).await,
    }
}

/// Sends `cmd` to the target's brokers, saying for each whether it worked, as mqadmin does.
async fn on_each(target: &Target, what: &str, cmd: RemotingCommand, out: Output) -> Result<(), crate::Error> {
    let client = target.security.client(&target.namesrv);
    let addrs = addrs_of(target, &client).await?;
    let sent = each(&client, "brokers", &addrs, &cmd, what, out, |addr, answer| match answer.body.is_empty() {
        true => format!("{what} to {addr} success."),
        // A read's answer (JSON) follows.
        false => format!("{what} to {addr} success.\n{}", String::from_utf8_lossy(&answer.body)),
    })
    .await;
    client.close();
    sent
}

/// Sends `cmd` to each of `addrs` (servers of a `kind`), printing what `done` says of each
/// answer, or why `what` failed there; an error when any refused. With `--json`, a JSON object
/// per server instead: `action`, `addr`, `ok`, and `message` and the answer's `body` (JSON when
/// it is) or `error`.
async fn each(
    client: &Client,
    kind: &str,
    addrs: &[String],
    cmd: &RemotingCommand,
    what: &str,
    out: Output,
    done: impl Fn(&str, &RemotingCommand) -> String,
) -> Result<(), crate::Error> {
    let mut failed = 0;
    for addr in addrs {
        let answer = client.invoke_ok(addr, cmd.clone()).await;
        if answer.is_err() {
            failed += 1;
        }
        match (answer, out.json) {
            (Ok(answer), false) => inspect::emit(&done(addr, &answer)),
            (Err(e), false) => eprintln!("{what} to {addr} failed: {e}"),
            (Ok(answer), true) => {
                let body = match answer.body.is_empty() {
                    true => serde_json::Value::Null,
                    false => protocol::body::fastjson_value(&answer.body)
                        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&answer.body).into_owned())),
                };
                let line = serde_json::json!({"action": what, "addr": addr, "ok": true, "message": done(addr, &answer), "body": body});
                inspect::emit(&line.to_string());
            }
            (Err(e), true) => inspect::emit(&serde_json::json!({"action": what, "addr": addr, "ok": false, "error": e.to_string()}).to_string()),
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} {kind} refused", addrs.len()).into());
    }
    Ok(())
}

/// The brokers a command goes to: `-b`, or every master of `-c`.
async fn addrs_of(target: &Target, client: &Client) -> Result<Vec<String>, crate::Error> {
    match (&target.broker, &target.cluster) {
        (Some(b), _) => Ok(vec![b.clone()]),
        (None, Some(c)) => masters_of(client, c).await,
        (None, None) => Err("give a broker (-b) or a cluster (-c)".into()),
    }
}

/// The master (broker id 0) of every broker of `cluster`.
async fn masters_of(client: &Client, cluster: &str) -> Result<Vec<String>, crate::Error> {
    let info = client.cluster_info().await?;
    let names = info.cluster_addr_table.get(cluster).ok_or_else(|| format!("no cluster named {cluster}"))?;
    let masters: Vec<String> = names.iter().filter_map(|n| info.broker_addr_table.get(n)?.broker_addrs.get(&0).cloned()).collect();
    if masters.is_empty() {
        return Err(format!("cluster {cluster} has no master now (its brokers are all replicas)").into());
    }
    Ok(masters)
}

/// A progress bar on stderr counting `unit`s, drawn only when `shown` and stderr is a terminal
/// (a pipe or a file gets none; the dashboard asks for none).
pub(crate) fn progress(total: u64, unit: &str, shown: bool) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{per_sec}} {{eta}}");
    bar.set_style(indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    bar
}
