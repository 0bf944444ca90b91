//! The dashboard's JSON API: each handler asks the cluster as `rocketry admin` does, as the
//! signed-in user when ACL is on.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use bytes::Bytes;
use client::{Client, Credentials};
use protocol::body::TopicConfig;
use protocol::codes::request as rq;
use protocol::message::{prop, Properties};
use protocol::RemotingCommand;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Dashboard;
use crate::admin::{inspect, messages, trace};

/// Messages a listing returns at most (a search, a DLQ page).
const MAX_LISTED: u64 = 200;

/// An answer that is not a success: its status and why.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(json!({"error": self.1}))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"rocketry\""));
        }
        r
    }
}

impl From<crate::Error> for ApiError {
    /// A broker's refusal for want of permission is the caller's (403); any other failure of
    /// the cluster is a bad gateway (502).
    fn from(e: crate::Error) -> Self {
        let denied = e
            .downcast_ref::<client::ClientError>()
            .is_some_and(|c| matches!(c, client::ClientError::Server { code, .. } if *code == protocol::codes::response::NO_PERMISSION));
        ApiError(if denied { StatusCode::FORBIDDEN } else { StatusCode::BAD_GATEWAY }, e.to_string())
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

fn bad_request(why: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, why.into())
}

/// The caller's ACL user from HTTP Basic (access key:secret key), if given.
fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
    let (access_key, secret_key) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(Credentials { access_key: access_key.to_string(), secret_key: secret_key.to_string() })
}

impl Dashboard {
    /// A client of the broker's NameServers acting as the caller. With authentication on, a
    /// caller without credentials is asked for them (401).
    fn client(&self, headers: &HeaderMap) -> Result<Client, ApiError> {
        let creds = self.signed_in(headers)?;
        let addrs: Vec<String> =
            self.broker.config.namesrv_addr.as_deref().unwrap_or("").split(';').filter(|a| !a.trim().is_empty()).map(str::to_string).collect();
        if addrs.is_empty() {
            return Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "the broker has no namesrvAddr: nothing to ask".into()));
        }
        Ok(Client::new(addrs).with_tls(self.broker.client_tls()).with_credentials(creds))
    }

    /// The caller's ACL user, checked against this broker's users, when ACL is on (a caller
    /// without one, or with a wrong secret, is asked again: 401); `None` when ACL is off.
    pub(crate) fn signed_in(&self, headers: &HeaderMap) -> Result<Option<Credentials>, ApiError> {
        if !self.broker.auth.enabled() {
            return Ok(credentials(headers));
        }
        let unauthorized = |why: String| ApiError(StatusCode::UNAUTHORIZED, why);
        let creds = credentials(headers).ok_or_else(|| unauthorized("sign in with an ACL user (access key and secret key)".into()))?;
        self.broker.auth.check_password(&creds.access_key, &creds.secret_key).map_err(|e| unauthorized(e.to_string()))?;
        Ok(Some(creds))
    }

    /// As [`Dashboard::client`], for a change: refused when `dashboardReadOnly`.
    fn writer(&self, headers: &HeaderMap) -> Result<Client, ApiError> {
        if self.broker.config.dashboard_read_only {
            return Err(ApiError(StatusCode::FORBIDDEN, "the dashboard is read-only (dashboardReadOnly=true)".into()));
        }
        self.client(headers)
    }

    /// Messages per second producers stored in each topic since the last call (live rates).
    fn topic_rates(&self) -> BTreeMap<String, f64> {
        let now = Instant::now();
        let mut last = self.last_counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut rates = BTreeMap::new();
        for (topic, count) in self.broker.metrics.messages_in_by_topic() {
            let rate = match last.get(&topic) {
                Some((at, before)) if now > *at => (count.saturating_sub(*before)) as f64 / now.duration_since(*at).as_secs_f64(),
                _ => 0.0,
            };
            rates.insert(topic.clone(), rate);
            last.insert(topic, (now, count));
        }
        rates
    }
}

/// Runs `f` with a client, closing it after.
async fn with<T>(client: Client, f: impl AsyncFnOnce(&Client) -> Result<T, crate::Error>) -> Result<T, ApiError> {
    let out = f(&client).await;
    client.close();
    Ok(out?)
}

/// The cluster's brokers, this broker's health, and its in/out rates over the last hour.
pub async fn overview(State(d): State<Dashboard>, headers: HeaderMap) -> ApiResult {
    let brokers = with(d.client(&headers)?, async |c| inspect::cluster_rows(c).await).await?;
    let history: Vec<Value> = d.broker.stats.rates(3600, 10).into_iter().map(|(i, o)| json!([i, o])).collect();
    let ((in_msgs, in_bytes), (out_msgs, out_bytes)) = d.broker.metrics.totals();
    Ok(Json(json!({
        "health": d.broker.health(),
        "brokers": brokers,
        "history": {"stepSecs": 10, "points": history},
        "totals": {"inMessages": in_msgs, "inBytes": in_bytes, "outMessages": out_msgs, "outBytes": out_bytes},
        "readOnly": d.broker.config.dashboard_read_only,
    })))
}

