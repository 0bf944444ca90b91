//! JSON bodies, with the field names fastjson gives them, and a writer for the two
//! fastjson shapes that standard JSON cannot express: maps with unquoted numeric keys
//! (`{0:"addr"}`) and maps keyed by objects (`{{"topic":..}:{..}}`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lenient::{self, boolean, int, null_as_default, opt_string, string};
use crate::ProtocolError;

pub fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(body).map_err(|e| ProtocolError::BadBody(e.to_string()))
}

/// Decodes a body a Java server may write in fastjson's shape, with unquoted numeric map keys
/// (`{0:"addr"}`, as in cluster info).
pub fn decode_fastjson<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ProtocolError> {
    if let Ok(v) = serde_json::from_slice(body) {
        return Ok(v);
    }
    serde_json::from_value(fastjson_value(body)?).map_err(|e| ProtocolError::BadBody(e.to_string()))
}

/// The entries of a map fastjson writes with object keys (`{{"topic":"T",…}:{…},…}`, as in
/// topic and consume stats), found as the value of `field` in the body's top-level object.
pub fn object_keyed_entries(body: &[u8], field: &str) -> Result<Vec<(Value, Value)>, ProtocolError> {
    let bad = |why: &str| ProtocolError::BadBody(format!("{field}: {why}"));
    match fastjson_value(body)? {
        Value::Object(mut top) => match top.remove(field) {
            Some(Value::Object(map)) => Ok(map.into_iter().map(|(k, v)| (key_value(k), v)).collect()),
            Some(_) => Err(bad("not a map")),
            None => Err(bad("missing")),
        },
        _ => Err(bad("the body is not an object")),
    }
}

/// A key [`fastjson_value`] wrote as JSON text (an object or number) read back; a plain string
/// key stays a string.
pub fn key_value(key: String) -> Value {
    match key.starts_with('{') || key.starts_with('[') {
        true => serde_json::from_str(&key).unwrap_or(Value::String(key)),
        false => Value::String(key),
    }
}

/// Containers nested deeper than this are refused (a hostile body must not exhaust the stack).
const FASTJSON_MAX_DEPTH: usize = 128;

/// Reads JSON as fastjson writes it, where map keys may be any value (`{0:"a"}`,
/// `{{"topic":"T"}:1}`): no JSON reader takes those, so this one walks the text. A key that is
/// not a string becomes its compact JSON text (`"0"`, `"{\"topic\":\"T\"}"`); read an object key
/// back with [`key_value`]. Scalars are read by serde_json.
pub fn fastjson_value(body: &[u8]) -> Result<Value, ProtocolError> {
    let text = std::str::from_utf8(body).map_err(|e| ProtocolError::BadBody(e.to_string()))?;
    let mut rest = text;
    let v = fastjson_at(&mut rest, 0)?;
    match rest.trim_start().is_empty() {
        true => Ok(v),
        false => Err(ProtocolError::BadBody("trailing characters after the JSON value".into())),
    }
}

fn fastjson_at(rest: &mut &str, depth: usize) -> Result<Value, ProtocolError> {
    let bad = |why: &str| ProtocolError::BadBody(format!("fastjson: {why}"));
    if depth > FASTJSON_MAX_DEPTH {
        return Err(bad("nested too deep"));
    }
    *rest = rest.trim_start();
    let close = |rest: &mut &str, c: char| -> Option<()> {
        *rest = rest.trim_start();
        *rest = rest.strip_prefix(c)?;
        Some(())
    };
    if let Some(after) = rest.strip_prefix('{') {
        *rest = after;
        let mut map = serde_json::Map::new();
        if close(rest, '}').is_some() {
            return Ok(Value::Object(map));
        }
        loop {
            let key = match fastjson_at(rest, depth + 1)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            close(rest, ':').ok_or_else(|| bad("a key without a value"))?;
            map.insert(key, fastjson_at(rest, depth + 1)?);
            if close(rest, ',').is_some() {
                continue;
            }
            close(rest, '}').ok_or_else(|| bad("an object not closed"))?;
            return Ok(Value::Object(map));
        }
    }
    if let Some(after) = rest.strip_prefix('[') {
        *rest = after;
        let mut items = Vec::new();
        if close(rest, ']').is_some() {
            return Ok(Value::Array(items));
        }
        loop {
            items.push(fastjson_at(rest, depth + 1)?);
            if close(rest, ',').is_some() {
                continue;
            }
            close(rest, ']').ok_or_else(|| bad("an array not closed"))?;
            return Ok(Value::Array(items));
        }
    }
    if rest.starts_with('}') || rest.starts_with(']') || rest.starts_with(',') || rest.starts_with(':') {
        return Err(bad("a value expected"));
    }
    let mut scalars = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
    let v = scalars.next().ok_or_else(|| bad("truncated"))?.map_err(|e| bad(&e.to_string()))?;
    *rest = &rest[scalars.byte_offset()..];
    Ok(v)
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our body types hold only strings, numbers, maps with string keys and sequences.
    serde_json::to_vec(value).unwrap_or_default()
}

