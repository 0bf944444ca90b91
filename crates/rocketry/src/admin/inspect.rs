//! Reading commands with mqadmin's names and flags: topicList, topicRoute, topicStatus,
//! clusterList, brokerStatus, getBrokerConfig, consumerConnection, producerConnection,
//! consumerProgress. Each prints an aligned table,
//! or with `--json` one JSON document for scripts.

use std::collections::BTreeMap;

use clap::Subcommand;
use client::Client;
use protocol::body::{self, KvTable, TopicList, TopicRouteData};
use protocol::codes::request as rq;
use protocol::codes::version;
use protocol::RemotingCommand;
use serde_json::{json, Value};

use super::Target;

/// How a command prints: tables and lines, or with `rocketry admin --json` one JSON document
/// (a JSON object per line for the streaming commands).
#[derive(Clone, Copy)]
pub struct Output {
    pub json: bool,
}

/// A NameServer to ask, for commands that need no broker.
#[derive(clap::Args, Clone)]
pub struct Namesrv {
    #[arg(short = 'n', long = "namesrvAddr", default_value = "127.0.0.1:9876")]
    pub namesrv: String,
    #[command(flatten)]
    pub security: crate::security::Security,
}

impl Namesrv {
    pub fn client(&self) -> Client {
        self.security.client(&self.namesrv)
    }
}

#[derive(Subcommand)]
pub enum InspectCommand {
    /// Every topic the NameServers know (GET_ALL_TOPIC_LIST_FROM_NAMESERVER); with `-c`, each
    /// topic's cluster and the groups that consume it (QUERY_TOPIC_CONSUME_BY_WHO), retry and
    /// DLQ topics left out.
    ///
    /// Example: rocketry admin topicList -n 127.0.0.1:9876 -c
    #[command(name = "topicList")]
    TopicList {
        #[command(flatten)]
        ns: Namesrv,
        /// With each topic's cluster and consumer groups.
        #[arg(short = 'c', long = "clusterModel")]
        cluster_model: bool,
    },
    /// A topic's route: its brokers and queues (GET_ROUTEINFO_BY_TOPIC).
    ///
    /// Example: rocketry admin topicRoute -n 127.0.0.1:9876 -t orders
    #[command(name = "topicRoute")]
    TopicRoute {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// A topic's queues on every broker: min and max offsets, last store time (GET_TOPIC_STATS_INFO).
    ///
    /// Example: rocketry admin topicStatus -n 127.0.0.1:9876 -t orders
    #[command(name = "topicStatus")]
    TopicStatus {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Clusters, their brokers and each broker's rates (GET_BROKER_CLUSTER_INFO, GET_BROKER_RUNTIME_INFO).
    ///
    /// Example: rocketry admin clusterList -n 127.0.0.1:9876
    #[command(name = "clusterList")]
    ClusterList {
        #[command(flatten)]
        ns: Namesrv,
    },
    /// A broker's runtime figures (GET_BROKER_RUNTIME_INFO), on `-b` or every master of `-c`.
    ///
    /// Example: rocketry admin brokerStatus -n 127.0.0.1:9876 -b 127.0.0.1:10911
    #[command(name = "brokerStatus")]
    BrokerStatus {
        #[command(flatten)]
        target: Target,
    },
    /// Replication (GET_BROKER_HA_STATUS): a master's replicas (acknowledged offset, lag, in
    /// sync or falling behind), or a replica's view of its master; on `-b` or every master of `-c`.
    ///
    /// Example: rocketry admin haStatus -n 127.0.0.1:9876 -c DefaultCluster
    #[command(name = "haStatus")]
    HaStatus {
        #[command(flatten)]
        target: Target,
    },
    /// A broker's configuration (GET_BROKER_CONFIG), on `-b` or every master of `-c`.
    ///
    /// Example: rocketry admin getBrokerConfig -n 127.0.0.1:9876 -c DefaultCluster
    #[command(name = "getBrokerConfig")]
    GetBrokerConfig {
        #[command(flatten)]
        target: Target,
    },
    /// A consumer group's online clients and subscriptions (GET_CONSUMER_CONNECTION_LIST).
    ///
    /// Example: rocketry admin consumerConnection -n 127.0.0.1:9876 -g orders-consumers
    #[command(name = "consumerConnection")]
    ConsumerConnection {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
    },
    /// A producer group's connected clients on the brokers of a topic (GET_PRODUCER_CONNECTION_LIST).
    ///
    /// Example: rocketry admin producerConnection -n 127.0.0.1:9876 -g orders-producers -t orders
    #[command(name = "producerConnection")]
    ProducerConnection {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 'g', long = "producerGroup")]
        group: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// A consumer group's progress per queue: broker offset, its offset, the difference
    /// (GET_CONSUME_STATS on every broker of the group's topics). Without `-g`, every group
    /// that has a retry topic: its clients, type, model, consume TPS and total difference.
    ///
    /// Example: rocketry admin consumerProgress -n 127.0.0.1:9876 -g orders-consumers -s true
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 'g', long = "groupName")]
        group: Option<String>,
        /// Only this topic.
        #[arg(short = 't', long = "topicName")]
        topic: Option<String>,
        /// Show which client holds each queue (asks each client for its running info).
        #[arg(short = 's', long = "showClientIP", num_args = 0..=1, default_missing_value = "true")]
        show_client_ip: Option<bool>,
    },
}

