//! Request and response codes (`RequestCode.java`, `ResponseCode.java`).

/// Request codes, grouped by who sends them.
pub mod request {
    // Client data path.
    pub const SEND_MESSAGE: i32 = 10;
    pub const PULL_MESSAGE: i32 = 11;
    pub const QUERY_MESSAGE: i32 = 12;
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    pub const GET_MAX_OFFSET: i32 = 30;
    pub const GET_MIN_OFFSET: i32 = 31;
    pub const GET_EARLIEST_MSG_STORETIME: i32 = 32;
    pub const VIEW_MESSAGE_BY_ID: i32 = 33;
    pub const HEART_BEAT: i32 = 34;
    pub const UNREGISTER_CLIENT: i32 = 35;
    pub const CONSUMER_SEND_MSG_BACK: i32 = 36;
    pub const END_TRANSACTION: i32 = 37;
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    pub const LOCK_BATCH_MQ: i32 = 41;
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    pub const CHECK_CLIENT_CONFIG: i32 = 46;
    pub const SEND_MESSAGE_V2: i32 = 310;
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    pub const SEND_REPLY_MESSAGE: i32 = 324;
    pub const SEND_REPLY_MESSAGE_V2: i32 = 325;
    pub const LITE_PULL_MESSAGE: i32 = 361;
    pub const POP_MESSAGE: i32 = 200050;
    pub const ACK_MESSAGE: i32 = 200051;
    pub const CHANGE_MESSAGE_INVISIBLETIME: i32 = 200053;
    pub const NOTIFICATION: i32 = 200054;
    pub const POLLING_INFO: i32 = 200055;
    pub const BATCH_ACK_MESSAGE: i32 = 200151;
    pub const QUERY_ASSIGNMENT: i32 = 400;

    // Broker to client.
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    pub const PUSH_REPLY_MESSAGE_TO_CLIENT: i32 = 326;

    // Admin to broker.
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
    pub const GET_ALL_TOPIC_CONFIG: i32 = 21;
    pub const GET_ALL_CONSUMER_OFFSET: i32 = 43;
    pub const GET_ALL_DELAY_OFFSET: i32 = 45;
    pub const GET_BROKER_HA_STATUS: i32 = 907;
    pub const GET_TOPIC_NAME_LIST: i32 = 23;
    pub const UPDATE_BROKER_CONFIG: i32 = 25;
    pub const GET_BROKER_CONFIG: i32 = 26;
    pub const GET_BROKER_RUNTIME_INFO: i32 = 28;
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    pub const GET_ALL_SUBSCRIPTIONGROUP_CONFIG: i32 = 201;
    pub const GET_TOPIC_STATS_INFO: i32 = 202;
    pub const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
    pub const GET_PRODUCER_CONNECTION_LIST: i32 = 204;
    pub const WIPE_WRITE_PERM_OF_BROKER: i32 = 205;
    pub const ADD_WRITE_PERM_OF_BROKER: i32 = 327;
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    pub const GET_CONSUME_STATS: i32 = 208;
    pub const DELETE_TOPIC_IN_BROKER: i32 = 215;
    pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
    pub const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;
    pub const GET_CONSUMER_RUNNING_INFO: i32 = 307;
    pub const RECALL_MESSAGE: i32 = 370;
    pub const AUTH_CREATE_USER: i32 = 3001;
    pub const AUTH_UPDATE_USER: i32 = 3002;
    pub const AUTH_DELETE_USER: i32 = 3003;
    pub const AUTH_GET_USER: i32 = 3004;
    pub const AUTH_LIST_USER: i32 = 3005;
    pub const AUTH_CREATE_ACL: i32 = 3006;
    pub const AUTH_UPDATE_ACL: i32 = 3007;
    pub const AUTH_DELETE_ACL: i32 = 3008;
    pub const AUTH_GET_ACL: i32 = 3009;
    pub const AUTH_LIST_ACL: i32 = 3010;
    pub const QUERY_TOPIC_CONSUME_BY_WHO: i32 = 300;
    pub const GET_SYSTEM_TOPIC_LIST_FROM_BROKER: i32 = 305;
    pub const GET_TOPIC_CONFIG: i32 = 351;
    pub const GET_SUBSCRIPTIONGROUP_CONFIG: i32 = 352;
    pub const SET_MESSAGE_REQUEST_MODE: i32 = 401;

    // NameServer.
    pub const PUT_KV_CONFIG: i32 = 100;
    pub const GET_KV_CONFIG: i32 = 101;
    pub const DELETE_KV_CONFIG: i32 = 102;
    pub const REGISTER_BROKER: i32 = 103;
    pub const UNREGISTER_BROKER: i32 = 104;
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    pub const DELETE_TOPIC_IN_NAMESRV: i32 = 216;
    pub const REGISTER_TOPIC_IN_NAMESRV: i32 = 217;
    pub const GET_KVLIST_BY_NAMESPACE: i32 = 219;
    pub const GET_TOPICS_BY_CLUSTER: i32 = 224;
    pub const GET_SYSTEM_TOPIC_LIST_FROM_NS: i32 = 304;
    pub const QUERY_DATA_VERSION: i32 = 322;
    pub const GET_NAMESRV_CONFIG: i32 = 319;
    pub const BROKER_HEARTBEAT: i32 = 904;
}

