//! Message commands with mqadmin's names and flags: queryMsgById, queryMsgByKey,
//! queryMsgByUniqueKey, sendMessage, resetOffsetByTime.

use bytes::Bytes;
use clap::Subcommand;
use client::Client;
use protocol::body;
use protocol::codes::{request as rq, response as rs};
use protocol::message::{decode_offset_msg_id, decode_records, prop, MessageRecord, Properties};
use protocol::RemotingCommand;
use serde_json::{json, Value};

use super::inspect::{emit, ms_to_text, print_json, table, Namesrv, Output};

#[derive(Subcommand)]
pub enum MessageCommand {
    /// A message by id: the offset id a send returns (`offsetMsgId`), or the client's id (its
    /// unique key, looked up in `-t`'s brokers).
    ///
    /// Example: rocketry admin queryMsgById -n 127.0.0.1:9876 -i 7F00000100002A9F0000000000000000
    #[command(name = "queryMsgById")]
    QueryMsgById {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        /// The topic, to look a client id up.
        #[arg(short = 't', long = "topic")]
        topic: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Messages of a topic carrying a key (QUERY_MESSAGE on every broker of the topic).
    ///
    /// Example: rocketry admin queryMsgByKey -n 127.0.0.1:9876 -t orders -k order-42
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'k', long = "msgKey")]
        key: String,
        /// At most this many per broker.
        #[arg(short = 'c', long = "maxNum", default_value_t = 64)]
        max: i32,
        #[command(flatten)]
        out: Output,
    },
    /// A message by the client's id (its unique key) in a topic.
    ///
    /// Example: rocketry admin queryMsgByUniqueKey -n 127.0.0.1:9876 -t orders -i 7F000001A1B218B4AAC27E0C7B6C0000
    #[command(name = "queryMsgByUniqueKey")]
    QueryMsgByUniqueKey {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        #[command(flatten)]
        out: Output,
    },
    /// Send one message (to the topic's first writable broker queue the route names, or `-i`).
    ///
    /// Example: rocketry admin sendMessage -n 127.0.0.1:9876 -t orders -p 'hello' -k order-42 -c TagA
    #[command(name = "sendMessage")]
    SendMessage {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'p', long = "body")]
        body: String,
        #[arg(short = 'k', long = "key")]
        key: Option<String>,
        #[arg(short = 'c', long = "tags")]
        tags: Option<String>,
        /// A broker name (with `-i`).
        #[arg(short = 'b', long = "broker")]
        broker: Option<String>,
        #[arg(short = 'i', long = "qid")]
        queue_id: Option<i32>,
        #[command(flatten)]
        out: Output,
    },
    /// Reset a group's offsets of a topic to a time on every broker (INVOKE_BROKER_TO_RESET_OFFSET);
    /// online Java consumers are told to reset too.
    ///
    /// Example: rocketry admin resetOffsetByTime -n 127.0.0.1:9876 -g orders-consumers -t orders -s now
    #[command(name = "resetOffsetByTime")]
    ResetOffsetByTime {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 'g', long = "group")]
        group: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Milliseconds since the epoch, or `now`.
        #[arg(short = 's', long = "timestamp")]
        timestamp: String,
        /// Also move offsets forward (false: only back).
        #[arg(short = 'f', long = "force", default_value_t = true, action = clap::ArgAction::Set)]
        force: bool,
        #[command(flatten)]
        out: Output,
    },
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What mqadmin shows of a message, as JSON.
fn describe(m: &MessageRecord) -> Value {
    let props = Properties::parse(&m.properties);
    let all: serde_json::Map<String, Value> = props.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    json!({
        "msgId": props.get(prop::UNIQ_KEY).map_or_else(|| m.msg_id(), str::to_string),
        "offsetMsgId": m.msg_id(),
        "topic": m.topic, "tags": props.get(prop::TAGS), "keys": props.get(prop::KEYS),
        "queueId": m.queue_id, "queueOffset": m.queue_offset, "commitLogOffset": m.physical_offset,
        "reconsumeTimes": m.reconsume_times, "bornTimestamp": m.born_timestamp, "storeTimestamp": m.store_timestamp,
        "bornHost": m.born_host.to_string(), "storeHost": m.store_host.to_string(), "sysFlag": m.sys_flag,
        "properties": all, "body": String::from_utf8_lossy(&m.body),
    })
}

