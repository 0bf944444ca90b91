//! broker.conf: Java properties with the Java broker's key names and defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use store::FlushMode;

pub use crate::runtime::BrokerRole;

/// Declares every broker.conf key once: its field, type, default, Java key name and codec (how
/// a value is read and printed). From this table come [`BrokerConfig`], its `Default`,
/// [`BrokerConfig::apply`] and [`BrokerConfig::to_properties`]; the keys the Java broker knows
/// that Rocketry accepts but does not act on yet are listed at its end.
macro_rules! broker_config {
    (
        keys { $( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $default:expr, $key:literal, $codec:expr; )* }
        accepted_unused [ $($unused:literal),* $(,)? ]
    ) => {
        #[derive(Debug, Clone)]
        pub struct BrokerConfig {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            /// The `tls.*` keys (Java's TLS system properties), for the remoting and gRPC
            /// ports and the connections the broker makes; not printed by GET_BROKER_CONFIG,
            /// as Java's broker config does not hold them either.
            pub tls: remoting::tls::TlsSettings,
        }

        impl Default for BrokerConfig {
            fn default() -> Self {
                BrokerConfig { $( $field: $default, )* tls: remoting::tls::TlsSettings::default() }
            }
        }

        /// Every key of the table, in its order.
        const KEYS: &[Key] = &[
            $( Key {
                name: $key,
                set: |c, k, v| {
                    c.$field = Codec::parse(&$codec, k, v)?;
                    Ok(())
                },
                get: |c| Codec::print(&$codec, &c.$field),
            }, )*
        ];

        /// Keys the Java broker knows that Rocketry accepts but does not act on yet.
        const ACCEPTED_UNUSED_KEYS: &[&str] = &[ $($unused),* ];
    };
}

