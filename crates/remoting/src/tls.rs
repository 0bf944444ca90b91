//! TLS on the remoting ports, with RocketMQ's settings: the `tls.*` keys of Java's
//! `TlsSystemConfig`. Java reads them from JVM system properties and `tls.config.file`;
//! Rocketry, having no JVM flags, takes them from broker.conf / namesrv.conf as well, and
//! reads `tls.config.file` the way Java does (its values win over the config's, except for
//! `tls.server.mode`, `tls.enable` and the file's own path).
//!
//! As in Java, the default is `permissive` with a self-signed certificate (`tls.test.mode.enable`
//! defaults to true): one port takes TLS and plaintext alike, told apart by the first byte of
//! the connection (a TLS handshake record starts with 0x16); `enforcing` closes plaintext
//! connections; `disabled` never looks. Clients, ours and Java's, trust any server certificate
//! unless `tls.client.authServer=true`; even then, like Java, only the chain is checked, not
//! the host name (Java's client sends no server name).
//!
//! Deliberate differences, each on the safe side: an unknown `tls.server.mode` is refused
//! (Java quietly takes it as permissive); a configured certificate is used even in test mode
//! (Java would serve a self-signed one); `tls.client.authServer=true` verifies the server in
//! test mode too (Java's test mode trusts any); verifying peers (`authClient`/`authServer`) needs a
//! trust file (Java falls back to the JDK's CA list); an encrypted private key
//! (`keyPassword`) is refused at start; an explicitly named `tls.config.file` that cannot be
//! read is an error (Java skips it).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::channel::{Addrs, BoxFuture, Channel, ChannelConfig, Handler, RemotingError};
use crate::server::Acceptor;

/// Where Java looks for its TLS file when `tls.config.file` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/rocketmq/tls.properties";
/// How long a connection that sent its first TLS byte may take to finish the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE: u8 = 0x16;

/// `tls.server.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plaintext only.
    Disabled,
    /// TLS and plaintext on one port (Java's default).
    #[default]
    Permissive,
    /// TLS only.
    Enforcing,
}

/// `tls.server.need.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NeedClientAuth {
    #[default]
    None,
    Optional,
    Require,
}

/// The `tls.*` settings of a server and of the client connections it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: TlsMode,
    /// `tls.enable` (or NettyClientConfig's `useTLS`): outgoing connections use TLS. Unset:
    /// only when the server's mode is enforcing, as Java's NettyClientConfig decides.
    pub client_enable: Option<bool>,
    /// `tls.config.file`: `None` reads [`DEFAULT_CONFIG_FILE`] if it exists.
    pub config_file: Option<String>,
    /// `tls.test.mode.enable`: a self-signed server certificate when none is configured, and
    /// clients that trust any server and present no certificate.
    pub test_mode: bool,
    pub server_need_client_auth: NeedClientAuth,
    pub server_key_path: Option<String>,
    pub server_key_password: Option<String>,
    pub server_cert_path: Option<String>,
    /// Verify client certificates against `server_trust_cert_path` (else any is taken).
    pub server_auth_client: bool,
    pub server_trust_cert_path: Option<String>,
    pub client_key_path: Option<String>,
    pub client_key_password: Option<String>,
    pub client_cert_path: Option<String>,
    /// Verify the server's certificate chain against `client_trust_cert_path` (else trust any).
    pub client_auth_server: bool,
    pub client_trust_cert_path: Option<String>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            mode: TlsMode::Permissive,
            client_enable: None,
            config_file: None,
            test_mode: true,
            server_need_client_auth: NeedClientAuth::None,
            server_key_path: None,
            server_key_password: None,
            server_cert_path: None,
            server_auth_client: false,
            server_trust_cert_path: None,
            client_key_path: None,
            client_key_password: None,
            client_cert_path: None,
            client_auth_server: false,
            client_trust_cert_path: None,
        }
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

fn path(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_string())
}