fn print_messages(out: &Output, messages: &[MessageRecord]) {
    let described: Vec<Value> = messages.iter().map(describe).collect();
    if out.json {
        print_json(&Value::Array(described));
        return;
    }
    for (i, d) in described.iter().enumerate() {
        if i > 0 {
            emit("");
        }
        let s = |k: &str| match &d[k] {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            v => v.to_string(),
        };
        let rows = vec![
            vec!["Message ID".into(), s("msgId")],
            vec!["Offset ID".into(), s("offsetMsgId")],
            vec!["Topic".into(), s("topic")],
            vec!["Tags".into(), s("tags")],
            vec!["Keys".into(), s("keys")],
            vec!["Queue ID".into(), s("queueId")],
            vec!["Queue Offset".into(), s("queueOffset")],
            vec!["CommitLog Offset".into(), s("commitLogOffset")],
            vec!["Reconsume Times".into(), s("reconsumeTimes")],
            vec!["Born Timestamp".into(), ms_to_text(d["bornTimestamp"].as_i64().unwrap_or(0))],
            vec!["Store Timestamp".into(), ms_to_text(d["storeTimestamp"].as_i64().unwrap_or(0))],
            vec!["Born Host".into(), s("bornHost")],
            vec!["Store Host".into(), s("storeHost")],
            vec!["System Flag".into(), s("sysFlag")],
            vec!["Properties".into(), d["properties"].to_string()],
            vec!["Body".into(), s("body")],
        ];
        table(&["#Field", "#Value"], &rows);
    }
}

/// QUERY_MESSAGE (`unique`: by the client's id) on every master of `topic`.
async fn query(client: &Client, topic: &str, key: &str, max: i32, unique: bool) -> Result<Vec<MessageRecord>, crate::Error> {
    let route = client.route(topic).await?;
    let mut found = Vec::new();
    for b in &route.broker_datas {
        let Some(addr) = b.broker_addrs.get(&0) else { continue };
        let mut cmd = RemotingCommand::request(rq::QUERY_MESSAGE)
            .with_ext("topic", topic)
            .with_ext("key", key)
            .with_ext("maxNum", max)
            .with_ext("beginTimestamp", 0)
            .with_ext("endTimestamp", i64::MAX);
        if unique {
            cmd = cmd.with_ext("_UNIQUE_KEY_QUERY", "true");
        }
        let answer = client.invoke(addr, cmd).await.map_err(|e| format!("{addr}: {e}"))?;
        match answer.code {
            rs::SUCCESS => found.extend(decode_records(&answer.body)?),
            rs::QUERY_NOT_FOUND => {}
            code => return Err(format!("{addr} answered {code}: {}", answer.remark.unwrap_or_default()).into()),
        }
    }
    Ok(found)
}

