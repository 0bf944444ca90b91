//! JSON bodies, with the field names fastjson gives them, and a writer for the two
//! fastjson shapes that standard JSON cannot express: maps with unquoted numeric keys
//! (`{0:"addr"}`) and maps keyed by objects (`{{"topic":..}:{..}}`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ProtocolError;

pub fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(body).map_err(|e| ProtocolError::BadBody(e.to_string()))
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our body types hold only strings, numbers, maps with string keys and sequences.
    serde_json::to_vec(value).unwrap_or_default()
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    pub class_filter_mode: bool,
    pub topic: String,
    pub sub_string: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tags_set: BTreeSet<String>,
    /// Java sends numbers; other clients may send numeric strings.
    #[serde(deserialize_with = "de_lenient_codes")]
    pub code_set: BTreeSet<i32>,
    pub sub_version: i64,
    pub expression_type: Option<String>,
}

/// `null` reads as the empty value (Go clients write nil collections as null).
fn null_as_default<'de, D: serde::Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn de_lenient_codes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeSet<i32>, D::Error> {
    let raw: Option<Vec<Value>> = Option::deserialize(d)?;
    raw.unwrap_or_default()
        .into_iter()
        .map(|v| match &v {
            Value::Number(n) => n.as_i64().map(|n| n as i32).ok_or_else(|| serde::de::Error::custom(format!("bad tag code {v}"))),
            Value::String(s) => s.trim().parse::<i64>().map(|n| n as i32).map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(format!("bad tag code {v}"))),
        })
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    pub group_name: String,
    pub consume_type: Option<String>,
    pub message_model: Option<String>,
    pub consume_from_where: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub subscription_data_set: Vec<SubscriptionData>,
    pub unit_mode: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    pub group_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub producer_data_set: Vec<ProducerData>,
    #[serde(deserialize_with = "null_as_default")]
    pub consumer_data_set: Vec<ConsumerData>,
    pub heartbeat_fingerprint: i32,
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
    pub broker_name: String,
    pub queue_id: i32,
    pub topic: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    pub consumer_group: String,
    pub client_id: String,
    pub only_this_broker: bool,
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
    use super::*;

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
    fn heartbeat_tolerates_unknown_fields() {
        let hb: HeartbeatData = decode(br#"{"clientID":"c1","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[{"topic":"t","subString":"*","tagsSet":[],"codeSet":[],"subVersion":5,"x":1}]}],"extra":true}"#).unwrap();
        assert_eq!(hb.client_id, "c1");
        assert_eq!(hb.consumer_data_set[0].subscription_data_set[0].sub_version, 5);
    }
}
