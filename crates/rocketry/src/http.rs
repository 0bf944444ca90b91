//! The HTTP ports, on axum: the Prometheus exporter (`metricsExporterType=PROM` on
//! `metricsPromExporterHost:metricsPromExporterPort`, as the Java broker) and the dashboard's
//! port, which also answers `/health`, `/ready` and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;

/// What a scrape answers: the process' metrics in Prometheus' text format.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// A bound HTTP server; dropping it stops it.
pub struct HttpServer {
    pub local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` and serves `router` until dropped.
pub async fn serve(addr: SocketAddr, router: Router) -> std::io::Result<HttpServer> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(%local_addr, error = %e, "HTTP server stopped");
        }
    });
    Ok(HttpServer { local_addr, task })
}

/// `host:port`, a blank host meaning `default_host`.
pub fn addr(host: &str, default_host: &str, port: u16, key: &str) -> Result<SocketAddr, crate::Error> {
    let host = if host.trim().is_empty() { default_host } else { host.trim() };
    let ip: std::net::IpAddr = host.parse().map_err(|_| format!("{key}: `{host}` is not an IP address"))?;
    Ok(SocketAddr::new(ip, port))
}

/// `source` computed at most once per `ttl`, one computation at a time: scrapes that come
/// together (several Prometheus servers, or someone reloading `/metrics`) share one, so the
/// figures read at scrape time (lag reads the store) cost the broker a bounded amount.
pub fn cached(source: MetricsSource, ttl: std::time::Duration) -> MetricsSource {
    let last: std::sync::Mutex<Option<(std::time::Instant, String)>> = std::sync::Mutex::new(None);
    Arc::new(move || {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, text)) = last.as_ref() {
            if at.elapsed() < ttl {
                return text.clone();
            }
        }
        let text = source();
        *last = Some((std::time::Instant::now(), text.clone()));
        text
    })
}

/// The exporter: `/metrics` (and any other path, as Java's `PrometheusHttpServer`).
pub fn exporter(source: MetricsSource) -> Router {
    Router::new().route("/metrics", get(metrics)).fallback(get(metrics)).with_state(source)
}

/// The text of a scrape. Lag figures read the store (maybe the disk): off the async workers.
pub async fn metrics(State(source): State<MetricsSource>) -> Response {
    match tokio::task::spawn_blocking(move || source()).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("metrics failed: {e}")).into_response(),
    }
}
