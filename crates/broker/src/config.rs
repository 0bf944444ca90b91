//! broker.conf: Java properties with the Java broker's key names and defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use store::FlushMode;

/// Keys the Java broker knows that Rocketry accepts but does not act on yet.
const ACCEPTED_UNUSED_KEYS: &[&str] = &[
    "brokerIP2",
    "brokerRole",
    "haListenPort",
    "sendMessageThreadPoolNums",
    "pullMessageThreadPoolNums",
    "useReentrantLockWhenPutMessage",
    "slaveReadEnable",
    "transientStorePoolEnable",
    "enablePropertyFilter",
    "aclEnable",
    "timerWheelEnable",
    "enableDLegerCommitLog",
    "enableControllerMode",
    "storePathCommitLog",
    "rocketmqHome",
    "transactionTimeOut",
    "transactionCheckMax",
    "transactionCheckInterval",
    "serverWorkerThreads",
    "clientWorkerThreads",
];

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub broker_cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub namesrv_addr: Option<String>,
    pub broker_ip1: String,
    pub listen_port: u16,
    pub store_path_root_dir: PathBuf,
    pub flush_disk_type: FlushMode,
    pub auto_create_topic_enable: bool,
    pub auto_create_subscription_group: bool,
    pub default_topic_queue_nums: i32,
    pub cluster_topic_enable: bool,
    pub broker_topic_enable: bool,
    pub trace_topic_enable: bool,
    pub msg_trace_topic_name: String,
    pub broker_permission: i32,
    pub region_id: String,
    pub trace_on: bool,
    pub mapped_file_size_commit_log: u64,
    pub mapped_file_size_consume_queue: u64,
    pub max_message_size: usize,
    pub flush_interval_commit_log_ms: u64,
    pub sync_flush_timeout_ms: u64,
    pub register_name_server_period_ms: u64,
    pub long_polling_enable: bool,
    pub short_polling_time_mills: u64,
    pub max_transfer_count_on_message_in_memory: usize,
    pub max_transfer_bytes_on_message_in_memory: usize,
    pub channel_expired_timeout_ms: u64,
    pub flush_consumer_offset_interval_ms: u64,
    pub server_channel_max_idle_time_seconds: u64,
    /// Rocketry limits (no Java counterpart).
    pub frame_max_bytes: usize,
    pub max_batch_messages: usize,
    pub max_connections: usize,
    pub max_parked_pulls: usize,
    /// `maxPullHoldMillis` (ours): the longest a long-polling pull is held, whatever
    /// `suspendTimeoutMillis` it asks for (the Java client asks 15 s; the Java broker has no cap).
    pub max_pull_hold_millis: u64,
    pub append_queue_depth: usize,
    pub connection_write_queue_bytes: usize,
    pub connection_max_inflight_requests: usize,
    /// How long a send may wait for room in the append queue before SYSTEM_BUSY (0 = forever).
    pub wait_time_mills_in_send_queue: u64,
    pub truncate_corrupt_commit_log: bool,
    pub check_crc_on_read: bool,
    /// Bytes of CommitLog pages brought into the page cache ahead of the appender (0 = off;
    /// `None`, "auto": see `MemoryCost`).
    pub warm_commit_log_ahead_bytes: Option<u64>,
    /// Bytes of the CommitLog behind the write end kept in the page cache (0 = the kernel
    /// decides; `None`, "auto": see `MemoryCost`).
    pub commit_log_cache_window_bytes: Option<u64>,
    pub check_crc_on_recover: bool,
    /// Hours a CommitLog file is kept.
    pub file_reserved_time_hours: u64,
    pub delete_when: Vec<u32>,
    /// Percent, as in RocketMQ.
    pub disk_max_used_space_ratio: u32,
    pub disk_space_clean_forcibly_ratio: f64,
    pub disk_space_warning_level_ratio: f64,
    pub delete_file_batch_max: usize,
    pub clean_resource_interval_ms: u64,
    pub disk_capacity_bytes: Option<u64>,
    pub delay_levels: crate::put::DelayLevels,
    /// INVOKE_BROKER_TO_RESET_OFFSET resets offsets on the broker (true, as RocketMQ 5) or pushes
    /// RESET_CONSUMER_CLIENT_OFFSET to the group's online clients (false, the RocketMQ 4 way).
    pub use_server_side_reset_offset: bool,
    /// Percent of physical memory counted as page cache when deciding whether a queue's first
    /// message is still "in memory" (a new group then starts at 0, as in RocketMQ).
    pub access_message_in_memory_max_ratio: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        BrokerConfig {
            broker_cluster_name: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_id: 0,
            namesrv_addr: std::env::var("NAMESRV_ADDR").ok().filter(|s| !s.is_empty()),
            broker_ip1: "127.0.0.1".into(),
            listen_port: 10911,
            store_path_root_dir: home.join("store"),
            flush_disk_type: FlushMode::Async,
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            default_topic_queue_nums: 8,
            cluster_topic_enable: true,
            broker_topic_enable: true,
            trace_topic_enable: false,
            msg_trace_topic_name: "RMQ_SYS_TRACE_TOPIC".into(),
            broker_permission: 6,
            region_id: "DefaultRegion".into(),
            trace_on: true,
            mapped_file_size_commit_log: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue: 300_000 * 20,
            max_message_size: 4 * 1024 * 1024,
            flush_interval_commit_log_ms: 500,
            sync_flush_timeout_ms: 5000,
            register_name_server_period_ms: 30_000,
            long_polling_enable: true,
            short_polling_time_mills: 1000,
            max_transfer_count_on_message_in_memory: 32,
            max_transfer_bytes_on_message_in_memory: 256 * 1024,
            channel_expired_timeout_ms: 120_000,
            flush_consumer_offset_interval_ms: 5000,
            server_channel_max_idle_time_seconds: 120,
            frame_max_bytes: protocol::frame::DEFAULT_FRAME_MAX_BYTES,
            max_batch_messages: 1024,
            max_connections: 10_000,
            max_parked_pulls: 100_000,
            max_pull_hold_millis: 60_000,
            append_queue_depth: 16_384,
            connection_write_queue_bytes: 64 * 1024 * 1024,
            connection_max_inflight_requests: 16_384,
            wait_time_mills_in_send_queue: 200,
            truncate_corrupt_commit_log: false,
            check_crc_on_read: false,
            warm_commit_log_ahead_bytes: None,
            commit_log_cache_window_bytes: None,
            check_crc_on_recover: true,
            file_reserved_time_hours: 72,
            delete_when: vec![4],
            disk_max_used_space_ratio: 75,
            disk_space_clean_forcibly_ratio: 0.85,
            disk_space_warning_level_ratio: 0.90,
            delete_file_batch_max: 10,
            clean_resource_interval_ms: 10_000,
            disk_capacity_bytes: None,
            delay_levels: crate::put::DelayLevels::default(),
            use_server_side_reset_offset: true,
            access_message_in_memory_max_ratio: 40,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid value `{value}` for broker config key `{key}`: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// Parses Java properties text: `key=value` or `key: value`, `#`/`!` comments.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).unwrap_or(line.len());
        let (key, value) = line.split_at(split);
        let value = value.get(1..).unwrap_or("");
        out.insert(key.trim().to_string(), value.trim().to_string());
    }
    out
}

