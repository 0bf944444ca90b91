//! A remoting request decoded once into what the broker is asked ([`Request`]), before
//! anything acts on it: the request hooks (authentication, authorization, metrics) see the
//! typed request and the raw command in one place, then the request runs.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use auth::{AclInfo, Action, Check, UserInfo};
use protocol::body::{self, HeartbeatData, LockBatchRequestBody, SubscriptionGroupConfig};
use protocol::codes::{request as rq, response as rs};
use protocol::header::{Fields, PullMessageRequestHeader, SendMessageRequestHeader};
use protocol::names::RETRY_GROUP_TOPIC_PREFIX;
use protocol::pop::{
    AckMessageRequestHeader, BatchAckMessageRequestBody, NotificationRequestHeader, PopMessageRequestHeader, QueryAssignmentRequestBody,
    SetMessageRequestModeRequestBody,
};
use protocol::RemotingCommand;
use store::BoundaryType;

use crate::error::{BrokerError, BrokerResult};
use crate::service::admin::CreateTopic;
use crate::service::reset::ResetOffset;
use crate::service::send::SendRequest;
use crate::service::send_back::SendBack;
use crate::service::transaction::EndTransaction;

/// Every request the broker serves, with its header and body decoded.
pub enum Request<'a> {
    Send(SendRequest<'a>),
    Reply(SendRequest<'a>),
    Pull(PullMessageRequestHeader),
    SendBack(SendBack),
    Heartbeat(HeartbeatData),
    Unregister {
        producer_group: Option<&'a str>,
        consumer_group: Option<&'a str>,
    },
    ConsumerList {
        group: &'a str,
    },
    CheckClientConfig {
        expression_type: Option<String>,
        expression: Option<String>,
    },
    QueryConsumerOffset {
        group: &'a str,
        topic: &'a str,
        queue_id: i32,
        zero_if_not_found: bool,
    },
    UpdateConsumerOffset {
        group: &'a str,
        topic: &'a str,
        queue_id: i32,
        offset: i64,
    },
    MaxOffset {
        topic: &'a str,
        queue_id: i32,
    },
    MinOffset {
        topic: &'a str,
        queue_id: i32,
    },
    SearchOffset {
        topic: &'a str,
        queue_id: i32,
        timestamp_ms: i64,
        boundary: BoundaryType,
    },
    EarliestStoreTime {
        topic: &'a str,
        queue_id: i32,
    },
    ViewMessage {
        phys_offset: i64,
    },
    QueryByKey {
        topic: &'a str,
        key: &'a str,
        max: i64,
        begin_ms: i64,
        end_ms: i64,
        unique: bool,
    },
    Lock(LockBatchRequestBody),
    Unlock(LockBatchRequestBody),
    CreateTopic(CreateTopic),
    DeleteTopic {
        topic: &'a str,
    },
    AllTopicConfig,
    TopicConfig {
        topic: &'a str,
    },
    TopicNames,
    TopicStats {
        topic: &'a str,
    },
    SystemTopics,
    CreateGroup(SubscriptionGroupConfig),
    DeleteGroup {
        group: &'a str,
        clean_offset: bool,
    },
    AllGroups,
    /// A replica's copy of its master's consumer offsets (GET_ALL_CONSUMER_OFFSET).
    AllOffsets,
    /// A replica's copy of its master's delay-level progress (GET_ALL_DELAY_OFFSET).
    AllDelayOffsets,
    /// Replication's state (GET_BROKER_HA_STATUS, `mqadmin haStatus`).
    HaStatus,
    GroupConfig {
        group: &'a str,
    },
    RuntimeInfo,
    BrokerConfig,
    UpdateBrokerConfig(BTreeMap<String, String>),
    ConsumerConnections {
        group: &'a str,
    },
    ProducerConnections {
        group: &'a str,
    },
    ConsumeStats {
        group: &'a str,
        topic: Option<&'a str>,
    },
    ConsumedBy {
        topic: &'a str,
    },
    ResetOffset(ResetOffset),
    ConsumerRunningInfo {
        group: &'a str,
        client_id: &'a str,
        jstack: bool,
    },
    Pop(PopMessageRequestHeader),
    Ack(AckMessageRequestHeader),
    ChangeInvisibleTime(AckMessageRequestHeader),
    BatchAck(BatchAckMessageRequestBody),
    Notification(NotificationRequestHeader),
    PollingInfo(NotificationRequestHeader),
    QueryAssignment(QueryAssignmentRequestBody),
    SetMessageRequestMode(SetMessageRequestModeRequestBody),
    /// With the topic the client names, if it does (checked for Pub, as Java).
    EndTransaction(EndTransaction, Option<&'a str>),
    Recall {
        topic: &'a str,
        handle: &'a str,
    },
    Auth(AuthAdmin<'a>),
}

/// The AUTH_* requests: users and ACLs (RocketMQ 5's mqadmin createUser … listAcl).
pub enum AuthAdmin<'a> {
    CreateUser {
        username: Option<&'a str>,
        info: UserInfo,
    },
    UpdateUser {
        username: Option<&'a str>,
        info: UserInfo,
    },
    DeleteUser {
        username: Option<&'a str>,
    },
    GetUser {
        username: Option<&'a str>,
    },
    ListUsers {
        filter: Option<&'a str>,
    },
    /// Create and update are one operation (as in Java): entries merge by resource.
    UpsertAcl {
        subject: Option<&'a str>,
        info: Option<AclInfo>,
    },
    DeleteAcl {
        subject: Option<&'a str>,
        policy_type: Option<&'a str>,
        resource: Option<&'a str>,
    },
    GetAcl {
        subject: Option<&'a str>,
    },
    ListAcls {
        subject_filter: Option<&'a str>,
        resource_filter: Option<&'a str>,
    },
}

impl<'a> Request<'a> {
    /// Decodes a request from `peer`. An unknown code is REQUEST_CODE_NOT_SUPPORTED; a header
    /// or body that cannot be read, SYSTEM_ERROR naming what is wrong.
    pub fn decode(cmd: &'a RemotingCommand, peer: SocketAddr) -> BrokerResult<Request<'a>> {
        let ext = &cmd.ext_fields;
        let topic_queue = || -> BrokerResult<(&'a str, i32)> { Ok((ext.req_str("topic")?, ext.req("queueId")?)) };
        Ok(match cmd.code {
            rq::SEND_MESSAGE | rq::SEND_MESSAGE_V2 | rq::SEND_BATCH_MESSAGE => Request::Send(send_request(cmd, cmd.code != rq::SEND_MESSAGE, peer)?),
            rq::SEND_REPLY_MESSAGE | rq::SEND_REPLY_MESSAGE_V2 => Request::Reply(send_request(cmd, cmd.code == rq::SEND_REPLY_MESSAGE_V2, peer)?),
            rq::PULL_MESSAGE | rq::LITE_PULL_MESSAGE => Request::Pull(PullMessageRequestHeader::decode(ext)?),
            rq::CONSUMER_SEND_MSG_BACK => Request::SendBack(SendBack {
                group: ext.req_str("group")?.to_string(),
                phys_offset: ext.req("offset")?,
                delay_level: ext.opt("delayLevel")?.unwrap_or(0),
                max_reconsume_times: ext.opt("maxReconsumeTimes")?,
                client_version: cmd.version,
            }),
            rq::HEART_BEAT => Request::Heartbeat(body::decode(&cmd.body)?),
            rq::UNREGISTER_CLIENT => {
                ext.req_str("clientID")?;
                Request::Unregister {
                    producer_group: ext.raw("producerGroup").filter(|s| !s.is_empty()),
                    consumer_group: ext.raw("consumerGroup").filter(|s| !s.is_empty()),
                }
            }
            rq::GET_CONSUMER_LIST_BY_GROUP => Request::ConsumerList { group: ext.req_str("consumerGroup")? },
            rq::CHECK_CLIENT_CONFIG => {
                let body: serde_json::Value = body::decode(&cmd.body)?;
                let field = |name: &str| body.pointer(&format!("/subscriptionData/{name}")).and_then(|v| v.as_str()).map(str::to_string);
                Request::CheckClientConfig { expression_type: field("expressionType"), expression: field("subString") }
            }
            rq::QUERY_CONSUMER_OFFSET => {
                let group = ext.req_str("consumerGroup")?;
                let (topic, queue_id) = topic_queue()?;
                let zero_if_not_found = ext.raw("setZeroIfNotFound").is_none_or(|v| v.eq_ignore_ascii_case("true"));
                Request::QueryConsumerOffset { group, topic, queue_id, zero_if_not_found }
            }
            rq::UPDATE_CONSUMER_OFFSET => {
                let group = ext.req_str("consumerGroup")?;
                let (topic, queue_id) = topic_queue()?;
                Request::UpdateConsumerOffset { group, topic, queue_id, offset: ext.req("commitOffset")? }
            }
            rq::GET_MAX_OFFSET => topic_queue().map(|(topic, queue_id)| Request::MaxOffset { topic, queue_id })?,
            rq::GET_MIN_OFFSET => topic_queue().map(|(topic, queue_id)| Request::MinOffset { topic, queue_id })?,
            rq::SEARCH_OFFSET_BY_TIMESTAMP => {
                let (topic, queue_id) = topic_queue()?;
                let boundary = match ext.raw("boundaryType") {
                    Some(t) if t.eq_ignore_ascii_case("upper") => BoundaryType::Upper,
                    _ => BoundaryType::Lower,
                };
                Request::SearchOffset { topic, queue_id, timestamp_ms: ext.req("timestamp")?, boundary }
            }
            rq::GET_EARLIEST_MSG_STORETIME => topic_queue().map(|(topic, queue_id)| Request::EarliestStoreTime { topic, queue_id })?,
            rq::VIEW_MESSAGE_BY_ID => Request::ViewMessage { phys_offset: ext.req("offset")? },
            rq::QUERY_MESSAGE => Request::QueryByKey {
                topic: ext.req_str("topic")?,
                key: ext.req_str("key")?,
                max: ext.req("maxNum")?,
                begin_ms: ext.req("beginTimestamp")?,
                end_ms: ext.req("endTimestamp")?,
                unique: ext.flag("_UNIQUE_KEY_QUERY"),
            },
            rq::LOCK_BATCH_MQ => Request::Lock(body::decode(&cmd.body)?),
            rq::UNLOCK_BATCH_MQ => Request::Unlock(body::decode(&cmd.body)?),
            rq::UPDATE_AND_CREATE_TOPIC => Request::CreateTopic(create_topic(cmd)?),
            rq::DELETE_TOPIC_IN_BROKER => Request::DeleteTopic { topic: ext.req_str("topic")? },
            rq::GET_ALL_TOPIC_CONFIG => Request::AllTopicConfig,
            rq::GET_TOPIC_CONFIG => Request::TopicConfig { topic: ext.req_str("topic")? },
            rq::GET_TOPIC_NAME_LIST => Request::TopicNames,
            rq::GET_TOPIC_STATS_INFO => Request::TopicStats { topic: ext.req_str("topic")? },
            rq::GET_SYSTEM_TOPIC_LIST_FROM_BROKER => Request::SystemTopics,
            rq::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => Request::CreateGroup(body::decode(&cmd.body)?),
            rq::DELETE_SUBSCRIPTIONGROUP => Request::DeleteGroup { group: ext.req_str("groupName")?, clean_offset: ext.flag("cleanOffset") },
            rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => Request::AllGroups,
            rq::GET_ALL_CONSUMER_OFFSET => Request::AllOffsets,
            rq::GET_ALL_DELAY_OFFSET => Request::AllDelayOffsets,
            rq::GET_BROKER_HA_STATUS => Request::HaStatus,
            rq::GET_SUBSCRIPTIONGROUP_CONFIG => Request::GroupConfig { group: ext.req_str("group")? },
            rq::GET_BROKER_RUNTIME_INFO => Request::RuntimeInfo,
            rq::GET_BROKER_CONFIG => Request::BrokerConfig,
            rq::UPDATE_BROKER_CONFIG => {
                let text = std::str::from_utf8(&cmd.body).map_err(|_| BrokerError::invalid("the broker config is not UTF-8"))?;
                Request::UpdateBrokerConfig(crate::config::parse_properties(text))
            }
            rq::GET_CONSUMER_CONNECTION_LIST => Request::ConsumerConnections { group: ext.req_str("consumerGroup")? },
            rq::GET_PRODUCER_CONNECTION_LIST => Request::ProducerConnections { group: ext.req_str("producerGroup")? },
            rq::GET_CONSUME_STATS => Request::ConsumeStats { group: ext.req_str("consumerGroup")?, topic: ext.raw("topic").filter(|t| !t.is_empty()) },
            rq::QUERY_TOPIC_CONSUME_BY_WHO => Request::ConsumedBy { topic: ext.req_str("topic")? },
            rq::INVOKE_BROKER_TO_RESET_OFFSET => Request::ResetOffset(ResetOffset {
                topic: ext.req_str("topic")?.to_string(),
                group: ext.req_str("group")?.to_string(),
                timestamp: ext.req("timestamp")?,
                force: ext.raw("isForce").is_some_and(|v| v.eq_ignore_ascii_case("true")),
                queue_id: ext.opt("queueId")?,
                offset: ext.opt::<i64>("offset")?.filter(|o| *o != -1),
            }),
            rq::GET_CONSUMER_RUNNING_INFO => {
                Request::ConsumerRunningInfo { group: ext.req_str("consumerGroup")?, client_id: ext.req_str("clientId")?, jstack: ext.flag("jstackEnable") }
            }
            rq::POP_MESSAGE => Request::Pop(PopMessageRequestHeader::decode(ext)?),
            rq::ACK_MESSAGE => Request::Ack(AckMessageRequestHeader::decode(ext, false)?),
            rq::CHANGE_MESSAGE_INVISIBLETIME => Request::ChangeInvisibleTime(AckMessageRequestHeader::decode(ext, true)?),
            // An empty body is an empty batch (answered NO_MESSAGE, as the Java broker).
            rq::BATCH_ACK_MESSAGE if cmd.body.is_empty() => Request::BatchAck(BatchAckMessageRequestBody::default()),
            rq::BATCH_ACK_MESSAGE => Request::BatchAck(body::decode(&cmd.body)?),
            rq::NOTIFICATION => Request::Notification(NotificationRequestHeader::decode(ext, false)?),
            rq::POLLING_INFO => Request::PollingInfo(NotificationRequestHeader::decode(ext, true)?),
            rq::QUERY_ASSIGNMENT => Request::QueryAssignment(body::decode(&cmd.body)?),
            rq::SET_MESSAGE_REQUEST_MODE => Request::SetMessageRequestMode(body::decode(&cmd.body)?),
            rq::RECALL_MESSAGE => Request::Recall { topic: ext.req_str("topic")?, handle: ext.req_str("recallHandle")? },
            rq::AUTH_CREATE_USER..=rq::AUTH_LIST_ACL => Request::Auth(auth_admin(cmd)?),
            rq::END_TRANSACTION => Request::EndTransaction(
                EndTransaction {
                    producer_group: ext.req_str("producerGroup")?.to_string(),
                    tran_state_table_offset: ext.req("tranStateTableOffset")?,
                    commit_log_offset: ext.req("commitLogOffset")?,
                    commit_or_rollback: ext.req("commitOrRollback")?,
                    from_transaction_check: ext.flag("fromTransactionCheck"),
                    msg_id: ext.raw("msgId").map(str::to_string),
                    transaction_id: ext.raw("transactionId").map(str::to_string),
                },
                ext.raw("topic").filter(|t| !t.is_empty()),
            ),
            code => return Err(BrokerError::new(rs::REQUEST_CODE_NOT_SUPPORTED, format!(" request type {code} not supported"))),
        })
    }

    /// What the request asks to do, for authorization: every check must pass. The match
    /// has no catch-all, so a new kind of request cannot be added without saying what it
    /// touches. Java's mapping (5.3.3) where it has one; where Java checks nothing (admin
    /// requests without a topic or group, BATCH_ACK, QUERY_ASSIGNMENT, replies,
    /// LITE_PULL_MESSAGE …) Rocketry checks the cluster, topic or group they act on, so a
    /// normal user may do only what a policy grants. Requests with nothing to check (client
    /// housekeeping) still need an authenticated user when authentication is on.
    pub fn checks(&self, cluster: &str) -> Vec<Check> {
        let topic_group =
            |topic: &str, group: &str, actions: &'static [Action]| vec![Check::topic_or_retry_group(topic, actions), Check::group(group, actions)];
        match self {
            Request::Send(s) if s.header.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) => vec![Check::group(&s.header.topic, SUB)],
            Request::Send(s) | Request::Reply(s) => vec![Check::topic(&s.header.topic, PUB)],
            Request::Pull(h) => topic_group(&h.topic, &h.consumer_group, SUB),
            Request::SendBack(s) => vec![Check::group(&s.group, SUB)],
            Request::Heartbeat(hb) => {
                let mut checks = Vec::new();
                for c in &hb.consumer_data_set {
                    checks.push(Check::group(&c.group_name, SUB));
                    checks.extend(c.subscription_data_set.iter().map(|s| Check::topic_or_retry_group(&s.topic, SUB)));
                }
                checks
            }
            Request::Unregister { consumer_group, .. } => consumer_group.iter().map(|g| Check::group(g, SUB)).collect(),
            Request::ConsumerList { group } => vec![Check::group(group, SUB_GET)],
            // Only checks an expression's syntax.
            Request::CheckClientConfig { .. } => Vec::new(),
            Request::QueryConsumerOffset { group, topic, .. } => topic_group(topic, group, SUB_GET),
            Request::UpdateConsumerOffset { group, topic, .. } => topic_group(topic, group, SUB_UPDATE),
            Request::MaxOffset { topic, .. }
            | Request::MinOffset { topic, .. }
            | Request::SearchOffset { topic, .. }
            | Request::EarliestStoreTime { topic, .. }
            | Request::TopicConfig { topic }
            | Request::TopicStats { topic }
            | Request::ConsumedBy { topic } => vec![Check::topic(topic, GET)],
            Request::QueryByKey { topic, .. } => vec![Check::topic(topic, SUB_GET)],
            // Any topic's message, found by its offset: the cluster's.
            Request::ViewMessage { .. } => vec![Check::cluster(cluster, GET)],
            Request::Lock(l) | Request::Unlock(l) => {
                let mut checks = vec![Check::group(&l.consumer_group, SUB)];
                checks.extend(l.mq_set.iter().map(|q| Check::topic_or_retry_group(&q.topic, SUB)));
                checks
            }
            Request::CreateTopic(t) => vec![Check::topic_or_retry_group(&t.config.topic_name, CREATE)],
            Request::DeleteTopic { topic } => vec![Check::topic_or_retry_group(topic, DELETE)],
            Request::CreateGroup(g) => vec![Check::group(&g.group_name, CREATE)],
            Request::DeleteGroup { group, .. } => vec![Check::group(group, DELETE)],
            Request::GroupConfig { group }
            | Request::ConsumerConnections { group }
            | Request::ProducerConnections { group }
            | Request::ConsumerRunningInfo { group, .. } => {
                vec![Check::group(group, GET)]
            }
            Request::ConsumeStats { group, topic } => {
                let mut checks = vec![Check::group(group, GET)];
                checks.extend(topic.map(|t| Check::topic_or_retry_group(t, GET)));
                checks
            }
            Request::ResetOffset(r) => vec![Check::group(&r.group, UPDATE), Check::topic(&r.topic, UPDATE)],
            Request::AllTopicConfig
            | Request::TopicNames
            | Request::SystemTopics
            | Request::AllGroups
            | Request::AllOffsets
            | Request::AllDelayOffsets
            | Request::HaStatus
            | Request::RuntimeInfo
            | Request::BrokerConfig => {
                vec![Check::cluster(cluster, GET)]
            }
            Request::UpdateBrokerConfig(_) => vec![Check::cluster(cluster, UPDATE)],
            Request::Pop(h) => topic_group(&h.topic, &h.consumer_group, SUB),
            Request::Ack(h) | Request::ChangeInvisibleTime(h) => topic_group(&h.topic, &h.consumer_group, SUB),
            Request::BatchAck(b) => b.acks.iter().flat_map(|a| topic_group(&a.topic, &a.consumer_group, SUB)).collect(),
            Request::Notification(h) => topic_group(&h.topic, &h.consumer_group, SUB),
            Request::PollingInfo(h) => topic_group(&h.topic, &h.consumer_group, GET),
            Request::QueryAssignment(q) => topic_group(&q.topic, &q.consumer_group, SUB),
            Request::SetMessageRequestMode(m) => topic_group(&m.topic, &m.consumer_group, UPDATE),
            Request::EndTransaction(_, topic) => topic.iter().map(|t| Check::topic(t, PUB)).collect(),
            Request::Recall { topic, .. } => vec![Check::topic(topic, PUB)],
            Request::Auth(a) => match a {
                AuthAdmin::GetUser { .. } | AuthAdmin::ListUsers { .. } | AuthAdmin::GetAcl { .. } | AuthAdmin::ListAcls { .. } => {
                    vec![Check::cluster(cluster, GET)]
                }
                _ => vec![Check::cluster(cluster, UPDATE)],
            },
        }
    }
}

const PUB: &[Action] = &[Action::Pub];
const SUB: &[Action] = &[Action::Sub];
const GET: &[Action] = &[Action::Get];
const SUB_GET: &[Action] = &[Action::Sub, Action::Get];
const SUB_UPDATE: &[Action] = &[Action::Sub, Action::Update];
const CREATE: &[Action] = &[Action::Create];
const UPDATE: &[Action] = &[Action::Update];
const DELETE: &[Action] = &[Action::Delete];

fn auth_admin(cmd: &RemotingCommand) -> BrokerResult<AuthAdmin<'_>> {
    let ext = &cmd.ext_fields;
    let field = |name: &str| ext.raw(name);
    let json = |what: &str| -> BrokerResult<Option<serde_json::Value>> {
        if cmd.body.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&cmd.body).map(Some).map_err(|e| BrokerError::invalid(format!("the {what} body is not valid JSON: {e}")))
    };
    let user = || -> BrokerResult<UserInfo> {
        let v = json("user")?.ok_or_else(|| BrokerError::invalid("the user body is missing"))?;
        serde_json::from_value(v).map_err(|e| BrokerError::invalid(format!("the user body is not a UserInfo: {e}")))
    };
    let acl = || -> BrokerResult<Option<AclInfo>> {
        json("acl")?.map(|v| serde_json::from_value(v).map_err(|e| BrokerError::invalid(format!("the acl body is not an AclInfo: {e}")))).transpose()
    };
    Ok(match cmd.code {
        rq::AUTH_CREATE_USER => AuthAdmin::CreateUser { username: field("username"), info: user()? },
        rq::AUTH_UPDATE_USER => AuthAdmin::UpdateUser { username: field("username"), info: user()? },
        rq::AUTH_DELETE_USER => AuthAdmin::DeleteUser { username: field("username") },
        rq::AUTH_GET_USER => AuthAdmin::GetUser { username: field("username") },
        rq::AUTH_LIST_USER => AuthAdmin::ListUsers { filter: field("filter") },
        rq::AUTH_CREATE_ACL | rq::AUTH_UPDATE_ACL => AuthAdmin::UpsertAcl { subject: field("subject"), info: acl()? },
        rq::AUTH_DELETE_ACL => AuthAdmin::DeleteAcl { subject: field("subject"), policy_type: field("policyType"), resource: field("resource") },
        rq::AUTH_GET_ACL => AuthAdmin::GetAcl { subject: field("subject") },
        _ => AuthAdmin::ListAcls { subject_filter: field("subjectFilter"), resource_filter: field("resourceFilter") },
    })
}

fn send_request(cmd: &RemotingCommand, v2: bool, peer: SocketAddr) -> BrokerResult<SendRequest<'_>> {
    let header = SendMessageRequestHeader::decode(&cmd.ext_fields, v2)?;
    Ok(SendRequest { header, body: cmd.body.clone(), batch: cmd.code == rq::SEND_BATCH_MESSAGE, born_host: peer, auto_create: true })
}

fn create_topic(cmd: &RemotingCommand) -> BrokerResult<CreateTopic> {
    let ext = &cmd.ext_fields;
    let topic = ext.req_str("topic")?;
    // The name is checked before the other fields, as it always was.
    protocol::names::validate_topic(topic).map_err(BrokerError::invalid)?;
    let config = protocol::body::TopicConfig {
        topic_name: topic.to_string(),
        read_queue_nums: ext.req("readQueueNums")?,
        write_queue_nums: ext.req("writeQueueNums")?,
        perm: ext.req("perm")?,
        topic_filter_type: ext.raw("topicFilterType").unwrap_or("SINGLE_TAG").to_string(),
        topic_sys_flag: ext.opt("topicSysFlag")?.unwrap_or(0),
        order: ext.flag("order"),
        attributes: Default::default(),
    };
    Ok(CreateTopic { config, attributes: ext.raw("attributes").unwrap_or("").to_string() })
}