impl TlsSettings {
    /// Applies `key = value` if `key` is a TLS key: `None` for any other key, `Some(Err(why))`
    /// for a value that means nothing.
    pub fn set(&mut self, key: &str, value: &str) -> Option<Result<(), String>> {
        let v = value.trim();
        let r = match key {
            "tls.server.mode" => match v {
                "disabled" => Ok(TlsMode::Disabled),
                "permissive" => Ok(TlsMode::Permissive),
                "enforcing" => Ok(TlsMode::Enforcing),
                _ => Err("must be disabled, permissive or enforcing".to_string()),
            }
            .map(|m| self.mode = m),
            "tls.enable" | "useTLS" => parse_bool(v).map(|b| self.client_enable = Some(b)),
            "tls.config.file" => {
                self.config_file = path(v);
                Ok(())
            }
            _ => return self.set_file_key(key, v),
        };
        Some(r)
    }

    /// The keys `tls.config.file` may set.
    fn set_file_key(&mut self, key: &str, v: &str) -> Option<Result<(), String>> {
        if let Some(field) = self.path_field(key) {
            *field = path(v);
            return Some(Ok(()));
        }
        let r = match key {
            "tls.test.mode.enable" => parse_bool(v).map(|b| self.test_mode = b),
            "tls.server.need.client.auth" => match v.to_ascii_lowercase().as_str() {
                "none" => Ok(NeedClientAuth::None),
                "optional" => Ok(NeedClientAuth::Optional),
                "require" => Ok(NeedClientAuth::Require),
                _ => Err("must be none, optional or require".to_string()),
            }
            .map(|n| self.server_need_client_auth = n),
            "tls.server.authClient" => parse_bool(v).map(|b| self.server_auth_client = b),
            "tls.client.authServer" => parse_bool(v).map(|b| self.client_auth_server = b),
            _ => return None,
        };
        Some(r)
    }