fn parse<T: FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| ConfigError { key: key.into(), value: value.into(), reason: e.to_string() })
}

/// A number, or `auto` (`None`): the broker picks for the machine it runs on.
fn parse_auto(key: &str, value: &str) -> Result<Option<u64>, ConfigError> {
    if value.eq_ignore_ascii_case("auto") {
        Ok(None)
    } else {
        value.parse().map(Some).map_err(|e| ConfigError { key: key.into(), value: value.into(), reason: format!("{e}: expected a number of bytes or auto") })
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError { key: key.into(), value: value.into(), reason: "expected true or false".into() }),
    }
}

impl BrokerConfig {
    /// Applies properties over the current values. Unknown keys are returned for a
    /// warning; a bad value is an error naming its key.
    pub fn apply(&mut self, props: &BTreeMap<String, String>) -> Result<Vec<String>, ConfigError> {
        let mut unknown = Vec::new();
        for (k, v) in props {
            let k = k.as_str();
            let v = v.as_str();
            match k {
                "brokerClusterName" => self.broker_cluster_name = v.into(),
                "brokerName" => self.broker_name = v.into(),
                "brokerId" => self.broker_id = parse(k, v)?,
                "namesrvAddr" => self.namesrv_addr = Some(v.to_string()).filter(|s| !s.is_empty()),
                "brokerIP1" => self.broker_ip1 = v.into(),
                "listenPort" => self.listen_port = parse(k, v)?,
                "storePathRootDir" => self.store_path_root_dir = PathBuf::from(v),
                "flushDiskType" => {
                    self.flush_disk_type = match v {
                        "ASYNC_FLUSH" => FlushMode::Async,
                        "SYNC_FLUSH" => FlushMode::Sync,
                        _ => return Err(ConfigError { key: k.into(), value: v.into(), reason: "expected ASYNC_FLUSH or SYNC_FLUSH".into() }),
                    }
                }
                "autoCreateTopicEnable" => self.auto_create_topic_enable = parse_bool(k, v)?,
                "autoCreateSubscriptionGroup" => self.auto_create_subscription_group = parse_bool(k, v)?,
                "defaultTopicQueueNums" => self.default_topic_queue_nums = parse(k, v)?,
                "clusterTopicEnable" => self.cluster_topic_enable = parse_bool(k, v)?,
                "brokerTopicEnable" => self.broker_topic_enable = parse_bool(k, v)?,
                "traceTopicEnable" => self.trace_topic_enable = parse_bool(k, v)?,
                "msgTraceTopicName" => self.msg_trace_topic_name = v.into(),
                "brokerPermission" => self.broker_permission = parse(k, v)?,
                "regionId" => self.region_id = v.into(),
                "traceOn" => self.trace_on = parse_bool(k, v)?,
                "mappedFileSizeCommitLog" => self.mapped_file_size_commit_log = parse(k, v)?,
                "mappedFileSizeConsumeQueue" => self.mapped_file_size_consume_queue = parse(k, v)?,
                "maxMessageSize" => self.max_message_size = parse(k, v)?,
                "flushIntervalCommitLog" => self.flush_interval_commit_log_ms = parse(k, v)?,
                "syncFlushTimeout" => self.sync_flush_timeout_ms = parse(k, v)?,
                "registerNameServerPeriod" => self.register_name_server_period_ms = parse(k, v)?,
                "longPollingEnable" => self.long_polling_enable = parse_bool(k, v)?,
                "shortPollingTimeMills" => self.short_polling_time_mills = parse(k, v)?,
                "maxTransferCountOnMessageInMemory" => self.max_transfer_count_on_message_in_memory = parse(k, v)?,
                "maxTransferBytesOnMessageInMemory" => self.max_transfer_bytes_on_message_in_memory = parse(k, v)?,
                "channelExpiredTimeout" => self.channel_expired_timeout_ms = parse(k, v)?,
                "flushConsumerOffsetInterval" => self.flush_consumer_offset_interval_ms = parse(k, v)?,
                "serverChannelMaxIdleTimeSeconds" => self.server_channel_max_idle_time_seconds = parse(k, v)?,
                "frameMaxLength" => self.frame_max_bytes = parse(k, v)?,
                "maxBatchMessages" => self.max_batch_messages = parse(k, v)?,
                "maxConnections" => self.max_connections = parse(k, v)?,
                "maxParkedPulls" => self.max_parked_pulls = parse(k, v)?,
                "maxPullHoldMillis" => self.max_pull_hold_millis = parse(k, v)?,
                "appendQueueDepth" => self.append_queue_depth = parse(k, v)?,
                "connectionWriteQueueBytes" => self.connection_write_queue_bytes = parse(k, v)?,
                "waitTimeMillsInSendQueue" => self.wait_time_mills_in_send_queue = parse(k, v)?,
                "connectionMaxInflightRequests" => self.connection_max_inflight_requests = parse(k, v)?,
                "truncateCorruptCommitLog" => self.truncate_corrupt_commit_log = parse_bool(k, v)?,
                "checkCrcOnRead" => self.check_crc_on_read = parse_bool(k, v)?,
                "warmCommitLogAheadBytes" => self.warm_commit_log_ahead_bytes = parse_auto(k, v)?,
                "commitLogCacheWindowBytes" => self.commit_log_cache_window_bytes = parse_auto(k, v)?,
                "checkCRCOnRecover" => self.check_crc_on_recover = parse_bool(k, v)?,
                "fileReservedTime" => self.file_reserved_time_hours = parse(k, v)?,
                "deleteWhen" => {
                    self.delete_when = store::retention::parse_delete_when(v).map_err(|reason| ConfigError { key: k.into(), value: v.into(), reason })?
                }
                "diskMaxUsedSpaceRatio" => self.disk_max_used_space_ratio = parse(k, v)?,
                "diskSpaceCleanForciblyRatio" => self.disk_space_clean_forcibly_ratio = parse(k, v)?,
                "diskSpaceWarningLevelRatio" => self.disk_space_warning_level_ratio = parse(k, v)?,
                "deleteFileBatchMax" => self.delete_file_batch_max = parse(k, v)?,
                "cleanResourceInterval" => self.clean_resource_interval_ms = parse(k, v)?,
                "messageDelayLevel" => {
                    self.delay_levels = crate::put::DelayLevels::parse(v).map_err(|reason| ConfigError { key: k.into(), value: v.into(), reason })?
                }
                "useServerSideResetOffset" => self.use_server_side_reset_offset = parse_bool(k, v)?,
                "accessMessageInMemoryMaxRatio" => self.access_message_in_memory_max_ratio = parse(k, v)?,
                "diskCapacityBytes" => self.disk_capacity_bytes = Some(parse(k, v)?).filter(|c| *c > 0),
                _ if ACCEPTED_UNUSED_KEYS.contains(&k) => tracing::info!(key = k, "broker config key accepted but not used yet"),
                _ => unknown.push(k.to_string()),
            }
        }
        self.validate()?;
        Ok(unknown)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, reason: &str| Err(ConfigError { key: key.into(), value, reason: reason.into() });
        if self.broker_name.is_empty() {
            return bad("brokerName", String::new(), "must not be empty");
        }
        if self.default_topic_queue_nums < 1 {
            return bad("defaultTopicQueueNums", self.default_topic_queue_nums.to_string(), "must be at least 1");
        }
        if self.mapped_file_size_commit_log < 64 * 1024 {
            return bad("mappedFileSizeCommitLog", self.mapped_file_size_commit_log.to_string(), "must be at least 65536");
        }
        if self.mapped_file_size_consume_queue < 20 || !self.mapped_file_size_consume_queue.is_multiple_of(20) {
            return bad("mappedFileSizeConsumeQueue", self.mapped_file_size_consume_queue.to_string(), "must be a positive multiple of 20");
        }
        if self.max_message_size == 0 || self.max_message_size as u64 + 64 * 1024 > self.mapped_file_size_commit_log {
            return bad("maxMessageSize", self.max_message_size.to_string(), "must be positive and fit in a CommitLog file");
        }
        if !(1..=99).contains(&self.disk_max_used_space_ratio) {
            return bad("diskMaxUsedSpaceRatio", self.disk_max_used_space_ratio.to_string(), "must be a percentage 1-99");
        }
        for (key, v) in
            [("diskSpaceCleanForciblyRatio", self.disk_space_clean_forcibly_ratio), ("diskSpaceWarningLevelRatio", self.disk_space_warning_level_ratio)]
        {
            if !(0.01..=0.99).contains(&v) {
                return bad(key, v.to_string(), "must be a ratio between 0.01 and 0.99");
            }
        }
        if self.access_message_in_memory_max_ratio > 100 {
            return bad("accessMessageInMemoryMaxRatio", self.access_message_in_memory_max_ratio.to_string(), "must be a percentage 0-100");
        }
        if self.frame_max_bytes < 1024 {
            return bad("frameMaxLength", self.frame_max_bytes.to_string(), "must be at least 1024");
        }
        Ok(())
    }

