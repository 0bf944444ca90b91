//! Message commands with mqadmin's names and flags: queryMsgById, queryMsgByKey,
//! queryMsgByUniqueKey, queryMsgByOffset, printMsg, consumeMessage, sendMessage,
//! resetOffsetByTime. The reading of many messages (printMsg, consumeMessage) streams: a line
//! per message (`--json`: a JSON object per line), with a progress bar on a terminal's stderr.

use bytes::Bytes;
use clap::Subcommand;
use client::Client;
use protocol::body;
use protocol::codes::{request as rq, response as rs};
use protocol::header::Fields;
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
    },
    /// The message at a queue offset (a pull of one).
    ///
    /// Example: rocketry admin queryMsgByOffset -n 127.0.0.1:9876 -t orders -b broker-a -i 0 -o 42
    #[command(name = "queryMsgByOffset")]
    QueryMsgByOffset {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'b', long = "brokerName")]
        broker: String,
        #[arg(short = 'i', long = "queueId")]
        queue_id: i32,
        #[arg(short = 'o', long = "offset")]
        offset: i64,
    },
    /// Every message of a topic, on every queue, between two store times (all by default).
    ///
    /// Example: rocketry admin printMsg -n 127.0.0.1:9876 -t orders -s 'TagA || TagB' -d false
    #[command(name = "printMsg")]
    PrintMsg {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Tags to print (`*`: all).
        #[arg(short = 's', long = "subExpression", default_value = "*")]
        sub_expression: String,
        /// From this store time (ms since the epoch).
        #[arg(short = 'b', long = "beginTimestamp")]
        begin: Option<i64>,
        /// Up to this store time (ms since the epoch).
        #[arg(short = 'e', long = "endTimestamp")]
        end: Option<i64>,
        /// Print the bodies.
        #[arg(short = 'd', long = "printBody", default_value_t = true, action = clap::ArgAction::Set)]
        print_body: bool,
    },
    /// Up to `-c` messages of a topic: from `-o` on one queue (`-b`, `-i`), or from `-s` (a store
    /// time) or the start on every queue.
    ///
    /// Example: rocketry admin consumeMessage -n 127.0.0.1:9876 -t orders -b broker-a -i 0 -o 100 -c 10
    #[command(name = "consumeMessage")]
    ConsumeMessage {
        #[command(flatten)]
        ns: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'b', long = "brokerName")]
        broker: Option<String>,
        #[arg(short = 'i', long = "queueId")]
        queue_id: Option<i32>,
        #[arg(short = 'o', long = "offset")]
        offset: Option<i64>,
        /// From this store time (ms since the epoch).
        #[arg(short = 's', long = "beginTimestamp")]
        begin: Option<i64>,
        /// Up to this store time (ms since the epoch).
        #[arg(short = 'e', long = "endTimestamp")]
        end: Option<i64>,
        #[arg(short = 'c', long = "messageNumber", default_value_t = 128)]
        count: u64,
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
    },
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What mqadmin shows of a message, as JSON.
pub(crate) fn describe(m: &MessageRecord) -> Value {
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
        let s = |k: &str| super::inspect::cell(&d[k]);
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
pub(crate) async fn query(client: &Client, topic: &str, key: &str, max: i32, unique: bool) -> Result<Vec<MessageRecord>, crate::Error> {
    let route = client.route(topic).await.map_err(|e| format!("no route for {topic}: {e}"))?;
    let mut found = Vec::new();
    for (_, addr) in super::inspect::masters(&route) {
        let mut cmd = RemotingCommand::request(rq::QUERY_MESSAGE)
            .with_ext("topic", topic)
            .with_ext("key", key)
            .with_ext("maxNum", max)
            .with_ext("beginTimestamp", 0)
            .with_ext("endTimestamp", i64::MAX);
        if unique {
            cmd = cmd.with_ext("_UNIQUE_KEY_QUERY", "true");
        }
        let answer = client.invoke(&addr, cmd).await.map_err(|e| format!("{addr}: {e}"))?;
        match answer.code {
            rs::SUCCESS => found.extend(decode_records(&answer.body)?),
            rs::QUERY_NOT_FOUND => {}
            code => return Err(format!("{addr} answered {code}: {}", answer.remark.unwrap_or_default()).into()),
        }
    }
    Ok(found)
}

/// A queue's offset: its first (`GET_MIN_OFFSET`), its end (`GET_MAX_OFFSET`), or the first
/// stored at or after a time (`SEARCH_OFFSET_BY_TIMESTAMP`).
async fn queue_offset(client: &Client, addr: &str, topic: &str, queue_id: i32, code: i32, timestamp: Option<i64>) -> Result<i64, crate::Error> {
    let mut cmd = RemotingCommand::request(code).with_ext("topic", topic).with_ext("queueId", queue_id);
    if let Some(t) = timestamp {
        cmd = cmd.with_ext("timestamp", t);
    }
    let answer = client.invoke_ok(addr, cmd).await.map_err(|e| format!("{addr}: {e}"))?;
    Ok(answer.ext_fields.req("offset")?)
}

/// The queues a streaming read covers, each with its broker address and offset range.
pub(crate) struct Span {
    pub broker: String,
    pub addr: String,
    pub queue_id: i32,
    pub from: i64,
    pub to: i64,
}

/// Where to read: the topic's queues (only `broker`'s, only `queue`), from `offset`, or the
/// first stored at `begin`, or the start; up to `end`'s first offset, or the end.
pub(crate) async fn spans(
    client: &Client,
    topic: &str,
    broker: Option<&str>,
    queue: Option<i32>,
    offset: Option<i64>,
    begin: Option<i64>,
    end: Option<i64>,
) -> Result<Vec<Span>, crate::Error> {
    let route = client.route(topic).await?;
    let mut out = Vec::new();
    for q in route.queue_datas.iter().filter(|q| broker.is_none_or(|b| b == q.broker_name)) {
        let Some(addr) = route.broker_datas.iter().find(|b| b.broker_name == q.broker_name).and_then(|b| b.broker_addrs.get(&0)) else { continue };
        for queue_id in (0..q.read_queue_nums).filter(|i| queue.is_none_or(|want| want == *i)) {
            let from = match (offset, begin) {
                (Some(o), _) => o,
                (None, Some(t)) => queue_offset(client, addr, topic, queue_id, rq::SEARCH_OFFSET_BY_TIMESTAMP, Some(t)).await?,
                (None, None) => queue_offset(client, addr, topic, queue_id, rq::GET_MIN_OFFSET, None).await?,
            };
            let to = match end {
                Some(t) => queue_offset(client, addr, topic, queue_id, rq::SEARCH_OFFSET_BY_TIMESTAMP, Some(t)).await?,
                None => queue_offset(client, addr, topic, queue_id, rq::GET_MAX_OFFSET, None).await?,
            };
            out.push(Span { broker: q.broker_name.clone(), addr: addr.clone(), queue_id, from, to });
        }
    }
    if out.is_empty() {
        return Err(format!("no readable queue of {topic} matches").into());
    }
    Ok(out)
}

/// Reads every span in order (tags filtered by `sub_expression`), at most `limit` messages,
/// handing each to `each` with its span; returns how many. With `bar`, a progress bar on a
/// terminal's stderr (whose lines `each` prints through [`indicatif::ProgressBar::suspend`]).
pub(crate) async fn read(
    client: &Client,
    topic: &str,
    spans: &[Span],
    sub_expression: &str,
    limit: u64,
    bar: bool,
    mut each: impl FnMut(&Span, &MessageRecord, &indicatif::ProgressBar),
) -> Result<u64, crate::Error> {
    let total: u64 = spans.iter().map(|s| (s.to - s.from).max(0) as u64).sum::<u64>().min(limit);
    let bar = super::progress(total, "messages", bar);
    let mut read = 0u64;
    'spans: for s in spans {
        let mut offset = s.from;
        while offset < s.to && read < limit {
            let mut header = protocol::header::PullMessageRequestHeader::for_queue("rocketry_admin", topic, s.queue_id, offset);
            header.subscription = Some(sub_expression.to_string());
            let pulled = client.pull(&s.addr, &header).await.map_err(|e| format!("{}: {e}", s.addr))?;
            if pulled.code != rs::SUCCESS && pulled.code != rs::PULL_NOT_FOUND {
                // Moved (retention) or out of range: go on from where the broker says.
                if pulled.header.next_begin_offset > offset {
                    bar.inc((pulled.header.next_begin_offset - offset) as u64);
                    offset = pulled.header.next_begin_offset;
                    continue;
                }
                continue 'spans;
            }
            for m in pulled.messages.iter().filter(|m| m.queue_offset < s.to) {
                if read >= limit {
                    break;
                }
                each(s, m, &bar);
                read += 1;
            }
            let next = pulled.header.next_begin_offset;
            bar.inc((next.min(s.to) - offset).max(0) as u64);
            if next <= offset {
                break;
            }
            offset = next;
        }
    }
    bar.finish_and_clear();
    Ok(read)
}