/// One key of the table: how to set its field from text and print it back.
struct Key {
    name: &'static str,
    set: fn(&mut BrokerConfig, &str, &str) -> Result<(), ConfigError>,
    get: fn(&BrokerConfig) -> String,
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

broker_config! {
    keys {
        broker_cluster_name: String = "DefaultCluster".into(), "brokerClusterName", Plain;
        broker_name: String = "broker-a".into(), "brokerName", Plain;
        broker_id: i64 = 0, "brokerId", Plain;
        /// `ASYNC_MASTER`, `SYNC_MASTER`, or `SLAVE`: a replica of its group's master
        /// (`brokerId` > 0), copying its CommitLog (`ha`). A master's `brokerId` is 0.
        broker_role: BrokerRole = BrokerRole::AsyncMaster, "brokerRole", Plain;
        /// The address replicas reach this broker's replication port at; blank: brokerIP1.
        broker_ip2: String = String::new(), "brokerIP2", Plain;
        /// The replication port (`ha`). Unset or negative: listenPort + 1; 0: the system picks.
        ha_listen_port: Option<i32> = None, "haListenPort", Unset;
        /// A replica's master replication address (`host:port`); blank: what the NameServer
        /// says the master registered.
        ha_master_address: Option<String> = None, "haMasterAddress", EmptyIsNone;
        /// Acknowledgements a SYNC_MASTER send waits for, the master's own counted (Java's
        /// meaning). Unset: 2, the master and one replica. (Java 5.3.3's default, 1, makes a
        /// SYNC_MASTER wait for no replica at all.)
        in_sync_replicas: Option<u32> = None, "inSyncReplicas", Unset;
        /// How long a SYNC_MASTER send waits for its replicas before FLUSH_SLAVE_TIMEOUT.
        slave_timeout_ms: u64 = 3000, "slaveTimeout", Plain;
        /// A replica this far (bytes) behind the master is not in sync: a SYNC_MASTER send does
        /// not wait for it.
        ha_max_gap_not_in_sync: u64 = 256 * 1024 * 1024, "haMaxGapNotInSync", Plain;
        /// Most bytes of records in one replication frame (one larger record goes alone).
        /// Java's is 32 KiB; larger frames cost fewer wake-ups.
        ha_transfer_batch_size: usize = 1024 * 1024, "haTransferBatchSize", Plain;
        /// A replica reports its end at least this often, and a master with nothing to send
        /// sends a heartbeat this often.
        ha_send_heartbeat_interval_ms: u64 = 5000, "haSendHeartbeatInterval", Plain;
        /// A replication connection silent this long is closed (and a replica reconnects).
        ha_housekeeping_interval_ms: u64 = 20_000, "haHousekeepingInterval", Plain;
        /// Controller mode: an in-sync replica that has not acknowledged anything for this long
        /// leaves the in-sync set (until then a SYNC_MASTER's sends wait for it).
        ha_max_time_slave_not_catchup_ms: u64 = 15_000, "haMaxTimeSlaveNotCatchup", Plain;
        /// Consumers may read from replicas: a master suggests a replica to a consumer that
        /// lags by more than `accessMessageInMemoryMaxRatio` of memory, and a replica suggests
        /// itself. Replicas serve pulls either way (when the master is gone a client reads there).
        slave_read_enable: bool = false, "slaveReadEnable", Bool;
        /// Ours: how often a replica copies its master's topics, subscription groups, consumer
        /// offsets and delay progress (Java: a full copy every 60 s).
        slave_synchronize_interval_ms: u64 = 3000, "slaveSynchronizeIntervalMs", Plain;
        /// RocketMQ 5's automatic failover: the group's replicas (each its own `brokerId` ≥ 1)
        /// start as replicas, and the controllers (`controllerAddr`) say which is master; the
        /// master takes `brokerRole`'s kind (ASYNC_MASTER or SYNC_MASTER).
        enable_controller_mode: bool = false, "enableControllerMode", Bool;
        /// The controller nodes, `host:port;host:port`.
        controller_addr: String = String::new(), "controllerAddr", Plain;
        /// How often a broker in controller mode heartbeats the controller.
        broker_heartbeat_interval_ms: u64 = 1000, "brokerHeartbeatInterval", Plain;
        /// A broker unheard this long counts as gone and, if master, is replaced (Java: 10 s;
        /// ours: 3 s, so a failover takes seconds).
        controller_heart_beat_timeout_ms: u64 = 3000, "controllerHeartBeatTimeoutMills", Plain;
        namesrv_addr: Option<String> = std::env::var("NAMESRV_ADDR").ok().filter(|s| !s.is_empty()), "namesrvAddr", EmptyIsNone;
        broker_ip1: String = "127.0.0.1".into(), "brokerIP1", Plain;
        listen_port: u16 = 10911, "listenPort", Plain;
        store_path_root_dir: PathBuf = home_dir().join("store"), "storePathRootDir", Path;
        flush_disk_type: FlushMode = FlushMode::Async, "flushDiskType", Flush;
        auto_create_topic_enable: bool = true, "autoCreateTopicEnable", Bool;
        auto_create_subscription_group: bool = true, "autoCreateSubscriptionGroup", Bool;
        default_topic_queue_nums: i32 = 8, "defaultTopicQueueNums", Plain;
        cluster_topic_enable: bool = true, "clusterTopicEnable", Bool;
        broker_topic_enable: bool = true, "brokerTopicEnable", Bool;
        trace_topic_enable: bool = false, "traceTopicEnable", Bool;
        /// UPDATE_AND_CREATE_TOPIC refuses system topics (Java's key and default).
        validate_system_topic_when_update_topic: bool = true, "validateSystemTopicWhenUpdateTopic", Bool;
        msg_trace_topic_name: String = "RMQ_SYS_TRACE_TOPIC".into(), "msgTraceTopicName", Plain;
        /// Ours: the broker writes trace records of retries, DLQ moves, delayed and timer
        /// deliveries and transaction ends to the trace topic (`trace.rs`).
        broker_trace_enable: bool = false, "brokerTraceEnable", Bool;
        /// The permission at start; while serving it lives in `RuntimeState`.
        broker_permission: i32 = 6, "brokerPermission", Plain;
        region_id: String = "DefaultRegion".into(), "regionId", Plain;
        trace_on: bool = true, "traceOn", Bool;
        mapped_file_size_commit_log: u64 = 1024 * 1024 * 1024, "mappedFileSizeCommitLog", Plain;
        mapped_file_size_consume_queue: u64 = 300_000 * 20, "mappedFileSizeConsumeQueue", Plain;
        max_message_size: usize = 4 * 1024 * 1024, "maxMessageSize", Plain;
        flush_interval_commit_log_ms: u64 = 500, "flushIntervalCommitLog", Plain;
        sync_flush_timeout_ms: u64 = 5000, "syncFlushTimeout", Plain;
        register_name_server_period_ms: u64 = 30_000, "registerNameServerPeriod", Plain;
        long_polling_enable: bool = true, "longPollingEnable", Bool;
        short_polling_time_ms: u64 = 1000, "shortPollingTimeMills", Plain;
        max_transfer_count_on_message_in_memory: usize = 32, "maxTransferCountOnMessageInMemory", Plain;
        max_transfer_bytes_on_message_in_memory: usize = 256 * 1024, "maxTransferBytesOnMessageInMemory", Plain;
        channel_expired_timeout_ms: u64 = 120_000, "channelExpiredTimeout", Plain;
        flush_consumer_offset_interval_ms: u64 = 5000, "flushConsumerOffsetInterval", Plain;
        server_channel_max_idle_time_secs: u64 = 120, "serverChannelMaxIdleTimeSeconds", Plain;
        /// Rocketry's limits from here to `connection_max_inflight_requests` (no Java counterparts).
        frame_max_bytes: usize = protocol::frame::DEFAULT_FRAME_MAX_BYTES, "frameMaxLength", Plain;
        max_batch_messages: usize = 1024, "maxBatchMessages", Plain;
        max_connections: usize = 10_000, "maxConnections", Plain;
        max_parked_pulls: usize = 100_000, "maxParkedPulls", Plain;
        /// `maxPullHoldMillis` (ours): the longest a long-polling pull is held, whatever
        /// `suspendTimeoutMillis` it asks for (the Java client asks 15 s; the Java broker has no cap).
        max_pull_hold_ms: u64 = 60_000, "maxPullHoldMillis", Plain;
        append_queue_depth: usize = 16_384, "appendQueueDepth", Plain;
        connection_write_queue_bytes: usize = 64 * 1024 * 1024, "connectionWriteQueueBytes", Plain;
        connection_max_inflight_requests: usize = 16_384, "connectionMaxInflightRequests", Plain;
        /// How long a send may wait for room in the append queue before SYSTEM_BUSY (0 = forever).
        send_queue_wait_ms: u64 = 200, "waitTimeMillsInSendQueue", Plain;
        truncate_corrupt_commit_log: bool = false, "truncateCorruptCommitLog", Bool;
        check_crc_on_read: bool = false, "checkCrcOnRead", Bool;
        /// Bytes of CommitLog pages brought into the page cache ahead of the appender (0 = off;
        /// `None`, "auto": see `MemoryCost`).
        warm_commit_log_ahead_bytes: Option<u64> = None, "warmCommitLogAheadBytes", AutoBytes;
        /// Bytes of the CommitLog behind the write end kept in the page cache (0 = the kernel
        /// decides; `None`, "auto": see `MemoryCost`).
        commit_log_cache_window_bytes: Option<u64> = None, "commitLogCacheWindowBytes", AutoBytes;
        check_crc_on_recover: bool = true, "checkCRCOnRecover", Bool;
        /// Hours a CommitLog file is kept.
        file_reserved_time_hours: u64 = 72, "fileReservedTime", Plain;
        delete_when: Vec<u32> = vec![4], "deleteWhen", DeleteWhen;
        /// Percent, as in RocketMQ.
        disk_max_used_space_ratio: u32 = 75, "diskMaxUsedSpaceRatio", Plain;
        disk_space_clean_forcibly_ratio: f64 = 0.85, "diskSpaceCleanForciblyRatio", Plain;
        disk_space_warning_level_ratio: f64 = 0.90, "diskSpaceWarningLevelRatio", Plain;
        delete_file_batch_max: usize = 10, "deleteFileBatchMax", Plain;
        clean_resource_interval_ms: u64 = 10_000, "cleanResourceInterval", Plain;
        /// Count usage against this many bytes instead of the filesystem's size (0 = the filesystem's).
        disk_capacity_bytes: Option<u64> = None, "diskCapacityBytes", ZeroIsNone;
        delay_levels: crate::put::DelayLevels = crate::put::DelayLevels::default(), "messageDelayLevel", Delays;
        /// INVOKE_BROKER_TO_RESET_OFFSET resets offsets on the broker (true, as RocketMQ 5) or pushes
        /// RESET_CONSUMER_CLIENT_OFFSET to the group's online clients (false, the RocketMQ 4 way).
        use_server_side_reset_offset: bool = true, "useServerSideResetOffset", Bool;
        /// Percent of physical memory counted as page cache when deciding whether a queue's first
        /// message is still "in memory" (a new group then starts at 0, as in RocketMQ).
        access_message_in_memory_max_ratio: u32 = 40, "accessMessageInMemoryMaxRatio", Plain;
        /// SQL92 subscriptions over pulls (POP takes them regardless, as the Java broker).
        enable_property_filter: bool = false, "enablePropertyFilter", Bool;
        /// `filterExpressionMaxLength` / `filterExpressionMaxDepth` (ours): the longest SQL92
        /// expression, in characters, and its deepest nesting.
        filter_expression_max_length: usize = 4096, "filterExpressionMaxLength", Plain;
        filter_expression_max_depth: usize = 128, "filterExpressionMaxDepth", Plain;
        /// `filterScanMaxEntries` (ours): consume-queue entries one pull or pop with a SQL92
        /// filter may look at before it answers with the matches it has.
        filter_scan_max_entries: usize = 16_000, "filterScanMaxEntries", Plain;
        /// `enableCalcFilterBitMap` (Java's key; our own layout, `sql92::bitmap`): which SQL92
        /// expressions each message of a filtered topic matches, judged once at dispatch, so a
        /// filtered read skips non-matching messages without reading them.
        enable_calc_filter_bit_map: bool = true, "enableCalcFilterBitMap", Bool;
        /// `filterBitMapMaxBytes` (ours): memory for those words (8 bytes per message of a
        /// filtered topic); past it the oldest are dropped and their messages read to be checked.
        filter_bit_map_max_bytes: usize = 64 << 20, "filterBitMapMaxBytes", Plain;
        /// Pops of one group that may wait on one topic and queue id (more get POLLING_FULL).
        pop_polling_size: usize = 1024, "popPollingSize", Plain;
        /// Percent of pops that read the group's POP retry topic first.
        pop_from_retry_probability: u32 = 20, "popFromRetryProbability", Plain;
        /// How a group consumes a topic it has no `setConsumeMode` for: PULL or POP.
        default_message_request_mode: String = "PULL".into(), "defaultMessageRequestMode", Plain;
        /// `popMaxInvisibleTimeMs` (ours): the longest invisible time a pop or a change may ask
        /// (the Java broker has no cap; its proxy allows 12 h).
        pop_max_invisible_time_ms: i64 = 12 * 3600 * 1000, "popMaxInvisibleTimeMs", Plain;
        /// `popMaxInflightMessages` (ours): messages popped and not yet acknowledged or revived,
        /// over all groups; a pop beyond it is refused with SYSTEM_BUSY.
        pop_max_inflight_messages: usize = 1_000_000, "popMaxInflightMessages", Plain;
        /// Timer messages (TIMER_DELIVER_MS, TIMER_DELAY_SEC, TIMER_DELAY_MS) are taken.
        timer_wheel_enable: bool = true, "timerWheelEnable", Bool;
        /// The furthest ahead a timer message may be due (3 days, as Java).
        timer_max_delay_sec: i64 = 3 * 24 * 3600, "timerMaxDelaySec", Plain;
        /// A transactional message's first check-back is due this long after it was stored
        /// (unless it carries `CHECK_IMMUNITY_TIME_IN_SECONDS`).
        transaction_time_out_ms: i64 = 6_000, "transactionTimeOut", Plain;
        /// Undecided transactions are checked again this often.
        transaction_check_interval_ms: i64 = 30_000, "transactionCheckInterval", Plain;
        /// After this many checks an undecided transaction goes to TRANS_CHECK_MAX_TIME_TOPIC.
        transaction_check_max: u32 = 15, "transactionCheckMax", Plain;
        /// `transactionCheckMaxPerRound` (ours): check-backs sent in one round (rounds are at most a
        /// second apart), oldest first: a producer with many undecided transactions is not flooded.
        transaction_check_max_per_round: usize = 20_000, "transactionCheckMaxPerRound", Plain;
        /// Refuse transactional messages (NO_PERMISSION), as the Java key does.
        reject_transaction_message: bool = false, "rejectTransactionMessage", Bool;
        /// The RocketMQ 5.x gRPC port (the Java proxy's key): 0 lets the OS pick one.
        grpc_server_port: u16 = 8081, "grpcServerPort", Plain;
        /// `grpcServerEnable` (ours): whether the broker serves gRPC at all.
        grpc_server_enable: bool = true, "grpcServerEnable", Bool;
        /// The largest gRPC request, in bytes (the Java proxy's key and default, 130 MiB).
        grpc_max_inbound_message_size: usize = 130 * 1024 * 1024, "grpcMaxInboundMessageSize", Plain;
        /// `grpcTlsCertPath`/`grpcTlsKeyPath` (ours): the gRPC port's certificate chain and key
        /// (PEM). Without them a self-signed certificate is made at start.
        grpc_tls_cert_path: Option<String> = None, "grpcTlsCertPath", EmptyIsNone;
        grpc_tls_key_path: Option<String> = None, "grpcTlsKeyPath", EmptyIsNone;
        /// `grpcMaxStreamsPerConnection` (ours): concurrent calls one gRPC connection may have.
        grpc_max_streams_per_connection: u32 = 1024, "grpcMaxStreamsPerConnection", Plain;
        /// ACL 2.0 (RocketMQ 5's `AuthConfig` keys, read from broker.conf as Java does):
        /// every request's signature checked against its user.
        authentication_enabled: bool = false, "authenticationEnabled", Bool;
        /// Every request checked against its user's policies.
        authorization_enabled: bool = false, "authorizationEnabled", Bool;
        /// Request codes (comma-separated) that skip a step.
        authentication_whitelist: String = String::new(), "authenticationWhitelist", Plain;
        authorization_whitelist: String = String::new(), "authorizationWhitelist", Plain;
        /// `{"username":…,"password":…}`: a super user made at start if none has the name.
        init_authentication_user: Option<String> = None, "initAuthenticationUser", Secret;
        /// `{"accessKey":…,"secretKey":…}`: the same, for the broker's own clients.
        inner_client_authentication_credentials: Option<String> = None, "innerClientAuthenticationCredentials", Secret;
        /// Metrics (Java's keys): `PROM` serves them for Prometheus on
        /// `metricsPromExporterHost:metricsPromExporterPort` (`/metrics`); `DISABLE` does not.
        /// OTLP_GRPC and LOG are refused (not built).
        metrics_exporter_type: MetricsExporter = MetricsExporter::Disable, "metricsExporterType", Plain;
        /// Blank: brokerIP1's address.
        metrics_prom_exporter_host: String = String::new(), "metricsPromExporterHost", Plain;
        metrics_prom_exporter_port: u16 = 5557, "metricsPromExporterPort", Plain;
        /// `k:v,k:v`: labels added to every series.
        metrics_label: String = String::new(), "metricsLabel", Plain;
        /// Adds `aggregation=delta` to every series, as Java does (its delta temporality
        /// concerns OTLP only).
        metrics_in_delta: bool = false, "metricsInDelta", Bool;
        /// The most series one recorded family keeps; new ones past it are not recorded.
        metrics_otel_cardinality_limit: usize = 50_000, "metricsOtelCardinalityLimit", Plain;
        /// `dashboardEnable` (ours): the web dashboard, `/health` and `/ready` on an HTTP port.
        dashboard_enable: bool = true, "dashboardEnable", Bool;
        /// `dashboardPort` (ours): 0 lets the OS pick one.
        dashboard_port: u16 = 8080, "dashboardPort", Plain;
        /// `dashboardHost` (ours): the address the dashboard listens on; blank: brokerIP1.
        dashboard_host: String = String::new(), "dashboardHost", Plain;
        /// `dashboardReadOnly` (ours): the dashboard changes nothing (topics, groups, offsets,
        /// resends), whoever asks.
        dashboard_read_only: bool = false, "dashboardReadOnly", Bool;
        /// `dashboardAllowedHosts` (ours): host names (comma-separated) the dashboard answers to
        /// besides IP addresses and `localhost` (a guard against DNS rebinding).
        dashboard_allowed_hosts: String = String::new(), "dashboardAllowedHosts", Plain;
    }
    accepted_unused [
            "sendMessageThreadPoolNums",
            "pullMessageThreadPoolNums",
            "useReentrantLockWhenPutMessage",
            "transientStorePoolEnable",
            "enableDLegerCommitLog",
            "storePathCommitLog",
            "rocketmqHome",
            "serverWorkerThreads",
            "clientWorkerThreads",
            // ACL 2.0: Rocketry has one provider of each kind (its own users and ACL files),
            // stateless checks, and no caches to size.
            "authenticationProvider",
            "authorizationProvider",
            "authenticationMetadataProvider",
            "authorizationMetadataProvider",
            "authenticationStrategy",
            "authorizationStrategy",
            "userCacheMaxNum",
            "userCacheExpiredSecond",
            "userCacheRefreshSecond",
            "aclCacheMaxNum",
            "aclCacheExpiredSecond",
            "aclCacheRefreshSecond",
            "statefulAuthenticationCacheMaxNum",
            "statefulAuthenticationCacheExpiredSecond",
            "statefulAuthorizationCacheMaxNum",
            "statefulAuthorizationCacheExpiredSecond",
            // Metrics: the exporters Rocketry does not have take these; PROM does not.
            "metricsGrpcExporterTarget",
            "metricsGrpcExporterHeader",
            "metricGrpcExporterTimeOutInMills",
            "metricGrpcExporterIntervalInMills",
            "metricLoggingExporterIntervalInMills",
    ]
}

/// How one kind of value is read from broker.conf text and printed back.
trait Codec<T> {
    fn parse(&self, key: &str, value: &str) -> Result<T, ConfigError>;
    fn print(&self, value: &T) -> String;
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), value: value.into(), reason: reason.into() }
}

