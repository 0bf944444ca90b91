//! `consumerStatus`: a consumer group's clients as they see themselves (GET_CONSUMER_RUNNING_INFO,
//! relayed by the broker to each client): subscriptions, the queues each holds with their
//! offsets and cached messages, consume rates; and what looks wrong — clients that subscribe
//! differently, a queue held by two clients, a queue that stopped consuming or cannot lock.

use std::collections::BTreeMap;

use client::Client;
use protocol::body;
use protocol::codes::request as rq;
use protocol::codes::version;
use protocol::RemotingCommand;
use serde_json::{json, Value};

use super::inspect::{cell, emit, ms_to_text, print_json, table, Namesrv, Output};

/// A queue with cached messages and no consumption for this long looks blocked (Java's rule).
const BLOCKED_AFTER_MS: i64 = 60_000;

#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    ns: Namesrv,
    #[arg(short = 'g', long = "consumerGroup")]
    group: String,
    /// One client, shown in full.
    #[arg(short = 'i', long = "clientId")]
    client_id: Option<String>,
    /// Ask this broker for the group's clients instead of the group's brokers.
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// Ask Java clients for their thread dump too.
    #[arg(short = 's', long = "jstack")]
    jstack: bool,
}

/// A client's running info with its fastjson maps made plain: `mqTable` and `mqPopTable` become
/// arrays of `{topic, brokerName, queueId, …}` sorted by queue; everything else as sent.
pub fn plain_running_info(raw: &[u8]) -> Result<Value, crate::Error> {
    let mut info = body::fastjson_value(raw)?;
    for table in ["mqTable", "mqPopTable"] {
        let Some(Value::Object(map)) = info.get_mut(table).map(Value::take) else { continue };
        let mut queues: Vec<Value> = map
            .into_iter()
            .map(|(k, v)| {
                let mut q = match body::key_value(k) {
                    Value::Object(mq) => mq,
                    other => serde_json::Map::from_iter([("queue".to_string(), other)]),
                };
                if let Value::Object(pq) = v {
                    q.extend(pq);
                }
                Value::Object(q)
            })
            .collect();
        queues.sort_by_key(queue_key);
        info[table] = Value::Array(queues);
    }
    Ok(info)
}

/// A queue's (topic, broker name, queue id) in a running info's or consume stats' row.
pub fn queue_key(q: &Value) -> (String, String, i64) {
    (cell(&q["topic"]), cell(&q["brokerName"]), q["queueId"].as_i64().unwrap_or(0))
}

fn queue_name(q: &Value) -> String {
    let (topic, broker, id) = queue_key(q);
    format!("{topic}@{broker}:{id}")
}

/// A property of the client's running info (Java sends strings; other clients may not).
fn property(info: &Value, key: &str) -> String {
    cell(&info["properties"][key])
}

fn is_push(info: &Value) -> bool {
    property(info, "PROP_CONSUME_TYPE") == "CONSUME_PASSIVELY"
}

/// A client's subscriptions as (topic, expression type, expression), sorted.
fn subscriptions(info: &Value) -> Vec<(String, String, String)> {
    let mut subs: Vec<_> = info["subscriptionSet"]
        .as_array()
        .map(|a| a.iter().map(|s| (cell(&s["topic"]), cell(&s["expressionType"]), cell(&s["subString"]))).collect())
        .unwrap_or_default();
    subs.sort();
    subs
}

/// What looks wrong in a group's clients: different subscriptions, a queue held by two
/// clients, a push queue blocked or unable to lock (orderly), each said in a line.
pub fn analyze(clients: &BTreeMap<String, Value>, now_ms: i64) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut subs = clients.iter().map(|(id, info)| (id, subscriptions(info)));
    if let Some((first_id, first)) = subs.next() {
        for (id, other) in subs {
            if other != first {
                warnings.push(format!("different subscriptions in the group: {first_id} has {first:?}, {id} has {other:?}"));
            }
        }
    }
    let mut holders: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (id, info) in clients {
        let orderly = property(info, "PROP_CONSUMEORDERLY") == "true";
        for q in info["mqTable"].as_array().into_iter().flatten() {
            if q["droped"].as_bool() == Some(true) {
                continue;
            }
            holders.entry(queue_name(q)).or_default().push(id);
            if !is_push(info) {
                continue;
            }
            if orderly && q["locked"].as_bool() == Some(false) {
                let since = now_ms - q["lastLockTimestamp"].as_i64().unwrap_or(0);
                warnings.push(format!("{id}: {} cannot lock for a while ({since} ms)", queue_name(q)));
            } else if !orderly {
                let idle = now_ms - q["lastConsumeTimestamp"].as_i64().unwrap_or(now_ms);
                if idle > BLOCKED_AFTER_MS && q["cachedMsgCount"].as_i64().unwrap_or(0) > 0 {
                    warnings.push(format!("{id}: {} has not consumed for {idle} ms with messages cached, maybe blocked", queue_name(q)));
                }
            }
        }
    }
    // Java's client lists its consumer's fields among the properties.
    let broadcast = clients.values().any(|i| property(i, "messageModel") == "BROADCASTING");
    if !broadcast {
        for (queue, ids) in holders.iter().filter(|(_, ids)| ids.len() > 1) {
            warnings.push(format!("{queue} is held by {} clients: {}", ids.len(), ids.join(", ")));
        }
    }
    warnings
}