/// Response codes.
pub mod response {
    pub const SUCCESS: i32 = 0;
    pub const SYSTEM_ERROR: i32 = 1;
    pub const SYSTEM_BUSY: i32 = 2;
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    pub const MESSAGE_ILLEGAL: i32 = 13;
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    pub const NO_PERMISSION: i32 = 16;
    pub const TOPIC_NOT_EXIST: i32 = 17;
    pub const PULL_NOT_FOUND: i32 = 19;
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    pub const PULL_OFFSET_MOVED: i32 = 21;
    pub const QUERY_NOT_FOUND: i32 = 22;
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    pub const FILTER_DATA_NOT_EXIST: i32 = 27;
    pub const FILTER_DATA_NOT_LATEST: i32 = 28;
    pub const INVALID_PARAMETER: i32 = 29;
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
    pub const NO_MESSAGE: i32 = 208;
    pub const POLLING_FULL: i32 = 209;
    pub const POLLING_TIMEOUT: i32 = 210;
    /// An operation not allowed now (a late transaction decision, a recall that cannot be).
    pub const ILLEGAL_OPERATION: i32 = 604;
}

/// `MQVersion.Version` ordinals that change server behaviour.
pub mod version {
    /// V4_9_4: routes are answered in standard JSON from here on.
    pub const V4_9_4: i32 = 401;
    /// V5_3_3, the version this server reports.
    pub const CURRENT: i32 = 479;

    /// The name of a `MQVersion.Version` ordinal (`479` → `V5_3_3`), as Java's
    /// `MQVersion.getVersionDesc` gives it; ordinals past the last are `HIGHER_VERSION`.
    pub fn desc(ordinal: i32) -> String {
        // The enum opens with 3.0.0's pre-releases, then lists every x.y.z as a
        // `_SNAPSHOT` and a release, minors with these patch ranges.
        const FIRST: [&str; 16] = [
            "V3_0_0_SNAPSHOT",
            "V3_0_0_ALPHA1",
            "V3_0_0_BETA1",
            "V3_0_0_BETA2",
            "V3_0_0_BETA3",
            "V3_0_0_BETA4",
            "V3_0_0_BETA5",
            "V3_0_0_BETA6_SNAPSHOT",
            "V3_0_0_BETA6",
            "V3_0_0_BETA7_SNAPSHOT",
            "V3_0_0_BETA7",
            "V3_0_0_BETA8_SNAPSHOT",
            "V3_0_0_BETA8",
            "V3_0_0_BETA9_SNAPSHOT",
            "V3_0_0_BETA9",
            "V3_0_0_FINAL",
        ];
        let Ok(n) = usize::try_from(ordinal) else { return FIRST[0].to_string() };
        if let Some(name) = FIRST.get(n) {
            return name.to_string();
        }
        let mut at = n - FIRST.len();
        for major in 3..=5 {
            for minor in 0..=9 {
                let patches = match (major, minor) {
                    (3, 0) => 1..=15,
                    (3, 1) | (3, 2) => 0..=9,
                    (3, _) => 1..=9,
                    _ => 0..=9,
                };
                let len = 2 * patches.clone().count();
                if at < len {
                    let patch = patches.start() + at / 2;
                    let snapshot = if at.is_multiple_of(2) { "_SNAPSHOT" } else { "" };
                    return format!("V{major}_{minor}_{patch}{snapshot}");
                }
                at -= len;
            }
        }
        "HIGHER_VERSION".to_string()
    }
}

/// Flag bits of a command.
pub mod flag {
    pub const RESPONSE: i32 = 0b01;
    pub const ONEWAY: i32 = 0b10;
}

/// `PermName` bits.
pub mod perm {
    pub const PRIORITY: i32 = 8;
    pub const READ: i32 = 4;
    pub const WRITE: i32 = 2;
    pub const INHERIT: i32 = 1;
}

/// `PullSysFlag` bits.
pub mod pull_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const CLASS_FILTER: i32 = 0x8;
    pub const LITE_PULL: i32 = 0x10;
}

#[cfg(test)]
mod tests {
    use super::version::desc;

    #[test]
    fn version_names_follow_java_ordinals() {
        // Ordinals from MQVersion.Version of 5.3.3.
        for (ordinal, name) in [
            (0, "V3_0_0_SNAPSHOT"),
            (15, "V3_0_0_FINAL"),
            (16, "V3_0_1_SNAPSHOT"),
            (36, "V3_0_11_SNAPSHOT"),
            (58, "V3_1_6_SNAPSHOT"),
            (212, "V4_0_0_SNAPSHOT"),
            (213, "V4_0_0"),
            (401, "V4_9_4"),
            (479, "V5_3_3"),
            (610, "V5_9_9_SNAPSHOT"),
            (611, "V5_9_9"),
            (612, "HIGHER_VERSION"),
            (9999, "HIGHER_VERSION"),
        ] {
            assert_eq!(desc(ordinal), name, "{ordinal}");
        }
    }
}