/// Numbers and text: `FromStr` and `Display`.
struct Plain;

impl<T: FromStr + std::fmt::Display> Codec<T> for Plain
where
    T::Err: std::fmt::Display,
{
    fn parse(&self, key: &str, value: &str) -> Result<T, ConfigError> {
        value.parse().map_err(|e: T::Err| invalid(key, value, e.to_string()))
    }
    fn print(&self, value: &T) -> String {
        value.to_string()
    }
}

/// `true` or `false`, any case.
struct Bool;

impl Codec<bool> for Bool {
    fn parse(&self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(invalid(key, value, "expected true or false")),
        }
    }
    fn print(&self, value: &bool) -> String {
        value.to_string()
    }
}

/// A value that may be unset: empty text.
struct Unset;

impl<T: FromStr + std::fmt::Display> Codec<Option<T>> for Unset
where
    T::Err: std::fmt::Display,
{
    fn parse(&self, key: &str, value: &str) -> Result<Option<T>, ConfigError> {
        if value.trim().is_empty() {
            return Ok(None);
        }
        Plain.parse(key, value).map(Some)
    }
    fn print(&self, value: &Option<T>) -> String {
        value.as_ref().map(|v| v.to_string()).unwrap_or_default()
    }
}

/// Text, where empty means unset.
struct EmptyIsNone;