/// One client's running info through the broker at `addr`.
async fn running_info(client: &Client, addr: &str, group: &str, client_id: &str, jstack: bool) -> Result<Value, crate::Error> {
    let cmd = RemotingCommand::request(rq::GET_CONSUMER_RUNNING_INFO)
        .with_ext("consumerGroup", group)
        .with_ext("clientId", client_id)
        .with_ext("jstackEnable", if jstack { "true" } else { "false" });
    let answer = client.invoke_ok(addr, cmd).await.map_err(|e| format!("{client_id} through {addr}: {e}"))?;
    plain_running_info(&answer.body)
}

/// Each online client of `group` with its running info, through the broker that listed them.
pub async fn group_running_infos(
    client: &Client,
    group: &str,
    broker: Option<&str>,
    jstack: bool,
) -> Result<Vec<(body::Connection, Result<Value, String>)>, crate::Error> {
    let (connections, addr) = super::inspect::connection(client, group, broker).await?;
    let bar = super::progress(connections.connection_set.len() as u64, "clients", true);
    let mut out = Vec::new();
    for c in connections.connection_set {
        let info = running_info(client, &addr, group, &c.client_id, jstack).await.map_err(|e| e.to_string());
        bar.inc(1);
        out.push((c, info));
    }
    bar.finish_and_clear();
    Ok(out)
}

pub async fn run(args: StatusArgs, out: &Output) -> Result<(), crate::Error> {
    let client = args.ns.client();
    let done = match &args.client_id {
        Some(id) => one(&client, &args, id, out).await,
        None => all(&client, &args, out).await,
    };
    client.close();
    done
}

async fn one(client: &Client, args: &StatusArgs, client_id: &str, out: &Output) -> Result<(), crate::Error> {
    let (_, addr) = super::inspect::connection(client, &args.group, args.broker.as_deref()).await?;
    let info = running_info(client, &addr, &args.group, client_id, args.jstack).await?;
    if out.json {
        print_json(&info);
        return Ok(());
    }
    emit(&format!("client {client_id} of group {}", args.group));
    let props: Vec<Vec<String>> = info["properties"].as_object().into_iter().flatten().map(|(k, v)| vec![k.clone(), cell(v)]).collect();
    table(&["#Property", "#Value"], &props);
    emit("");
    let subs: Vec<Vec<String>> = subscriptions(&info).into_iter().map(|(t, kind, e)| vec![t, kind, e]).collect();
    table(&["#Topic", "#Type", "#SubExpression"], &subs);
    emit("");
    let queues: Vec<Vec<String>> = info["mqTable"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| {
            let (topic, broker, id) = queue_key(q);
            vec![
                topic,
                broker,
                id.to_string(),
                cell(&q["commitOffset"]),
                cell(&q["cachedMsgCount"]),
                cell(&q["cachedMsgSizeInMiB"]),
                cell(&q["locked"]),
                ms_to_text(q["lastPullTimestamp"].as_i64().unwrap_or(0)),
                ms_to_text(q["lastConsumeTimestamp"].as_i64().unwrap_or(0)),
            ]
        })
        .collect();
    table(&["#Topic", "#Broker Name", "#QID", "#Commit Offset", "#Cached Msgs", "#Cached MiB", "#Locked", "#Last Pull", "#Last Consume"], &queues);
    emit("");
    let rates: Vec<Vec<String>> = info["statusTable"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(topic, s)| {
            let mut row = vec![topic.clone()];
            row.extend(["pullRT", "pullTPS", "consumeRT", "consumeOKTPS", "consumeFailedTPS", "consumeFailedMsgs"].iter().map(|k| cell(&s[*k])));
            row
        })
        .collect();
    table(&["#Topic", "#Pull RT", "#Pull TPS", "#Consume RT", "#Consume OK TPS", "#Consume Failed TPS", "#Failed (last hour)"], &rates);
    if let Some(jstack) = info["jstack"].as_str().filter(|j| !j.is_empty()) {
        emit("");
        emit(jstack);
    }
    Ok(())
}