pub async fn run(cmd: MessageCommand) -> Result<(), crate::Error> {
    match cmd {
        MessageCommand::QueryMsgById { ns, msg_id, topic, out } => {
            let client = ns.client();
            // An offset id names its broker and CommitLog offset; a client id is looked up in the
            // topic (also when an id that reads as an offset id finds nothing there).
            let by_offset = match decode_offset_msg_id(&msg_id) {
                Some((store, offset)) => {
                    let view = RemotingCommand::request(rq::VIEW_MESSAGE_BY_ID).with_ext("offset", offset);
                    match client.invoke_ok(&store.to_string(), view).await {
                        Ok(answer) => decode_records(&answer.body)?,
                        Err(e) if topic.is_none() => return Err(format!("{store}: {e}").into()),
                        Err(_) => Vec::new(),
                    }
                }
                None => Vec::new(),
            };
            let messages = match (by_offset.is_empty(), &topic) {
                (false, _) => by_offset,
                (true, Some(t)) => query(&client, t, &msg_id, 32, true).await?,
                (true, None) => return Err(format!("{msg_id} is not an offset id; give its topic (-t) to look it up as a client id").into()),
            };
            client.close();
            if messages.is_empty() {
                return Err(format!("no message {msg_id}").into());
            }
            print_messages(&out, &messages);
        }
        MessageCommand::QueryMsgByKey { ns, topic, key, max, out } => {
            let client = ns.client();
            let messages = query(&client, &topic, &key, max, false).await?;
            client.close();
            if out.json {
                print_json(&Value::Array(messages.iter().map(describe).collect()));
            } else {
                let rows: Vec<Vec<String>> = messages
                    .iter()
                    .map(|m| {
                        let d = describe(m);
                        vec![d["msgId"].as_str().unwrap_or("").to_string(), m.queue_id.to_string(), m.queue_offset.to_string(), ms_to_text(m.store_timestamp)]
                    })
                    .collect();
                table(&["#Message ID", "#QID", "#Offset", "#Stored"], &rows);
            }
        }
        MessageCommand::QueryMsgByUniqueKey { ns, topic, msg_id, out } => {
            let client = ns.client();
            let messages = query(&client, &topic, &msg_id, 32, true).await?;
            client.close();
            if messages.is_empty() {
                return Err(format!("no message {msg_id} in {topic}").into());
            }
            print_messages(&out, &messages);
        }
        MessageCommand::SendMessage { ns, topic, body: text, key, tags, broker, queue_id, out } => {
            let client = ns.client();
            let route = client.route(&topic).await?;
            let queue = route
                .queue_datas
                .iter()
                .filter(|q| q.perm & protocol::codes::perm::WRITE != 0 && q.write_queue_nums > 0)
                .find(|q| broker.as_ref().is_none_or(|b| &q.broker_name == b))
                .ok_or_else(|| format!("no writable queue of {topic}"))?;
            let addr = route
                .broker_datas
                .iter()
                .find(|b| b.broker_name == queue.broker_name)
                .and_then(|b| b.broker_addrs.get(&0))
                .ok_or_else(|| format!("no master for {}", queue.broker_name))?;
            let mut props = Properties::default();
            if let Some(k) = &key {
                props.set(prop::KEYS, k);
            }
            if let Some(t) = &tags {
                props.set(prop::TAGS, t);
            }
            let qid = queue_id.unwrap_or(0);
            if !(0..queue.write_queue_nums).contains(&qid) {
                return Err(format!("-i {qid}: {} has write queues 0-{} on {}", topic, queue.write_queue_nums - 1, queue.broker_name).into());
            }
            let r = client.send(addr, &topic, qid, Bytes::from(text.into_bytes()), props).await?;
            client.close();
            let v = json!({"brokerName": queue.broker_name, "queueId": r.queue_id, "queueOffset": r.queue_offset, "msgId": r.msg_id, "offsetMsgId": r.offset_msg_id, "sendStatus": "SEND_OK"});
            if out.json {
                print_json(&v);
            } else {
                table(
                    &["#Broker Name", "#QID", "#Send Result", "#MsgId"],
                    &[vec![queue.broker_name.clone(), r.queue_id.to_string(), "SEND_OK".into(), r.msg_id.clone()]],
                );
            }
        }
        MessageCommand::ResetOffsetByTime { ns, group, topic, timestamp, force, out } => {
            let ts = if timestamp == "now" { now_ms() } else { timestamp.parse::<i64>().map_err(|_| format!("-s {timestamp}: milliseconds or `now`"))? };
            let client = ns.client();
            let route = client.route(&topic).await?;
            let mut rows = Vec::new();
            for b in &route.broker_datas {
                let Some(addr) = b.broker_addrs.get(&0) else { continue };
                let cmd = RemotingCommand::request(rq::INVOKE_BROKER_TO_RESET_OFFSET)
                    .with_ext("topic", &topic)
                    .with_ext("group", &group)
                    .with_ext("timestamp", ts)
                    .with_ext("isForce", force);
                let answer = client.invoke_ok(addr, cmd).await.map_err(|e| format!("{addr}: {e}"))?;
                for (mq, offset) in body::object_keyed_entries(&answer.body, "offsetTable")? {
                    rows.push(json!({"brokerName": mq["brokerName"], "queueId": mq["queueId"], "offset": offset}));
                }
            }
            client.close();
            rows.sort_by_key(|r| (r["brokerName"].as_str().unwrap_or("").to_string(), r["queueId"].as_i64().unwrap_or(0)));
            if out.json {
                print_json(&json!({"group": group, "topic": topic, "timestamp": ts, "offsets": rows}));
            } else {
                let cells: Vec<Vec<String>> =
                    rows.iter().map(|r| vec![r["brokerName"].as_str().unwrap_or("").to_string(), r["queueId"].to_string(), r["offset"].to_string()]).collect();
                table(&["#Broker Name", "#QID", "#Offset"], &cells);
            }
        }
    }
    Ok(())
}