impl Codec<Option<String>> for EmptyIsNone {
    fn parse(&self, _key: &str, value: &str) -> Result<Option<String>, ConfigError> {
        Ok(Some(value.to_string()).filter(|s| !s.is_empty()))
    }
    fn print(&self, value: &Option<String>) -> String {
        value.clone().unwrap_or_default()
    }
}

/// Text that holds a password: never printed (GET_BROKER_CONFIG answers without it; the
/// Java broker keeps these keys out of its broker config too).
struct Secret;

impl Codec<Option<String>> for Secret {
    fn parse(&self, key: &str, value: &str) -> Result<Option<String>, ConfigError> {
        EmptyIsNone.parse(key, value)
    }
    fn print(&self, _value: &Option<String>) -> String {
        String::new()
    }
}

/// A number where 0 means unset.
struct ZeroIsNone;

impl Codec<Option<u64>> for ZeroIsNone {
    fn parse(&self, key: &str, value: &str) -> Result<Option<u64>, ConfigError> {
        Ok(Some(Plain.parse(key, value)?).filter(|c: &u64| *c > 0))
    }
    fn print(&self, value: &Option<u64>) -> String {
        value.unwrap_or(0).to_string()
    }
}

/// A number of bytes, or `auto` (`None`): the broker picks for the machine it runs on.
struct AutoBytes;

