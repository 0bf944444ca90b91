//! `queryMsgTraceById`: a message's life from the trace topic. Clients with message trace on
//! (the Java client's `enableMsgTrace`/`setEnableTrace`) send their records to the trace topic
//! keyed by the traced message's id; this asks every broker of that topic for the id
//! (QUERY_MESSAGE by key, as mqadmin does) and reads the records in the Java client's
//! `TraceDataEncoder` format (`protocol::trace`). With the broker's
//! `brokerTraceEnable`, its own records (retries, DLQ moves, deliveries, transaction ends) are
//! there too.

use clap::Args;
use protocol::trace::{msg_type, BROKER_HOST_PREFIX};
use serde_json::{json, Value};

use super::inspect::{emit, ms_to_text, print_json, table, Namesrv, Output};

#[derive(Args)]
pub struct TraceArgs {
    #[command(flatten)]
    ns: Namesrv,
    /// The message id (the client's, `SendResult.getMsgId()`).
    #[arg(short = 'i', long = "msgId")]
    msg_id: String,
    /// The trace topic the clients write to.
    #[arg(short = 't', long = "traceTopic", default_value = "RMQ_SYS_TRACE_TOPIC")]
    trace_topic: String,
}

/// One trace record of `msg_id` in `text` (one trace message's body), as a JSON object; the
/// trace message's own hosts tell where the client ran.
fn records(text: &str, msg_id: &str, client_host: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for f in protocol::trace::decode(text) {
        let at = |i: usize| f.get(i).copied().unwrap_or("");
        let num = |i: usize| at(i).parse::<i64>().ok();
        let v = match at(0) {
            "Pub" if at(5) == msg_id => json!({
                "type": "Pub", "time": num(1), "region": at(2), "group": at(3), "topic": at(4), "msgId": at(5), "tags": at(6),
                "keys": at(7), "storeHost": at(8), "bodyLength": num(9), "costMs": num(10), "msgType": num(11),
                "success": if f.len() >= 14 { at(13) == "true" } else { at(12) == "true" },
                "clientHost": if f.len() >= 15 { at(14).to_string() } else { client_host.to_string() },
            }),
            "SubBefore" if at(5) == msg_id => json!({
                "type": "SubBefore", "time": num(1), "region": at(2), "group": at(3), "requestId": at(4), "msgId": at(5),
                "retryTimes": num(6), "keys": at(7), "clientHost": client_host,
            }),
            "SubAfter" if at(2) == msg_id => json!({
                "type": "SubAfter", "requestId": at(1), "msgId": at(2), "costMs": num(3), "success": at(4) == "true", "keys": at(5),
                "contextCode": num(6), "time": num(7), "group": at(8), "clientHost": client_host,
            }),
            "EndTransaction" if at(5) == msg_id => json!({
                "type": "EndTransaction", "time": num(1), "region": at(2), "group": at(3), "topic": at(4), "msgId": at(5),
                "transactionId": at(10), "state": at(11), "fromCheck": at(12) == "true", "clientHost": client_host,
            }),
            "Recall" if at(5) == msg_id => json!({
                "type": "Recall", "time": num(1), "region": at(2), "group": at(3), "topic": at(4), "msgId": at(5),
                "success": at(6) == "true", "clientHost": client_host,
            }),
            _ => continue,
        };
        out.push(label_broker_record(v));
    }
    out
}

/// A record the broker wrote (client host `broker:<name>`, see `broker/src/trace.rs`): a Pub
/// of a copy it stored is a delivery (a delayed message's type, 3) or a move to a retry or
/// dead-letter topic.
fn label_broker_record(mut v: Value) -> Value {
    let by_broker = v["clientHost"].as_str().is_some_and(|h| h.starts_with(BROKER_HOST_PREFIX));
    if by_broker && v["type"] == "Pub" {
        let topic = v["topic"].as_str().unwrap_or("");
        v["type"] = json!(if v["msgType"] == msg_type::DELAY {
            "Delivered"
        } else if topic.starts_with("%RETRY%") {
            "Retry"
        } else if topic.starts_with("%DLQ%") {
            "DLQ"
        } else {
            "Delivered"
        });
    }
    v["recordedBy"] = json!(if by_broker { "broker" } else { "client" });
    v
}