    fn path_field(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "tls.server.keyPath" => &mut self.server_key_path,
            "tls.server.keyPassword" => &mut self.server_key_password,
            "tls.server.certPath" => &mut self.server_cert_path,
            "tls.server.trustCertPath" => &mut self.server_trust_cert_path,
            "tls.client.keyPath" => &mut self.client_key_path,
            "tls.client.keyPassword" => &mut self.client_key_password,
            "tls.client.certPath" => &mut self.client_cert_path,
            "tls.client.trustCertPath" => &mut self.client_trust_cert_path,
            _ => return None,
        })
    }

    /// These settings with `tls.config.file` applied over them, as Java applies it when it
    /// builds a TLS context.
    pub fn resolved(&self) -> Result<TlsSettings, String> {
        let mut out = self.clone();
        let file = self.config_file.as_deref().unwrap_or(DEFAULT_CONFIG_FILE);
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if self.config_file.is_none() && e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(format!("tls.config.file {file}: {e}")),
        };
        for (k, v) in crate::properties::parse(&text) {
            if let Some(Err(why)) = out.set_file_key(&k, &v) {
                return Err(format!("{k} in {file}: {why}"));
            }
        }
        Ok(out)
    }

    /// Whether connections this process makes use TLS.
    pub fn client_enabled(&self) -> bool {
        self.client_enable.unwrap_or(self.mode == TlsMode::Enforcing)
    }

    /// The server side: `None` when the mode is disabled. `names` are what a self-signed
    /// certificate is made for; `alpn` the protocols offered; `cert` a certificate and key
    /// that replace `tls.server.certPath`/`keyPath` (the gRPC port's own).
    pub fn server(&self, names: Vec<String>, alpn: Vec<Vec<u8>>, cert: Option<(&str, &str)>) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        if self.mode == TlsMode::Disabled {
            return Ok(None);
        }
        if self.server_key_password.is_some() {
            return Err("tls.server.keyPassword: encrypted private keys are not supported; give tls.server.keyPath an unencrypted PKCS#8 PEM key (openssl pkcs8 -topk8 -nocrypt)".into());
        }
        let paths = cert_and_key(self.server_cert_path.as_deref(), self.server_key_path.as_deref(), "tls.server.certPath", "tls.server.keyPath")?;
        let configured = cert.or(paths);
        let (certs, key) = match configured {
            Some((c, k)) => (load_certs(c)?, load_key(k)?),
            None if self.test_mode => self_signed(names)?,
            None => return Err("tls.server.certPath and tls.server.keyPath are needed when tls.test.mode.enable=false".into()),
        };
        let provider = provider();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
        let mandatory = self.server_need_client_auth == NeedClientAuth::Require;
        let builder = match self.server_need_client_auth {
            NeedClientAuth::None => builder.with_no_client_auth(),
            _ if self.server_auth_client => {
                let trust = self.server_trust_cert_path.as_deref().ok_or("tls.server.authClient=true needs tls.server.trustCertPath")?;
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(trust)?), provider.clone());
                let verifier = if mandatory { verifier } else { verifier.allow_unauthenticated() };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| format!("tls.server.trustCertPath {trust}: {e}"))?)
            }
            _ => builder.with_client_cert_verifier(Arc::new(AnyClientCert { provider, mandatory })),
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| format!("the TLS certificate and key do not fit: {e}"))?;
        config.alpn_protocols = alpn;
        Ok(Some(Arc::new(config)))
    }

    /// The client side: `None` unless [`client_enabled`](Self::client_enabled).
    pub fn client(&self) -> Result<Option<ClientTls>, String> {
        if !self.client_enabled() {
            return Ok(None);
        }
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
        // Java's test mode trusts any server even with authServer=true; asked to verify, we do.
        let verifier: Arc<dyn ServerCertVerifier> = if self.client_auth_server {
            let trust = self.client_trust_cert_path.as_deref().ok_or("tls.client.authServer=true needs tls.client.trustCertPath")?;
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(trust)?), provider.clone())
                .build()
                .map_err(|e| format!("tls.client.trustCertPath {trust}: {e}"))?;
            Arc::new(ChainOnly(inner))
        } else {
            Arc::new(AnyServerCert(provider))
        };
        let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
        // Test mode presents no client certificate, as Java's.
        let pair = match self.test_mode {
            true => None,
            false => cert_and_key(self.client_cert_path.as_deref(), self.client_key_path.as_deref(), "tls.client.certPath", "tls.client.keyPath")?,
        };
        let mut config = match pair {
            Some((c, k)) => {
                if self.client_key_password.is_some() {
                    return Err("tls.client.keyPassword: encrypted private keys are not supported".into());
                }
                builder.with_client_auth_cert(load_certs(c)?, load_key(k)?).map_err(|e| format!("the client certificate and key do not fit: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        // Java's client names no server.
        config.enable_sni = false;
        Ok(Some(ClientTls(Arc::new(config))))
    }
}

/// ring rather than aws-lc-rs (which needs cmake to build); its lack of post-quantum key
/// exchange is what the deprecation is about, and no RocketMQ client offers one.
fn provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate file and its key file, given both or neither (`None`); the keys name them.
pub fn cert_and_key<'a>(cert: Option<&'a str>, key: Option<&'a str>, cert_key: &str, key_key: &str) -> Result<Option<(&'a str, &'a str)>, String> {
    match (cert, key) {
        (Some(c), Some(k)) => Ok(Some((c, k))),
        (None, None) => Ok(None),
        _ => Err(format!("{cert_key} and {key_key} go together")),
    }
}

fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificate file {path}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read certificate file {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("certificate file {path} holds no certificate"));
    }
    Ok(certs)
}

fn load_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("cannot read private key file {path}: {e}"))
}

fn roots(path: &str) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for cert in load_certs(path)? {
        store.add(cert).map_err(|e| format!("trust file {path}: {e}"))?;
    }
    Ok(store)
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn self_signed(names: Vec<String>) -> Result<CertAndKey, String> {
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der()));
    Ok((vec![generated.cert.der().clone()], key))
}

/// Names a self-signed certificate is made for: localhost, loopback and `advertised`.
pub fn default_names(advertised: &str) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !advertised.is_empty() && !names.iter().any(|n| n == advertised) {
        names.push(advertised.to_string());
    }
    names
}