impl Codec<Option<u64>> for AutoBytes {
    fn parse(&self, key: &str, value: &str) -> Result<Option<u64>, ConfigError> {
        if value.eq_ignore_ascii_case("auto") {
            return Ok(None);
        }
        value.parse().map(Some).map_err(|e| invalid(key, value, format!("{e}: expected a number of bytes or auto")))
    }
    fn print(&self, value: &Option<u64>) -> String {
        value.map_or_else(|| "auto".to_string(), |v| v.to_string())
    }
}

struct Path;

impl Codec<PathBuf> for Path {
    fn parse(&self, _key: &str, value: &str) -> Result<PathBuf, ConfigError> {
        Ok(PathBuf::from(value))
    }
    fn print(&self, value: &PathBuf) -> String {
        value.display().to_string()
    }
}

/// `ASYNC_FLUSH` or `SYNC_FLUSH`.
struct Flush;

impl Codec<FlushMode> for Flush {
    fn parse(&self, key: &str, value: &str) -> Result<FlushMode, ConfigError> {
        match value {
            "ASYNC_FLUSH" => Ok(FlushMode::Async),
            "SYNC_FLUSH" => Ok(FlushMode::Sync),
            _ => Err(invalid(key, value, "expected ASYNC_FLUSH or SYNC_FLUSH")),
        }
    }
    fn print(&self, value: &FlushMode) -> String {
        match value {
            FlushMode::Async => "ASYNC_FLUSH",
            FlushMode::Sync => "SYNC_FLUSH",
        }
        .to_string()
    }
}