/// GET_BROKER_HA_STATUS's answer (`HARuntimeInfo`): a master's replicas, or a replica's view
/// of its master.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HaRuntimeInfo {
    pub master: bool,
    pub master_commit_log_max_offset: i64,
    pub in_sync_slave_nums: i32,
    pub ha_connection_info: Vec<HaConnectionRuntimeInfo>,
    pub ha_client_runtime_info: HaClientRuntimeInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HaConnectionRuntimeInfo {
    pub addr: String,
    pub slave_ack_offset: i64,
    pub diff: i64,
    pub in_sync: bool,
    pub transferred_byte_in_second: i64,
    pub transfer_from_where: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HaClientRuntimeInfo {
    pub master_addr: String,
    pub transferred_byte_in_second: i64,
    pub max_offset: i64,
    pub last_read_timestamp: i64,
    pub last_write_timestamp: i64,
    pub master_flush_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    pub state_version: i64,
    pub timestamp: i64,
    pub counter: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    pub topic_name: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    pub topic_filter_type: String,
    pub topic_sys_flag: i32,
    pub order: bool,
    pub attributes: BTreeMap<String, String>,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            topic_name: String::new(),
            read_queue_nums: 16,
            write_queue_nums: 16,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    pub data_version: DataVersion,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
    pub filter_server_list: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    pub broker_name: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    pub topic_sys_flag: i32,
}

/// Broker addresses by broker id; fastjson writes the ids unquoted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    pub cluster: String,
    pub broker_name: String,
    #[serde(deserialize_with = "de_long_keyed")]
    pub broker_addrs: BTreeMap<i64, String>,
    pub enable_acting_master: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
}

fn de_long_keyed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<i64, String>, D::Error> {
    let raw: BTreeMap<String, String> = BTreeMap::deserialize(d)?;
    raw.into_iter().map(|(k, v)| k.parse::<i64>().map(|k| (k, v)).map_err(serde::de::Error::custom)).collect()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    pub queue_datas: Vec<QueueData>,
    pub broker_datas: Vec<BrokerData>,
    pub filter_server_table: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

// The bodies clients send (heartbeats, lock requests) are read as leniently as fastjson reads
// them (see `lenient`): each of their fields names its reader. A null takes the field's
// default, which is the struct's own default for these.

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    #[serde(deserialize_with = "boolean")]
    pub class_filter_mode: bool,
    #[serde(deserialize_with = "string")]
    pub topic: String,
    #[serde(deserialize_with = "string")]
    pub sub_string: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tags_set: BTreeSet<String>,
    /// Java sends numbers; other clients may send numeric strings.
    #[serde(deserialize_with = "code_set")]
    pub code_set: BTreeSet<i32>,
    /// The C++ client sends a numeric string.
    #[serde(deserialize_with = "int")]
    pub sub_version: i64,
    #[serde(deserialize_with = "opt_string")]
    pub expression_type: Option<String>,
}

/// Tag hash codes: numbers or numeric strings, cut to 32 bits as Java's `intValue`.
fn code_set<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeSet<i32>, D::Error> {
    let codes: Option<Vec<lenient::Int<i64>>> = Option::deserialize(d)?;
    Ok(codes.unwrap_or_default().into_iter().map(|c| c.0 as i32).collect())
}

/// `ConsumeType`'s constants in ordinal order (the C++ client sends ordinals).
pub const CONSUME_TYPES: [&str; 3] = ["CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP"];
/// `MessageModel`'s constants in ordinal order.
pub const MESSAGE_MODELS: [&str; 2] = ["BROADCASTING", "CLUSTERING"];
/// `ConsumeFromWhere`'s constants in ordinal order, the deprecated ones included.
pub const CONSUME_FROM_WHERES: [&str; 6] = [
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",
    "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
];

fn consume_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient::java_enum(d, &CONSUME_TYPES)
}

fn message_model<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient::java_enum(d, &MESSAGE_MODELS)
}

fn consume_from_where<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient::java_enum(d, &CONSUME_FROM_WHERES)
}