/// Prints rows under headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells.zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        emit(text.join("  ").trim_end());
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

/// Writes a line to stdout; a reader that went away (`| head`) ends the command quietly.
pub fn emit(line: &str) {
    use std::io::Write;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// A JSON value as a table cell: strings unquoted, null as `-`, anything else as JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn print_json(v: &Value) {
    emit(&serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Each server's key/value answer to `code`, as `parse` reads its body: under `title`, a
/// two-column table per server, or with `--json` one object keyed by address.
pub async fn listings(
    client: &Client,
    addrs: &[String],
    code: i32,
    out: &Output,
    title: impl Fn(&str) -> String,
    parse: impl Fn(&[u8]) -> Result<BTreeMap<String, String>, crate::Error>,
) -> Result<(), crate::Error> {
    let mut all = serde_json::Map::new();
    for addr in addrs {
        let pairs = parse(&ok_body(client, addr, RemotingCommand::request(code)).await?)?;
        if !out.json {
            emit(&title(addr));
            let rows: Vec<Vec<String>> = pairs.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect();
            table(&["#Key", "#Value"], &rows);
        }
        all.insert(addr.clone(), json!(pairs));
    }
    if out.json {
        print_json(&Value::Object(all));
    }
    Ok(())
}

/// mqadmin haStatus's layout: a master and a row per replica, or a replica's view.
fn print_ha_status(addr: &str, info: &body::HaRuntimeInfo) {
    emit("");
    if info.master {
        emit(&format!("#MasterAddr\t{addr}"));
        emit(&format!("#MasterCommitLogMaxOffset\t{}", info.master_commit_log_max_offset));
        emit(&format!("#SlaveNum\t{}", info.ha_connection_info.len()));
        emit(&format!("#InSyncSlaveNum\t{}", info.in_sync_slave_nums));
        let rows: Vec<Vec<String>> = info
            .ha_connection_info
            .iter()
            .map(|c| {
                vec![
                    c.addr.clone(),
                    c.slave_ack_offset.to_string(),
                    c.diff.to_string(),
                    format!("{:.2}", c.transferred_byte_in_second as f64 / 1024.0),
                    if c.in_sync { "OK" } else { "Fall Behind" }.to_string(),
                    c.transfer_from_where.to_string(),
                ]
            })
            .collect();
        table(&["#SlaveAddr", "#SlaveAckOffset", "#Diff", "#TransferSpeed(KB/s)", "#Status", "#TransferFromWhere"], &rows);
    } else {
        let c = &info.ha_client_runtime_info;
        emit(&format!("#MasterAddr\t{}", c.master_addr));
        emit(&format!("#CommitLogMaxOffset\t{}", c.max_offset));
        emit(&format!("#TransferSpeed(KB/s)\t{:.2}", c.transferred_byte_in_second as f64 / 1024.0));
        emit(&format!("#LastReadTime\t{}", ms_to_text(c.last_read_timestamp)));
        emit(&format!("#LastWriteTime\t{}", ms_to_text(c.last_write_timestamp)));
        emit(&format!("#MasterFlushOffset\t{}", c.master_flush_offset));
    }
}

/// A body of `key=value` lines (a broker's or NameServer's config).
pub fn properties(body: &[u8]) -> Result<BTreeMap<String, String>, crate::Error> {
    Ok(remoting::properties::parse(&String::from_utf8_lossy(body)))
}

async fn ok_body(client: &Client, addr: &str, cmd: RemotingCommand) -> Result<bytes::Bytes, crate::Error> {
    Ok(client.invoke_ok(addr, cmd).await.map_err(|e| format!("{addr}: {e}"))?.body)
}

/// The master of each broker of a route.
pub fn masters(route: &TopicRouteData) -> Vec<(String, String)> {
    route.broker_datas.iter().filter_map(|b| Some((b.broker_name.clone(), b.broker_addrs.get(&0)?.clone()))).collect()
}

pub fn ms_to_text(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let secs = ms / 1000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (UTC), Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A group's brokers: those of its retry topic's route, as mqadmin asks; a group that never had
/// a retry topic (pull consumers): the topic's, or every master.
async fn group_brokers(client: &Client, group: &str, topic: Option<&str>) -> Result<Vec<String>, crate::Error> {
    if let Ok(route) = client.route(&format!("%RETRY%{group}")).await {
        return Ok(masters(&route).into_iter().map(|(_, a)| a).collect());
    }
    Ok(match topic {
        Some(t) => masters(&client.route(t).await?).into_iter().map(|(_, a)| a).collect(),
        None => client.cluster_info().await?.broker_addr_table.values().filter_map(|b| b.broker_addrs.get(&0).cloned()).collect(),
    })
}

/// A consumer group's connections, from `broker` or the first of the group's brokers that
/// knows its clients, and the address that answered. A refusal other than "not online" (ACL,
/// TLS) is what is reported.
pub async fn connection(client: &Client, group: &str, broker: Option<&str>) -> Result<(body::ConsumerConnection, String), crate::Error> {
    let addrs = match broker {
        Some(b) => vec![b.to_string()],
        None => group_brokers(client, group, None).await?,
    };
    let mut refused = None;
    for addr in addrs {
        let cmd = RemotingCommand::request(rq::GET_CONSUMER_CONNECTION_LIST).with_ext("consumerGroup", group);
        match client.invoke_ok(&addr, cmd).await {
            Ok(answer) => return Ok((body::decode::<body::ConsumerConnection>(&answer.body)?, addr)),
            Err(client::ClientError::Server { code, .. }) if code == protocol::codes::response::CONSUMER_NOT_ONLINE => {}
            Err(e) => refused = Some(format!("{addr}: {e}")),
        }
    }
    Err(refused.unwrap_or_else(|| format!("the consumer group {group} is not online")).into())
}

/// Each broker of each cluster with its figures (GET_BROKER_RUNTIME_INFO), as clusterList shows.
pub(crate) async fn cluster_rows(client: &Client) -> Result<Vec<Value>, crate::Error> {
    let info = client.cluster_info().await?;
    let mut rows = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        for name in names {
            let Some(data) = info.broker_addr_table.get(name) else { continue };
            for (id, addr) in &data.broker_addrs {
                let runtime = match ok_body(client, addr, RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO)).await {
                    Ok(b) => body::decode::<KvTable>(&b).map(|t| t.table).unwrap_or_default(),
                    Err(e) => BTreeMap::from([("error".to_string(), e.to_string())]),
                };
                let first = |k: &str| runtime.get(k).and_then(|v| v.split_whitespace().next()).unwrap_or("").to_string();
                rows.push(json!({
                    "cluster": cluster, "brokerName": name, "brokerId": id, "addr": addr,
                    "version": runtime.get("brokerVersionDesc"), "inTps": first("putTps"), "outTps": first("getTransferredTps"),
                    "putToday": runtime.get("msgPutTotalTodayNow"), "getToday": runtime.get("msgGetTotalTodayNow"),
                    "diskRatio": runtime.get("commitLogDiskRatio").and_then(|r| r.parse::<f64>().ok()).map(|r| format!("{:.2}%", r * 100.0)),
                    "error": runtime.get("error"),
                }));
            }
        }
    }
    Ok(rows)
}

/// Every topic the NameServers know.
pub(crate) async fn all_topics(client: &Client) -> Result<Vec<String>, crate::Error> {
    let resp = client.invoke_namesrv(RemotingCommand::request(rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER)).await?;
    if resp.code != protocol::codes::response::SUCCESS {
        return Err(format!("the NameServer refused: {}", resp.remark.unwrap_or_default()).into());
    }
    Ok(body::decode::<TopicList>(&resp.body)?.topic_list.into_iter().collect())
}

/// Each topic (retry and DLQ topics left out) with its clusters and the groups its brokers
/// say consume it; with `bar`, a progress bar on a terminal.
pub(crate) async fn topic_rows(client: &Client, bar: bool) -> Result<Vec<Value>, crate::Error> {
    let info = client.cluster_info().await?;
    let topics: Vec<String> = all_topics(client).await?.into_iter().filter(|t| !protocol::names::is_group_topic(t)).collect();
    let bar = super::progress(topics.len() as u64, "topics", bar);
    let mut rows = Vec::new();
    for topic in topics {
        bar.inc(1);
        // A topic without a route (deleted meanwhile) is listed with neither.
        let route = client.route(&topic).await.ok();
        let brokers = route.as_ref().map(masters).unwrap_or_default();
        let clusters: std::collections::BTreeSet<&String> =
            info.cluster_addr_table.iter().filter(|(_, names)| brokers.iter().any(|(n, _)| names.contains(n))).map(|(c, _)| c).collect();
        let mut groups = std::collections::BTreeSet::new();
        let mut error = None;
        for (_, addr) in &brokers {
            let cmd = RemotingCommand::request(rq::QUERY_TOPIC_CONSUME_BY_WHO).with_ext("topic", &topic);
            // A broker that is down or refuses is said on the row; the listing goes on.
            match ok_body(client, addr, cmd).await.and_then(|b| Ok(body::decode::<body::GroupList>(&b)?)) {
                Ok(list) => groups.extend(list.group_list),
                Err(e) => error = Some(e.to_string()),
            }
        }
        rows.push(json!({"topic": topic, "clusters": clusters, "groups": groups, "error": error}));
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// `topicList -c`: each topic's clusters and the groups its brokers say consume it.
async fn topics_with_clusters(client: &Client, out: &Output) -> Result<(), crate::Error> {
    let rows = topic_rows(client, true).await?;
    if out.json {
        print_json(&Value::Array(rows));
        return Ok(());
    }
    let join = |v: &Value| v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")).unwrap_or_default();
    let cells: Vec<Vec<String>> = rows.iter().map(|r| vec![join(&r["clusters"]), r["topic"].as_str().unwrap_or("").to_string(), join(&r["groups"])]).collect();
    table(&["#Cluster Name", "#Topic", "#Consumer Groups"], &cells);
    Ok(())
}

/// A group's consume stats on its brokers: a row per queue (sorted) and the summed consume TPS.
pub(crate) async fn consume_stats(client: &Client, group: &str, topic: Option<&str>) -> Result<(Vec<Value>, f64), crate::Error> {
    let mut rows = Vec::new();
    let mut tps = 0.0;
    for addr in group_brokers(client, group, topic).await? {
        let mut cmd = RemotingCommand::request(rq::GET_CONSUME_STATS).with_ext("consumerGroup", group);
        if let Some(t) = topic {
            cmd = cmd.with_ext("topic", t);
        }
        let answer = ok_body(client, &addr, cmd).await?;
        tps += body::fastjson_value(&answer)?["consumeTps"].as_f64().unwrap_or(0.0);
        for (mq, o) in body::object_keyed_entries(&answer, "offsetTable")? {
            let (broker, consumer) = (o["brokerOffset"].as_i64().unwrap_or(0), o["consumerOffset"].as_i64().unwrap_or(0));
            rows.push(json!({
                "topic": mq["topic"], "brokerName": mq["brokerName"], "queueId": mq["queueId"],
                "brokerOffset": broker, "consumerOffset": consumer, "diff": (broker - consumer.max(0)).max(0),
                "lastTimestamp": o["lastTimestamp"],
            }));
        }
    }
    rows.sort_by_key(super::status::queue_key);
    Ok((rows, tps))
}

pub(crate) fn diff_total(rows: &[Value]) -> i64 {
    rows.iter().map(|r| r["diff"].as_i64().unwrap_or(0)).sum()
}

/// `consumerProgress -g`: the group's queues; with `show_client`, the client holding each.
async fn group_progress(client: &Client, group: &str, topic: Option<&str>, show_client: bool, out: &Output) -> Result<(), crate::Error> {
    let (mut rows, tps) = consume_stats(client, group, topic).await?;
    if rows.is_empty() {
        // The Java admin's words for a group with no offsets on any broker.
        return Err(format!(
            "Not found the consumer group {group} consume stats, because return offset table is empty, maybe the consumer not consume any message (or it consumes in broadcast mode)"
        )
        .into());
    }
    if show_client {
        // Queue → the address of the client whose running info lists it.
        let mut holders = BTreeMap::new();
        if let Ok(infos) = super::status::group_running_infos(client, group, None, false).await {
            for (c, info) in infos {
                for q in info.iter().flat_map(|i| i["mqTable"].as_array().cloned().unwrap_or_default()) {
                    holders.insert(super::status::queue_key(&q), c.client_addr.clone());
                }
            }
        }
        for r in &mut rows {
            let holder = holders.get(&super::status::queue_key(r)).cloned();
            r["clientIp"] = json!(holder);
        }
    }
    let total = diff_total(&rows);
    if out.json {
        print_json(&json!({"group": group, "consumeTps": tps, "diffTotal": total, "queues": rows}));
        return Ok(());
    }
    let mut headers = vec!["#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime"];
    if show_client {
        headers.push("#Client IP");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut c: Vec<String> = ["topic", "brokerName", "queueId", "brokerOffset", "consumerOffset", "diff"].iter().map(|k| cell(&r[*k])).collect();
            c.push(ms_to_text(r["lastTimestamp"].as_i64().unwrap_or(0)));
            if show_client {
                c.push(cell(&r["clientIp"]));
            }
            c
        })
        .collect();
    table(&headers, &cells);
    emit(&format!("\nConsume TPS: {tps:.2}"));
    emit(&format!("Diff Total: {total}"));
    Ok(())
}

/// Every group that has a retry topic, as mqadmin finds them: its clients, type, model,
/// consume TPS and total difference; with `bar`, a progress bar on a terminal.
pub(crate) async fn group_rows(client: &Client, bar: bool) -> Result<Vec<Value>, crate::Error> {
    let groups: Vec<String> =
        all_topics(client).await?.into_iter().filter_map(|t| t.strip_prefix(protocol::names::RETRY_GROUP_TOPIC_PREFIX).map(str::to_string)).collect();
    let bar = super::progress(groups.len() as u64, "groups", bar);
    let mut rows = Vec::new();
    for group in groups {
        bar.inc(1);
        let stats = consume_stats(client, &group, None).await;
        let conn = connection(client, &group, None).await.ok().map(|(c, _)| c);
        let count = conn.as_ref().map_or(0, |c| c.connection_set.len());
        let version = conn.as_ref().and_then(|c| c.connection_set.iter().map(|x| x.version).min()).map(version::desc);
        let kind = conn.as_ref().and_then(|c| c.consume_type.as_deref()).map(|t| if t == "CONSUME_ACTIVELY" { "PULL" } else { "PUSH" });
        rows.push(json!({
            "group": group, "count": count, "version": version.unwrap_or_else(|| "OFFLINE".into()),
            "type": kind, "model": conn.as_ref().and_then(|c| c.message_model.clone()),
            "consumeTps": stats.as_ref().map(|(_, tps)| *tps).ok(), "diffTotal": stats.as_ref().map(|(rows, _)| diff_total(rows)).ok(),
            "error": stats.err().map(|e| e.to_string()),
        }));
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// `consumerProgress` without `-g`.
async fn every_group_progress(client: &Client, out: &Output) -> Result<(), crate::Error> {
    let rows = group_rows(client, true).await?;
    if out.json {
        print_json(&Value::Array(rows));
        return Ok(());
    }
    let s = |v: &Value| match v {
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or(0.0)),
        other => cell(other),
    };
    let cells: Vec<Vec<String>> =
        rows.iter().map(|r| ["group", "count", "version", "type", "model", "consumeTps", "diffTotal"].iter().map(|k| s(&r[*k])).collect()).collect();
    table(&["#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"], &cells);
    Ok(())
}

pub async fn run(cmd: InspectCommand, out: &Output) -> Result<(), crate::Error> {
    let out = *out;
    match cmd {
        InspectCommand::TopicList { ns, cluster_model } => {
            let client = ns.client();
            let listed = match cluster_model {
                false => all_topics(&client).await.map(|topics| match out.json {
                    true => print_json(&json!(topics)),
                    false => topics.iter().for_each(|t| emit(t)),
                }),
                true => topics_with_clusters(&client, &out).await,
            };
            client.close();
            listed?;
        }
        InspectCommand::TopicRoute { ns, topic } => {
            let client = ns.client();
            let route = client.route(&topic).await?;
            if out.json {
                print_json(&serde_json::to_value(&route)?);
            } else {
                let addrs: BTreeMap<&str, String> = route
                    .broker_datas
                    .iter()
                    .map(|b| (b.broker_name.as_str(), b.broker_addrs.iter().map(|(id, a)| format!("{id}:{a}")).collect::<Vec<_>>().join(",")))
                    .collect();
                let rows: Vec<Vec<String>> = route
                    .queue_datas
                    .iter()
                    .map(|q| {
                        let a = addrs.get(q.broker_name.as_str()).cloned().unwrap_or_default();
                        vec![q.broker_name.clone(), a, q.read_queue_nums.to_string(), q.write_queue_nums.to_string(), q.perm.to_string()]
                    })
                    .collect();
                table(&["#Broker Name", "#Addresses (id:addr)", "#Read Queues", "#Write Queues", "#Perm"], &rows);
            }
            client.close();
        }
        InspectCommand::TopicStatus { ns, topic } => {
            let client = ns.client();
            let route = client.route(&topic).await?;
            let mut rows = Vec::new();
            for (_, addr) in masters(&route) {
                let body = ok_body(&client, &addr, RemotingCommand::request(rq::GET_TOPIC_STATS_INFO).with_ext("topic", &topic)).await?;
                for (mq, o) in body::object_keyed_entries(&body, "offsetTable")? {
                    rows.push(json!({
                        "brokerName": mq["brokerName"], "queueId": mq["queueId"],
                        "minOffset": o["minOffset"], "maxOffset": o["maxOffset"], "lastUpdateTimestamp": o["lastUpdateTimestamp"],
                    }));
                }
            }
            rows.sort_by_key(|r| (r["brokerName"].as_str().unwrap_or("").to_string(), r["queueId"].as_i64().unwrap_or(0)));
            if out.json {
                print_json(&Value::Array(rows));
            } else {
                let cells: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        let s = |k: &str| r[k].as_str().map(str::to_string).unwrap_or_else(|| r[k].to_string());
                        vec![s("brokerName"), s("queueId"), s("minOffset"), s("maxOffset"), ms_to_text(r["lastUpdateTimestamp"].as_i64().unwrap_or(0))]
                    })
                    .collect();
                table(&["#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"], &cells);
            }
            client.close();
        }
        InspectCommand::ClusterList { ns } => {
            let client = ns.client();
            let rows = cluster_rows(&client).await;
            client.close();
            let rows = rows?;
            if out.json {
                print_json(&Value::Array(rows));
            } else {
                let cells: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        ["cluster", "brokerName", "brokerId", "addr", "version", "inTps", "outTps", "putToday", "getToday", "diskRatio"]
                            .iter()
                            .map(|k| cell(&r[*k]))
                            .collect()
                    })
                    .collect();
                table(
                    &["#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version", "#InTPS", "#OutTPS", "#InTotalToday", "#OutTotalToday", "#Disk Used"],
                    &cells,
                );
            }
            client.close();
        }
        InspectCommand::BrokerStatus { target } => {
            let client = target.security.client(&target.namesrv);
            let addrs = super::addrs_of(&target, &client).await?;
            let listed =
                listings(&client, &addrs, rq::GET_BROKER_RUNTIME_INFO, &out, |addr| format!("broker {addr}:"), |b| Ok(body::decode::<KvTable>(b)?.table));
            listed.await?;
            client.close();
        }
        InspectCommand::HaStatus { target } => {
            let client = target.security.client(&target.namesrv);
            let addrs = super::addrs_of(&target, &client).await?;
            let mut all = serde_json::Map::new();
            for addr in &addrs {
                let info: body::HaRuntimeInfo = body::decode(&ok_body(&client, addr, RemotingCommand::request(rq::GET_BROKER_HA_STATUS)).await?)?;
                if !out.json {
                    print_ha_status(addr, &info);
                }
                all.insert(addr.clone(), serde_json::to_value(&info)?);
            }
            if out.json {
                print_json(&Value::Object(all));
            }
            client.close();
        }
        InspectCommand::GetBrokerConfig { target } => {
            let client = target.security.client(&target.namesrv);
            let addrs = super::addrs_of(&target, &client).await?;
            listings(&client, &addrs, rq::GET_BROKER_CONFIG, &out, |addr| format!("============{addr}============"), properties).await?;
            client.close();
        }
        InspectCommand::ConsumerConnection { ns, group } => {
            let client = ns.client();
            let found = connection(&client, &group, None).await;
            client.close();
            let (c, _) = found?;
            if out.json {
                print_json(&serde_json::to_value(&c)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> =
                c.connection_set.iter().map(|x| vec![x.client_id.clone(), x.client_addr.clone(), x.language.clone(), version::desc(x.version)]).collect();
            table(&["#ClientId", "#ClientAddr", "#Language", "#Version"], &rows);
            emit("");
            let subs: Vec<Vec<String>> = c.subscription_table.iter().map(|(t, s)| vec![t.clone(), s.sub_string.clone()]).collect();
            table(&["#Topic", "#SubExpression"], &subs);
            emit("");
            let none = String::from("-");
            emit(&format!("ConsumeType: {}", c.consume_type.as_ref().unwrap_or(&none)));
            emit(&format!("MessageModel: {}", c.message_model.as_ref().unwrap_or(&none)));
            emit(&format!("ConsumeFromWhere: {}", c.consume_from_where.as_ref().unwrap_or(&none)));
        }
        InspectCommand::ProducerConnection { ns, group, topic } => {
            let client = ns.client();
            let route = client.route(&topic).await?;
            let mut connections = Vec::new();
            let mut refused = None;
            for (_, addr) in masters(&route) {
                let cmd = RemotingCommand::request(rq::GET_PRODUCER_CONNECTION_LIST).with_ext("producerGroup", &group);
                match client.invoke_ok(&addr, cmd).await {
                    Ok(answer) => connections.extend(body::decode::<body::ProducerConnection>(&answer.body)?.connection_set),
                    Err(e) => refused = Some(format!("{addr}: {e}")),
                }
            }
            client.close();
            if connections.is_empty() {
                return Err(refused.unwrap_or_else(|| format!("the producer group {group} has no client")).into());
            }
            if out.json {
                print_json(&serde_json::to_value(&connections)?);
            } else {
                let rows: Vec<Vec<String>> =
                    connections.iter().map(|x| vec![x.client_id.clone(), x.client_addr.clone(), x.language.clone(), version::desc(x.version)]).collect();
                table(&["#ClientId", "#ClientAddr", "#Language", "#Version"], &rows);
            }
        }
        InspectCommand::ConsumerProgress { ns, group, topic, show_client_ip } => {
            let client = ns.client();
            let done = match group {
                Some(group) => group_progress(&client, &group, topic.as_deref(), show_client_ip.unwrap_or(false), &out).await,
                None => every_group_progress(&client, &out).await,
            };
            client.close();
            done?;
        }
    }
    Ok(())
}
