//! The dashboard on the broker's HTTP port (`dashboardPort`): `/health` and `/ready` for
//! supervisors and probes, `/metrics`, and web pages (embedded in the binary, no build step)
//! over a JSON API under `/api/`.
//!
//! The API reads and changes the cluster as `rocketry admin` does, through the remoting
//! protocol (the same functions), so every request goes through the brokers' service layer and
//! their ACL: with authentication on, the dashboard asks for an ACL user (HTTP Basic: access key
//! and secret key) and signs its requests as that user, so a user sees and changes what the
//! broker lets them. Charts come from the broker's own history (`Stats`), live rates from its
//! metrics.

mod api;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use crate::http::MetricsSource;

/// What the dashboard serves from.
#[derive(Clone)]
pub struct Dashboard {
    pub broker: Arc<broker::Broker>,
    pub metrics: MetricsSource,
    /// Per topic: when its messages-in count was last read and the count (live rates).
    pub(crate) last_counts: Arc<Mutex<HashMap<String, (Instant, u64)>>>,
}

impl Dashboard {
    pub fn new(broker: Arc<broker::Broker>, metrics: MetricsSource) -> Dashboard {
        Dashboard { broker, metrics, last_counts: Arc::default() }
    }
}

const INDEX: &str = include_str!("assets/index.html");
const APP: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

pub fn router(d: Dashboard) -> Router {
    let guarded = axum::middleware::from_fn_with_state(d.clone(), guard);
    Router::new()
        .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }))
        .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP) }))
        .route("/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/overview", get(api::overview))
        .route("/api/topics", get(api::topics).post(api::create_topic))
        .route("/api/topics/{topic}", delete(api::delete_topic))
        .route("/api/groups", get(api::groups))
        .route("/api/groups/{group}", get(api::group))
        .route("/api/groups/{group}/reset", post(api::reset_offsets))
        .route("/api/messages", get(api::messages))
        .route("/api/trace/{id}", get(api::trace))
        .route("/api/dlq/{group}", get(api::dead_letters))
        .route("/api/dlq/{group}/resend", post(api::resend))
        .layer(guarded)
        .with_state(d)
}

/// Every request: a Host header that names this machine (an IP address, `localhost`, or one of
/// `dashboardAllowedHosts`), so a page of another site cannot reach the dashboard through DNS
/// rebinding; answers that no other site may frame.
async fn guard(State(d): State<Dashboard>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !host_allowed(host, &d.broker.config.dashboard_allowed_hosts) {
        let why = format!("Host `{host}` is not this dashboard's (dashboardAllowedHosts names more)");
        return (StatusCode::MISDIRECTED_REQUEST, why).into_response();
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    response
}

/// Whether a Host header (`name[:port]`) names this machine: an IP address, `localhost`, or a
/// name in `allowed` (comma-separated).
fn host_allowed(host: &str, allowed: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    !name.is_empty()
        && (name.parse::<std::net::IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || allowed.split(',').any(|a| !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(name)))
}

/// Alive: the process answers (and says how the broker is).
async fn health(State(d): State<Dashboard>) -> Json<broker::metrics::Health> {
    Json(d.broker.health())
}

/// Ready for clients: 200, or 503 with the reasons.
async fn ready(State(d): State<Dashboard>) -> Response {
    let h = d.broker.health();
    let status = if h.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(h)).into_response()
}

/// The metrics (they name topics and groups): with ACL on, for a signed-in user.
async fn metrics(State(d): State<Dashboard>, headers: axum::http::HeaderMap) -> Response {
    if let Err(e) = d.signed_in(&headers) {
        return e.into_response();
    }
    crate::http::metrics(State(d.metrics.clone())).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_that_name_this_machine() {
        for (host, ok) in [
            ("127.0.0.1:8080", true),
            ("[::1]:8080", true),
            ("localhost:8080", true),
            ("10.0.0.5", true),
            ("broker.internal:8080", true),
            ("evil.example:8080", false),
            ("", false),
        ] {
            assert_eq!(super::host_allowed(host, "broker.internal"), ok, "{host}");
        }
    }
}