/// Trusts any server certificate (Java's `InsecureTrustManagerFactory`, its client default);
/// the handshake's signatures are still checked, so the peer holds the certificate's key.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks the server's chain against the trust file but not its name: Java's client gives
/// none (its certificates often name no broker address).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The name is checked last, after the chain: a name error means the chain was good.
        match self.0.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Asks for a client certificate and takes any (`tls.server.authClient=false`, Java's default).
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: UnixTime) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether a new connection speaks TLS, by its first byte, under `mode`; an error closes it
/// (plaintext when TLS is enforced). Disabled never looks.
pub async fn is_tls(tcp: &TcpStream, mode: TlsMode) -> io::Result<bool> {
    if mode == TlsMode::Disabled {
        return Ok(false);
    }
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before sending anything"));
    }
    match (first[0] == TLS_HANDSHAKE, mode) {
        (false, TlsMode::Enforcing) => Err(io::Error::new(io::ErrorKind::PermissionDenied, "plaintext connection while tls.server.mode=enforcing")),
        (tls, _) => Ok(tls),
    }
}

/// The remoting [`Acceptor`] for a TLS mode: TLS, plaintext or either by the first byte.
pub struct TlsAcceptor {
    mode: TlsMode,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
}

impl TlsAcceptor {
    /// `config` is `None` only when the mode is disabled.
    pub fn new(mode: TlsMode, config: Option<Arc<rustls::ServerConfig>>) -> TlsAcceptor {
        TlsAcceptor { mode: if config.is_some() { mode } else { TlsMode::Disabled }, acceptor: config.map(tokio_rustls::TlsAcceptor::from) }
    }

    /// The acceptor for `settings` (after [`TlsSettings::resolved`]).
    pub fn from_settings(settings: &TlsSettings, names: Vec<String>) -> Result<TlsAcceptor, String> {
        Ok(TlsAcceptor::new(settings.mode, settings.server(names, Vec::new(), None)?))
    }
}

impl Acceptor for TlsAcceptor {
    fn accept(&self, tcp: TcpStream, handler: Arc<dyn Handler>, config: ChannelConfig) -> BoxFuture<io::Result<Arc<Channel>>> {
        let (mode, acceptor) = (self.mode, self.acceptor.clone());
        Box::pin(async move {
            // A connection is closed once idle this long, its first byte not yet sent too.
            let first = if config.idle_timeout.is_zero() { Duration::MAX } else { config.idle_timeout };
            let tls = tokio::time::timeout(first, is_tls(&tcp, mode)).await.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "sent nothing"))??;
            let Some(acceptor) = acceptor.filter(|_| tls) else {
                return Channel::spawn(tcp, handler, config);
            };
            let addrs = Addrs { peer: tcp.peer_addr()?, local: tcp.local_addr()? };
            tcp.set_nodelay(true)?;
            let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake did not finish in time"))??;
            let (r, w) = tokio::io::split(stream);
            Ok(Channel::spawn_io(r, w, addrs, handler, config))
        })
    }
}

