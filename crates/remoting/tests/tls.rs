//! TLS on a remoting port: RocketMQ's three modes, trusting any server or a trust file, and
//! client certificates required and verified.

use std::sync::Arc;
use std::time::Duration;

use protocol::RemotingCommand;
use remoting::tls::{ClientTls, TlsAcceptor, TlsSettings};
use remoting::{connect_with, serve_with, BoxFuture, Channel, ChannelConfig, Connections, Handler, ServerConfig};
use tokio::net::TcpListener;

struct Echo;

impl Handler for Echo {
    fn handle(&self, _channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        Box::pin(async move { Some(RemotingCommand::response_to(&request, 0).with_body(request.body.clone())) })
    }
}

fn settings(pairs: &[(&str, String)]) -> TlsSettings {
    let mut s = TlsSettings::default();
    for (k, v) in pairs {
        s.set(k, v).expect("a TLS key").expect("a good value");
    }
    s
}

/// Serves `Echo` under `settings`; the address and the task (dropped to stop it).
async fn server(settings: &TlsSettings) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let acceptor = TlsAcceptor::from_settings(settings, remoting::tls::default_names("127.0.0.1")).unwrap();
    let task = tokio::spawn(serve_with(listener, Arc::new(acceptor), Arc::new(Echo), ServerConfig::default(), Arc::new(Connections::default())));
    (addr, task)
}

/// Whether a request over a new connection (TLS with `tls`) is answered.
async fn answered(addr: &str, tls: Option<&ClientTls>) -> bool {
    let Ok(c) = connect_with(addr, Arc::new(Echo), ChannelConfig::default(), Duration::from_secs(3), tls).await else { return false };
    let sent = RemotingCommand::request(10).with_body(b"hello".to_vec());
    matches!(c.invoke(sent, Duration::from_secs(3)).await, Ok(r) if &r.body[..] == b"hello")
}

fn client(pairs: &[(&str, String)]) -> ClientTls {
    let mut pairs = pairs.to_vec();
    pairs.push(("tls.enable", "true".into()));
    settings(&pairs).client().unwrap().unwrap()
}

#[tokio::test]
async fn permissive_takes_both_enforcing_only_tls_disabled_only_plaintext() {
    let any = ClientTls::trust_any();
    let (permissive, _p) = server(&TlsSettings::default()).await;
    assert!(answered(&permissive, None).await, "permissive: plaintext");
    assert!(answered(&permissive, Some(&any)).await, "permissive: TLS with the self-signed certificate");
    let (enforcing, _e) = server(&settings(&[("tls.server.mode", "enforcing".into())])).await;
    assert!(!answered(&enforcing, None).await, "enforcing refuses plaintext");
    assert!(answered(&enforcing, Some(&any)).await, "enforcing: TLS");
    let (disabled, _d) = server(&settings(&[("tls.server.mode", "disabled".into())])).await;
    assert!(answered(&disabled, None).await, "disabled: plaintext");
    assert!(!answered(&disabled, Some(&any)).await, "disabled refuses TLS");
}

/// A certificate for 127.0.0.1, written as PEM (cert, key) into `dir`.
fn cert_files(dir: &std::path::Path, name: &str) -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert.to_str().unwrap().into(), key.to_str().unwrap().into())
}

#[tokio::test]
async fn a_client_that_verifies_takes_only_a_server_its_trust_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = cert_files(dir.path(), "server");
    let (other, _) = cert_files(dir.path(), "other");
    let (addr, _s) = server(&settings(&[
        ("tls.server.mode", "enforcing".into()),
        ("tls.test.mode.enable", "false".into()),
        ("tls.server.certPath", cert.clone()),
        ("tls.server.keyPath", key),
    ]))
    .await;
    let verify =
        |trust: &str| client(&[("tls.test.mode.enable", "false".into()), ("tls.client.authServer", "true".into()), ("tls.client.trustCertPath", trust.into())]);
    // The certificate names localhost, the client dials 127.0.0.1: only the chain is checked, as in Java.
    assert!(answered(&addr, Some(&verify(&cert))).await, "trusted server");
    assert!(!answered(&addr, Some(&verify(&other))).await, "a server the trust file does not name is refused");
    assert!(answered(&addr, Some(&ClientTls::trust_any())).await, "a client that trusts any server");
}

#[tokio::test]
async fn required_client_certificates_are_verified_against_the_trust_file() {
    let dir = tempfile::tempdir().unwrap();
    let (client_cert, client_key) = cert_files(dir.path(), "client");
    let (stranger_cert, stranger_key) = cert_files(dir.path(), "stranger");
    let (addr, _s) = server(&settings(&[
        ("tls.server.mode", "enforcing".into()),
        ("tls.server.need.client.auth", "require".into()),
        ("tls.server.authClient", "true".into()),
        ("tls.server.trustCertPath", client_cert.clone()),
    ]))
    .await;
    let with =
        |cert: &str, key: &str| client(&[("tls.test.mode.enable", "false".into()), ("tls.client.certPath", cert.into()), ("tls.client.keyPath", key.into())]);
    assert!(answered(&addr, Some(&with(&client_cert, &client_key))).await, "a client the trust file names");
    assert!(!answered(&addr, Some(&with(&stranger_cert, &stranger_key))).await, "a client certificate not trusted");
    assert!(!answered(&addr, Some(&ClientTls::trust_any())).await, "no client certificate");
}