/// A message's trace records in `trace_topic`, oldest first.
pub(crate) async fn trace_rows(client: &client::Client, msg_id: &str, trace_topic: &str) -> Result<Vec<Value>, crate::Error> {
    let mut rows = Vec::new();
    // No trace topic: nothing was traced (any other failure is reported).
    match client.route(trace_topic).await {
        Err(client::ClientError::Server { code, .. }) if code == protocol::codes::response::TOPIC_NOT_EXIST => return Ok(rows),
        Err(e) => return Err(format!("the route of {trace_topic}: {e}").into()),
        Ok(_) => {}
    }
    for m in super::messages::query(client, trace_topic, msg_id, 64, false).await? {
        rows.extend(records(&String::from_utf8_lossy(&m.body), msg_id, &m.born_host.ip().to_string()));
    }
    // SubAfter records of clients before 4.9 carry no time: after their SubBefore.
    rows.sort_by_key(|r| r["time"].as_i64().unwrap_or(i64::MAX));
    Ok(rows)
}

pub async fn run(args: TraceArgs, out: &Output) -> Result<(), crate::Error> {
    let client = args.ns.client();
    let rows = trace_rows(&client, &args.msg_id, &args.trace_topic).await;
    client.close();
    let rows = rows?;
    if out.json {
        print_json(&json!({"msgId": args.msg_id, "records": rows}));
        return Ok(());
    }
    if rows.is_empty() {
        emit(&format!("no trace records of {} in {}", args.msg_id, args.trace_topic));
        return Ok(());
    }
    let s = |v: &Value| match v {
        Value::String(s) if s.is_empty() => "-".to_string(),
        other => super::inspect::cell(other),
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let status = match r["type"].as_str() {
                Some("SubBefore") => format!("retry {}", s(&r["retryTimes"])),
                Some("EndTransaction") => s(&r["state"]),
                _ if r["success"].is_boolean() => if r["success"] == true { "success" } else { "failed" }.to_string(),
                _ => "-".into(),
            };
            let cost = if r["costMs"].is_null() { "-".into() } else { format!("{} ms", s(&r["costMs"])) };
            vec![s(&r["type"]), s(&r["group"]), s(&r["clientHost"]), ms_to_text(r["time"].as_i64().unwrap_or(0)), cost, status]
        })
        .collect();
    table(&["#Type", "#Group", "#ClientHost", "#Time", "#Cost", "#Status"], &cells);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_java_clients_trace_records_of_one_message() {
        // As the Java 5.3.3 client's TraceDataEncoder writes them (one body, three records).
        let body = [
            "Pub\u{1}1700000000000\u{1}DefaultRegion\u{1}PG\u{1}T\u{1}ID1\u{1}TagA\u{1}k1\u{1}10.0.0.1:10911\u{1}12\u{1}3\u{1}0\u{1}OFF1\u{1}true\u{1}10.0.0.9\u{1}\u{2}",
            "SubBefore\u{1}1700000000100\u{1}DefaultRegion\u{1}CG\u{1}req1\u{1}ID1\u{1}0\u{1}k1\u{1}\u{2}",
            "SubAfter\u{1}req1\u{1}ID1\u{1}5\u{1}true\u{1}k1\u{1}0\u{1}1700000000105\u{1}CG\u{1}\u{2}",
            "SubBefore\u{1}1700000000100\u{1}DefaultRegion\u{1}CG\u{1}req1\u{1}OTHER\u{1}0\u{1}k2\u{1}\u{2}",
        ]
        .concat();
        let got = records(&body, "ID1", "10.0.0.7");
        assert_eq!(got.len(), 3, "the other message's record is left out: {got:?}");
        assert_eq!((got[0]["type"].as_str(), got[0]["group"].as_str(), got[0]["clientHost"].as_str()), (Some("Pub"), Some("PG"), Some("10.0.0.9")));
        assert_eq!((got[0]["costMs"].as_i64(), got[0]["success"].as_bool()), (Some(3), Some(true)));
        assert_eq!((got[1]["type"].as_str(), got[1]["retryTimes"].as_i64(), got[1]["clientHost"].as_str()), (Some("SubBefore"), Some(0), Some("10.0.0.7")));
        assert_eq!((got[2]["type"].as_str(), got[2]["group"].as_str(), got[2]["time"].as_i64()), (Some("SubAfter"), Some("CG"), Some(1_700_000_000_105)));
        assert!(records("garbage\u{1}x", "ID1", "h").is_empty());
        // The broker's own records (broker/src/trace.rs) are labelled by what they did.
        let moved = "Pub\u{1}1\u{1}R\u{1}CG\u{1}%DLQ%CG\u{1}ID1\u{1}\u{1}\u{1}h:1\u{1}3\u{1}0\u{1}0\u{1}\u{1}true\u{1}broker:broker-a\u{1}\u{2}";
        let got = records(moved, "ID1", "10.0.0.7");
        assert_eq!((got[0]["type"].as_str(), got[0]["recordedBy"].as_str()), (Some("DLQ"), Some("broker")));
    }
}