/// What a client needs to open TLS connections.
#[derive(Clone)]
pub struct ClientTls(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    /// Trusts any server and presents no certificate: what Java's client does by default.
    pub fn trust_any() -> ClientTls {
        TlsSettings { client_enable: Some(true), ..TlsSettings::default() }.client().ok().flatten().expect("a client with no files to read cannot fail")
    }

    /// Opens TLS over a connected stream to `addr` (`host:port`) and starts its channel.
    pub(crate) async fn handshake(&self, addr: &str, tcp: TcpStream, handler: Arc<dyn Handler>, config: ChannelConfig) -> Result<Arc<Channel>, RemotingError> {
        let err = |source| RemotingError::Connect { addr: addr.to_string(), source };
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
        // Only for the rustls API: no name is sent (no SNI) and none is checked.
        let name = ServerName::try_from(host.to_string()).unwrap_or_else(|_| ServerName::from(std::net::Ipv4Addr::LOCALHOST));
        let addrs = Addrs { peer: tcp.peer_addr().map_err(err)?, local: tcp.local_addr().map_err(err)? };
        tcp.set_nodelay(true).map_err(err)?;
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_rustls::TlsConnector::from(self.0.clone()).connect(name, tcp))
            .await
            .map_err(|_| err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake did not finish in time")))?
            .map_err(err)?;
        let (r, w) = tokio::io::split(stream);
        Ok(Channel::spawn_io(r, w, addrs, handler, config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<TlsSettings, String> {
        let mut s = TlsSettings::default();
        for (k, v) in pairs {
            s.set(k, v).unwrap_or_else(|| panic!("{k} is a TLS key"))?;
        }
        Ok(s)
    }

    #[test]
    fn keys_set_their_fields_and_bad_values_are_refused() {
        let d = TlsSettings::default();
        assert_eq!((d.mode, d.test_mode, d.client_enabled()), (TlsMode::Permissive, true, false), "Java's defaults");
        let s = settings(&[("tls.server.mode", "enforcing"), ("tls.server.certPath", " /a.pem "), ("tls.server.need.client.auth", "REQUIRE")]).unwrap();
        assert_eq!((s.mode, s.server_cert_path.as_deref(), s.server_need_client_auth), (TlsMode::Enforcing, Some("/a.pem"), NeedClientAuth::Require));
        assert!(s.client_enabled(), "enforcing servers connect out with TLS, as Java's NettyClientConfig");
        assert!(!settings(&[("tls.server.mode", "enforcing"), ("useTLS", "false")]).unwrap().client_enabled());
        for (k, v) in [("tls.server.mode", "Enforcing"), ("tls.server.mode", "on"), ("tls.enable", "yes"), ("tls.server.need.client.auth", "maybe")] {
            assert!(settings(&[(k, v)]).is_err(), "{k}={v}");
        }
        assert!(TlsSettings::default().set("brokerName", "x").is_none());
    }

    #[test]
    fn the_config_file_wins_except_for_mode_and_enable() {
        let dir = std::env::temp_dir().join(format!("rocketry-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tls.properties");
        std::fs::write(&file, "tls.test.mode.enable=false\ntls.server.certPath=/from/file\ntls.server.mode=disabled\n").unwrap();
        let s = settings(&[("tls.config.file", file.to_str().unwrap()), ("tls.server.certPath", "/from/conf"), ("tls.server.mode", "enforcing")]).unwrap();
        let r = s.resolved().unwrap();
        assert_eq!((r.test_mode, r.server_cert_path.as_deref(), r.mode), (false, Some("/from/file"), TlsMode::Enforcing));
        std::fs::write(&file, "tls.server.authClient=maybe\n").unwrap();
        assert!(s.resolved().unwrap_err().contains("tls.server.authClient"));
        let missing = settings(&[("tls.config.file", dir.join("nope").to_str().unwrap())]).unwrap();
        assert!(missing.resolved().is_err(), "a named file that is missing is an error");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn settings_that_cannot_work_fail_at_start_with_the_key() {
        let names = || default_names("127.0.0.1");
        let no_cert = settings(&[("tls.test.mode.enable", "false")]).unwrap();
        assert!(no_cert.server(names(), Vec::new(), None).unwrap_err().contains("tls.server.certPath"));
        let password = settings(&[("tls.server.keyPassword", "x")]).unwrap();
        assert!(password.server(names(), Vec::new(), None).unwrap_err().contains("tls.server.keyPassword"));
        let verify = settings(&[("tls.server.need.client.auth", "require"), ("tls.server.authClient", "true")]).unwrap();
        assert!(verify.server(names(), Vec::new(), None).unwrap_err().contains("tls.server.trustCertPath"));
        let disabled = settings(&[("tls.server.mode", "disabled"), ("tls.test.mode.enable", "false")]).unwrap();
        assert!(disabled.server(names(), Vec::new(), None).unwrap().is_none(), "disabled needs no certificate");
        assert!(TlsSettings::default().server(names(), Vec::new(), None).unwrap().is_some(), "self-signed by default");
    }
}