/// The enums are kept by name, as the Java client sends them; ordinals are read as names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    #[serde(deserialize_with = "string")]
    pub group_name: String,
    #[serde(deserialize_with = "consume_type")]
    pub consume_type: Option<String>,
    #[serde(deserialize_with = "message_model")]
    pub message_model: Option<String>,
    #[serde(deserialize_with = "consume_from_where")]
    pub consume_from_where: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub subscription_data_set: Vec<SubscriptionData>,
    #[serde(deserialize_with = "boolean")]
    pub unit_mode: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    #[serde(deserialize_with = "string")]
    pub group_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    #[serde(rename = "clientID", deserialize_with = "string")]
    pub client_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub producer_data_set: Vec<ProducerData>,
    #[serde(deserialize_with = "null_as_default")]
    pub consumer_data_set: Vec<ConsumerData>,
    #[serde(deserialize_with = "int")]
    pub heartbeat_fingerprint: i32,
    #[serde(deserialize_with = "boolean")]
    pub without_sub: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    pub group_name: String,
    pub consume_enable: bool,
    pub consume_from_min_enable: bool,
    pub consume_broadcast_enable: bool,
    pub consume_message_orderly: bool,
    pub retry_queue_nums: i32,
    pub retry_max_times: i32,
    pub broker_id: i64,
    pub which_broker_when_consume_slowly: i64,
    pub notify_consumer_ids_changed_enable: bool,
    pub group_sys_flag: i32,
    pub consume_timeout_minute: i32,
    pub attributes: BTreeMap<String, String>,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig {
            group_name: String::new(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: 16,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: 0,
            consume_timeout_minute: 15,
            attributes: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    pub data_version: DataVersion,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    // Alphabetical, as fastjson writes bean fields.
    #[serde(deserialize_with = "string")]
    pub broker_name: String,
    #[serde(deserialize_with = "int")]
    pub queue_id: i32,
    #[serde(deserialize_with = "string")]
    pub topic: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    #[serde(deserialize_with = "string")]
    pub consumer_group: String,
    #[serde(deserialize_with = "string")]
    pub client_id: String,
    #[serde(deserialize_with = "boolean")]
    pub only_this_broker: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub mq_set: Vec<MessageQueue>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet", default)]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvTable {
    pub table: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    pub topic_list: BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    pub group_list: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerIdList {
    pub consumer_id_list: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    pub client_id: String,
    pub client_addr: String,
    pub language: String,
    pub version: i32,
}

/// GET_PRODUCER_CONNECTION_LIST's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    pub connection_set: Vec<Connection>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    pub connection_set: Vec<Connection>,
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    pub consume_type: Option<String>,
    pub message_model: Option<String>,
    pub consume_from_where: Option<String>,
}

/// Writes JSON as fastjson does for the bodies where that differs from standard JSON:
/// every object that is the value of a key named in `unquoted_key_maps` gets its keys
/// written without quotes (`"brokerAddrs":{0:"127.0.0.1:10911"}`).
pub fn to_fastjson(value: &Value, unquoted_key_maps: &[&str]) -> String {
    let mut out = String::new();
    write_value(value, unquoted_key_maps, false, &mut out);
    out
}

fn write_value(value: &Value, special: &[&str], unquote_keys: bool, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if unquote_keys {
                    out.push_str(k);
                } else {
                    out.push_str(&Value::String(k.clone()).to_string());
                }
                out.push(':');
                write_value(v, special, special.contains(&k.as_str()), out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(v, special, false, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A map keyed by JSON objects, as fastjson writes `Map<MessageQueue, X>`.
pub fn object_keyed_map<K: Serialize, V: Serialize>(entries: &[(K, V)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    out.push('}');
    out
}

/// Route data in the form a client of `version` expects (§1.8 of the protocol notes).
pub fn encode_route(route: &TopicRouteData, standard_json: bool) -> Vec<u8> {
    let value = serde_json::to_value(route).unwrap_or(Value::Null);
    if standard_json {
        value.to_string().into_bytes()
    } else {
        to_fastjson(&value, &["brokerAddrs"]).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fastjson_numeric_keys_are_quoted() {
        let text = r#"{"a":{0:"x:1,{2:3}",12:"y"},"b":[1,{-3:4}, 5],"c":{7:[8,9]}}"#;
        let v: serde_json::Value = super::decode_fastjson(text.as_bytes()).expect("decodes");
        assert_eq!(v, serde_json::json!({"a":{"0":"x:1,{2:3}","12":"y"},"b":[1,{"-3":4}, 5],"c":{"7":[8,9]}}));
    }

    #[test]
    fn fastjson_reader_takes_object_keys_and_refuses_bad_text() {
        let v = super::fastjson_value(br#" {"m":{{"topic":"T","queueId":1}:{"x":[true,null,-1.5e3]}},"s":"\"}"} "#).unwrap();
        let (k, inner) = v["m"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(super::key_value(k.clone())["queueId"], 1);
        assert_eq!(inner["x"], serde_json::json!([true, null, -1500.0]));
        assert_eq!(v["s"], "\"}");
        let deep = "[".repeat(200) + &"]".repeat(200);
        for bad in ["", "{", "{1}", "{1:}", "[1,]", "{\"a\":1,}", "[1 2]", "{} x", "{\"a\" 1}", deep.as_str()] {
            assert!(super::fastjson_value(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn object_keyed_maps_are_read_entry_by_entry() {
        let mq = |q: i32| MessageQueue { topic: "T".into(), broker_name: "b".into(), queue_id: q };
        let body = format!("{{\"consumeTps\":0.0,\"offsetTable\":{}}}", object_keyed_map(&[(mq(0), 5), (mq(1), 7)]));
        let entries = object_keyed_entries(body.as_bytes(), "offsetTable").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[1].0["queueId"].as_i64(), entries[1].1.as_i64()), (Some(1), Some(7)));
        assert!(object_keyed_entries(b"{\"offsetTable\":{}}", "offsetTable").unwrap().is_empty());
        for bad in [&b"{}"[..], b"{\"offsetTable\":[1]}", b"{\"offsetTable\":{{\"a\":1}", b"{\"offsetTable\":{{\"a\":1}:"] {
            assert!(object_keyed_entries(bad, "offsetTable").is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    fn route() -> TopicRouteData {
        TopicRouteData {
            queue_datas: vec![QueueData { broker_name: "b".into(), read_queue_nums: 4, write_queue_nums: 4, perm: 6, topic_sys_flag: 0 }],
            broker_datas: vec![BrokerData {
                cluster: "c".into(),
                broker_name: "b".into(),
                broker_addrs: BTreeMap::from([(0, "127.0.0.1:10911".into())]),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn route_in_both_forms() {
        let fast = String::from_utf8(encode_route(&route(), false)).unwrap();
        assert!(fast.contains(r#""brokerAddrs":{0:"127.0.0.1:10911"}"#), "{fast}");
        let std = encode_route(&route(), true);
        let back: TopicRouteData = decode(&std).unwrap();
        assert_eq!(back, route());
    }

    #[test]
    fn tag_codes_may_be_strings_or_null() {
        let s: SubscriptionData = decode(br#"{"topic":"t","codeSet":["12",-5],"tagsSet":null}"#).unwrap();
        assert_eq!(s.code_set, BTreeSet::from([12, -5]));
        let s: SubscriptionData = decode(br#"{"topic":"t","codeSet":null}"#).unwrap();
        assert!(s.code_set.is_empty());
    }

    #[test]
    fn heartbeat_fields_in_every_shape_fastjson_reads() {
        let hb: HeartbeatData = decode(
            br#"{"clientID":7,"heartbeatFingerprint":"12","withoutSub":1,"producerDataSet":[{"groupName":null}],
                "consumerDataSet":[{"groupName":"g","consumeType":"CONSUME_POP","messageModel":"","consumeFromWhere":null,"unitMode":"true",
                "subscriptionDataSet":[{"topic":"t","classFilterMode":"false","subVersion":"5","expressionType":null,"tagsSet":null}]},
                {"groupName":"h","subscriptionDataSet":null}]}"#,
        )
        .unwrap();
        assert_eq!((hb.client_id.as_str(), hb.heartbeat_fingerprint, hb.without_sub), ("7", 12, true));
        assert_eq!(hb.producer_data_set[0].group_name, "");
        let c = &hb.consumer_data_set[0];
        assert_eq!(
            (c.consume_type.as_deref(), c.message_model.as_deref(), c.consume_from_where.as_deref(), c.unit_mode),
            (Some("CONSUME_POP"), None, None, true)
        );
        let sub = &c.subscription_data_set[0];
        assert_eq!((sub.class_filter_mode, sub.sub_version, sub.expression_type.as_deref()), (false, 5, None));
        assert!(hb.consumer_data_set[1].subscription_data_set.is_empty());
        let mq: MessageQueue = decode(br#"{"topic":"t","brokerName":"b","queueId":"3"}"#).unwrap();
        assert_eq!(mq.queue_id, 3);
        assert!(decode::<HeartbeatData>(br#"{"consumerDataSet":[{"consumeType":{"x":1}}]}"#).is_err());
    }

    #[test]
    fn heartbeat_tolerates_unknown_fields() {
        let hb: HeartbeatData = decode(br#"{"clientID":"c1","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[{"topic":"t","subString":"*","tagsSet":[],"codeSet":[],"subVersion":5,"x":1}]}],"extra":true}"#).unwrap();
        assert_eq!(hb.client_id, "c1");
        assert_eq!(hb.consumer_data_set[0].subscription_data_set[0].sub_version, 5);
    }
}
