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

#[test]
fn standalone_says_where_it_listens_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, br) = (free_port(), free_port());
    let conf = dir.path().join("extra.conf");
    std::fs::write(&conf, "brokerName=broker-x\nnoSuchKey=1\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocketry"))
        .args(["standalone", "--namesrv-port", &ns.to_string(), "--broker-port", &br.to_string(), "--data-dir"])
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let lines: Vec<String> = stdout.lines().take(3).map(|l| l.unwrap()).collect();
    // SIGTERM: a clean shutdown.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(lines[0].contains(&format!(":{ns}")), "{lines:?}");
    assert!(lines[1].contains("broker-x") && lines[1].contains(&format!(":{br}")), "{lines:?}");
    assert!(lines[2].contains(&dir.path().display().to_string()), "{lines:?}");
    assert!(stderr.contains("noSuchKey"), "unknown key warned about: {stderr}");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(dir.path().join("config").join("topics.json").exists());
}