/// Prints every message of the spans (see [`read`]), a line or a JSON object each.
async fn stream(client: &Client, topic: &str, spans: &[Span], sub_expression: &str, limit: u64, print_body: bool, out: &Output) -> Result<u64, crate::Error> {
    read(client, topic, spans, sub_expression, limit, true, |s, m, bar| {
        let mut d = describe(m);
        if !print_body {
            d["body"] = Value::Null;
        }
        d["brokerName"] = json!(s.broker);
        bar.suspend(|| {
            if out.json {
                emit(&d.to_string());
            } else {
                let body = if print_body { d["body"].as_str().unwrap_or("").to_string() } else { "NOT PRINT BODY".into() };
                emit(&format!(
                    "MSGID: {} BROKER: {} QUEUE: {} OFFSET: {} TAGS: {} KEYS: {} STORED: {} BODY: {}",
                    d["msgId"].as_str().unwrap_or(""),
                    s.broker,
                    m.queue_id,
                    m.queue_offset,
                    d["tags"].as_str().unwrap_or("-"),
                    d["keys"].as_str().unwrap_or("-"),
                    ms_to_text(m.store_timestamp),
                    body
                ));
            }
        });
    })
    .await
}

/// A message by its id: an offset id names its broker and CommitLog offset; a client id is
/// looked up in `topic` (also when an id that reads as an offset id finds nothing there).
pub(crate) async fn find_by_id(client: &Client, msg_id: &str, topic: Option<&str>) -> Result<Vec<MessageRecord>, crate::Error> {
    // An offset id names a host and port: asked only when a broker of the cluster is there.
    let known = match decode_offset_msg_id(msg_id) {
        Some((store, offset)) => {
            let info = client.cluster_info().await?;
            let store_text = store.to_string();
            info.broker_addr_table.values().any(|b| b.broker_addrs.values().any(|a| *a == store_text)).then_some((store, offset))
        }
        None => None,
    };
    let by_offset = match known {
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
    match (by_offset.is_empty(), topic) {
        (false, _) => Ok(by_offset),
        (true, Some(t)) => query(client, t, msg_id, 32, true).await,
        (true, None) => Err(format!("{msg_id} is not an offset id; give its topic to look it up as a client id").into()),
    }
}

/// Sends one message to `topic` (the first writable queue of `broker`, or of any broker);
/// answers the send's result as mqadmin's sendMessage shows it.
pub(crate) async fn send_one(
    client: &Client,
    topic: &str,
    body: Bytes,
    props: Properties,
    broker: Option<&str>,
    queue_id: Option<i32>,
) -> Result<Value, crate::Error> {
    let route = client.route(topic).await?;
    let queue = route
        .queue_datas
        .iter()
        .filter(|q| q.perm & protocol::codes::perm::WRITE != 0 && q.write_queue_nums > 0)
        .find(|q| broker.is_none_or(|b| q.broker_name == b))
        .ok_or_else(|| format!("no writable queue of {topic}"))?;
    let addr = route
        .broker_datas
        .iter()
        .find(|b| b.broker_name == queue.broker_name)
        .and_then(|b| b.broker_addrs.get(&0))
        .ok_or_else(|| format!("no master for {}", queue.broker_name))?;
    let qid = queue_id.unwrap_or(0);
    if !(0..queue.write_queue_nums).contains(&qid) {
        return Err(format!("queue {qid}: {} has write queues 0-{} on {}", topic, queue.write_queue_nums - 1, queue.broker_name).into());
    }
    let r = client.send(addr, topic, qid, body, props).await?;
    Ok(
        json!({"brokerName": queue.broker_name, "queueId": r.queue_id, "queueOffset": r.queue_offset, "msgId": r.msg_id, "offsetMsgId": r.offset_msg_id, "sendStatus": "SEND_OK"}),
    )
}

/// INVOKE_BROKER_TO_RESET_OFFSET on every master of `topic`: `group`'s offsets go to the first
/// message stored at or after `timestamp`. Answers each queue's new offset.
pub(crate) async fn reset_offsets(client: &Client, group: &str, topic: &str, timestamp: i64, force: bool) -> Result<Vec<Value>, crate::Error> {
    let route = client.route(topic).await?;
    let mut rows = Vec::new();
    for b in &route.broker_datas {
        let Some(addr) = b.broker_addrs.get(&0) else { continue };
        let cmd = RemotingCommand::request(rq::INVOKE_BROKER_TO_RESET_OFFSET)
            .with_ext("topic", topic)
            .with_ext("group", group)
            .with_ext("timestamp", timestamp)
            .with_ext("isForce", force);
        let answer = client.invoke_ok(addr, cmd).await.map_err(|e| format!("{addr}: {e}"))?;
        for (mq, offset) in body::object_keyed_entries(&answer.body, "offsetTable")? {
            rows.push(json!({"brokerName": mq["brokerName"], "queueId": mq["queueId"], "offset": offset}));
        }
    }
    rows.sort_by_key(|r| (r["brokerName"].as_str().unwrap_or("").to_string(), r["queueId"].as_i64().unwrap_or(0)));
    Ok(rows)
}

pub async fn run(cmd: MessageCommand, out: &Output) -> Result<(), crate::Error> {
    let out = *out;
    match cmd {
        MessageCommand::QueryMsgByOffset { ns, topic, broker, queue_id, offset } => {
            let client = ns.client();
            let spans = spans(&client, &topic, Some(&broker), Some(queue_id), Some(offset), None, None).await?;
            let s = &spans[0];
            let pulled = client
                .pull(&s.addr, &protocol::header::PullMessageRequestHeader::for_queue("rocketry_admin", &topic, queue_id, offset))
                .await
                .map_err(|e| format!("{}: {e}", s.addr))?;
            client.close();
            let found: Vec<MessageRecord> = pulled.messages.into_iter().filter(|m| m.queue_offset == offset).take(1).collect();
            if found.is_empty() {
                return Err(format!("no message at offset {offset} of {topic} queue {queue_id} on {broker} (its offsets end at {})", s.to).into());
            }
            print_messages(&out, &found);
        }
        MessageCommand::PrintMsg { ns, topic, sub_expression, begin, end, print_body } => {
            let client = ns.client();
            let spans = spans(&client, &topic, None, None, None, begin, end).await?;
            let n = stream(&client, &topic, &spans, &sub_expression, u64::MAX, print_body, &out).await?;
            client.close();
            if !out.json {
                eprintln!("{n} messages");
            }
        }
        MessageCommand::ConsumeMessage { ns, topic, broker, queue_id, offset, begin, end, count } => {
            if offset.is_some() && (broker.is_none() || queue_id.is_none()) {
                return Err("-o needs its queue: -b and -i".into());
            }
            let client = ns.client();
            let spans = spans(&client, &topic, broker.as_deref(), queue_id, offset, begin, end).await?;
            let n = stream(&client, &topic, &spans, "*", count, true, &out).await?;
            client.close();
            if !out.json {
                eprintln!("{n} messages");
            }
        }
        MessageCommand::QueryMsgById { ns, msg_id, topic } => {
            let client = ns.client();
            let messages = find_by_id(&client, &msg_id, topic.as_deref()).await;
            client.close();
            let messages = messages?;
            if messages.is_empty() {
                return Err(format!("no message {msg_id}").into());
            }
            print_messages(&out, &messages);
        }
        MessageCommand::QueryMsgByKey { ns, topic, key, max } => {
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
        MessageCommand::QueryMsgByUniqueKey { ns, topic, msg_id } => {
            let client = ns.client();
            let messages = query(&client, &topic, &msg_id, 32, true).await?;
            client.close();
            if messages.is_empty() {
                return Err(format!("no message {msg_id} in {topic}").into());
            }
            print_messages(&out, &messages);
        }
        MessageCommand::SendMessage { ns, topic, body: text, key, tags, broker, queue_id } => {
            let client = ns.client();
            let mut props = Properties::default();
            if let Some(k) = &key {
                props.set(prop::KEYS, k);
            }
            if let Some(t) = &tags {
                props.set(prop::TAGS, t);
            }
            let sent = send_one(&client, &topic, Bytes::from(text.into_bytes()), props, broker.as_deref(), queue_id).await;
            client.close();
            let v = sent?;
            if out.json {
                print_json(&v);
            } else {
                let s = |k: &str| v[k].as_str().map_or_else(|| v[k].to_string(), str::to_string);
                table(&["#Broker Name", "#QID", "#Send Result", "#MsgId"], &[vec![s("brokerName"), s("queueId"), s("sendStatus"), s("msgId")]]);
            }
        }
        MessageCommand::ResetOffsetByTime { ns, group, topic, timestamp, force } => {
            let ts = if timestamp == "now" { now_ms() } else { timestamp.parse::<i64>().map_err(|_| format!("-s {timestamp}: milliseconds or `now`"))? };
            let client = ns.client();
            let rows = reset_offsets(&client, &group, &topic, ts, force).await;
            client.close();
            let rows = rows?;
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