    pub fn broker_addr(&self) -> String {
        format!("{}:{}", self.broker_ip1, self.listen_port)
    }

    /// The store's settings, with `auto` ones decided for a machine where new memory costs
    /// `cost`.
    pub fn store_config_for(&self, cost: MemoryCost) -> store::StoreConfig {
        let mut c = store::StoreConfig::new(&self.store_path_root_dir);
        c.commit_log_file_bytes = self.mapped_file_size_commit_log;
        c.consume_queue_file_entries = self.mapped_file_size_consume_queue / 20;
        c.flush_mode = self.flush_disk_type;
        c.flush_interval = std::time::Duration::from_millis(self.flush_interval_commit_log_ms);
        c.sync_flush_timeout = std::time::Duration::from_millis(self.sync_flush_timeout_ms);
        c.append_queue_depth = self.append_queue_depth;
        c.append_wait = Some(std::time::Duration::from_millis(self.wait_time_mills_in_send_queue)).filter(|d| !d.is_zero());
        c.max_transfer_count = self.max_transfer_count_on_message_in_memory;
        c.max_transfer_bytes = self.max_transfer_bytes_on_message_in_memory;
        c.truncate_corrupt = self.truncate_corrupt_commit_log;
        c.check_crc_on_read = self.check_crc_on_read;
        c.warm_ahead_bytes = self.warm_commit_log_ahead_bytes.unwrap_or_else(|| cost.warm_ahead_bytes());
        c.cache_window_bytes = self.commit_log_cache_window_bytes.unwrap_or_else(|| cost.cache_window_bytes());
        c.check_crc_on_recover = self.check_crc_on_recover;
        c.retention = store::RetentionPolicy {
            file_reserved_time: std::time::Duration::from_secs(self.file_reserved_time_hours * 3600),
            delete_when_hours: self.delete_when.clone(),
            disk_max_used_space_ratio: self.disk_max_used_space_ratio as f64 / 100.0,
            disk_space_clean_forcibly_ratio: self.disk_space_clean_forcibly_ratio,
            disk_space_warning_level_ratio: self.disk_space_warning_level_ratio,
            delete_file_batch_max: self.delete_file_batch_max.max(1),
        };
        c.clean_interval = std::time::Duration::from_millis(self.clean_resource_interval_ms.max(10));
        c.disk_capacity_bytes = self.disk_capacity_bytes;
        c
    }

