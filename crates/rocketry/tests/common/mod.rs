//! An in-process NameServer and Broker on free loopback ports with a fresh data dir.

#![allow(dead_code)]

pub mod process;

use std::net::SocketAddr;
use std::time::Duration;

use broker::{BrokerConfig, BrokerHandle};
use client::Client;

pub struct Cluster {
    pub namesrv: namesrv::NamesrvHandle,
    pub broker: Option<BrokerHandle>,
    pub config: BrokerConfig,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Cluster {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut BrokerConfig)) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let namesrv = namesrv::start(namesrv::NamesrvConfig { listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() }).await.unwrap();
        let mut config = BrokerConfig {
            store_path_root_dir: dir.path().to_path_buf(),
            listen_port: 0,
            namesrv_addr: Some(namesrv.local_addr.to_string()),
            mapped_file_size_commit_log: 64 * 1024 * 1024,
            // Count usage against a fixed capacity, not the host's disk: a nearly full test
            // machine must neither refuse sends nor trigger forced deletion.
            disk_capacity_bytes: Some(1 << 40),
            ..BrokerConfig::default()
        };
        tweak(&mut config);
        let broker = broker::start(config.clone()).await.unwrap();
        config.listen_port = broker.local_addr.port();
        let cluster = Cluster { namesrv, broker: Some(broker), config, dir };
        cluster.wait_for_route("TBW102").await;
        cluster
    }

    pub fn broker_addr(&self) -> String {
        format!("127.0.0.1:{}", self.config.listen_port)
    }

    pub fn client(&self) -> Client {
        Client::new(vec![self.namesrv.local_addr.to_string()])
    }

    pub async fn wait_for_route(&self, topic: &str) {
        let client = self.client();
        for _ in 0..100 {
            if client.route(topic).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no route for {topic}");
    }

    /// Stops the broker cleanly and starts it again on the same port and data dir.
    pub async fn restart_broker(&mut self) {
        if let Some(b) = self.broker.take() {
            b.shutdown().await;
        }
        let b = broker::start(self.config.clone()).await.unwrap();
        self.broker = Some(b);
    }
}