/// Every topic: clusters, consuming groups, queues and permission, message type (this
/// broker's config), live rate.
pub async fn topics(State(d): State<Dashboard>, headers: HeaderMap) -> ApiResult {
    let mut rows = with(d.client(&headers)?, async |c| inspect::topic_rows(c, false).await).await?;
    let rates = d.topic_rates();
    for r in &mut rows {
        let topic = r["topic"].as_str().unwrap_or("").to_string();
        if let Some(t) = d.broker.topics.get(&topic) {
            r["readQueues"] = json!(t.read_queue_nums);
            r["writeQueues"] = json!(t.write_queue_nums);
            r["perm"] = json!(t.perm);
            r["messageType"] = json!(protocol::message_type::MessageType::of_topic(&t).as_str());
            r["system"] = json!(d.broker.is_system_topic(&topic));
        }
        r["inRate"] = json!(rates.get(&topic).copied().unwrap_or(0.0));
    }
    Ok(Json(Value::Array(rows)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTopic {
    topic: String,
    #[serde(default = "eight")]
    queues: i32,
    /// NORMAL, FIFO, DELAY or TRANSACTION.
    #[serde(default)]
    message_type: Option<String>,
}

fn eight() -> i32 {
    8
}

/// Creates a topic on every master of this broker's cluster (UPDATE_AND_CREATE_TOPIC).
pub async fn create_topic(State(d): State<Dashboard>, headers: HeaderMap, Json(t): Json<NewTopic>) -> ApiResult {
    protocol::names::validate_topic(&t.topic).map_err(bad_request)?;
    if !(1..=1024).contains(&t.queues) {
        return Err(bad_request("queues: 1 to 1024"));
    }
    let attributes = match t.message_type.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("") => None,
        Some(kind @ ("NORMAL" | "FIFO" | "DELAY" | "TRANSACTION")) => Some(format!("+message.type={kind}")),
        Some(other) => return Err(bad_request(format!("message type {other}: NORMAL, FIFO, DELAY or TRANSACTION"))),
    };
    let config = TopicConfig { topic_name: t.topic.clone(), read_queue_nums: t.queues, write_queue_nums: t.queues, perm: 6, ..TopicConfig::default() };
    let cluster = d.broker.config.broker_cluster_name.clone();
    let done = with(d.writer(&headers)?, async |c| {
        let masters = masters_of(c, &cluster).await?;
        for addr in &masters {
            c.invoke_ok(addr, Client::update_topic_request(&config, attributes.as_deref())).await.map_err(|e| format!("{addr}: {e}"))?;
        }
        Ok(masters)
    })
    .await?;
    Ok(Json(json!({"topic": t.topic, "brokers": done})))
}

/// Deletes a topic from this cluster's masters, then from the NameServers.
pub async fn delete_topic(State(d): State<Dashboard>, headers: HeaderMap, Path(topic): Path<String>) -> ApiResult {
    let cluster = d.broker.config.broker_cluster_name.clone();
    with(d.writer(&headers)?, async |c| {
        for addr in masters_of(c, &cluster).await? {
            let cmd = RemotingCommand::request(rq::DELETE_TOPIC_IN_BROKER).with_ext("topic", &topic);
            c.invoke_ok(&addr, cmd).await.map_err(|e| format!("{addr}: {e}"))?;
        }
        for addr in c.namesrv_addrs().to_vec() {
            let cmd = RemotingCommand::request(rq::DELETE_TOPIC_IN_NAMESRV).with_ext("topic", &topic).with_ext("clusterName", &cluster);
            c.invoke_ok(&addr, cmd).await.map_err(|e| format!("{addr}: {e}"))?;
        }
        Ok(())
    })
    .await?;
    Ok(Json(json!({"deleted": topic})))
}

async fn masters_of(c: &Client, cluster: &str) -> Result<Vec<String>, crate::Error> {
    let info = c.cluster_info().await?;
    let names = info.cluster_addr_table.get(cluster).ok_or_else(|| format!("no cluster named {cluster}"))?;
    Ok(names.iter().filter_map(|n| info.broker_addr_table.get(n)?.broker_addrs.get(&0).cloned()).collect())
}

/// Every consumer group with a retry topic: clients, type, model, TPS, total lag.
pub async fn groups(State(d): State<Dashboard>, headers: HeaderMap) -> ApiResult {
    let rows = with(d.client(&headers)?, async |c| inspect::group_rows(c, false).await).await?;
    Ok(Json(Value::Array(rows)))
}

/// One group: its lag per queue, its clients and subscriptions.
pub async fn group(State(d): State<Dashboard>, headers: HeaderMap, Path(group): Path<String>) -> ApiResult {
    let (rows, tps, connection) = with(d.client(&headers)?, async |c| {
        let (rows, tps) = inspect::consume_stats(c, &group, None).await?;
        let connection = inspect::connection(c, &group, None).await.ok().map(|(conn, _)| conn);
        Ok((rows, tps, connection))
    })
    .await?;
    let total = inspect::diff_total(&rows);
    Ok(Json(json!({"group": group, "consumeTps": tps, "diffTotal": total, "queues": rows, "connection": connection})))
}

#[derive(Deserialize)]
pub struct Reset {
    topic: String,
    /// Milliseconds since the epoch.
    timestamp: i64,
}

/// Moves a group's offsets of a topic to the first message stored at or after a time.
pub async fn reset_offsets(State(d): State<Dashboard>, headers: HeaderMap, Path(group): Path<String>, Json(r): Json<Reset>) -> ApiResult {
    let rows = with(d.writer(&headers)?, async |c| messages::reset_offsets(c, &group, &r.topic, r.timestamp, true).await).await?;
    Ok(Json(json!({"group": group, "topic": r.topic, "offsets": rows})))
}

#[derive(Deserialize)]
pub struct Search {
    topic: Option<String>,
    key: Option<String>,
    id: Option<String>,
    /// Milliseconds since the epoch (a time range within `topic`).
    begin: Option<i64>,
    end: Option<i64>,
}

/// Messages by key (in a topic), by id (offset id, or a client id in a topic), or by the time
/// they were stored (in a topic).
pub async fn messages(State(d): State<Dashboard>, headers: HeaderMap, Query(s): Query<Search>) -> ApiResult {
    let topic = s.topic.filter(|t| !t.trim().is_empty());
    let id = s.id.filter(|i| !i.trim().is_empty());
    let key = s.key.filter(|k| !k.trim().is_empty());
    if id.is_none() && topic.is_none() {
        return Err(bad_request("give a message id, or a topic (with a key or a time range)"));
    }
    let found = with(d.client(&headers)?, async |c| match (&id, &key, &topic) {
        (Some(id), _, _) => messages::find_by_id(c, id.trim(), topic.as_deref()).await,
        (None, Some(key), Some(t)) => messages::query(c, t, key.trim(), MAX_LISTED as i32, false).await,
        (None, _, Some(t)) => read(c, t, s.begin, s.end).await,
        (None, _, None) => Ok(Vec::new()),
    })
    .await?;
    Ok(Json(Value::Array(found.iter().map(messages::describe).collect())))
}

/// Up to [`MAX_LISTED`] messages of a topic stored between two times (or all of it).
async fn read(c: &Client, topic: &str, begin: Option<i64>, end: Option<i64>) -> Result<Vec<protocol::message::MessageRecord>, crate::Error> {
    let spans = messages::spans(c, topic, None, None, None, begin, end).await?;
    let mut found = Vec::new();
    messages::read(c, topic, &spans, "*", MAX_LISTED, false, |_, m, _| found.push(m.clone())).await?;
    Ok(found)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceQuery {
    trace_topic: Option<String>,
}

/// A message's trace records (send, consumptions, broker moves).
pub async fn trace(State(d): State<Dashboard>, headers: HeaderMap, Path(id): Path<String>, Query(q): Query<TraceQuery>) -> ApiResult {
    let topic = q.trace_topic.unwrap_or_else(|| d.broker.config.msg_trace_topic_name.clone());
    let rows = with(d.client(&headers)?, async |c| trace::trace_rows(c, &id, &topic).await).await?;
    Ok(Json(json!({"msgId": id, "records": rows})))
}

/// The messages in a group's dead-letter topic.
pub async fn dead_letters(State(d): State<Dashboard>, headers: HeaderMap, Path(group): Path<String>) -> ApiResult {
    let topic = protocol::names::dlq_topic(&group);
    let found = with(d.client(&headers)?, async |c| match c.route(&topic).await {
        Ok(_) => read(c, &topic, None, None).await,
        // No DLQ topic: nothing went there.
        Err(_) => Ok(Vec::new()),
    })
    .await?;
    Ok(Json(json!({"group": group, "topic": topic, "messages": found.iter().map(messages::describe).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resend {
    msg_id: String,
}

/// Sends a dead-lettered message again to its group's retry topic (its consumers take it as a
/// retry of its original topic); the copy in the DLQ stays.
pub async fn resend(State(d): State<Dashboard>, headers: HeaderMap, Path(group): Path<String>, Json(r): Json<Resend>) -> ApiResult {
    let dlq = protocol::names::dlq_topic(&group);
    let retry = protocol::names::retry_topic(&group);
    let sent = with(d.writer(&headers)?, async |c| {
        let found = messages::query(c, &dlq, &r.msg_id, 1, true).await?;
        let m = found.into_iter().next().ok_or_else(|| format!("no message {} in {dlq}", r.msg_id))?;
        let mut props = Properties::parse(&m.properties);
        if props.get(prop::RETRY_TOPIC).is_none() {
            props.set(prop::RETRY_TOPIC, m.topic.clone());
        }
        props.set(prop::DELAY, "0");
        messages::send_one(c, &retry, Bytes::from(m.body.to_vec()), props, None, None).await
    })
    .await?;
    Ok(Json(sent))
}