    /// The properties text GET_BROKER_CONFIG answers with.
    pub fn to_properties(&self) -> String {
        let flush = match self.flush_disk_type {
            FlushMode::Async => "ASYNC_FLUSH",
            FlushMode::Sync => "SYNC_FLUSH",
        };
        [
            ("brokerClusterName", self.broker_cluster_name.clone()),
            ("brokerName", self.broker_name.clone()),
            ("brokerId", self.broker_id.to_string()),
            ("namesrvAddr", self.namesrv_addr.clone().unwrap_or_default()),
            ("brokerIP1", self.broker_ip1.clone()),
            ("listenPort", self.listen_port.to_string()),
            ("storePathRootDir", self.store_path_root_dir.display().to_string()),
            ("flushDiskType", flush.to_string()),
            ("autoCreateTopicEnable", self.auto_create_topic_enable.to_string()),
            ("autoCreateSubscriptionGroup", self.auto_create_subscription_group.to_string()),
            ("defaultTopicQueueNums", self.default_topic_queue_nums.to_string()),
            ("brokerPermission", self.broker_permission.to_string()),
            ("mappedFileSizeCommitLog", self.mapped_file_size_commit_log.to_string()),
            ("mappedFileSizeConsumeQueue", self.mapped_file_size_consume_queue.to_string()),
            ("maxMessageSize", self.max_message_size.to_string()),
            ("brokerRole", "ASYNC_MASTER".to_string()),
            ("regionId", self.region_id.clone()),
            ("traceOn", self.trace_on.to_string()),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
    }
}

/// What new page-cache memory costs here, which decides the "auto" CommitLog cache settings.
///
/// A VM whose balloon device reports free pages to its host (virtio `REPORTING` feature) gets
/// every reported page back only through a host fault on first touch: on the machine in
/// BENCHMARKS.md about 10 µs per 4 KiB page, 400 MB/s of new page cache per core, against
/// 5.7 GB/s into recycled memory. There the broker recycles its own page cache instead of
/// growing it: a window of the newest 4 GiB of the CommitLog (at most a quarter of the
/// memory) stays cached, and until the window fills an idle-priority thread prepares pages
/// ahead of the appender. Elsewhere the kernel decides, as for the Java broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryCost {
    pub free_pages_reported_to_host: bool,
    pub total_memory_bytes: u64,
}

