//! The binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn bad_config_value_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, format!("storePathRootDir={}\nlistenPort={}\nflushDiskType=SOMETIMES\n", dir.path().display(), free_port())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rocketry")).args(["broker", "-c"]).arg(&conf).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("flushDiskType"), "{stderr}");
}

/// Security asked for and not enforced, or TLS settings that cannot work: every server
/// refuses to start, naming the key, and opens no port (issue 20's first change). The broker enforces ACL 2.0 on its remoting port
/// but not yet on gRPC: with the gRPC port on, it refuses naming `grpcServerEnable`.
#[test]
fn unenforced_security_settings_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.conf");
    for (command, line, (key, why)) in [
        ("broker", "initAuthenticationUser={\"username\":\"admin\"", ("initAuthenticationUser", "not JSON")),
        ("broker", "aclEnable=true", ("aclEnable", "does not enforce")),
        ("broker", "tls.server.mode=enforced", ("tls.server.mode", "must be disabled, permissive or enforcing")),
        ("broker", "tls.test.mode.enable=false", ("tls.server.certPath", "are needed")),
        ("namesrv", "authenticationEnabled=true", ("authenticationEnabled", "does not enforce")),
        ("namesrv", "tls.server.mode=on", ("tls.server.mode", "must be disabled, permissive or enforcing")),
        ("namesrv", "tls.test.mode.enable=false", ("tls.server.certPath", "are needed")),
        ("standalone", "migrateAuthFromV1Enabled=true", ("migrateAuthFromV1Enabled", "does not enforce")),
    ] {
        let port = free_port();
        std::fs::write(
            &conf,
            format!(
                "storePathRootDir={}\nlistenPort={port}\ninitAuthenticationUser={{\"username\":\"admin\",\"password\":\"x\"}}\n{line}\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rocketry"));
        cmd.args([command, "-c"]).arg(&conf);
        if command == "standalone" {
            cmd.arg("--data-dir").arg(dir.path().join("data")).args(["--namesrv-port", &free_port().to_string(), "--broker-port", &port.to_string()]);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{command} with {line} must not start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key) && stderr.contains(why), "{command} {line}: {stderr}");
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "{command} left port {port} open");
    }
    // Turned off, the same keys are fine.
    std::fs::write(&conf, format!("storePathRootDir={}\nlistenPort={}\nauthenticationEnabled=false\naclEnable=false\n", dir.path().display(), free_port()))
        .unwrap();
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_rocketry")).args(["namesrv", "-c"]).arg(&conf).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

#[test]
fn standalone_says_where_it_listens_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, br) = (free_port(), free_port());
    let conf = dir.path().join("extra.conf");
    std::fs::write(&conf, "brokerName=broker-x\nnoSuchKey=1\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocketry"))
        .args(["standalone", "--grpc-port", "0", "--namesrv-port", &ns.to_string(), "--broker-port", &br.to_string(), "--data-dir"])
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let lines: Vec<String> = stdout.lines().take(4).map(|l| l.unwrap()).collect();
    // SIGTERM: a clean shutdown.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(lines[0].contains(&format!(":{ns}")), "{lines:?}");
    assert!(lines[1].contains("broker-x") && lines[1].contains(&format!(":{br}")), "{lines:?}");
    assert!(lines[2].contains("gRPC (RocketMQ 5.x) listening on"), "{lines:?}");
    assert!(lines[3].contains(&dir.path().display().to_string()), "{lines:?}");
    assert!(stderr.contains("noSuchKey"), "unknown key warned about: {stderr}");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(dir.path().join("config").join("topics.json").exists());
}

fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rocketry")).arg("bench").args(args).arg("--json").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench {args:?}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bench {args:?} printed no JSON summary ({e}): {stdout}"))
}