/// `deleteWhen`: hours separated by `;`.
struct DeleteWhen;

impl Codec<Vec<u32>> for DeleteWhen {
    fn parse(&self, key: &str, value: &str) -> Result<Vec<u32>, ConfigError> {
        store::retention::parse_delete_when(value).map_err(|reason| invalid(key, value, reason))
    }
    fn print(&self, value: &Vec<u32>) -> String {
        value.iter().map(|h| format!("{h:02}")).collect::<Vec<_>>().join(";")
    }
}

/// `messageDelayLevel`: "1s 5s 10s 30s 1m … 2h".
struct Delays;

impl Codec<crate::put::DelayLevels> for Delays {
    fn parse(&self, key: &str, value: &str) -> Result<crate::put::DelayLevels, ConfigError> {
        crate::put::DelayLevels::parse(value).map_err(|reason| invalid(key, value, reason))
    }
    fn print(&self, value: &crate::put::DelayLevels) -> String {
        // Each level in its largest whole unit, as an operator writes them ("1m", not "60s").
        let unit = |secs: u64| match secs {
            s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
            s if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
            s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        };
        value.0.iter().map(|d| unit(d.as_secs())).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid value `{value}` for broker config key `{key}`: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

pub use remoting::properties::parse as parse_properties;

/// A label name `metricsLabel` may add: Prometheus' rules, and none the series carry already.
pub fn is_metric_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !["cluster", "node_type", "node_id", "aggregation", "le"].contains(&name)
}

/// `metricsExporterType`: Java's `MetricsExporterType` names or ordinals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsExporter {
    Disable,
    Prom,
}