async fn all(client: &Client, args: &StatusArgs, out: &Output) -> Result<(), crate::Error> {
    let infos = group_running_infos(client, &args.group, args.broker.as_deref(), args.jstack).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let answered: BTreeMap<String, Value> = infos.iter().filter_map(|(c, i)| Some((c.client_id.clone(), i.as_ref().ok()?.clone()))).collect();
    let warnings = analyze(&answered, now);
    if out.json {
        let clients: Vec<Value> = infos
            .iter()
            .map(|(c, info)| match info {
                Ok(info) => json!({"clientId": c.client_id, "clientAddr": c.client_addr, "version": version::desc(c.version), "runningInfo": info}),
                Err(e) => json!({"clientId": c.client_id, "clientAddr": c.client_addr, "version": version::desc(c.version), "error": e}),
            })
            .collect();
        print_json(&json!({"group": args.group, "clients": clients, "warnings": warnings}));
        return Ok(());
    }
    let sum = |info: &Value, key: &str| -> f64 { info["statusTable"].as_object().into_iter().flatten().filter_map(|(_, s)| s[key].as_f64()).sum() };
    let rows: Vec<Vec<String>> = infos
        .iter()
        .enumerate()
        .map(|(i, (c, info))| {
            let mut row = vec![(i + 1).to_string(), c.client_id.clone(), version::desc(c.version)];
            match info {
                Ok(info) => {
                    let queues = info["mqTable"].as_array().map(Vec::len).unwrap_or(0);
                    let cached: i64 = info["mqTable"].as_array().into_iter().flatten().filter_map(|q| q["cachedMsgCount"].as_i64()).sum();
                    row.extend([
                        queues.to_string(),
                        cached.to_string(),
                        format!("{:.2}", sum(info, "consumeOKTPS")),
                        format!("{:.2}", sum(info, "consumeFailedTPS")),
                    ]);
                }
                Err(e) => row.push(format!("no answer: {e}")),
            }
            row
        })
        .collect();
    table(&["#Index", "#ClientId", "#Version", "#Queues", "#Cached Msgs", "#Consume OK TPS", "#Consume Failed TPS"], &rows);
    emit("");
    if warnings.is_empty() {
        emit("Same subscription in the same group of consumer; every queue held by one client; nothing blocked.");
    }
    for w in &warnings {
        emit(&format!("WARN: {w}"));
    }
    emit(&format!("\nEach client in full: rocketry admin consumerStatus -g {} -i <clientId>", args.group));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(consume_type: &str, subs: &[(&str, &str)], queues: &[(i32, i64, i64)]) -> Value {
        // Shaped as a Java client writes it: mqTable keyed by MessageQueue objects.
        let mq: Vec<String> = queues
            .iter()
            .map(|(q, cached, last)| {
                format!(r#"{{"brokerName":"b","queueId":{q},"topic":"T"}}:{{"cachedMsgCount":{cached},"lastConsumeTimestamp":{last},"commitOffset":5,"locked":false,"droped":false}}"#)
            })
            .collect();
        let subs: Vec<String> = subs.iter().map(|(t, e)| format!(r#"{{"topic":"{t}","subString":"{e}","expressionType":"TAG"}}"#)).collect();
        let raw = format!(
            r#"{{"properties":{{"PROP_CONSUME_TYPE":"{consume_type}","PROP_CONSUMEORDERLY":"false"}},"subscriptionSet":[{}],"mqTable":{{{}}},"statusTable":{{"T":{{"consumeOKTPS":1.5}}}}}}"#,
            subs.join(","),
            mq.join(",")
        );
        plain_running_info(raw.as_bytes()).expect("a Java-shaped running info reads")
    }

    #[test]
    fn running_info_queues_become_rows() {
        let i = info("CONSUME_PASSIVELY", &[("T", "*")], &[(1, 0, 0), (0, 0, 0)]);
        let queues = i["mqTable"].as_array().unwrap();
        assert_eq!((queues[0]["queueId"].as_i64(), queues[1]["queueId"].as_i64()), (Some(0), Some(1)));
        assert_eq!(queues[0]["commitOffset"], 5);
        assert_eq!(queues[0]["topic"], "T");
    }

    #[test]
    fn analysis_finds_split_subscriptions_shared_and_blocked_queues() {
        let now = 1_000_000;
        let healthy = BTreeMap::from([
            ("a".to_string(), info("CONSUME_PASSIVELY", &[("T", "*")], &[(0, 3, now - 1000)])),
            ("b".to_string(), info("CONSUME_PASSIVELY", &[("T", "*")], &[(1, 0, 0)])),
        ]);
        assert!(analyze(&healthy, now).is_empty(), "{:?}", analyze(&healthy, now));
        let sick = BTreeMap::from([
            ("a".to_string(), info("CONSUME_PASSIVELY", &[("T", "*")], &[(0, 3, now - 120_000)])),
            ("b".to_string(), info("CONSUME_PASSIVELY", &[("T", "TagA")], &[(0, 0, 0)])),
        ]);
        let w = analyze(&sick, now);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("different subscriptions"), "{w:?}");
        assert!(w.iter().any(|l| l.contains("maybe blocked") && l.starts_with("a:")), "{w:?}");
        assert!(w.iter().any(|l| l.contains("T@b:0 is held by 2 clients: a, b")), "{w:?}");
        // Pull consumers are not judged blocked.
        let pull = BTreeMap::from([("a".to_string(), info("CONSUME_ACTIVELY", &[("T", "*")], &[(0, 3, now - 120_000)]))]);
        assert!(analyze(&pull, now).is_empty());
    }
}
