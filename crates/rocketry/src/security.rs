//! How the CLI's clients reach a secured broker: `--tls` and an ACL 2.0 user's keys, shared
//! by `bench` and `admin`.

use clap::Args;
use client::{Client, Credentials};

#[derive(Args, Clone, Debug, Default)]
pub struct Security {
    /// Connect over TLS (trusting any server certificate, as Java's client does by default).
    #[arg(long)]
    pub tls: bool,
    /// Sign every request as this ACL 2.0 user (with `--secret-key`), as `AclClientRPCHook` does.
    #[arg(long, requires = "secret_key")]
    pub access_key: Option<String>,
    #[arg(long, requires = "access_key")]
    pub secret_key: Option<String>,
}

impl Security {
    /// A client of `namesrv` (`;`-separated) with these settings.
    pub fn client(&self, namesrv: &str) -> Client {
        let credentials = match (&self.access_key, &self.secret_key) {
            (Some(a), Some(s)) => Some(Credentials { access_key: a.clone(), secret_key: s.clone() }),
            _ => None,
        };
        Client::new(namesrv.split(';').map(str::to_string).collect()).with_tls(self.tls.then(remoting::tls::ClientTls::trust_any)).with_credentials(credentials)
    }
}