impl FromStr for MetricsExporter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "PROM" | "2" => Ok(MetricsExporter::Prom),
            "OTLP_GRPC" | "LOG" | "1" | "3" => Err(format!("{s} is not built: Rocketry exports metrics for Prometheus (PROM) only")),
            // Java: DISABLE, and any other number.
            "DISABLE" => Ok(MetricsExporter::Disable),
            n if n.parse::<i64>().is_ok() => Ok(MetricsExporter::Disable),
            other => Err(format!("{other}: expected DISABLE, PROM, OTLP_GRPC or LOG")),
        }
    }
}

impl std::fmt::Display for MetricsExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MetricsExporter::Disable => "DISABLE",
            MetricsExporter::Prom => "PROM",
        })
    }
}

impl BrokerConfig {
    /// Applies properties over the current values. Unknown keys are returned for a
    /// warning; a bad value is an error naming its key.
    pub fn apply(&mut self, props: &BTreeMap<String, String>) -> Result<Vec<String>, ConfigError> {
        let mut unknown = Vec::new();
        for (k, v) in props {
            if let Some(key) = KEYS.iter().find(|key| key.name == k.as_str()) {
                (key.set)(self, k, v)?;
                continue;
            }
            if let Some(set) = self.tls.set(k, v) {
                set.map_err(|reason| ConfigError { key: k.clone(), value: v.clone(), reason })?;
                continue;
            }
            // A protection asked for that this broker does not give refuses the start.
            if let Some(reason) = remoting::security::unenforced(k, v) {
                return Err(ConfigError { key: k.clone(), value: v.clone(), reason });
            }
            match k.as_str() {
                k if ACCEPTED_UNUSED_KEYS.contains(&k) => tracing::info!(key = %k, "broker config key accepted but not used yet"),
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
        // Parsing, checking and dropping an expression recurse as deep as it is long.
        if !(1..=16_384).contains(&self.filter_expression_max_length) {
            return bad("filterExpressionMaxLength", self.filter_expression_max_length.to_string(), "must be 1-16384");
        }
        if self.filter_bit_map_max_bytes > 16 << 30 {
            return bad("filterBitMapMaxBytes", self.filter_bit_map_max_bytes.to_string(), "must be at most 16 GiB");
        }
        if !(1..=1024).contains(&self.filter_expression_max_depth) {
            return bad("filterExpressionMaxDepth", self.filter_expression_max_depth.to_string(), "must be 1-1024");
        }
        if self.access_message_in_memory_max_ratio > 100 {
            return bad("accessMessageInMemoryMaxRatio", self.access_message_in_memory_max_ratio.to_string(), "must be a percentage 0-100");
        }
        for pair in self.metrics_label.split(',').filter(|p| !p.trim().is_empty()) {
            match pair.split_once(':') {
                Some((k, v)) if is_metric_label_name(k.trim()) && !v.contains(':') => {}
                _ => {
                    let why = "each pair `name:value`, a name of letters, digits and _ (not starting with a digit) other than the labels every series has (cluster, node_type, node_id, aggregation) or le";
                    return bad("metricsLabel", pair.to_string(), why);
                }
            }
        }
        if self.metrics_otel_cardinality_limit == 0 {
            return bad("metricsOtelCardinalityLimit", "0".into(), "must be at least 1");
        }
        if self.broker_role == BrokerRole::Slave && self.broker_id <= 0 {
            return bad("brokerId", self.broker_id.to_string(), "a SLAVE's brokerId must be > 0");
        }
        if self.broker_role != BrokerRole::Slave && self.broker_id != 0 && !self.enable_controller_mode {
            return bad("brokerId", self.broker_id.to_string(), "a master's brokerId is 0 (brokerRole is ASYNC_MASTER unless set to SLAVE)");
        }
        if self.enable_controller_mode {
            if self.controller_addr.trim().is_empty() {
                return bad("controllerAddr", String::new(), "enableControllerMode needs the controllers' addresses");
            }
            if self.broker_id < 1 {
                return bad("brokerId", self.broker_id.to_string(), "in controller mode each replica of the group has its own brokerId >= 1");
            }
            if self.broker_role == BrokerRole::Slave {
                return bad(
                    "brokerRole",
                    "SLAVE".into(),
                    "in controller mode brokerRole is the kind of master the broker is when elected (ASYNC_MASTER or SYNC_MASTER)",
                );
            }
        }
        if let Some(n) = self.in_sync_replicas.filter(|n| *n == 0) {
            return bad("inSyncReplicas", n.to_string(), "must be at least 1 (the master)");
        }
        if self.ha_transfer_batch_size < 1024 {
            return bad("haTransferBatchSize", self.ha_transfer_batch_size.to_string(), "must be at least 1024");
        }
        if let Some(addr) = &self.ha_master_address {
            if addr.rsplit_once(':').is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err()) {
                return bad("haMasterAddress", addr.clone(), "expected host:port");
            }
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
        c.append_wait = Some(std::time::Duration::from_millis(self.send_queue_wait_ms)).filter(|d| !d.is_zero());
        c.max_transfer_count = self.max_transfer_count_on_message_in_memory;
        c.max_filter_scan_entries = self.filter_scan_max_entries.max(1);
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

    /// The properties text GET_BROKER_CONFIG answers with: every key of the table.
    pub fn to_properties(&self) -> String {
        KEYS.iter().map(|k| format!("{}={}\n", k.name, (k.get)(self))).collect()
    }

    /// The replication port to listen on: `haListenPort`, or listenPort + 1.
    pub fn ha_port(&self) -> u16 {
        match self.ha_listen_port {
            Some(p) if p >= 0 => p.min(u16::MAX as i32) as u16,
            _ => self.listen_port.wrapping_add(1),
        }
    }

    /// The address replicas reach this broker's replication port at.
    pub fn ha_host(&self) -> &str {
        if self.broker_ip2.is_empty() {
            &self.broker_ip1
        } else {
            &self.broker_ip2
        }
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

    /// Every key prints and parses back to the same value, and the table names each key once.
    #[test]
    fn every_key_round_trips_and_is_declared_once() {
        let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a key declared twice");
        assert!(ACCEPTED_UNUSED_KEYS.iter().all(|k| !names.contains(k)), "a key both used and unused");
        let mut changed = BrokerConfig::default();
        let text = "brokerName=b\nnamesrvAddr=10.0.0.1:9876\ndeleteWhen=04;16\nmessageDelayLevel=1s 2m 1h\ndiskCapacityBytes=1000000\nwarmCommitLogAheadBytes=0\nflushDiskType=SYNC_FLUSH";
        changed.apply(&parse_properties(text)).unwrap();
        for config in [BrokerConfig::default(), changed] {
            let printed = config.to_properties();
            for key in KEYS {
                assert!(printed.contains(&format!("\n{}=", key.name)) || printed.starts_with(&format!("{}=", key.name)), "{} not printed", key.name);
            }
            let mut again = BrokerConfig::default();
            again.apply(&parse_properties(&printed)).unwrap();
            assert_eq!(again.to_properties(), printed);
        }
        assert!(BrokerConfig::default().to_properties().contains("messageDelayLevel=1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h\n"));
        let c = BrokerConfig::default();
        let mut unset = c.clone();
        unset.apply(&parse_properties("namesrvAddr=\ndiskCapacityBytes=0")).unwrap();
        assert_eq!((unset.namesrv_addr, unset.disk_capacity_bytes), (None, None));
    }

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
    fn replication_keys() {
        let mut c = BrokerConfig::default();
        c.apply(&parse_properties("brokerRole=SLAVE\nbrokerId=2\nhaMasterAddress=10.0.0.1:10912\ninSyncReplicas=3\nhaListenPort=\n")).unwrap();
        assert_eq!((c.broker_role, c.broker_id, c.in_sync_replicas), (BrokerRole::Slave, 2, Some(3)));
        assert_eq!(c.ha_port(), c.listen_port + 1);
        c.apply(&parse_properties("haListenPort=0\nbrokerIP2=10.0.0.2")).unwrap();
        assert_eq!((c.ha_port(), c.ha_host()), (0, "10.0.0.2"));
        assert!(c.to_properties().contains("brokerRole=SLAVE\n"));
        for (bad, key) in [
            ("brokerRole=SLAVE\nbrokerId=0", "brokerId"),
            ("brokerRole=SYNC_MASTER\nbrokerId=1", "brokerId"),
            ("brokerRole=LEADER", "brokerRole"),
            ("haMasterAddress=nohostport", "haMasterAddress"),
            ("inSyncReplicas=0", "inSyncReplicas"),
            ("enableControllerMode=true", "controllerAddr"),
            ("enableControllerMode=true\ncontrollerAddr=127.0.0.1:9878", "brokerId"),
            ("enableControllerMode=true\ncontrollerAddr=127.0.0.1:9878\nbrokerId=1\nbrokerRole=SLAVE", "brokerRole"),
        ] {
            assert_eq!(BrokerConfig::default().apply(&parse_properties(bad)).unwrap_err().key, key, "{bad}");
        }
    }

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
