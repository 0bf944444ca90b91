//! The client's calls: routes, send and batch, pull, consumer offsets, topic creation, and
//! raw invocations of brokers and NameServers (POP is in `pop.rs`, transactions in
//! `transaction.rs`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use protocol::body::{self, TopicConfig, TopicRouteData};
use protocol::codes::{request as rq, response as rs};
use protocol::header::{Fields, PullMessageRequestHeader, PullMessageResponseHeader, SendMessageRequestHeader, SendMessageResponseHeader};
use protocol::message::{decode_records, encode_batch, hex_upper, prop, BatchItem, MessageRecord, Properties};
use protocol::{LanguageCode, ProtocolError, RemotingCommand};
use remoting::RemotingError;
use thiserror::Error;

use crate::pool::{ConnectionPool, IgnoreRequests};

#[derive(Debug, Error)]
pub enum ClientError {
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    #[error("server answered code {code}: {remark}")]
    Server { code: i32, remark: String },
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("no name server could be reached")]
    NoNameServer,
}

#[derive(Debug, Clone)]
pub struct SendResult {
    pub msg_id: String,
    pub offset_msg_id: String,
    pub queue_id: i32,
    pub queue_offset: i64,
}

#[derive(Debug, Clone)]
pub struct PullResult {
    /// SUCCESS, PULL_NOT_FOUND, PULL_RETRY_IMMEDIATELY or PULL_OFFSET_MOVED.
    pub code: i32,
    pub header: PullMessageResponseHeader,
    pub messages: Vec<MessageRecord>,
}

/// A pull answer with its records undecoded.
pub struct RawPullResult {
    pub code: i32,
    pub header: PullMessageResponseHeader,
    pub records: Bytes,
}

pub struct Client {
    pool: ConnectionPool,
    namesrv_addrs: Vec<String>,
    pub timeout: Duration,
    pub producer_group: String,
    uniq_prefix: String,
    uniq_counter: AtomicU32,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Client {
    pub fn new(namesrv_addrs: Vec<String>) -> Client {
        let pid = std::process::id();
        Client {
            pool: ConnectionPool::new(Arc::new(IgnoreRequests)),
            namesrv_addrs,
            timeout: Duration::from_secs(10),
            producer_group: "rocketry_client".into(),
            uniq_prefix: hex_upper(&[&[127u8, 0, 0, 1][..], &(pid as u16).to_be_bytes(), &(now_ms() as u32).to_be_bytes()].concat()),
            uniq_counter: AtomicU32::new(0),
        }
    }

    /// Connections over TLS (`None`: plaintext).
    pub fn with_tls(mut self, tls: Option<remoting::tls::ClientTls>) -> Client {
        self.pool.set_tls(tls);
        self
    }

    /// Requests signed as an ACL 2.0 user (`None`: unsigned).
    pub fn with_credentials(mut self, credentials: Option<crate::Credentials>) -> Client {
        self.pool.set_credentials(credentials);
        self
    }

    pub fn pool(&self) -> &ConnectionPool {
        &self.pool
    }

    /// A client-side message id in the shape of `MessageClientIDSetter` ids.
    pub fn next_uniq_key(&self) -> String {
        let n = self.uniq_counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{}", self.uniq_prefix, hex_upper(&n.to_be_bytes()))
    }

    pub(crate) fn request(code: i32) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(code);
        cmd.language = LanguageCode::RUST;
        cmd
    }

    /// Sends a request and returns the response whatever its code.
    pub async fn invoke(&self, addr: &str, mut cmd: RemotingCommand) -> Result<RemotingCommand, ClientError> {
        cmd.language = LanguageCode::RUST;
        Ok(self.pool.invoke(addr, cmd, self.timeout).await?)
    }

    /// Sends a request and fails unless the response is SUCCESS.
    pub async fn invoke_ok(&self, addr: &str, cmd: RemotingCommand) -> Result<RemotingCommand, ClientError> {
        let resp = self.invoke(addr, cmd).await?;
        if resp.code != rs::SUCCESS {
            return Err(ClientError::Server { code: resp.code, remark: resp.remark.unwrap_or_default() });
        }
        Ok(resp)
    }

    /// The NameServers this client asks.
    pub fn namesrv_addrs(&self) -> &[String] {
        &self.namesrv_addrs
    }

