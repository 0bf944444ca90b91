//! namesrv.conf: the Java NameServer's key names, plus Rocketry's connection limits (the same
//! keys as in broker.conf).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use crate::NamesrvConfig;

/// Keys the Java NameServer knows that Rocketry accepts but does not act on.
const ACCEPTED_UNUSED_KEYS: &[&str] = &[
    "rocketmqHome",
    "clusterTest",
    "serverWorkerThreads",
    "serverSelectorThreads",
    "serverCallbackExecutorThreads",
    "defaultThreadPoolNums",
    "clientRequestThreadPoolNums",
    "serverSocketSndBufSize",
    "serverSocketRcvBufSize",
    "enableTopicList",
    "returnOrderTopicConfigToBroker",
];

#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid value `{}` for namesrv config key `{}`: {}", self.value, self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn parse<T: FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e: T::Err| ConfigError { key: key.into(), value: value.into(), reason: e.to_string() })
}

impl NamesrvConfig {
    /// Applies `key=value` pairs; returns the keys it does not know.
    pub fn apply(&mut self, props: &BTreeMap<String, String>) -> Result<Vec<String>, ConfigError> {
        let mut unknown = Vec::new();
        for (k, v) in props {
            if let Some(reason) = remoting::security::unenforced(k, v) {
                return Err(ConfigError { key: k.clone(), value: v.clone(), reason });
            }
            if let Some(set) = self.tls.set(k, v) {
                set.map_err(|reason| ConfigError { key: k.clone(), value: v.clone(), reason })?;
                continue;
            }
            let k = k.as_str();
            let channel = &mut self.server.channel;
            match k {
                "listenPort" => self.listen_addr.set_port(parse(k, v)?),
                "kvConfigPath" => self.kv_config_path = Some(v.into()),
                "scanNotActiveBrokerInterval" => self.scan_interval = Duration::from_millis(parse::<u64>(k, v)?.max(100)),
                "orderMessageEnable" => self.order_message_enable = parse(k, v)?,
                "serverChannelMaxIdleTimeSeconds" => channel.idle_timeout = Duration::from_secs(parse(k, v)?),
                "frameMaxLength" => {
                    channel.frame_max_bytes = parse(k, v)?;
                    if channel.frame_max_bytes < 1024 {
                        return Err(ConfigError { key: k.into(), value: v.into(), reason: "must be at least 1024".into() });
                    }
                }
                "connectionWriteQueueBytes" => channel.write_queue_bytes = parse::<usize>(k, v)?.max(1),
                "connectionMaxInflightRequests" => channel.max_inflight_requests = parse::<usize>(k, v)?.max(1),
                "maxConnections" => self.server.max_connections = parse::<usize>(k, v)?.max(1),
                "metricsExporterType" => {
                    self.metrics_prom = match v.trim() {
                        "PROM" | "2" => true,
                        "DISABLE" | "0" => false,
                        other => {
                            let reason = format!("{other}: Rocketry exports metrics for Prometheus (PROM) or not at all (DISABLE)");
                            return Err(ConfigError { key: k.into(), value: v.into(), reason });
                        }
                    }
                }
                "metricsPromExporterHost" => self.metrics_prom_exporter_host = v.trim().to_string(),
                "metricsPromExporterPort" => self.metrics_prom_exporter_port = parse(k, v)?,
                _ if ACCEPTED_UNUSED_KEYS.contains(&k) => tracing::info!(key = k, "namesrv config key accepted but not used"),
                _ => unknown.push(k.to_string()),
            }
        }
        Ok(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn keys_apply_and_bad_values_name_their_key() {
        let mut c = NamesrvConfig::default();
        let unknown =
            c.apply(&props(&[("listenPort", "9999"), ("maxConnections", "42"), ("frameMaxLength", "4096"), ("rocketmqHome", "/x"), ("nope", "1")])).unwrap();
        assert_eq!(unknown, vec!["nope".to_string()]);
        assert_eq!((c.listen_addr.port(), c.server.max_connections, c.server.channel.frame_max_bytes), (9999, 42, 4096));
        let err = NamesrvConfig::default().apply(&props(&[("listenPort", "x")])).unwrap_err();
        assert_eq!(err.key, "listenPort");
        assert!(NamesrvConfig::default().apply(&props(&[("frameMaxLength", "10")])).is_err());
    }
}
