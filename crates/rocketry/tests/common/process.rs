//! `rocketry standalone` as a child process with its own data dir and config, for tests
//! that kill it.

use std::process::{Child, Command, Stdio};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Server {
    pub dir: std::path::PathBuf,
    pub ns: u16,
    pub br: u16,
    /// Extra environment of the process (set before `start`).
    pub env: Vec<(String, String)>,
    /// A broker alone (`rocketry broker`) registering with this NameServer, rather than
    /// `standalone` (which runs its own on `ns`).
    pub namesrv_addr: Option<String>,
    child: Option<Child>,
}

impl Server {
    /// A server on free ports in `dir`, with `conf` as its broker.conf; not started yet.
    pub fn new(dir: &std::path::Path, conf: &str) -> Server {
        std::fs::write(dir.join("broker.conf"), conf).unwrap();
        Server { dir: dir.to_path_buf(), ns: free_port(), br: free_port(), env: Vec::new(), namesrv_addr: None, child: None }
    }

    /// A broker alone (`rocketry broker`) on a free port in `dir`, registering with
    /// `namesrv`, with `conf` as its broker.conf; not started yet.
    pub fn broker_only(dir: &std::path::Path, conf: &str, namesrv: &str) -> Server {
        let mut s = Server::new(dir, conf);
        s.namesrv_addr = Some(namesrv.to_string());
        s
    }

    pub fn namesrv(&self) -> String {
        format!("127.0.0.1:{}", self.ns)
    }

    pub fn broker(&self) -> String {
        format!("127.0.0.1:{}", self.br)
    }

    pub fn start(&mut self) {
        self.start_with_fd_limit(None);
    }

    /// Starts it with at most `nofile` open file descriptors (`ulimit -n`), when given.
    pub fn start_with_fd_limit(&mut self, nofile: Option<u32>) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("rocketry.log")).unwrap();
        let mut command = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_rocketry")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_rocketry")),
        };
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        match &self.namesrv_addr {
            None => command
                .args(["standalone", "--grpc-port", "0", "--namesrv-port", &self.ns.to_string(), "--broker-port", &self.br.to_string(), "-c"])
                .arg(self.dir.join("broker.conf"))
                .arg("--data-dir")
                .arg(self.dir.join("data")),
            Some(ns) => {
                let conf = self.dir.join("broker.conf");
                let mut text = std::fs::read_to_string(&conf).unwrap();
                if !text.contains("storePathRootDir=") {
                    text.push_str(&format!("\nlistenPort={}\nstorePathRootDir={}\ngrpcServerPort=0\n", self.br, self.dir.join("data").display()));
                    std::fs::write(&conf, text).unwrap();
                }
                command.args(["broker", "-n", ns, "-c"]).arg(conf)
            }
        };
        let child = command.stdout(Stdio::null()).stderr(log).spawn().unwrap();
        self.child = Some(child);
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM: a clean shutdown; waits for the exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Checks one record of a sequence-numbered test load, whose bodies are
/// `<sender>:<seq>:<padding>` made by `body`, sender `s` sending only to queue `s`: CRC,
/// queue and the whole body. Returns the sequence number; None for the "init" record.
pub fn checked_seq(m: &protocol::message::MessageRecord, queue: i32, body: impl Fn(i32, u64) -> bytes::Bytes) -> Option<u64> {
    assert_eq!(protocol::message::crc32(&m.body), m.body_crc, "body CRC");
    let text = String::from_utf8(m.body.to_vec()).unwrap();
    if text == "init" {
        return None;
    }
    let mut parts = text.splitn(3, ':');
    let sender: i32 = parts.next().unwrap().parse().unwrap();
    let seq: u64 = parts.next().unwrap().parse().unwrap();
    assert_eq!(sender, queue, "a message of sender {sender} in queue {queue}");
    assert_eq!(m.body, body(sender, seq), "intact body");
    Some(seq)
}

impl Server {
    /// Waits (at most 10 s) until the broker answers requests; panics with its log otherwise.
    pub async fn wait_ready(&self, client: &client::Client) {
        for _ in 0..200 {
            if client.query_consumer_offset(&self.broker(), "probe", "TBW102", 0).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the broker did not come up: {}", std::fs::read_to_string(self.dir.join("rocketry.log")).unwrap_or_default());
    }

    /// Starts it and waits until it serves; a client of its NameServer.
    pub async fn start_ready(&mut self) -> client::Client {
        self.start();
        let client = client::Client::new(vec![self.namesrv()]);
        self.wait_ready(&client).await;
        client
    }

    /// SIGKILL (a crash; nothing if already killed), then a start on the same data: `old` is
    /// closed and a client of the new process returned once it serves.
    pub async fn crash_and_restart(&mut self, old: &client::Client) -> client::Client {
        self.kill();
        old.close();
        self.start_ready().await
    }
}

/// Each CommitLog file under `<dir>/data` (name, bytes), in order: to compare replicas' logs.
#[allow(dead_code, reason = "not every test file compares logs")]
pub fn commitlog_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("data").join("commitlog"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Creates `topic` with one queue on the broker at `addr`.
pub async fn one_queue_topic(client: &client::Client, addr: &str, topic: &str) {
    let config = protocol::body::TopicConfig { topic_name: topic.into(), read_queue_nums: 1, write_queue_nums: 1, ..Default::default() };
    client.create_topic(addr, &config).await.unwrap();
}

/// Every record of one queue, read from its start by pulls.
pub async fn read_queue(client: &client::Client, addr: &str, topic: &str, queue_id: i32) -> Vec<protocol::message::MessageRecord> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let r = client.pull_raw(addr, &protocol::header::PullMessageRequestHeader::for_queue("reader", topic, queue_id, offset)).await.unwrap();
        let records = protocol::message::decode_records(&r.records).unwrap();
        if records.is_empty() {
            return all;
        }
        offset = r.header.next_begin_offset;
        all.extend(records);
    }
}