/// `rocketry standalone` on free ports with a fresh data dir and `conf` as its broker.conf,
/// ready (its four lines read); stopped with SIGTERM when dropped.
struct Standalone {
    child: std::process::Child,
    namesrv: String,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Standalone {
    fn start(conf: &str) -> Standalone {
        let dir = tempfile::tempdir().unwrap();
        let (ns, br) = (free_port(), free_port());
        let conf_path = dir.path().join("broker.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rocketry"))
            .args(["standalone", "--grpc-port", "0", "--namesrv-port", &ns.to_string(), "--broker-port", &br.to_string(), "-c"])
            .arg(&conf_path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // All four lines it prints: a line written to a closed pipe would stop it.
        let _ready: Vec<String> = BufReader::new(child.stdout.take().unwrap()).lines().take(4).map(|l| l.unwrap()).collect();
        Standalone { child, namesrv: format!("127.0.0.1:{ns}"), addr: format!("127.0.0.1:{br}"), _dir: dir }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// The benchmark commands against a standalone broker and the trivial sink: each reports
/// what it did, and consumes what it produced.
#[test]
fn bench_produce_e2e_consume_and_sink() {
    let broker = Standalone::start("");
    let sink = free_port();
    let mut sink_proc = Command::new(env!("CARGO_BIN_EXE_rocketry")).args(["bench", "sink", "-p", &sink.to_string()]).stderr(Stdio::null()).spawn().unwrap();
    let namesrv = broker.namesrv.clone();

    let p = bench_json(&["produce", "-n", &namesrv, "-t", "BenchT", "--queues", "4", "-d", "1", "-c", "4", "--rate", "400"]);
    let sent = p["msgs"].as_u64().unwrap();
    assert!(sent > 0 && sent <= 401, "a fixed rate of 400/s for 1 s: {p}");
    assert_eq!(p["errors"], 0, "{p}");
    assert!(p["latency_us"]["p99"].as_u64().unwrap() >= p["service_latency_us"]["p50"].as_u64().unwrap(), "{p}");
    let a = bench_json(&["produce", "-n", &namesrv, "-t", "BenchT", "-d", "0", "-c", "2", "--async", "--window", "8", "-b", "4"]);
    assert_eq!((a["errors"].as_u64(), a["async"].as_bool()), (Some(0), Some(true)), "{a}");
    let stored = sent + a["msgs"].as_u64().unwrap();

    let c = bench_json(&["consume", "-n", &namesrv, "-t", "BenchT", "-d", "20"]);
    assert_eq!(c["msgs"].as_u64(), Some(stored), "the backlog is everything produced: {c}");

    let e = bench_json(&["e2e", "-n", &namesrv, "-d", "1", "--rate", "300", "-c", "2"]);
    assert_eq!(e["sent"], e["received"], "{e}");
    assert!(e["e2e_latency_us"]["count"].as_u64().unwrap() == e["sent"].as_u64().unwrap(), "{e}");

    // The sink answers without storing: a direct produce needs no NameServer.
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", sink)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let s = bench_json(&["produce", "--broker", &format!("127.0.0.1:{sink}"), "-d", "0", "-c", "3"]);
    assert_eq!((s["msgs"].as_u64(), s["errors"].as_u64()), (Some(3), Some(0)), "{s}");

    let _ = sink_proc.kill();
    let _ = sink_proc.wait();
}

#[test]
fn namesrv_reads_its_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("namesrv.conf");
    std::fs::write(&conf, "listenPort=notaport\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rocketry")).args(["namesrv", "-c"]).arg(&conf).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listenPort"), "{}", String::from_utf8_lossy(&out.stderr));

    let port = free_port();
    std::fs::write(&conf, format!("listenPort={port}\nmaxConnections=2\nrocketmqHome=/opt/rocketmq\n")).unwrap();
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_rocketry")).args(["namesrv", "-c"]).arg(&conf).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let first = BufReader::new(child.stdout.take().unwrap()).lines().next().unwrap().unwrap();
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    assert!(first.contains(&format!(":{port}")), "listens on listenPort: {first}");
}

fn rocketry(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rocketry")).args(args).output().unwrap()
}

/// ACL 2.0 as an operator runs it with the CLI: `rocketry admin` makes a user and its ACL,
/// reads them back and deletes them; `bench produce` signs as that user over TLS (the default
/// port takes TLS and plaintext); unsigned, wrongly signed and out-of-policy sends are refused.
#[test]
fn admin_manages_users_and_acls_and_bench_signs_as_a_user() {
    let broker = Standalone::start(
        "authenticationEnabled=true\nauthorizationEnabled=true\ninitAuthenticationUser={\"username\":\"root\",\"password\":\"rootSecret\"}\n",
    );
    let namesrv = broker.namesrv.clone();
    let root = ["-n", &namesrv, "-c", "DefaultCluster", "--access-key", "root", "--secret-key", "rootSecret"];
    let admin = |args: &[&str]| {
        let out = rocketry(&[&["admin"], args, &root[..]].concat());
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "admin {args:?}: {text}");
        text
    };
    admin(&["createUser", "-u", "alice", "-p", "aliceSecret"]);
    admin(&["createAcl", "-s", "User:alice", "-r", "Topic:Orders*,Group:G1", "-a", "Pub,Sub", "-d", "Allow", "-i", "127.0.0.0/8"]);
    let acl = admin(&["getAcl", "-s", "User:alice"]);
    assert!(acl.contains("\"Topic:Orders*\"") && acl.contains("\"127.0.0.0/8\"") && acl.contains("\"Allow\""), "{acl}");
    assert!(admin(&["listUser", "-f", "ali"]).contains("\"username\":\"alice\""));
    // As root, create the topic; then alice sends over TLS, signed.
    let create = rocketry(&[
        "bench",
        "produce",
        "-n",
        &namesrv,
        "-t",
        "Orders1",
        "--queues",
        "2",
        "-d",
        "0",
        "-c",
        "1",
        "--access-key",
        "root",
        "--secret-key",
        "rootSecret",
    ]);
    assert!(create.status.success(), "{}", String::from_utf8_lossy(&create.stderr));
    let alice =
        bench_json(&["produce", "-n", &namesrv, "-t", "Orders1", "-d", "0", "-c", "2", "--tls", "--access-key", "alice", "--secret-key", "aliceSecret"]);
    assert_eq!((alice["msgs"].as_u64(), alice["errors"].as_u64()), (Some(2), Some(0)), "{alice}");
    for (args, why) in [
        (vec!["-t", "Orders1"], "username cannot be null"),
        (vec!["-t", "Orders1", "--access-key", "alice", "--secret-key", "wrong"], "check signature failed"),
        (vec!["-t", "Payments", "--access-key", "alice", "--secret-key", "aliceSecret"], "no permission to access Topic:Payments"),
    ] {
        let out = rocketry(&[&["bench", "produce", "-n", &namesrv, "-d", "0", "-c", "1"][..], &args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(why), "{args:?}: {stderr}");
    }
    admin(&["deleteAcl", "-s", "User:alice", "-r", "Group:G1"]);
    assert!(!admin(&["getAcl", "-s", "User:alice"]).contains("Group:G1"));
    admin(&["deleteUser", "-u", "alice"]);
    assert!(!admin(&["listUser"]).contains("alice"));
}

/// `rocketry admin`'s reading commands against a standalone broker: each table, and the same
/// content as `--json`.
#[test]
fn admin_reading_commands_print_tables_and_json() {
    let broker = Standalone::start("");
    let (namesrv, addr) = (broker.namesrv.clone(), broker.addr.clone());
    let admin = |args: &[&str]| {
        let out = rocketry(&[&["admin"], args, &["-n", &namesrv][..]].concat());
        assert!(out.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json = |args: &[&str]| -> serde_json::Value { serde_json::from_str(&admin(&[args, &["--json"][..]].concat())).unwrap() };
    let produce = |n: &str| bench_json(&["produce", "-n", &namesrv, "-t", "Orders", "--queues", "2", "-d", "0", "-c", n]);
    produce("5");
    let popped = rocketry(&["bench", "consume", "-n", &namesrv, "-t", "Orders", "-d", "3", "--pop", "--group", "G1"]);
    assert!(popped.status.success(), "{}", String::from_utf8_lossy(&popped.stderr));
    produce("2");

    assert!(admin(&["topicList"]).lines().any(|l| l == "Orders"));
    assert!(json(&["topicList"]).as_array().unwrap().iter().any(|t| t == "Orders"));
    // With -c: the cluster and the group that consumed it (its POP acks left offsets).
    let listed = json(&["topicList", "-c"]);
    let orders = listed.as_array().unwrap().iter().find(|t| t["topic"] == "Orders").unwrap_or_else(|| panic!("{listed}"));
    assert_eq!((&orders["clusters"], &orders["groups"]), (&serde_json::json!(["DefaultCluster"]), &serde_json::json!(["G1"])), "{listed}");
    assert!(!listed.as_array().unwrap().iter().any(|t| t["topic"].as_str().unwrap().starts_with('%')), "{listed}");
    assert!(admin(&["topicList", "-c"]).lines().any(|l| l.starts_with("DefaultCluster") && l.contains("Orders") && l.ends_with("G1")));
    let route = admin(&["topicRoute", "-t", "Orders"]);
    assert!(route.contains("#Read Queues") && route.lines().any(|l| l.starts_with("broker-a") && l.contains(&addr)), "{route}");
    assert_eq!(json(&["topicRoute", "-t", "Orders"])["queueDatas"][0]["readQueueNums"], 2);
    let status = json(&["topicStatus", "-t", "Orders"]);
    assert_eq!(status.as_array().unwrap().iter().map(|q| q["maxOffset"].as_i64().unwrap()).sum::<i64>(), 7, "{status}");
    assert!(admin(&["topicStatus", "-t", "Orders"]).contains("#Max Offset"));
    let clusters = json(&["clusterList"]);
    assert_eq!((clusters[0]["brokerName"].as_str(), clusters[0]["addr"].as_str()), (Some("broker-a"), Some(addr.as_str())), "{clusters}");
    assert!(admin(&["clusterList"]).lines().nth(1).unwrap().starts_with("DefaultCluster  broker-a"));
    assert_eq!(json(&["brokerStatus", "-b", &addr])[&addr]["msgPutTotalTodayNow"], "7");
    assert_eq!(json(&["getBrokerConfig", "-c", "DefaultCluster"])[&addr]["brokerName"], "broker-a");
    assert!(admin(&["getBrokerConfig", "-b", &addr]).lines().any(|l| l.starts_with("brokerName") && l.ends_with("broker-a")));
    let progress = json(&["consumerProgress", "-g", "G1"]);
    assert_eq!(progress["diffTotal"], 2, "two sent after the group caught up: {progress}");
    assert!(admin(&["consumerProgress", "-g", "G1"]).contains("Diff Total: 2"));
    // A reader that goes away early ends the command quietly (no panic on a closed pipe).
    let mut head = Command::new(env!("CARGO_BIN_EXE_rocketry"))
        .args(["admin", "brokerStatus", "-n", &namesrv, "-b", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(head.stdout.take());
    let out = head.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `rocketry admin`'s changing commands: each takes effect where the reading commands (or a
/// send) can see it.
#[test]
fn admin_changing_commands_take_effect() {
    let broker = Standalone::start("");
    let (namesrv, addr) = (broker.namesrv.clone(), broker.addr.clone());
    let run = |args: &[&str]| rocketry(&[&["admin"], args, &["-n", &namesrv][..]].concat());
    let admin = |args: &[&str]| {
        let out = run(args);
        assert!(out.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json = |args: &[&str]| -> serde_json::Value { serde_json::from_str(&admin(&[args, &["--json"][..]].concat())).unwrap() };
    admin(&["updateTopic", "-c", "DefaultCluster", "-t", "Doomed", "-r", "2", "-w", "2", "-a", "+message.type=FIFO"]);
    assert_eq!(json(&["topicRoute", "-t", "Doomed"])["queueDatas"][0]["perm"], 6);
    assert!(admin(&["updateTopicPerm", "-c", "DefaultCluster", "-t", "Doomed", "-p", "4"]).contains("perm 6 -> 4"));
    let route = json(&["topicRoute", "-t", "Doomed"]);
    assert_eq!((route["queueDatas"][0]["perm"].as_i64(), route["queueDatas"][0]["readQueueNums"].as_i64()), (Some(4), Some(2)), "{route}");
    let send = rocketry(&["bench", "produce", "-n", &namesrv, "-t", "Doomed", "-d", "0", "-c", "1"]);
    assert!(!send.status.success(), "a read-only topic takes no sends");
    admin(&["deleteTopic", "-c", "DefaultCluster", "-t", "Doomed"]);
    assert!(!json(&["topicList"]).as_array().unwrap().iter().any(|t| t == "Doomed"));
    assert!(!run(&["topicRoute", "-t", "Doomed"]).status.success(), "no route once deleted");

    // Draining a broker: its topics lose write permission on the NameServer, then get it back.
    admin(&["updateTopic", "-c", "DefaultCluster", "-t", "Drained", "-r", "1", "-w", "1"]);
    assert!(admin(&["wipeWritePerm", "-b", "broker-a"]).contains("wipe write perm of broker[broker-a]"));
    assert_eq!(json(&["topicRoute", "-t", "Drained"])["queueDatas"][0]["perm"], 4);
    assert!(admin(&["addWritePerm", "-b", "broker-a"]).contains("OK"));
    assert_eq!(json(&["topicRoute", "-t", "Drained"])["queueDatas"][0]["perm"], 6);
    admin(&["updateSubGroup", "-c", "DefaultCluster", "-g", "OldGroup"]);
    admin(&["deleteSubGroup", "-c", "DefaultCluster", "-g", "OldGroup", "-r", "true"]);
    admin(&["updateBrokerConfig", "-b", &addr, "-k", "brokerPermission", "-v", "4"]);
    assert_eq!(json(&["getBrokerConfig", "-b", &addr])[&addr]["brokerPermission"], "4");
    let refused = run(&["updateBrokerConfig", "-b", &addr, "-k", "listenPort", "-v", "1"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("listenPort"));
    // --json (before or after the command): a JSON object per server answered, refusals too.
    let lines = |out: &std::process::Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
    };
    let refused = rocketry(&["admin", "--json", "updateBrokerConfig", "-n", &namesrv, "-b", &addr, "-k", "listenPort", "-v", "1"]);
    let answers = lines(&refused);
    assert!(!refused.status.success(), "{answers:?}");
    assert_eq!((answers.len(), &answers[0]["ok"], &answers[0]["addr"]), (1, &serde_json::json!(false), &serde_json::json!(addr)), "{answers:?}");
    assert!(answers[0]["error"].as_str().unwrap().contains("listenPort"), "{answers:?}");
    let updated = run(&["updateBrokerConfig", "-b", &addr, "-k", "brokerPermission", "-v", "6", "--json"]);
    let answers = lines(&updated);
    assert!(updated.status.success());
    assert_eq!((answers.len(), &answers[0]["ok"], &answers[0]["action"]), (1, &serde_json::json!(true), &serde_json::json!("update broker config")));
    admin(&["updateKvConfig", "-s", "ORDER_TOPIC_CONFIG", "-k", "Doomed", "-v", "broker-a:2"]);
    admin(&["deleteKvConfig", "-s", "ORDER_TOPIC_CONFIG", "-k", "Doomed"]);
    assert!(json(&["getNamesrvConfig"])[&namesrv]["listenPort"].is_string());
    let offline = run(&["consumerConnection", "-g", "NobodyHere"]);
    assert!(!offline.status.success() && String::from_utf8_lossy(&offline.stderr).contains("not online"));
}

/// `rocketry admin`'s message commands: a message sent with sendMessage is found by key, by its
/// offset id and by its client id; a group's offsets are reset to a time.
#[test]
fn admin_message_commands_send_find_and_reset() {
    let broker = Standalone::start("");
    let namesrv = broker.namesrv.clone();
    let admin = |args: &[&str]| {
        let out = rocketry(&[&["admin"], args, &["-n", &namesrv][..]].concat());
        assert!(out.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json = |args: &[&str]| -> serde_json::Value { serde_json::from_str(&admin(&[args, &["--json"][..]].concat())).unwrap() };
    admin(&["updateTopic", "-c", "DefaultCluster", "-t", "Orders", "-r", "2", "-w", "2"]);
    assert!(admin(&["sendMessage", "-t", "Orders", "-p", "first", "-k", "order-42", "-c", "TagA"]).contains("SEND_OK"));
    let sent = json(&["sendMessage", "-t", "Orders", "-p", "second body", "-k", "order-42"]);
    let (offset_id, client_id) = (sent["offsetMsgId"].as_str().unwrap(), sent["msgId"].as_str().unwrap());
    let by_key = json(&["queryMsgByKey", "-t", "Orders", "-k", "order-42"]);
    assert_eq!(by_key.as_array().unwrap().len(), 2, "{by_key}");
    assert!(admin(&["queryMsgByKey", "-t", "Orders", "-k", "order-42"]).contains(client_id));
    let by_offset = json(&["queryMsgById", "-i", offset_id]);
    assert_eq!((by_offset[0]["body"].as_str(), by_offset[0]["msgId"].as_str()), (Some("second body"), Some(client_id)), "{by_offset}");
    assert!(admin(&["queryMsgById", "-i", offset_id]).lines().any(|l| l.starts_with("Body") && l.ends_with("second body")));
    let by_client = json(&["queryMsgByUniqueKey", "-t", "Orders", "-i", client_id]);
    assert_eq!(by_client[0]["offsetMsgId"].as_str(), Some(offset_id));
    assert_eq!(json(&["queryMsgById", "-t", "Orders", "-i", client_id])[0]["keys"], "order-42");
    // Reading many: a line per message (a JSON object per line with --json), tags filtered.
    let printed = admin(&["printMsg", "-t", "Orders"]);
    assert_eq!(printed.lines().filter(|l| l.starts_with("MSGID: ")).count(), 2, "{printed}");
    assert!(printed.contains("TAGS: TagA") && printed.contains("BODY: second body"), "{printed}");
    let tagged = admin(&["printMsg", "-t", "Orders", "-s", "TagA", "--json"]);
    let lines: Vec<serde_json::Value> = tagged.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((lines.len(), lines[0]["body"].as_str()), (1, Some("first")), "{tagged}");
    let queue = by_offset[0]["queueId"].to_string();
    let offset = by_offset[0]["queueOffset"].to_string();
    let one = admin(&["consumeMessage", "-t", "Orders", "-b", "broker-a", "-i", &queue, "-o", &offset, "-c", "5"]);
    assert_eq!(one.lines().count(), 1, "from the second message's offset: {one}");
    let at = json(&["queryMsgByOffset", "-t", "Orders", "-b", "broker-a", "-i", &queue, "-o", &offset]);
    assert_eq!(at[0]["msgId"].as_str(), Some(client_id));
    admin(&["updateSubGroup", "-c", "DefaultCluster", "-g", "G1"]);
    let reset = json(&["resetOffsetByTime", "-g", "G1", "-t", "Orders", "-s", "0"]);
    assert_eq!(reset["offsets"].as_array().unwrap().len(), 2, "{reset}");
    assert!(reset["offsets"].as_array().unwrap().iter().all(|q| q["offset"] == 0), "reset to the start: {reset}");
}

/// Every `rocketry admin` command's `--help` gives an example and offers `--json`.
#[test]
fn every_admin_command_has_help_with_an_example() {
    let help = String::from_utf8(rocketry(&["admin", "--help"]).stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 30, "{help}");
    for c in commands {
        let out = rocketry(&["admin", c, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains(&format!("Example: rocketry admin {c} ")) && text.contains("--json"), "{c}: {text}");
    }
}

/// An HTTP GET on loopback (retried while the port is not yet bound): status and body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, "", "")
}

/// An HTTP request on loopback with extra header lines and a JSON body: status and body.
fn http(port: u16, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() > deadline => panic!("connect to {port}: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    let length = body.len();
    let host = if headers.contains("Host:") { "" } else { "Host: 127.0.0.1\r\n" };
    write!(stream, "{method} {path} HTTP/1.1\r\n{host}Connection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{body}")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The dashboard's port answers `/health`, `/ready` (503 with its reason while no NameServer
/// has accepted the broker), `/metrics` and its API.
#[test]
fn dashboard_port_answers_health_readiness_metrics_and_api() {
    let port = free_port();
    let broker = Standalone::start(&format!("dashboardPort={port}\n"));
    let (code, body) = http_get(port, "/health");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!((code, &health["ready"], &health["brokerName"]), (200, &serde_json::json!(true), &serde_json::json!("broker-a")), "{body}");
    assert_eq!(http_get(port, "/ready").0, 200);
    let (code, metrics) = http_get(port, "/metrics");
    assert!(code == 200 && metrics.contains("rocketmq_topic_number{") && metrics.contains("rocketmq_namesrv_broker_number{"), "{metrics}");
    let (code, topics) = http_get(port, "/api/topics");
    assert!(code == 200 && topics.contains("\"TBW102\""), "{topics}");
    let (code, page) = http_get(port, "/");
    assert!(code == 200 && page.contains("<script src=\"/app.js\">"), "{page}");
    drop(broker);

    // A broker whose NameServer is not there is alive and not ready.
    let dir = tempfile::tempdir().unwrap();
    let (dead, port) = (free_port(), free_port());
    let conf = dir.path().join("broker.conf");
    let root = dir.path().join("store");
    std::fs::write(
        &conf,
        format!(
            "namesrvAddr=127.0.0.1:{dead}\nlistenPort={}\ngrpcServerEnable=false\ndashboardPort={port}\nstorePathRootDir={}\ndiskCapacityBytes=1099511627776\n",
            free_port(),
            root.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocketry")).args(["broker", "-c"]).arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let (alive, _) = http_get(port, "/health");
    let (code, body) = http_get(port, "/ready");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    assert_eq!(alive, 200);
    assert!(code == 503 && body.contains("not registered with any NameServer"), "{code} {body}");
}

/// With ACL 2.0 on, the dashboard asks for a user (401 and a Basic challenge) and acts as the
/// one given (a wrong secret is refused by the broker); `dashboardReadOnly` refuses changes.
#[test]
fn dashboard_signs_in_with_acl_users_and_can_be_read_only() {
    let port = free_port();
    let conf = format!(
        "dashboardPort={port}\ndashboardReadOnly=true\nauthenticationEnabled=true\nauthorizationEnabled=true\ninitAuthenticationUser={{\"username\":\"root\",\"password\":\"rootSecret\"}}\n"
    );
    let _broker = Standalone::start(&conf);
    let (code, text) = http(port, "GET", "/api/topics", "", "");
    assert_eq!(code, 401, "{text}");
    use base64::Engine;
    let basic = |user: &str| format!("Authorization: Basic {}\r\n", base64::engine::general_purpose::STANDARD.encode(user));
    let (code, text) = http(port, "GET", "/api/topics", &basic("root:rootSecret"), "");
    assert!(code == 200 && text.contains("TBW102"), "{code} {text}");
    let (code, text) = http(port, "GET", "/api/topics", &basic("root:wrong"), "");
    assert!(code == 401 && text.contains("check signature failed"), "{code} {text}");
    // The metrics name topics and groups: for signed-in users too.
    assert_eq!(http(port, "GET", "/metrics", "", "").0, 401);
    assert_eq!(http(port, "GET", "/metrics", &basic("root:rootSecret"), "").0, 200);
    // A Host naming another site (DNS rebinding) is refused.
    assert_eq!(http(port, "GET", "/health", "Host: evil.example\r\n", "").0, 421);
    let (code, text) = http(port, "POST", "/api/topics", &basic("root:rootSecret"), r#"{"topic":"NotMade"}"#);
    assert!(code == 403 && text.contains("read-only"), "{code} {text}");
    // Health stays open to probes.
    assert_eq!(http_get(port, "/health").0, 200);
}