    /// Asks each name server in turn.
    pub async fn invoke_namesrv(&self, cmd: RemotingCommand) -> Result<RemotingCommand, ClientError> {
        let mut last = ClientError::NoNameServer;
        for addr in &self.namesrv_addrs {
            match self.invoke(addr, cmd.clone()).await {
                Ok(r) => return Ok(r),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    pub async fn route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        let resp = self.invoke_namesrv(Self::request(rq::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic)).await?;
        if resp.code != rs::SUCCESS {
            return Err(ClientError::Server { code: resp.code, remark: resp.remark.unwrap_or_default() });
        }
        Ok(body::decode(&resp.body)?)
    }

    /// The NameServer's cluster table (GET_BROKER_CLUSTER_INFO).
    pub async fn cluster_info(&self) -> Result<protocol::body::ClusterInfo, ClientError> {
        let resp = self.invoke_namesrv(Self::request(rq::GET_BROKER_CLUSTER_INFO)).await?;
        if resp.code != rs::SUCCESS {
            return Err(ClientError::Server { code: resp.code, remark: resp.remark.unwrap_or_default() });
        }
        Ok(body::decode_fastjson(&resp.body)?)
    }

    /// Master address of `broker_name` in a route.
    pub fn master_addr(route: &TopicRouteData, broker_name: &str) -> Option<String> {
        route.broker_datas.iter().find(|b| b.broker_name == broker_name)?.broker_addrs.get(&0).cloned()
    }

    fn send_header<'a>(&'a self, topic: &'a str, queue_id: i32, properties: String, batch: bool) -> SendMessageRequestHeader<'a> {
        SendMessageRequestHeader {
            producer_group: self.producer_group.as_str().into(),
            topic: topic.into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id,
            born_timestamp: now_ms(),
            properties: properties.into(),
            batch,
            ..Default::default()
        }
    }

    fn send_result(&self, resp: RemotingCommand, msg_id: String) -> Result<SendResult, ClientError> {
        if resp.code != rs::SUCCESS {
            return Err(ClientError::Server { code: resp.code, remark: resp.remark.unwrap_or_default() });
        }
        let h = SendMessageResponseHeader::decode(&resp.ext_fields)?;
        Ok(SendResult { msg_id, offset_msg_id: h.msg_id, queue_id: h.queue_id, queue_offset: h.queue_offset })
    }

    /// SEND_MESSAGE_V2 of one message; a UNIQ_KEY is added when missing.
    pub async fn send(&self, broker_addr: &str, topic: &str, queue_id: i32, body: Bytes, props: Properties) -> Result<SendResult, ClientError> {
        self.send_flagged(broker_addr, topic, queue_id, body, props, 0).await
    }

    /// SEND_MESSAGE_V2 with `MessageSysFlag` bits in its header.
    pub(crate) async fn send_flagged(
        &self,
        broker_addr: &str,
        topic: &str,
        queue_id: i32,
        body: Bytes,
        mut props: Properties,
        sys_flag: i32,
    ) -> Result<SendResult, ClientError> {
        let uniq = match props.get(prop::UNIQ_KEY) {
            Some(u) => u.to_string(),
            None => {
                let u = self.next_uniq_key();
                props.set(prop::UNIQ_KEY, u.clone());
                u
            }
        };
        let mut cmd = Self::request(rq::SEND_MESSAGE_V2).with_body(body);
        let header = SendMessageRequestHeader { sys_flag, ..self.send_header(topic, queue_id, props.encode(), false) };
        header.encode_v2(&mut cmd.ext_fields);
        let resp = self.invoke(broker_addr, cmd).await?;
        self.send_result(resp, uniq)
    }

    /// SEND_BATCH_MESSAGE; each item gets a UNIQ_KEY when missing.
    pub async fn send_batch(&self, broker_addr: &str, topic: &str, queue_id: i32, items: Vec<(Bytes, Properties)>) -> Result<SendResult, ClientError> {
        let mut ids = Vec::new();
        let items: Vec<BatchItem> = items
            .into_iter()
            .map(|(body, mut props)| {
                if props.get(prop::UNIQ_KEY).is_none() {
                    props.set(prop::UNIQ_KEY, self.next_uniq_key());
                }
                ids.push(props.get(prop::UNIQ_KEY).unwrap_or_default().to_string());
                BatchItem { flag: 0, body, properties: props.encode() }
            })
            .collect();
        let mut buf = BytesMut::new();
        encode_batch(&items, &mut buf);
        let mut cmd = Self::request(rq::SEND_BATCH_MESSAGE).with_body(buf.freeze());
        self.send_header(topic, queue_id, String::new(), true).encode_v2(&mut cmd.ext_fields);
        let resp = self.invoke(broker_addr, cmd).await?;
        self.send_result(resp, ids.join(","))
    }

    pub async fn pull(&self, broker_addr: &str, header: &PullMessageRequestHeader) -> Result<PullResult, ClientError> {
        let raw = self.pull_raw(broker_addr, header).await?;
        let messages = if raw.code == rs::SUCCESS { decode_records(&raw.records)? } else { Vec::new() };
        Ok(PullResult { code: raw.code, header: raw.header, messages })
    }

    /// A pull whose records are left as the broker sent them (stored records, back to back).
    pub async fn pull_raw(&self, broker_addr: &str, header: &PullMessageRequestHeader) -> Result<RawPullResult, ClientError> {
        let mut cmd = Self::request(rq::PULL_MESSAGE);
        header.encode(&mut cmd.ext_fields);
        let timeout = self.timeout + Duration::from_millis(header.suspend_timeout_ms.max(0) as u64);
        let resp = self.pool.invoke(broker_addr, cmd, timeout).await?;
        match resp.code {
            rs::SUCCESS | rs::PULL_NOT_FOUND | rs::PULL_RETRY_IMMEDIATELY | rs::PULL_OFFSET_MOVED => {}
            code => return Err(ClientError::Server { code, remark: resp.remark.unwrap_or_default() }),
        }
        let header = PullMessageResponseHeader::decode(&resp.ext_fields)?;
        let records = if resp.code == rs::SUCCESS { resp.body } else { Bytes::new() };
        Ok(RawPullResult { code: resp.code, header, records })
    }

    pub async fn create_topic(&self, broker_addr: &str, config: &TopicConfig) -> Result<(), ClientError> {
        let attrs: Vec<String> = config.attributes.iter().map(|(k, v)| format!("+{k}={v}")).collect();
        self.update_topic(broker_addr, config, (!attrs.is_empty()).then(|| attrs.join(",")).as_deref()).await
    }

    /// UPDATE_AND_CREATE_TOPIC with an attribute change in mqadmin's form (`+k=v,-k`);
    /// `config.attributes` is not sent.
    pub async fn update_topic(&self, broker_addr: &str, config: &TopicConfig, attributes: Option<&str>) -> Result<(), ClientError> {
        self.invoke_ok(broker_addr, Self::update_topic_request(config, attributes)).await.map(|_| ())
    }

    pub fn update_topic_request(config: &TopicConfig, attributes: Option<&str>) -> RemotingCommand {
        let mut cmd = Self::request(rq::UPDATE_AND_CREATE_TOPIC)
            .with_ext("topic", &config.topic_name)
            .with_ext("defaultTopic", "TBW102")
            .with_ext("readQueueNums", config.read_queue_nums)
            .with_ext("writeQueueNums", config.write_queue_nums)
            .with_ext("perm", config.perm)
            .with_ext("topicFilterType", &config.topic_filter_type)
            .with_ext("topicSysFlag", config.topic_sys_flag)
            .with_ext("order", config.order);
        if let Some(a) = attributes {
            cmd = cmd.with_ext("attributes", a);
        }
        cmd
    }

    pub async fn query_consumer_offset(&self, broker_addr: &str, group: &str, topic: &str, queue_id: i32) -> Result<Option<i64>, ClientError> {
        let cmd = Self::request(rq::QUERY_CONSUMER_OFFSET).with_ext("consumerGroup", group).with_ext("topic", topic).with_ext("queueId", queue_id);
        let resp = self.invoke(broker_addr, cmd).await?;
        match resp.code {
            rs::SUCCESS => Ok(Some(resp.ext_fields.req("offset")?)),
            rs::QUERY_NOT_FOUND => Ok(None),
            code => Err(ClientError::Server { code, remark: resp.remark.unwrap_or_default() }),
        }
    }

    pub async fn update_consumer_offset(&self, broker_addr: &str, group: &str, topic: &str, queue_id: i32, offset: i64) -> Result<(), ClientError> {
        let cmd = Self::request(rq::UPDATE_CONSUMER_OFFSET)
            .with_ext("consumerGroup", group)
            .with_ext("topic", topic)
            .with_ext("queueId", queue_id)
            .with_ext("commitOffset", offset);
        self.invoke_ok(broker_addr, cmd).await.map(|_| ())
    }

    pub fn close(&self) {
        self.pool.close_all();
    }
}