impl MemoryCost {
    pub fn of_this_machine() -> MemoryCost {
        MemoryCost { free_pages_reported_to_host: free_pages_reported_to_host(), total_memory_bytes: crate::total_memory_bytes() }
    }

    pub fn cache_window_bytes(&self) -> u64 {
        if self.free_pages_reported_to_host {
            (4u64 << 30).min(self.total_memory_bytes / 4)
        } else {
            0
        }
    }

    pub fn warm_ahead_bytes(&self) -> u64 {
        if self.free_pages_reported_to_host {
            64 << 20
        } else {
            0
        }
    }
}

/// Whether a virtio balloon device with free page reporting (feature bit 5) is bound: the
/// `features` file in sysfs lists the negotiated bits as '0'/'1' characters, bit 0 first.
fn free_pages_reported_to_host() -> bool {
    let Ok(devices) = std::fs::read_dir("/sys/bus/virtio/drivers/virtio_balloon") else { return false };
    devices.flatten().any(|d| std::fs::read_to_string(d.path().join("features")).is_ok_and(|f| reports_free_pages(&f)))
}

fn reports_free_pages(features: &str) -> bool {
    const VIRTIO_BALLOON_F_REPORTING: usize = 5;
    features.as_bytes().get(VIRTIO_BALLOON_F_REPORTING) == Some(&b'1')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_keys_and_errors() {
        let mut c = BrokerConfig::default();
        let props = parse_properties("# comment\nbrokerName = broker-b\nlistenPort:10921\nflushDiskType=SYNC_FLUSH\nnoSuchKey=1\n");
        let unknown = c.apply(&props).unwrap();
        assert_eq!(unknown, vec!["noSuchKey".to_string()]);
        assert_eq!((c.broker_name.as_str(), c.listen_port, c.flush_disk_type), ("broker-b", 10921, FlushMode::Sync));
        let err = c.apply(&parse_properties("listenPort=abc")).unwrap_err();
        assert_eq!(err.key, "listenPort");
        let err = c.apply(&parse_properties("flushDiskType=SOMETIMES")).unwrap_err();
        assert_eq!(err.key, "flushDiskType");
    }

    /// Found by the `config` fuzz target: a delay level ending in a multi-byte character
    /// panicked (a string split inside a character), and huge levels overflowed.
    #[test]
    fn fuzz_regressions_are_errors_not_panics() {
        let crash =
            String::from_utf8_lossy(&[109, 101, 115, 115, 97, 103, 101, 68, 101, 108, 97, 121, 76, 101, 118, 101, 108, 58, 255, 235, 255, 10, 58]).into_owned();
        let err = BrokerConfig::default().apply(&parse_properties(&crash)).unwrap_err();
        assert_eq!(err.key, "messageDelayLevel");
        for bad in ["1é", "é", "99999999999999999d", "s"] {
            let err = BrokerConfig::default().apply(&parse_properties(&format!("messageDelayLevel={bad}"))).unwrap_err();
            assert_eq!(err.key, "messageDelayLevel", "{bad}");
        }
        assert!(BrokerConfig::default().apply(&parse_properties("messageDelayLevel=1s 2m 3h 1d")).is_ok());
    }

    #[test]
    fn commit_log_cache_settings_are_numbers_or_auto() {
        let mut c = BrokerConfig::default();
        c.apply(&parse_properties("commitLogCacheWindowBytes=1048576\nwarmCommitLogAheadBytes=0")).unwrap();
        assert_eq!((c.commit_log_cache_window_bytes, c.warm_commit_log_ahead_bytes), (Some(1 << 20), Some(0)));
        let vm = MemoryCost { free_pages_reported_to_host: true, total_memory_bytes: 24 << 30 };
        let s = c.store_config_for(vm);
        assert_eq!((s.cache_window_bytes, s.warm_ahead_bytes), (1 << 20, 0), "numbers override auto");
        c.apply(&parse_properties("commitLogCacheWindowBytes=AUTO\nwarmCommitLogAheadBytes=auto")).unwrap();
        assert_eq!((c.commit_log_cache_window_bytes, c.warm_commit_log_ahead_bytes), (None, None));
        let s = c.store_config_for(vm);
        assert_eq!((s.cache_window_bytes, s.warm_ahead_bytes), (vm.cache_window_bytes(), vm.warm_ahead_bytes()));
        let err = c.apply(&parse_properties("commitLogCacheWindowBytes=-1")).unwrap_err();
        assert_eq!(err.key, "commitLogCacheWindowBytes");
    }

    #[test]
    fn auto_cache_settings_follow_what_new_memory_costs() {
        let gib = 1u64 << 30;
        let vm = |total| MemoryCost { free_pages_reported_to_host: true, total_memory_bytes: total };
        assert_eq!((vm(24 * gib).cache_window_bytes(), vm(24 * gib).warm_ahead_bytes()), (4 * gib, 64 << 20));
        assert_eq!(vm(8 * gib).cache_window_bytes(), 2 * gib, "at most a quarter of the memory");
        let metal = MemoryCost { free_pages_reported_to_host: false, total_memory_bytes: 24 * gib };
        assert_eq!((metal.cache_window_bytes(), metal.warm_ahead_bytes()), (0, 0));
        // sysfs lists negotiated feature bits as characters, bit 0 first; REPORTING is bit 5.
        assert!(reports_free_pages("0110010100000000000000000000000010000000\n"));
        assert!(!reports_free_pages("0110000100000000000000000000000010000000\n"));
        assert!(!reports_free_pages("011"));
    }
}
